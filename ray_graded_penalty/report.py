"""Why trials failed: one row per trial of an experiment, and summaries of it (pandas).

Works from a ``ResultGrid`` or from an experiment directory on disk, in another process or on
another machine: it reads Ray's experiment state and, when the run used this package, the
searcher's checkpoint beside it (what each trial was told, its elapsed time and error class).

Example::

    report = failure_report("~/ray_results/my_experiment")
    print(summarize(report)["by_error_class"])
"""

from __future__ import annotations

import glob
import math
import os
from typing import Any, Dict, Optional, Sequence, Union

import pandas as pd
from ray import cloudpickle

from ray_graded_penalty.history import CONFIG_PREFIX
from ray_graded_penalty.records import TrialOutcome
from ray_graded_penalty.trial_errors import first_line, read_error_file

ERROR_CLASSES = ("deploy", "oom", "connection", "timeout", "slo", "crash", "other")
SLO_PREFIX, MISS_PREFIX, VALUE_PREFIX = "slo/", "slo_miss/", "value/"


class NotAnExperimentError(ValueError):
    """The path is missing or is not a Ray Tune experiment directory."""


def _experiment_dir(source: Any) -> str:
    path = getattr(source, "experiment_path", source)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"source must be a ResultGrid or an experiment directory, got {type(source).__name__}")
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isdir(path):
        raise NotAnExperimentError(f"no such directory: {path}")
    if not glob.glob(os.path.join(path, "experiment_state-*.json")):
        raise NotAnExperimentError(
            f"{path} is not a Ray Tune experiment directory (it has no experiment_state-*.json)"
        )
    return path


def load_searcher_state(experiment_dir: str) -> Dict[str, Any]:
    """A GradedPenaltySearcher's own state from its newest checkpoint in ``experiment_dir``:
    ``outcomes`` (what it told), ``slos`` and ``metric``; empty when it did not run there."""
    for path in sorted(glob.glob(os.path.join(experiment_dir, "searcher-state-*.pkl")), reverse=True):
        with open(path, "rb") as f:
            payload = cloudpickle.load(f)
        state = payload.get("state") if isinstance(payload, dict) else None
        if not isinstance(state, dict):
            continue
        if "ledger" in state:  # 0.3
            ledger = state["ledger"]
            return {"outcomes": ledger.outcomes if ledger else {}, "slos": state.get("slos", ()),
                    "metric": state.get("metric"), "mode": state.get("mode")}
        if "outcomes" in state:  # 0.2
            return {"outcomes": state["outcomes"], "slos": (), "metric": state.get("metric"),
                    "mode": state.get("mode")}
    return {}


def load_outcomes(experiment_dir: str) -> Dict[str, TrialOutcome]:
    """What a GradedPenaltySearcher told, from its newest checkpoint in ``experiment_dir``.

    Empty when the experiment did not use this package's searcher.
    """
    return load_searcher_state(experiment_dir).get("outcomes", {})


def error_class(outcome_class: Optional[str], error: Optional[str], failed: bool) -> Optional[str]:
    """One of ERROR_CLASSES for a failed trial (None for a success)."""
    if not failed:
        return None
    if outcome_class in ERROR_CLASSES:
        return outcome_class
    return "crash" if (error or "").strip() else "other"


def failure_report(source: Union[Any, str, os.PathLike], metric: Optional[str] = None) -> pd.DataFrame:
    """One row per trial: its config (``config/...`` columns), status ("success", "slo_miss",
    "failed"), metric or penalty, told value, elapsed seconds, timeout, completion, error class
    and the error's first line. With SLOs, ``slo/<metric>`` (the value reported) and
    ``slo_miss/<metric>`` (its miss, 0 when met) for each; with several objectives,
    ``value/<metric>`` for each.

    Args:
        source: a ``ResultGrid`` or the path of an experiment directory.
        metric: the metric, for runs without this package's searcher (otherwise read from it).
    """
    from ray.tune import ExperimentAnalysis

    path = _experiment_dir(source)
    state = load_searcher_state(path)
    outcomes, slos = state.get("outcomes", {}), tuple(state.get("slos", ()))
    objectives = state.get("metric")
    objectives = list(objectives) if isinstance(objectives, (list, tuple)) else None
    analysis = ExperimentAnalysis(path)
    rows = []
    for order, trial in enumerate(analysis.trials):
        outcome = outcomes.get(trial.trial_id)
        last = trial.last_result or {}
        row: Dict[str, Any] = {"trial_id": trial.trial_id, "order": order}
        row.update({CONFIG_PREFIX + k: v for k, v in (trial.config or {}).items()})
        if outcome is not None:
            failed = outcome.failed
            several = isinstance(outcome.metric, tuple)
            row.update(
                status={"success": "success", "slo_miss": "slo_miss"}.get(outcome.kind, "failed"),
                value=None if several else outcome.metric,
                penalty=outcome.penalty,
                told=outcome.told,
                elapsed_s=outcome.elapsed_s,
                timeout_s=outcome.timeout_s,
                completion=outcome.completion,
                error_class=error_class(outcome.error_class, outcome.error, failed),
                error=first_line(outcome.error),
            )
            if objectives:
                values = outcome.metric if several else (None,) * len(objectives)
                row.update({VALUE_PREFIX + m: v for m, v in zip(objectives, values)})
            for slo in slos:
                value = outcome.slo_values.get(slo.metric)
                row[SLO_PREFIX + slo.metric] = value
                row[MISS_PREFIX + slo.metric] = None if value is None else slo.miss(value)
        else:  # not told by this package's searcher: what Ray recorded
            failed = trial.status == "ERROR"
            value = last.get(metric) if metric else None
            error = first_line(read_error_file(trial.error_file)) if failed else ""
            row.update(
                status="failed" if failed else (trial.status.lower() if value is None else "success"),
                value=value, penalty=None, told=None,
                elapsed_s=last.get("time_total_s"), timeout_s=None, completion=None,
                error_class=error_class(None, error, failed), error=error,
            )
        rows.append(row)
    report = pd.DataFrame(rows)
    modes = state.get("mode")
    if objectives and isinstance(modes, (list, tuple)):
        report.attrs["modes"] = list(modes)
    return report


def config_columns(report: pd.DataFrame) -> list:
    return [c for c in report.columns if c.startswith(CONFIG_PREFIX)]


def slo_columns(report: pd.DataFrame) -> list:
    """The SLO metrics the report has columns for."""
    return [c[len(SLO_PREFIX):] for c in report.columns if c.startswith(SLO_PREFIX)]


def objective_columns(report: pd.DataFrame) -> list:
    """The objectives of a search with several (empty for one)."""
    return [c[len(VALUE_PREFIX):] for c in report.columns if c.startswith(VALUE_PREFIX)]


def summarize(report: pd.DataFrame, bins: int = 5) -> Dict[str, Any]:
    """Failure rate by error class; failure rate and mean penalty per parameter value or bin;
    and the best success or, when nothing succeeded, the least-bad failure."""
    failed = report["status"] == "failed"
    by_class = (
        report[failed]["error_class"].value_counts().reindex(ERROR_CLASSES, fill_value=0).to_frame("trials")
    )
    by_class["share_of_all_trials"] = by_class["trials"] / max(1, len(report))
    by_parameter = {}
    for column in config_columns(report):
        values = report[column]
        if values.nunique() < 2:
            continue  # a constant, not a parameter
        numeric = pd.api.types.is_numeric_dtype(values)
        # Few distinct values (a choice of tensor-parallel degrees) keep their own rows.
        few = values.nunique() <= (2 * bins if pd.api.types.is_integer_dtype(values) else bins)
        key = pd.cut(values, bins=bins) if numeric and not few else (values if numeric else values.astype(str))
        missed = report["status"] == "slo_miss"
        grouped = report.assign(_key=key, _failed=failed, _missed=missed).groupby("_key", observed=True)
        columns = dict(trials=("_failed", "size"), failure_rate=("_failed", "mean"))
        if slo_columns(report):
            columns.update(slo_miss_rate=("_missed", "mean"))
        table = grouped.agg(**columns, mean_penalty=("penalty", "mean"))
        table.index.name = column[len(CONFIG_PREFIX):]
        by_parameter[table.index.name] = table
    successes = report[(report["status"] == "success") & report["value"].notna()]
    best: Optional[pd.Series] = None
    kind = "none"
    if len(successes):
        values = successes["value"].astype(float)
        best = successes.loc[values.idxmax() if _maximizes(report) else values.idxmin()]
        kind = "best success"
    elif (report["status"] == "slo_miss").any() and slo_columns(report):
        misses = report[report["status"] == "slo_miss"]
        total = misses[[MISS_PREFIX + m for m in slo_columns(report)]].astype(float).fillna(0).sum(axis=1)
        best = misses.loc[total.idxmin()]
        kind = "least SLO miss"
    elif failed.any() and report.loc[failed, "penalty"].notna().any():
        penalties = report.loc[failed, "penalty"].astype(float)
        best = report.loc[penalties.abs().idxmin()]
        kind = "least-bad failure"
    return {"by_error_class": by_class, "by_parameter": by_parameter, "best": best, "best_kind": kind}


def _maximizes(report: pd.DataFrame) -> bool:
    """Infer the mode from the penalties' sign (negative: "max"); "max" when unknown."""
    penalties = report["penalty"].dropna()
    return True if penalties.empty else bool((penalties < 0).all())


def plot_report(report: pd.DataFrame, out_dir: str) -> list:
    """Write PNGs: value or penalty against each parameter, and outcome over trial order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    score = report["value"].where(report["status"] != "failed", report["penalty"]).astype(float)
    classes = report["error_class"].where(report["status"] != "slo_miss", "slo_miss").fillna("success")
    colours = {"success": "tab:green", "slo_miss": "gold", "slo": "tab:pink", "deploy": "tab:purple",
               "oom": "tab:red", "connection": "tab:orange", "timeout": "tab:blue", "crash": "tab:brown",
               "other": "tab:gray"}
    files = []
    for column in config_columns(report):
        values = report[column]
        if values.nunique() < 2:
            continue
        if not pd.api.types.is_numeric_dtype(values):
            values = values.astype(str)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for cls, colour in colours.items():
            mask = classes == cls
            if mask.any():
                ax.scatter(values[mask], score[mask], c=colour, label=cls, s=28, alpha=0.8)
        name = column[len(CONFIG_PREFIX):]
        ax.set_xlabel(name)
        ax.set_ylabel("metric (successes) or penalty (failures)")
        ax.set_title(f"Outcome by {name}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out_dir, f"by_{name}.png")
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
    ax.set_title("Outcome over the run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "over_trials.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    files.append(path)
    objectives = objective_columns(report)
    if len(objectives) == 2:
        files.append(plot_pareto(report, objectives, os.path.join(out_dir, "pareto.png")))
    return files


def plot_pareto(report: pd.DataFrame, objectives: Sequence[str], path: str) -> str:
    """Two objectives against each other: successes within the SLOs (their front joined), SLO
    misses and trials failed by an SLO apart; other failures, which report no values, counted."""
    import matplotlib.pyplot as plt

    x, y = (report[VALUE_PREFIX + m].astype(float) for m in objectives)
    fig, ax = plt.subplots(figsize=(7, 5))
    kinds = (("success", report["status"] == "success", "tab:green", "o"),
             ("SLO miss", report["status"] == "slo_miss", "gold", "s"),
             ("failed by an SLO", (report["status"] == "failed") & (report["error_class"] == "slo"), "tab:pink", "x"))
    for label, mask, colour, marker in kinds:
        mask = mask & x.notna() & y.notna()
        if mask.any():
            ax.scatter(x[mask], y[mask], c=colour, marker=marker, label=label, s=30, alpha=0.85)
    modes = report.attrs.get("modes")
    ok = (report["status"] == "success") & x.notna() & y.notna()
    if modes and ok.any():
        sx = x[ok] * (1 if modes[0] == "max" else -1)
        sy = y[ok] * (1 if modes[1] == "max" else -1)
        front = [i for i in sx.index if not ((sx >= sx[i]) & (sy >= sy[i]) & ((sx > sx[i]) | (sy > sy[i]))).any()]
        order = sorted(front, key=lambda i: x[i])
        ax.plot(x[order], y[order], c="tab:green", lw=1, label="Pareto front")
    others = int(((report["status"] == "failed") & (report["error_class"] != "slo")).sum())
    ax.set_xlabel(objectives[0])
    ax.set_ylabel(objectives[1])
    ax.set_title(f"Two objectives ({others} other failures report no values)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def format_summary(report: pd.DataFrame, summary: Dict[str, Any]) -> str:
    """The summary as plain-text tables, for a terminal."""
    failed = int((report["status"] == "failed").sum())
    missed = int((report["status"] == "slo_miss").sum())
    slo_note = f" {missed} served but missed an SLO ({missed / max(1, len(report)):.0%})." if slo_columns(report) else ""
    lines = [f"{len(report)} trials, {failed} failed ({failed / max(1, len(report)):.0%}).{slo_note}", "",
             "Failures by error class:", summary["by_error_class"].to_string(), ""]
    for name, table in summary["by_parameter"].items():
        lines += [f"By {name}:", table.to_string(float_format=lambda x: f"{x:.3g}" if not math.isnan(x) else "-"), ""]
    best = summary["best"]
    if best is not None:
        config = {c[len(CONFIG_PREFIX):]: getattr(best[c], "item", lambda: best[c])() for c in config_columns(report)}
        shown = best["penalty"] if summary["best_kind"] == "least-bad failure" else best["value"]
        lines.append(f"{summary['best_kind']}: trial {best['trial_id']} ({float(shown):.6g}) {config}")
    return "\n".join(lines)
