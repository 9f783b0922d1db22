"""Overhead: time and memory of suggest + on_trial_complete per trial, against Ray's searchers.

Each searcher gets a history of N finished trials, half of them failed, injected straight
into its model (driving 5,000 TPE suggestions first would take hours here), then tells
REPEATS more trials, alternating success and failure, timed one by one. The graded
searchers' models hold the failures as completed trials (that is the point of the package,
and it makes their TPE see twice the trials Ray's searchers see); Ray's searchers hold them as
failed trials they ignore. The ``*_told`` columns are Ray's searchers told every failure as a
plain value: the same history as the package's TPE, so what differs from them is the package's
own cost. Time is measured first, untraced (tracemalloc slows every allocation several times
over); memory in a second pass over a fresh copy: the peak traced while the same trials are
told, and what the package's own bookkeeping keeps per finished trial.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from typing import Any, Dict, List

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from ray import tune
from ray.tune.search.hyperopt import HyperOptSearch
from ray.tune.search.optuna import OptunaSearch

from benchmarks.methods import TIMEOUT_S
from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.backends.hyperopt import HyperOptView
from ray_graded_penalty.backends.optuna import OptunaView

SPACE = {f"x{i}": tune.uniform(0, 1) for i in range(4)}
REPEATS = 40
KINDS = ("graded_optuna", "optuna_search", "optuna_search_told",
         "graded_hyperopt", "hyperopt_search", "hyperopt_search_told")


def _value(point: Dict[str, float]) -> float:
    return -sum((v - 0.3) ** 2 for v in point.values())


def _history(n: int, seed: int = 0) -> List[Dict[str, Any]]:
    rng = random.Random(seed)
    return [{"params": {k: rng.random() for k in SPACE}, "failed": i % 2 == 1} for i in range(n)]


def _optuna_inject(search: OptunaSearch, history: List[Dict[str, Any]], graded: bool, told: bool) -> None:
    distributions = {k: FloatDistribution(0, 1) for k in SPACE}
    trials = []
    for h in history:
        if not h["failed"]:
            trials.append(create_trial(params=h["params"], distributions=distributions, value=_value(h["params"])))
        elif graded:  # as the package tells it: a completed, infeasible trial
            trials.append(create_trial(
                params=h["params"], distributions=distributions, value=-5.0,
                system_attrs={"constraints:graded_failure": 1000.0},
            ))
        elif told:  # a plain completed value, no constraint
            trials.append(create_trial(params=h["params"], distributions=distributions, value=-5.0))
        else:  # as Ray tells it: a failed trial TPE never looks at
            trials.append(create_trial(params=h["params"], distributions=distributions, state=TrialState.FAIL))
    OptunaView(search).study.add_trials(trials)


def _hyperopt_inject(search: HyperOptSearch, history: List[Dict[str, Any]], graded: bool, told: bool) -> None:
    view = HyperOptView(search)
    for h in history:
        if h["failed"] and not (graded or told):
            continue  # as Ray leaves it: an errored trial, which HyperOpt's TPE never reads
        view.insert_done(h["params"], 5.0 if h["failed"] else -_value(h["params"]))


def _build(kind: str, n: int):
    graded = kind.startswith("graded")
    told = kind.endswith("_told")  # Ray's searcher, told the failures as plain values
    backend = "optuna" if "optuna" in kind else "hyperopt"
    if graded:
        searcher = GradedPenaltySearcher(backend, trial_timeout_s=TIMEOUT_S, seed=0)
        searcher.set_search_properties("value", "max", SPACE)
        base = searcher.searcher
    else:
        if backend == "optuna":
            searcher = OptunaSearch(seed=0)
        elif told:  # the same TPE settings as the package's HyperOpt backend
            searcher = HyperOptSearch(random_state_seed=0, n_initial_points=10, gamma=1.0)
        else:
            searcher = HyperOptSearch(random_state_seed=0)
        searcher.set_search_properties("value", "max", SPACE)
        base = searcher
    inject = _optuna_inject if backend == "optuna" else _hyperopt_inject
    inject(base, _history(n), graded, told)
    return searcher


def _tell_one(searcher, kind: str, i: int) -> None:
    trial_id = f"new{i}"
    config = searcher.suggest(trial_id)
    if i % 2 == 0:
        searcher.on_trial_complete(trial_id, result={"value": _value(config)})
    elif kind.startswith("graded"):
        searcher.on_trial_complete(trial_id, error=True)
        searcher.record_failure(trial_id, elapsed_s=100.0, error="CUDA out of memory")
    elif kind.endswith("_told"):
        searcher.on_trial_complete(trial_id, result={"value": -5.0})
    else:
        searcher.on_trial_complete(trial_id, error=True)


def time_per_trial(kind: str, n: int) -> Dict[str, float]:
    searcher = _build(kind, n)
    durations = []
    gc.collect()
    for i in range(REPEATS):
        start = time.perf_counter()
        _tell_one(searcher, kind, i)
        durations.append(time.perf_counter() - start)
    searcher = _build(kind, n)  # memory: a fresh copy told the same trials, traced
    gc.collect()
    tracemalloc.start()
    for i in range(REPEATS):
        _tell_one(searcher, kind, i)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"ms": 1000 * statistics.median(durations), "peak_mb": peak / 2**20}


def bookkeeping_bytes_per_trial(trials: int) -> float:
    """Memory the package keeps per finished trial, beyond what its inner searcher keeps."""
    def run(graded: bool) -> int:
        sampler = optuna.samplers.RandomSampler(seed=0)
        inner = OptunaSearch(sampler=sampler)
        searcher = GradedPenaltySearcher(inner, trial_timeout_s=TIMEOUT_S) if graded else inner
        searcher.set_search_properties("value", "max", SPACE)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(trials):
            config = searcher.suggest(str(i))
            if graded and i % 2:
                searcher.record_failure(str(i), elapsed_s=10.0, error="OOM")
            else:
                searcher.on_trial_complete(str(i), result={"value": _value(config)})
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return after - before

    return (run(True) - run(False)) / trials


def measure_overhead(quick: bool = False) -> Dict[str, Any]:
    sizes = (20,) if quick else (100, 1000, 5000)
    table = {n: {kind: time_per_trial(kind, n) for kind in KINDS} for n in sizes}
    return {
        "sizes": list(sizes),
        "repeats": REPEATS,
        "table": table,
        "bookkeeping_bytes_per_trial": bookkeeping_bytes_per_trial(50 if quick else 2000),
    }
