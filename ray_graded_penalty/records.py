"""What the driver knows about one unfinished trial, and how long it really ran.

Pure logic, no Ray import. Times are driver wall-clock seconds (``time.time()``): trials run
on other nodes whose clocks are not the driver's, and a record must survive a driver restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

Told = Union[float, Tuple[float, ...]]  # one objective's value, or one per objective


@dataclass
class TrialRecord:
    """Bookkeeping for one trial between its suggestion and the moment it is told."""

    config: Optional[Dict[str, Any]] = None
    suggested_at: Optional[float] = None
    started_at: Optional[float] = None  # when it last started RUNNING (set by the callback)
    ended_at: Optional[float] = None
    time_total_s: Optional[float] = None  # from its last reported result
    errored: bool = False  # Ray said the trial ended in an error
    error: Optional[str] = None
    elapsed_s: Optional[float] = None  # given explicitly (record_failure)
    timeout_s: Optional[float] = None
    details_known: bool = False  # error text came from the callback or record_failure
    timed_out: bool = False  # stopped by this package's watchdog
    error_class: Optional[str] = None  # set when the searcher knows it (an SLO failure)

    def elapsed(self, now: float, starts_reported: bool = False) -> float:
        """Seconds of real progress, from the best source available.

        In order: an explicit ``elapsed_s``; driver time from the start of RUNNING (time spent
        PENDING, waiting for a GPU, is no progress); none at all if starts are reported but
        this trial never started (it failed before it ran); the trial's own ``time_total_s``;
        driver time since the suggestion (an upper bound, when nothing reports starts).
        """
        if self.elapsed_s is not None:
            return self.elapsed_s
        end = self.ended_at if self.ended_at is not None else now
        if self.started_at is not None:
            return max(0.0, end - self.started_at)
        if starts_reported:
            return 0.0
        if self.time_total_s is not None:
            return max(0.0, self.time_total_s)
        if self.suggested_at is not None:
            return max(0.0, end - self.suggested_at)
        return 0.0


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
        # Outcomes pickled by 0.2 had no SLO fields.
        state.setdefault("slo_miss", 0.0)
        state.setdefault("slo_values", {})
        state.setdefault("slo_misses", {})
        self.__dict__.update(state)

    @property
    def kind(self) -> str:
        """"success", "slo_miss" or "failure"."""
        return "failure" if self.failed else ("slo_miss" if self.slo_miss > 0 else "success")
