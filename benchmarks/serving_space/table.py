"""RESULTS.md's section on the recorded llama-server space, from benchmarks/serving_space/replay.json."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))


def load() -> Optional[Dict[str, Any]]:
    path = os.path.join(HERE, "replay.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def lines(data: Dict[str, Any]) -> List[str]:
    cells = {(c["cost"], c["workers"], c["method"]): c for c in data["cells"]}
    out = ["## A recorded llama-server space, replayed", "",
           f"`{data['command'].strip()}` ({data['seconds']} s): 168 configurations of a real `llama-server` "
           "recorded once (86 fail at start-up, 79 of them out of memory), then searched "
           f"{data['seeds']} times per method at what each trial really cost (`recorded`), and with "
           f"{data['gpu_load_s']:g} s of weight loading added to every start (`gpu`), the same GPU time for "
           f"every method. Objective: the best throughput with `e2el_p99_s` <= {data['slo_s']} s "
           f"(the space's best: {data['best_possible']:.2f} tok/s). Every method, the measures and what they "
           "mean: [serving_space/README.md](serving_space/README.md).", "",
           "| cost | W | best: the package (Optuna) / `OptunaSearch` | seeds better/worse/equal (sign test p) "
           "| GPU in failures | graded vs flat |",
           "|---|---|---|---|---|---|"]
    for cost in ("recorded", "gpu"):
        for workers in sorted({w for c, w, _ in cells if c == cost}):
            ours, base = cells.get((cost, workers, "graded_optuna")), cells.get((cost, workers, "optuna_search"))
            if not ours or not base:
                continue
            vs, flat = ours["vs_optuna_search"], ours.get("vs_flat_penalty")
            out.append(f"| {cost} | {workers} | {ours['best']:.2f} / {base['best']:.2f} | "
                       f"{vs['better']}/{vs['worse']}/{vs['equal']} ({vs['p']:.2g}) | "
                       f"{100 * ours['failed_share']:.0f} % / {100 * base['failed_share']:.0f} % | "
                       + (f"{flat['better']}/{flat['worse']}/{flat['equal']} |" if flat else " |"))
    out.append("")
    return out
