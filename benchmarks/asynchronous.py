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
import os
import pickle
import statistics
import time
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
             problem: Optional[Problem] = None, min_duration: float = MIN_DURATION,
             checkpoint: Optional[str] = None, every_s: float = 600.0) -> Dict[str, Any]:
    """One method on one problem with one seed and ``workers`` trials at once (``problem``:
    one not in the benchmark's list, such as a replayed space, whose durations are its own).

    ``checkpoint``: a file the whole simulation (the searcher included) is pickled to every
    ``every_s`` seconds of wall time, and resumed from when it exists, for runs longer than a
    session; a resumed run tells and suggests what the uninterrupted one would."""
    horizon = (gpu_budget or budget(workers)) / workers
    key = (problem_name, method_name, seed, workers, horizon, min_duration)
    if checkpoint and os.path.exists(checkpoint):
        with open(checkpoint, "rb") as f:
            run = pickle.load(f)
        if run.key != key:
            raise ValueError(f"{checkpoint} holds the run {run.key}, not {key}")
    else:
        method = (methods or METHODS)[method_name](seed)
        run = Simulation(key, method)
    run.problem = problem or ALL_PROBLEMS[problem_name]
    if not run.started:
        run.started = True
        run.method.setup(run.problem.space, run.problem.mode)
        for _ in range(workers):
            run.launch(0.0)
    saved = time.time()
    while run.step():
        if checkpoint and time.time() - saved > every_s:
            run.save(checkpoint)
            saved = time.time()
    finished = [t for t in run.trials if t.get("told")]
    return {"problem": problem_name, "method": method_name, "seed": seed, "workers": workers,
            "horizon": horizon, "trials": finished, "started": len(run.trials)}


class Simulation:
    """The state of one simulation, as :func:`simulate` drives it; picklable but for its problem."""

    def __init__(self, key: tuple, method: Any) -> None:
        self.key, self.method = key, method
        self.seed, self.horizon, self.min_duration = key[2], key[4], key[5]
        self.problem: Any = None  # set by simulate(), never pickled (a problem holds functions)
        self.started = False  # the method set up and the first trials launched
        self.running: List[tuple] = []
        self.trials: List[Dict[str, Any]] = []
        self.finished_search: List[float] = []  # the searcher said Searcher.FINISHED: never asked again
        self.idle = 0  # workers left without a trial (the searcher had none, None): asked again when a trial ends
        self.held: List[tuple] = []  # failures waiting for every trial started before them (hold_failures)

    def save(self, path: str) -> None:
        with open(path + ".tmp", "wb") as f:
            pickle.dump(self, f)
        os.replace(path + ".tmp", path)

    def __getstate__(self) -> Dict[str, Any]:
        return dict(self.__dict__, problem=None)

    def launch(self, now: float) -> None:
        if self.finished_search:
            return
        index = len(self.trials)
        trial_id = f"{self.seed}-{index}"
        config = self.method.suggest(trial_id)
        if config is None:  # no trial now: as Tune does, ask again at the next event
            self.idle += 1
            return
        if not isinstance(config, dict):  # the searcher has finished (Searcher.FINISHED): nothing more runs
            self.finished_search.append(now)
            return
        problem = self.problem
        outcome = problem.evaluate(config)
        end = now + max(outcome.fraction, self.min_duration)
        heapq.heappush(self.running, (end, index, trial_id, outcome))
        self.trials.append({
            "start": now, "end": end, "value": outcome.value, "fraction": outcome.fraction,
            "metrics": outcome.metrics,
            "pending": len(self.running) - 1, "config": config,
            "edge": bool(problem.edge(config)) if problem.edge else None,
            "in_region": bool(problem.region(config)) if problem.region else None,
        })

    def tell_ready(self) -> None:
        first_running = min((r[1] for r in self.running), default=len(self.trials))
        for item in sorted(self.held):
            if item[0] < first_running:
                self.held.remove(item)
                self.method.tell(item[1], item[2])

    def step(self) -> bool:
        """The next trial to end is told and its worker given the next trial; False when the
        wall time is over or nothing runs."""
        if not self.running:
            return False
        end, index, trial_id, outcome = heapq.heappop(self.running)
        if end > self.horizon:
            return False
        self.trials[index]["told"] = True
        if self.method.hold_failures and outcome.failed:
            self.held.append((index, trial_id, outcome))
        else:
            self.method.tell(trial_id, outcome)
        if self.method.hold_failures:
            self.tell_ready()
        waiting, self.idle = self.idle, 0
        for _ in range(1 + waiting):
            self.launch(end)
        return True


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
    jobs = [cell + (catalog,) for cell in dict.fromkeys(cells)]
    return summaries_of(cells, pool.map(_job, jobs, chunksize=1))


def summaries_of(cells: List[tuple], runs: Any) -> Dict[str, Any]:
    """The summaries of ``runs``, the simulations of ``cells``, as :func:`run_grid` returns them."""
    grouped: Dict[tuple, List[Dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault((run["problem"], run["workers"], run["method"]), []).append(run)
    summaries: Dict[str, Any] = {}
    for (p, w, m), runs in grouped.items():
        summaries.setdefault(p, {}).setdefault(w, {})[m] = summarize(ALL_PROBLEMS[p], runs)
    order = list(dict.fromkeys(cell[0] for cell in cells))
    return {p: summaries[p] for p in order if p in summaries}
