"""What a searcher saves: plain data with a version, made and read here and nowhere else.

:func:`to_data` turns a searcher's own state (:class:`SavedState`) into numbers, strings,
lists and dicts, under ``"version": STATE_VERSION``; :func:`from_data` reads it back, and
data of an earlier release first goes through its migration
(:func:`ray_graded_penalty.legacy.migrate`). No class of the package is pickled, so a release
reads what another wrote without hooks on its classes. The inner searcher's own state stays as
Ray saves it (:mod:`~ray_graded_penalty.checkpoint`).

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> from ray_graded_penalty.trials import TrialRecord
    >>> saved = SavedState("score", "max", 600.0, PenaltyPolicy(), (), {"t1": TrialRecord(config={"x": 1})}, None, {})
    >>> data = to_data(saved)
    >>> data["version"], data["records"]["t1"]["config"], data["policy"]["tiers"][0]
    (4, {'x': 1}, [0.0, 1000.0])
    >>> from_data(data) == saved
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, NamedTuple, Optional, Tuple

from ray_graded_penalty import legacy
from ray_graded_penalty.ledger import Ledger
from ray_graded_penalty.objectives import MetricArg
from ray_graded_penalty.policy import PenaltyPolicy
from ray_graded_penalty.records import Kind, PastTrial
from ray_graded_penalty.slo import SLO
from ray_graded_penalty.trials import TrialRecord

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
    }


def from_data(data: Dict[str, Any]) -> SavedState:
    """The state ``data`` describes, from this release or, migrated, an earlier one."""
    data = legacy.migrate(data)
    return SavedState(
        metric=data["metric"], mode=data["mode"],
        trial_timeout_s=data["trial_timeout_s"],
        policy=PenaltyPolicy.from_data(data["policy"]),
        slos=tuple(SLO(**slo) for slo in data["slos"]),
        records={key: TrialRecord(**record) for key, record in data["records"].items()},
        ledger=None if data["ledger"] is None else Ledger.from_data(data["ledger"]),
        keeper=dict(data["keeper"]),
        warm_start=tuple(PastTrial(**{**p, "kind": Kind(p["kind"])}) for p in data["warm_start"]),
    )
