"""RESULTS.md and the plots, from the summaries run.py computed. Nothing here is typed in by
hand; the written reading of the tables is research/reading.md (in research/RECORD.md)."""

from __future__ import annotations

import json
import math
import os
import statistics
from typing import Any, Dict, List, Optional

from benchmarks.methods import DESCRIPTIONS, METHODS
from benchmarks.problems import PROBLEMS, random_failure_rate

HALF_FAILING = ("all_fail", "llm_serving", "mostly_fail", "latency_ms")
BASELINES = ("optuna_search", "hyperopt_search", "flat_penalty", "design_fixed_scale")
OURS = ("graded_optuna", "graded_hyperopt")


def _fmt(x: Optional[float]) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "none"  # no success in that share of the seeds
    return f"{x:.4g}"


def _q(q) -> str:
    return f"{_fmt(q[1])} [{_fmt(q[0])}, {_fmt(q[2])}]"


def plot(summaries: Dict[str, Dict[str, Any]], out: str, trials: int) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for problem_name, by_method in summaries.items():
        problem = PROBLEMS[problem_name]
        fig, ax = plt.subplots(figsize=(8, 5))
        x = list(range(1, trials + 1))
        for method, summary in by_method.items():
            if problem.region is not None:
                ax.plot(x, summary["region_curve"], label=method)
                ylabel = "share of the last 10 suggestions in the longest-surviving region"
            else:
                # Seeds without a success yet count as the worst value; draw where the median
                # is a real value, and the band where its edges are.
                points = [(i + 1, q) for i, q in enumerate(summary["curve_quartiles"]) if math.isfinite(q[1])]
                if not points:
                    continue
                xs = [p[0] for p in points]
                line = ax.plot(xs, [p[1][1] for p in points], label=method)[0]
                finite = [(x, q) for x, q in points if math.isfinite(q[0]) and math.isfinite(q[2])]
                ax.fill_between([x for x, _ in finite], [q[0] for _, q in finite], [q[2] for _, q in finite],
                                color=line.get_color(), alpha=0.12)
                ylabel = f"best value found ({'higher' if problem.mode == 'max' else 'lower'} is better)"
        ax.set_xlabel("trials")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{problem_name}: median and interquartile range over seeds")
        if problem.mode == "min" and problem.region is None:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"{problem_name}.png"
        fig.savefig(os.path.join(out, name), dpi=90)
        plt.close(fig)
        files.append(name)
    return files


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def _checkpoint(summary: Dict[str, Any]) -> str:
    """The best@N column the targets use: best@50, or the last one a short run has."""
    return "best@50" if "best@50" in summary else max(k for k in summary if k.startswith("best@"))


def _paired(ours: Dict[str, Any], base: Dict[str, Any], at: str, mode: str) -> str:
    """Seed by seed (the same seed gives both methods the same start): better/worse/equal."""
    pairs = list(zip(ours[f"by_seed{at[4:]}"], base[f"by_seed{at[4:]}"]))
    better = sum(_better(a, b, mode) for a, b in pairs)
    worse = sum(_better(b, a, mode) for a, b in pairs)
    return f"seeds better/worse/equal: {better}/{worse}/{len(pairs) - better - worse}"


def targets(summaries: Dict[str, Dict[str, Any]], overhead: Dict[str, Any],
            tuner: Optional[Dict[str, Any]]) -> List[List[str]]:
    rows = []
    for problem_name in HALF_FAILING:
        problem, by = PROBLEMS[problem_name], summaries[problem_name]
        if problem.region is not None:
            ours = by["graded_optuna"]["later_region_share"]
            rnd = by["random"]["later_region_share"]
            rows.append([problem_name, "later share in longest-surviving region >= 3x random's",
                         f"{ours:.2f} vs {rnd:.2f} ({ours / rnd:.1f}x)" if rnd else f"{ours:.2f} vs 0",
                         "met" if ours >= 3 * rnd else "missed"])
            continue
        at = _checkpoint(by[OURS[0]])
        for ours in OURS:
            best = by[ours][at]
            for base in BASELINES:
                other = by[base][at]
                verdict = "met" if _better(best[1], other[1], problem.mode) else "missed"
                rows.append([problem_name, f"{ours} median {at} beats {base}",
                             f"{_fmt(best[1])} vs {_fmt(other[1])} ({_paired(by[ours], by[base], at, problem.mode)})",
                             verdict])
            if problem.target is not None:
                mine, theirs = by[ours]["to_target"], by["optuna_search"]["to_target"]
                rows.append([problem_name, f"{ours} trials to target <= 0.6x optuna_search's",
                             f"{_fmt(mine)} vs {_fmt(theirs)} ({mine / theirs:.2f}x)",
                             "met" if mine <= 0.6 * theirs else "missed"])
            mine, theirs = by[ours]["wasted"], by["optuna_search"]["wasted"]
            rows.append([problem_name, f"{ours} time wasted on failures <= 0.6x optuna_search's",
                         f"{_fmt(mine)} vs {_fmt(theirs)} timeouts ({mine / theirs:.2f}x)",
                         "met" if mine <= 0.6 * theirs else "missed"])
    table = overhead["table"]
    for n in overhead["sizes"]:
        for ours, base in (("graded_optuna", "optuna_search"), ("graded_hyperopt", "hyperopt_search")):
            a, b = table[n][ours]["ms"], table[n][base]["ms"]
            told = table[n][f"{base}_told"]["ms"]
            rows.append(["overhead", f"{ours} per trial <= 1.25x {base} at {n} trials",
                         f"{a:.2f} vs {b:.2f} ms ({a / b:.2f}x; {a / told:.2f}x {base}_told)",
                         "met" if a <= 1.25 * b else "missed"])
        if n == 1000:
            a = table[n]["graded_optuna"]["ms"]
            rows.append(["overhead", "graded_optuna <= 5 ms per trial at 1,000 trials", f"{a:.2f} ms",
                         "met" if a <= 5 else "missed"])
    if tuner:
        ratio = tuner["trivial_200"]["ratio"]
        rows.append(["overhead", "200-trial Tuner run within 5 % of OptunaSearch's wall time",
                     f"{ratio:.3f}x", "met" if ratio <= 1.05 else "missed"])
    return rows


def region_share(problem, samples: int = 4000, seed: int = 0) -> float:
    """The share of uniformly random configurations in the problem's region (fixed seed)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    configs = ({k: d.sample(random_state=rng) for k, d in problem.space.items()} for _ in range(samples))
    return sum(bool(problem.region(c)) for c in configs) / samples


def _tuner_check_lines(check, concurrent) -> List[str]:
    """The real ``tune.Tuner`` run at 16 at once, beside the simulation of the same problem and W."""
    import benchmarks.concurrency_report as cr

    w = check["workers"]
    lines = [f"### Through real `tune.Tuner`, {w} trials at once", "",
             f"`{check['problem']}` on a local Ray declaring {w} GPUs, one per trial, "
             f"each trial sleeping for its outcome's share of a {check['timeout_s']:g} s timeout, "
             f"for {check['wall_s']:g} s (six timeouts, the simulation's budget at W = {w}); seeds "
             f"{check['seeds']}, the two methods alternating:", "",
             "| method | median regret | regret per seed | trials per seed | fail share |", "|---|---|---|---|---|"]
    for name in ("graded_optuna", "optuna_search"):
        r = check[name]
        share = f"{statistics.mean(r['fail_share']):.2f}" if "fail_share" in r else "-"
        each = ", ".join(cr.fmt_regret(x) for x in r["regret"])
        lines.append(f"| {name} | {cr.fmt_regret(statistics.median(r['regret']))} | {each} "
                     f"| {', '.join(str(c) for c in r['trials'])} | {share} |")
    g, o = check["graded_optuna"]["regret"], check["optuna_search"]["regret"]
    better, _, ties = cr.paired_counts(g, o)
    lines += ["", f"Real Ray: graded_optuna better in {better} of {len(g)} seeds, ties {ties}."]
    sim = _simulated(check, concurrent)
    if sim:
        sg, so = sim
        by_g = sg["regret_by_seed@1"]
        lines.append(f"The simulation of the same problem at W = {w} ({len(by_g)} seeds): median regret "
                     f"{cr.fmt_regret(sg['regret@1'])} against {cr.fmt_regret(so['regret@1'])}, "
                     "graded_optuna better in "
                     f"{cr.paired_counts(by_g, so['regret_by_seed@1'])[0]} of {len(by_g)} seeds.")
    return lines + [""]


def _simulated(check, concurrent) -> Optional[tuple]:
    """The simulation's (graded_optuna, optuna_search) summaries at the real check's problem and W."""
    sim = concurrent.get(check["problem"], {}).get(check["workers"], {})
    return (sim["graded_optuna"], sim["optuna_search"]) if "graded_optuna" in sim and "optuna_search" in sim else None


def concurrency_lines(concurrent, check, more_seeds=None, oldest=None) -> List[str]:
    import benchmarks.concurrency_report as cr
    from benchmarks.asynchronous import MIN_DURATION

    lines = ["## Many trials at once", "",
             f"`benchmarks/asynchronous.py`: an event simulation of W workers (W = "
             f"{', '.join(str(w) for w in sorted({w for b in concurrent.values() for w in b}))}), each "
             "running one trial at a time, driven as Ray drives a searcher: suggest when a worker frees "
             "up, a failure reported as `on_trial_complete(error=True)` and then the callback's details, "
             "trials still running pending in the searcher. A trial holds its worker for its outcome's "
             f"share of the timeout (at least {MIN_DURATION}). Every method gets the same GPU time, "
             "max(60, 6 W) timeouts summed over the workers, so at least six timeouts of wall time even "
             "at W = 64; only trials that ended by then count; "
             f"{next(iter(next(iter(concurrent.values())).values()))['graded_optuna']['seeds']} seeds per cell.", "",
             "![concurrency](concurrency.png)", ""]
    lines += cr.other_versions_table(oldest or {})
    lines += cr.published_lines()
    lines += cr.regret_tables(concurrent)
    for w in sorted({w for b in concurrent.values() for w in b}):
        if w >= 16:
            lines += cr.behaviour_table(concurrent, w)
    if check:
        lines += _tuner_check_lines(check, concurrent)
    from benchmarks.published import ALL_PROBLEMS

    rows = cr.targets(concurrent, region_share(ALL_PROBLEMS["all_fail"]))
    rows += cr.more_seeds_targets(concurrent, more_seeds or {})
    rows += cr.other_versions_targets(oldest or {})
    if check:
        g, o = check["graded_optuna"]["regret"], check["optuna_search"]["regret"]
        sim = _simulated(check, concurrent)
        agree = None
        if sim:
            agree = (statistics.median(g) < statistics.median(o)) == (sim[0]["regret@1"] < sim[1]["regret@1"])
        rows.append([f"real Tuner, W = {check['workers']}",
                     "the ranking of graded_optuna vs optuna_search agrees with the simulation",
                     f"median regret {cr.fmt_regret(statistics.median(g))} vs "
                     f"{cr.fmt_regret(statistics.median(o))} ({check['problem']}, "
                     f"{len(g)} seeds)", "met" if agree else ("missed" if agree is False else "no simulation")])
    lines += ["### Targets for many trials at once", "", "| where | target | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows] + [""]
    return lines


SECTION_NAMES = {"sequential": "the sequential fast loop", "concurrent": "many trials at once",
                 "slo": "SLOs and two objectives", "overhead": "the overhead timings",
                 "tuner": "the real Tuner runs", "tuner16": "the 16-at-once Tuner check, rerun alone",
                 "more_seeds": "many trials at once, the Optuna pair on more seeds"}


#: The Optuna pair's more-seeds run at the oldest supported Ray and Optuna, made in that
#: environment with ``run.py --only more_seeds --concurrent-seeds 20 --out benchmarks/oldest``
#: (README, "Benchmarks").
OLDEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oldest", "results.json")


def load_results(path: str) -> Dict[str, Any]:
    """A run's results.json, with the W keys of the many-trials sections as ints."""
    with open(path) as f:
        data = json.load(f)
    for section in ("concurrent", "more_seeds"):
        if data.get(section):
            data[section] = {p: {int(w): by for w, by in by_w.items()} for p, by_w in data[section].items()}
    if data.get("overhead"):
        data["overhead"]["table"] = {int(n): row for n, row in data["overhead"]["table"].items()}
    return data


def _load_if_present(path: str) -> Optional[Dict[str, Any]]:
    return load_results(path) if os.path.exists(path) else None


def write_page(data: Dict[str, Any], out: str) -> str:
    """The plots and RESULTS.md in ``out`` from a run's ``data`` (:func:`load_results`); the page's path."""
    from benchmarks.concurrency_report import plot as plot_concurrency

    seq = data["sequential"]
    plots = plot(seq["summaries"], out, seq["trials"]) + [plot_concurrency(data["concurrent"], out)]
    path = os.path.join(out, "RESULTS.md")
    write_results(path, data, plots)
    return path


def write_results(path, data, plots) -> None:
    """RESULTS.md from a run's ``data`` (see run.py)."""
    seq = data["sequential"]
    summaries, seeds, trials = seq["summaries"], seq["seeds"], seq["trials"]
    overhead = data["overhead"]
    tuner = (data.get("tuner") or {}).get("two_at_a_time")
    concurrency_check = (data.get("tuner") or {}).get("sixteen")
    machine = data["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m benchmarks.run`; every number below was measured by the runs described",
        "here. Rerun to reproduce: the simulations are deterministic given the seeds; timings vary.",
        "",
    ]
    for name, timing in data.get("timing", {}).items():
        lines.append(f"- {SECTION_NAMES.get(name, name)}: `{timing['command']}`, {timing['date']}, "
                     f"{timing['s'] / 60:.1f} min")
    lines += [
        f"- seeds: {seeds} per method and problem; budget: {trials} trials, told one at a time (the "
        "sequential sections)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in machine.items() if k not in ("cpus", "platform")),
        f"- machine: {machine['cpus']} CPUs, {machine['platform']}, no GPU",
        "",
    ]
    if data.get("concurrent"):
        import benchmarks.concurrency_report as cr

        lines += ["## Headline", "", "The shipped searchers against Ray's, with the same GPU time, one to 64 trials "
                  "at once (details in [Many trials at once](#many-trials-at-once)).", ""]
        lines += cr.ratio_summary(data["concurrent"]) + cr.more_seeds_table(data["concurrent"],
                                                                            data.get("more_seeds") or {})
    from benchmarks import hang_region, searchers
    from benchmarks.client import table as client_table
    from benchmarks.serving import table as serving_table
    from benchmarks.serving_space import table as space_table
    from benchmarks.soak import table as soak_table

    for section in (serving_table, space_table, client_table, soak_table, hang_region, searchers):
        found = section.load()
        if found:
            lines += section.lines(found)
    lines += ["## Methods", ""]
    lines += [f"- `{m}`: {DESCRIPTIONS[m]}" for m in METHODS]
    lines += ["", "## Problems", ""]
    for name, problem in PROBLEMS.items():
        rnd = random_failure_rate(problem)
        lines.append(f"- `{name}` ({problem.mode}imize; {rnd:.0%} of random configs fail"
                     + (f"; target {_fmt(problem.target)}" if problem.target is not None else "")
                     + f"): {problem.description}")
    lines += ["", "## Results", "",
              "best@N: median [first quartile, third quartile] of the best successful value after N "
              "trials. to target: median trials to reach the target (budget + 1 when not reached). "
              "wasted: median time spent in failed trials, in per-trial timeouts. fail share: failed "
              "suggestions after the first 10.", ""]
    for name, by in summaries.items():
        problem = PROBLEMS[name]
        lines += [f"### {name}", "", f"![{name}]({name}.png)", ""]
        if problem.region is not None:
            lines += ["| method | later-half share in longest-surviving region | wasted | fail share |",
                      "|---|---|---|---|"]
            for m, s in by.items():
                lines.append(f"| {m} | {s['later_region_share']:.3f} | {_fmt(s['wasted'])} "
                             f"| {s['fail_share_after_10']:.2f} |")
        else:
            cols = [c for c in next(iter(by.values())) if c.startswith("best@")]
            last = cols[-1].split("@")[1]
            head = ("| method | " + " | ".join(cols) + f" | seeds with no success by {last} "
                    "| to target (reached) | wasted | fail share |")
            lines += [head, "|" + "---|" * (len(cols) + 5)]
            for m, s in by.items():
                cells = [_q(s[c]) for c in cols]
                reach = f"{_fmt(s['to_target'])} ({s['reached']}/{s['seeds']})" if "to_target" in s else "-"
                lines.append(f"| {m} | " + " | ".join(cells) + f" | {s['no_success@' + last]} | {reach} "
                             f"| {_fmt(s['wasted'])} | {s['fail_share_after_10']:.2f} |")
        lines.append("")
    lines += ["## Overhead", "",
              f"Median time of one `suggest` + `on_trial_complete` (+ `record_failure`) over {overhead['repeats']} "
              "trials, with N finished trials (half failed) already in the model, measured untraced; "
              "peak memory traced in a second pass over the same trials. `*_told`: Ray's searcher told "
              "every failure as a plain value, the same history as the package's TPE.", "",
              "| N | " + " | ".join(overhead["table"][overhead["sizes"][0]].keys()) + " |",
              "|---|" + "---|" * len(overhead["table"][overhead["sizes"][0]])]
    for n in overhead["sizes"]:
        row = overhead["table"][n]
        lines.append(f"| {n} | " + " | ".join(f"{v['ms']:.2f} ms, {v['peak_mb']:.1f} MB" for v in row.values()) + " |")
    lines += ["", f"The package's own bookkeeping keeps {overhead['bookkeeping_bytes_per_trial']:.0f} bytes per "
              "finished trial beyond what its inner OptunaSearch keeps.", ""]
    if tuner:
        g, o = tuner["graded_optuna"], tuner["optuna_search"]
        t = tuner["trivial_200"]
        lines += ["## Through real `tune.Tuner`", "",
                  f"`mostly_fail`, seeds {tuner['seeds']}, {tuner['trials']} trials, two at a time, "
                  f"timeout {tuner['timeout_s']} s (trials sleep until their failure):", "",
                  "| method | best per seed | mean fail share |", "|---|---|---|",
                  f"| graded_optuna | {', '.join(_fmt(b) for b in g['best'])} | {g['fail_share']:.2f} |",
                  f"| optuna_search | {', '.join(_fmt(b) for b in o['best'])} | {o['fail_share']:.2f} |", "",
                  "200 trivial trials, run in the order package, OptunaSearch, OptunaSearch, package in one "
                  f"Ray instance: {' s and '.join(f'{x:.1f}' for x in t['graded_s'])} s with the package, "
                  f"{' s and '.join(f'{x:.1f}' for x in t['optuna_s'])} s with OptunaSearch; "
                  f"{t['ratio']:.3f}x in total.", ""]
    lines += ["## Targets", "", "| where | target | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in targets(summaries, overhead, tuner)] + [""]
    if data.get("concurrent"):
        lines += concurrency_lines(data["concurrent"], concurrency_check, data.get("more_seeds"),
                                   _load_if_present(OLDEST))
    if data.get("slo"):
        from benchmarks.slo_report import slo_lines

        lines += slo_lines(data["slo"])
    lines += ["## Further", "", "What was tried on the way and not adopted, the trace of TPE's good group and the "
              "reading of these tables: [research/RECORD.md](research/RECORD.md).", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
