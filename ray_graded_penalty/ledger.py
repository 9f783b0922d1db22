"""What every finished trial was told, and where the ones below the successes are placed.

The searcher decides how a trial ended; the ledger turns that into the value the inner model
is told and keeps the record: a success as it is, an SLO miss and a failure placed below every
SLO-meeting success (one :class:`~ray_graded_penalty.placement.FailurePlacement` per
objective), and the best trial so far. Pure logic, no Ray import.

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> from ray_graded_penalty.objectives import Objectives
    >>> policy = PenaltyPolicy()
    >>> ledger = Ledger(Objectives.of("latency_ms", "min"), policy.least_magnitude)
    >>> ledger.failure("a", {}, policy.grade(30, 600, "CUDA out of memory"), "CUDA out of memory")[0].told
    1500.0
    >>> ledger.success("b", {}, (2000.0,), 12.0)[1]   # a success above 1500 ms: failures move
    True
    >>> ledger.below_successes()["a"] > 2000.0          # where "a" must be told now
    True
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ray_graded_penalty.objectives import Objectives
from ray_graded_penalty.placement import FailurePlacement
from ray_graded_penalty.policy import Grade
from ray_graded_penalty.records import Told, TrialOutcome
from ray_graded_penalty.slo import Verdict, miss_rank


class Ledger:
    """Told values and outcomes of finished trials.

    Args:
        objectives: The metric(s) and mode(s).
        least_magnitude: The policy's least-bad failure magnitude.
    """

    def __init__(self, objectives: Objectives, least_magnitude: float) -> None:
        self.objectives = objectives
        self.least_magnitude = least_magnitude
        self.placements = [FailurePlacement(mode, least_magnitude) for mode in objectives.modes]
        self.outcomes: Dict[str, TrialOutcome] = {}
        self._points: Dict[str, float] = {}  # trials told below the successes -> penalty point
        self._order: Dict[str, float] = {}  # the same trials -> how bad (failures: their rank)
        self._best: Optional[TrialOutcome] = None
        self._least_bad: Optional[TrialOutcome] = None  # least-bad SLO miss, else failure
        self.new_best = False  # whether the outcome recorded last became the best success

    # ----- what a user reads ----------------------------------------------------------------

    @property
    def best(self) -> Optional[TrialOutcome]:
        """The best SLO-meeting success (the best in the first objective, with several);
        without one, the least-bad SLO miss; without one, the least-bad failure."""
        return self._best or self._least_bad

    def pareto_front(self) -> List[TrialOutcome]:
        """The SLO-meeting successes no other SLO-meeting success dominates."""
        successes = [o for o in self.outcomes.values() if o.kind == "success"]
        values = {o.trial_id: self._values(o.told) for o in successes}
        return [
            o for o in successes
            if not any(self.objectives.dominates(values[p.trial_id], values[o.trial_id]) for p in successes)
        ]

    def describe_best(self, metric_names: str) -> str:
        best = self.best
        if best is None:
            return "none"
        if best.failed:
            return f"no success yet; least-bad failure {best.trial_id} (penalty {best.penalty:.1f}) {best.config}"
        if best.slo_miss > 0:
            return f"no success within the SLOs yet; least SLO miss {best.trial_id} ({best.slo_miss:.1%}) {best.config}"
        return f"{best.trial_id} {self.objectives.describe(self._values(best.metric))} {best.config}"

    # ----- recording outcomes ---------------------------------------------------------------

    def success(self, key: str, config: Optional[Dict[str, Any]], values: Sequence[float],
                elapsed_s: Optional[float], verdict: Optional[Verdict] = None) -> Tuple[TrialOutcome, bool]:
        """A success meeting its SLOs, told as it is; True when trials below must move."""
        moved = False
        for placement, value in zip(self.placements, values):
            moved = placement.add_success(value) or moved
        told = self._told_of(values)
        return self._remember(TrialOutcome(
            trial_id=key, config=config, failed=False, told=told, metric=told, elapsed_s=elapsed_s,
            slo_values=dict(verdict.values) if verdict else {},
        )), moved

    def miss(self, key: str, config: Optional[Dict[str, Any]], values: Sequence[float],
             elapsed_s: Optional[float], verdict: Verdict) -> Tuple[TrialOutcome, bool]:
        """A success that missed some SLO, placed by its total miss below every SLO-meeting one."""
        rank = miss_rank(verdict.total_miss)
        moved = self._place(key, rank, order=rank)
        return self._remember(TrialOutcome(
            trial_id=key, config=config, failed=False, told=self._told_at(rank),
            metric=self._told_of(values), elapsed_s=elapsed_s, slo_miss=verdict.total_miss,
            slo_values=dict(verdict.values), slo_misses=dict(verdict.misses),
        )), moved

    def failure(self, key: str, config: Optional[Dict[str, Any]], grade: Grade, error: Optional[str],
                verdict: Optional[Verdict] = None, values: Optional[Sequence[float]] = None,
                ) -> Tuple[TrialOutcome, bool]:
        """A failure, placed by its magnitude below every success and every SLO miss
        (``values``: what it reported, for a trial failed by an SLO)."""
        point = grade.magnitude / self.least_magnitude
        moved = self._place(key, point, order=1.0 + grade.rank)
        return self._remember(TrialOutcome(
            trial_id=key, config=config, failed=True, told=self._told_at(point),
            penalty=grade.penalty(self.objectives.modes[0]), elapsed_s=grade.elapsed_s,
            timeout_s=grade.timeout_s, completion=grade.completion, error_class=grade.modifier,
            error=error, slo_values=dict(verdict.values) if verdict else {},
            metric=None if values is None else self._told_of(values),
        )), moved

    # ----- moving what is below the successes -------------------------------------------------

    def below_successes(self) -> Dict[str, Told]:
        """Every trial told below the successes, with the value it should hold now."""
        return {key: self._told_at(point) for key, point in self._points.items()}

    def update_told(self, values: Dict[str, Told]) -> None:
        """Record that the inner searcher now holds ``values``."""
        for key, value in values.items():
            self.outcomes[key].told = value

    @staticmethod
    def as_list(told: Told) -> List[float]:
        return list(told) if isinstance(told, tuple) else [told]

    # ----- internals --------------------------------------------------------------------------

    def _place(self, key: str, point: float, order: float) -> bool:
        moved = False
        for placement in self.placements:
            moved = placement.add_point(point) or moved
        self._points[key], self._order[key] = point, order
        return moved

    def _told_at(self, point: float) -> Told:
        return self._told_of([placement.value_at(point) for placement in self.placements])

    def _told_of(self, values: Sequence[float]) -> Told:
        values = tuple(float(v) for v in values)
        return values if self.objectives.several else values[0]

    def _values(self, told: Any) -> Tuple[float, ...]:
        return tuple(told) if isinstance(told, tuple) else (told,)

    def _remember(self, outcome: TrialOutcome) -> TrialOutcome:
        self.outcomes[outcome.trial_id] = outcome
        self.new_best = False
        if outcome.kind == "success":
            value = self.objectives.signed(self._values(outcome.told))[0]
            if self._best is None or value > self.objectives.signed(self._values(self._best.told))[0]:
                self._best = outcome
                self.new_best = True
        else:
            least = self._least_bad
            if least is None or self._order[outcome.trial_id] < self._order[least.trial_id]:
                self._least_bad = outcome
        return outcome
