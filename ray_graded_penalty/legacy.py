"""Everything saved by an earlier release, read in one place.

A searcher's saved state (``searcher.save``) and the objects pickled inside it change shape
between releases. Each function here takes what an earlier release wrote and returns today's
form; the classes' ``__setstate__`` call them, and :func:`load` reads a saved file whose
classes have since moved. Pure dict work: it imports nothing of the package but the two
value types it builds (and, when it reads a 0.4 callback, the reaper), so any module may use it.

- 0.1 pickled a :class:`~ray_graded_penalty.PenaltyPolicy` without the progress tie-break.
- 0.2 (state version 1) kept one placement, the outcomes and the failures' magnitudes on the
  searcher itself; its outcomes had no SLO fields; its callback held ``_searcher``.
- 0.3 (state version 2) pickled the Optuna backend's ``constraints_func`` (before Optuna 5)
  from ``ray_graded_penalty.compat``; it kept a ledger with ``_points`` and ``_order`` per trial, a placement's
  ``least_told_point``, and ``TrialRecord`` in ``ray_graded_penalty.records``; its watchdog
  did not follow what a trial started once the trial ended.

- 0.4 (state version 3) kept no error class on a ``TrialRecord``; its callback held its
  watchdog as ``timeout``.

0.5 writes state version 3 too: nothing it saves changed shape but by added fields.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Dict

from ray_graded_penalty.objectives import Objectives
from ray_graded_penalty.severity import Severity

STATE_VERSION = 3

#: Names that moved: (module, name) in the file -> (module, name) today.
_MOVED = {
    ("ray_graded_penalty.records", "TrialRecord"): ("ray_graded_penalty.trials", "TrialRecord"),
    # The Optuna backend's sampler before Optuna 5, inside a saved OptunaSearch.
    ("ray_graded_penalty.compat", "stored_constraints"): ("ray_graded_penalty.backends.optuna", "stored_constraints"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(*_MOVED.get((module, name), (module, name)))


def load(data: bytes) -> Any:
    """Unpickle what ``searcher.save`` wrote, in this release or an earlier one."""
    return _Unpickler(io.BytesIO(data)).load()


def relocate(data: bytes) -> bytes:
    """A pickle written by an inner searcher's ``save`` (which its ``restore`` reads with plain
    ``pickle``), with the names that moved since pointed at where they are now."""
    if not any(module.encode() in data and name.encode() in data for module, name in _MOVED):
        return data
    from ray import cloudpickle

    return cloudpickle.dumps(load(data))


def searcher_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A searcher's ``get_state()`` of any release, as today's (version :data:`STATE_VERSION`)."""
    version = state.get("version")
    if version == 1:
        state = _searcher_state_v1(state)
    elif version not in (2, STATE_VERSION):
        raise ValueError(
            f"unsupported GradedPenaltySearcher state version {version!r}: this release reads "
            f"versions 1 (0.2), 2 (0.3) and {STATE_VERSION}"
        )
    return {**state, "version": STATE_VERSION}


def _searcher_state_v1(state: Dict[str, Any]) -> Dict[str, Any]:
    """0.2: one objective, no SLOs, the ledger's parts on the searcher."""
    ledger = None
    if state["metric"] and state["mode"]:
        least = state["policy"].least_magnitude
        ledger = {
            "objectives": Objectives.of(state["metric"], state["mode"]),
            "least_magnitude": least,
            "placements": [state["placement"]] if state["placement"] is not None else None,
            "outcomes": dict(state["outcomes"]),
            "_below": {key: Severity(magnitude / least, magnitude)
                       for key, magnitude in state["failure_magnitudes"].items()},
            "_best": state["best"],
            "_least_bad": state["least_bad"],
        }
    return {**state, "slos": (), "ledger": ledger}


def ledger_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A ledger's ``__dict__``: 0.3 kept each trial's level and order in two dicts."""
    if "_points" in state:
        state = dict(state)
        points, order = state.pop("_points"), state.pop("_order")
        state.pop("new_best", None)
        state["_below"] = {key: Severity(points[key], order[key]) for key in points}
    return state


def placement_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A placement's ``__dict__``: 0.2 kept the least told magnitude, 0.3 its point."""
    state = dict(state)
    magnitude = state.pop("least_told_magnitude", None)
    if magnitude is not None:
        state["least_told_level"] = magnitude / state["least_magnitude"]
    if "least_told_point" in state:
        state["least_told_level"] = state.pop("least_told_point")
    state.setdefault("least_told_level", None)
    return state


def outcome_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A ``TrialOutcome``'s ``__dict__``: 0.2's had no SLO fields."""
    return {"slo_miss": 0.0, "slo_values": {}, "slo_misses": {}, **state}


def policy_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A ``PenaltyPolicy``'s ``__dict__``: 0.1's grades on without the tie-break it lacked."""
    return {"break_ties_by_progress": False, "_tie_width": 0.0, **state}


def callback_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A callback's ``__dict__``: 0.2's held the searcher as ``_searcher``; 0.4's its watchdog
    as ``timeout`` (None without one), where today's holds a reaper either way."""
    state = dict(state)
    if "_searcher" in state:
        state["_events"] = state.pop("_searcher")
    if "timeout" in state:
        from ray_graded_penalty.reaper import TrialReaper

        state["_reaper"] = state.pop("timeout") or TrialReaper()
    return state


def timeout_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A ``TrialTimeout``'s ``__dict__``: 0.3's did not follow what a trial started after it
    ended; 0.4's ended no trial but by its clock."""
    return {"_roots": {}, "_sweeps": [], "_to_end": {}, **state}


def record_state(state: Dict[str, Any]) -> Dict[str, Any]:
    """A ``TrialRecord``'s ``__dict__``: 0.4's had no ``error_class`` (0.3's had one, as today's)."""
    return {"error_class": None, **state}
