"""Plots of a failure report (matplotlib, the ``plots`` extra): where trials fail, by parameter.

Example::

    from ray_graded_penalty.report import failure_report
    plot_report(failure_report("~/ray_results/my_experiment"), "plots/")
"""

from __future__ import annotations

import os
from typing import Sequence

import pandas as pd

from ray_graded_penalty._core.outcomes import ErrorClass, Kind
from ray_graded_penalty.report import (
    CONFIG_PREFIX,
    VALUE_PREFIX,
    config_columns,
    objective_columns,
    on_log_scale,
    parameter_values,
    pareto_front,
)


def plot_report(report: pd.DataFrame, out_dir: str) -> list:
    """Write PNGs: value or penalty against each parameter (with several objectives, one PNG per
    parameter and objective, ``by_<parameter>.<objective>.png``), and outcome over trial order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    modes = report.attrs.get("modes") or [report.attrs.get("mode")]
    score = _drawn(report, report["value"], modes[0])
    classes = report["error_class"].where(report["status"] != Kind.SLO_MISS, "slo_miss").fillna("success")
    colours = {Kind.SUCCESS.value: "tab:green", Kind.SLO_MISS.value: "gold", ErrorClass.SLO: "tab:pink",
               ErrorClass.DEPLOY: "tab:purple", ErrorClass.OOM: "tab:red", ErrorClass.CONNECTION: "tab:orange",
               ErrorClass.TIMEOUT: "tab:blue", ErrorClass.CRASH: "tab:brown", ErrorClass.OTHER: "tab:gray"}
    others = iter(("tab:olive", "tab:cyan", "black", "navy", "maroon", "teal", "indigo", "darkgoldenrod"))
    for cls in sorted(set(classes) - set(colours)):  # a policy's own classes are drawn too
        colours[cls] = next(others, "darkgray")
    files = []
    objectives = objective_columns(report)
    # One objective: its value; several: each objective's, a failure's penalty in every one.
    scores = {"": score} if len(objectives) < 2 else {
        f".{m}": _drawn(report, report[VALUE_PREFIX + m], modes[i] if i < len(modes) else None)
        for i, m in enumerate(objectives)}
    edge = "at the worst edge" if modes[0] in ("max", "min") else "below every value (the mode is unknown)"
    without = ((report["status"] == Kind.FAILURE) & report["penalty"].isna()).any()
    unpriced = f" (failures without one: {edge})" if without else ""
    for column in config_columns(report):
        values = parameter_values(report, column)
        if values.nunique() < 2:
            continue
        name = column[len(CONFIG_PREFIX):]
        for suffix, shown in scores.items():
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for cls, colour in colours.items():
                mask = classes == cls
                if mask.any():
                    ax.scatter(values[mask], shown[mask], c=colour, label=cls, s=28, alpha=0.8)
            if on_log_scale(report, column, values):
                ax.set_xscale("log")  # sampled so: on a linear axis it sits against the left edge
            ax.set_xlabel(name)
            ax.set_ylabel(f"{suffix[1:] or 'metric'} (successes) or penalty (failures)")
            ax.set_title(f"Outcome by {name}{unpriced}", fontsize=10)
            ax.legend(fontsize=8)
            fig.tight_layout()
            path = os.path.join(out_dir, f"by_{_in_a_file_name(name + suffix)}.png")
            fig.savefig(path, dpi=90)
            plt.close(fig)
            files.append(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for cls, colour in colours.items():
        mask = classes == cls
        if mask.any():
            ax.scatter(report["order"][mask], score[mask], c=colour, label=cls, s=28, alpha=0.8)
    ax.set_xlabel("trial (in the order Tune created them)")
    ax.set_ylabel("metric (successes) or penalty (failures)")
    ax.set_title(f"Outcome over the run{unpriced}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "over_trials.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    files.append(path)
    if len(objectives) == 2:
        files.append(plot_pareto(report, objectives, os.path.join(out_dir, "pareto.png")))
    return files


def _in_a_file_name(name: str) -> str:
    """``name`` (a parameter's, a nested one's ``outer/inner``, or an objective's) as part of a
    file name: a path separator becomes a dot."""
    return name.replace("/", ".").replace(os.sep, ".")


def _drawn(report: pd.DataFrame, values: pd.Series, mode: object) -> pd.Series:
    """What a trial is drawn at: a success's or SLO miss's value, a failure's penalty. A failure
    without a penalty (a run without this package's searcher) is drawn at the worst edge, below
    (mode "min": above) every value, so that it is seen where it was tried."""
    drawn = values.where(report["status"] != Kind.FAILURE, report["penalty"]).astype(float)
    unpriced = (report["status"] == Kind.FAILURE) & drawn.isna()
    if not unpriced.any():
        return drawn
    known = drawn[~unpriced].dropna()
    low, high = (float(known.min()), float(known.max())) if len(known) else (0.0, 0.0)
    margin = 0.1 * ((high - low) or abs(high) or 1.0)
    return drawn.mask(unpriced, high + margin if mode == "min" else low - margin)


def plot_pareto(report: pd.DataFrame, objectives: Sequence[str], path: str) -> str:
    """Two objectives against each other: successes within the SLOs (their front joined), SLO
    misses and trials failed by an SLO apart; other failures, which report no values, counted."""
    import matplotlib.pyplot as plt

    x, y = (report[VALUE_PREFIX + m].astype(float) for m in objectives)
    fig, ax = plt.subplots(figsize=(7, 5))
    kinds = (("success", report["status"] == Kind.SUCCESS, "tab:green", "o"),
             ("SLO miss", report["status"] == Kind.SLO_MISS, "gold", "s"),
             ("failed by an SLO", (report["status"] == Kind.FAILURE) & (report["error_class"] == ErrorClass.SLO),
              "tab:pink", "x"))
    for label, mask, colour, marker in kinds:
        mask = mask & x.notna() & y.notna()
        if mask.any():
            ax.scatter(x[mask], y[mask], c=colour, marker=marker, label=label, s=30, alpha=0.85)
    front = report.index[report["trial_id"].isin(pareto_front(report))]  # the summary's front
    if len(front):
        order = sorted(front, key=lambda i: x[i])
        ax.plot(x[order], y[order], c="tab:green", lw=1, label="Pareto front")
    others = int(((report["status"] == Kind.FAILURE) & (report["error_class"] != ErrorClass.SLO)).sum())
    ax.set_xlabel(objectives[0])
    ax.set_ylabel(objectives[1])
    ax.set_title(f"Two objectives ({others} other failures report no values)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
