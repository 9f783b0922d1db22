"""What a load measured, as the metrics a trial reports (and SLOs bound), named one way:
``<what>_<statistic>_s`` for times in seconds, as vLLM's ``bench serve`` defines them.

- ``ttft``: time to first token; ``tpot``: time per output token after the first, per request,
  (E2EL - TTFT) / (output tokens - 1); ``itl``: the gaps between successive streamed tokens, all
  requests pooled; ``e2el``: end-to-end latency of a request. Each as ``_mean``, ``_p50``,
  ``_p90`` and ``_p99``, over the requests that completed (percentiles interpolated between
  ranks, as NumPy's default).
- ``throughput``: output tokens per second of the load's wall time (vLLM's output throughput);
  ``input_throughput``: prompt tokens the server counted, per second; ``request_throughput``:
  completed requests per second; ``goodput``: completed requests per second that met every
  per-request SLO given (:class:`Goodput`; vLLM's ``--goodput``).
- ``requests_ok``, ``request_errors``, ``input_tokens``, ``output_tokens``, ``load_s``.

Example:
    >>> from ray_graded_penalty.serving.client import RequestResult
    >>> done = [RequestResult(True, "", 0.0, (0.1 * i, 0.1 * i + 0.2), 0.5 * i, 8, 2) for i in range(1, 5)]
    >>> m = summarize(done + [RequestResult(False, "HTTP 400", 0.0, (), 0.2, None, 0)], 2.0, Goodput(ttft_s=0.25))
    >>> m["throughput"], m["ttft_p50_s"], m["e2el_p90_s"], m["goodput"], m["request_errors"]
    (4.0, 0.25, 1.85, 1.0, 1)
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence

from ray_graded_penalty.serving.client import RequestResult

TIMES = ("ttft", "tpot", "itl", "e2el")
STATISTICS = ("mean", "p50", "p90", "p99")
#: Rates: higher is better (the others but the counts are times: lower is better).
RATES = ("throughput", "input_throughput", "request_throughput", "goodput")
COUNTS = ("requests_ok", "request_errors", "input_tokens", "output_tokens", "load_s")
#: The metrics every served trial reports (``goodput`` when per-request SLOs are given).
METRICS = tuple(f"{t}_{s}_s" for t in TIMES for s in STATISTICS) + RATES + COUNTS
#: How the metrics of several loads on one deployment combine into the trial's.
COMBINE = ("mean", "worst")


class Goodput(NamedTuple):
    """Per-request SLOs (seconds) a request must all meet to count towards ``goodput``."""

    ttft_s: Optional[float] = None
    tpot_s: Optional[float] = None
    e2el_s: Optional[float] = None

    def met(self, result: RequestResult) -> bool:
        """Whether a completed request met every SLO given; one of at most one output token has
        no time per output token and meets a TPOT SLO (as vLLM counts it: 0)."""
        tpot = result.tpot_s if result.tpot_s is not None or result.output_tokens > 1 else 0.0
        return all(bound is None or (value is not None and value <= bound) for bound, value in
                   ((self.ttft_s, result.ttft_s), (self.tpot_s, tpot), (self.e2el_s, result.e2el_s)))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (``q`` in [0, 1]) of ``values``, linear between ranks; NaN if there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _statistics(name: str, values: List[float]) -> Dict[str, float]:
    return {f"{name}_mean_s": sum(values) / len(values) if values else math.nan,
            f"{name}_p50_s": percentile(values, 0.5), f"{name}_p90_s": percentile(values, 0.9),
            f"{name}_p99_s": percentile(values, 0.99)}


def summarize(results: Sequence[RequestResult], wall_s: float, goodput: Optional[Goodput] = None) -> Dict[str, float]:
    """The metrics of one load (see the module's docstring)."""
    ok = [r for r in results if r.ok]
    per_s = (lambda n: n / wall_s) if wall_s > 0 else (lambda n: math.nan)
    counted = [r.input_tokens for r in ok if r.input_tokens is not None]
    input_tokens = float(sum(counted)) if counted else math.nan
    output_tokens = sum(r.output_tokens for r in ok)
    metrics: Dict[str, float] = {}
    metrics.update(_statistics("ttft", [r.ttft_s for r in ok if r.ttft_s is not None]))
    metrics.update(_statistics("tpot", [r.tpot_s for r in ok if r.tpot_s is not None]))
    metrics.update(_statistics("itl", [gap for r in ok for gap in r.itl_s]))
    metrics.update(_statistics("e2el", [r.e2el_s for r in ok]))
    metrics.update({
        "throughput": per_s(output_tokens), "input_throughput": per_s(input_tokens),
        "request_throughput": per_s(len(ok)),
    })
    if goodput is not None:
        metrics["goodput"] = per_s(sum(goodput.met(r) for r in ok))
    metrics.update({"requests_ok": len(ok), "request_errors": len(results) - len(ok), "input_tokens": input_tokens,
                    "output_tokens": output_tokens, "load_s": wall_s})
    return metrics


def combine(loads: Mapping[str, Mapping[str, float]], how: str = "mean") -> Dict[str, float]:
    """One trial's metrics from its loads' (by name): counts summed; rates and times averaged
    (``"mean"``) or the worst load's (``"worst"``: the lowest rate, the highest time), over the
    loads that measured them (a load whose requests had one output token has no TPOT): NaN only
    when none did."""
    if how not in COMBINE:
        raise ValueError(f"combine must be one of {COMBINE}, got {how!r}")
    if len(loads) == 1:
        return dict(next(iter(loads.values())))
    combined: Dict[str, float] = {}
    for name in next(iter(loads.values())):
        values = [load[name] for load in loads.values()]
        if name in COUNTS:
            combined[name] = sum(values)
            continue
        values = [v for v in values if math.isfinite(v)]
        if not values:
            combined[name] = math.nan
        elif how == "mean":
            combined[name] = sum(values) / len(values)
        else:
            combined[name] = min(values) if name in RATES else max(values)
    return combined
