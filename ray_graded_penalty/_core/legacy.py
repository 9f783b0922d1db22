"""Everything saved by an earlier release, read in one place.

Before 0.5 a searcher's saved state (``searcher.save``) pickled the package's own objects,
whose classes have changed shape since. :func:`load` reads any release's file without
building those classes: each object of the package in it becomes an :class:`Old`, its plain
fields. :func:`migrate` then turns a state of any version into today's plain data, by one
function per earlier version (:data:`MIGRATIONS`):

- 1, written by 0.2: one placement, the outcomes and the failures' magnitudes on the searcher
  itself; outcomes without SLO fields. (0.1's policy had no progress tie-break.)
- 2, written by 0.3: a ledger with ``_points`` and ``_order`` per trial, a placement's
  ``least_told_point``.
- 3, written by 0.4: today's shapes, as pickled objects; no error class on a trial record,
  a crash's class ``None``.

:func:`relocate` points the names that moved at where they are now in an inner searcher's
own pickle, which its ``restore`` reads with plain ``pickle``.

The modules of 0.5 that 0.6 made private or merged (:data:`OLD_MODULES`) can still be imported
by their old names, with a ``DeprecationWarning``, until 0.7: what a user's script imports, and
what Tune's ``tuner.pkl`` of a 0.4 or 0.5 experiment names (a searcher pickled whole holds
objects of those modules), resolve to where the names are now (:func:`install_old_names`).
Pure dict work: of the package it imports only the vocabulary (:mod:`~ray_graded_penalty._core.outcomes`),
so any other module may use it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import io
import math
import pickle
import sys
import types
import warnings
from typing import Any, Callable, Dict, Iterable, List, Literal, NamedTuple, Optional, Tuple

from ray_graded_penalty._core.outcomes import ErrorClass

#: The version today's release writes (:mod:`~ray_graded_penalty._core.state`).
STATE_VERSION = 4
_PACKAGE = "ray_graded_penalty"

#: Names that moved: (module, name) in an inner searcher's pickle -> (module, name) today.
_MOVED = {
    # The Optuna backend's sampler before Optuna 5, inside a saved OptunaSearch (0.3).
    ("ray_graded_penalty.compat", "stored_constraints"): ("ray_graded_penalty.backends.optuna", "stored_constraints"),
}


class Old:
    """An object an earlier release pickled, as its plain fields (or its arguments)."""

    kind = ""
    args: tuple = ()
    fields: Dict[str, Any] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> "Old":  # a tuple's fields come as arguments
        old = super().__new__(cls)
        old.args = args
        return old

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (__dict__, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.fields = dict(state or {})


class _Reader(pickle.Unpickler):
    """Unpickles a saved file; the package's own classes become :class:`Old`."""

    _kinds: Dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] != _PACKAGE:
            return super().find_class(module, name)
        if name not in self._kinds:
            self._kinds[name] = type(name, (Old,), {"kind": name})
        return self._kinds[name]


class _Relocator(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(*_MOVED.get((module, name), (module, name)))


def load(data: bytes) -> Any:
    """Unpickle what ``searcher.save`` wrote, in this release or an earlier one."""
    return _Reader(io.BytesIO(data)).load()


def relocate(data: bytes) -> bytes:
    """An inner searcher's own pickle, with the names that moved since pointed at where they
    are now."""
    if not any(module.encode() in data and name.encode() in data for module, name in _MOVED):
        return data
    from ray import cloudpickle

    return cloudpickle.dumps(_Relocator(io.BytesIO(data)).load())


# ----- migrations -------------------------------------------------------------------------------


def migrate(state: Dict[str, Any]) -> Dict[str, Any]:
    """A searcher's saved state of any version, as today's plain data."""
    version = state.get("version")
    if version == STATE_VERSION:
        return state
    if version not in MIGRATIONS:
        raise ValueError(f"unsupported GradedPenaltySearcher state version {version!r}: this release reads "
                         f"versions 1 (0.2), 2 (0.3), 3 (0.4) and {STATE_VERSION}")
    return MIGRATIONS[version](state)


def from_0_2(state: Dict[str, Any]) -> Dict[str, Any]:
    """Version 1: the placement, the outcomes and the failures' magnitudes on the searcher."""
    return _today(state, _ledger_v1(state))


def from_0_3(state: Dict[str, Any]) -> Dict[str, Any]:
    """Version 2: a ledger with each trial's level and order in two dicts (``_points``, ``_order``)."""
    return _today(state, _ledger(state["ledger"], lambda fields: {
        key: [fields["_points"][key], fields["_order"][key]] for key in fields["_points"]}))


def from_0_4(state: Dict[str, Any]) -> Dict[str, Any]:
    """Version 3: today's shapes, as pickled objects (a severity per trial below the successes)."""
    return _today(state, _ledger(state["ledger"], lambda fields: {
        key: list(s.args if isinstance(s, Old) else s) for key, s in fields["_below"].items()}))


#: One migration per earlier version, each straight to today's (:data:`STATE_VERSION`).
MIGRATIONS: Dict[int, Callable[[Dict[str, Any]], Dict[str, Any]]] = {1: from_0_2, 2: from_0_3, 3: from_0_4}


def _today(state: Dict[str, Any], ledger: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Today's state from what every earlier version kept alike, and its ledger migrated."""
    return {
        "version": STATE_VERSION, "metric": state["metric"], "mode": state["mode"],
        "trial_timeout_s": state["trial_timeout_s"], "policy": _policy(state["policy"]),
        "slos": [_fields(slo) for slo in state.get("slos", ())],
        "records": {key: _record(record) for key, record in state["records"].items()},
        "ledger": ledger, "keeper": dict(state.get("keeper") or {}), "warm_start": [],
    }


def _fields(value: Any) -> Dict[str, Any]:
    """An old object's fields: an :class:`Old`'s, a dict's, or the attributes of an object 0.4
    pickled whole (today's class, 0.4's fields)."""
    if isinstance(value, Old):
        return dict(value.fields)
    return dict(value) if isinstance(value, dict) else dict(vars(value))


def _policy(policy: Any) -> Dict[str, Any]:
    fields = _fields(policy)
    return {
        "tiers": [[_fields(t)["start"], _fields(t)["magnitude"]] for t in fields["tiers"]],
        "modifiers": [[m["name"], list(m["keywords"]), m["factor"]] for m in map(_fields, fields["modifiers"])],
        "break_ties_by_progress": fields.get("break_ties_by_progress", False),  # 0.1 had none
    }


_RECORD_FIELDS = ("config", "suggested_at", "started_at", "ended_at", "time_total_s", "errored", "error",
                  "elapsed_s", "timeout_s", "details_known", "timed_out", "error_class", "stage")


def _record(record: Any) -> Dict[str, Any]:
    fields = _fields(record)
    return {key: fields.get(key, False if key in ("errored", "details_known", "timed_out") else None)
            for key in _RECORD_FIELDS}


def _outcome(outcome: Any) -> Dict[str, Any]:
    data = {"slo_miss": 0.0, "slo_values": {}, "slo_misses": {}, **_fields(outcome)}  # 0.2's had no SLO fields
    if data["failed"] and data.get("error_class") is None:
        data["error_class"] = ErrorClass.CRASH  # before 0.5 a failure no modifier scaled had no class
    for key in ("told", "metric"):
        if isinstance(data.get(key), tuple):
            data[key] = list(data[key])
    return data


def _placement(placement: Any) -> Dict[str, Any]:
    fields = _fields(placement)
    if "least_told_magnitude" in fields:  # 0.2
        magnitude = fields.pop("least_told_magnitude")
        fields["least_told_level"] = None if magnitude is None else magnitude / fields["least_magnitude"]
    if "least_told_point" in fields:  # 0.3
        fields["least_told_level"] = fields.pop("least_told_point")
    return {"least_told_level": None, **fields}


def _trial_id(outcome: Any) -> Optional[str]:
    return None if outcome is None else _fields(outcome)["trial_id"]


def _ledger(ledger: Any, below: Callable[[Dict[str, Any]], Dict[str, List[float]]]) -> Optional[Dict[str, Any]]:
    """A ledger of 0.3 or 0.4; ``below`` reads its trials' severities, the one part whose shape differs."""
    if ledger is None:
        return None
    fields = _fields(ledger)
    objectives = _fields(fields["objectives"])
    return {
        "metrics": list(objectives["metrics"]), "modes": list(objectives["modes"]),
        "least_magnitude": fields["least_magnitude"],
        "placements": [_placement(p) for p in fields["placements"]],
        "outcomes": {key: _outcome(o) for key, o in fields["outcomes"].items()},
        "below": below(fields), "best": _trial_id(fields["_best"]), "least_bad": _trial_id(fields["_least_bad"]),
    }


def _ledger_v1(state: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """0.2: one objective, no SLOs, the ledger's parts on the searcher."""
    if not (state["metric"] and state["mode"]):
        return None
    least = _least_magnitude(state["policy"])
    placements: List[Dict[str, Any]] = [_placement(state["placement"])] if state["placement"] is not None else [
        {"mode": state["mode"], "least_magnitude": least, "worst_loss": None, "best_loss": None,
         "least_told_level": None, "anchor": None, "spread": 1.0}]
    return {
        "metrics": [state["metric"]], "modes": [state["mode"]], "least_magnitude": least,
        "placements": placements,
        "outcomes": {key: _outcome(o) for key, o in state["outcomes"].items()},
        "below": {key: [magnitude / least, magnitude] for key, magnitude in state["failure_magnitudes"].items()},
        "best": _trial_id(state["best"]), "least_bad": _trial_id(state["least_bad"]),
    }


def _least_magnitude(policy: Any) -> float:
    """The least magnitude an old policy could give (what its ``least_magnitude`` computed)."""
    fields = _fields(policy)
    factors = [1.0] + [_fields(m)["factor"] for m in fields["modifiers"]]
    return min(_fields(t)["magnitude"] * f for t in fields["tiers"] for f in factors)


def pickled_searcher(attributes: Dict[str, Any], searcher: Any) -> Dict[str, Any]:
    """A ``GradedPenaltySearcher`` that 0.4 pickled (its attributes, objects of today's classes
    with 0.4's fields), as :func:`ray_graded_penalty._core.state.pickled` gives one today. Its
    callback, the object Tune also holds in the run's callbacks, is set up again in place for
    ``searcher``."""
    book, keeper = attributes["_book"], attributes["_keeper"]
    state = {"metric": attributes["_metric"], "mode": attributes["_mode"],
             "trial_timeout_s": attributes["trial_timeout_s"], "policy": attributes["policy"],
             "slos": attributes["slos"], "records": vars(book)["records"], "ledger": attributes["_ledger"],
             "keeper": keeper.get_state()}
    data = from_0_4(state)
    data["warm_start"] = [_past(p) for p in attributes.get("_warm_start", [])]
    callback = attributes["callback"]
    watchdog = vars(callback).get("timeout")
    callback.__init__(searcher, None if watchdog is None else vars(watchdog)["timeout_s"])
    return {"searcher": attributes["inner"], "state": data, "callback": callback}


def _past(past: Any) -> Dict[str, Any]:
    fields = _fields(past)
    kind = "failure" if fields.get("value") is None else "success"
    return {"kind": kind, "slo_miss": 0.0, "error_class": None, **fields}


# ----- old module names -------------------------------------------------------------------------

#: Each module of 0.5 that 0.6 made private or merged, and the modules its names are in now,
#: searched in order.
OLD_MODULES: Dict[str, Tuple[str, ...]] = {
    f"{_PACKAGE}.{old}": tuple(f"{_PACKAGE}.{new}" for new in news) for old, news in {
        "checks": ("_core.checks",),
        "checkpoint": ("_core.state",),
        "cli": ("_cli",),
        "decision": ("_core.judge",),
        "error_classes": ("policy", "_core.judge", "_core.outcomes"),
        "events": ("callback",),
        "good_group": ("backends.optuna",),
        "history": ("report",),
        "ledger": ("_core.ledger",),
        "legacy": ("_core.legacy",),
        "objectives": ("_core.outcomes",),
        "placement": ("_core.ledger",),
        "ray_internals": ("_core.ray_internals", "compat"),
        "reaper": ("timeout",),
        "records": ("_core.outcomes",),
        "saved_state": ("_core.state",),
        "severity": ("_core.outcomes",),
        "telling": ("_core.ledger",),
        "trial_errors": ("callback", "_core.judge"),
        "trials": ("_core.trials",),
        "warm_start": ("_core.ledger",),
    }.items()
}


#: Names of 0.5 that mean something else where they are now: (old module, name) -> (module, name).
RENAMED = {(f"{_PACKAGE}.error_classes", "classify"): (f"{_PACKAGE}._core.judge", "first_match")}


# ----- names of 0.5 that are gone ------------------------------------------------------------------


def _load_outcomes(experiment_dir: str) -> Dict[str, Any]:
    """0.5's ``report.load_outcomes``: what a GradedPenaltySearcher told, from its newest
    checkpoint in ``experiment_dir`` (empty when it did not run there)."""
    return importlib.import_module(f"{_PACKAGE}.report").load_searcher_state(experiment_dir).get("outcomes", {})


#: 0.5's substrings of a failed allocation in a server's output (``serving.failure.MEMORY_TEXTS``).
_MEMORY_TEXTS_0_5 = ("out of memory", "insufficient memory", "failed to allocate", "bad_alloc",
                     "cannot allocate memory", "outofmemoryerror", "memoryerror")


def _memory_line(texts: Iterable[str]) -> str:
    """0.5's ``serving.failure.memory_line``: the first of ``texts`` with one of its substrings, or ""."""
    return next((text.strip() for text in texts if any(m in text.lower() for m in _MEMORY_TEXTS_0_5)), "")


def _default_gamma(n: int) -> int:
    """0.5's ``backends.optuna.default_gamma``: Optuna's TPE's default good-group size for ``n``
    trials, ``min(ceil(n / 10), 25)``."""
    return min(math.ceil(0.1 * n), 25)


def _error_class_of(exc: BaseException) -> Optional[str]:
    """0.5's ``trial_errors.error_class_of``: the class the exception says it is (its
    ``error_class``, or Ray's memory monitor's kill); a dead worker, which 0.5 called "crash",
    now has a stage and its text decides: None."""
    return importlib.import_module(f"{_PACKAGE}.callback").read_exception(exc).error_class


class TrialError(NamedTuple):
    """0.5's ``trial_errors.TrialError``: what killed a trial (now ``Evidence``, from ``read_exception``)."""

    text: str
    error_class: Optional[str] = None


#: Names of 0.5 that no module has any more: (0.5 module, name) -> (its 0.5 value, what to use
#: instead). Each still answers, with a ``DeprecationWarning``, until 0.7 (:func:`gone`).
GONE: Dict[Tuple[str, str], Tuple[Any, str]] = {(f"{_PACKAGE}.{module}", name): value for (module, name), value in {
    ("report", "NO_TEXT"): (ErrorClass.OTHER, "ErrorClass.OTHER"),
    ("report", "load_outcomes"): (_load_outcomes, 'report.load_searcher_state(experiment_dir).get("outcomes", {})'),
    ("backends.optuna", "default_gamma"): (_default_gamma, "Optuna's TPESampler(gamma=...), or min(ceil(n / 10), 25)"),
    ("serving.failure", "CLASSES"): ({"start": ErrorClass.DEPLOY, "ready": ErrorClass.DEPLOY, "load": ErrorClass.CRASH},
                                     "nothing: a ServerError's stage is read by the searcher's classifier"),
    ("serving.failure", "WHEN"): ({"start": "during start-up", "ready": "before it was ready", "load": "under load"},
                                  "serving.failure.HEADLINES"),
    ("serving.failure", "MEMORY_TEXTS"): (_MEMORY_TEXTS_0_5, "the policy's \"oom\" keywords (PenaltyPolicy)"),
    ("serving.failure", "memory_line"): (_memory_line, "nothing: the searcher's classifier reads a ServerError's "
                                                       "log_lines"),
    ("checks", "Mode"): (Literal["max", "min"], 'typing.Literal["max", "min"]'),
    ("decision", "OWN_CLASSES"): (ErrorClass.OWN, "ErrorClass.OWN"),
    ("trials", "TIMEOUT"): (ErrorClass.TIMEOUT, "ErrorClass.TIMEOUT"),
    ("trial_errors", "TrialError"): (TrialError, "callback.read_exception(exc), an Evidence"),
    ("trial_errors", "error_class_of"): (_error_class_of, "callback.read_exception(exc).error_class"),
}.items()}


def gone(module: str, name: str) -> Any:
    """The value of a name of 0.5 that ``module`` no longer has (:data:`GONE`), with a warning."""
    if (module, name) not in GONE:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    value, instead = GONE[(module, name)]
    warnings.warn(f"{module}.{name} is gone since ray-graded-penalty 0.6 and answers as it did in 0.5 "
                  f"until it goes in 0.7: use {instead}", DeprecationWarning, stacklevel=3)
    return value


def gone_names(module: str) -> Callable[[str], Any]:
    """A public module's ``__getattr__``: the names of 0.5 it no longer has, until 0.7 (:func:`gone`)."""
    return lambda name: gone(module, name)


class _OldModule(types.ModuleType):
    """A module of 0.5 under its old name: its names, from where they are now."""

    targets: Tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        if (self.__name__, name) in RENAMED:
            where, new = RENAMED[(self.__name__, name)]
            return getattr(importlib.import_module(where), new)
        if not name.startswith("__"):
            for target in self.targets:
                module = importlib.import_module(target)
                if hasattr(module, name):
                    return getattr(module, name)
        if (self.__name__, name) in GONE:
            return gone(self.__name__, name)
        raise AttributeError(f"module {self.__name__!r} (now {', '.join(self.targets)}) has no attribute {name!r}")


class _OldNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the modules of :data:`OLD_MODULES` by their old names."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        return importlib.util.spec_from_loader(fullname, self) if fullname in OLD_MODULES else None

    def create_module(self, spec: Any) -> types.ModuleType:
        targets = OLD_MODULES[spec.name]
        warnings.warn(f"{spec.name} is private since ray-graded-penalty 0.6 (its names are in "
                      f"{', '.join(targets)}); importing it by its old name goes in 0.7: import what you use "
                      f"from ray_graded_penalty, or its public modules", DeprecationWarning, stacklevel=2)
        module = _OldModule(spec.name, f"Deprecated: the 0.5 module {spec.name}, now {', '.join(targets)}.")
        module.targets = targets
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the names are looked up where they are now."""


def install_old_names() -> None:
    """Let the modules of :data:`OLD_MODULES` be imported by their old names (once per process)."""
    if not any(isinstance(finder, _OldNames) for finder in sys.meta_path):
        sys.meta_path.append(_OldNames())
