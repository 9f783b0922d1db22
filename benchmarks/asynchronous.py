"""Many trials at once: an event-driven simulation of W GPU workers, driven as Ray drives them.

Each worker runs one trial at a time. At time 0 the searcher is asked for W configurations;
whenever a trial ends, the searcher is told (a failure as Ray reports it: ``on_trial_complete
(error=True)``, then the callback's details) and asked at once for the configuration that
takes the freed worker. Trials still running stay pending in the searcher, as in Ray. A trial
holds its worker for its outcome's share of the per-trial timeout (a success 0.5 or 0.6 of it,
a failure its time to failure, at least ``MIN_DURATION``: starting a trial is never free).

Every method gets the same GPU time, ``budget(W)`` per-trial timeouts summed over the
workers; all workers are always busy, so that is ``budget(W) / W`` timeouts of wall time, and
only trials that ended by then count. The budget is 60 timeouts (about 100 trials, the size
of the sequential benchmark) and grows to ``6 W`` so that every method gets at least six
timeouts of wall time, six waves of trials, even at W = 64.
"""

from __future__ import annotations

import heapq
import math
import statistics
from typing import Any, Dict, List, Optional

from benchmarks.methods import CATALOG, METHODS, load_catalog
from benchmarks.problems import Problem
from benchmarks.published import ALL_PROBLEMS

WORKERS = (1, 4, 16, 64)
MIN_DURATION = 0.02  # of the timeout: a trial's start-up


def budget(workers: int) -> float:
    """GPU time, in per-trial timeouts summed over workers, every method gets at ``workers``."""
    return float(max(60, 6 * workers))


def simulate(problem_name: str, method_name: str, seed: int, workers: int,
             gpu_budget: Optional[float] = None, methods: Optional[Dict[str, Any]] = None,
             problem: Optional[Problem] = None, min_duration: float = MIN_DURATION) -> Dict[str, Any]:
    """One method on one problem with one seed and ``workers`` trials at once (``problem``:
    one not in the benchmark's list, such as a replayed space, whose durations are its own)."""
    problem = problem or ALL_PROBLEMS[problem_name]
    method = (methods or METHODS)[method_name](seed)
    method.setup(problem.space, problem.mode)
    horizon = (gpu_budget or budget(workers)) / workers
    running: List[tuple] = []
    trials: List[Dict[str, Any]] = []
    finished_search = []  # the searcher said Searcher.FINISHED: as in Tune, it is never asked again
    idle = [0]  # workers left without a trial (the searcher had none, None): asked again when a trial ends

    def launch(now: float) -> None:
        if finished_search:
            return
        index = len(trials)
        trial_id = f"{seed}-{index}"
        config = method.suggest(trial_id)
        if config is None:  # no trial now: as Tune does, ask again at the next event
            idle[0] += 1
            return
        if not isinstance(config, dict):  # the searcher has finished (Searcher.FINISHED): nothing more runs
            finished_search.append(now)
            return
        outcome = problem.evaluate(config)
        end = now + max(outcome.fraction, min_duration)
        heapq.heappush(running, (end, index, trial_id, outcome))
        trials.append({
            "start": now, "end": end, "value": outcome.value, "fraction": outcome.fraction,
            "metrics": outcome.metrics,
            "pending": len(running) - 1, "config": config,
            "edge": bool(problem.edge(config)) if problem.edge else None,
            "in_region": bool(problem.region(config)) if problem.region else None,
        })

    held: List[tuple] = []  # failures waiting for every trial started before them (hold_failures)

    def tell_ready() -> None:
        first_running = min((r[1] for r in running), default=len(trials))
        for item in sorted(held):
            if item[0] < first_running:
                held.remove(item)
                method.tell(item[1], item[2])

    for _ in range(workers):
        launch(0.0)
    while running:
        end, index, trial_id, outcome = heapq.heappop(running)
        if end > horizon:
            break
        trials[index]["told"] = True
        if method.hold_failures and outcome.failed:
            held.append((index, trial_id, outcome))
        else:
            method.tell(trial_id, outcome)
        if method.hold_failures:
            tell_ready()
        waiting, idle[0] = idle[0], 0
        for _ in range(1 + waiting):
            launch(end)
    finished = [t for t in trials if t.get("told")]
    return {"problem": problem_name, "method": method_name, "seed": seed, "workers": workers,
            "horizon": horizon, "trials": finished, "started": len(trials)}


def best_by(problem: Problem, trials: List[Dict[str, Any]], until: float) -> Optional[float]:
    """The best successful value among trials that ended by wall time ``until``."""
    values = [t["value"] for t in trials if t["value"] is not None and t["end"] <= until]
    if not values:
        return None
    return max(values) if problem.mode == "max" else min(values)


def regret_at(run: Dict[str, Any], share: float = 1.0) -> float:
    """The regret of the best value among ``run``'s trials that ended by ``share`` of its wall time."""
    problem = ALL_PROBLEMS[run["problem"]]
    return problem.regret(best_by(problem, run["trials"], share * run["horizon"]))


def summarize(problem: Problem, runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The metrics of one method on one problem at one W, over its seeds."""
    horizon, workers = runs[0]["horizon"], runs[0]["workers"]
    summary: Dict[str, Any] = {"seeds": len(runs), "workers": workers, "gpu_budget": horizon * workers}
    if problem.optimum is not None:
        for share in (0.5, 1.0):
            regrets = [regret_at(r, share) for r in runs]
            summary[f"regret@{share:g}"] = statistics.median(regrets)
            summary[f"regret_by_seed@{share:g}"] = regrets
        summary["no_success"] = sum(best_by(problem, r["trials"], horizon) is None for r in runs)
    if problem.target is not None:
        times = []
        for r in runs:
            hit = next((t["end"] for t in sorted(r["trials"], key=lambda t: t["end"])
                        if t["value"] is not None and (t["value"] >= problem.target if problem.mode == "max"
                                                       else t["value"] <= problem.target)), None)
            times.append(hit * workers if hit is not None else math.inf)
        summary["gpu_to_target"] = statistics.median(times)
        summary["reached"] = sum(math.isfinite(t) for t in times)
    summary["trials"] = statistics.median(len(r["trials"]) for r in runs)
    summary["waves"] = summary["trials"] / workers
    summary["fail_share"] = statistics.mean(
        sum(t["value"] is None for t in r["trials"]) / max(1, len(r["trials"])) for r in runs
    )
    late = [[t for t in r["trials"] if t["start"] >= horizon / 2] for r in runs]
    summary["late_fail_share"] = statistics.mean(
        sum(t["value"] is None for t in ts) / max(1, len(ts)) for ts in late
    )
    if problem.edge is not None:
        summary["late_edge_share"] = statistics.mean(sum(t["edge"] for t in ts) / max(1, len(ts)) for ts in late)
    if problem.region is not None:
        summary["late_region_share"] = statistics.mean(
            sum(t["in_region"] for t in ts) / max(1, len(ts)) for ts in late
        )
    return summary


# ----- the whole concurrent benchmark ------------------------------------------------------

MAIN = ("graded_optuna", "optuna_search", "graded_hyperopt", "hyperopt_search", "random")
BASELINE = {"graded_optuna": "optuna_search", "graded_hyperopt": "hyperopt_search"}


def _job(args: tuple) -> Dict[str, Any]:
    problem_name, method_name, seed, workers, scale, catalog = args
    run = simulate(problem_name, method_name, seed, workers, budget(workers) * scale, load_catalog(catalog))
    return {k: run[k] for k in ("problem", "method", "seed", "workers", "horizon", "trials")}


def grid(seeds: int, workers: tuple = WORKERS, problems: Optional[List[str]] = None, scale: float = 1.0,
         main: tuple = MAIN, first_seed: int = 0) -> List[tuple]:
    """The (problem, method, seed, W, scale) cells of ``main`` at every W, over seeds ``first_seed`` on."""
    problems = problems or list(ALL_PROBLEMS)
    seed_range = range(first_seed, first_seed + seeds)
    return [(p, m, s, w, scale) for p in problems for w in workers for m in main for s in seed_range]


def run_grid(cells: List[tuple], pool: Any, catalog: str = CATALOG) -> Dict[str, Any]:
    """Simulate ``cells`` (methods named in ``catalog``, ``module:dict``): summaries keyed
    ``problem -> W -> method``. ``scale`` in a cell shrinks the budget (smoke runs)."""
    grouped: Dict[tuple, List[Dict[str, Any]]] = {}
    jobs = [cell + (catalog,) for cell in dict.fromkeys(cells)]
    for run in pool.map(_job, jobs, chunksize=1):
        grouped.setdefault((run["problem"], run["workers"], run["method"]), []).append(run)
    summaries: Dict[str, Any] = {}
    for (p, w, m), runs in grouped.items():
        summaries.setdefault(p, {}).setdefault(w, {})[m] = summarize(ALL_PROBLEMS[p], runs)
    order = list(dict.fromkeys(cell[0] for cell in cells))
    return {p: summaries[p] for p in order if p in summaries}
