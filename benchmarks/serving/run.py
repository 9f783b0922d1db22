"""The package against Ray's OptunaSearch, tuning llama.cpp's real llama-server.

    bash examples/llama_server/setup.sh                     # once: builds the server (about 10 min)
    python -m benchmarks.serving.run --seeds 3 --budget-s 240

Each run is the example (examples/llama_server/tune.py) with one searcher and one seed, for the
same wall-clock budget (``TuneConfig(time_budget_s=...)``), one trial at a time, on a machine
doing nothing else (latency is measured for real: a busy machine moves it). The two searchers
alternate seed by seed. Writes ``benchmarks/serving/results.json`` and regenerates
``benchmarks/RESULTS.md`` (its "A real llama-server" section) from it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEARCHERS = ("graded", "optuna-search")


def run_once(searcher: str, seed: int, budget_s: float, p99_s: float, storage: str) -> dict:
    out = os.path.join(storage, f"{searcher}_{seed}.json")
    command = [sys.executable, os.path.join(ROOT, "examples", "llama_server", "tune.py"),
               "--searcher", searcher, "--seed", str(seed), "--samples", "1000", "--budget-s", str(budget_s),
               "--p99", str(p99_s), "--storage-path", storage, "--json", out]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{searcher} seed {seed} failed:\n{done.stderr[-3000:]}")
    with open(out) as f:
        return json.load(f)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget-s", type=float, default=240.0)
    parser.add_argument("--p99", type=float, default=0.5, help="the SLO on e2el_p99_s both are judged by, seconds")
    args = parser.parse_args(argv)
    runs = []
    started = time.time()
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):
            for searcher in SEARCHERS:
                runs.append(run_once(searcher, seed, args.budget_s, args.p99, storage))
                print(json.dumps(runs[-1]), flush=True)
    from benchmarks.run import machine

    results = {
        "command": "python -m benchmarks.serving.run" + "".join(
            f" --{k.replace('_', '-')} {getattr(args, k)}" for k in ("seeds", "budget_s", "p99")
            if getattr(args, k) != parser.get_default(k)),
        "date": time.strftime("%Y-%m-%d"), "minutes": (time.time() - started) / 60,
        "budget_s": args.budget_s, "p99_s": args.p99, "machine": machine(), "runs": runs,
    }
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    # RESULTS.md again, from the committed results.json (left as it is) and this run's.
    from benchmarks.results_page import load_results, write_results

    page = os.path.join(ROOT, "benchmarks", "RESULTS.md")
    write_results(page, load_results(os.path.join(ROOT, "benchmarks", "results.json")), plots=None)
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
