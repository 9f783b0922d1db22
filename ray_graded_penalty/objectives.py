"""The metric or metrics a search optimizes, and in which direction each.

One objective is a metric name and "max" or "min", as in ``tune.TuneConfig(metric=..., mode=...)``.
Several are lists of both, as Ray's ``OptunaSearch(metric=[...], mode=[...])`` takes them.
Pure logic, no Ray import.

Example:
    >>> objectives = Objectives.of(["throughput", "e2el_p99_s"], ["max", "min"])
    >>> objectives.read({"throughput": 900.0, "e2el_p99_s": 0.4})
    (900.0, 0.4)
    >>> objectives.read({"throughput": 900.0})
    "objective 'e2el_p99_s' missing from the result"
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from ray_graded_penalty.checks import check_mode

MetricArg = Union[None, str, Sequence[str]]
#: A value as users read it: a float for one objective, a tuple for several.
Told = Union[float, Tuple[float, ...]]


@dataclass(frozen=True)
class Objectives:
    """Metric names and their modes, one or several."""

    metrics: Tuple[str, ...]
    modes: Tuple[str, ...]

    @classmethod
    def of(cls, metric: MetricArg, mode: MetricArg) -> "Objectives":
        """Check ``metric`` and ``mode`` (a name and a mode, or two lists of the same length)."""
        metrics = (metric,) if isinstance(metric, str) else tuple(metric or ())
        modes = (mode,) if isinstance(mode, str) else tuple(mode or ())
        if not metrics or not all(isinstance(m, str) and m for m in metrics):
            raise ValueError(f"metric must be a metric name or a list of them, got {metric!r}")
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metric names must be unique, got {list(metrics)}")
        if len(modes) != len(metrics):
            raise ValueError(
                f"one mode per metric: metric={list(metrics)!r} but mode={mode!r}; give "
                f"mode=['max' or 'min', ...] with {len(metrics)} entries"
            )
        for m in modes:
            check_mode(m)
        return cls(metrics, modes)

    @staticmethod
    def check_args(metric: MetricArg, mode: MetricArg) -> bool:
        """Check a searcher's ``metric`` and ``mode`` arguments, either of which may be left to
        ``TuneConfig``; returns whether they name several objectives."""
        several = isinstance(metric, (list, tuple)) or isinstance(mode, (list, tuple))
        if metric is not None and mode is not None:
            Objectives.of(metric, mode)
        elif several:
            raise ValueError(f"several objectives need both lists, metric=[...] and mode=[...]; "
                             f"got metric={metric!r}, mode={mode!r}")
        elif mode is not None:
            check_mode(mode)
        return several

    @property
    def several(self) -> bool:
        return len(self.metrics) > 1

    def read(self, result: Optional[Mapping[str, Any]]) -> Union[Tuple[float, ...], str]:
        """The objectives' values in ``result``, or why they cannot be used (a message)."""
        values = []
        for metric in self.metrics:
            value = (result or {}).get(metric)
            if value is None:
                return f"objective {metric!r} missing from the result"
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return f"non-finite objective {metric}={value!r}"
            values.append(float(value))
        return tuple(values)

    def signed(self, values: Sequence[float]) -> Tuple[float, ...]:
        """``values`` turned so that larger is better in every objective."""
        return tuple(v if mode == "max" else -v for v, mode in zip(values, self.modes))

    def dominates(self, a: Sequence[float], b: Sequence[float]) -> bool:
        """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere."""
        sa, sb = self.signed(a), self.signed(b)
        return all(x >= y for x, y in zip(sa, sb)) and any(x > y for x, y in zip(sa, sb))

    def told(self, values: Sequence[float]) -> Told:
        """``values`` (one per objective) as users read them: a float for one objective."""
        values = tuple(float(v) for v in values)
        return values if self.several else values[0]

    @staticmethod
    def values(told: Told) -> Tuple[float, ...]:
        """The inverse of :meth:`told`: one value per objective."""
        return tuple(told) if isinstance(told, tuple) else (told,)

    def result(self, values: Sequence[float]) -> dict:
        """``values`` as a result dict, as Ray reports it."""
        return dict(zip(self.metrics, values))

    def describe(self, values: Sequence[float]) -> str:
        """``metric=value`` for each objective."""
        return ", ".join(f"{m}={v:.6g}" for m, v in zip(self.metrics, values))
