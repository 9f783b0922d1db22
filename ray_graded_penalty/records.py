"""What the inner searcher was told of each finished trial, as users read it.

Pure logic, no Ray import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from ray_graded_penalty import legacy
from ray_graded_penalty.objectives import Told


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
    error_class: Optional[str] = None  # the matching modifier's name
    error: Optional[str] = None
    slo_miss: float = 0.0  # weighted total miss of the SLOs (0: all met, or a failure)
    slo_values: Dict[str, Optional[float]] = field(default_factory=dict)  # SLO metric -> value
    slo_misses: Dict[str, float] = field(default_factory=dict)  # SLO metric -> miss, missed only

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(legacy.outcome_state(state))

    @property
    def kind(self) -> str:
        """"success", "slo_miss" or "failure"."""
        return "failure" if self.failed else ("slo_miss" if self.slo_miss > 0 else "success")
