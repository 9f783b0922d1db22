"""What a load measured, as the metrics a trial reports (and SLOs bound).

Percentiles are nearest-rank over the requests that completed: p99 of 32 requests is the
slowest one.

Example:
    >>> from ray_graded_penalty.serving.load import RequestResult
    >>> done = [RequestResult(True, 0.1 * i, 0.5 * i, 10) for i in range(1, 5)]
    >>> m = summarize(done + [RequestResult(False, None, 0.2, 0, "HTTP 400")], wall_s=2.0)
    >>> m["throughput"], m["ttft_p50_s"], m["latency_p99_s"], m["request_errors"]
    (20.0, 0.2, 2.0, 1)
"""

from __future__ import annotations

import math
from typing import Dict, Sequence

from ray_graded_penalty.serving.load import RequestResult

#: The metrics every served trial reports, in this order.
METRICS = (
    "throughput", "ttft_p50_s", "ttft_p99_s", "latency_p50_s", "latency_p99_s",
    "request_errors", "requests_ok", "output_tokens", "load_s",
)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-quantile (``q`` in (0, 1]) of ``values``; NaN if there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(results: Sequence[RequestResult], wall_s: float) -> Dict[str, float]:
    """The metrics of one load: output tokens per second of wall time, TTFT and latency
    percentiles of the completed requests, and how many requests failed."""
    ok = [r for r in results if r.ok]
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    latencies = [r.latency_s for r in ok]
    tokens = sum(r.tokens for r in ok)
    return {
        "throughput": tokens / wall_s if wall_s > 0 else math.nan,
        "ttft_p50_s": percentile(ttfts, 0.5),
        "ttft_p99_s": percentile(ttfts, 0.99),
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p99_s": percentile(latencies, 0.99),
        "request_errors": len(results) - len(ok),
        "requests_ok": len(ok),
        "output_tokens": tokens,
        "load_s": wall_s,
    }
