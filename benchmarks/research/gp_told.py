"""One side of ``benchmarks/searchers.py``'s runs (``--methods wrapped:gp``): the wrapped searcher
alone, to set against the bare one's regrets recorded for the same seeds, when only the wrapper
changed (the bare searcher's regret is the same seed by seed: GP's at 16 at once on
``branin_discs``, seeds 0 and 1, checked again on 2026-12-06).

Made for GPSampler told failures close below the worst success::

    PYTHONPATH=. python -m benchmarks.research.gp_told --methods wrapped:gp --problems branin_discs \\
        --workers 16 --seeds 20 --out gp_told.json

A cell longer than a session (welded_beam's, ``welded_gp.sh``) runs alone with ``--checkpoint
FILE``: saved every 10 minutes and resumed from there, telling and suggesting what it would have
uncut; its ``s`` then counts only the last stretch (``resumed`` says so).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List

import optuna

from benchmarks.asynchronous import budget, run_grid, simulate, summaries_of
from benchmarks.pool import process_pool
from benchmarks.searchers import CATALOG, METHODS, _one_thread


def _checkpointed(cell: tuple, checkpoint: str) -> Dict[str, Any]:
    problem, method, seed, workers, scale = cell
    return simulate(problem, method, seed, workers, budget(workers) * scale, METHODS, checkpoint=checkpoint)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", default="branin_discs")
    parser.add_argument("--workers", default="16")
    parser.add_argument("--methods", default="wrapped:gp")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", required=True)
    parser.add_argument("--checkpoint", help="one cell only: save it to this file every 10 minutes and "
                        "resume from it if it exists (a cell longer than a session)")
    args = parser.parse_args(argv)
    cells = [(p, m, s, int(w), 1.0) for p in args.problems.split(",") for w in args.workers.split(",")
             for m in args.methods.split(",") for s in range(args.first_seed, args.first_seed + args.seeds)]
    started = time.time()
    if args.checkpoint:
        if len(cells) != 1:
            parser.error(f"--checkpoint takes one cell; these arguments make {len(cells)}")
        resumed = os.path.exists(args.checkpoint)
        with process_pool(1, _one_thread) as pool:  # summarized here, as run_grid does (the regret's
            # reference optimum differs in its ninth digit on one BLAS thread)
            run = pool.submit(_checkpointed, cells[0], args.checkpoint).result()
        summaries = summaries_of(cells, [run])
    else:
        resumed = False
        with process_pool(args.processes, _one_thread) as pool:
            summaries = run_grid(cells, pool, CATALOG)
    with open(args.out, "w") as f:
        json.dump({"command": "python -m benchmarks.research.gp_told " + " ".join(argv),
                   "date": time.strftime("%Y-%m-%d"), "s": time.time() - started,
                   "optuna": optuna.__version__, "resumed": resumed, "summaries": summaries}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
