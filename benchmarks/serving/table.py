"""RESULTS.md's section on the real llama-server, from benchmarks/serving/results.json."""

from __future__ import annotations

import json
import math
import os
import statistics
from typing import Any, Dict, List, Optional

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")
NAMES = {"graded": "the package (`GradedPenaltySearcher`, Optuna TPE)",
         "optuna-search": "Ray's `OptunaSearch` as shipped"}


def load() -> Optional[Dict[str, Any]]:
    if not os.path.exists(RESULTS):
        return None
    with open(RESULTS) as f:
        return json.load(f)


def _num(x: Optional[float], digits: int = 0) -> str:
    return "none" if x is None else f"{x:.{digits}f}"


def lines(data: Dict[str, Any]) -> List[str]:
    """The section: per run, then per searcher, then seed by seed."""
    runs = data["runs"]
    seeds = sorted({r["seed"] for r in runs})
    by = {(r["searcher"], r["seed"]): r for r in runs}
    out = [
        "## A real llama-server", "",
        f"`{data['command']}`, {data['date']}, {data['minutes']:.0f} min. Each run tunes llama.cpp's "
        "`llama-server` (slots, KV tokens, batch, micro-batch, threads) on a random-weight model "
        "under a 1 GiB memory limit through a real `tune.Tuner`, one trial at a time, for the same "
        f"wall-clock budget of {data['budget_s']:.0f} s; a trial streams 32 completions, 8 at a time. "
        f"Both are judged by the best throughput among trials with p99 latency <= {data['p99_s']:g} s "
        "(the package's searcher is given that SLO; `OptunaSearch` tunes throughput alone). "
        "Failures are real: out of memory at start-up, per-slot context too small for the prompts.", "",
        "| searcher | seed | trials | failed | met SLO | best throughput meeting SLO (tokens/s) "
        "| time in failed trials |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in NAMES:
        for seed in seeds:
            r = by.get((name, seed))
            if r:
                share = r["failed_trial_s"] / r["trial_s"] if r["trial_s"] else 0.0
                out.append(f"| {name} | {seed} | {r['trials']} | {r['failed']} | {r['met_slo']} "
                           f"| {_num(r['best_throughput_meeting_slo'])} | {r['failed_trial_s']:.0f} s ({share:.0%}) |")
    won = lost = 0
    for seed in seeds:
        a, b = by.get(("graded", seed)), by.get(("optuna-search", seed))
        if a and b:
            x, y = a["best_throughput_meeting_slo"] or 0.0, b["best_throughput_meeting_slo"] or 0.0
            won, lost = won + (x > y), lost + (x < y)
    medians = {n: statistics.median([by[(n, s)]["best_throughput_meeting_slo"] or 0.0 for s in seeds if (n, s) in by])
               for n in NAMES if any((n, s) in by for s in seeds)}
    totals = []
    for name in NAMES:
        mine = [r for r in runs if r["searcher"] == name]
        if mine:
            trials, failed = sum(r["trials"] for r in mine), sum(r["failed"] for r in mine)
            failed_s, trial_s = sum(r["failed_trial_s"] for r in mine), sum(r["trial_s"] for r in mine)
            totals.append(f"{NAMES[name].split(' (')[0]}: {failed} of {trials} trials failed ({failed / trials:.0%}), "
                          f"{failed_s:.0f} s of {trial_s:.0f} s of trial time in failed trials")
    out += ["", "Over all seeds: " + "; ".join(totals) + ". A trial's own time is about half of the budget; "
            "the rest is Ray starting and ending each trial's actor."]
    n = won + lost
    sign_p = min(1.0, 2 * sum(math.comb(n, k) for k in range(min(won, lost) + 1)) / 2 ** n) if n else 1.0
    out += ["", f"Seeds where the package's best SLO-meeting throughput was higher: {won}; lower: {lost}; "
            f"of {len(seeds)} (two-sided sign test p = {sign_p:.2f}). Medians: "
            + ", ".join(f"{NAMES[n].split(' (')[0]} {v:.0f}" for n, v in medians.items())
            + f" tokens/s. {len(seeds)} seeds rank nothing; the table says what each run found.", ""]
    return out
