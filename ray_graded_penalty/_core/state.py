"""What a searcher saves, and where: plain data with a version, one file, or Tune's experiment directory.

**The data.** :func:`to_data` turns a searcher's own state (:class:`SavedState`) into numbers,
strings, lists and dicts, under ``"version": STATE_VERSION``; :func:`from_data` reads it back,
and data of an earlier release first goes through its migration
(:func:`ray_graded_penalty._core.legacy.migrate`). No class of the package is pickled, so a
release reads what another wrote without hooks on its classes.

**The files.** :func:`save` writes one file holding the searcher's own state and its inner
searcher's, atomically; like Ray's ``SearchGenerator`` it keeps a wrapper's
(``ConcurrencyLimiter``'s) ``get_state()`` apart from its base searcher's ``save()``, since a
``ConcurrencyLimiter``'s own ``save`` keeps only the searcher it wraps and would forget which
trials are live. In an experiment, Tune saves the searcher as it saves any wrapper with a
``searcher`` attribute: its ``get_state()`` in Tune's own file beside the experiment (with each
wrapper's), the base searcher by its own ``save_to_dir``. Releases up to 0.4 were saved by Tune
as the base searcher, in one ``searcher-state-*.pkl`` file of the form ``save`` writes;
:func:`state_in_dir` and :func:`restore_from_dir` read both. Tune also pickles the whole searcher
(an experiment's ``tuner.pkl``): :func:`pickled` and :func:`unpickle`.

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> from ray_graded_penalty._core.trials import TrialRecord
    >>> saved = SavedState("score", "max", 600.0, PenaltyPolicy(), (), {"t1": TrialRecord(config={"x": 1})}, None, {})
    >>> data = to_data(saved)
    >>> data["version"], data["records"]["t1"]["config"], data["policy"]["tiers"][0]
    (4, {'x': 1}, [0.0, 1000.0])
    >>> from_data(data) == saved
    True
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import logging
import os
import tempfile
from typing import Any, Dict, NamedTuple, Optional, Tuple

from ray import cloudpickle
from ray.tune.search import Searcher

from ray_graded_penalty._core import legacy, ray_internals
from ray_graded_penalty._core.ledger import Ledger
from ray_graded_penalty._core.outcomes import ErrorClass, Kind, MetricArg, PastTrial
from ray_graded_penalty._core.trials import TrialRecord
from ray_graded_penalty.compat import inner_searchers
from ray_graded_penalty.policy import PenaltyPolicy
from ray_graded_penalty.slo import SLO

logger = logging.getLogger(__name__)

#: The version of what :func:`to_data` writes (0.2 wrote 1, 0.3 2, 0.4 3).
STATE_VERSION = legacy.STATE_VERSION


class SavedState(NamedTuple):
    """A searcher's own state: what it adds to its inner searcher."""

    metric: MetricArg
    mode: MetricArg
    trial_timeout_s: float
    policy: PenaltyPolicy
    slos: Tuple[SLO, ...]
    records: Dict[str, TrialRecord]  # the unfinished trials
    ledger: Optional[Ledger]  # what was told (None before metric and mode are known)
    keeper: Dict[str, Any]  # the backend's own bookkeeping, plain already
    warm_start: Tuple[PastTrial, ...] = ()  # earlier trials still to tell (once Tune sets the space)
    runs_per_config: Optional[int] = 1  # how often one configuration may run (None: unchecked, as before 0.6)
    retries: int = 1  # how often a configuration runs again after a transient failure
    transient: Tuple[str, ...] = ErrorClass.TRANSIENT  # the classes that are the infrastructure's
    finished: bool = False  # it answered Ray's FINISHED in this run: Tune, restored, asks no more
    log_scale: Tuple[str, ...] = ()  # Tune's parameters sampled on a log scale (the report bins them so)

    def __eq__(self, other: object) -> bool:  # a Ledger has no equality of its own: compare data
        return isinstance(other, SavedState) and to_data(self) == to_data(other)

    def __ne__(self, other: object) -> bool:
        return not self == other


def _plain(value: Any) -> Any:
    """Tuples as lists, all the way down."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_data(saved: SavedState) -> Dict[str, Any]:
    """``saved`` as plain data, under :data:`STATE_VERSION`."""
    return {
        "version": STATE_VERSION,
        "metric": _plain(saved.metric), "mode": _plain(saved.mode), "trial_timeout_s": saved.trial_timeout_s,
        "policy": saved.policy.to_data(),
        "slos": [dataclasses.asdict(slo) for slo in saved.slos],
        "records": {key: dataclasses.asdict(record) for key, record in saved.records.items()},
        "ledger": None if saved.ledger is None else saved.ledger.to_data(),
        "keeper": dict(saved.keeper),
        "warm_start": [{**dataclasses.asdict(p), "kind": p.kind.value} for p in saved.warm_start],
        "runs_per_config": saved.runs_per_config,
        "retries": saved.retries, "transient": list(saved.transient),
        "finished": saved.finished,
        "log_scale": list(saved.log_scale),
    }


def from_data(data: Dict[str, Any]) -> SavedState:
    """The state ``data`` describes, from this release or, migrated, an earlier one; shares
    nothing with ``data``."""
    data = copy.deepcopy(legacy.migrate(data))  # plain data by now
    return SavedState(
        metric=data["metric"], mode=data["mode"],
        trial_timeout_s=data["trial_timeout_s"],
        policy=PenaltyPolicy.from_data(data["policy"]),
        slos=tuple(SLO(**slo) for slo in data["slos"]),
        records={key: TrialRecord(**record) for key, record in data["records"].items()},
        ledger=None if data["ledger"] is None else Ledger.from_data(data["ledger"]),
        keeper=dict(data["keeper"]),
        warm_start=tuple(PastTrial(**{**p, "kind": Kind(p["kind"])}) for p in data["warm_start"]),
        runs_per_config=data.get("runs_per_config", 1),
        retries=data.get("retries", 0), transient=tuple(data.get("transient", ())),  # none before 0.6
        finished=data.get("finished", False),
        log_scale=tuple(data.get("log_scale", ())),  # none before 0.6
    )


# ----- the files ----------------------------------------------------------------------------------

def save(path: str, state: Dict[str, Any], searcher: Searcher) -> None:
    """Write ``state`` and the inner ``searcher``'s to ``path`` (a temporary file, then a rename)."""
    payload = cloudpickle.dumps({"state": state, "inner": _inner_state(searcher)})
    tmp_path = f"{path}.tmp-{os.getpid()}"
    with open(tmp_path, "wb") as f:
        f.write(payload)
    os.replace(tmp_path, path)


def load(path: str, searcher: Searcher) -> Dict[str, Any]:
    """Restore the inner ``searcher`` from what :func:`save` wrote to ``path``; returns the
    wrapping searcher's own state as it was saved (:func:`from_data`
    reads any release's)."""
    payload = read(path)
    _load_inner_state(searcher, payload["inner"])
    return payload["state"]


def read(path: str) -> Dict[str, Any]:
    """What :func:`save` wrote to ``path``, in this release or an earlier one."""
    with open(path, "rb") as f:
        return legacy.load(f.read())


def state_in_dir(experiment_dir: str, name: str = "GradedPenaltySearcher") -> Optional[Dict[str, Any]]:
    """The searcher's own state (as ``get_state`` gave it) that Tune saved last in
    ``experiment_dir``, for the searcher class ``name``; None when none ran there."""
    state = ray_internals.wrapper_states(experiment_dir).get(name)
    if state is not None:
        return state
    for path in sorted(glob.glob(os.path.join(experiment_dir, ray_internals.searcher_state_pattern())), reverse=True):
        try:  # an earlier release's one file, or another searcher's own pickle
            payload = read(path)
        except Exception as exc:  # not ours: what another searcher pickled may need its own world
            logger.debug("%s is not a saved GradedPenaltySearcher: %s", path, exc)
            continue
        if isinstance(payload, dict) and isinstance(payload.get("state"), dict) and "inner" in payload:
            return payload["state"]
    return None


def restore_from_dir(searcher: Any, experiment_dir: str) -> bool:
    """Restore ``searcher`` (a ``GradedPenaltySearcher``) and the searchers it wraps from what
    Tune saved in ``experiment_dir`` as ``SearchGenerator.restore_from_dir`` does; False when
    Tune saved no state of this class there (an earlier release's experiment: its one file)."""
    states = ray_internals.wrapper_states(experiment_dir)
    own = states.get(type(searcher).__name__)
    if own is None:
        return False
    *outer, base = inner_searchers(searcher.searcher)
    for wrapper in outer:
        if type(wrapper).__name__ in states:
            wrapper.set_state(states[type(wrapper).__name__])
    base.restore_from_dir(experiment_dir)
    searcher.set_state(own)
    return True


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
    saved = from_data(data["state"])
    searcher.__init__(data["searcher"], trial_timeout_s=saved.trial_timeout_s, policy=saved.policy,
                      metric=saved.metric, mode=saved.mode, slos=saved.slos, runs_per_config=saved.runs_per_config,
                      retries=saved.retries, transient=saved.transient)
    searcher.set_state(data["state"])
    searcher.callback = data["callback"]
