"""Where failures are told: always below every success, whatever the metric's scale.

TPE only sees ranks, so what matters is the order a told value creates. The policy's
numbers are told unchanged while every success ranks above them. When a success
would rank at or below a failure (a negative latency in ms, a loss in the thousands), the
failures' grading is kept and moved below the successes by an affine map:

    told loss = worst success loss + spread * magnitude / least possible magnitude

where ``spread`` is the successes' range (at least ``|worst|`` and at least 1), so the
least-bad possible failure lands one spread below the worst success. The map changes only
when a success arrives at or below a told failure, which is when failures already told must
be moved (``add_success`` returns True) by backends that can rewrite their history.

Successes that miss an SLO (:mod:`ray_graded_penalty.slo`) sit between the two: a miss of
rank ``r`` in (0, 1) is told at ``worst success loss + spread * r``, below every success that
meets its SLOs and above every failure (while no success exists: ``least magnitude * r``).
"Successes" here are the ones that meet every SLO.

Pure logic, no Ray import. Internally everything is a loss (lower is better); what is placed
is a :class:`~ray_graded_penalty.severity.Severity`'s ``level``: ``magnitude / least
magnitude`` (at least 1) for a failure, ``r`` for an SLO miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ray_graded_penalty.checks import check_mode


@dataclass
class FailurePlacement:
    """Maps failure magnitudes to told values that rank below every success.

    Args:
        mode: "max" or "min", the metric's direction.
        least_magnitude: the smallest magnitude the policy can give (its least-bad failure).

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
    """

    mode: str
    least_magnitude: float
    worst_loss: Optional[float] = None
    best_loss: Optional[float] = None
    least_told_level: Optional[float] = None
    anchor: Optional[float] = None  # None: the policy's numbers, unchanged
    spread: float = 1.0

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if not (math.isfinite(self.least_magnitude) and self.least_magnitude > 0):
            raise ValueError(f"least_magnitude must be positive, got {self.least_magnitude!r}")

    def _loss(self, value: float) -> float:
        return -value if self.mode == "max" else value

    def _told_loss(self, level: float) -> float:
        if self.anchor is None:
            return self.least_magnitude * level
        return self.anchor + self.spread * level

    def _holds(self, level: Optional[float]) -> bool:
        return level is None or self.worst_loss is None or self.worst_loss < self._told_loss(level)

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
