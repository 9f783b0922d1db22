"""Run the benchmarks and write RESULTS.md and the plots next to it.

    python -m benchmarks.run            # the full run (see RESULTS.md for how long it took)
    python -m benchmarks.run --quick    # a smoke run: a few seeds and trials, no Tuner runs

The fast loop drives each method's searcher directly (suggest, then on_trial_complete or
record_failure), sequentially, so a seed fixes every run. asynchronous.py simulates W trials
at once (W = 1, 4, 16, 64) on the same problems and six published ones (section "more_seeds":
the Optuna backend and OptunaSearch again on ten more seeds). overhead.py times the
searchers; tuner_check.py runs problems end to end through real ``tune.Tuner``, two trials at
a time and sixteen.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from typing import Any, Dict, List, Optional, Tuple

from benchmarks.asynchronous import MAIN, grid, run_grid
from benchmarks.methods import CATALOG, METHODS, load_catalog
from benchmarks.pool import process_pool
from benchmarks.problems import PROBLEMS, Problem
from benchmarks.results_page import load_results

HERE = os.path.dirname(os.path.abspath(__file__))

CHECKPOINTS = (25, 50, 100)



def run_one(problem_name: str, method_name: str, seed: int, trials: int, catalog: str = CATALOG) -> Dict[str, Any]:
    """One method (named in ``catalog``, see methods.py) on one problem with one seed: the per-trial record."""
    problem = PROBLEMS[problem_name]
    method = load_catalog(catalog)[method_name](seed)
    method.setup(problem.space, problem.mode)
    record = []
    for i in range(trials):
        trial_id = f"{seed}-{i}"
        config = method.suggest(trial_id)
        if not isinstance(config, dict):  # the searcher has finished (Searcher.FINISHED)
            break
        outcome = problem.evaluate(config)
        method.tell(trial_id, outcome)
        record.append({
            "value": outcome.value,
            "fraction": outcome.fraction,
            "in_region": bool(problem.region(config)) if problem.region else None,
        })
    return {"problem": problem_name, "method": method_name, "seed": seed, "trials": record}


def best_curve(problem: Problem, trials: List[Dict[str, Any]]) -> List[Optional[float]]:
    best, curve = None, []
    for t in trials:
        if t["value"] is not None:
            better = best is None or (t["value"] > best if problem.mode == "max" else t["value"] < best)
            best = t["value"] if better else best
        curve.append(best)
    return curve


def _quantile(values: List[float], p: float) -> float:
    """Linear-interpolated quantile of sorted ``values`` that tolerates infinities."""
    position = p * (len(values) - 1)
    low, high = math.floor(position), math.ceil(position)
    a, b, weight = values[low], values[high], position - low
    if weight == 0 or a == b:
        return a
    if not (math.isfinite(a) and math.isfinite(b)):
        return a if weight < 0.5 else b
    return a + (b - a) * weight


def quartiles(values: List[float]) -> Tuple[float, float, float]:
    values = sorted(values)
    return _quantile(values, 0.25), _quantile(values, 0.5), _quantile(values, 0.75)


def summarize(problem: Problem, runs: List[Dict[str, Any]], trials: int) -> Dict[str, Any]:
    """The metrics of one method on one problem, over its seeds."""
    curves = [best_curve(problem, r["trials"]) for r in runs]
    worst = -math.inf if problem.mode == "max" else math.inf
    summary: Dict[str, Any] = {"seeds": len(runs)}
    for n in [c for c in CHECKPOINTS if c <= trials] or [trials]:
        # A seed with no success yet counts as the worst value, so medians stay comparable.
        summary[f"best@{n}"] = quartiles([c[n - 1] if c[n - 1] is not None else worst for c in curves])
        summary[f"no_success@{n}"] = sum(c[n - 1] is None for c in curves)
        summary[f"by_seed@{n}"] = [c[n - 1] if c[n - 1] is not None else worst for c in curves]
    if problem.target is not None:
        reach = []
        for c in curves:
            hit = next((i + 1 for i, b in enumerate(c) if b is not None and (
                b >= problem.target if problem.mode == "max" else b <= problem.target)), None)
            reach.append(hit)
        reached = [r for r in reach if r is not None]
        # Not reached counts as budget + 1, so the median is honest while most seeds reach it.
        summary["to_target"] = statistics.median([r if r is not None else trials + 1 for r in reach])
        summary["reached"] = len(reached)
    summary["wasted"] = statistics.median(
        sum(t["fraction"] for t in r["trials"] if t["value"] is None) for r in runs
    )
    later = [t for r in runs for t in r["trials"][10:]]
    summary["fail_share_after_10"] = sum(t["value"] is None for t in later) / max(1, len(later))
    if problem.region is not None:
        half = trials // 2
        shares = [sum(t["in_region"] for t in r["trials"][half:]) / (trials - half) for r in runs]
        summary["later_region_share"] = statistics.mean(shares)
    summary["curve_quartiles"] = [
        quartiles([c[i] if c[i] is not None else worst for c in curves]) for i in range(trials)
    ]
    if problem.region is not None:
        summary["region_curve"] = [
            statistics.mean(sum(t["in_region"] for t in r["trials"][max(0, i - 9): i + 1]) / min(10, i + 1)
                            for r in runs)
            for i in range(trials)
        ]
    return summary


SECTIONS = ("sequential", "concurrent", "more_seeds", "slo", "overhead", "tuner")
MORE_SEEDS_WORKERS = (1, 4, 16, 64)  # the Optuna pair only: HyperOpt's runs at W = 64 are the slow ones
PARTS = ("tuner16",)  # one part of a section, rerun alone: the 16-at-once Tuner check of "tuner"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 seeds, 12 trials, no Tuner runs")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--out", default=HERE, help="where RESULTS.md and the plots go")
    parser.add_argument("--workers", type=int, default=2, help="processes running the simulations")
    parser.add_argument("--concurrent-seeds", type=int, default=10, help="seeds of the W-trials-at-once simulation")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"sections to run, of {','.join(SECTIONS)}; the others come from --merge")
    parser.add_argument("--merge", default=None, help="a results.json whose sections are kept unless rerun")
    parser.add_argument("--methods", default=None,
                        help="rerun only these methods (comma-separated) of the concurrent section; "
                        "the other methods' results come from --merge")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials = 2, 12
    only = set(filter(None, args.only.split(",")))  # --only "" --merge F: RESULTS.md from F alone
    unknown = only - set(SECTIONS) - set(PARTS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {list(SECTIONS + PARTS)}")
    os.makedirs(args.out, exist_ok=True)
    data: Dict[str, Any] = load_results(args.merge) if args.merge else {}
    data.setdefault("timing", {})
    if only or "machine" not in data:  # rendering a merged file alone keeps the machine it was run on
        data["machine"] = machine()

    def timed(name: str, fn, timing_name: Optional[str] = None, store=None):
        started = time.time()
        (store or data)[name] = fn()
        command = "python -m benchmarks.run" + (" --quick" if args.quick else "") + (
            f" --only {args.only}" if only != set(SECTIONS) else "") + (
            f" --methods {args.methods}" if args.methods and name == "concurrent" else "") + "".join(
            f" --{key.replace('_', '-')} {getattr(args, key)}" for key in ("seeds", "concurrent_seeds", "out")
            if getattr(args, key) != parser.get_default(key) and not (args.quick and key == "seeds"))
        data["timing"][timing_name or name] = {"s": time.time() - started, "command": command,
                                "date": time.strftime("%Y-%m-%d")}

    with process_pool(args.workers) as pool:
        if "sequential" in only:
            timed("sequential", lambda: _sequential(args, pool))
        if "concurrent" in only and args.methods:
            timed("concurrent", lambda: _rerun_methods(data.get("concurrent"), args, pool),
                  f"concurrent, {args.methods} rerun")
        elif "concurrent" in only:
            timed("concurrent", lambda: _concurrent(args, pool))
        if "more_seeds" in only:
            timed("more_seeds", lambda: _more_seeds(args, pool))
        if "slo" in only:
            from benchmarks.slo_bench import summarize_slo, summarize_slo_concurrent

            timed("slo", lambda: {
                "sequential": summarize_slo(1 if args.quick else args.seeds, args.trials, pool),
                "concurrent": summarize_slo_concurrent(1 if args.quick else args.concurrent_seeds,
                                                       4 if args.quick else 16, pool),
            })
    if "overhead" in only:
        from benchmarks.overhead import measure_overhead

        timed("overhead", lambda: measure_overhead(quick=args.quick))
    if "tuner" in only and not args.quick:
        from benchmarks.tuner_check import run_concurrency_check, run_tuner_check

        timed("tuner", lambda: {"two_at_a_time": run_tuner_check(), "sixteen": run_concurrency_check()})
    elif "tuner16" in only and not args.quick:
        from benchmarks.tuner_check import run_concurrency_check

        timed("sixteen", run_concurrency_check, "tuner16", store=data.setdefault("tuner", {}))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(data, f, default=str)
    missing = [s for s in SECTIONS if s not in data and not (s == "tuner" and args.quick)]
    if missing:
        print(f"wrote {os.path.join(args.out, 'results.json')}; no RESULTS.md: no results for {missing} yet "
              f"(run them with --only {','.join(missing)} --merge that results.json)")
        return 0

    from benchmarks.results_page import write_page

    print(f"wrote {write_page(data, args.out)}")
    return 0


def _concurrent(args: argparse.Namespace, pool: Any, main: tuple = MAIN) -> Dict[str, Any]:
    """The concurrent grid (of ``main``'s methods): a smoke run with --quick."""
    if args.quick:
        return run_grid(grid(1, workers=(1, 4), scale=0.2, main=main), pool)
    return run_grid(grid(args.concurrent_seeds, main=main), pool)


def _more_seeds(args: argparse.Namespace, pool: Any) -> Dict[str, Any]:
    """The Optuna backend and OptunaSearch on as many new seeds as the concurrent section has,
    following them, at ``MORE_SEEDS_WORKERS``: a smoke run with --quick."""
    from benchmarks.concurrency_report import MORE_SEEDS_PAIR

    if args.quick:
        return run_grid(grid(1, workers=(1, 4), scale=0.2, main=MORE_SEEDS_PAIR, first_seed=1), pool)
    return run_grid(grid(args.concurrent_seeds, workers=MORE_SEEDS_WORKERS, main=MORE_SEEDS_PAIR,
                         first_seed=args.concurrent_seeds), pool)


def _rerun_methods(previous: Optional[Dict[str, Any]], args: argparse.Namespace, pool: Any) -> Dict[str, Any]:
    """The concurrent section with ``args.methods`` rerun and every other method kept as it was."""
    if not previous:
        raise SystemExit("--methods reruns part of the concurrent section: give the rest with --merge")
    names = args.methods.split(",")
    unknown = set(names) - set(MAIN)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; choose from {list(MAIN)}")
    fresh = _concurrent(args, pool, main=tuple(names))
    for problem, by_w in fresh.items():
        for w, by_method in by_w.items():
            previous.setdefault(problem, {}).setdefault(w, {}).update(by_method)
    return previous


def sequential(seeds: int, trials: int, pool: Any, methods: List[str],
               catalog: str = CATALOG) -> Dict[str, Dict[str, Any]]:
    """Every method of ``methods`` on every problem, ``seeds`` seeds each: summaries keyed
    ``problem -> method``."""
    jobs = [(p, m, s, trials, catalog) for p in PROBLEMS for m in methods for s in range(seeds)]
    runs = list(pool.map(run_one, *zip(*jobs)))
    return {
        problem_name: {
            m: summarize(problem, [r for r in runs if r["problem"] == problem_name and r["method"] == m], trials)
            for m in methods
        }
        for problem_name, problem in PROBLEMS.items()
    }


def _sequential(args: argparse.Namespace, pool: Any) -> Dict[str, Any]:
    return {"summaries": sequential(args.seeds, args.trials, pool, list(METHODS)), "seeds": args.seeds,
            "trials": args.trials}


def machine() -> Dict[str, str]:
    import hyperopt
    import optuna
    import ray

    return {
        "python": platform.python_version(),
        "ray": ray.__version__,
        "optuna": optuna.__version__,
        "hyperopt": hyperopt.__version__,
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
