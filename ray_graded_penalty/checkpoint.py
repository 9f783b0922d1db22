"""What a checkpoint holds beyond the searcher's own state: its inner searchers, and states
saved by earlier versions.

Pure bookkeeping around Ray's ``Searcher.save``/``restore``: like Ray's ``SearchGenerator`` it
keeps a wrapper's (``ConcurrencyLimiter``'s) ``get_state()`` apart from its base searcher's
``save()``, since a ``ConcurrencyLimiter``'s own ``save`` keeps only the searcher it wraps and
would forget which trials are live.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict

from ray.tune.search import Searcher

from ray_graded_penalty import compat
from ray_graded_penalty.ledger import Ledger
from ray_graded_penalty.objectives import Objectives


def inner_state(inner: Searcher) -> Dict[str, Any]:
    """The inner searcher's state: its wrappers' ``get_state()`` and its base's ``save()``.

    The same split as Ray's ``SearchGenerator``: a ``ConcurrencyLimiter``'s own ``save`` keeps
    only the searcher it wraps, and would forget which trials are live.
    """
    *outer, inner = compat.inner_searchers(inner)
    wrappers = [wrapper.get_state() for wrapper in outer]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        inner.save(path)
        with open(path, "rb") as f:
            return {"wrappers": wrappers, "base": f.read()}


def load_inner_state(inner: Searcher, state: Dict[str, Any]) -> None:
    for wrapper_state in state["wrappers"]:
        inner.set_state(wrapper_state)
        inner = inner.searcher
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        with open(path, "wb") as f:
            f.write(state["base"])
        inner.restore(path)


def state_from_v1(state: Dict[str, Any]) -> Dict[str, Any]:
    """A state saved by 0.2 (one objective, no SLOs) in today's form."""
    ledger = None
    if state["metric"] and state["mode"]:
        policy = state["policy"]
        ledger = Ledger(Objectives.of(state["metric"], state["mode"]), policy.least_magnitude)
        if state["placement"] is not None:
            ledger.placements = [state["placement"]]
        ledger.outcomes = dict(state["outcomes"])
        for key, magnitude in state["failure_magnitudes"].items():
            ledger._points[key] = magnitude / policy.least_magnitude
            ledger._order[key] = magnitude
        ledger._best, ledger._least_bad = state["best"], state["least_bad"]
    return {**state, "slos": (), "ledger": ledger}
