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
from typing import Any, Dict, Optional, Union

import pandas as pd
from ray import cloudpickle

from ray_graded_penalty.history import CONFIG_PREFIX
from ray_graded_penalty.records import TrialOutcome
from ray_graded_penalty.trial_errors import first_line, read_error_file

ERROR_CLASSES = ("deploy", "oom", "connection", "timeout", "crash", "other")


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


def load_outcomes(experiment_dir: str) -> Dict[str, TrialOutcome]:
    """What a GradedPenaltySearcher told, from its newest checkpoint in ``experiment_dir``.

    Empty when the experiment did not use this package's searcher.
    """
    for path in sorted(glob.glob(os.path.join(experiment_dir, "searcher-state-*.pkl")), reverse=True):
        with open(path, "rb") as f:
            payload = cloudpickle.load(f)
        if isinstance(payload, dict) and isinstance(payload.get("state"), dict) and "outcomes" in payload["state"]:
            return payload["state"]["outcomes"]
    return {}


def error_class(outcome_class: Optional[str], error: Optional[str], failed: bool) -> Optional[str]:
    """One of ERROR_CLASSES for a failed trial (None for a success)."""
    if not failed:
        return None
    if outcome_class in ERROR_CLASSES:
        return outcome_class
    return "crash" if (error or "").strip() else "other"


def failure_report(source: Union[Any, str, os.PathLike], metric: Optional[str] = None) -> pd.DataFrame:
    """One row per trial: its config (``config/...`` columns), status, metric or penalty, told
    value, elapsed seconds, timeout, completion, error class and the error's first line.

    Args:
        source: a ``ResultGrid`` or the path of an experiment directory.
        metric: the metric, for runs without this package's searcher (otherwise read from it).
    """
    from ray.tune import ExperimentAnalysis

    path = _experiment_dir(source)
    outcomes = load_outcomes(path)
    analysis = ExperimentAnalysis(path)
    rows = []
    for order, trial in enumerate(analysis.trials):
        outcome = outcomes.get(trial.trial_id)
        last = trial.last_result or {}
        row: Dict[str, Any] = {"trial_id": trial.trial_id, "order": order}
        row.update({CONFIG_PREFIX + k: v for k, v in (trial.config or {}).items()})
        if outcome is not None:
            failed = outcome.failed
            row.update(
                status="failed" if failed else "success",
                value=outcome.metric,
                penalty=outcome.penalty,
                told=outcome.told,
                elapsed_s=outcome.elapsed_s,
                timeout_s=outcome.timeout_s,
                completion=outcome.completion,
                error_class=error_class(outcome.error_class, outcome.error, failed),
                error=first_line(outcome.error),
            )
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
    return pd.DataFrame(rows)


def config_columns(report: pd.DataFrame) -> list:
    return [c for c in report.columns if c.startswith(CONFIG_PREFIX)]


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
        key = pd.cut(values, bins=bins) if numeric and values.nunique() > bins else (
            values if numeric else values.astype(str))
        grouped = report.assign(_key=key, _failed=failed).groupby("_key", observed=True)
        table = grouped.agg(trials=("_failed", "size"), failure_rate=("_failed", "mean"),
                            mean_penalty=("penalty", "mean"))
        table.index.name = column[len(CONFIG_PREFIX):]
        by_parameter[table.index.name] = table
    successes = report[(report["status"] == "success") & report["value"].notna()]
    best: Optional[pd.Series] = None
    kind = "none"
    if len(successes):
        values = successes["value"].astype(float)
        best = successes.loc[values.idxmax() if _maximizes(report) else values.idxmin()]
        kind = "best success"
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
    score = report["value"].where(report["status"] == "success", report["penalty"]).astype(float)
    classes = report["error_class"].fillna("success")
    colours = {"success": "tab:green", "deploy": "tab:purple", "oom": "tab:red", "connection": "tab:orange",
               "timeout": "tab:blue", "crash": "tab:brown", "other": "tab:gray"}
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
    return files


def format_summary(report: pd.DataFrame, summary: Dict[str, Any]) -> str:
    """The summary as plain-text tables, for a terminal."""
    failed = int((report["status"] == "failed").sum())
    lines = [f"{len(report)} trials, {failed} failed ({failed / max(1, len(report)):.0%}).", "",
             "Failures by error class:", summary["by_error_class"].to_string(), ""]
    for name, table in summary["by_parameter"].items():
        lines += [f"By {name}:", table.to_string(float_format=lambda x: f"{x:.3g}" if not math.isnan(x) else "-"), ""]
    best = summary["best"]
    if best is not None:
        config = {c[len(CONFIG_PREFIX):]: getattr(best[c], "item", lambda: best[c])() for c in config_columns(report)}
        shown = best["value"] if summary["best_kind"] == "best success" else best["penalty"]
        lines.append(f"{summary['best_kind']}: trial {best['trial_id']} ({float(shown):.6g}) {config}")
    return "\n".join(lines)
