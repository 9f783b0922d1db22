"""What every finished trial was told, and where the ones below the successes are placed.

:func:`~ray_graded_penalty.decision.decide` says how a trial ended; :meth:`Ledger.record`
turns that into the value the inner model is told and keeps the record: a success as it is,
an SLO miss and a failure placed by their :class:`~ray_graded_penalty.severity.Severity` below
every SLO-meeting success (one :class:`~ray_graded_penalty.placement.FailurePlacement` per
objective), and the best trial so far. Values are tuples, one per objective, inside; a
:class:`~ray_graded_penalty.TrialOutcome` holds them as users read them. Pure logic, no Ray import.

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> from ray_graded_penalty.decision import Decision
    >>> from ray_graded_penalty.objectives import Objectives
    >>> policy = PenaltyPolicy()
    >>> ledger = Ledger(Objectives.of("latency_ms", "min"), policy.least_magnitude)
    >>> grade = policy.grade(30, 600, "CUDA out of memory")
    >>> failure = Decision("a", {}, Kind.FAILURE, severity=policy.severity(grade), grade=grade)
    >>> ledger.record(failure, rewrites=True).outcome.told
    1500.0
    >>> moved = ledger.record(Decision("b", {}, Kind.SUCCESS, values=(2000.0,)), rewrites=True).moves
    >>> moved["a"][0] > 2000.0          # "a" must now be told below the success
    True
    >>> ledger.note_successes([(50000.0,)])["a"][0] > 50000.0   # a success the user gave
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ray_graded_penalty.decision import Decision
from ray_graded_penalty.objectives import Objectives
from ray_graded_penalty.placement import FailurePlacement
from ray_graded_penalty.records import Kind, TrialOutcome, outcome_data, outcome_from_data
from ray_graded_penalty.severity import Severity

Values = Tuple[float, ...]


class Recorded(NamedTuple):
    """What recording one trial changed."""

    outcome: TrialOutcome
    #: Every trial below the successes with the values it must hold now, when the placement
    #: moved to keep them below (the recorded trial included); empty when nothing moved.
    moves: Dict[str, Values]
    #: Whether the trial became the best SLO-meeting success.
    new_best: bool


class Ledger:
    """Told values and outcomes of finished trials.

    Args:
        objectives: The metric(s) and mode(s).
        least_magnitude: The policy's least-bad failure magnitude.
        data: What :meth:`to_data` gave, to continue from (see :meth:`from_data`).
    """

    def __init__(self, objectives: Objectives, least_magnitude: float, data: Optional[Dict[str, Any]] = None) -> None:
        self.objectives = objectives
        self.least_magnitude = least_magnitude
        self.placements = [FailurePlacement(mode, least_magnitude) for mode in objectives.modes]
        self.outcomes: Dict[str, TrialOutcome] = {}
        self._below: Dict[str, Severity] = {}  # trials told below the successes
        self._best: Optional[TrialOutcome] = None
        self._least_bad: Optional[TrialOutcome] = None  # least-bad SLO miss, else failure
        if data is not None:
            self.placements = [FailurePlacement(**p) for p in data["placements"]]
            self.outcomes = {key: outcome_from_data(o) for key, o in data["outcomes"].items()}
            self._below = {key: Severity(*s) for key, s in data["below"].items()}
            self._best = self.outcomes.get(data["best"]) if data["best"] is not None else None
            self._least_bad = self.outcomes.get(data["least_bad"]) if data["least_bad"] is not None else None

    def to_data(self) -> Dict[str, Any]:
        """This ledger as plain data (see :mod:`~ray_graded_penalty.saved_state`)."""
        return {
            "metrics": list(self.objectives.metrics), "modes": list(self.objectives.modes),
            "least_magnitude": self.least_magnitude,
            "placements": [dataclasses.asdict(p) for p in self.placements],
            "outcomes": {key: outcome_data(o) for key, o in self.outcomes.items()},
            "below": {key: [s.level, s.violation] for key, s in self._below.items()},
            "best": self._best.trial_id if self._best else None,
            "least_bad": self._least_bad.trial_id if self._least_bad else None,
        }

    @classmethod
    def from_data(cls, data: Dict[str, Any]) -> "Ledger":
        """The ledger :meth:`to_data` describes."""
        return cls(Objectives.of(list(data["metrics"]), list(data["modes"])), data["least_magnitude"], data)

    # ----- what a user reads ----------------------------------------------------------------

    @property
    def best(self) -> Optional[TrialOutcome]:
        """The best SLO-meeting success (the best in the first objective, with several);
        without one, the least-bad SLO miss; without one, the least-bad failure."""
        return self._best or self._least_bad

    def pareto_front(self) -> List[TrialOutcome]:
        """The SLO-meeting successes no other SLO-meeting success dominates."""
        successes = [o for o in self.outcomes.values() if o.kind is Kind.SUCCESS]
        values = {o.trial_id: self.objectives.values(o.told) for o in successes}
        return [
            o for o in successes
            if not any(self.objectives.dominates(values[p.trial_id], values[o.trial_id]) for p in successes)
        ]

    def describe_best(self) -> str:
        """The best so far, for a log line."""
        best = self.best
        if best is None:
            return "none"
        if best.failed:
            return f"no success yet; least-bad failure {best.trial_id} (penalty {best.penalty:.1f}) {best.config}"
        if best.slo_miss > 0:
            return f"no success within the SLOs yet; least SLO miss {best.trial_id} ({best.slo_miss:.1%}) {best.config}"
        return f"{best.trial_id} {self.objectives.describe(self.objectives.values(best.told))} {best.config}"

    # ----- recording ------------------------------------------------------------------------

    def record(self, decision: Decision, rewrites: bool) -> Recorded:
        """Place and keep one decided trial.

        ``rewrites``: whether the inner searcher rewrites the values of trials told before
        when the placement moves; if so, their outcomes are updated to the moved values.
        """
        moved = False
        if decision.severity is None:  # a success within its SLOs: it reported its values
            assert decision.values is not None
            told = decision.values
            moved = self._add_successes([told])
        else:
            for placement in self.placements:
                moved = placement.place(decision.severity.level) or moved
            self._below[decision.trial_id] = decision.severity
            told = self._told_at(decision.severity.level)
        outcome = self._outcome(decision, told)
        self.outcomes[decision.trial_id] = outcome
        moves = self._moves(rewrites) if moved else {}
        return Recorded(outcome, moves, self._rank(outcome))

    def note_successes(self, successes: Iterable[Values], rewrites: bool = True) -> Dict[str, Values]:
        """Successes the inner searcher knows from elsewhere (given by the user, or in its
        study already): no trial of this ledger is told above them. They are not outcomes of
        this search. Returns the moves, as :meth:`record` does."""
        return self._moves(rewrites) if self._add_successes(successes) else {}

    def _add_successes(self, successes: Iterable[Values]) -> bool:
        """Add successes to the placements; whether the trials below them must move."""
        moved = False
        for values in successes:
            for placement, value in zip(self.placements, values):
                moved = placement.add_success(value) or moved
        return moved

    def _moves(self, rewrites: bool) -> Dict[str, Values]:
        """Where every trial below the successes must be told now; with ``rewrites``, their
        outcomes say so too."""
        moves = {key: self._told_at(s.level) for key, s in self._below.items()}
        if rewrites:
            for key, values in moves.items():
                self.outcomes[key].told = self.objectives.told(values)
        return moves

    def _outcome(self, decision: Decision, told: Values) -> TrialOutcome:
        objectives, verdict = self.objectives, decision.verdict
        reported = None if decision.values is None else objectives.told(decision.values)
        outcome = TrialOutcome(
            trial_id=decision.trial_id, config=decision.config, failed=decision.kind is Kind.FAILURE,
            told=objectives.told(told), metric=reported, elapsed_s=decision.elapsed_s,
            slo_values=dict(verdict.values) if verdict else {},
        )
        if decision.kind is Kind.SLO_MISS:
            assert verdict is not None  # an SLO miss is decided by its verdict
            outcome.slo_miss, outcome.slo_misses = verdict.total_miss, dict(verdict.misses)
        elif decision.kind is Kind.FAILURE:
            grade = decision.grade
            assert grade is not None  # a failure is decided with its grade
            outcome.penalty = grade.penalty(objectives.modes[0])
            outcome.elapsed_s, outcome.timeout_s = grade.elapsed_s, grade.timeout_s
            outcome.completion, outcome.error_class = grade.completion, grade.error_class
            outcome.error = decision.error
        return outcome

    def _told_at(self, level: float) -> Values:
        return tuple(placement.value_at(level) for placement in self.placements)

    def _rank(self, outcome: TrialOutcome) -> bool:
        """Update the best and the least bad; True when ``outcome`` is the new best success."""
        if outcome.kind is Kind.SUCCESS:
            value = self.objectives.signed(self.objectives.values(outcome.told))[0]
            if self._best is None or value > self.objectives.signed(self.objectives.values(self._best.told))[0]:
                self._best = outcome
                return True
            return False
        least = self._least_bad
        if least is None or self._below[outcome.trial_id].violation < self._below[least.trial_id].violation:
            self._least_bad = outcome
        return False
