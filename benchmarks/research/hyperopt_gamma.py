"""Why the HyperOpt backend lost to Ray's own ``HyperOptSearch`` on the recorded llama-server
space, and the one setting that replaces it (issue 34, item 5).

The backend is ``HyperOptSearch`` with the package's failures told, 10 random start-up trials
and ``gamma=1.0``; Ray's defaults are 20 and 0.25. Each of the two settings is changed alone:

    python -m benchmarks.research.hyperopt_gamma space --workers 1 4 16      # the recorded space, 30 seeds
    python -m benchmarks.research.hyperopt_gamma problems --workers 1 16     # the benchmark's problems, 20 seeds
    python -m benchmarks.research.hyperopt_gamma space --workers 1 4 16 --variants b10_g1.0,backend   # some variants

Each prints, per cell, the variant's seeds better/worse/level against ``HyperOptSearch`` as it
ships (failures dropped) and the sign test's p; ``problems`` also against the backend as it was.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any, Callable, Dict, List, Optional

from benchmarks.concurrency_report import paired_counts, sign_test

#: (random start-up trials, gamma) of each variant of the backend; ``"backend"`` is the package's
#: backend as it is built (10 and 1.0, its good group counted over the successes since 0.6).
VARIANTS = {"b10_g1.0": (10, 1.0), "b20_g1.0": (20, 1.0), "b10_g0.25": (10, 0.25), "b20_g0.25": (20, 0.25),
            "backend": None}


def _space_catalog() -> Dict[str, Callable[[int], Any]]:
    from ray.tune.search.hyperopt import HyperOptSearch

    from benchmarks.serving_space import replay
    from ray_graded_penalty import GradedPenaltySearcher

    def variant(settings: Optional[tuple]) -> Callable[[int], Any]:
        def make(seed: int) -> Any:
            inner = "hyperopt" if settings is None else HyperOptSearch(
                random_state_seed=seed, n_initial_points=settings[0], gamma=settings[1])
            return replay.SLOMethod(GradedPenaltySearcher(
                inner, seed=seed if settings is None else None, trial_timeout_s=replay.TIMEOUT_S,
                slos=list(replay.SLOS)), "graded", slos=replay.SLOS)
        return make

    return {"hyperopt_search": replay.methods()["hyperopt_search"],
            **{name: variant(settings) for name, settings in VARIANTS.items()}}


def _problem_methods() -> Dict[str, Callable[[int], Any]]:
    from ray.tune.search.hyperopt import HyperOptSearch

    from benchmarks.methods import TIMEOUT_S, Method, _dropped, _graded
    from ray_graded_penalty import GradedPenaltySearcher

    def variant(settings: Optional[tuple]) -> Callable[[int], Any]:
        def make(seed: int) -> Any:
            if settings is None:
                return Method(GradedPenaltySearcher("hyperopt", seed=seed, trial_timeout_s=TIMEOUT_S), _graded)
            return Method(GradedPenaltySearcher(HyperOptSearch(
                random_state_seed=seed, n_initial_points=settings[0], gamma=settings[1]), trial_timeout_s=TIMEOUT_S),
                _graded)
        return make

    return {"hyperopt_search": lambda seed: Method(HyperOptSearch(random_state_seed=seed), _dropped),
            **{name: variant(settings) for name, settings in VARIANTS.items()}}


#: The benchmark problems' methods, for the worker processes of ``run_grid``.
METHODS = _problem_methods()


def _space_job(args: tuple) -> Dict[str, Any]:
    from benchmarks.serving_space import replay

    cost, method, seed, workers = args
    return replay.run_one(cost, method, seed, workers, catalog=_space_catalog())


def _row(cell: Dict[str, Any], name: str, ours: List[float], base: List[float],
         lower_is_better: bool) -> Dict[str, Any]:
    if not lower_is_better:  # paired_counts counts the lower as the better
        ours, base = [-x for x in ours], [-x for x in base]
    better, worse, level = (int(n) for n in paired_counts(ours, base))
    return {**cell, "variant": name, "better": better, "worse": worse, "level": level, "p": sign_test(better, worse)}


def space(seeds: int, workers: List[int], processes: int, variants: List[str]) -> List[Dict[str, Any]]:
    from benchmarks.pool import process_pool
    from benchmarks.serving_space import replay

    names = ["hyperopt_search", *variants]
    jobs = [(c, m, s, w) for c in replay.COSTS for w in workers for m in names for s in range(seeds)]
    with process_pool(processes) as pool:
        runs = list(pool.map(_space_job, jobs, chunksize=1))
    rows = []
    for cost in replay.COSTS:
        for w in workers:
            final = {m: [replay.best(r) for r in sorted((r for r in runs if (r["cost"], r["workers"], r["method"])
                                                         == (cost, w, m)), key=lambda r: r["seed"])] for m in names}
            for name in variants:
                rows.append(_row({"where": f"space/{cost}", "workers": w,
                                  "median": statistics.median(final[name]),
                                  "median_hyperopt_search": statistics.median(final["hyperopt_search"])},
                                 name, final[name], final["hyperopt_search"], lower_is_better=False))
    return rows


def problems(seeds: int, workers: List[int], processes: int, variants: List[str]) -> List[Dict[str, Any]]:
    from benchmarks.asynchronous import run_grid
    from benchmarks.pool import process_pool
    from benchmarks.searchers import PROBLEMS

    names = ["hyperopt_search", *(v for v in variants if v != "b10_g1.0"), "b10_g1.0"]
    cells = [(p, m, s, w, 1.0) for p in PROBLEMS for w in workers for m in names for s in range(seeds)]
    with process_pool(processes) as pool:
        summaries = run_grid(cells, pool, "benchmarks.research.hyperopt_gamma:METHODS")
    rows = []
    for problem, by_w in summaries.items():
        for w, methods in by_w.items():
            regrets = {m: [float(r) for r in s["regret_by_seed@1"]] for m, s in methods.items()}
            for name in variants:
                for base in ("hyperopt_search", "b10_g1.0"):
                    if base != name:
                        rows.append(_row({"where": problem, "workers": int(w), "against": base,
                                          "median": statistics.median(regrets[name]),
                                          "median_base": statistics.median(regrets[base])},
                                         name, regrets[name], regrets[base], lower_is_better=True))
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["space", "problems"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--seeds", type=int, default=None, help="30 on the space, 20 on the problems")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"of {','.join(VARIANTS)}")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    run = space if args.what == "space" else problems
    rows = run(args.seeds or (30 if args.what == "space" else 20), args.workers, args.processes,
               args.variants.split(","))
    for row in rows:
        print(json.dumps(row))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
