"""Service-level objectives: a config that serves but breaks its latency SLO is graded too.

Pure logic with no Ray import, beside :mod:`ray_graded_penalty.policy`. An :class:`SLO` bounds
one reported metric from above (a p99 latency) or from below (a throughput floor). Its *miss*
is the normalized excess, ``(value - max) / |max|`` or ``(min - value) / |min|``, zero when the
SLO is met. :func:`judge` weighs a result against several SLOs:

- every SLO met: the success is told as it is;
- some missed, each below its ``fail_ratio``: the success ranks below every SLO-meeting one,
  ordered by its weighted total miss (a larger miss always worse);
- a miss at or past its ``fail_ratio``, or a metric an SLO names missing from the result: the
  trial counts as a failure at 100 % completion, error class ``"slo"``.

Example:
    >>> p99 = SLO("e2el_p99_s", max=0.5, fail_ratio=1.0)
    >>> round(judge([p99], {"e2el_p99_s": 0.6}).total_miss, 6)
    0.2
    >>> judge([p99], {"e2el_p99_s": 1.2}).failure
    'SLO missed: e2el_p99_s <= 0.5 at 1.2 (140% over, fail_ratio 100%)'
"""

from __future__ import annotations

import collections.abc
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from ray_graded_penalty._core.checks import finite_number, real_number
from ray_graded_penalty._core.outcomes import Severity


@dataclass(frozen=True)
class SLO:
    """An upper (``max=``) or lower (``min=``) bound on one reported metric.

    Args:
        metric: The reported metric the SLO bounds.
        max: The largest acceptable value (a latency); exactly one of ``max`` and ``min``.
        min: The smallest acceptable value (a throughput floor).
        weight: How much this SLO's miss counts in the total (positive).
        fail_ratio: The miss at which a success counts as a failure (positive; ``None``: never).
            ``fail_ratio=1.0`` on ``max=0.5`` fails a p99 of 1.0 s or more.
    """

    metric: str
    max: Optional[float] = None
    min: Optional[float] = None
    weight: float = 1.0
    fail_ratio: Optional[float] = None

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"SLO metric must be a non-empty string, got {self.metric!r}")
        if (self.max is None) == (self.min is None):
            raise ValueError(
                f"SLO {self.metric!r} needs exactly one bound, max= (an upper bound such as a "
                f"latency) or min= (a lower bound such as a throughput floor); got "
                f"max={self.max!r}, min={self.min!r}"
            )
        bound = finite_number(f"SLO {self.metric!r} bound", self.bound)
        if bound == 0:
            raise ValueError(
                f"SLO {self.metric!r} bound must not be 0: its miss is relative to |bound|"
            )
        weight = finite_number(f"SLO {self.metric!r} weight", self.weight)
        if weight <= 0:
            raise ValueError(f"SLO {self.metric!r} weight must be positive, got {self.weight!r}")
        if self.fail_ratio is not None:
            ratio = finite_number(f"SLO {self.metric!r} fail_ratio", self.fail_ratio)
            if ratio <= 0:
                raise ValueError(
                    f"SLO {self.metric!r} fail_ratio must be positive (the miss, as a share of "
                    f"|bound|, at which the trial fails), got {self.fail_ratio!r}"
                )

    @property
    def bound(self) -> float:
        return self.max if self.max is not None else self.min  # type: ignore[return-value]

    def miss(self, value: float) -> float:
        """The normalized excess of ``value`` over the bound; 0 when the SLO is met."""
        excess = value - self.max if self.max is not None else self.min - value  # type: ignore[operator]
        return max(0.0, excess / abs(self.bound))

    def describe(self) -> str:
        return f"{self.metric} {'<=' if self.max is not None else '>='} {self.bound:g}"


@dataclass(frozen=True)
class Verdict:
    """How one result fares against the SLOs."""

    total_miss: float = 0.0  # weighted sum of the misses
    misses: Dict[str, float] = field(default_factory=dict)  # metric -> miss, missed SLOs only
    values: Dict[str, Optional[float]] = field(default_factory=dict)  # metric -> reported value
    failure: Optional[str] = None  # why the result counts as a failure, if it does
    bounds: Dict[str, str] = field(default_factory=dict)  # metric -> its SLO, missed SLOs only

    @property
    def met(self) -> bool:
        return self.failure is None and self.total_miss == 0.0

    @property
    def severity(self) -> Severity:
        """How bad the miss is, for a result that missed without failing (``total_miss`` > 0)."""
        return Severity.of_miss(self.total_miss)


def check_slos(slos: Optional[Iterable[object]]) -> Tuple[SLO, ...]:
    """``slos`` as a tuple of :class:`SLO`; a TypeError names an entry that is not one."""
    if slos is None:
        return ()
    if isinstance(slos, SLO):
        slos = [slos]
    if isinstance(slos, (str, bytes)) or not isinstance(slos, collections.abc.Iterable):
        raise TypeError(f"slos must be an SLO or a list of them, such as [SLO('ttft_p99_s', max=0.5)], got {slos!r}")
    result = []
    for i, slo in enumerate(slos):
        if not isinstance(slo, SLO):
            raise TypeError(f"slos[{i}] must be an SLO(metric, max=... or min=...), got {slo!r}")
        result.append(slo)
    metrics = [s.metric for s in result]
    repeated = sorted({m for m in metrics if metrics.count(m) > 1})
    if repeated:
        raise ValueError(f"one SLO per metric; repeated: {repeated}")
    return tuple(result)


def judge(slos: Iterable[SLO], result: Mapping[str, Any]) -> Verdict:
    """Weigh a reported result against ``slos``."""
    misses: Dict[str, float] = {}
    values: Dict[str, Optional[float]] = {}
    bounds: Dict[str, str] = {}
    total = 0.0
    for slo in slos:
        value = result.get(slo.metric)
        number = real_number(value)
        if number is None or not math.isfinite(number):
            values[slo.metric] = None
            if slo.metric not in result:  # a misspelt name fails every trial: say what there is
                like = difflib.get_close_matches(slo.metric, [str(k) for k in result], n=3, cutoff=0.4)
                return Verdict(total, misses, values, failure=(
                    f"SLO missed: {slo.describe()}, but the result has no {slo.metric!r}"
                    + (f" (it has {', '.join(map(repr, like))})" if like else "")))
            return Verdict(total, misses, values, failure=(
                f"SLO missed: {slo.describe()}, but the result has no finite {slo.metric!r} "
                f"(got {value!r})"
            ))
        values[slo.metric] = number
        miss = slo.miss(number)
        if miss == 0.0:
            continue
        if slo.fail_ratio is not None and miss >= slo.fail_ratio:
            return Verdict(total, misses, values, failure=(
                f"SLO missed: {slo.describe()} at {number:g} ({miss:.0%} over, "
                f"fail_ratio {slo.fail_ratio:.0%})"
            ))
        misses[slo.metric] = miss
        bounds[slo.metric] = slo.describe()
        total += slo.weight * miss
    return Verdict(total, misses, values, bounds=bounds)
