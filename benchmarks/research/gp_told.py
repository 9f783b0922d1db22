"""How a wrapped ``GPSampler`` is told failures: the package's placed values, or the worst success's.

Wrapped, Optuna's ``GPSampler`` gets every failure as a completed, infeasible trial whose value is
placed below every success (``worst + spread * magnitude / 80``: 1 to 19 spreads below the worst
success). The sampler fits its objective GP to every completed trial, feasible or not, after
standardizing the values: a failure 19 spreads below the successes leaves the successes' own
differences a small share of the standard deviation, under the GP's noise floor, so it cannot
resolve the region near the optimum. The feasibility GP (on the constraint) is what keeps it out
of the failing region; the objective GP needs no failure values for that.

``wrapped:gp_worst`` is the same wrapped searcher with a ``GPSampler`` that fits its objective to
an infeasible trial at the worst feasible value (the failures' place in the order kept: they are
infeasible), the constraint unchanged. Measured against ``bare:gp`` per seed, with the seeds of
``benchmarks/searchers.py``::

    PYTHONPATH=. python -m benchmarks.research.gp_told --problems branin_discs --workers 16 \\
        --seeds 20 --out gp_told.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from typing import Any, Callable, Dict, List

import numpy as np
import optuna
from optuna.samplers._gp import sampler as gp_sampler
from optuna.study import StudyDirection

from benchmarks.asynchronous import run_grid
from benchmarks.pool import process_pool
from benchmarks.searchers import METHODS as SEARCHER_METHODS
from benchmarks.searchers import _one_thread, _optuna, _wrapped


class GPSamplerAtWorst(optuna.samplers.GPSampler):
    """A ``GPSampler`` whose objective GP sees each infeasible trial at the worst feasible value."""

    def _sample_relative_impl(self, study: Any, completed_trials: List[Any], running_trials: List[Any],
                              search_space: Dict[str, Any]) -> Dict[str, Any]:
        if completed_trials and all(t.constraints for t in completed_trials):
            _, feasible = gp_sampler._get_constraint_vals_and_feasibility(study, completed_trials)
            if feasible.any() and not feasible.all():
                values = np.array([t.values for t in completed_trials], dtype=float)
                sign = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in study.directions])
                worst = (sign * values[feasible]).max(axis=0) * sign  # the worst feasible, per objective
                seen = []
                for t, ok in zip(completed_trials, feasible):
                    if not ok:
                        t = copy.copy(t)
                        t.values = list(worst)
                    seen.append(t)
                completed_trials = seen
        return super()._sample_relative_impl(study, completed_trials, running_trials, search_space)


METHODS: Dict[str, Callable[[int], Any]] = {
    **SEARCHER_METHODS,
    "wrapped:gp_worst": _wrapped(_optuna(lambda seed: GPSamplerAtWorst(seed=seed))),
}
CATALOG = "benchmarks.research.gp_told:METHODS"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", default="branin_discs")
    parser.add_argument("--workers", default="16")
    parser.add_argument("--methods", default="wrapped:gp_worst")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cells = [(p, m, s, int(w), 1.0) for p in args.problems.split(",") for w in args.workers.split(",")
             for m in args.methods.split(",") for s in range(args.first_seed, args.first_seed + args.seeds)]
    started = time.time()
    with process_pool(args.processes, _one_thread) as pool:
        summaries = run_grid(cells, pool, CATALOG)
    with open(args.out, "w") as f:
        json.dump({"command": "python -m benchmarks.research.gp_told " + " ".join(argv),
                   "date": time.strftime("%Y-%m-%d"), "s": time.time() - started,
                   "optuna": optuna.__version__, "summaries": summaries}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
