"""Real Ray Tune runs: trials that raise and succeed reach the inner model exactly once."""

import numpy as np
import pytest
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty import SLO, GradedPenaltySearcher
from ray_graded_penalty.backends.optuna import violation
from ray_graded_penalty.compat import report

from conftest import hyperopt_done_trials, optuna_study
from searcher_helpers import OnePointThenNone
from tuner_helpers import latency_ms_or_oom, oom_above_06, run, trial_ids

pytestmark = pytest.mark.ray
#: Trials per run: enough for failures and successes both (x > 0.6 fails), few enough that a
#: run costs Ray's ~2 s a trial only eight times.
SAMPLES = 8


def assert_every_trial_told_once(searcher, grid, num_samples):
    every, errored = trial_ids(grid)
    assert len(every) == num_samples
    assert set(searcher.outcomes) == every
    assert {t for t, o in searcher.outcomes.items() if o.failed} == errored
    assert errored, "the space was chosen so that some trials fail"
    assert len(errored) < num_samples, "and some succeed"


def test_optuna_backend_tells_failures_as_complete_trials_below_successes(local_ray, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=1)
    grid = run(searcher, oom_above_06, tmp_path, SAMPLES)
    assert_every_trial_told_once(searcher, grid, SAMPLES)
    trials = optuna_study(searcher).trials
    assert len(trials) == SAMPLES and all(t.state.name == "COMPLETE" for t in trials)
    failed = [t for t in trials if violation(t) > 0]
    succeeded = [t for t in trials if t not in failed]
    assert {t.params["x"] > 0.6 for t in failed} == {True}
    assert max(t.value for t in failed) < min(t.value for t in succeeded)
    for outcome in searcher.outcomes.values():
        if outcome.failed:  # a fast OOM: earliest tier x 1.5
            assert outcome.error_class == "oom" and outcome.penalty == -1500.0
            assert "CUDA out of memory" in outcome.error


def test_hyperopt_backend_tells_failures_below_successes(local_ray, tmp_path):
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=60, seed=1)
    grid = run(searcher, oom_above_06, tmp_path, SAMPLES)
    assert_every_trial_told_once(searcher, grid, SAMPLES)
    done = hyperopt_done_trials(searcher)
    assert len(done) == SAMPLES
    failed = [d["result"]["loss"] for d in done if d["misc"]["vals"]["x"][0] > 0.6]
    succeeded = [d["result"]["loss"] for d in done if d["misc"]["vals"]["x"][0] <= 0.6]
    assert failed and succeeded and min(failed) > max(succeeded)


def test_wrapping_an_existing_optuna_search_is_a_one_line_change(local_ray, tmp_path):
    searcher = GradedPenaltySearcher(OptunaSearch(seed=3), trial_timeout_s=60)
    grid = run(searcher, oom_above_06, tmp_path, SAMPLES)
    assert_every_trial_told_once(searcher, grid, SAMPLES)
    trials = optuna_study(searcher).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * SAMPLES


def test_a_negative_latency_scale_never_tells_a_failure_above_a_success(local_ray, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=2)
    grid = run(searcher, latency_ms_or_oom, tmp_path, SAMPLES)
    assert_every_trial_told_once(searcher, grid, SAMPLES)
    trials = optuna_study(searcher).trials
    failed = [t.value for t in trials if t.params["x"] > 0.6]
    succeeded = [t.value for t in trials if t.params["x"] <= 0.6]
    assert max(failed) < min(succeeded) < -2000.0 + 1e-9


def test_without_the_callback_failures_are_still_graded_and_a_hint_is_logged(local_ray, tmp_path, caplog):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=1)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        grid = run(searcher, oom_above_06, tmp_path, SAMPLES, callbacks=[])
    assert_every_trial_told_once(searcher, grid, SAMPLES)
    assert len(optuna_study(searcher).trials) == SAMPLES
    assert sum("callbacks=[searcher.callback]" in r.getMessage() for r in caplog.records) == 1


def _searchers():
    """The searchers a Ray user may already have, by name: each starts at a failing point and a
    succeeding one (``points_to_evaluate``), so its model is fitted with a failure in it."""
    import optuna

    points = [{"x": 0.9}, {"x": 0.2}]

    def optuna_search(sampler):
        return lambda: OptunaSearch(sampler=sampler, points_to_evaluate=points)

    def hyperopt_search():
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(points_to_evaluate=points, n_initial_points=2, random_state_seed=0)

    def nevergrad_search():
        import nevergrad as ng
        from ray.tune.search.nevergrad import NevergradSearch

        return NevergradSearch(optimizer=ng.optimizers.OnePlusOne, points_to_evaluate=points)

    def bayesopt_search():
        from ray.tune.search.bayesopt import BayesOptSearch

        return BayesOptSearch(points_to_evaluate=points, random_state=0, random_search_steps=2)

    return {
        "nevergrad": nevergrad_search,
        "bayesopt": bayesopt_search,
        "tpe": optuna_search(optuna.samplers.TPESampler(seed=0, n_startup_trials=2)),
        "gp": optuna_search(optuna.samplers.GPSampler(seed=0, n_startup_trials=2)),
        "cmaes": optuna_search(optuna.samplers.CmaEsSampler(seed=0, n_startup_trials=2)),
        "qmc": optuna_search(optuna.samplers.QMCSampler(seed=0)),
        "hyperopt": hyperopt_search,
    }


@pytest.mark.parametrize("name", ["tpe", "gp", "cmaes", "qmc", "hyperopt", "nevergrad", "bayesopt"])
def test_each_searcher_a_user_may_have_runs_wrapped_with_failures(local_ray, tmp_path, name):
    """Wrapped in one line, each of them through a real Tuner whose trials fail and succeed:
    nothing raises (Optuna 5's GPSampler did, at the first model-based suggestion after a
    failure: "The number of constraints must be the same for all trials"), and every trial is
    told once."""
    searcher = GradedPenaltySearcher(_searchers()[name](), trial_timeout_s=60)
    grid = run(searcher, oom_above_06, tmp_path, SAMPLES)
    assert not [r.error for r in grid if r.error and "CUDA out of memory" not in str(r.error)]
    assert_every_trial_told_once(searcher, grid, SAMPLES)


def fails_at_3(config):
    from ray_graded_penalty.compat import report

    if config["x"] == 3:
        raise RuntimeError("CUDA out of memory")
    report({"score": float(config["x"])})


@pytest.mark.parametrize("backend", ["optuna", "hyperopt"])
def test_no_configuration_runs_twice_and_an_exhausted_space_ends_the_run(local_ray, tmp_path, backend):
    from ray import tune

    searcher = GradedPenaltySearcher(backend, trial_timeout_s=60, seed=0)
    grid = run(searcher, fails_at_3, tmp_path, 10, space={"x": tune.choice([1, 2, 3])})
    every, errored = trial_ids(grid)
    configs = sorted(o.config["x"] for o in searcher.outcomes.values())
    assert configs == [1, 2, 3] and len(every) == 3 and len(errored) == 1  # 10 asked for, 3 exist


def test_an_inner_searcher_that_stops_proposing_ends_the_run_rather_than_hanging(local_ray, tmp_path):
    """Tune asks a searcher that answers None again and again; with nothing running, nothing
    can change the answer (BayesOptSearch that skips the one point it keeps proposing): the
    run ends, with the trial it had."""
    searcher = GradedPenaltySearcher(OnePointThenNone(), trial_timeout_s=60)
    grid = run(searcher, oom_above_06, tmp_path, 5)
    assert len(grid) == 1 and not grid.errors
    assert [o.config for o in searcher.outcomes.values()] == [{"x": 0.5}]


def reports_numpy_numbers(config):
    """What a trainable that averages float32 arrays reports: numpy scalars, not floats."""
    x = np.float32(config["x"])
    for step in (1, 2):
        report({"score": np.mean(np.array([x, x], dtype=np.float32)), "p99": x, "progress": np.float32(step / 2)})


def reports_0_d_arrays(config):
    """``np.asarray`` of a number (or a tensor reported without ``.item()``): 0-d arrays, which bare
    OptunaSearch tells as numbers; the searcher graded each such trial a crash."""
    for step in (1, 2):
        report({"score": np.asarray(config["x"]), "p99": np.asarray(config["x"]), "progress": np.asarray(step / 2)})


@pytest.mark.parametrize("trainable", [reports_numpy_numbers, reports_0_d_arrays], ids=["scalars", "0-d arrays"])
def test_numpy_numbers_a_trial_reports_are_a_success(local_ray, tmp_path, trainable):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=0, slos=[SLO("p99", max=2.0)])
    grid = run(searcher, trainable, tmp_path, 3)
    assert len(grid) == 3 and not grid.errors
    outcomes = list(searcher.outcomes.values())
    assert len(outcomes) == 3 and not any(o.failed for o in outcomes), outcomes  # 0.6.0.dev: each a failure
    assert sorted(o.metric for o in outcomes) == pytest.approx(sorted(r.config["x"] for r in grid), rel=1e-6)
