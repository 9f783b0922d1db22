"""One file holding a searcher's own state and its inner searcher's, written atomically.

Pure bookkeeping around Ray's ``Searcher.save``/``restore``: like Ray's ``SearchGenerator`` it
keeps a wrapper's (``ConcurrencyLimiter``'s) ``get_state()`` apart from its base searcher's
``save()``, since a ``ConcurrencyLimiter``'s own ``save`` keeps only the searcher it wraps and
would forget which trials are live. Files of earlier releases are read by
:func:`ray_graded_penalty.legacy.load`.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict

from ray import cloudpickle
from ray.tune.search import Searcher

from ray_graded_penalty import legacy
from ray_graded_penalty.compat import inner_searchers


def save(path: str, state: Dict[str, Any], inner: Searcher) -> None:
    """Write ``state`` and ``inner``'s state to ``path`` (a temporary file, then a rename)."""
    payload = cloudpickle.dumps({"state": state, "inner": _inner_state(inner)})
    tmp_path = f"{path}.tmp-{os.getpid()}"
    with open(tmp_path, "wb") as f:
        f.write(payload)
    os.replace(tmp_path, path)


def load(path: str, inner: Searcher) -> Dict[str, Any]:
    """Restore ``inner`` from what :func:`save` wrote to ``path``; returns the searcher's own
    state as it was saved (:func:`ray_graded_penalty.legacy.searcher_state` reads any release's)."""
    payload = read(path)
    _load_inner_state(inner, payload["inner"])
    return payload["state"]


def read(path: str) -> Dict[str, Any]:
    """What :func:`save` wrote to ``path``, in this release or an earlier one."""
    with open(path, "rb") as f:
        return legacy.load(f.read())


def _inner_state(inner: Searcher) -> Dict[str, Any]:
    *outer, base = inner_searchers(inner)
    wrappers = [wrapper.get_state() for wrapper in outer]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        base.save(path)
        with open(path, "rb") as f:
            return {"wrappers": wrappers, "base": f.read()}


def _load_inner_state(inner: Any, state: Dict[str, Any]) -> None:
    for wrapper_state in state["wrappers"]:
        inner.set_state(wrapper_state)
        inner = inner.searcher
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        with open(path, "wb") as f:
            f.write(legacy.relocate(state["base"]))
        inner.restore(path)
