"""What the inner searcher was told of each finished trial, as users read it.

Pure logic, no Ray import.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Optional

from ray_graded_penalty.objectives import Told


class Kind(str, Enum):
    """How a finished trial ended, as it was told: the one type every module compares.

    A ``str`` enum: ``Kind.SLO_MISS == "slo_miss"``, and the failure report's ``status``
    column holds these values.
    """

    SUCCESS = "success"  # reported its objectives, within every SLO: told as it is
    SLO_MISS = "slo_miss"  # served but missed an SLO: told below every success
    FAILURE = "failure"  # failed (or missed an SLO past its fail_ratio): told a graded penalty

    def __str__(self) -> str:
        return self.value


@dataclass
class TrialOutcome:
    """What the inner searcher was told about one finished trial.

    A success that missed an SLO has ``failed=False`` and a positive ``slo_miss``; it was told
    below every success that met its SLOs. With several objectives, ``told`` and ``metric``
    hold one value per objective.
    """

    trial_id: str
    config: Optional[Dict[str, Any]]
    failed: bool
    told: Told  # the value the inner searcher was told
    metric: Optional[Told] = None  # the success's own metric value(s)
    penalty: Optional[float] = None  # the policy's penalty (before placement)
    elapsed_s: Optional[float] = None
    timeout_s: Optional[float] = None
    completion: Optional[float] = None
    error_class: Optional[str] = None  # a failure's: the modifier that scaled it, or "crash"
    error: Optional[str] = None
    slo_miss: float = 0.0  # weighted total miss of the SLOs (0: all met, or a failure)
    slo_values: Dict[str, Optional[float]] = field(default_factory=dict)  # SLO metric -> value
    slo_misses: Dict[str, float] = field(default_factory=dict)  # SLO metric -> miss, missed only

    @property
    def kind(self) -> Kind:
        """How it ended: a success, an SLO miss or a failure."""
        return Kind.FAILURE if self.failed else (Kind.SLO_MISS if self.slo_miss > 0 else Kind.SUCCESS)


@dataclass(frozen=True)
class PastTrial:
    """One earlier trial: a success (``value``), an SLO miss (``value``, ``slo_miss``) or a
    failure (``elapsed_s``, ``error_class``, ``error``)."""

    config: Dict[str, Any]
    value: Optional[float] = None
    elapsed_s: Optional[float] = None
    timeout_s: Optional[float] = None
    error: str = ""
    kind: Kind = Kind.FAILURE
    slo_miss: float = 0.0
    error_class: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.kind is Kind.FAILURE


def outcome_data(outcome: TrialOutcome) -> Dict[str, Any]:
    """``outcome`` as plain data: its fields, several objectives' values as lists."""
    data = dataclasses.asdict(outcome)
    for key in ("told", "metric"):
        if isinstance(data[key], tuple):
            data[key] = list(data[key])
    return data


def outcome_from_data(data: Dict[str, Any]) -> TrialOutcome:
    """The outcome :func:`outcome_data` describes."""
    data = dict(data)
    for key in ("told", "metric"):
        if isinstance(data.get(key), list):
            data[key] = tuple(data[key])
    return TrialOutcome(**data)
