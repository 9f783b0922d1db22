"""How a finished trial is told: the decision's order, one step at a time."""

import math

import pytest

from ray_graded_penalty import SLO, PenaltyPolicy
from ray_graded_penalty.decision import Rules, decide
from ray_graded_penalty.objectives import Objectives
from ray_graded_penalty.trials import Ending

RULES = Rules(Objectives.of("throughput", "max"), PenaltyPolicy(), (SLO("p99_s", max=0.5, fail_ratio=1.0),), 600.0)


def ending(result=None, failed=False, error=None, elapsed=30.0, timeout=None, error_class=None):
    return Ending("t", {"x": 1}, elapsed, timeout, error, result, failed, error_class)


def test_a_failure_reported_by_ray_is_graded_from_its_progress_and_text():
    decision = decide(ending(failed=True, error="CUDA out of memory"), RULES)
    assert decision.kind == "failure" and decision.grade.magnitude == 1500.0
    assert decision.severity.level == 1500.0 / RULES.policy.least_magnitude and decision.severity.violation > 1


def test_a_trial_of_its_own_timeout_is_graded_against_it():
    assert decide(ending(failed=True, elapsed=30.0, timeout=40.0), RULES).grade.completion == 0.75


def test_a_result_without_the_objective_is_a_timeout_and_a_nan_is_a_failure_naming_it():
    stopped = decide(ending(result={"p99_s": 0.1}), RULES)
    assert stopped.kind == "failure" and stopped.grade.error_class == "timeout"
    nan = decide(ending(result={"throughput": math.nan, "p99_s": 0.1}), RULES)
    assert nan.kind == "failure" and "non-finite objective throughput" in nan.error
    assert nan.grade.error_class == "crash"


@pytest.mark.parametrize("policy", [PenaltyPolicy(), PenaltyPolicy(modifiers=[("mem", ["memory", "gb"], 3.0)])],
                         ids=["default", "a user's memory keyword"])
def test_the_package_s_own_endings_are_never_read_as_keywords(policy):
    """A metric named gpu_memory_gb appears in the package's own messages; they keep their class."""
    rules = Rules(Objectives.of("gpu_memory_gb", "min"), policy, (), 600.0)
    stopped = decide(ending(result={"other": 1.0}), rules)
    assert "gpu_memory_gb" in stopped.error and stopped.grade.error_class == "timeout"
    nan = decide(ending(result={"gpu_memory_gb": math.nan}), rules)
    assert "gpu_memory_gb" in nan.error and nan.grade.error_class == "crash"
    if policy == PenaltyPolicy():  # the default policy: a timeout at 5 % is 1000 x 0.8, a crash 1000
        assert (stopped.grade.penalty("max"), nan.grade.penalty("max")) == (-800.0, -1000.0)
    else:  # no "timeout" modifier in this policy: factor 1, and never the user's "memory" one
        assert stopped.grade.magnitude == nan.grade.magnitude == 1000.0


def test_a_known_error_class_is_graded_without_reading_the_text():
    decision = decide(ending(failed=True, error="zoom: CUDA out of memory", error_class="deploy"), RULES)
    assert decision.grade.error_class == "deploy" and decision.grade.magnitude == 1200.0


def test_an_slo_failure_served_to_the_end_and_an_slo_miss_ranks_between():
    failed = decide(ending(result={"throughput": 9.0, "p99_s": 1.2}), RULES)
    assert failed.kind == "failure" and failed.grade.error_class == "slo" and failed.grade.completion == 1.0
    assert failed.values == (9.0,) and failed.verdict.failure.startswith("SLO missed")
    missed = decide(ending(result={"throughput": 9.0, "p99_s": 0.6}), RULES)
    assert missed.kind == "slo_miss" and 0 < missed.severity.level < 1 <= failed.severity.level
    assert missed.severity.violation < failed.severity.violation


def test_a_success_passes_its_own_result_on():
    result = {"throughput": 9.0, "p99_s": 0.1, "extra": "kept"}
    decision = decide(ending(result=result), RULES)
    assert decision.kind == "success" and decision.result is result and decision.severity is None
