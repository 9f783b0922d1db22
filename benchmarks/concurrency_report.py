"""RESULTS.md's section on many trials at once, its plot and its targets, from the summaries
asynchronous.py computed. Nothing here is typed in by hand."""

from __future__ import annotations

import math
import os
import statistics
from typing import Any, Dict, List, Optional

from benchmarks.asynchronous import BASELINE, MAIN, budget
from benchmarks.published import ALL_PROBLEMS, PUBLISHED, reference_optimum


def fmt_regret(x: Optional[float]) -> str:
    """A regret (or any number) in three significant digits; "none" for no success."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "none"
    return f"{x:.3g}"


def ratio(a: float, b: float) -> float:
    """a / b for regrets, with 0/0 = 1 and a finite a against an infinite b = 0."""
    if a == b:
        return 1.0
    if math.isinf(b):
        return 0.0
    if b == 0:
        return math.inf
    return a / b


def paired_counts(ours: List[float], base: List[float]) -> tuple:
    """Seeds where ours is better (lower regret), worse, and equal, over the seeds both ran (a
    cell with more seeds now than before is compared on the seeds it had then)."""
    pairs = list(zip(ours, base))
    better = sum(a < b for a, b in pairs)
    worse = sum(a > b for a, b in pairs)
    return better, worse, len(pairs) - better - worse


def sign_test(better: int, worse: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if either were as
    likely (ties left out)."""
    n = better + worse
    if n == 0:
        return 1.0
    k = min(better, worse)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def _paired(ours: List[float], base: List[float]) -> str:
    return "/".join(str(c) for c in paired_counts(ours, base))


def plot(summaries: Dict[str, Any], out: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows))
    for ax, name in zip(axes.flat, names):
        by_w = summaries[name]
        ws = sorted(by_w)
        region = ALL_PROBLEMS[name].region is not None
        drawn = []
        for method in MAIN:
            key = "late_region_share" if region else "regret@1"
            ys = [by_w[w][method].get(key, math.nan) for w in ws]
            floor = 1e-6 * max(1.0, abs(_optimum(name)))  # a regret of 0 drawn at the floor
            ys = [(max(y, floor) if not region else y) if math.isfinite(y) else math.nan for y in ys]
            ax.plot(ws, ys, marker="o", label=method)
            drawn += [y for y in ys if math.isfinite(y)]
        ax.set_xscale("log", base=2)
        ax.set_xticks(ws, [str(w) for w in ws])
        if not region and drawn:
            ax.set_yscale("log")
        ax.set_title(name + (" (late share in best region)" if region else " (median regret)"), fontsize=9)
        ax.set_xlabel("trials at once (W)", fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    name = "concurrency.png"
    fig.savefig(os.path.join(out, name), dpi=80)
    plt.close(fig)
    return name


def _optimum(name: str) -> float:
    problem = ALL_PROBLEMS[name]
    return problem.optimum() if problem.optimum else 1.0


def _at(summaries: Dict[str, Any], w: int):
    """(problem, its summaries at ``w``) for each problem that ran at ``w``."""
    return [(name, by_w[w]) for name, by_w in summaries.items() if by_w.get(w)]


def regret_tables(summaries: Dict[str, Any]) -> List[str]:
    """One table per W: median regret of each method, and the package's ratio to Ray's."""
    lines: List[str] = []
    ws = sorted({w for by_w in summaries.values() for w in by_w})
    for w in ws:
        lines += [f"### W = {w}: {budget(w):g} timeouts of GPU time ({budget(w) / w:g} of wall time)", "",
                  "Median regret at the end of the budget (median at half of it in brackets); for the "
                  "package, its ratio to Ray's searcher on the same TPE and the seeds it does "
                  "better/worse/equal on. `all_fail` has no success: its cell is the share of the "
                  "late suggestions in the longest-surviving region.", "",
                  "| problem | " + " | ".join(MAIN) + " | waves (graded_optuna) |",
                  "|---|" + "---|" * (len(MAIN) + 1)]
        for name, by in _at(summaries, w):
            cells = []
            for method in MAIN:
                s = by[method]
                if ALL_PROBLEMS[name].region is not None:
                    cells.append(f"{s['late_region_share']:.2f}")
                    continue
                cell = f"{fmt_regret(s['regret@1'])} [{fmt_regret(s['regret@0.5'])}]"
                if method in BASELINE:
                    base = by[BASELINE[method]]
                    cell += (f" ({ratio(s['regret@1'], base['regret@1']):.2f}x; "
                             f"{_paired(s['regret_by_seed@1'], base['regret_by_seed@1'])})")
                cells.append(cell)
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {by['graded_optuna']['waves']:.1f} |")
        lines.append("")
    return lines


def ratio_summary(summaries: Dict[str, Any]) -> List[str]:
    """Per problem and W: the package's median regret over Ray's searcher on the same TPE
    (Optuna backend / HyperOpt backend); below 1 the package is better."""
    ws = sorted({w for by_w in summaries.values() for w in by_w})
    lines = ["Median regret at equal GPU time, the package over Ray's searcher on the same TPE "
             "(Optuna backend over `OptunaSearch` / HyperOpt backend over `HyperOptSearch`; below 1 "
             "the package is better; `all_fail`: late share in the longest-surviving region, "
             "package Optuna / `OptunaSearch`):", "",
             "| problem | " + " | ".join(f"W = {w}" for w in ws) + " |", "|---|" + "---|" * len(ws)]
    for name, by_w in summaries.items():
        cells = []
        for w in ws:
            by = by_w.get(w)
            if not by:
                cells.append("-")
            elif ALL_PROBLEMS[name].region is not None:
                cells.append(f"{by['graded_optuna']['late_region_share']:.2f} / "
                             f"{by['optuna_search']['late_region_share']:.2f}")
            else:
                cells.append(" / ".join(f"{ratio(by[ours]['regret@1'], by[base]['regret@1']):.2f}"
                                        for ours, base in BASELINE.items()))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def behaviour_table(summaries: Dict[str, Any], w: int) -> List[str]:
    """Failing share, late failing share, late share near the failing edge, GPU time to target."""
    lines = [f"Where the suggestions went at W = {w}: failing share of all trials / of the late half "
             "(suggested in the second half of the wall time), the late share near the failing "
             "region's edge (within 5 % of a constraint's limit), and GPU time to the target "
             "(timeouts; where a problem has one).", "",
             "| problem | " + " | ".join(MAIN) + " |", "|---|" + "---|" * len(MAIN)]
    for name, by in _at(summaries, w):
        cells = []
        for method in MAIN:
            s = by[method]
            cell = f"{s['fail_share']:.2f} / {s['late_fail_share']:.2f}"
            if "late_edge_share" in s:
                cell += f"; edge {s['late_edge_share']:.2f}"
            if "gpu_to_target" in s:
                cell += f"; to target {fmt_regret(s['gpu_to_target'])}"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _ratio_targets(w: int, ours: str, base: str, ratios: Dict[str, float], seeds: str = "") -> List[List[str]]:
    """The W targets' rows from each problem's median-regret ratio of ``ours`` over ``base``."""
    worse = {n: r for n, r in ratios.items() if r > 1.0}
    rows = [[f"W = {w}", f"{ours} never worse than {base} (median regret{seeds})",
             ", ".join(f"{n} {r:.2f}x" for n, r in worse.items()) or f"worst {max(ratios.values()):.2f}x",
             "missed" if worse else "met"]]
    if w >= 16:
        missed = {n: r for n, r in ratios.items() if r > 0.6}
        rows.append([f"W = {w}", f"{ours} median regret <= 0.6x {base} on every problem{seeds}",
                     f"{len(ratios) - len(missed)}/{len(ratios)} met; missed: "
                     + (", ".join(f"{n} {r:.2f}x" for n, r in missed.items()) or "none"),
                     "missed" if missed else "met"])
    return rows


def targets(summaries: Dict[str, Any], random_region_share: float) -> List[List[str]]:
    rows: List[List[str]] = []
    for ours, base in BASELINE.items():
        for w in sorted({w for by_w in summaries.values() for w in by_w}):
            ratios = {}
            for name, by_w in summaries.items():
                if w not in by_w or ALL_PROBLEMS[name].region is not None:
                    continue
                ratios[name] = ratio(by_w[w][ours]["regret@1"], by_w[w][base]["regret@1"])
            rows += _ratio_targets(w, ours, base, ratios)
    if "all_fail" in summaries and 16 in summaries["all_fail"]:
        share = summaries["all_fail"][16]["graded_optuna"]["late_region_share"]
        rows.append(["W = 16", "all_fail: late share in the longest-surviving region >= 3x random's",
                     f"{share:.2f} vs {random_region_share:.2f} under random sampling "
                     f"({share / random_region_share:.1f}x)",
                     "met" if share >= 3 * random_region_share else "missed"])
    return rows


MORE_SEEDS_PAIR = ("graded_optuna", "optuna_search")


def by_seed(more: Dict[str, Any]) -> Dict[tuple, tuple]:
    """``(problem, W) -> (ours, base)``: the pair's regrets by seed in one more-seeds run
    (problems with a best value)."""
    return {(name, w): tuple(by[m]["regret_by_seed@1"] for m in MORE_SEEDS_PAIR)
            for name, by_w in more.items() for w, by in by_w.items() if ALL_PROBLEMS[name].region is None}


def pooled(summaries: Dict[str, Any], more: Dict[str, Any]) -> Dict[tuple, tuple]:
    """As :func:`by_seed`, the concurrent section's seeds followed by the more-seeds run's, for
    the problems and W both ran."""
    return {(name, w): tuple(summaries[name][w][m]["regret_by_seed@1"] + seeds
                             for m, seeds in zip(MORE_SEEDS_PAIR, pair))
            for (name, w), pair in by_seed(more).items() if summaries.get(name, {}).get(w)}


def _seed_count(both: Dict[tuple, tuple]) -> int:
    return len(next(iter(both.values()))[0])


def _pooled_ratio(ours: List[float], base: List[float]) -> float:
    return ratio(statistics.median(ours), statistics.median(base))


def _pair_rows(both: Dict[tuple, tuple]) -> List[str]:
    """Per problem and W: the pair's median regret ratio and the seeds better/worse/equal."""
    ws = sorted({w for _, w in both})
    lines = ["| problem | " + " | ".join(f"W = {w}" for w in ws) + " |", "|---|" + "---|" * len(ws)]
    for name in dict.fromkeys(p for p, _ in both):
        cells = [f"{_pooled_ratio(*both[(name, w)]):.2f}x ({_paired(*both[(name, w)])})" if (name, w) in both
                 else "-" for w in ws]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def more_seeds_table(summaries: Dict[str, Any], more: Dict[str, Any]) -> List[str]:
    """The Optuna backend over ``OptunaSearch`` on the seeds of both runs."""
    both = pooled(summaries, more)
    if not both:
        return []
    ours, base = MORE_SEEDS_PAIR
    left = sorted({w for by_w in summaries.values() for w in by_w} - {w for _, w in both})
    return [f"The same two on {_seed_count(both)} seeds (the concurrent section's and as many new ones, "
            "`--only more_seeds`" + (f"; not run at W = {', '.join(map(str, left))}, the costliest runs"
                                     if left else "") + f"): `{ours}`'s median regret over `{base}`'s, "
            "and the seeds it does better/worse/equal on.", ""] + _pair_rows(both)


def other_versions_table(run: Dict[str, Any]) -> List[str]:
    """The pair from a more-seeds run made at other versions (``run``: that run's results.json)."""
    both = by_seed(run.get("more_seeds") or {})
    if not both:
        return []
    ours, base = MORE_SEEDS_PAIR
    machine = run["machine"]
    return [f"The same two at Ray {machine['ray']} and Optuna {machine['optuna']}, the oldest versions the "
            f"package supports, where `{base}` as shipped samples each parameter on its own and without "
            f"the constant liar; {_seed_count(both)} seeds of their own, "
            f"`{run['timing']['more_seeds']['command']}` in a virtualenv installed with "
            "`pip install -c constraints-oldest.txt -e \".[test]\"`:", ""] + _pair_rows(both)


def _pair_targets(both: Dict[tuple, tuple], where: str = "") -> List[List[str]]:
    """The Optuna backend's W targets on the pair's regrets by seed (``where``: after the seed count)."""
    rows: List[List[str]] = []
    seeds = f", {_seed_count(both)} seeds{where}" if both else ""
    for w in sorted({w for _, w in both}):
        ratios = {name: _pooled_ratio(*pair) for (name, ww), pair in both.items() if ww == w}
        rows += _ratio_targets(w, *MORE_SEEDS_PAIR, ratios, seeds=seeds)
    return rows


def more_seeds_targets(summaries: Dict[str, Any], more: Dict[str, Any]) -> List[List[str]]:
    """The Optuna backend's W targets again, on the seeds of both runs."""
    return _pair_targets(pooled(summaries, more))


def other_versions_targets(run: Dict[str, Any]) -> List[List[str]]:
    """The same targets from a more-seeds run at other versions (``run``: its results.json)."""
    if not run:
        return []
    machine = run["machine"]
    return _pair_targets(by_seed(run.get("more_seeds") or {}),
                         f", Ray {machine['ray']} and Optuna {machine['optuna']}")


def published_lines() -> List[str]:
    lines = ["Published problems (reference optimum computed by SLSQP from 200 starts, next to the "
             "best known value):", ""]
    from benchmarks.published import SPECS

    for name in PUBLISHED:
        _, bounds, best, source = SPECS[name]
        lines.append(f"- `{name}`: {ALL_PROBLEMS[name].description} Reference optimum here "
                     f"{reference_optimum(name):.7g}.")
    return lines + [""]
