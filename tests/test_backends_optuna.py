"""The Optuna backend: the package's sampler, constraints on every Optuna, user samplers."""

import logging

import optuna

from ray_graded_penalty.backends.optuna import (
    mark_infeasible,
    sampler_ranks_infeasible_last,
    sampler_settings,
    tpe_sampler,
    violation,
)


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
    assert len(named) == 1 and "whole history" in named[0].getMessage()
    values = {t.number: t.value for t in optuna_study(searcher).trials}
    assert max(values[1], values[2]) < min(values[0], values[3]), values
