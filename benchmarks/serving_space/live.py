"""The replay's check (issue 25, step 4): the same searches with the real server instead of the table.

    bash examples/llama_server/setup.sh                     # once
    python -m benchmarks.serving_space.live                 # 6 seeds of two methods, W = 1 (about 50 min)
    python -m benchmarks.serving_space.live --check 24 --out check.json   # 24 configurations deployed again

One trial at a time, as the replay at W = 1: each method suggests a configuration, which is
deployed and loaded for real (``record.measure``: the server, model, memory limit and load the
space was recorded with), and told what really happened after the seconds it really took,
until the same GPU budget as the replay's is spent. No Ray: Tune's own seconds between trials
are in neither. Writes ``live.json``: per method and seed, the best SLO-meeting throughput,
the trials, and how often the live outcome (failed or served, met the SLO or not) differed
from the recorded one; then the same seeds replayed, for the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from benchmarks.problems import Outcome
from benchmarks.serving_space import record, replay
from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty.serving import server_trainable

METHODS = ("graded_optuna", "optuna_search")


def _deploy(spec: Any, config: Dict[str, Any], policy: PenaltyPolicy) -> Tuple[Dict[str, Any], Outcome]:
    """Deploy and load ``config`` for real: what ``record.measure`` returns, and as an Outcome."""
    row = record.measure(spec, {**config, "ubatch": replay.UBATCH[config["batch"]]}, policy)
    return row, replay.outcome_from([row])


def run_live(spec: Any, method_name: str, seed: int, budget_s: float) -> Dict[str, Any]:
    """One search on the real server, one trial at a time, until ``budget_s`` is spent."""
    method = replay.methods()[method_name](seed)
    method.setup(replay.space(), "max")
    policy, spent, trials = PenaltyPolicy(), 0.0, []
    while True:
        trial_id = f"{seed}-{len(trials)}"
        config = method.suggest(trial_id)
        if not isinstance(config, dict):  # the searcher has finished: the space is exhausted
            break
        row, outcome = _deploy(spec, config, policy)
        if spent + row["elapsed_s"] > budget_s:
            break  # it would end after the budget: not counted, as in the replay
        spent += row["elapsed_s"]
        method.tell(trial_id, outcome)
        recorded = replay.outcome_of(config)
        trials.append({"config": config, "value": outcome.value, "meets": replay.meets(outcome.value, outcome.metrics),
                       "elapsed_s": row["elapsed_s"], "end": spent,
                       "recorded_meets": replay.meets(recorded.value, recorded.metrics),
                       "recorded_failed": recorded.failed})
    return {"method": method_name, "seed": seed, "trials": trials,
            "best": max((t["value"] for t in trials if t["meets"]), default=0.0),
            "differs": sum((t["value"] is None) != t["recorded_failed"] or t["meets"] != t["recorded_meets"]
                           for t in trials)}


def check_outcomes(spec: Any, count: int, seed: int = 0) -> Dict[str, Any]:
    """Deploy ``count`` configurations drawn at random again: how many fail or serve as recorded,
    meet the SLO as recorded, and how today's seconds and throughput compare with the table's
    (the medians, and each configuration that served both times: is the machine's speed the
    same for every configuration, or does it change the space's order?)."""
    import random

    rng, policy = random.Random(seed), PenaltyPolicy()
    keys = rng.sample(sorted(replay.table()), count)
    same, same_slo, elapsed, throughput, served = 0, 0, [], [], []
    for key in keys:
        config = dict(zip(replay.KNOBS, key))
        _, live = _deploy(spec, config, policy)
        recorded = replay.outcome_of(config)
        same += live.failed == recorded.failed
        same_slo += replay.meets(live.value, live.metrics) == replay.meets(recorded.value, recorded.metrics)
        if not live.failed and not recorded.failed:
            elapsed.append(live.fraction / recorded.fraction)
            throughput.append(live.value / recorded.value)  # type: ignore[operator]
            served.append({**config, "elapsed_ratio": round(elapsed[-1], 3),
                           "throughput_ratio": round(throughput[-1], 3),
                           "recorded_tok_s": round(recorded.value, 2)})  # type: ignore[arg-type]
    return {"configurations": count, "same_outcome": same, "same_slo_verdict": same_slo,
            "median_elapsed_ratio": _median(elapsed), "median_throughput_ratio": _median(throughput),
            "served": served}


def _median(values: List[float]) -> Optional[float]:
    return round(statistics.median(values), 3) if values else None


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(replay.METHODS))
    parser.add_argument("--budget-s", type=float, default=None, help="GPU seconds per search (default: the "
                        "replay's at W = 1)")
    parser.add_argument("--check", type=int, default=None, metavar="N",
                        help="only deploy N random configurations again and compare them with the table")
    parser.add_argument("--out", default=os.path.join(replay.HERE, "live.json"))
    args = parser.parse_args(argv)
    server = os.path.join(record.HOME, "bin", "llama-server")
    model = os.path.join(record.HOME, "model-16x1024.gguf")
    if not os.path.exists(model):
        record.make_model(model, 16, 1024)
    trainable = server_trainable(
        record.COMMAND, server=server, model=model, scenarios="D(128,32)", concurrency=[1, 2], requests=4,
        ready_timeout_s=60, request_timeout_s=60, memory_limit_gb=0.95,
        env={"MALLOC_ARENA_MAX": "2", "OMP_WAIT_POLICY": "passive"})
    if args.check:
        check = {"command": "python -m benchmarks.serving_space.live " + _args(argv),
                 "date": time.strftime("%Y-%m-%d"), **check_outcomes(trainable.spec, args.check)}
        with open(args.out, "w") as f:
            json.dump(check, f, indent=1)
        print(check)
        return check
    budget = args.budget_s or replay.budget_s("recorded", 1)
    started, runs = time.time(), []
    for seed in range(args.seeds):
        for method in args.methods:
            run = run_live(trainable.spec, method, seed, budget)
            runs.append(run)
            print(f"{method} seed {seed}: best {run['best']:.2f}, {len(run['trials'])} trials, "
                  f"{run['differs']} differ from the table", flush=True)
    scale = budget / replay.budget_s("recorded", 1)
    replayed = {(m, s): replay.best(replay.run_one("recorded", m, s, 1, scale))
                for m in args.methods for s in range(args.seeds)}
    out = {"command": "python -m benchmarks.serving_space.live " + _args(argv),
           "budget_s": budget, "seconds": round(time.time() - started),
           "runs": runs, "replayed_best": [{"method": m, "seed": s, "best": b} for (m, s), b in replayed.items()]}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    return out



def _args(argv: Optional[List[str]]) -> str:
    return " ".join(sys.argv[1:] if argv is None else argv)

if __name__ == "__main__":
    main()
