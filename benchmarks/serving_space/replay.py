"""Replay the recorded llama-server space for many seeds (issue 25, steps 2 and 3).

    python -m benchmarks.serving_space.replay                  # 30 seeds, W = 1, 4, 16, both costs
    python -m benchmarks.serving_space.replay --seeds 3 --workers 1 4 --costs recorded   # a smoke run

Every trial a method suggests is looked up in ``space.csv``: a configuration that failed
fails again with the server's own error text and the class the live trial gave it, after the
seconds it really took; one that served reports the mean of its measurements (throughput,
``e2el_p99_s``) after its mean duration. The event simulation of
:mod:`benchmarks.asynchronous` runs W trials at once, every method on the same GPU time.

Two costs (:data:`COSTS`):

- ``recorded``: what this machine paid (a failure 0.4-0.7 s, a healthy trial 7-9 s).
- ``gpu``: every start first loads the weights for :data:`GPU_LOAD_S` seconds, as a GPU server
  does before it allocates its KV cache; every failure in this space comes after the weights
  are read (out of memory at the KV cache or compute buffers, an abort after loading), so it
  pays that time too, and so does every success.

The objective: the highest output throughput whose ``e2el_p99_s`` meets :data:`SLO_S`. The
package's searchers are given that SLO (``slos=``); Ray's searchers and random search are told
a crash or an SLO miss as an error (``FAIL``), as a user without the package would.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import optuna
from ray import tune
from ray.tune.search.hyperopt import HyperOptSearch
from ray.tune.search.optuna import OptunaSearch

from benchmarks.asynchronous import simulate
from benchmarks.concurrency_report import paired_counts, sign_test
from benchmarks.methods import FLAT, TIMEOUT_S
from benchmarks.pool import process_pool
from benchmarks.problems import Outcome, Problem
from benchmarks.slo_bench import SLOMethod
from ray_graded_penalty import SLO, GradedPenaltySearcher

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "space.csv")
#: The latency SLO on the 99th percentile of end-to-end request latency, seconds: 33 of the 82
#: configurations that served meet it.
SLO_S = 1.3
SLOS = (SLO("e2el_p99_s", max=SLO_S),)
#: Seconds a GPU server spends loading weights before it allocates its KV cache (see README).
GPU_LOAD_S = 120.0
COSTS = {"recorded": 0.0, "gpu": GPU_LOAD_S}
WORKERS = (1, 4, 16)
#: How many healthy trials' worth of GPU time each method gets: 30, or 4 waves at W.
TRIALS_WORTH = 30
WAVES = 4
METHODS = ("graded_optuna", "graded_hyperopt", "flat_penalty", "optuna_search", "hyperopt_search", "random",
           "graded_optuna_runs_all", "graded_hyperopt_runs_all")
#: What each of the package's methods is compared with besides ``OptunaSearch``: Ray's searcher
#: of the same backend, and (for the Optuna backend) the package with a flat policy.
#: Each package method's other baselines: the flat penalty; Ray's own searcher; the package as
#: 0.5 ran it (``runs_per_config=None``: every suggestion runs, a finished configuration again).
BASELINES = {"graded_optuna": ("flat_penalty", "graded_optuna_runs_all"),
             "graded_hyperopt": ("hyperopt_search", "graded_hyperopt_runs_all")}
KNOBS = ("slots", "ctx", "batch", "threads")


def _key(config: Dict[str, Any]) -> Tuple[int, int, int, int]:
    return tuple(int(config[k]) for k in KNOBS)  # type: ignore[return-value]


@lru_cache(maxsize=None)
def table(path: str = TABLE) -> Dict[Tuple[int, int, int, int], List[Dict[str, str]]]:
    """Every configuration's measurements, by (slots, ctx, batch, threads)."""
    rows: Dict[Tuple[int, int, int, int], List[Dict[str, str]]] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            rows.setdefault(_key(row), []).append(row)
    return rows


#: The micro-batch the grid pairs with each batch.
UBATCH = {64: 32, 512: 128, 2048: 512}


def space() -> Dict[str, Any]:
    """The search space: every knob as the grid has it (the micro-batch goes with the batch)."""
    keys = table()
    return {name: tune.choice(sorted({k[i] for k in keys})) for i, name in enumerate(KNOBS)}


def outcome_of(config: Dict[str, Any], load_s: float = 0.0) -> Outcome:
    """What the recorded server did with ``config``, as the benchmark's :class:`Outcome`; its
    duration (a share of the timeout) plus ``load_s`` seconds of loading."""
    return outcome_from(table()[_key(config)], load_s)


def outcome_from(rows: List[Dict[str, Any]], load_s: float = 0.0) -> Outcome:
    """One configuration's measurements (rows of ``space.csv``, or as ``record.measure`` returns
    them) as an :class:`Outcome`: a failure as its first, a success as their mean."""
    first = rows[0]
    if first["outcome"] != "ok":
        return Outcome(None, (load_s + float(first["elapsed_s"])) / TIMEOUT_S, first["error"],
                       error_class=first["error_class"] or None)
    mean = {m: statistics.mean(float(r[m]) for r in rows) for m in ("throughput", "e2el_p99_s", "elapsed_s")}
    return Outcome(mean["throughput"], (load_s + mean["elapsed_s"]) / TIMEOUT_S,
                   metrics={"e2el_p99_s": mean["e2el_p99_s"]})


def meets(outcome_value: Optional[float], metrics: Optional[Dict[str, float]]) -> bool:
    """Whether a success met every SLO of :data:`SLOS`."""
    return outcome_value is not None and metrics is not None and all(
        slo.miss(metrics[slo.metric]) == 0 for slo in SLOS)


def problem(cost: str) -> Problem:
    load_s = COSTS[cost]
    return Problem(name=f"llama_server_{cost}", space=space(), mode="max",
                   evaluate=lambda config: outcome_of(config, load_s), target=None,
                   description=f"the recorded llama-server space, {cost} costs")


@lru_cache(maxsize=None)
def best_possible() -> float:
    """The highest SLO-meeting throughput in the space."""
    outcomes = [outcome_of(dict(zip(KNOBS, key))) for key in table()]
    return max(o.value for o in outcomes if meets(o.value, o.metrics))  # type: ignore[type-var]


def methods() -> Dict[str, Any]:
    def graded(backend: str, **kw: Any):
        return lambda seed: SLOMethod(GradedPenaltySearcher(backend, trial_timeout_s=TIMEOUT_S, seed=seed,
                                                            slos=list(SLOS), **kw), "graded", slos=SLOS)

    return {
        "graded_optuna": graded("optuna"),
        "graded_hyperopt": graded("hyperopt"),
        "graded_optuna_runs_all": graded("optuna", runs_per_config=None),
        "graded_hyperopt_runs_all": graded("hyperopt", runs_per_config=None),
        "flat_penalty": graded("optuna", policy=FLAT),
        "optuna_search": lambda seed: SLOMethod(OptunaSearch(seed=seed), "drop", slos=SLOS),
        "hyperopt_search": lambda seed: SLOMethod(HyperOptSearch(random_state_seed=seed), "drop", slos=SLOS),
        "random": lambda seed: SLOMethod(OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=seed)), "drop",
                                         slos=SLOS),
    }


@lru_cache(maxsize=None)
def healthy_s(cost: str) -> float:
    """A healthy trial's mean GPU seconds at ``cost``."""
    oks = [outcome_of(dict(zip(KNOBS, k)), COSTS[cost]) for k in table()]
    return statistics.mean(o.fraction * TIMEOUT_S for o in oks if not o.failed)


def budget_s(cost: str, workers: int) -> float:
    """The GPU seconds each method gets at ``workers``: 30 healthy trials, or 4 waves."""
    return max(TRIALS_WORTH, WAVES * workers) * healthy_s(cost)


def run_one(cost: str, method: str, seed: int, workers: int, scale: float = 1.0,
            catalog: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One replay: the trials that ended within the budget, with start, end (GPU-free wall
    seconds), value, whether each met the SLO. ``method`` is named in ``catalog`` (default
    :func:`methods`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    gpu = budget_s(cost, workers) * scale
    run = simulate(f"llama_server_{cost}", method, seed, workers, gpu_budget=gpu / TIMEOUT_S,
                   methods=catalog or methods(), problem=problem(cost), min_duration=0.0)
    trials = [{"start": t["start"] * TIMEOUT_S, "end": t["end"] * TIMEOUT_S, "value": t["value"],
               "meets": meets(t["value"], t["metrics"]), "config": t["config"]} for t in run["trials"]]
    return {"cost": cost, "method": method, "seed": seed, "workers": workers, "budget_s": gpu, "trials": trials}


def _job(args: tuple) -> Dict[str, Any]:
    return run_one(*args)


def best(run: Dict[str, Any]) -> float:
    """The best SLO-meeting throughput among the run's trials (0 when none met the SLO)."""
    return max((t["value"] for t in run["trials"] if t["meets"]), default=0.0)


def gpu_to(run: Dict[str, Any], target: float) -> float:
    """GPU seconds until a trial meeting the SLO with at least ``target`` ended (inf: never)."""
    ends = sorted(t["end"] for t in run["trials"] if t["meets"] and t["value"] >= target)
    return ends[0] * run["workers"] if ends else math.inf


def known_repeats(run: Dict[str, Any]) -> int:
    """Trials of a configuration that had finished before they started: GPU paid twice."""
    finished: Dict[str, float] = {}  # configuration -> when it first finished
    count = 0
    for t in sorted(run["trials"], key=lambda t: t["start"]):
        key = json.dumps(t["config"], sort_keys=True)
        count += key in finished and finished[key] <= t["start"]
        finished[key] = min(finished.get(key, math.inf), t["end"])
    return count


def failed_share(run: Dict[str, Any]) -> float:
    """The share of the GPU time spent in trials that failed (an SLO miss is a success here)."""
    spent = sum(t["end"] - t["start"] for t in run["trials"])
    failed = sum(t["end"] - t["start"] for t in run["trials"] if t["value"] is None)
    return failed / spent if spent else 0.0


def paired(ours: List[float], base: List[float]) -> Dict[str, Any]:
    """Seeds where ours is higher, lower, equal; the sign test's p."""
    better, worse, equal = paired_counts([-a for a in ours], [-b for b in base])  # it counts lower as better
    return {"better": better, "worse": worse, "equal": equal, "p": sign_test(better, worse)}


def summarize(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per cost, W and method: the medians and the seed-by-seed comparisons (see README)."""
    top = best_possible()
    grouped: Dict[Tuple[str, int], Dict[str, List[Dict[str, Any]]]] = {}
    for run in runs:
        grouped.setdefault((run["cost"], run["workers"]), {}).setdefault(run["method"], []).append(run)
    out: Dict[str, Any] = {"best_possible": top, "slo_s": SLO_S, "gpu_load_s": GPU_LOAD_S, "cells": []}
    for (cost, workers), by_method in sorted(grouped.items()):
        for method_runs in by_method.values():
            method_runs.sort(key=lambda r: r["seed"])
        base = by_method.get("optuna_search", [])
        target = statistics.median(best(r) for r in base) if base else None
        base_gpu = [gpu_to(r, target) for r in base] if target else []
        finals = {m: [best(r) for r in rs] for m, rs in by_method.items()}
        gpus = {m: [gpu_to(r, target) for r in rs] if target else [] for m, rs in by_method.items()}
        for method, method_runs in by_method.items():
            gpu = gpus[method]
            cell = {
                "cost": cost, "workers": workers, "method": method, "seeds": len(method_runs),
                "budget_s": method_runs[0]["budget_s"],
                "best": statistics.median(finals[method]),
                "regret": statistics.median(top - b for b in finals[method]),
                "found_best": sum(b == top for b in finals[method]),
                "trials": statistics.median(len(r["trials"]) for r in method_runs),
                "failed_share": statistics.mean(failed_share(r) for r in method_runs),
                "known_repeats": statistics.mean(known_repeats(r) for r in method_runs),
                "failed_trials": statistics.mean(sum(t["value"] is None for t in r["trials"]) / max(1, len(r["trials"]))
                                                 for r in method_runs),
                "target": target,
                "gpu_to_target_s": statistics.median(gpu) if gpu else None,
                "reached_target": sum(math.isfinite(g) for g in gpu),
            }
            if base and method != "optuna_search":
                cell["vs_optuna_search"] = paired(finals[method], finals["optuna_search"])
                cell["gpu_vs_optuna_search"] = paired([-g for g in gpu], [-g for g in base_gpu])
            for other in BASELINES.get(method, ()):
                if other in finals:
                    cell[f"vs_{other}"] = paired(finals[method], finals[other])
                    if gpu:  # less GPU time to OptunaSearch's median best is better
                        cell[f"gpu_vs_{other}"] = paired([-g for g in gpu], [-g for g in gpus[other]])
            out["cells"].append(cell)
    return out


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS))
    parser.add_argument("--costs", nargs="+", default=list(COSTS), choices=list(COSTS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--scale", type=float, default=1.0, help="a share of the budget (smoke runs)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(HERE, "replay.json"))
    args = parser.parse_args(argv)
    started = time.time()
    jobs = [(c, m, s, w, args.scale) for c in args.costs for w in args.workers for m in args.methods
            for s in range(args.seeds)]
    with process_pool(args.processes) as pool:
        runs = list(pool.map(_job, jobs, chunksize=1))
    summary = summarize(runs)
    summary.update(command="python -m benchmarks.serving_space.replay " + _args(argv),
                   seconds=round(time.time() - started), seeds=args.seeds)
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(table_text(summary))
    return summary


def _cell_text(cell: Dict[str, Any], key: str) -> str:
    if key not in cell:
        return ""
    c = cell[key]
    return f"{c['better']}/{c['worse']}/{c['equal']} (p {c['p']:.2g})"


def _other(cell: Dict[str, Any]) -> str:
    return "; ".join(f"vs {other}: {_cell_text(cell, 'vs_' + other)}" for other in BASELINES.get(cell["method"], ())
                     if "vs_" + other in cell)


def table_text(summary: Dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    lines = [f"Best SLO-meeting throughput in the space: {summary['best_possible']:.2f} tok/s "
             f"(e2el_p99_s <= {summary['slo_s']} s).", "",
             "| cost | W | method | best (median) | found the best | GPU s to OptunaSearch's median | "
             "reached | trials | known repeats | failed | GPU in failures | "
             "vs OptunaSearch (seeds better/worse/equal) | GPU s to target vs OptunaSearch | vs its other baselines |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in summary["cells"]:
        gpu = c["gpu_to_target_s"]
        lines.append(
            f"| {c['cost']} | {c['workers']} | {c['method']} | {c['best']:.2f} | {c['found_best']}/{c['seeds']} | "
            f"{'never' if gpu is None or math.isinf(gpu) else f'{gpu:.0f}'} | {c['reached_target']}/{c['seeds']} | "
            f"{c['trials']:g} | {c.get('known_repeats', math.nan):.1f} | {100 * c['failed_trials']:.0f} % | "
            f"{100 * c['failed_share']:.0f} % | "
            f"{_cell_text(c, 'vs_optuna_search')} | "
            f"{_cell_text(c, 'gpu_vs_optuna_search')} | {_other(c)} |")
    return "\n".join(lines)



def _args(argv: Optional[List[str]]) -> str:
    return " ".join(sys.argv[1:] if argv is None else argv)

if __name__ == "__main__":
    main()
