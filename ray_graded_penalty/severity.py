"""How bad a trial told below every success was: one value for failures and SLO misses.

The policy grades a failure (:meth:`~ray_graded_penalty.PenaltyPolicy.severity`) and the SLO
grading weighs a miss (:attr:`~ray_graded_penalty.slo.Verdict.severity`); both give a
:class:`Severity`. The placement reads its ``level`` to choose the value told, the backends
read its ``violation`` to mark the trial infeasible, and the ledger orders the least-bad trial
by it. Nothing else describes how bad a trial was.

Pure logic, no import.

Example:
    >>> miss = Severity.of_miss(0.25)          # an SLO missed by 25 %
    >>> miss
    Severity(level=0.2, violation=0.2)
    >>> failure = Severity(level=12.5, violation=1001.0)
    >>> miss.violation < 1 <= failure.violation  # every miss above every failure
    True
"""

from __future__ import annotations

from typing import NamedTuple


class Severity(NamedTuple):
    """How bad one trial below the successes was.

    Attributes:
        level: Where the placement tells it, below every success: an SLO miss in (0, 1), its
            total miss ``m`` as ``m / (1 + m)``; a failure at least 1, its penalty magnitude
            over the policy's least magnitude.
        violation: Its order among every trial below the successes, the infeasibility a
            backend marks it with: an SLO miss's ``level``; a failure's ``1 + rank`` (the
            magnitude with ties broken by progress, see :class:`~ray_graded_penalty.policy.Grade`),
            so above 1 and every miss.
    """

    level: float
    violation: float

    @classmethod
    def of_miss(cls, total_miss: float) -> "Severity":
        """An SLO miss of ``total_miss`` (> 0): larger misses rank worse, all above a failure."""
        rank = total_miss / (1.0 + total_miss)
        return cls(rank, rank)

    @classmethod
    def of_failure(cls, magnitude: float, rank: float, least_magnitude: float) -> "Severity":
        """A failure of ``magnitude`` (and ``rank``, its tie-broken order) under a policy whose
        least-bad failure has ``least_magnitude``."""
        return cls(magnitude / least_magnitude, 1.0 + rank)
