"""Run what was tried and not adopted, and write research/RECORD.md.

    python -m benchmarks.research.run            # the variants, one at a time and many at once; the trace
    python -m benchmarks.research.run --quick    # a smoke run

Sections: ``variants`` (each variant of ``variants.py`` one trial at a time, on the
benchmark's problems and seeds), ``concurrency_variants`` (the many-at-once variants at W = 16
and 64, version 0.2's Optuna backend at every W) and ``mechanism`` (what TPE's good group held,
``mechanism.py``). The shipped methods they are set against come from the benchmark's own
``benchmarks/results.json`` (``python -m benchmarks.run``). The prototypes of
``optuna_variants.py`` and ``hyperopt_variants.py`` are commands of their own (see README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional

from benchmarks.asynchronous import WORKERS, grid, run_grid
from benchmarks.pool import process_pool
from benchmarks.research.record import load_research, write_record
from benchmarks.research.variants import CONCURRENCY_VARIANTS, VARIANTS
from benchmarks.results_page import load_results
from benchmarks.run import machine, sequential

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = os.path.join(os.path.dirname(HERE), "results.json")
CATALOG = "benchmarks.research.variants:ALL_METHODS"
SECTIONS = ("variants", "concurrency_variants", "mechanism")


def concurrency_variants(seeds: int, pool: Any, quick: bool = False) -> Dict[str, Any]:
    """Each many-at-once variant at W = 16 and 64, and version 0.2's backend at every W."""
    workers, variant_workers, scale = ((1, 4), (4,), 0.2) if quick else (WORKERS, (16, 64), 1.0)
    cells = []
    for w in workers:
        names = [m for m in CONCURRENCY_VARIANTS if w in variant_workers or m == "graded_optuna_0.2"]
        cells += grid(seeds, workers=(w,), main=tuple(names), scale=scale)
    cells.sort(key=lambda c: (c[0], workers.index(c[3])))  # problem, then W, as the benchmark's grid
    return run_grid(cells, pool, CATALOG)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 seeds, 12 trials, a fifth of the budget")
    parser.add_argument("--seeds", type=int, default=20, help="seeds of the one-at-a-time variants")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--concurrent-seeds", type=int, default=10)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--out", default=HERE, help="where results.json and RECORD.md go")
    parser.add_argument("--shipped", default=SHIPPED, help="the benchmark's results.json")
    parser.add_argument("--workers", type=int, default=2, help="processes running the simulations")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials, args.concurrent_seeds = 2, 12, 1
    only = set(filter(None, args.only.split(",")))
    if only - set(SECTIONS):
        parser.error(f"unknown sections {sorted(only - set(SECTIONS))}; choose from {list(SECTIONS)}")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    data: Dict[str, Any] = load_research(path) if os.path.exists(path) else {}
    data.setdefault("timing", {})
    data["machine"] = machine()

    def timed(name: str, fn) -> None:
        started = time.time()
        data[name] = fn()
        data["timing"][name] = {"s": time.time() - started, "date": time.strftime("%Y-%m-%d"),
                                "command": "python -m benchmarks.research.run" + (" --quick" if args.quick else "")
                                + (f" --only {name}" if only != set(SECTIONS) else "")}

    with process_pool(args.workers) as pool:
        if "variants" in only:
            timed("variants", lambda: {"summaries": sequential(args.seeds, args.trials, pool, list(VARIANTS), CATALOG),
                                       "seeds": args.seeds, "trials": args.trials})
        if "concurrency_variants" in only:
            timed("concurrency_variants", lambda: concurrency_variants(args.concurrent_seeds, pool, args.quick))
    if "mechanism" in only:
        from benchmarks.research.mechanism import traces

        timed("mechanism", traces)
    with open(path, "w") as f:
        json.dump(data, f, default=str)
    if os.path.exists(args.shipped):
        write_record(os.path.join(args.out, "RECORD.md"), load_results(args.shipped), data)
        print(f"wrote {os.path.join(args.out, 'RECORD.md')}")
    else:
        print(f"wrote {path}; no RECORD.md: the shipped methods' {args.shipped} is missing (python -m benchmarks.run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
