"""The Optuna backend: the package's sampler, constraints on every Optuna, user samplers."""

import logging
import math
import warnings

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty import GoodGroupSize, GradedPenaltySearcher
from ray_graded_penalty.backends.optuna import (
    HAS_TRIAL_CONSTRAINTS,
    OptunaView,
    mark_infeasible,
    sampler_ranks_infeasible_last,
    sampler_settings,
    tpe_gamma,
    tpe_sampler,
    violation,
)
from ray_graded_penalty.compat import base_searcher

from conftest import optuna_study


def test_the_packages_sampler_is_joint_with_a_constant_liar_and_ranks_failures_last():
    sampler = tpe_sampler(seed=0)
    assert sampler_settings(sampler) == {"multivariate": True, "constant_liar": True}
    assert sampler_ranks_infeasible_last(sampler)
    assert not sampler_ranks_infeasible_last(optuna.samplers.RandomSampler())


def test_a_study_marks_and_reads_back_a_violation_on_every_optuna():
    study = optuna.create_study(sampler=tpe_sampler(seed=0))
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    mark_infeasible(study, trial, 7.5)
    study.tell(trial, 1.0)
    feasible = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(feasible, 0.5)
    assert violation(study.trials[0]) == 7.5 and violation(study.trials[1]) == 0.0


def test_a_users_own_constraint_is_not_read_as_the_packages_violation():
    """Optuna 5.0 keeps a user's ``constraints_func`` values beside the package's constraint; they
    were summed into the package's violation, so a success the user's function found infeasible
    read back as a failure (a study reopened: told as one when its configuration came again)."""
    from ray_graded_penalty.backends.optuna import is_feasible

    def user_constraints(trial):
        return (trial.params["x"] - 0.5,)  # the user's own: x <= 0.5

    sampler = optuna.samplers.TPESampler(seed=0, constraints_func=user_constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constraints_func: experimental, deprecated from Optuna 5.0
        study = optuna.create_study(sampler=sampler)
    distributions = {"x": optuna.distributions.FloatDistribution(0, 1)}
    failed = study.ask(distributions)
    mark_infeasible(study, failed, 3.0)
    study.tell(failed, -100.0)
    success = study.enqueue_trial({"x": 0.9}) or study.ask(distributions)  # infeasible to the user
    study.tell(success, 2.0)
    failure_trial, success_trial = study.trials
    assert violation(failure_trial) == 3.0
    assert violation(success_trial) == 0.0  # was 0.4 at Optuna 5.0
    assert not is_feasible(success_trial)  # yet TPE takes it as infeasible, and so does the good group's count
    # a failure the package stored before Optuna 5.0 (a study in a database read again): still its failure
    before_5 = optuna.trial.create_trial(params={"x": 0.2}, distributions=distributions, value=-100.0,
                                         system_attrs={"graded_penalty:graded_failure": 3.0})
    assert violation(before_5) == 3.0


def test_a_sampler_that_cannot_read_constraints_is_named_once_and_the_stored_values_keep_the_order(caplog):
    """A user's own OptunaSearch whose sampler ignores constraints (any sampler but TPE, or TPE
    without the package's constraints_func before Optuna 5): the searcher says so once, and with
    in-memory storage the stored values still put every failure below every success."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from ray_graded_penalty import GradedPenaltySearcher

    from conftest import optuna_study

    searcher = GradedPenaltySearcher(OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=0)), trial_timeout_s=600)
    searcher.set_search_properties("latency", "max", {"x": tune.uniform(0, 1)})
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        searcher.suggest("a")
        searcher.on_trial_complete("a", {"latency": -2000.0})
        for trial_id in ("b", "c"):
            searcher.suggest(trial_id)
            searcher.record_failure(trial_id, elapsed_s=30, error="CUDA out of memory")
        searcher.suggest("d")
        searcher.on_trial_complete("d", {"latency": -9000.0})  # worse than the failures told so far
    named = [r for r in caplog.records if "does not rank infeasible trials last" in r.getMessage()]
    assert len(named) == 1 and "whole history" in named[0].getMessage() and "(RandomSampler)" in named[0].getMessage()
    values = {t.number: t.value for t in optuna_study(searcher).trials}
    assert max(values[1], values[2]) < min(values[0], values[3]), values


SPACE = {"x": tune.uniform(0, 1)}


@given(n=st.integers(0, 5000), successes=st.integers(0, 5000))
def test_one_at_a_time_it_is_tpes_own_split(n, successes):
    size = GoodGroupSize()
    size.successes, size.pending = successes, 0
    assert size(n) == min(math.ceil(0.1 * n), 25)  # Optuna's default_gamma, as its TPESampler documents it


@given(n=st.integers(0, 5000), successes=st.integers(1, 5000), pending=st.integers(1, 64))
def test_with_trials_pending_it_is_the_best_tenth_of_the_successes(n, successes, pending):
    size = GoodGroupSize()
    size.successes, size.pending = successes, pending
    assert size(n) == min(math.ceil(0.1 * successes), 25)
    assert 1 <= size(n) <= successes  # never reaches into the failures


def test_without_a_success_it_is_tpes_own_split_among_the_failures():
    size = GoodGroupSize()
    size.pending = 15
    assert size(200) == 20


@pytest.mark.parametrize("kwargs, error, message", [
    ({"share": 0}, ValueError, r"share must be a number in \(0, 1\], got 0"),
    ({"share": 1.5}, ValueError, "share must be"),
    ({"share": "0.1"}, ValueError, "share must be a number in"),
    ({"share": True}, ValueError, "share must be"),
    ({"cap": 0}, ValueError, "cap must be a whole number, at least 1, got 0"),
    ({"cap": 2.5}, ValueError, "cap must be a whole number, at least 1, got 2.5"),  # Optuna failed at trial 22
    ({"base": "x"}, TypeError, "base must be a function"),
])
def test_bad_settings_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        GoodGroupSize(**kwargs)


def _gamma(searcher):
    return tpe_gamma(OptunaView(base_searcher(searcher.searcher)).sampler)


def _fill(searcher, failures, successes, pending):
    ids = [f"t{i}" for i in range(failures + successes + pending)]
    for trial_id in ids:
        searcher.suggest(trial_id)
    for i, trial_id in enumerate(ids[:failures]):
        searcher.record_failure(trial_id, elapsed_s=10.0 + i, error="CUDA out of memory")
    for i, trial_id in enumerate(ids[failures:failures + successes]):
        searcher.on_trial_complete(trial_id, result={"score": float(i)})
    return ids[failures + successes:]


def test_the_optuna_backend_counts_pending_trials_and_successes_before_each_suggestion():
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0, metric="score", mode="max")
    searcher.set_search_properties(None, None, SPACE)
    pending = _fill(searcher, failures=40, successes=20, pending=5)
    searcher.suggest("next")  # counts are taken before it is asked for
    gamma = _gamma(searcher)
    assert isinstance(gamma, GoodGroupSize)
    assert (gamma.successes, gamma.pending) == (20, 5)
    assert gamma(60) == 2  # the best tenth of 20 successes, not of all 60 trials told
    for trial_id in [*pending, "next"]:
        searcher.on_trial_complete(trial_id, result={"score": -1.0})
    searcher.suggest("alone")
    assert (gamma.successes, gamma.pending) == (26, 0)
    assert gamma(66) == 7  # one trial at a time: TPE's own split, failures included


def test_the_counts_are_rebuilt_from_the_study_after_a_restore(tmp_path):
    def build():
        searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0, metric="score", mode="max")
        searcher.set_search_properties(None, None, SPACE)
        return searcher

    before = build()
    _fill(before, failures=10, successes=12, pending=3)
    path = str(tmp_path / "searcher.pkl")
    before.save(path)
    after = build()
    after.restore(path)
    after.suggest("next")
    gamma = _gamma(after)
    assert (gamma.successes, gamma.pending) == (12, 3)
    assert len(optuna_study(after).trials) == 26


def test_a_wrapped_optuna_search_with_a_good_group_size_gets_the_same_counts():
    sampler = tpe_sampler(seed=0, gamma=GoodGroupSize())
    searcher = GradedPenaltySearcher(OptunaSearch(sampler=sampler), trial_timeout_s=600, metric="score", mode="max")
    searcher.set_search_properties(None, None, SPACE)
    _fill(searcher, failures=4, successes=3, pending=2)
    searcher.suggest("next")
    assert (tpe_gamma(sampler).successes, tpe_gamma(sampler).pending) == (3, 2)


def quarter(n):
    return max(1, n // 4)


def optunas_default(n):  # Optuna's documented default: min(ceil(0.1 n), 25)
    return min(math.ceil(0.1 * n), 25)


@pytest.mark.parametrize("own", [None, quarter], ids=["optunas-default", "users-own"])
@pytest.mark.filterwarnings("ignore::FutureWarning")  # TPESampler(gamma=...) is deprecated from Optuna 4.9
def test_a_users_own_tpe_keeps_its_gamma_counted_over_the_successes_while_trials_run(own):
    sampler = optuna.samplers.TPESampler(seed=0) if own is None else optuna.samplers.TPESampler(seed=0, gamma=own)
    searcher = GradedPenaltySearcher(OptunaSearch(sampler=sampler), trial_timeout_s=600, metric="score", mode="max")
    searcher.set_search_properties(None, None, SPACE)
    pending = _fill(searcher, failures=40, successes=20, pending=5)
    searcher.suggest("next")
    size = tpe_gamma(sampler)
    base = own or optunas_default
    assert isinstance(size, GoodGroupSize) and (own is None or size.base is own)
    assert size(60) == base(20)  # the user's own split, of the 20 successes
    for trial_id in [*pending, "next"]:
        searcher.on_trial_complete(trial_id, result={"score": -1.0})
    searcher.suggest("alone")
    assert size(66) == base(66)  # one trial at a time: the user's own split, unchanged


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS, reason="GPSampler reads the package's constraint from Optuna 5.0")
def test_gp_is_told_failures_close_below_the_worst_success_and_infeasible():
    """GPSampler fits its objective GP to every completed trial after standardizing the values:
    failures far below the successes took nearly all of the values' range (measured: worse than
    bare on branin_discs at 16 at once). Told close below the worst success, infeasible
    by its grade, and moved when a worse success arrives, it keeps the order."""
    from searcher_helpers import SPACE, drive

    searcher = GradedPenaltySearcher(OptunaSearch(sampler=optuna.samplers.GPSampler(seed=0)), trial_timeout_s=600)
    searcher.set_search_properties("score", "min", SPACE)
    drive(searcher, [("f", (30.0, "CUDA out of memory")), ("s", 10.0), ("s", 300.0), ("f", (590.0, "")),
                     ("s", 400.0)])
    study = optuna_study(searcher)
    values = {t.number: t.value for t in study.trials}
    assert values[0] == searcher.outcomes["t0"].told and values[3] == searcher.outcomes["t3"].told
    # close below the worst success (400, spread 400): 1500 / 80 and 100 / 80 levels of 0.001 spreads
    assert values[0] == pytest.approx(400.0 + 400.0 * 1e-3 * 1500.0 / 80.0)
    assert values[3] == pytest.approx(400.0 + 400.0 * 1e-3 * 100.0 / 80.0)
    assert 400.0 < values[3] < values[0]  # below every success, graded
    assert violation(study.trials[0]) > violation(study.trials[3]) > 0 == violation(study.trials[4])
    assert study.best_trial.number == 1


def test_tpe_is_told_failures_a_spread_and_more_below_the_worst_success():
    from searcher_helpers import SPACE, drive

    searcher = GradedPenaltySearcher(OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0)), trial_timeout_s=600)
    searcher.set_search_properties("score", "min", SPACE)
    drive(searcher, [("s", 10.0), ("s", 400.0), ("f", (590.0, ""))])
    assert searcher.outcomes["t2"].told == pytest.approx(400.0 + 400.0 * 100.0 / 80.0)


def test_cma_es_is_told_a_failure_as_fail_and_the_package_still_grades_it():
    """CMA-ES reads no constraints and ranks a generation by value: a failure reaches it as
    Optuna's FAIL, as bare OptunaSearch tells it (measured: by value it was worse than bare on 5
    of 20 cells of benchmarks/searchers.py). The package still grades it."""
    from conftest import optuna_study
    from searcher_helpers import SPACE, drive

    searcher = GradedPenaltySearcher(OptunaSearch(sampler=optuna.samplers.CmaEsSampler(seed=0)), trial_timeout_s=600)
    searcher.set_search_properties("score", "max", SPACE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drive(searcher, [("s", 2.0), ("f", (30.0, "CUDA out of memory")), ("s", 1.0)])
    study = optuna_study(searcher)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert searcher.outcomes["t1"].failed and searcher.outcomes["t1"].penalty == -1500.0
    # no trial carries a constraint then: Optuna 5's CMA-ES warned of constraints it does not use
    # at every success, which the package had marked feasible (constraints the user never set)
    assert not [w for w in caught if "Constraints have been set" in str(w.message)]
    searcher.suggest("t3")  # a suggestion after the successes were told: none is marked then either
    searcher.on_trial_complete("t3", result={"score": 3.0, "training_iteration": 1})
    assert not [t.number for t in optuna_study(searcher).trials if any(k.startswith("constraints") for k in
                                                                       t.system_attrs)]


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS, reason="these samplers read trials' constraints from Optuna 5.0")
@pytest.mark.parametrize("sampler", ["GPSampler", "NSGAIISampler", "NSGAIIISampler"])
def test_samplers_that_read_the_constraint_are_not_warned_of(sampler, caplog):
    """The warning that a sampler does not rank infeasible trials last was also given for the
    samplers that read every trial's constraints themselves from Optuna 5.0."""
    from searcher_helpers import SPACE, drive

    searcher = GradedPenaltySearcher(OptunaSearch(sampler=getattr(optuna.samplers, sampler)(seed=0)),
                                     trial_timeout_s=600)
    searcher.set_search_properties("score", "max", SPACE)
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        drive(searcher, [("s", 2.0), ("f", (30.0, "CUDA out of memory")), ("s", 1.0)])
    assert violation(optuna_study(searcher).trials[1]) > 0
    assert not [r for r in caplog.records if "infeasible trials last" in r.getMessage()]


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS, reason="GPSampler reads the package's constraint from Optuna 5.0")
@pytest.mark.parametrize("given", ["evaluated_rewards", "add_evaluated_point"])
def test_gp_runs_wrapped_with_successes_it_was_given_elsewhere(given):
    """Optuna 5's GPSampler raises "The number of constraints must be the same for all trials"
    when failures carry the package's constraint and a success given to the study directly
    (Ray's evaluated_rewards, add_evaluated_point) has none: it gets the constraint, feasible."""
    kwargs = {"points_to_evaluate": [{"x": 0.5}], "evaluated_rewards": [1.0]} if given == "evaluated_rewards" else {}
    searcher = GradedPenaltySearcher(OptunaSearch(sampler=optuna.samplers.GPSampler(seed=0, n_startup_trials=2),
                                                  **kwargs), trial_timeout_s=600)
    searcher.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    if given == "add_evaluated_point":
        searcher.add_evaluated_point({"x": 0.5}, 1.0)
    searcher.suggest("t0")
    searcher.record_failure("t0", elapsed_s=10, error="CUDA out of memory")
    for i in range(1, 4):
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", result={"score": config["x"]})
    complete = [t for t in optuna_study(searcher).trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete[0].values == [1.0] and all(t.constraints for t in complete)  # each carries it
    assert sum(violation(t) > 0 for t in complete) == 1  # the failure, and only it, infeasible


def test_points_given_with_their_rewards_are_not_run_again():
    """A point the user gave OptunaSearch with its reward has finished: suggested again, it is told
    that reward and not run (the check of repeats read this search's own trials only)."""
    searcher = GradedPenaltySearcher(OptunaSearch(points_to_evaluate=[{"n": 2}, {"n": 4}], evaluated_rewards=[2.0, 4.0],
                                                  seed=0), trial_timeout_s=60)
    searcher.set_search_properties("score", "max", {"n": tune.choice([1, 2, 3, 4])})
    from searcher_helpers import suggest_and_score

    assert sorted(suggest_and_score(searcher, 8, "n")) == [1, 3]
