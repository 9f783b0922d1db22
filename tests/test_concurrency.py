"""Concurrent trials: ConcurrencyLimiter, schedulers such as ASHA, and the constant liar."""

import collections
import time

import optuna
import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch
from scipy.stats import binomtest

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.compat import report

from conftest import optuna_study
from tuner_helpers import oom_above_06, run, trial_ids


@pytest.mark.ray
def test_under_a_concurrency_limiter_every_trial_is_told_once(local_ray, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=5)
    limited = ConcurrencyLimiter(searcher, max_concurrent=2)
    grid = run(limited, oom_above_06, tmp_path, num_samples=8, callbacks=[searcher.callback])
    every, errored = trial_ids(grid)
    assert set(searcher.outcomes) == every and len(every) == 8
    assert {t for t, o in searcher.outcomes.items() if o.failed} == errored
    assert len(optuna_study(searcher).trials) == 8


def learning_curve(config):
    """Reports six times; fails with OOM above x = 0.8 after two reports."""
    for step in range(6):
        time.sleep(0.05)
        if config["x"] > 0.8 and step == 2:
            raise RuntimeError("CUDA out of memory")
        report({"score": config["x"] * (step + 1)})


@pytest.mark.ray
def test_a_trial_asha_stops_early_is_a_success_with_its_metric(local_ray, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=0)
    asha = ASHAScheduler(max_t=6, grace_period=1, reduction_factor=2)
    grid = run(searcher, learning_curve, tmp_path, num_samples=10, scheduler=asha)
    every, errored = trial_ids(grid)
    assert set(searcher.outcomes) == every
    stopped_early = [r for r in grid if not r.error and r.metrics["training_iteration"] < 6]
    assert stopped_early, "ASHA stopped some trials early"
    for result in grid:
        outcome = searcher.outcomes[result.metrics["trial_id"]] if result.metrics else None
        if result.error:
            continue
        assert not outcome.failed and outcome.told == result.metrics["score"]
    assert {t for t, o in searcher.outcomes.items() if o.failed} == errored


def modal_share(constant_liar, seed, batch=8):
    """Share of a batch of concurrent suggestions that repeat the batch's most common choice."""
    space = {"c": tune.choice(list(range(10)))}
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=constant_liar, n_startup_trials=10)
    # every suggestion runs (runs_per_config=None): what is measured is what the sampler suggests
    searcher = GradedPenaltySearcher(OptunaSearch(sampler=sampler), trial_timeout_s=600, runs_per_config=None)
    searcher.set_search_properties("score", "max", space)
    for i in range(25):  # a history in which choice 3 succeeds and the others crash early
        config = searcher.suggest(f"h{i}")
        if config["c"] == 3:
            searcher.on_trial_complete(f"h{i}", result={"score": 1.0})
        else:
            searcher.record_failure(f"h{i}", elapsed_s=10, error="CUDA out of memory")
    picks = [searcher.suggest(f"b{i}")["c"] for i in range(batch)]  # all running at once
    return collections.Counter(picks).most_common(1)[0][1] / batch


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_constant_liar_keeps_concurrent_suggestions_from_piling_up():
    seeds = range(20)
    with_liar = [modal_share(True, s) for s in seeds]
    without = [modal_share(False, s) for s in seeds]
    # Paired sign test over fixed seeds (each run is deterministic, so is the verdict).
    wins = sum(a < b for a, b in zip(with_liar, without))
    losses = sum(a > b for a, b in zip(with_liar, without))
    assert binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue < 0.001, (with_liar, without)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_optuna_backend_uses_the_constant_liar():
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60)
    from ray_graded_penalty.backends.optuna import OptunaView, sampler_settings

    assert sampler_settings(OptunaView(searcher.searcher).sampler)["constant_liar"] is True
