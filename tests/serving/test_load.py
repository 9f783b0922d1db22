"""The load: open-loop arrivals with their rate and burstiness."""

import pytest

from ray_graded_penalty.serving import load
from ray_graded_penalty.serving.load import LoadSpec, Request, arrival_gaps


def test_open_loop_gaps_have_the_rate_and_the_burstiness():
    import statistics

    for burstiness in (0.5, 1.0, 4.0):
        gaps = arrival_gaps(4000, request_rate=5.0, burstiness=burstiness, seed=3)
        assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.06)
        # a gamma of shape k has a coefficient of variation of 1 / sqrt(k)
        assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(burstiness ** -0.5, rel=0.08)
    assert arrival_gaps(3, float("inf"), 1.0, 0) == [0.0, 0.0, 0.0]


def test_an_open_loop_waits_for_no_arrival_after_its_end(monkeypatch):
    """At 0.5 requests per second (seed 0) the first arrives 3.72 s in: after a 2 s load's end.
    Before, the load slept until then and ran 1.7 s past its duration."""
    slept = []

    async def sleep(delay):
        slept.append(delay)

    monkeypatch.setattr(load.asyncio, "sleep", sleep)
    spec = LoadSpec(request_rate=0.5, duration_s=2.0, seed=0)
    results, _ = load.drive("127.0.0.1", 9, [Request("/v1/completions", b"{}")] * 3, spec, lambda: False)
    assert arrival_gaps(1, 0.5, 1.0, 0)[0] > 2.0 and results == [] and slept == []
