"""End to end through real ``tune.Tuner``: does the fast loop's picture hold in Ray's loop?

1. ``mostly_fail`` (about 90 % of random configs fail) with this package's Optuna backend and
   with Ray's OptunaSearch as it ships, a few seeds each, two trials at a time. A trial sleeps
   for its failure's share of a short timeout, so the callback measures real elapsed times.
2. 200 trivial trials with each searcher in the same Ray instance, twice each in the order
   package, OptunaSearch, OptunaSearch, package (so drift over the session cancels out): the
   ratio of the package's total wall time to OptunaSearch's, and each pair's ratio.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from typing import Any, Dict

import ray
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from benchmarks.problems import MOSTLY_FAIL
from ray_graded_penalty import GradedPenaltySearcher

TIMEOUT_S = 0.5
SEEDS, TRIALS = (0, 1, 2), 40


def mostly_fail_trainable(config: Dict[str, Any]) -> None:
    outcome = MOSTLY_FAIL.evaluate(config)
    time.sleep(outcome.fraction * TIMEOUT_S)
    if outcome.failed:
        raise RuntimeError(outcome.error)
    tune.report({"value": outcome.value})


def trivial(config: Dict[str, Any]) -> None:
    tune.report({"value": config["x"]})


def _fit(trainable, searcher, space, samples, storage, callbacks=(), concurrent=2):
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(metric="value", mode="max", search_alg=searcher,
                                    num_samples=samples, max_concurrent_trials=concurrent),
        run_config=tune.RunConfig(storage_path=storage, callbacks=list(callbacks), verbose=0),
    )
    start = time.perf_counter()
    grid = tuner.fit()
    return grid, time.perf_counter() - start


def run_tuner_check() -> Dict[str, Any]:
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    results: Dict[str, Any] = {"seeds": list(SEEDS), "trials": TRIALS, "timeout_s": TIMEOUT_S}
    try:
        with tempfile.TemporaryDirectory() as storage:
            for name in ("graded_optuna", "optuna_search"):
                bests, fail_shares = [], []
                for seed in SEEDS:
                    if name == "graded_optuna":
                        searcher = GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed)
                        callbacks = [searcher.callback]
                    else:
                        searcher, callbacks = OptunaSearch(seed=seed), []
                    grid, _ = _fit(mostly_fail_trainable, searcher, MOSTLY_FAIL.space, TRIALS, storage, callbacks)
                    values = [r.metrics["value"] for r in grid if r.error is None and "value" in r.metrics]
                    bests.append(max(values) if values else None)
                    fail_shares.append(sum(r.error is not None for r in grid) / len(grid))
                results[name] = {"best": bests, "fail_share": statistics.mean(fail_shares)}
            space = {"x": tune.uniform(0, 1)}
            times: Dict[str, list] = {"graded": [], "optuna": []}
            for name in ("graded", "optuna", "optuna", "graded"):
                if name == "graded":
                    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=0)
                    _, seconds = _fit(trivial, searcher, space, 200, storage, [searcher.callback])
                else:
                    _, seconds = _fit(trivial, OptunaSearch(seed=0), space, 200, storage)
                times[name].append(seconds)
            results["trivial_200"] = {
                "graded_s": times["graded"], "optuna_s": times["optuna"],
                "ratio": sum(times["graded"]) / sum(times["optuna"]),
            }
    finally:
        ray.shutdown()
    return results


# ----- many trials at once through real tune.Tuner ---------------------------------------------

# mostly_fail: in the simulation at W = 16 the package beats OptunaSearch in 8 of 10 seeds
# (llm_serving, the issue's own problem, only in 6 of 10: a few real seeds could not tell).
CONCURRENT_PROBLEM, CONCURRENT_SEEDS, CONCURRENT_W, CONCURRENT_TIMEOUT_S = "mostly_fail", (0, 1, 2, 3, 4), 16, 10.0


def _problem_trainable(timeout_s: float):
    def trainable(config: Dict[str, Any]) -> None:
        from benchmarks.published import ALL_PROBLEMS

        outcome = ALL_PROBLEMS[CONCURRENT_PROBLEM].evaluate(config)
        time.sleep(max(outcome.fraction, 0.02) * timeout_s)
        if outcome.failed:
            raise RuntimeError(outcome.error)
        tune.report({"value": outcome.value})

    return trainable


def run_concurrency_check(timeout_s: float = CONCURRENT_TIMEOUT_S) -> Dict[str, Any]:
    """16 trials at once on a local Ray that declares 16 GPUs (one per trial), each sleeping for
    its outcome's share of a ``timeout_s`` timeout, for six timeouts of wall time (the
    simulation's budget at W = 16): the best value each method found, per seed. The seeds
    alternate between the methods, so drift over the session touches both alike."""
    from benchmarks.published import ALL_PROBLEMS

    problem = ALL_PROBLEMS[CONCURRENT_PROBLEM]
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    ray.init(num_cpus=CONCURRENT_W, num_gpus=CONCURRENT_W, include_dashboard=False, logging_level=logging.ERROR)
    wall_s = 6 * timeout_s
    results: Dict[str, Any] = {"problem": CONCURRENT_PROBLEM, "seeds": list(CONCURRENT_SEEDS),
                               "workers": CONCURRENT_W, "timeout_s": timeout_s, "wall_s": wall_s}
    trainable = tune.with_resources(_problem_trainable(timeout_s), {"cpu": 1, "gpu": 1})
    try:
        with tempfile.TemporaryDirectory() as storage:
            for seed in CONCURRENT_SEEDS:
                for name in ("graded_optuna", "optuna_search"):
                    if name == "graded_optuna":
                        searcher = GradedPenaltySearcher("optuna", trial_timeout_s=timeout_s, seed=seed)
                        callbacks = [searcher.callback]
                    else:
                        searcher, callbacks = OptunaSearch(seed=seed), []
                    tuner = tune.Tuner(
                        trainable, param_space=problem.space,
                        tune_config=tune.TuneConfig(metric="value", mode=problem.mode, search_alg=searcher,
                                                    num_samples=100000, time_budget_s=wall_s,
                                                    max_concurrent_trials=CONCURRENT_W, reuse_actors=True),
                        run_config=tune.RunConfig(storage_path=storage, callbacks=callbacks, verbose=0),
                    )
                    grid = tuner.fit()
                    values = [r.metrics["value"] for r in grid if r.error is None and "value" in r.metrics]
                    best = (max(values) if problem.mode == "max" else min(values)) if values else None
                    entry = results.setdefault(name, {"regret": [], "trials": [], "fail_share": []})
                    entry["regret"].append(problem.regret(best))
                    entry["trials"].append(len(grid))
                    entry["fail_share"].append(sum(r.error is not None for r in grid) / max(1, len(grid)))
    finally:
        ray.shutdown()
    return results
