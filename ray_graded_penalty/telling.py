"""Telling the inner searcher one decided trial, in one fixed order.

:func:`tell` applies a :class:`~ray_graded_penalty.decision.Decision`:

0. Successes the inner searcher learned elsewhere (a study loaded from storage, points the
   user gave it) join the placement first (:func:`note_successes`), so no trial is told above them.
1. The ledger records it and places it (:meth:`~ray_graded_penalty.ledger.Ledger.record`).
2. If the placement moved, the backend rewrites the values of the trials told before, so
   that they stay below every success (where its inner searcher allows it).
3. A trial below the successes (a failure, an SLO miss) is marked for the backend first:
   infeasible by its severity's ``violation``, with attributes saying why.
4. The inner searcher is told: a success its own result, any other trial the placed value.
5. One log line.

:func:`tell_past` applies an earlier trial of a warm start (:mod:`~ray_graded_penalty.warm_start`)
the same way, with the backend's ``add_history`` for steps 3 and 4.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, Tuple

from ray.tune.search import Searcher

from ray_graded_penalty.backends import RankKeeper
from ray_graded_penalty.decision import Decision
from ray_graded_penalty.ledger import Ledger, Recorded
from ray_graded_penalty.records import Kind, TrialOutcome
from ray_graded_penalty.trial_errors import first_line

logger = logging.getLogger("ray_graded_penalty")


def tell(decision: Decision, ledger: Ledger, keeper: RankKeeper, searcher: Searcher) -> TrialOutcome:
    """Apply ``decision`` in the module's order; returns what was recorded."""
    recorded = _record(decision, ledger, keeper)
    outcome = recorded.outcome
    if decision.severity is not None:
        keeper.before_tell(decision.trial_id, decision.severity.violation, _attrs(outcome))
        told = ledger.objectives.result(ledger.objectives.values(outcome.told))
        searcher.on_trial_complete(decision.trial_id, result=told)
    else:
        searcher.on_trial_complete(decision.trial_id, result=decision.result)
    _log(decision, recorded, ledger)
    return outcome


def tell_past(decision: Decision, ledger: Ledger, keeper: RankKeeper) -> TrialOutcome:
    """Apply an earlier trial (a warm start, one objective) the same way."""
    outcome = _record(decision, ledger, keeper).outcome
    violation = None if decision.severity is None else decision.severity.violation
    keeper.add_history(decision.trial_id, decision.config or {}, ledger.objectives.values(outcome.told)[0], violation)
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
