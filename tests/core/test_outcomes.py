"""The vocabulary: how a trial ended, the error classes, how bad it was, and the objectives."""

import math

import numpy as np
import pytest

from ray_graded_penalty._core.outcomes import (
    ErrorClass,
    Grade,
    Kind,
    Objectives,
    Severity,
    TrialOutcome,
    outcome_data,
    outcome_from_data,
)


def test_a_kind_is_its_string_as_the_report_writes_it():
    assert Kind.SLO_MISS == "slo_miss" and str(Kind.FAILURE) == "failure" and Kind("success") is Kind.SUCCESS


def test_the_built_in_classes_are_plain_strings_and_the_package_s_own_are_among_them():
    assert ErrorClass.ALL == ("oom", "deploy", "timeout", "connection", "slo", "lost", "crash", "other")
    assert set(ErrorClass.TRANSIENT) <= set(ErrorClass.OWN)
    assert set(ErrorClass.OWN) <= set(ErrorClass.ALL) and all(type(c) is str for c in ErrorClass.ALL)


def test_every_slo_miss_ranks_above_every_failure_and_larger_misses_worse():
    misses = [Severity.of_miss(m) for m in (0.01, 0.5, 3.0, 1e6)]
    assert [s.level for s in misses] == sorted(s.level for s in misses) and all(s.violation < 1 for s in misses)
    failure = Severity.of_failure(magnitude=80.0, rank=80.0, least_magnitude=80.0)
    assert failure == Severity(level=1.0, violation=81.0)


def test_a_grade_s_penalty_is_bad_for_its_mode():
    grade = Grade(1.0, 10.0, 0.1, 1000.0, "oom", 1500.0, 1504.4)
    assert grade.penalty("max") == -1500.0 and grade.penalty("min") == 1500.0
    with pytest.raises(ValueError, match="mode must be 'max' or 'min', got 'maximize'"):
        grade.penalty("maximize")


@pytest.mark.parametrize("metric, mode, message", [
    (None, "max", "metric must be a metric name"),
    (["a", "a"], ["max", "min"], "metric names must be unique"),
    (["a", "b"], "max", "one mode per metric"),
    ("a", "up", "mode must be 'max' or 'min', got 'up'"),
])
def test_bad_objectives_are_refused_naming_them(metric, mode, message):
    with pytest.raises(ValueError, match=message):
        Objectives.of(metric, mode)


def test_several_objectives_need_both_lists():
    with pytest.raises(ValueError, match="several objectives need both lists"):
        Objectives.check_args(["a", "b"], None)
    assert Objectives.check_args("a", None) is False and Objectives.check_args(["a", "b"], ["max", "min"]) is True


def test_reading_a_result_says_why_it_cannot_be_used():
    two = Objectives.of(["throughput", "latency"], ["max", "min"])
    assert two.read({"throughput": 3, "latency": 0.5}) == (3.0, 0.5)
    assert two.read({"throughput": 3}) == "objective 'latency' missing from the result"
    assert two.read({"throughput": math.nan, "latency": 1.0}) == "non-finite objective throughput=nan"
    assert two.read({"throughput": True, "latency": 1.0}) == "non-finite objective throughput=True"
    # what a trainable's np.mean of float32 values reports is a number (0.6 and earlier: a failure)
    assert two.read({"throughput": np.float32(0.5), "latency": np.int64(2)}) == (0.5, 2.0)
    assert two.read({"throughput": np.float32("nan"), "latency": 1.0}).startswith("non-finite objective throughput=")


def test_values_turn_and_dominate_in_each_objective_s_direction():
    two = Objectives.of(["throughput", "latency"], ["max", "min"])
    assert two.signed((3.0, 0.5)) == (3.0, -0.5)
    assert two.dominates((3.0, 0.5), (2.0, 0.5)) and not two.dominates((3.0, 0.5), (3.0, 0.5))
    assert two.told((1, 2)) == (1.0, 2.0) and Objectives.of("a", "max").told((1,)) == 1.0
    assert Objectives.values(1.0) == (1.0,) and Objectives.values((1.0, 2.0)) == (1.0, 2.0)


def test_an_outcome_is_plain_data_both_ways():
    outcome = TrialOutcome("t", {"x": 1}, failed=False, told=(1.0, 2.0), metric=(1.0, 2.0), slo_miss=0.2,
                           slo_misses={"p99": 0.2})
    data = outcome_data(outcome)
    assert data["told"] == [1.0, 2.0] and outcome_from_data(data) == outcome and outcome.kind is Kind.SLO_MISS


def test_a_configuration_is_one_key_whatever_type_holds_its_numbers():
    """A warm start's ``p=3.0`` (a DataFrame column with a NaN holds integers as floats) was another
    configuration than Optuna's ``p=3`` to the check of repeats, which let it run again."""
    from ray_graded_penalty._core.outcomes import config_key

    same = [config_key({"p": p, "q": "a"}) for p in (3.0, 3, np.int64(3))]
    assert same[0] == same[1] == same[2]
    assert config_key({"p": np.float64(0.5)}) == config_key({"p": 0.5}) != config_key({"p": 1})
    assert config_key({"p": True}) != config_key({"p": 1})  # a bool is no number here
