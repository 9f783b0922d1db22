"""How many trials TPE's good group holds, when failures are told and trials run at once.

Optuna's TPE splits the trials it was told into a good group, the best ``gamma(n)`` of ``n``
(``min(ceil(0.1 n), 25)``), and the rest; it proposes what looks like the good group and not
like the rest. Told every failure, ``n`` counts failures as well as successes.

One trial at a time that works well: ``benchmarks/RESULTS.md`` shows it. With many trials at
once it does not. Failures end sooner than successes (a crash at load time, against a server
that serves for the whole benchmark), so while W trials run, the trials told so far are mostly
the fast failures, ``n`` grows with them, and the good group takes in every success there is,
good or poor. TPE then proposes the inside of the region that has succeeded so far, almost
never failing and hardly improving: with 16 trials at once on the pressure-vessel problem, 1
of the 80 proposals after three timeouts failed and the best value stayed at 57,150 (18,520
with the split below; ``benchmarks/RESULTS.md``, "Many trials at once").

So while other trials are still running, the good group is the best tenth of the successes,
as if the failures were not there (Ray's ``OptunaSearch``, which drops failures, has that
split), and the failures keep their place below every success. One trial at a time nothing
changes. While nothing has succeeded, the good group is TPE's own, among the graded failures.

Pure logic, no Ray import.

Example:
    >>> size = GoodGroupSize()
    >>> size(200)                       # nothing known yet: TPE's own split
    20
    >>> size.successes, size.pending = 30, 15
    >>> size(200)                       # 15 trials still running: the best tenth of 30 successes
    3
    >>> size.pending = 0
    >>> size(200)                       # one at a time: TPE's own split
    20
"""

from __future__ import annotations

import math


class GoodGroupSize:
    """TPE's ``gamma``: its own ``min(ceil(share n), cap)`` one trial at a time, the best
    ``share`` of the successes while other trials are pending.

    The searcher keeps :attr:`successes` and :attr:`pending` current; Optuna's ``TPESampler``
    calls the object with the number of finished trials.

    Args:
        share: The share of trials (or of successes) in the good group.
        cap: The most trials the good group holds.
    """

    def __init__(self, share: float = 0.1, cap: int = 25) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        if cap < 1:
            raise ValueError(f"cap must be at least 1, got {cap!r}")
        self.share = share
        self.cap = cap
        self.successes = 0  # successes told to the model
        self.pending = 0  # trials suggested and not finished, other than the one being sampled

    def __call__(self, n: int) -> int:
        counted = self.successes if self.successes and self.pending else n
        return min(math.ceil(self.share * counted), self.cap)

    def __repr__(self) -> str:
        return f"GoodGroupSize(share={self.share}, cap={self.cap})"
