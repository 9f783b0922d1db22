"""What was tried for the Optuna backend's stuck runs with many trials at once (not adopted).

On 20 seeds at W = 16 the Optuna backend is behind ``OptunaSearch`` on ``pressure_vessel``
(1.14x): 7 seeds end with a regret of 8,700 to 19,900 where the others end at 1,300 to 3,300.
``python -m benchmarks.research.optuna_variants --stuck`` shows what those seeds share: their best design's
head thickness is 6 to 15 times the least its constraint allows (the good seeds: 1.1 to 2.3
times), and none of their trials in the second half of the run fails on that constraint.

Each variant changes what Optuna's TPE is shown while other trials are running, and only then
(one trial at a time each is the backend as it ships; a test checks it):

- ``opt_hedge_2`` / ``_3`` / ``_4``: every 2nd, 3rd or 4th suggestion is sampled from the
  study with the failures left out, as ``OptunaSearch`` sees it (a portfolio of the two models);
- ``opt_failures_as_many_as_successes``: the model keeps only as many failures as successes,
  the latest told (``..._best``: the best graded, those nearest to succeeding);
- ``opt_random_until_10_successes``: random suggestions until 10 trials have succeeded, as
  ``OptunaSearch`` does (it counts only successes towards its 10 random start-up trials).

Everything else is the backend's TPE: joint, constant liar, ``GoodGroupSize``. This module
subclasses Optuna's ``TPESampler`` and overrides its private ``_sample`` to show it a filtered
study (and, for the random start, its random sampler); the package is used through its public
API only.

Run: ``python -m benchmarks.research.optuna_variants`` (20 seeds, W = 16, the ten problems with a best
value; about 10 minutes on 2 cores) prints the table of median regrets;
``python -m benchmarks.research.optuna_variants --stuck`` the per-seed table for ``pressure_vessel``
(about 15 seconds).
"""

from __future__ import annotations

import statistics
import sys
import warnings
from typing import Any, Callable, Dict, List, Optional

import optuna
from ray.tune.search.optuna import OptunaSearch

from benchmarks.methods import TIMEOUT_S, Method, _graded
from ray_graded_penalty import GoodGroupSize, GradedPenaltySearcher

PROBLEMS = ("branin_discs", "llm_serving", "mostly_fail", "latency_ms", "pressure_vessel", "welded_beam",
            "spring", "speed_reducer", "three_bar_truss", "gramacy")
WORKERS, SEEDS = 16, 20


def _violation(trial: optuna.trial.FrozenTrial) -> float:
    """How far a told trial is infeasible (0 for a success): the package's constraint value."""
    return sum(v for v in trial.constraints.values() if v > 0)  # Optuna 5.0, the pins


class _Filtered:
    """The study as the sampler reads it, with some told failures left out (all else delegated)."""

    def __init__(self, study: optuna.Study, keep: Callable[[List[Any], int], set]) -> None:
        self._study = study
        self._keep = keep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> List[Any]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        failures = [t for t in done if _violation(t) > 0]
        dropped = {t.number for t in failures} - self._keep(failures, len(done) - len(failures))
        return [t for t in trials if t.number not in dropped]


def _none(failures: List[Any], successes: int) -> set:
    return set()


def _latest(failures: List[Any], successes: int) -> set:
    return {t.number for t in sorted(failures, key=lambda t: -t.number)[:successes]}


def _best_graded(failures: List[Any], successes: int) -> set:
    return {t.number for t in sorted(failures, key=_violation)[:successes]}


class _VariantTPE(optuna.samplers.TPESampler):
    """The backend's TPE, shown a filtered study on some suggestions while others run, or
    random while others run and fewer than ``random_until`` trials have succeeded."""

    def __init__(self, keep: Optional[Callable[[List[Any], int], set]] = None, every: int = 1,
                 random_until: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keep, self._every, self._count, self._random_until = keep, every, 0, random_until

    def _random(self) -> bool:
        return bool(self._gamma.pending) and self._gamma.successes < self._random_until

    def sample_relative(self, study: optuna.Study, trial: Any, search_space: Dict[str, Any]) -> Dict[str, Any]:
        return {} if self._random() else super().sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: Any, name: str, distribution: Any) -> Any:
        if self._random():
            return self._random_sampler.sample_independent(study, trial, name, distribution)
        return super().sample_independent(study, trial, name, distribution)

    def _sample(self, study: optuna.Study, trial: Any, search_space: Dict[str, Any]) -> Dict[str, Any]:
        gamma = self._gamma
        if self._keep is not None and gamma.pending and gamma.successes:
            self._count += 1
            if self._count % self._every == 0:
                return super()._sample(_Filtered(study, self._keep), trial, search_space)
        return super()._sample(study, trial, search_space)


def _variant(keep: Optional[Callable[[List[Any], int], set]] = None, every: int = 1,
             random_until: int = 0) -> Callable[[int], Method]:
    def build(seed: int) -> Method:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = _VariantTPE(keep, every, random_until, seed=seed, multivariate=True, constant_liar=True,
                                  gamma=GoodGroupSize())
        searcher = GradedPenaltySearcher(OptunaSearch(sampler=sampler), trial_timeout_s=TIMEOUT_S)
        return Method(searcher, _graded)

    return build


OPTUNA_VARIANTS: Dict[str, Callable[[int], Method]] = {
    **{f"opt_hedge_{k}": _variant(_none, every=k) for k in (2, 3, 4)},
    "opt_failures_as_many_as_successes": _variant(_latest),
    "opt_failures_as_many_as_successes_best": _variant(_best_graded),
    "opt_random_until_10_successes": _variant(random_until=10),
}


def _run(args: tuple) -> Dict[str, Any]:
    from benchmarks.asynchronous import simulate
    from benchmarks.methods import ALL_METHODS

    problem, method, seed, workers = args
    return simulate(problem, method, seed, workers, methods={**ALL_METHODS, **OPTUNA_VARIANTS})


def table(seeds: int = SEEDS) -> List[str]:
    """Median regret per problem and method at W = 16, and its ratio to ``OptunaSearch``'s."""
    from benchmarks.asynchronous import regret_at
    from benchmarks.concurrency_report import ratio
    from benchmarks.pool import process_pool

    names = ["graded_optuna", "optuna_search", *OPTUNA_VARIANTS]
    jobs = [(p, m, s, WORKERS) for p in PROBLEMS for m in names for s in range(seeds)]
    regrets: Dict[tuple, List[float]] = {}
    with process_pool(2) as pool:
        for run in pool.map(_run, jobs, chunksize=1):
            regrets.setdefault((run["problem"], run["method"]), []).append(regret_at(run))
    lines = ["| problem | " + " | ".join(f"`{m}`" for m in names) + " |", "|---|" + "---|" * len(names)]
    for p in PROBLEMS:
        medians = {m: statistics.median(regrets[(p, m)]) for m in names}
        base = medians["optuna_search"]
        cells = [f"{medians[m]:.4g}" + ("" if m == "optuna_search" else f" ({ratio(medians[m], base):.2f}x)")
                 for m in names]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return lines


def stuck(seeds: int = SEEDS, methods: tuple = ("graded_optuna", "optuna_search")) -> List[str]:
    """Per seed on ``pressure_vessel`` at W = 16: the regret, the best design's shell and head
    thickness over the least their constraints allow, and how many of the trials started in
    the second half of the run failed on the head's constraint (g2)."""
    from benchmarks.asynchronous import regret_at
    from benchmarks.published import SPECS

    function = SPECS["pressure_vessel"][0]
    lines = ["| method | seed | regret | shell / least | head / least | late trials failing on the head |",
             "|---|---|---|---|---|---|"]
    for method in methods:
        for seed in range(seeds):
            run = _run(("pressure_vessel", method, seed, WORKERS))
            designs = [[t["config"][f"x{i}"] for i in range(1, 5)] for t in run["trials"]]
            best = min((d for d, t in zip(designs, run["trials"]) if t["value"] is not None),
                       key=lambda d: function(d)[0])
            late = [function(d)[1] for d, t in zip(designs, run["trials"]) if t["start"] >= run["horizon"] / 2]
            head = sum(max(g) > 0 and g.index(max(g)) == 1 for g in late)
            ts, th, r, _ = best
            lines.append(f"| {method} | {seed} | {regret_at(run):.0f} | {ts / (0.0193 * r):.2f} | "
                         f"{th / (0.00954 * r):.2f} | {head} of {len(late)} |")
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    print("\n".join(stuck() if "--stuck" in argv else table()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
