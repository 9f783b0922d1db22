"""The one place that knows Ray's and Optuna's versions."""

import logging
import warnings

import optuna
import pytest
import ray

from ray_graded_penalty import compat


def test_a_version_outside_the_tested_range_warns_once_per_package(monkeypatch):
    monkeypatch.setitem(compat.TESTED, "ray", ("0.1.0", "0.2.0"))
    monkeypatch.setitem(compat.TESTED, "optuna", ("99.0.0", "99.1.0"))
    with pytest.warns(UserWarning) as caught:
        compat.check_versions()
    messages = [str(w.message) for w in caught]
    assert any(f"ray 0.1.0 to 0.2.0; {ray.__version__} is installed" in m for m in messages)
    assert any(f"optuna 99.0.0 to 99.1.0; {optuna.__version__} is installed" in m for m in messages)


def test_the_installed_versions_are_inside_the_tested_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_versions()


def test_run_config_and_report_come_from_where_this_ray_has_them():
    from ray import train, tune

    home = tune if compat.RAY >= compat.Version("2.41.0") else train
    assert compat.RunConfig is home.RunConfig and compat.report is home.report


def test_the_packages_sampler_is_joint_with_a_constant_liar_and_ranks_failures_last():
    sampler = compat.tpe_sampler(seed=0)
    assert sampler._multivariate and sampler._constant_liar
    assert compat.sampler_ranks_infeasible_last(sampler)
    assert not compat.sampler_ranks_infeasible_last(optuna.samplers.RandomSampler())


def test_a_study_marks_and_reads_back_a_violation_on_every_optuna():
    study = optuna.create_study(sampler=compat.tpe_sampler(seed=0))
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    compat.mark_infeasible(study, trial, 7.5)
    study.tell(trial, 1.0)
    feasible = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(feasible, 0.5)
    assert compat.violation(study.trials[0]) == 7.5 and compat.violation(study.trials[1]) == 0.0


def test_a_sampler_that_cannot_read_constraints_is_named_once_and_the_stored_values_keep_the_order(caplog):
    """A user's own OptunaSearch whose sampler ignores constraints (any sampler but TPE, or TPE
    without the package's constraints_func before Optuna 5): the searcher says so once, and with
    in-memory storage the stored values still put every failure below every success."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from conftest import optuna_study
    from ray_graded_penalty import GradedPenaltySearcher

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
    assert len(named) == 1 and "whole history" in named[0].getMessage()
    values = {t.number: t.value for t in optuna_study(searcher).trials}
    assert max(values[1], values[2]) < min(values[0], values[3]), values
