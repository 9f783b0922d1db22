"""What every finished trial was told, where the ones below the successes are placed, and telling it.

:func:`~ray_graded_penalty._core.judge.decide` says how a trial ended; :func:`tell` applies that
:class:`~ray_graded_penalty._core.judge.Decision` in one fixed order:

0. Successes the inner searcher learned elsewhere (a study loaded from storage, points the
   user gave it) join the placement first (:func:`note_successes`), so no trial is told above them.
1. The :class:`Ledger` records it and places it (:meth:`Ledger.record`): a success as it is, an
   SLO miss and a failure by their :class:`~ray_graded_penalty._core.outcomes.Severity` below every
   SLO-meeting success (one :class:`FailurePlacement` per objective), and the best so far.
2. If the placement moved, the backend rewrites the values of the trials told before, so
   that they stay below every success (where its inner searcher allows it).
3. A trial below the successes (a failure, an SLO miss) is marked for the backend first:
   infeasible by its severity's ``violation``, with attributes saying why.
4. The inner searcher is told: a success its own result, any other trial the placed value.
5. One log line.

:func:`tell_history` tells the earlier trials of a warm start the same way, with the backend's
``add_history`` for steps 3 and 4.

**Where failures are told.** TPE only sees ranks, so what matters is the order a told value
creates. The policy's numbers are told unchanged while every success ranks above them. When a
success would rank at or below a failure (a negative latency in ms, a loss in the thousands),
the failures' grading is kept and moved below the successes by an affine map:

    told loss = worst success loss + spread * magnitude / least possible magnitude

where ``spread`` is the successes' range (at least ``|worst|`` and at least 1), so the
least-bad possible failure lands one spread below the worst success. The map changes only
when a success arrives at or below a told failure, which is when failures already told must
be moved by backends that can rewrite their history. An SLO miss of level ``r`` in (0, 1) is
told at ``worst success loss + spread * r``, below every success that meets its SLOs and above
every failure (while no success exists: ``least magnitude * r``). Internally everything is a
loss (lower is better).

**Close below the worst success**, for a searcher that fits a regression to every told value and
keeps failures apart by their constraint (Optuna's ``GPSampler``; the backend says so,
:attr:`~ray_graded_penalty.backends.RankKeeper.failures_close_below`): as soon as there is a
success, every trial below the successes is told ``HUG * spread * level`` below the worst one
(a failure of magnitude 1500 about 0.02 spreads below), so the successes keep nearly the whole
range of the values the regression is fitted to; the order is the same.

Pure logic but for the inner searcher it is handed; no Ray import.

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> from ray_graded_penalty._core.judge import Decision
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
import logging
import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ray_graded_penalty._core.checks import check_mode
from ray_graded_penalty._core.judge import Decision, Rules, decide_past, first_line
from ray_graded_penalty._core.outcomes import (
    Kind,
    Objectives,
    PastTrial,
    Severity,
    TrialOutcome,
    config_key,
    outcome_data,
    outcome_from_data,
)

if TYPE_CHECKING:
    from ray.tune.search import Searcher

    from ray_graded_penalty.backends import RankKeeper

logger = logging.getLogger("ray_graded_penalty")

Values = Tuple[float, ...]


# ----- the placement ------------------------------------------------------------------------------

#: How close below the worst success a placement with ``close=True`` tells trials, in spreads per level.
HUG = 1e-3


@dataclass
class FailurePlacement:
    """Maps severity levels to told values that rank below every success (see the module's docstring).

    Args:
        mode: "max" or "min", the metric's direction.
        least_magnitude: the smallest magnitude the policy can give (its least-bad failure).
        close: tell trials close below the worst success as soon as there is one (see the
            module's docstring), not one spread and more below it once the successes reach them.

    Example:
        >>> placement = FailurePlacement("max", least_magnitude=80.0)
        >>> placement.place(1000.0 / 80.0)   # a failure of magnitude 1000
        False
        >>> placement.value_at(1000.0 / 80.0)   # no success yet: the default policy's number
        -1000.0
        >>> placement.add_success(-2000.0)   # a success below it: failures move below
        True
        >>> placement.value_at(1.0), placement.value_at(1000.0 / 80.0)
        (-4000.0, -27000.0)
        >>> placement.place(0.5), placement.value_at(0.5)   # an SLO miss: between them
        (False, -3000.0)
        >>> close = FailurePlacement("max", least_magnitude=80.0, close=True)
        >>> close.place(1000.0 / 80.0), close.add_success(-2000.0), close.value_at(1000.0 / 80.0)
        (False, True, -2025.0)
    """

    mode: str
    least_magnitude: float
    worst_loss: Optional[float] = None
    best_loss: Optional[float] = None
    least_told_level: Optional[float] = None
    anchor: Optional[float] = None  # None: the policy's numbers, unchanged
    spread: float = 1.0
    close: bool = False

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if not (math.isfinite(self.least_magnitude) and self.least_magnitude > 0):
            raise ValueError(f"least_magnitude must be positive, got {self.least_magnitude!r}")

    def _loss(self, value: float) -> float:
        return -value if self.mode == "max" else value

    def _told_loss(self, level: float) -> float:
        if self.anchor is None:
            return self.least_magnitude * level
        # Finite however far the successes spread (a spread near a float's range overflowed to
        # inf): the largest float is still below every success but one at its very edge.
        return min(self.anchor + self.spread * level * (HUG if self.close else 1.0), sys.float_info.max)

    def _holds(self, level: Optional[float]) -> bool:
        if level is None or self.worst_loss is None:
            return True
        return self.anchor == self.worst_loss if self.close else self.worst_loss < self._told_loss(level)

    def _move_below_successes(self) -> None:
        assert self.worst_loss is not None and self.best_loss is not None
        self.anchor = self.worst_loss
        self.spread = max(self.worst_loss - self.best_loss, abs(self.worst_loss), 1.0)

    def add_success(self, value: float) -> bool:
        """Record a success; True when failures told so far must move to stay below it."""
        loss = self._loss(float(value))
        self.worst_loss = loss if self.worst_loss is None else max(self.worst_loss, loss)
        self.best_loss = loss if self.best_loss is None else min(self.best_loss, loss)
        if self._holds(self.least_told_level):
            return False
        self._move_below_successes()
        return True

    def place(self, level: float) -> bool:
        """Record a trial about to be told at a severity ``level``; True when the map changed
        to keep it below every success (the trials told before must move)."""
        moved = False
        if not self._holds(level):
            self._move_below_successes()
            moved = True
        if self.least_told_level is None or level < self.least_told_level:
            self.least_told_level = level
        return moved

    def value_at(self, level: float) -> float:
        """The value, in the metric's own direction, to tell at a severity ``level``."""
        loss = self._told_loss(level)
        return -loss if self.mode == "max" else loss


# ----- the ledger ---------------------------------------------------------------------------------



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
        close: Tell trials close below the worst success (see :class:`FailurePlacement`).
    """

    def __init__(self, objectives: Objectives, least_magnitude: float, data: Optional[Dict[str, Any]] = None,
                 close: bool = False) -> None:
        self.objectives = objectives
        self.least_magnitude = least_magnitude
        self.placements = [FailurePlacement(mode, least_magnitude, close=close) for mode in objectives.modes]
        self.outcomes: Dict[str, TrialOutcome] = {}
        #: Trials told below the successes, and suggestions of a finished configuration told its
        #: outcome again instead of being run (see :meth:`record_repeat`), by the key told under.
        self._below: Dict[str, Severity] = {}
        #: Transient failures not told, because their configuration ran again: trial id -> the
        #: failure as it was graded (its ``told`` is its penalty; nothing was told).
        self.retried: Dict[str, TrialOutcome] = {}
        self._best: Optional[TrialOutcome] = None
        self._least_bad: Optional[TrialOutcome] = None  # least-bad SLO miss, else failure
        if data is not None:
            self.placements = [FailurePlacement(**p) for p in data["placements"]]
            self.outcomes = {key: outcome_from_data(o) for key, o in data["outcomes"].items()}
            self._below = {key: Severity(*s) for key, s in data["below"].items()}
            self.retried = {key: outcome_from_data(o) for key, o in data.get("retried", {}).items()}
            self._best = self.outcomes.get(data["best"]) if data["best"] is not None else None
            self._least_bad = self.outcomes.get(data["least_bad"]) if data["least_bad"] is not None else None

    def to_data(self) -> Dict[str, Any]:
        """This ledger as plain data (see :mod:`~ray_graded_penalty._core.state`)."""
        return {
            "metrics": list(self.objectives.metrics), "modes": list(self.objectives.modes),
            "least_magnitude": self.least_magnitude,
            "placements": [dataclasses.asdict(p) for p in self.placements],
            "outcomes": {key: outcome_data(o) for key, o in self.outcomes.items()},
            "below": {key: [s.level, s.violation] for key, s in self._below.items()},
            "retried": {key: outcome_data(o) for key, o in self.retried.items()},
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

    @property
    def least_bad(self) -> Optional[TrialOutcome]:
        """The least-bad trial below the successes: the least SLO miss, else the failure of least
        severity (its magnitude, ties broken by progress)."""
        return self._least_bad

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
        self.retried.pop(decision.trial_id, None)  # held for a retry that never ran: told after all
        moves = self._moves(rewrites) if moved else {}
        return Recorded(outcome, moves, self._rank(outcome))

    def record_retried(self, decision: Decision) -> TrialOutcome:
        """Keep a transient failure whose configuration runs again (``decision.retry``): for the
        report, not placed, not told."""
        assert decision.grade is not None  # a failure is decided with its grade
        outcome = self._outcome(decision, tuple(decision.grade.penalty(mode) for mode in self.objectives.modes))
        self.retried[decision.trial_id] = outcome
        return outcome

    def finished(self, config: Dict[str, Any]) -> List[TrialOutcome]:
        """The finished trials of ``config`` (the same values, nested or flattened as Tune
        flattens them), oldest first."""
        key = config_key(config)
        return [o for o in self.outcomes.values() if o.config is not None and config_key(o.config) == key]

    def severity(self, key: str) -> Optional[Severity]:
        """How bad the trial (or repeat) told under ``key`` was; None for a success within its SLOs."""
        return self._below.get(key)

    def record_repeat(self, key: str, original: TrialOutcome) -> None:
        """Keep a suggestion told ``original``'s outcome again under ``key``: below the
        successes where ``original`` is, so that it moves with it."""
        if original.trial_id in self._below:
            self._below[key] = self._below[original.trial_id]

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
                if key in self.outcomes:  # a repeat's outcome is its original's
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


# ----- telling ------------------------------------------------------------------------------------

def tell(decision: Decision, ledger: Ledger, keeper: RankKeeper, searcher: "Searcher",
         inner_id: Optional[str] = None) -> TrialOutcome:
    """Apply ``decision`` in the module's order; returns what was recorded. ``inner_id``: the
    id the inner searcher suggested the trial under, when not its own."""
    recorded = _record(decision, ledger, keeper)
    outcome = recorded.outcome
    if decision.severity is None:
        _tell_inner(inner_id or decision.trial_id, decision.trial_id, None, decision.result, keeper, searcher)
    else:
        told = ledger.objectives.result(ledger.objectives.values(outcome.told))
        _tell_inner(inner_id or decision.trial_id, decision.trial_id, (decision.severity, _attrs(outcome)), told,
                    keeper, searcher)
    _log(decision, recorded, ledger)
    return outcome


def hold_for_retry(decision: Decision, ledger: Ledger) -> None:
    """Keep a transient failure whose configuration runs again (``decision.retry``); nothing is told."""
    outcome = ledger.record_retried(decision)
    logger.info("Trial %s failed (%s: %s), the infrastructure's failure, not its configuration's: not told; "
                "%s runs again.", decision.trial_id, outcome.error_class, first_line(decision.error), decision.config)


def tell_earlier(inner_id: str, config: Dict[str, Any], earlier: Tuple[Tuple[float, ...], float], ledger: Ledger,
                 keeper: RankKeeper, searcher: "Searcher") -> None:
    """Tell the inner searcher, for a suggestion ``inner_id`` of ``config``, the outcome its own
    history holds of that configuration from before this search (a study reopened from a
    database): its values and violation as they are held there; nothing is recorded or run."""
    values, violation = earlier
    if violation > 0 and keeper.tells_failures_as_errors:
        searcher.on_trial_complete(inner_id, error=True)
    else:
        keeper.before_tell(inner_id, violation)
        searcher.on_trial_complete(inner_id, result=ledger.objectives.result(values))
    logger.info("The inner searcher suggested %s again, which its history holds from before this search: "
                "told it that outcome (%s) and asked for another.", config, ", ".join(f"{v:.6g}" for v in values))


def tell_repeat(inner_id: str, original: TrialOutcome, ledger: Ledger, keeper: RankKeeper,
                searcher: "Searcher") -> None:
    """Tell the inner searcher, for its suggestion ``inner_id`` of a configuration that has
    finished already, ``original``'s outcome again, as it is told now (a failure and an SLO
    miss where they are placed, and moving with them); nothing is run."""
    key = f"{inner_id}/repeat"  # what the ledger's moves name it by
    ledger.record_repeat(key, original)
    values = ledger.objectives.values(original.told)
    severity = ledger.severity(key)
    _tell_inner(inner_id, key, None if severity is None else (severity, _attrs(original)),
                ledger.objectives.result(values), keeper, searcher)
    logger.info("The inner searcher suggested %s again, which trial %s ran already: told it that trial's "
                "outcome (%s) and asked for another.", original.config, original.trial_id,
                ", ".join(f"{v:.6g}" for v in values))


def _tell_inner(inner_id: str, key: str, below: Optional[Tuple[Severity, Dict[str, Any]]],
                result: Optional[Dict[str, Any]], keeper: RankKeeper, searcher: "Searcher") -> None:
    """Steps 3 and 4: mark a trial told below the successes (``below``: its severity and
    attributes) for the backend, or a success feasible, then tell the inner searcher ``result``
    under ``inner_id``; a failure as an error to a backend that takes failures so. ``key``:
    what the ledger's moves name it by."""
    if below is not None and keeper.tells_failures_as_errors:
        searcher.on_trial_complete(inner_id, error=True)
        return
    if below is None:
        keeper.before_tell(inner_id, 0.0, key=key)
    else:
        keeper.before_tell(inner_id, below[0].violation, below[1], key=key)
    searcher.on_trial_complete(inner_id, result=result)


def tell_past(decision: Decision, ledger: Ledger, keeper: RankKeeper) -> TrialOutcome:
    """Apply an earlier trial (a warm start, one objective) the same way."""
    outcome = _record(decision, ledger, keeper).outcome
    violation = None if decision.severity is None else decision.severity.violation
    keeper.add_history(decision.trial_id, decision.config or {}, ledger.objectives.values(outcome.told)[0], violation,
                       None if violation is None else _attrs(outcome))
    return outcome


def note_successes(successes: Iterable[Tuple[float, ...]], ledger: Ledger, keeper: RankKeeper) -> None:
    """Step 0: successes known to the inner searcher from elsewhere join the placement."""
    _move(ledger.note_successes(successes, keeper.rewrites_history), keeper, told_now=False)


def _record(decision: Decision, ledger: Ledger, keeper: RankKeeper) -> Recorded:
    """Steps 0 to 2: record the trial, and move what was told below the successes."""
    note_successes(keeper.successes_elsewhere(), ledger, keeper)
    recorded = ledger.record(decision, keeper.rewrites_history)
    _move(recorded.moves, keeper, told_now=decision.severity is not None)
    return recorded


def _move(moves: Dict[str, Tuple[float, ...]], keeper: RankKeeper, told_now: bool) -> None:
    if not moves:
        return
    if keeper.rewrites_history:
        keeper.move_below(moves)
        moved = len(moves) - told_now
        if moved:
            logger.info("Moved %d trials told earlier below every success.", moved)
    elif not keeper.whole_history:
        logger.info(
            "A success ranks below failures told earlier; %s cannot rewrite its history, "
            "so only failures told from now on are placed below it.", keeper.searcher_name,
        )


def _attrs(outcome: TrialOutcome) -> Dict[str, Any]:
    """What the inner searcher's history keeps of a trial told below the successes."""
    attrs: Dict[str, Any] = {"kind": outcome.kind.value}
    if outcome.failed:
        attrs.update(penalty=outcome.penalty, error_class=outcome.error_class,
                     elapsed_s=outcome.elapsed_s, completion=outcome.completion,
                     error=first_line(outcome.error)[:200])
    else:
        attrs.update(slo_miss=outcome.slo_miss, slo_misses=dict(outcome.slo_misses))
    return attrs


def _log(decision: Decision, recorded: Recorded, ledger: Ledger) -> None:
    outcome, objectives = recorded.outcome, ledger.objectives
    told = ", ".join(f"{v:.6g}" for v in objectives.values(outcome.told))
    if decision.kind is Kind.FAILURE:
        grade = decision.grade
        assert grade is not None  # a failure is decided with its grade
        logger.info(
            "Trial %s failed after %.1fs / %.0fs (%.1f%%): %s -> penalty %.1f%s. Best so far: %s",
            decision.trial_id, grade.elapsed_s, grade.timeout_s, 100 * grade.completion,
            first_line(decision.error, "(no error text)"), outcome.penalty,
            "" if outcome.told == outcome.penalty else f" (told {told}, below every success)",
            ledger.describe_best(),
        )
    elif decision.kind is Kind.SLO_MISS:
        verdict, values = decision.verdict, decision.values
        assert verdict is not None and values is not None  # an SLO miss reported values and missed
        missed = ", ".join(f"{verdict.bounds[name]} at {verdict.values[name]:.6g} ({miss:.0%} over)"
                           for name, miss in verdict.misses.items())
        logger.info("Trial %s served (%s) but missed SLO %s -> told %s, below every success within the SLOs.",
                    decision.trial_id, objectives.describe(values), missed, told)
    elif recorded.new_best:
        logger.info("Trial %s succeeded: %s, the best so far.", decision.trial_id,
                    objectives.describe(objectives.values(outcome.told)))


# ----- a warm start -------------------------------------------------------------------------------

def tell_history(trials: List[PastTrial], ledger: Ledger, rules: Rules, keeper: RankKeeper) -> int:
    """Tell ``trials`` under the keys ``history-<n>``; returns how many."""
    if ledger.objectives.several:
        raise ValueError("a warm start takes one objective; this search has several")
    metric, mode = ledger.objectives.metrics[0], ledger.objectives.modes[0]
    for n, past in enumerate(trials):  # all checked before any is told
        if (past.metric or metric) != metric or (past.mode or mode) != mode:
            raise ValueError(f"history trial {n} comes from a run that searched metric={past.metric or metric!r}, "
                             f"mode={past.mode or mode!r}; this search has metric={metric!r}, mode={mode!r}: its "
                             f"values would be told as this search's. Warm start from a run of the same objective "
                             f"(or, for the same quantity under another name, from the report's CSV, which names none)")
    for past in trials:
        tell_past(decide_past(f"history-{len(ledger.outcomes)}", past, rules), ledger, keeper)
    if trials:
        logger.info("Warm start: told %d earlier trials (%d failed).", len(trials), sum(p.failed for p in trials))
    return len(trials)
