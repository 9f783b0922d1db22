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
           "| GPU s to `OptunaSearch`'s median best, seeds better/worse/equal | GPU in failures "
           "| known repeats a run | graded vs flat: best; GPU s to that best | vs 0.5 (every suggestion run): best; "
           "GPU s to that best |",
           "|---|---|---|---|---|---|---|---|---|"]
    for cost in ("recorded", "gpu"):
        for workers in sorted({w for c, w, _ in cells if c == cost}):
            ours, base = cells.get((cost, workers, "graded_optuna")), cells.get((cost, workers, "optuna_search"))
            if not ours or not base:
                continue
            out.append(f"| {cost} | {workers} | {ours['best']:.2f} / {base['best']:.2f} | "
                       f"{_seeds(ours.get('vs_optuna_search'))} | {_seeds(ours.get('gpu_vs_optuna_search'))} | "
                       f"{100 * ours['failed_share']:.0f} % / {100 * base['failed_share']:.0f} % | "
                       f"{_repeats(ours)} / {_repeats(base)} | {_both(ours, 'flat_penalty')} | "
                       f"{_both(ours, 'graded_optuna_runs_all')} |")
    hyperopt = [(cost, w) for cost in ("recorded", "gpu") for w in sorted({w for c, w, _ in cells if c == cost})
                if (cost, w, "graded_hyperopt") in cells and (cost, w, "hyperopt_search") in cells]
    if hyperopt:
        out += ["", "The HyperOpt backend against Ray's `HyperOptSearch` as it ships (issue 34, item 5):", "",
                "| cost | W | best: the backend / `HyperOptSearch` | seeds better/worse/equal (sign test p) "
                "| known repeats a run | vs 0.5 (every suggestion run) |", "|---|---|---|---|---|---|"]
        for cost, workers in hyperopt:
            ours, base = cells[(cost, workers, "graded_hyperopt")], cells[(cost, workers, "hyperopt_search")]
            out.append(f"| {cost} | {workers} | {ours['best']:.2f} / {base['best']:.2f} | "
                       f"{_seeds(ours.get('vs_hyperopt_search'))} | {_repeats(ours)} / {_repeats(base)} | "
                       f"{_seeds(ours.get('vs_graded_hyperopt_runs_all'))} |")
    out.append("")
    return out


def _both(cell: Dict[str, Any], other: str) -> str:
    """Seeds better/worse/equal against ``other``: by the best at the budget; by the GPU time to
    ``OptunaSearch``'s median best, where the replay measured it."""
    by_time = cell.get(f"gpu_vs_{other}")
    return _seeds(cell.get(f"vs_{other}")) + (f"; {_seeds(by_time)}" if by_time else "")


def _seeds(pair: Optional[Dict[str, Any]]) -> str:
    return f"{pair['better']}/{pair['worse']}/{pair['equal']} ({pair['p']:.2g})" if pair else ""


def _repeats(cell: Dict[str, Any]) -> str:
    return f"{cell['known_repeats']:.1f}" if "known_repeats" in cell else "?"
