"""The metrics as vLLM's bench serve defines them, and several loads combined."""



import pytest

from ray_graded_penalty.serving.client import RequestResult
from ray_graded_penalty.serving.metrics import Goodput, combine, percentile, summarize


def _done(ttft, e2el, out, inp=10):
    """A completed request whose tokens came evenly between its first token and its end."""
    times = tuple(ttft + (e2el - ttft) * i / max(out - 1, 1) for i in range(out))
    return RequestResult(True, "", 0.0, times, e2el, inp, out)


def test_metrics_as_vllm_defines_them():
    done = [_done(0.01 * i, 0.1 * i + 0.5, 11) for i in range(1, 101)]
    failed = [RequestResult(False, "HTTP 503", 0.0, (), 9.0, None, 0)] * 3
    m = summarize(done + failed, wall_s=10.0, goodput=Goodput(ttft_s=0.5, e2el_s=5.0))
    assert m["throughput"] == pytest.approx(110.0) and m["input_throughput"] == pytest.approx(100.0)
    assert m["request_throughput"] == pytest.approx(10.0) and m["request_errors"] == 3 and m["requests_ok"] == 100
    assert m["ttft_p50_s"] == pytest.approx(0.505) and m["ttft_p99_s"] == pytest.approx(0.9901)
    assert m["e2el_mean_s"] == pytest.approx(5.55) and m["e2el_p90_s"] == pytest.approx(9.51)
    # TPOT of request i: (e2el - ttft) / 10 = (0.09 i + 0.5) / 10; ITL: the same gaps, ten per request
    assert m["tpot_mean_s"] == pytest.approx(0.09 * 50.5 / 10 + 0.05)
    assert m["itl_mean_s"] == pytest.approx(m["tpot_mean_s"])
    assert m["goodput"] == pytest.approx(4.5)  # ttft <= 0.5 and e2el <= 5.0: i <= 45
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN: nothing completed
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5  # between ranks, as numpy.percentile


def test_several_loads_combine_by_mean_or_by_the_worst():
    a = summarize([_done(0.1, 1.0, 5)], 1.0)
    b = summarize([_done(0.3, 2.0, 5)], 2.0)
    mean, worst = combine({"a": a, "b": b}), combine({"a": a, "b": b}, "worst")
    assert mean["throughput"] == pytest.approx(3.75) and worst["throughput"] == pytest.approx(2.5)
    assert mean["ttft_p99_s"] == pytest.approx(0.2) and worst["ttft_p99_s"] == pytest.approx(0.3)
    assert mean["requests_ok"] == worst["requests_ok"] == 2 and mean["load_s"] == 3.0


def test_a_request_of_one_output_token_meets_a_tpot_slo_as_vllm_counts_it():
    """vLLM's calculate_metrics takes TPOT as 0 for goodput when a request has at most one
    output token; its TPOT statistics leave such a request out, as these do."""
    one_token = [_done(0.1, 0.2, 1) for _ in range(4)]
    m = summarize(one_token, 1.0, Goodput(ttft_s=0.5, tpot_s=0.05))
    assert m["goodput"] == pytest.approx(4.0) and m["request_throughput"] == pytest.approx(4.0)
    assert m["tpot_mean_s"] != m["tpot_mean_s"]  # NaN: no request has a TPOT
    slow = summarize([_done(0.1, 2.0, 5)], 1.0, Goodput(tpot_s=0.05))  # TPOT 0.475 s
    assert slow["goodput"] == 0.0


@pytest.mark.parametrize("how", ["mean", "worst"])
def test_loads_combine_over_the_loads_that_measured_a_metric_in_any_order(how):
    prefill = summarize([_done(0.1, 0.2, 1)], 1.0)  # one output token: no TPOT, no ITL
    decode = summarize([_done(0.3, 2.0, 5)], 2.0)
    assert prefill["tpot_p99_s"] != prefill["tpot_p99_s"]
    one, other = combine({"p": prefill, "d": decode}, how), combine({"d": decode, "p": prefill}, how)
    assert one["tpot_p99_s"] == other["tpot_p99_s"] == pytest.approx(decode["tpot_p99_s"])
    assert one["itl_mean_s"] == pytest.approx(decode["itl_mean_s"]) and one["requests_ok"] == 2
    assert combine({"p": prefill, "q": prefill}, how)["tpot_p99_s"] != prefill["tpot_p99_s"]  # none measured: NaN
