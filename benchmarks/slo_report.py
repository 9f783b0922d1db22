"""RESULTS.md's section on SLOs and two objectives, from what slo_bench.py measured."""

from __future__ import annotations

from typing import Any, Dict, List

from benchmarks.slo_bench import SLOS, TTFT


def slo_lines(slo: Dict[str, Any]) -> List[str]:
    seq, conc = slo["sequential"], slo["concurrent"]
    checkpoints = sorted({int(k.split("@")[1]) for row in seq["one"].values() for k in row if k.startswith("best@")})
    lines = ["## SLOs and two objectives", "",
             "`benchmarks/slo_bench.py`: `llm_serving`'s server also reports its p99 time per token "
             "and its time to first token. SLOs: " + "; ".join(
                 f"{s.describe()} (fails at {1 + s.fail_ratio:g}x its bound)" for s in SLOS)
             + f". The best SLO-meeting throughput on a dense grid is {seq['best_reference']:.6g} tokens/s.",
             "", f"One objective, {seq['seeds']} seeds, told one at a time: median best SLO-meeting "
             "throughput after N trials (its share of the grid's best), and the share of trials that "
             "met every SLO.", "",
             "| method | " + " | ".join(f"best@{n}" for n in checkpoints) + " | share meeting the SLOs |",
             "|---|" + "---|" * (len(checkpoints) + 1)]
    for method, row in seq["one"].items():
        cells = [f"{row[f'best@{n}']:.6g} ({row[f'share@{n}']:.3f})" for n in checkpoints]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {row['meeting_share']:.2f} |")
    lines += ["", f"The same with {conc['workers']} trials at once ({conc['seeds']} seeds, equal GPU time, "
              "as in \"Many trials at once\"): median best SLO-meeting throughput (share of the grid's best).", "",
              "| method | best |", "|---|---|"]
    for method, row in conc.items():
        if isinstance(row, dict):
            lines.append(f"| {method} | {row['best']:.6g} ({row['share']:.3f}) |")
    lines += ["", "Two objectives, throughput up and p99 down, with the SLO " + TTFT[0].describe()
              + f" ({seq['trials']} trials, {seq['seeds']} seeds): median hypervolume of the "
              "SLO-meeting front, as a share of the grid's (reference point: no throughput, p99 70 ms).", "",
              "| method | hypervolume share |", "|---|---|"]
    for method, row in seq["two"].items():
        lines.append(f"| {method} | {row['hv_share']:.3f} |")
    return lines + [""]
