"""Where the later trials go while every trial fails and one region hangs before it is ready.

    python -m benchmarks.hang_region --seeds 20 --workers 1,16 --processes 2

The seed design's all-fail scenario with its timeout region made a hang: every trial fails.
Where ``x + y >= 16`` (8 % of the square) the server never becomes ready and the watchdog
ends it at the whole timeout, in its start-up stage. Everywhere else the server comes up, serves
``(x + y) / 16`` of the load (the trial reports that as its ``progress``) and crashes after as
long a share of the timeout. By the clock the hang is the furthest any trial got, and so the
mildest failure; by what it reached it got nowhere.

Two methods, the same package (Optuna backend) and seeds, in the many-at-once simulation of
``asynchronous.py``: ``evidence`` hears each trial as Ray's loop and the callback tell it (its
progress, the watchdog's verdict and stage); ``clock`` hears only elapsed time and error text,
as 0.5 heard every trial and as the package hears a trainable that reports nothing. Random
search gives the region's share by chance. Measured: the share of the trials started in the
second half of the GPU budget that land in the hang region, and that land in the band just
below it (``0.85 <= progress < 1``), per seed, with a sign test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any, Dict, List, Optional

from ray import tune

from benchmarks.asynchronous import budget, simulate
from benchmarks.concurrency_report import paired_counts, sign_test
from benchmarks.methods import METHODS, Method, _graded, _graded_by_clock
from benchmarks.pool import process_pool
from benchmarks.problems import Outcome, Problem
from ray_graded_penalty import GradedPenaltySearcher

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hang_region.json")
TIMEOUT_S = 600.0
BAND = 0.85  # progress from which a crash counts as "just below the hang"


def _progress(config: Dict[str, Any]) -> float:
    return (config["x"] + config["y"]) / 16


def _hang_or_crash(config: Dict[str, Any]) -> Outcome:
    progress = _progress(config)
    if progress >= 1.0:
        return Outcome(None, 1.0, f"Trial ran past its timeout of {TIMEOUT_S:g} s", stage="start")
    return Outcome(None, progress, "RuntimeError: inference server crashed", progress=progress)


HANG = Problem(
    name="hang_before_ready",
    space={"x": tune.uniform(0, 10), "y": tune.uniform(0, 10)},
    mode="max",
    evaluate=_hang_or_crash,
    target=None,
    description="every trial fails; x + y >= 16 hangs before its server is ready (8 % of the square)",
    region=lambda c: _progress(c) >= 1.0,
)

METHODS_HERE: Dict[str, Any] = {
    "evidence": lambda seed: Method(GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed), _graded),
    "clock": lambda seed: Method(GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed),
                                 _graded_by_clock),
    "random": METHODS["random"],
}


def _told_as(error_class: str) -> Any:
    def tell(method: Method, trial_id: str, outcome: Outcome) -> None:
        if outcome.stage is None:
            _graded(method, trial_id, outcome)
            return
        method.searcher.on_trial_complete(trial_id, error=True)
        method.searcher.record_failure(trial_id, 0.0, outcome.error, error_class=error_class)
    return tell


#: ``--variants``: the hang told lower than the package tells it (-800: the first tier, a
#: timeout's factor): as a failed deploy (-1200) and as out of memory (-1500); the rest as ``evidence``.
VARIANTS: Dict[str, Any] = {
    f"hang_as_{c}": (lambda c: lambda seed: Method(
        GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed), _told_as(c)))(c)
    for c in ("deploy", "oom")
}


def shares(run: Dict[str, Any]) -> Dict[str, float]:
    """Of the trials started in the second half of the run's wall time: the share in the hang
    region, in the band just below it, and the GPU time the hangs took of all."""
    late = [t for t in run["trials"] if t["start"] >= run["horizon"] / 2]
    hang = sum(_progress(t["config"]) >= 1.0 for t in late)
    band = sum(BAND <= _progress(t["config"]) < 1.0 for t in late)
    spent = sum(t["end"] - t["start"] for t in run["trials"])
    hung = sum(t["end"] - t["start"] for t in run["trials"] if _progress(t["config"]) >= 1.0)
    return {"late_hang": hang / max(1, len(late)), "late_band": band / max(1, len(late)),
            "hang_gpu": hung / spent if spent else 0.0, "late": len(late)}


def _job(args: tuple) -> Dict[str, Any]:
    method, seed, workers = args
    run = simulate(HANG.name, method, seed, workers, budget(workers), {**METHODS_HERE, **VARIANTS}, problem=HANG)
    return {"method": method, "seed": seed, "workers": workers, **shares(run)}


def summarize(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per W: each method's mean shares; evidence against clock per seed (fewer late trials in
    the hang region is better), with a sign test."""
    out = []
    for w in sorted({r["workers"] for r in rows}):
        by = {m: sorted((r for r in rows if r["workers"] == w and r["method"] == m), key=lambda r: r["seed"])
              for m in (*METHODS_HERE, *VARIANTS)}
        cell: Dict[str, Any] = {"workers": w, "seeds": len(by["evidence"])}
        for m, runs in by.items():
            for key in ("late_hang", "late_band", "hang_gpu"):
                if runs:
                    cell[f"{m}_{key}"] = statistics.mean(r[key] for r in runs)
        better, worse, level = paired_counts([r["late_hang"] for r in by["evidence"]],
                                             [r["late_hang"] for r in by["clock"]])
        cell.update(better=better, worse=worse, level=level, p=sign_test(better, worse))
        out.append(cell)
    return out


def lines(found: Dict[str, Any]) -> List[str]:
    """The RESULTS.md section."""
    run = found["run"]
    out = ["## A hang before the server is ready, while every trial fails", "",
           HANG.description[0].upper() + HANG.description[1:] + "; elsewhere the server serves (x + y) / 16 of "
           "the load, reports it as `progress`, and crashes. The package told each trial as Tune and its "
           "callback tell it (`evidence`) against the same package hearing only the clock and the error text "
           f"(`clock`: as 0.5 heard every trial). `{run['command']}`, {run['date']}, {run['s'] / 60:.0f} min.", "",
           "| W | seeds | late trials in the hang region: evidence / clock / random | in the band just below it "
           f"(progress {BAND:g} to 1) | GPU time in hangs | evidence fewer in the hang region than clock: "
           "seeds better / worse / level (p) |", "|---|---|---|---|---|---|"]
    for c in found["cells"]:
        out.append(f"| {c['workers']} | {c['seeds']} | {c['evidence_late_hang']:.2f} / {c['clock_late_hang']:.2f} / "
                   f"{c['random_late_hang']:.2f} | {c['evidence_late_band']:.2f} / {c['clock_late_band']:.2f} / "
                   f"{c['random_late_band']:.2f} | {c['evidence_hang_gpu']:.2f} / {c['clock_hang_gpu']:.2f} / "
                   f"{c['random_hang_gpu']:.2f} | {c['better']}/{c['worse']}/{c['level']} ({c['p']:.2g}) |")
    variants = [c for c in found["cells"] if all(f"{v}_late_hang" in c for v in VARIANTS)]
    if variants:
        out += ["", "The hang told lower (`--variants`: as a failed deploy, -1200, and as out of memory, -1500, "
                "instead of -800), late trials in the hang region: " + "; ".join(
                    f"W = {c['workers']}: " + " / ".join(f"{c[f'{v}_late_hang']:.2f}" for v in VARIANTS)
                    for c in variants) + "."]
    return out + [""]


def load(path: str = OUT) -> Optional[Dict[str, Any]]:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", default="1,16")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--variants", action="store_true", help="also the hang told lower (see VARIANTS)")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    methods = [*METHODS_HERE, *(VARIANTS if args.variants else ())]
    jobs = [(m, s, w) for w in workers for s in range(args.seeds) for m in methods]
    started = time.time()
    with process_pool(args.processes) as pool:
        rows = list(pool.map(_job, jobs, chunksize=1))
    command = "python -m benchmarks.hang_region " + " ".join(argv if argv is not None else [])
    found = {"run": {"command": command.strip(), "date": time.strftime("%Y-%m-%d"), "s": time.time() - started},
             "cells": summarize(rows), "rows": rows}
    with open(args.out, "w") as f:
        json.dump(found, f, indent=1)
    print("\n".join(lines(found)))
    return found


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
