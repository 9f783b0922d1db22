"""What the inner model is told of one finished trial, decided once.

:func:`decide` takes what is known of a trial that ended (an
:class:`~ray_graded_penalty.trials.Ending`) and the search's :class:`Rules`, and returns one
:class:`Decision`: a success as it is, an SLO miss, or a failure with its grade. The decision
is made in this order:

1. Ray said the trial failed (an error, the watchdog, ``record_failure``): a failure, graded
   from its elapsed time and its error class when known (the watchdog's "timeout", the class
   its exception carries, if the policy knows it: else one warning), else its error text.
2. Its result has no usable objective: a failure, of class "timeout" when it reported none
   (it was stopped before it could), else a plain "crash" (a NaN, an infinity).
3. A metric an SLO names is missing, or an SLO is missed at or past its ``fail_ratio``: a
   failure of class ``"slo"`` at 100 % completion (it served to the end).
4. Some SLO missed: an SLO miss, by its total miss.
5. Otherwise a success.

The package's own endings (2 and 3, and the watchdog's) carry their class; their messages,
which may name a metric such as ``gpu_memory_gb``, are never read as keywords. Pure logic, no
Ray import.

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> from ray_graded_penalty.objectives import Objectives
    >>> from ray_graded_penalty.trials import Ending
    >>> rules = Rules(Objectives.of("throughput", "max"), PenaltyPolicy(), (), 600.0)
    >>> decide(Ending("t1", {}, 30.0, None, "CUDA out of memory", None, failed=True), rules).grade.magnitude
    1500.0
    >>> str(decide(Ending("t2", {}, 90.0, None, None, {"throughput": 12.5}), rules).kind)
    'success'
"""

from __future__ import annotations

import logging
from typing import Any, Dict, NamedTuple, Optional, Set, Tuple

from ray_graded_penalty.objectives import Objectives
from ray_graded_penalty.policy import CRASH, SLO_ERROR_CLASS, Grade, PenaltyPolicy
from ray_graded_penalty.records import Kind, PastTrial
from ray_graded_penalty.severity import Severity
from ray_graded_penalty.slo import SLO, Verdict, judge
from ray_graded_penalty.trials import TIMEOUT, Ending

logger = logging.getLogger("ray_graded_penalty")


class Rules(NamedTuple):
    """What decides how a finished trial is told: the search's fixed settings."""

    objectives: Objectives
    policy: PenaltyPolicy
    slos: Tuple[SLO, ...]
    #: The per-trial timeout a failure's progress is measured against, unless it has its own.
    timeout_s: float


class Decision(NamedTuple):
    """How one finished trial is told: the one value the ledger, the backends and the log read."""

    trial_id: str
    config: Optional[Dict[str, Any]]
    kind: Kind
    #: The objectives it reported (a success, an SLO miss, a trial failed by an SLO).
    values: Optional[Tuple[float, ...]] = None
    #: A success's own result, passed on to the inner searcher as it is.
    result: Optional[Dict[str, Any]] = None
    elapsed_s: Optional[float] = None
    #: How bad it was: set for an SLO miss and a failure, which are told below every success.
    severity: Optional[Severity] = None
    grade: Optional[Grade] = None  # a failure's
    verdict: Optional[Verdict] = None  # against the SLOs, when there are any
    error: Optional[str] = None  # a failure's error text


#: The classes of the package's own endings: they apply whatever the policy (factor 1 without a
#: modifier of that name).
OWN_CLASSES = (TIMEOUT, CRASH, SLO_ERROR_CLASS)
_warned: Set[str] = set()  # classes an error said it was that a policy did not know, warned once


def known_class(error_class: Optional[str], policy: PenaltyPolicy, trial_id: str) -> Optional[str]:
    """``error_class`` if the package or ``policy`` knows it; else None (the text decides), with
    one warning per class."""
    if error_class is None or error_class in OWN_CLASSES or error_class in policy.error_classes:
        return error_class
    if error_class not in _warned:
        _warned.add(error_class)
        logger.warning("Trial %s's error says its class is %r, which the policy does not know (%s); "
                       "it is graded by its text.", trial_id, error_class, ", ".join(policy.error_classes))
    return None


def decide(ending: Ending, rules: Rules) -> Decision:
    """Decide how ``ending`` is told, in the order of this module's docstring."""
    if ending.failed:
        return _failure(ending, rules, ending.error, known_class(ending.error_class, rules.policy, ending.trial_id))
    result = ending.result or {}
    values = rules.objectives.read(result)
    if isinstance(values, str):
        if not any(m in result for m in rules.objectives.metrics):
            return _failure(ending, rules, f"stopped before reporting {', '.join(rules.objectives.metrics)}; "
                            "graded as a timeout", TIMEOUT)
        logger.warning("Trial %s: %s, which TPE cannot use; it is graded as a failure.", ending.trial_id, values)
        return _failure(ending, rules, values, CRASH)
    verdict = judge(rules.slos, result) if rules.slos else None
    if verdict is not None and verdict.failure is not None:
        if any(v is None for v in verdict.values.values()):
            logger.warning("Trial %s: %s; it is graded as a failure.", ending.trial_id, verdict.failure)
        served = ending._replace(elapsed_s=ending.timeout_s or rules.timeout_s)  # it served to the end
        return _failure(served, rules, verdict.failure, SLO_ERROR_CLASS, verdict, values)
    if verdict is not None and not verdict.met:
        return Decision(ending.trial_id, ending.config, Kind.SLO_MISS, values, elapsed_s=ending.elapsed_s,
                        severity=verdict.severity, verdict=verdict)
    return Decision(ending.trial_id, ending.config, Kind.SUCCESS, values, result, ending.elapsed_s, verdict=verdict)


def _failure(ending: Ending, rules: Rules, error: Optional[str], error_class: Optional[str],
             verdict: Optional[Verdict] = None, values: Optional[Tuple[float, ...]] = None) -> Decision:
    grade = rules.policy.grade(ending.elapsed_s, ending.timeout_s or rules.timeout_s, error, error_class)
    return Decision(ending.trial_id, ending.config, Kind.FAILURE, values, elapsed_s=grade.elapsed_s,
                    severity=rules.policy.severity(grade), grade=grade, verdict=verdict, error=error)


def decide_past(key: str, past: PastTrial, rules: Rules) -> Decision:
    """How an earlier trial of a warm start (one objective) is told, under ``key``: as it was
    told then (a success, an SLO miss by its total miss, a failure by its class or text)."""
    if past.kind is not Kind.FAILURE:
        assert past.value is not None  # history reads a value for every success and SLO miss
        if past.kind is Kind.SUCCESS:
            return Decision(key, past.config, Kind.SUCCESS, (past.value,))
        verdict = Verdict(total_miss=past.slo_miss)
        return Decision(key, past.config, Kind.SLO_MISS, (past.value,), severity=verdict.severity, verdict=verdict)
    assert past.elapsed_s is not None  # and an elapsed time for every failure
    ending = Ending(key, past.config, past.elapsed_s, past.timeout_s, past.error, None, True, past.error_class)
    return _failure(ending, rules, past.error, known_class(past.error_class, rules.policy, key))
