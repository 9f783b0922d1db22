"""Issue 34: where Optuna's ``GPSampler``, wrapped, puts its trials while none has succeeded.

On ``welded_beam`` one at a time, a wrapped run found no success in 1153 trials where the bare
one (a failure dropped, so ``GPSampler`` samples at random) found one (seed 0 of
``gp_told --problems welded_beam --workers 1``). This measures the first fifth of the GPU budget
(about 200 trials, before either finds a success on most seeds), bare against wrapped, per
seed: the successes, the trials near the failing region's edge, how late its failures came in
the second half (a failure there comes later the nearer it is to the feasible region), and the
share of the second half's coordinates within 2 % of a bound of the box::

    PYTHONPATH=. python -m benchmarks.research.gp_before_success --seeds 10 --out gp_before_success.json
    PYTHONPATH=. python -m benchmarks.research.gp_before_success --problem speed_reducer --seeds 10 --out ...

Not a benchmark of the search: a diagnostic of its mechanism, one problem, one W.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List

import optuna

from benchmarks.asynchronous import simulate
from benchmarks.published import SPECS
from benchmarks.searchers import METHODS, _one_thread

PROBLEMS = ("welded_beam", "speed_reducer", "pressure_vessel", "spring", "three_bar_truss")
BUDGET = 12.0  # a fifth of the one-at-a-time GPU budget (60 timeouts)


def measure(problem: str, method: str, seed: int) -> Dict[str, Any]:
    """One run's trials, read as the module's docstring says."""
    trials = simulate(problem, method, seed, 1, gpu_budget=BUDGET, methods=METHODS)["trials"]
    late = trials[len(trials) // 2:]
    bounds = SPECS[problem][1]
    names = [f"x{i + 1}" for i in range(len(bounds))]
    near = [(t["config"][n] - lo) < 0.02 * (hi - lo) or (hi - t["config"][n]) < 0.02 * (hi - lo)
            for t in late for n, (lo, hi) in zip(names, bounds)]
    first = next((i for i, t in enumerate(trials) if t["value"] is not None), None)
    return {"trials": len(trials), "successes": sum(t["value"] is not None for t in trials), "first_success": first,
            "near_edge": sum(bool(t["edge"]) for t in trials),
            "late_failures_second_half": sum(t["value"] is None and t["fraction"] > 0.3 for t in late),
            "coordinates_near_a_bound_second_half": round(sum(near) / len(near), 3)}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problem", choices=PROBLEMS, default=PROBLEMS[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    _one_thread()
    started = time.time()
    rows = []
    for seed in range(args.seeds):
        row = {"seed": seed, **{method: measure(args.problem, method, seed) for method in ("bare:gp", "wrapped:gp")}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    with open(args.out, "w") as f:
        json.dump({"command": "python -m benchmarks.research.gp_before_success " + " ".join(argv),
                   "date": time.strftime("%Y-%m-%d"), "s": time.time() - started, "optuna": optuna.__version__,
                   "problem": args.problem, "workers": 1, "gpu_budget": BUDGET, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
