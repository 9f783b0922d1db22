"""What the inner searcher was told of each finished trial, as users read it.

Pure logic, no Ray import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Optional

from ray_graded_penalty import legacy
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

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(legacy.outcome_state(state))

    @property
    def kind(self) -> Kind:
        """How it ended: a success, an SLO miss or a failure."""
        return Kind.FAILURE if self.failed else (Kind.SLO_MISS if self.slo_miss > 0 else Kind.SUCCESS)
