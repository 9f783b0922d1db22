"""One file holding a searcher's own state and its inner searcher's, written atomically.

Pure bookkeeping around Ray's ``Searcher.save``/``restore``: like Ray's ``SearchGenerator`` it
keeps a wrapper's (``ConcurrencyLimiter``'s) ``get_state()`` apart from its base searcher's
``save()``, since a ``ConcurrencyLimiter``'s own ``save`` keeps only the searcher it wraps and
would forget which trials are live. The searcher's own state is plain data
(:mod:`~ray_graded_penalty.saved_state`); files of earlier releases are read by
:func:`ray_graded_penalty.legacy.load`.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict

from ray import cloudpickle
from ray.tune.search import Searcher

from ray_graded_penalty import legacy, saved_state
from ray_graded_penalty.compat import inner_searchers


def save(path: str, state: Dict[str, Any], searcher: Searcher) -> None:
    """Write ``state`` and the inner ``searcher``'s to ``path`` (a temporary file, then a rename)."""
    payload = cloudpickle.dumps({"state": state, "inner": _inner_state(searcher)})
    tmp_path = f"{path}.tmp-{os.getpid()}"
    with open(tmp_path, "wb") as f:
        f.write(payload)
    os.replace(tmp_path, path)


def load(path: str, searcher: Searcher) -> Dict[str, Any]:
    """Restore the inner ``searcher`` from what :func:`save` wrote to ``path``; returns the
    wrapping searcher's own state as it was saved (:func:`ray_graded_penalty.saved_state.from_data`
    reads any release's)."""
    payload = read(path)
    _load_inner_state(searcher, payload["inner"])
    return payload["state"]


def read(path: str) -> Dict[str, Any]:
    """What :func:`save` wrote to ``path``, in this release or an earlier one."""
    with open(path, "rb") as f:
        return legacy.load(f.read())


def _inner_state(searcher: Searcher) -> Dict[str, Any]:
    *outer, base = inner_searchers(searcher)
    wrappers = [wrapper.get_state() for wrapper in outer]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        base.save(path)
        with open(path, "rb") as f:
            return {"wrappers": wrappers, "base": f.read()}


def _load_inner_state(searcher: Any, state: Dict[str, Any]) -> None:
    for wrapper_state in state["wrappers"]:
        searcher.set_state(wrapper_state)
        searcher = searcher.searcher
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        with open(path, "wb") as f:
            f.write(legacy.relocate(state["base"]))
        searcher.restore(path)


# ----- the whole searcher, pickled (Tune's tuner.pkl) -------------------------------------------

#: The version of what :func:`pickled` gives (0.4 pickled the searcher's attributes as they were).
PICKLE_VERSION = 1


def pickled(searcher: Any) -> Dict[str, Any]:
    """What a ``GradedPenaltySearcher`` pickles as: its inner searcher (as Ray pickles it), its own
    state as plain data, and its callback (``GradedPenaltyCallback`` pickles as its arguments)."""
    return {"pickle_version": PICKLE_VERSION, "searcher": searcher.searcher, "state": searcher.get_state(),
            "callback": searcher.callback}


def unpickle(searcher: Any, data: Dict[str, Any]) -> None:
    """Rebuild ``searcher`` (a new ``GradedPenaltySearcher``) from what :func:`pickled` gave, or from
    the attributes a 0.4 searcher pickled."""
    if "pickle_version" not in data:
        data = legacy.pickled_searcher(data, searcher)
    saved = saved_state.from_data(data["state"])
    searcher.__init__(data["searcher"], trial_timeout_s=saved.trial_timeout_s, policy=saved.policy,
                      metric=saved.metric, mode=saved.mode, slos=saved.slos)
    searcher.set_state(data["state"])
    searcher.callback = data["callback"]
