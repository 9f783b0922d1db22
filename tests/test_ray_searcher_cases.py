"""Ray's own searcher test cases (python/ray/tune/tests/test_searchers.py), run wrapped.

The cases of Ray's suite that apply to a wrapper, rewritten for the wrapped searcher: invalid
values (NaN, -inf, inf) with Ray's anonymous metric and several objectives, each through
``tune.run`` and ``tune.Tuner``; a report after the trial completed; points evaluated elsewhere;
save and restore (the searcher's own methods, as Ray's cases call them). And the package's own
promise on top: a success the inner searcher was given directly ranks above every failure told
later.
"""

import math
from copy import deepcopy

import numpy as np
import optuna
import pytest
from optuna.samplers import RandomSampler
from optuna.trial import TrialState
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.hyperopt import HyperOptSearch
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.backends.optuna import OptunaView
from ray_graded_penalty.compat import RunConfig, optuna_search_accepts_storage, report

from conftest import optuna_study

CONFIG = {"report": tune.uniform(0.0, 5.0), "list": [1, 2, 3], "num": 4}


def invalid_objective(config):
    """Ray's: inf above 4, -inf above 3, NaN above 2, else the value (0.1 at least)."""
    value = config["report"]
    if value > 4:
        report({"_metric": float("inf")})
    elif value > 3:
        report({"_metric": float("-inf")})
    elif value > 2:
        report({"_metric": np.nan})
    else:
        report({"_metric": float(value) or 0.1})


def multi_objective(config):
    report(dict(a=config["a"] * 100, b=config["b"] * -100, c=config["c"]))


def dummy_objective(config):
    report(dict(metric=config["report"]))


def wrapped(inner, **kwargs):
    return GradedPenaltySearcher(inner, trial_timeout_s=60, **kwargs)


def check_experiment(trials, searcher):
    """Ray's assertCorrectExperimentOutput, and every trial told once without an error."""
    assert not [t for t in trials if t.status == "ERROR"]
    told = searcher.outcomes
    assert set(told) == {t.trial_id for t in trials}
    best = max((t for t in trials if np.isfinite(t.last_result["_metric"])), key=lambda t: t.last_result["_metric"])
    assert best.config["report"] <= 2.0 and best.trial_id == searcher.best.trial_id
    assert best.config["list"] in ([1, 2, 3], (1, 2, 3)) and best.config["num"] == 4
    for o in told.values():  # the NaN and infinities: graded plain failures, never timeouts
        assert o.failed == (o.config["report"] > 2) and (not o.failed or o.error_class == "crash")


# ----- invalid values, with and without Ray's anonymous metric ---------------------------------


@pytest.mark.ray
@pytest.mark.parametrize("inner, metric", [
    (lambda: OptunaSearch(sampler=RandomSampler(seed=1234)), "_metric"),
    (lambda: OptunaSearch(sampler=RandomSampler(seed=1234)), None),
    (lambda: HyperOptSearch(random_state_seed=1234), None),
], ids=["optuna-metric", "optuna-anonymous", "hyperopt-anonymous"])
def test_invalid_values_through_tune_run(local_ray, tmp_path, inner, metric):
    np.random.seed(1000)
    searcher = wrapped(inner())
    analysis = tune.run(invalid_objective, search_alg=searcher, config=CONFIG, metric=metric, mode="max",
                        num_samples=8, reuse_actors=True, storage_path=str(tmp_path), verbose=0,
                        callbacks=[searcher.callback])
    check_experiment(analysis.trials, searcher)


@pytest.mark.ray
def test_invalid_values_through_the_tuner_with_the_anonymous_metric(local_ray, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=1234)
    tuner = tune.Tuner(invalid_objective, param_space=CONFIG,
                       tune_config=tune.TuneConfig(search_alg=searcher, mode="max", num_samples=8, reuse_actors=True),
                       run_config=RunConfig(storage_path=str(tmp_path), callbacks=[searcher.callback], verbose=0))
    grid = tuner.fit()
    check_experiment(tune.ExperimentAnalysis(grid.experiment_path).trials, searcher)


@pytest.mark.ray
def test_a_search_without_a_mode_is_refused_once_before_any_trial_runs(local_ray, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60)
    with pytest.raises(ValueError, match="needs a mode"):
        tune.run(invalid_objective, search_alg=searcher, config=CONFIG, num_samples=2,
                 storage_path=str(tmp_path), verbose=0)
    assert searcher.outcomes == {}


# ----- a report after the trial completed ---------------------------------------------------


def test_a_report_after_complete_does_not_fail_and_is_not_told_again():
    inner = OptunaSearch(sampler=RandomSampler(seed=1234), space=OptunaSearch.convert_search_space(CONFIG),
                         metric="metric", mode="max")
    searcher = wrapped(inner)
    searcher.suggest("trial_1")
    searcher.on_trial_result("trial_1", {"training_iteration": 1, "metric": 1})
    searcher.on_trial_complete("trial_1", {"training_iteration": 2, "metric": 1})
    searcher.on_trial_result("trial_1", {"training_iteration": 3, "metric": 1})
    searcher.on_trial_complete("trial_1", {"training_iteration": 4, "metric": 1})
    assert list(searcher.outcomes) == ["trial_1"] and len(optuna_study(searcher).trials) == 1


# ----- points evaluated elsewhere -------------------------------------------------------------

TUNE_SPACE = {"report": tune.uniform(0.0, 5.0)}
SPACE = OptunaSearch.convert_search_space(TUNE_SPACE)
POINT = {"report": 1.0}


def test_evaluated_rewards_and_points_reach_the_inner_study_in_their_states():
    searcher = wrapped(OptunaSearch(space=SPACE, metric="metric", mode="max", points_to_evaluate=[POINT],
                                    evaluated_rewards=[1.0]))
    assert len(optuna_study(searcher).trials) > 0
    searcher = wrapped(OptunaSearch(space=SPACE, metric="metric", mode="max"))
    study = optuna_study(searcher)
    searcher.add_evaluated_point(POINT, 1.0, intermediate_values=[0.8, 0.9])
    try:  # Ray 2.30's OptunaSearch cannot add a failed point on Optuna 3.6 itself: wrapped, the same
        OptunaSearch(space=SPACE, metric="metric", mode="max").add_evaluated_point(POINT, 1.0, error=True)
        unwrapped = None
    except ValueError as refused:
        unwrapped = refused
    if unwrapped is None:  # the wrapper adds it as Ray's searcher does
        searcher.add_evaluated_point(POINT, 1.0, intermediate_values=[0.8, 0.9], error=True)
        states = [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    else:
        with pytest.raises(ValueError, match=str(unwrapped).split(",")[0]):
            searcher.add_evaluated_point(POINT, 1.0, intermediate_values=[0.8, 0.9], error=True)
        states = [TrialState.COMPLETE, TrialState.PRUNED]
    searcher.add_evaluated_point(POINT, 1.0, intermediate_values=[0.8, 0.9], pruned=True)
    with pytest.raises(ValueError, match="value must be finite, got -inf"):  # no failure could be told below it
        searcher.add_evaluated_point(POINT, -math.inf)
    assert [t.state for t in study.trials] == states
    assert isinstance(searcher.suggest("1"), dict)

    def define_by_run(trial):
        return {"report": trial.suggest_float("report", 0.0, 5.0)}

    with pytest.raises(TypeError):
        wrapped(OptunaSearch(space=define_by_run, metric="metric", mode="max")).add_evaluated_point(POINT, 1.0)


@pytest.mark.ray
def test_evaluated_trials_of_an_analysis_reach_the_inner_study(local_ray, tmp_path):
    analysis = tune.run(dummy_objective, config=TUNE_SPACE, metric="metric", mode="max", num_samples=4, verbose=0,
                        storage_path=str(tmp_path))
    searcher = wrapped(OptunaSearch(space=SPACE, metric="metric", mode="max"))
    for trials, count in ((analysis, 4), (analysis.trials, 4), (analysis.trials[0], 1)):
        copy = deepcopy(searcher)
        copy.add_evaluated_trials(trials, "metric")
        assert len(optuna_study(copy).trials) == count
        assert isinstance(copy.suggest("1"), dict)
        copy.record_failure("1", elapsed_s=1.0, error="CUDA out of memory")
        values = [t.last_result["metric"] for t in (analysis.trials if count == 4 else analysis.trials[:1])]
        worst = min(values)
        assert copy.outcomes["1"].told < worst


def given_a_success_of_minus_5000(how):
    """A searcher whose inner study holds a user-given success of -5000 (mode max), given ``how``."""
    if how == "evaluated_rewards":
        return wrapped(OptunaSearch(space=SPACE, metric="score", mode="max", points_to_evaluate=[POINT],
                                    evaluated_rewards=[-5000.0]))
    searcher = wrapped(OptunaSearch(space=SPACE, metric="score", mode="max"))
    if how == "the wrapper's add_evaluated_point":
        searcher.add_evaluated_point(POINT, -5000.0)
    else:  # told to the inner searcher directly, behind the wrapper's back
        searcher.searcher.add_evaluated_point(POINT, -5000.0)
    return searcher


@pytest.mark.parametrize("how", ["evaluated_rewards", "the wrapper's add_evaluated_point", "the inner searcher"])
def test_a_failure_is_told_below_a_success_the_user_gave_the_inner_searcher(how):
    searcher = given_a_success_of_minus_5000(how)
    searcher.suggest("t1")
    searcher.record_failure("t1", elapsed_s=1.0, error="CUDA out of memory")
    told = searcher.outcomes["t1"].told
    assert told < -5000.0 and searcher.outcomes["t1"].penalty == -1500.0  # graded as ever, placed below
    study = optuna_study(searcher)
    values = sorted(t.value for t in study.trials if t.state == TrialState.COMPLETE)
    assert values[0] == told  # the study's own values agree: the failure is its worst


class TakesPoints(Searcher):
    """A user's own searcher with ``add_evaluated_point`` whose history the package cannot read
    (the generic backend, as Ray's HEBOSearch): only the wrapper hears a point given through it."""

    def __init__(self):
        super().__init__(metric="score", mode="max")
        self.told = []

    def suggest(self, trial_id):
        return {"report": 2.5}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.told.append(None if error else result["score"])

    def add_evaluated_point(self, parameters, value, error=False, pruned=False, intermediate_values=None):
        self.told.append(value)


def test_a_failure_is_told_below_a_success_given_through_the_wrapper_to_a_searcher_it_cannot_read():
    inner = TakesPoints()
    searcher = wrapped(inner)
    searcher.add_evaluated_point(POINT, -5000.0)
    searcher.suggest("t1")
    searcher.record_failure("t1", elapsed_s=1.0, error="CUDA out of memory")
    assert inner.told[0] == -5000.0 and inner.told[1] == searcher.outcomes["t1"].told < -5000.0


def test_the_hyperopt_backend_takes_no_evaluated_point_through_the_wrapper_as_rays_hyperoptsearch():
    searcher = wrapped(HyperOptSearch(space=SPACE, metric="score", mode="max"))
    with pytest.raises(NotImplementedError):  # HyperOptSearch takes no evaluated points: as Ray's
        searcher.add_evaluated_point(POINT, -5000.0)


@pytest.mark.skipif(not optuna_search_accepts_storage(), reason="OptunaSearch(storage=...) is new in Ray 2.41")
def test_a_failure_is_told_below_the_successes_of_a_study_loaded_from_storage(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    earlier = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    earlier.add_trial(optuna.trial.create_trial(params={"report": 1.0}, value=-5000.0,
                                                distributions={"report": optuna.distributions.FloatDistribution(0, 5)}))
    searcher = wrapped(OptunaSearch(space=SPACE, metric="score", mode="max", storage=storage, study_name="s"))
    searcher.suggest("t1")
    searcher.record_failure("t1", elapsed_s=1.0, error="CUDA out of memory")
    assert searcher.outcomes["t1"].told < -5000.0


# ----- save and restore ---------------------------------------------------------------------


def callbacks(searcher, trial_id):
    result = {"training_iteration": 1, "metric": 1, "config/a": 1.0, "time_total_s": 1}
    searcher.on_trial_result(trial_id, result)
    searcher.on_trial_complete(trial_id, result)


@pytest.mark.parametrize("make, fresh", [
    (lambda: OptunaSearch(space={"a": tune.uniform(0.0, 5.0)}, metric="metric", mode="max"), OptunaSearch),
    (lambda: HyperOptSearch(space={"a": tune.uniform(0.0, 5.0)}, metric="metric", mode="max"), HyperOptSearch),
], ids=["optuna", "hyperopt"])
def test_save_and_restore_without_setting_the_search_properties_again(tmp_path, make, fresh):
    path = str(tmp_path / "checkpoint.pkl")
    searcher = wrapped(make())
    searcher.set_search_properties(metric="metric", mode="max", config={"a": tune.uniform(0.0, 5.0)})
    for trial_id in ("1", "2", "not_completed"):
        searcher.suggest(trial_id)
    callbacks(searcher, "1")
    searcher.save(path)

    restored = wrapped(fresh())
    restored.restore(path)
    callbacks(restored, "2")
    restored.suggest("3")
    callbacks(restored, "3")
    assert sorted(restored.outcomes) == ["1", "2", "3"]
    if fresh is OptunaSearch:  # Ray's check: the unfinished trial is still tracked
        assert "not_completed" in OptunaView(restored.searcher).live_trials


# ----- several objectives -------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.parametrize("through", ["tune.run", "tune.Tuner"])
def test_several_objectives(local_ray, tmp_path, through):
    np.random.seed(1000)
    searcher = wrapped(OptunaSearch(sampler=RandomSampler(seed=1234), metric=["a", "b", "c"],
                                    mode=["max", "min", "max"]))
    space = {k: tune.uniform(0, 1) for k in "abc"}
    if through == "tune.run":
        trials = tune.run(multi_objective, search_alg=searcher, config=space, num_samples=16, reuse_actors=True,
                          storage_path=str(tmp_path), verbose=0, callbacks=[searcher.callback]).trials
    else:
        tuner = tune.Tuner(multi_objective, param_space=space,
                           tune_config=tune.TuneConfig(search_alg=searcher, num_samples=16, reuse_actors=True),
                           run_config=RunConfig(storage_path=str(tmp_path), callbacks=[searcher.callback], verbose=0))
        trials = tune.ExperimentAnalysis(tuner.fit().experiment_path).trials
    assert max(trials, key=lambda t: t.last_result["a"]).config["a"] >= 0.8
    assert min(trials, key=lambda t: t.last_result["b"]).config["b"] >= 0.8
    assert max(trials, key=lambda t: t.last_result["c"]).config["c"] >= 0.8
    assert len(searcher.outcomes) == 16
    # The wrapper's front is the trials no other beats in a, b and c, read from Tune's results.
    points = {t.trial_id: (t.last_result["a"], -t.last_result["b"], t.last_result["c"]) for t in trials}
    front = {i for i, p in points.items()
             if not any(q != p and all(x >= y for x, y in zip(q, p)) for q in points.values())}
    assert {o.trial_id for o in searcher.pareto_front} == front
