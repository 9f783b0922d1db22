"""The full chaos soak, written to benchmarks/soak/results.json and benchmarks/RESULTS.md.

    python -m benchmarks.soak.run                       # 150 trials, 8 at once, 30 s timeout
    python -m benchmarks.soak.run --trials 40 --concurrent 4
    python -m benchmarks.soak.run --let-told-trials-run  # as 0.4: told trials Tune reruns run on

Its short version is tests/test_soak.py. What it does and checks: benchmarks/soak/soak.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from benchmarks.soak.soak import Plan, run_soak

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=30.0, help="trial_timeout_s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--workdir", default=None, help="keep the run's records here (default: a temporary folder)")
    parser.add_argument("--let-told-trials-run", action="store_true",
                        help="do not end told trials Tune starts again after the restore (0.4's behaviour), "
                             "to measure what ending them saves")
    args = parser.parse_args(argv)
    import ray

    if args.let_told_trials_run:
        os.environ["SOAK_LET_TOLD_TRIALS_RUN"] = "1"  # read by the drivers (benchmarks.soak.driver)

    plan = Plan(trials=args.trials, concurrent=args.concurrent, timeout_s=args.timeout, seed=args.seed)
    if args.workdir:
        report = run_soak(plan, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="soak") as workdir:
            report = run_soak(plan, workdir)
    command = "python -m benchmarks.soak.run" + "".join(
        f" --{k} {getattr(args, k)}" for k in ("trials", "concurrent", "timeout", "seed")
        if getattr(args, k) != parser.get_default(k)) + (" --let-told-trials-run" if args.let_told_trials_run else "")
    runs = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            runs = json.load(f)
    name = f"ray {ray.__version__}" + (", told trials let run" if args.let_told_trials_run else "")
    runs[name] = {"command": command, "date": time.strftime("%Y-%m-%d"), "plan": plan._asdict(), **report}
    with open(args.out, "w") as f:
        json.dump(runs, f, indent=1)
    print(json.dumps(report, indent=1))
    from benchmarks.results_page import load_results, write_results

    page = os.path.join(os.path.dirname(HERE), "RESULTS.md")
    write_results(page, load_results(os.path.join(os.path.dirname(HERE), "results.json")), plots=None)
    print(f"wrote {page}")
    return 0 if not report["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
