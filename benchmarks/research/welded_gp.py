"""Issue 34's last cells, GPSampler on ``welded_beam``: the seeds ``welded_gp.sh`` has finished so
far, both sides paired seed by seed, as the rows of ``../searchers.json``::

    python -m benchmarks.research.welded_gp                   # the table of the seeds done
    python -m benchmarks.research.welded_gp --into benchmarks/searchers.json --note "..."  # when whole

A seed counts once both its sides have finished (a file each in ``welded_gp/``).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

from benchmarks.searchers import _row, merged, table

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "welded_gp")
_NAME = re.compile(r"(bare|wrapped)_w(\d+)_s(\d+)\.json$")


def _files(folder: str) -> List[Tuple[str, int, int, Dict[str, Any]]]:
    """(side, W, seed, the file's content) of each finished cell in ``folder``."""
    found = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        match = _NAME.search(os.path.basename(path))
        if match is not None:
            with open(path) as f:
                found.append((match.group(1), int(match.group(2)), int(match.group(3)), json.load(f)))
    return found


def regrets(files: List[Tuple[str, int, int, Dict[str, Any]]]) -> Dict[int, Dict[str, Dict[int, float]]]:
    """W -> side -> seed -> the regret at the end of the budget, from ``files`` (:func:`_files`)."""
    found: Dict[int, Dict[str, Dict[int, float]]] = {}
    for side, workers, seed, data in files:
        summary = data["summaries"]["welded_beam"][str(workers)][f"{side}:gp"]
        found.setdefault(workers, {}).setdefault(side, {})[seed] = float(summary["regret_by_seed@1"][0])
    return found


def rows(found: Dict[int, Dict[str, Dict[int, float]]]) -> List[Dict[str, Any]]:
    """One row per W, over the seeds both sides finished, in seed order."""
    out = []
    for workers in sorted(found):
        bare, wrapped = found[workers].get("bare", {}), found[workers].get("wrapped", {})
        seeds = sorted(set(bare) & set(wrapped))
        if seeds:
            row = _row("gp", "welded_beam", workers, [bare[s] for s in seeds], [wrapped[s] for s in seeds])
            out.append({**row, "seeds": seeds})
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=HERE)
    parser.add_argument("--into", default=None, help="the record whose welded_beam GP cells these replace")
    parser.add_argument("--note", default=None)
    args = parser.parse_args(argv)
    files = _files(args.folder)
    found = rows(regrets(files))
    for row in found:
        print(f"W = {row['workers']}: seeds {row['seeds']}")
    print(table(found))
    if args.into:
        if not args.note:
            parser.error("--into needs --note: what the run was, as RESULTS.md lists it")
        run = {"command": "bash benchmarks/research/welded_gp.sh 2 (one gp_told run a seed and side)",
               "date": max(d["date"] for *_, d in files), "s": sum(d["s"] for *_, d in files),
               "optuna": files[-1][3]["optuna"], "rows": [{k: v for k, v in r.items() if k != "seeds"} for r in found]}
        with open(args.into) as f:
            record = merged(json.load(f), run, args.note)
        with open(args.into, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
