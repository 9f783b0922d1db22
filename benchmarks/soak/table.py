"""RESULTS.md's section on the chaos soak, from benchmarks/soak/results.json (one run per Ray)."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")


def load() -> Optional[Dict[str, Any]]:
    if not os.path.exists(RESULTS):
        return None
    with open(RESULTS) as f:
        return json.load(f)


def lines(runs: Dict[str, Any]) -> List[str]:
    out = ["## Chaos soak", "",
           "A local cluster (`ray.cluster_utils.Cluster`: a head and three worker nodes declaring 4 CPUs "
           "and 4 GPUs each); trials ask for 1 CPU and 1 GPU and draw their fate from a shuffled deck: "
           "succeed, raise an out-of-memory or a deploy error, hang until the timeout, `os._exit`, or "
           "run a 2-worker Ray Train trainer whose rank 1 hangs or runs out of memory. Each holds a child "
           "process. As trials start: one worker node is removed, another added, the driver SIGKILLed "
           "and the experiment continued with `Tuner.restore`. Then every promise is checked "
           "(`benchmarks/soak/soak.py`).", "",
           "| run | trials (attempts) | faults by kind | told once | graded as expected "
           "| told trials started again (GPU s) | left after | wall |",
           "|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        fault_kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["fates"].items()))
        left = "nothing" if not r["problems"] else "; ".join(r["problems"])[:200]
        ray_own = ", ".join(f"{n} x{c}" for n, c in r.get("ray_own_actors_left", {}).items())
        special = ", ".join(f"{k}: {v}" for k, v in sorted(r["graded_as_expected"].items()) if "(" in k or " " in k)
        out.append(f"| {name}: `{r['command']}`, {r['date']} | {r['trials']} ({r['attempts']}) | {fault_kinds} "
                   f"| {r['told']} of {r['trials']}"
                   + (f" (and {r['retried']} lost with the removed node, retried: the retry told)"
                      if r.get("retried") else "")
                   + f" | {sum(r['graded_as_expected'].values())} of {r['told']} "
                   f"({r['told_from_an_earlier_attempt']} by an attempt before the restore"
                   + (f"; {special}" if special else "") + f") | {_reruns(r)} | {left}"
                   + (f"; Ray's own detached actors: {ray_own}" if ray_own else "")
                   + f" | {r['wall_s'] / 60:.1f} min |")
        if r.get("note"):
            out.append(f"| | | | | {name}: {r['note']} | | | |")
    out += ["", "A trial is graded as expected when it is told as its fate says, or as a timeout when it "
            "really ran the whole timeout before meeting its fate (a trainer slow to start on 2 cores), or "
            "as Ray's lost-node error when its node was the one removed; since 0.6 a trial lost with the "
            "removed node is retried (class lost), and its configuration's next trial is what is told. "
            "A told trial started again is one "
            "Tune resumed after the restore although the searcher had told it (its actor died after the "
            "searcher was saved, before the experiment's state was): since 0.5 the callback ends it at its "
            "start; `--let-told-trials-run` measures the same soak as 0.4 ran it. "
            "Events, per run: " + " / ".join(f"{name}: " + "; ".join(r["events"]) for name, r in runs.items()),
            "", "Ray Train's `PlacementGroupCleaner` stays when its controller dies ungracefully and Ray's "
            "state API is missing (`ray[tune]` without the dashboard): it reserves no CPU or GPU, has no "
            "name, and cannot be ended from outside Ray; see docs/design.md.", ""]
    return out


def _reruns(r: Dict[str, Any]) -> str:
    if "reruns_of_told_trials" not in r:
        return "not counted"
    return f"{r['reruns_of_told_trials']} ({r['rerun_s']:.0f} s in all, the longest {r['rerun_s_max']:.1f} s)"
