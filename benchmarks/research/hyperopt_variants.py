"""What was tried for the HyperOpt backend with many trials at once (not adopted; see reading.md).

At W = 64 the HyperOpt backend loses to ``HyperOptSearch`` on ``spring`` and ``speed_reducer``.
Each variant here changes one thing in HyperOpt's TPE while other trials are running, and only
then (one trial at a time each is the backend as it ships):

- ``ho_good_sqrt_successes``: the good group is ``ceil(sqrt(successes))`` trials, HyperOpt's own
  size with the backend's gamma 1.0 counted over the successes (what the Optuna backend's
  ``GoodGroupSize`` does with Optuna's size);
- ``ho_good_quarter_sqrt_successes``: ``ceil(0.25 sqrt(successes))``, HyperOptSearch's gamma;
- ``ho_good_tenth_successes``: ``min(ceil(0.1 successes), 25)``, Optuna's size;
- ``ho_failures_out``: once something has succeeded, HyperOpt's TPE models only the successes
  and the running trials (what HyperOptSearch sees); the failures stay told, out of its model;
- ``ho_failures_out_after_10``: the same once 10 successes exist (the backend's start-up length);
- ``ho_failures_as_many_as_successes``: once something has succeeded, the model keeps only as
  many failures as successes, the latest told (``..._best``: the best-graded ones);
- ``ho_joint_veto``: a joint model of the failures beside HyperOpt's axis-by-axis one. Once
  something has succeeded, HyperOpt's TPE over the successes (as in ``ho_failures_out``) makes
  up to 8 proposals; the first whose 5 nearest finished trials, all parameters at once, are not
  all failures is suggested (else the one with the fewest failures near it).
- ``ho_startup_finished``: random suggestions until 10 trials have *finished*; HyperOpt
  counts a trial towards its start-up once suggested, so with many pending, TPE starts before
  any result is in.

The backend's own start-up (10) and gamma (1.0) are kept in all. This module reaches into
Ray's ``HyperOptSearch`` (its ``algo`` and live-trial map) to swap the split; the package is used
through its public API only.

Run: ``python -m benchmarks.research.hyperopt_variants`` (10 seeds, W = 16 and 64, the four published
problems where the backend misses; about an hour and three quarters on 2 cores). It prints a markdown table.
"""

from __future__ import annotations

import math
import statistics
import sys
from typing import Any, Callable, Dict, List, Optional, Set

import numpy as np
from hyperopt import rand, tpe
from ray.tune.search.hyperopt import HyperOptSearch

from benchmarks.methods import TIMEOUT_S, Method, _graded
from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.backends.hyperopt import HyperOptView

STARTUP, GAMMA = 10, 1.0  # the HyperOpt backend's settings
VETO_PROPOSALS, VETO_NEIGHBOURS = 8, 5  # the joint veto's settings (chosen once, not tuned)
PROBLEMS, WORKERS = ("spring", "speed_reducer", "welded_beam", "pressure_vessel"), (16, 64)


class _WithoutFailures:
    """HyperOpt's trial list with the told failures left out but ``kept`` (everything else delegated)."""

    def __init__(self, trials: Any, failures: Set[int], kept: Set[int] = frozenset()) -> None:
        self._trials = trials
        self.trials = [d for d in trials.trials if d["tid"] not in failures or d["tid"] in kept]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trials, name)

    def __len__(self) -> int:
        return len(self.trials)


def _kept(docs: List[Any], failures: Set[int], successes: int, order: Optional[str]) -> Set[int]:
    """The failures a balanced model keeps: as many as the successes, latest or best-graded."""
    if order is None:
        return set()
    told = [d for d in docs if d["tid"] in failures]
    ranked = sorted(told, key=(lambda d: -d["tid"]) if order == "latest" else (lambda d: d["result"]["loss"]))
    return {d["tid"] for d in ranked[:successes]}


def _points(docs: List[Any], labels: List[str]) -> "np.ndarray":
    """The docs' parameters as rows (HyperOpt stores a ``choice`` as its index)."""
    return np.array([[d["misc"]["vals"][k][0] if d["misc"]["vals"][k] else 0.0 for k in labels]
                     for d in docs], dtype=float)


def _vetoed(new_ids: List[int], domain: Any, trials: Any, successes_only: Any, failures: Set[int],
            seed: int) -> Any:
    """HyperOpt's TPE over the successes proposes; the first of up to ``VETO_PROPOSALS`` whose
    ``VETO_NEIGHBOURS`` nearest finished trials (all parameters at once, each scaled to the
    range told) are not all failures is suggested, else the one with the fewest failures near."""
    labels = list(domain.params)
    done = [d for d in trials.trials if d["result"].get("loss") is not None]
    failed = np.array([d["tid"] in failures for d in done])
    told = _points(done, labels)
    low, span = told.min(axis=0), np.ptp(told, axis=0)
    span = np.where(span > 0, span, 1.0)
    told = (told - low) / span
    best, best_share = None, 2.0
    for i in range(VETO_PROPOSALS):
        docs = tpe.suggest(new_ids, domain, successes_only, (seed + i) % (2**31 - 1),
                           n_startup_jobs=STARTUP, gamma=GAMMA)
        distance = np.linalg.norm(told - (_points(docs, labels)[0] - low) / span, axis=1)
        share = failed[np.argsort(distance)[:VETO_NEIGHBOURS]].mean()
        if share < 1.0:
            return docs
        if share < best_share:
            best, best_share = docs, share
    return best


def _variant(good_group: Optional[Callable[[int], int]] = None, failures_out_after: Optional[int] = None,
             balanced: Optional[str] = None, veto: bool = False, finished_startup: bool = False):
    def build(seed: int) -> Method:
        inner = HyperOptSearch(random_state_seed=seed, n_initial_points=STARTUP, gamma=GAMMA)
        failures: Set[int] = set()

        def tell_failure(method: Method, trial_id: str, outcome: Any) -> None:
            failures.add(HyperOptView(inner).live_tids[trial_id])
            _graded(method, trial_id, outcome)

        def algo(new_ids: List[int], domain: Any, trials: Any, seed_: int) -> Any:
            docs = trials.trials
            pending = sum(d["result"].get("loss") is None for d in docs)
            successes = len(docs) - pending - len(failures)
            gamma = GAMMA
            if pending and successes:
                if failures_out_after is not None and successes >= failures_out_after:
                    trials = _WithoutFailures(trials, failures, _kept(docs, failures, successes, balanced))
                elif good_group is not None:  # HyperOpt's size is min(ceil(gamma sqrt(n)), 25)
                    gamma = (good_group(successes) - 0.5) / math.sqrt(len(docs))
            if finished_startup and len(docs) - pending < STARTUP:
                return rand.suggest(new_ids, domain, trials, seed_)
            if veto and pending and successes:
                return _vetoed(new_ids, domain, trials, _WithoutFailures(trials, failures), failures, seed_)
            return tpe.suggest(new_ids, domain, trials, seed_, n_startup_jobs=STARTUP, gamma=gamma)

        inner.algo = algo
        return Method(GradedPenaltySearcher(inner, trial_timeout_s=TIMEOUT_S), tell_failure)

    return build


HYPEROPT_VARIANTS: Dict[str, Callable[[int], Method]] = {
    "ho_good_sqrt_successes": _variant(good_group=lambda s: math.ceil(math.sqrt(s))),
    "ho_good_quarter_sqrt_successes": _variant(good_group=lambda s: math.ceil(0.25 * math.sqrt(s))),
    "ho_good_tenth_successes": _variant(good_group=lambda s: min(math.ceil(0.1 * s), 25)),
    "ho_failures_out": _variant(failures_out_after=1),
    "ho_failures_out_after_10": _variant(failures_out_after=10),
    "ho_failures_as_many_as_successes": _variant(failures_out_after=1, balanced="latest"),
    "ho_failures_as_many_as_successes_best": _variant(failures_out_after=1, balanced="best"),
    "ho_joint_veto": _variant(veto=True),
    "ho_startup_finished": _variant(finished_startup=True),
}


def _job(args: tuple) -> tuple:
    from benchmarks.asynchronous import regret_at, simulate
    from benchmarks.methods import ALL_METHODS

    problem, method, seed, workers = args
    run = simulate(problem, method, seed, workers, methods={**ALL_METHODS, **HYPEROPT_VARIANTS})
    return problem, workers, method, seed, regret_at(run)


def main(seeds: int = 10) -> None:
    from benchmarks.pool import process_pool

    names = ["graded_hyperopt", "hyperopt_search", *HYPEROPT_VARIANTS]
    jobs = [(p, m, s, w) for p in PROBLEMS for w in WORKERS for m in names for s in range(seeds)]
    regrets: Dict[tuple, List[float]] = {}
    with process_pool(2) as pool:
        for p, w, m, s, regret in pool.map(_job, jobs, chunksize=1):
            regrets.setdefault((p, w, m), []).append(regret)
    print("| problem | W | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for p in PROBLEMS:
        for w in WORKERS:
            print(f"| {p} | {w} | " + " | ".join(f"{statistics.median(regrets[(p, w, m)]):.4g}" for m in names) + " |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
