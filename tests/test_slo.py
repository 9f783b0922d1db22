"""SLOs and several objectives: SLO-meeting > SLO miss by size > failure, through the real backends."""

import logging
import math

import numpy as np
import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import tune

from ray_graded_penalty import SLO, GradedPenaltySearcher
from ray_graded_penalty._core.outcomes import Severity
from ray_graded_penalty.backends.optuna import HAS_TRIAL_CONSTRAINTS, violation
from ray_graded_penalty.slo import judge

from conftest import hyperopt_done_trials, optuna_study

SPACE = {"x": tune.uniform(0, 1)}
P99 = SLO("p99", max=0.5, fail_ratio=1.0)


# ----- the SLO itself ---------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(metric="p99"), ValueError, "exactly one bound"),
    (dict(metric="p99", max=1.0, min=0.1), ValueError, "exactly one bound"),
    (dict(metric="p99", max=math.inf), ValueError, "must be finite"),
    (dict(metric="p99", max=math.nan), ValueError, "must be finite"),
    (dict(metric="p99", max=0.0), ValueError, "must not be 0"),
    (dict(metric="p99", max=1.0, weight=0), ValueError, "weight must be positive"),
    (dict(metric="p99", max=1.0, weight=-1), ValueError, "weight must be positive"),
    (dict(metric="p99", max=1.0, fail_ratio=0), ValueError, "fail_ratio must be positive"),
    (dict(metric="", max=1.0), ValueError, "non-empty string"),
    (dict(metric="p99", max="0.5"), TypeError, "must be a number"),
])
def test_malformed_slos_are_refused_at_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        SLO(**kwargs)


def test_slos_passed_to_the_searcher_are_checked():
    with pytest.raises(TypeError, match=r"slos\[1\] must be an SLO"):
        GradedPenaltySearcher(trial_timeout_s=60, slos=[P99, ("ttft", 1.0)])
    with pytest.raises(ValueError, match="one SLO per metric"):
        GradedPenaltySearcher(trial_timeout_s=60, slos=[P99, SLO("p99", max=2.0)])


def test_misses_are_normalized_excess_over_the_bound():
    assert SLO("p99", max=0.5).miss(0.75) == pytest.approx(0.5)
    assert SLO("p99", max=0.5).miss(0.4) == 0.0
    assert SLO("tps", min=100.0).miss(80.0) == pytest.approx(0.2)
    assert SLO("gain", min=-10.0).miss(-12.0) == pytest.approx(0.2)  # relative to |bound|
    weighted = judge([SLO("a", max=1.0, weight=2.0), SLO("b", min=1.0)], {"a": 1.5, "b": 0.5})
    assert weighted.total_miss == pytest.approx(2 * 0.5 + 0.5)
    assert 0 < Severity.of_miss(weighted.total_miss).level < 1


# ----- the order the inner model is told --------------------------------------------------


def _make(backend, mode, slos=(P99,)):
    searcher = GradedPenaltySearcher(backend, trial_timeout_s=600, seed=0, metric="score", mode=mode, slos=slos)
    searcher.set_search_properties(None, None, SPACE)
    return searcher


def _tpe_order(searcher):
    """Trial numbers in the order Optuna's TPE ranks them: feasible by value, then infeasible."""
    study = optuna_study(searcher)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(complete, key=lambda t: (violation(t) > 0, violation(t), sign * t.value))


def _tell(searcher, trials):
    """trials: (kind, arg): ("ok", (score, p99)) or ("fail", (elapsed_s, error))."""
    for i, (kind, arg) in enumerate(trials):
        trial_id = f"t{i}"
        searcher.suggest(trial_id)
        if kind == "ok":
            searcher.on_trial_complete(trial_id, result={"score": arg[0], "p99": arg[1]})
        else:
            searcher.record_failure(trial_id, elapsed_s=arg[0], error=arg[1])


trial_lists = st.lists(
    st.one_of(
        st.tuples(st.just("ok"), st.tuples(st.floats(-1e6, 1e6), st.floats(0.01, 0.99))),
        st.tuples(st.just("fail"), st.tuples(st.floats(0, 600), st.sampled_from(["", "CUDA out of memory", "deploy"]))),
    ),
    min_size=2, max_size=14,
)


def _kinds(searcher, trials):
    """Each trial's kind as the searcher recorded it, checked against what its input makes it
    (a failure; a p99 within P99's bound; a miss below its fail_ratio, as every p99 drawn is)."""
    kinds = {tid: o.kind for tid, o in searcher.outcomes.items()}
    expected = {f"t{i}": "failure" if kind == "fail" else "success" if arg[1] <= P99.max else "slo_miss"
                for i, (kind, arg) in enumerate(trials)}
    assert kinds == expected
    return kinds


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trials=trial_lists, mode=st.sampled_from(["max", "min"]))
def test_optuna_ranks_slo_meeting_then_misses_by_size_then_failures(trials, mode):
    searcher = _make("optuna", mode)
    _tell(searcher, trials)
    kinds = _kinds(searcher, trials)
    by_number = {int(tid[1:]): tid for tid in kinds}
    order = [by_number[t.number] for t in _tpe_order(searcher)]
    rank = {"success": 0, "slo_miss": 1, "failure": 2}
    assert [rank[kinds[t]] for t in order] == sorted(rank[kinds[t]] for t in order)
    p99 = {f"t{i}": arg[1] for i, (_, arg) in enumerate(trials)}
    misses = [p99[t] for t in order if kinds[t] == "slo_miss"]
    assert misses == sorted(misses)  # a larger miss is always worse
    if any(k == "success" for k in kinds.values()):
        assert searcher.best.kind == "success"
    elif any(k == "slo_miss" for k in kinds.values()):
        assert searcher.best.kind == "slo_miss" and searcher.best.slo_miss == pytest.approx((min(misses) - 0.5) / 0.5)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trials=trial_lists, mode=st.sampled_from(["max", "min"]))
def test_hyperopt_losses_keep_the_same_order_over_the_whole_history(trials, mode):
    searcher = _make("hyperopt", mode)
    _tell(searcher, trials)
    kinds = _kinds(searcher, trials)
    told = {tid: o.told for tid, o in searcher.outcomes.items()}
    sign = -1 if mode == "max" else 1  # HyperOpt minimizes loss = sign * value
    losses = sorted(t["result"]["loss"] for t in hyperopt_done_trials(searcher))
    assert losses == sorted(sign * v for v in told.values())  # what HyperOpt holds is what was told
    loss = {tid: sign * v for tid, v in told.items()}
    for group_a, group_b in (("success", "slo_miss"), ("slo_miss", "failure"), ("success", "failure")):
        worst_a = max((loss[t] for t, k in kinds.items() if k == group_a), default=-math.inf)
        best_b = min((loss[t] for t, k in kinds.items() if k == group_b), default=math.inf)
        assert worst_a < best_b
    misses = sorted((trials[int(t[1:])][1][1], loss[t]) for t, k in kinds.items() if k == "slo_miss")
    assert [x[1] for x in misses] == sorted(x[1] for x in misses)


def test_a_miss_past_fail_ratio_is_an_slo_failure_at_full_completion(caplog):
    searcher = _make("optuna", "max")
    searcher.suggest("a")
    with caplog.at_level(logging.INFO, logger="ray_graded_penalty"):
        searcher.on_trial_complete("a", result={"score": 5000.0, "p99": 1.2})
    outcome = searcher.outcomes["a"]
    assert outcome.failed and outcome.error_class == "slo" and outcome.completion == 1.0
    assert outcome.penalty == -80.0 and outcome.metric == 5000.0
    line = next(r.getMessage() for r in caplog.records if "failed after" in r.getMessage())
    assert "SLO missed: p99 <= 0.5 at 1.2" in line


def test_a_result_without_an_slo_metric_is_a_failure_with_a_warning_naming_it(caplog):
    searcher = _make("optuna", "max")
    searcher.suggest("a")
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        searcher.on_trial_complete("a", result={"score": 1.0})
    assert searcher.outcomes["a"].failed and searcher.outcomes["a"].error_class == "slo"
    assert any("'p99'" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_numpy_s_numbers_are_read_as_numbers():
    met = judge([P99], {"p99": np.float32(0.25)})
    assert met.failure is None and met.total_miss == 0.0 and met.values == {"p99": 0.25}
    missed = judge([P99], {"p99": np.float64(0.75)})
    assert missed.failure is None and missed.total_miss == pytest.approx(0.5)


def test_an_slo_miss_is_logged_with_its_value_and_bound(caplog):
    searcher = _make("optuna", "max")
    searcher.suggest("a")
    with caplog.at_level(logging.INFO, logger="ray_graded_penalty"):
        searcher.on_trial_complete("a", result={"score": 10.0, "p99": 0.6})
    assert searcher.outcomes["a"].kind == "slo_miss"
    assert any("missed SLO p99 <= 0.5 at 0.6 (20% over)" in r.getMessage() for r in caplog.records)


def test_a_generic_searcher_places_misses_below_every_success_told_before():
    from searcher_helpers import Recording

    inner = Recording()  # a searcher the package cannot read or rewrite: the generic backend
    searcher = GradedPenaltySearcher(inner, trial_timeout_s=600, slos=[P99])
    searcher.set_search_properties(None, None, SPACE)
    _tell(searcher, [("ok", (-2000.0, 0.1)), ("ok", (-1000.0, 0.9)), ("fail", (10, ""))])
    told = {tid: o.told for tid, o in searcher.outcomes.items()}
    assert told["t0"] > told["t1"] > told["t2"] and [v for _, v in inner.told] == [told["t0"], told["t1"], told["t2"]]


# ----- several objectives ----------------------------------------------------------------


def _two(slos=()):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0,
                                     metric=["tps", "p99"], mode=["max", "min"], slos=slos)
    searcher.set_search_properties(None, None, SPACE)
    return searcher


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=st.lists(st.one_of(
    st.tuples(st.floats(-1e5, 1e5), st.floats(-1e3, 1e3)), st.none()), min_size=2, max_size=12))
def test_failures_never_reach_the_pareto_front_in_any_direction_or_scale(points):
    searcher = _two()
    for i, point in enumerate(points):
        searcher.suggest(f"t{i}")
        if point is None:
            searcher.record_failure(f"t{i}", elapsed_s=30.0, error="CUDA out of memory")
        else:
            searcher.on_trial_complete(f"t{i}", result={"tps": point[0], "p99": point[1]})
    study = optuna_study(searcher)
    front = {t.number for t in study.best_trials}
    failed = {i for i, point in enumerate(points) if point is None}
    assert failed == {int(t[1:]) for t, o in searcher.outcomes.items() if o.failed}
    if HAS_TRIAL_CONSTRAINTS or len(failed) < len(points):
        # Before Optuna 5.0 best_trials ignores constraints: with nothing but failures, they
        # are the front; one success dominates them all.
        assert not front & failed
    for trial in study.trials:  # every failure is dominated by every success in what Optuna holds
        if trial.number in failed:
            for other in study.trials:
                if other.number not in failed and other.state == optuna.trial.TrialState.COMPLETE:
                    assert other.values[0] > trial.values[0] and other.values[1] < trial.values[1]
    assert {o.trial_id for o in searcher.pareto_front} <= {f"t{n}" for n in front}


def test_slo_misses_stay_off_the_pareto_front():
    searcher = _two(slos=[SLO("ttft", max=1.0)])
    results = [{"tps": 100.0, "p99": 2.0, "ttft": 0.5}, {"tps": 5000.0, "p99": 0.1, "ttft": 1.4}]
    for i, result in enumerate(results):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", result=result)
    assert searcher.outcomes["t1"].kind == "slo_miss"
    assert [t.number for t in optuna_study(searcher).best_trials] == [0]
    assert [o.trial_id for o in searcher.pareto_front] == ["t0"]


def test_a_result_missing_one_objective_is_a_failure_with_a_warning(caplog):
    searcher = _two()
    searcher.suggest("a")
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        searcher.on_trial_complete("a", result={"tps": 10.0})
    assert searcher.outcomes["a"].failed
    assert any("objective 'p99' missing" in r.getMessage() for r in caplog.records)
    assert optuna_study(searcher).trials[0].state == optuna.trial.TrialState.COMPLETE  # not left running


# ----- a real Tuner with two objectives, failures and an SLO ----------------------------------


@pytest.mark.ray
def test_a_real_tuner_run_with_two_objectives_failures_and_an_slo(local_ray, tmp_path):
    from tuner_helpers import run, serve_two_objectives

    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30, seed=0, metric=["tps", "p99"],
                                     mode=["max", "min"], slos=[SLO("ttft", max=1.0)])
    grid = run(searcher, serve_two_objectives, tmp_path, num_samples=14, metric=None, mode=None,
               space={"x": tune.uniform(0, 1)})
    kinds = [o.kind for o in searcher.outcomes.values()]
    assert len(searcher.outcomes) == len(grid) == 14  # every trial told, once
    assert "failure" in kinds and "success" in kinds
    study = optuna_study(searcher)
    below = {tid for tid, o in searcher.outcomes.items() if o.kind != "success"}
    front = {t.number for t in study.best_trials}
    by_x = {round(t.params["x"], 9): t.number for t in study.trials}
    below_numbers = {by_x[round(o.config["x"], 9)] for tid, o in searcher.outcomes.items() if tid in below}
    assert front and not front & below_numbers
    assert all(study.trials[n].state == optuna.trial.TrialState.COMPLETE for n in by_x.values())
    # The report names the best success by the first objective, lists the Pareto front, and the
    # plots draw every success (its first objective as its value).
    from ray_graded_penalty.plots import plot_report
    from ray_graded_penalty.report import failure_report, format_summary, summarize

    frame = failure_report(grid)
    successes = frame[frame["status"] == "success"]
    assert successes["value"].notna().all() and (successes["value"] == successes["value/tps"]).all()
    summary = summarize(frame)
    assert summary["best_kind"] == "best success" and summary["best"]["value"] == successes["value"].max()
    assert summary["pareto_front"] and set(summary["pareto_front"]) <= set(successes["trial_id"])
    assert set(summary["pareto_front"]) == {o.trial_id for o in searcher.pareto_front}
    assert "Pareto front (tps, p99): trials" in format_summary(frame, summary)
    assert {p.rsplit("/", 1)[1] for p in plot_report(frame, str(tmp_path / "plots"))} >= {
        "by_x.tps.png", "by_x.p99.png", "pareto.png"}


def test_an_slo_on_a_metric_the_result_lacks_names_the_ones_like_it():
    """vLLM's name for a metric (``p99_ttft_ms``) is not the package's (``ttft_p99_s``): every trial
    failed its SLO, and the message said only that the result had no finite 'p99_ttft_ms'."""
    from ray_graded_penalty.serving.metrics import METRICS
    from ray_graded_penalty.slo import judge

    result = {name: 0.1 for name in METRICS}
    failure = judge([SLO("p99_ttft_ms", max=500)], result).failure
    assert "has no 'p99_ttft_ms' (it has " in failure and "'ttft_p99_s'" in failure
    assert judge([SLO("tpot_p99_s", max=0.05)], dict(result, tpot_p99_s=float("nan"))).failure.endswith("(got nan)")
