"""How a finished trial is told: the decision's order, one step at a time."""

import math

from ray_graded_penalty import SLO, PenaltyPolicy
from ray_graded_penalty.decision import Rules, decide
from ray_graded_penalty.objectives import Objectives
from ray_graded_penalty.trials import Ending

RULES = Rules(Objectives.of("throughput", "max"), PenaltyPolicy(), (SLO("p99_s", max=0.5, fail_ratio=1.0),), 600.0)


def ending(result=None, failed=False, error=None, elapsed=30.0, timeout=None):
    return Ending("t", {"x": 1}, elapsed, timeout, error, result, failed)


def test_a_failure_reported_by_ray_is_graded_from_its_progress_and_text():
    decision = decide(ending(failed=True, error="CUDA out of memory"), RULES)
    assert decision.kind == "failure" and decision.grade.magnitude == 1500.0
    assert decision.severity.level == 1500.0 / RULES.policy.least_magnitude and decision.severity.violation > 1


def test_a_trial_of_its_own_timeout_is_graded_against_it():
    assert decide(ending(failed=True, elapsed=30.0, timeout=40.0), RULES).grade.completion == 0.75


def test_a_result_without_the_objective_is_a_timeout_and_a_nan_is_a_failure_naming_it():
    stopped = decide(ending(result={"p99_s": 0.1}), RULES)
    assert stopped.kind == "failure" and stopped.grade.modifier == "timeout"
    nan = decide(ending(result={"throughput": math.nan, "p99_s": 0.1}), RULES)
    assert nan.kind == "failure" and "non-finite objective throughput" in nan.error


def test_an_slo_failure_served_to_the_end_and_an_slo_miss_ranks_between():
    failed = decide(ending(result={"throughput": 9.0, "p99_s": 1.2}), RULES)
    assert failed.kind == "failure" and failed.grade.modifier == "slo" and failed.grade.completion == 1.0
    assert failed.values == (9.0,) and failed.verdict.failure.startswith("SLO missed")
    missed = decide(ending(result={"throughput": 9.0, "p99_s": 0.6}), RULES)
    assert missed.kind == "slo_miss" and 0 < missed.severity.level < 1 <= failed.severity.level
    assert missed.severity.violation < failed.severity.violation


def test_a_success_passes_its_own_result_on():
    result = {"throughput": 9.0, "p99_s": 0.1, "extra": "kept"}
    decision = decide(ending(result=result), RULES)
    assert decision.kind == "success" and decision.result is result and decision.severity is None
