"""The load: open-loop arrivals with their rate and burstiness."""



import pytest

from ray_graded_penalty.serving.load import arrival_gaps


def test_open_loop_gaps_have_the_rate_and_the_burstiness():
    import statistics

    for burstiness in (0.5, 1.0, 4.0):
        gaps = arrival_gaps(4000, request_rate=5.0, burstiness=burstiness, seed=3)
        assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.06)
        # a gamma of shape k has a coefficient of variation of 1 / sqrt(k)
        assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(burstiness ** -0.5, rel=0.08)
    assert arrival_gaps(3, float("inf"), 1.0, 0) == [0.0, 0.0, 0.0]
