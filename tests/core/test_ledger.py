"""Failures are told below every success, whatever the metric's scale and order of arrival."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty._core.ledger import FailurePlacement


def worse(a, b, mode):
    """True if value ``a`` ranks strictly worse than ``b`` for ``mode``."""
    return a < b if mode == "max" else a > b


def test_design_numbers_are_kept_while_successes_rank_above_them():
    placement = FailurePlacement("max", least_magnitude=80.0)
    assert placement.add_success(5.0) is False  # throughput 5 > -80
    assert placement.place(1000.0 / placement.least_magnitude) is False
    assert placement.value_at(1000.0 / placement.least_magnitude) == -1000.0
    assert placement.value_at(80.0 / placement.least_magnitude) == -80.0


def test_negative_latency_in_ms_moves_failures_below_the_worst_success():
    placement = FailurePlacement("max", least_magnitude=80.0)
    placement.add_success(-2000.0)
    assert placement.place(80.0 / placement.least_magnitude) is True
    assert placement.value_at(80.0 / placement.least_magnitude) < -2000.0
    assert placement.value_at(1500.0 / placement.least_magnitude) < placement.value_at(80.0 / placement.least_magnitude)


def test_a_loss_in_the_thousands_for_mode_min():
    placement = FailurePlacement("min", least_magnitude=80.0)
    for loss in (3000.0, 4500.0):
        placement.add_success(loss)
    placement.place(200.0 / placement.least_magnitude)
    assert placement.value_at(200.0 / placement.least_magnitude) > 4500.0


def test_a_later_worse_success_moves_failures_told_before_it():
    placement = FailurePlacement("max", least_magnitude=80.0)
    placement.place(1000.0 / placement.least_magnitude)
    assert placement.value_at(1000.0 / placement.least_magnitude) == -1000.0
    assert placement.add_success(-5000.0) is True
    assert placement.value_at(1000.0 / placement.least_magnitude) < -5000.0


@pytest.mark.parametrize("mode", ["max", "min"])
def test_told_values_stay_finite_when_the_successes_span_nearly_a_float_s_range(mode):
    """Successes at -1.7e308 and 1.7e308 put the failures a spread of 3.4e308 below the worst:
    they were told -inf, not a finite penalty."""
    placement = FailurePlacement(mode, least_magnitude=80.0)
    for value in (-1.7e308, 1.7e308):
        placement.add_success(value)
    worst = -1.7e308 if mode == "max" else 1.7e308
    for magnitude in (80.0, 1500.0):
        placement.place(magnitude / placement.least_magnitude)
        told = placement.value_at(magnitude / placement.least_magnitude)
        assert math.isfinite(told) and worse(told, worst, mode)


def test_bad_mode_or_magnitude_is_refused():
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        FailurePlacement("best", 80.0)
    with pytest.raises(ValueError, match="least_magnitude must be positive"):
        FailurePlacement("max", 0.0)


magnitudes = st.sampled_from([80.0, 100.0, 160.0, 200.0, 500.0, 750.0, 1000.0, 1200.0, 1500.0])
successes = st.one_of(
    st.floats(-1e9, 1e9), st.floats(-3000, -1000), st.floats(0, 1), st.floats(1000, 5000)
)
events = st.lists(st.one_of(st.tuples(st.just("s"), successes), st.tuples(st.just("f"), magnitudes)),
                  max_size=40)


@given(events=events, mode=st.sampled_from(["max", "min"]))
def test_ranking_invariant_over_the_whole_history(events, mode):
    """With failures rewritten when the placement moves, every failure ranks below every
    success and failures keep the policy's order, after every step."""
    placement = FailurePlacement(mode, PenaltyPolicy().least_magnitude)
    seen_successes, seen_failures = [], []
    for kind, x in events:
        if kind == "s":
            placement.add_success(x)
            seen_successes.append(x)
        else:
            placement.place(x / placement.least_magnitude)
            seen_failures.append(x)
        told = [placement.value_at(m / placement.least_magnitude) for m in seen_failures]
        assert all(math.isfinite(v) for v in told)
        assert all(worse(f, s, mode) for f in told for s in seen_successes)
        for m1, v1 in zip(seen_failures, told):
            for m2, v2 in zip(seen_failures, told):
                if m1 > m2:
                    assert worse(v1, v2, mode)


@given(events=events, mode=st.sampled_from(["max", "min"]))
def test_each_failure_is_told_below_every_success_before_it(events, mode):
    """What a searcher that cannot rewrite its history gets."""
    placement = FailurePlacement(mode, PenaltyPolicy().least_magnitude)
    seen_successes = []
    for kind, x in events:
        if kind == "s":
            placement.add_success(x)
            seen_successes.append(x)
        else:
            placement.place(x / placement.least_magnitude)
            assert all(worse(placement.value_at(x / placement.least_magnitude), s, mode) for s in seen_successes)


def test_a_repeat_told_again_moves_with_the_failure_it_repeats():
    from ray_graded_penalty._core.judge import Decision
    from ray_graded_penalty._core.ledger import Ledger
    from ray_graded_penalty._core.outcomes import Kind, Objectives

    policy = PenaltyPolicy()
    ledger = Ledger(Objectives.of("score", "max"), policy.least_magnitude)
    grade = policy.grade(30, 600, "CUDA out of memory")
    ledger.record(Decision("a", {"x": 1}, Kind.FAILURE, severity=policy.severity(grade), grade=grade), rewrites=True)
    ledger.record_repeat("r/repeat", ledger.outcomes["a"])
    moves = ledger.record(Decision("b", {"x": 2}, Kind.SUCCESS, values=(-50000.0,)), rewrites=True).moves
    assert moves["r/repeat"] == moves["a"] and moves["a"][0] < -50000.0
    assert "r/repeat" not in ledger.outcomes  # only what ran is an outcome
    again = Ledger.from_data(ledger.to_data())
    assert again.severity("r/repeat") == again.severity("a") and again.finished({"x": 1})[0].trial_id == "a"


def test_a_retried_failure_is_kept_apart_from_what_was_told_until_it_is_told():
    from ray_graded_penalty._core.judge import Decision
    from ray_graded_penalty._core.ledger import Ledger
    from ray_graded_penalty._core.outcomes import Kind, Objectives

    policy = PenaltyPolicy()
    ledger = Ledger(Objectives.of("score", "max"), policy.least_magnitude)
    grade = policy.grade(30, 600, "node died", error_class="lost")
    lost = Decision("a", {"x": 1}, Kind.FAILURE, severity=policy.severity(grade), grade=grade, retry=True)
    kept = ledger.record_retried(lost)
    assert ledger.outcomes == {} and ledger.finished({"x": 1}) == [] and kept.penalty == -1000.0
    again = Ledger.from_data(ledger.to_data())
    assert again.retried["a"].error_class == "lost" and again.outcomes == {}
    again.record(lost._replace(retry=False), rewrites=True)  # told after all (no retry came)
    assert again.retried == {} and set(again.outcomes) == {"a"}
