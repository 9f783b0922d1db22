"""Why trials failed: one row per trial of an experiment, summaries of it, and reading it back (pandas).

Works from a ``ResultGrid`` or from an experiment directory on disk, in another process or on
another machine: it reads Ray's experiment state and, when the run used this package, the
searcher's checkpoint beside it (what each trial was told, its elapsed time and error class).
:func:`read_history` reads a report back, from its CSV, a DataFrame or the experiment itself,
as the earlier trials of a warm start: one schema both ways. Its columns:

- ``config/<name>``: one column per parameter (required, at least one); a nested space's as Tune
  flattens it, ``config/<outer>/<inner>``;
- ``status``: "success", "slo_miss" or "failure" ("failed", as reports before 0.5 wrote it,
  too; optional; rows with any other status are skipped; without the column a row with a
  ``value`` is a success, one without is a failure);
- ``value``: the metric of a success or an SLO miss (finite);
- ``slo_miss``: an SLO miss's weighted total miss (positive; required for SLO misses): it is
  told below every success again, by that miss;
- ``elapsed_s``: seconds a failed trial ran (finite, >= 0; required for failures);
- ``timeout_s``: its per-trial timeout (optional; defaults to the searcher's ``trial_timeout_s``);
- ``error_class``: what killed it, as it was graded (optional; a class the new search's policy
  does not know, or none, and the error text decides);
- ``error``: its error text (optional);
- ``retried``: True for a failure that was not told because its configuration ran again (a
  transient class, see ``GradedPenaltySearcher(retries=...)``); such a row is not read back.

Example::

    report = failure_report("~/ray_results/my_experiment")
    print(summarize(report)["by_error_class"])
"""

from __future__ import annotations

import ast
import dataclasses
import glob
import logging
import math
import os
import re
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np
import pandas as pd

from ray_graded_penalty._core import state
from ray_graded_penalty._core.checks import check_elapsed, check_mode, check_timeout, real_number
from ray_graded_penalty._core.judge import classify, first_line
from ray_graded_penalty._core.legacy import gone_names
from ray_graded_penalty._core.outcomes import ErrorClass, Kind, Objectives, PastTrial
from ray_graded_penalty._core.ray_internals import (
    error_file_paths,
    experiment_state_pattern,
    first_start,
    in_creation_order,
)
from ray_graded_penalty.callback import last_failure, read_error_text, read_recorded_error
from ray_graded_penalty.policy import PenaltyPolicy

logger = logging.getLogger(__name__)

#: The error classes a report counts, in order: the built-in ones (:class:`ErrorClass`).
ERROR_CLASSES = ErrorClass.ALL
#: The columns every failure report has (one without trials too).
REPORT_COLUMNS = ("trial_id", "order", "status", "value", "penalty", "told", "elapsed_s", "timeout_s",
                  "completion", "error_class", "error")
CONFIG_PREFIX, SLO_PREFIX, MISS_PREFIX, VALUE_PREFIX = "config/", "slo/", "slo_miss/", "value/"


class NotAnExperimentError(ValueError):
    """The path is missing or is not a Ray Tune experiment directory."""


def _experiment_dir(source: Any) -> str:
    path = getattr(source, "experiment_path", source)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"source must be a ResultGrid or an experiment directory, got {type(source).__name__}")
    path = os.path.abspath(_local_path(os.fspath(path)))
    pattern = experiment_state_pattern()
    if os.path.isfile(path):
        holder = os.path.dirname(path)
        raise NotAnExperimentError(f"{path} is a file, not a directory: pass the experiment directory"
                                   f"{' that holds it, ' + holder if glob.glob(os.path.join(holder, pattern)) else ''}")
    if not os.path.isdir(path):
        raise NotAnExperimentError(f"no such directory: {path}")
    if not glob.glob(os.path.join(path, pattern)):
        raise NotAnExperimentError(f"{path} is not a Ray Tune experiment directory (it has no {pattern})")
    return path


def _local_path(path: str) -> str:
    """``path`` on this machine: a ``file://`` URI (as Tune takes a storage path) as the path it
    names; a URI of another scheme (``s3://``) is refused, naming it."""
    if path.startswith("file://"):
        return path[len("file://"):]
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", path):
        raise NotAnExperimentError(f"{path} is not on this machine: the report reads a local experiment "
                                   f"directory (copy it here first, with your storage's own tool)")
    return os.path.expanduser(path)


def load_searcher_state(experiment_dir: str) -> Dict[str, Any]:
    """A GradedPenaltySearcher's own state from its newest checkpoint in ``experiment_dir``:
    ``outcomes`` (what it told), ``retried`` (transient failures it did not tell), ``slos``,
    ``metric`` and ``mode``; empty when it did not run there."""
    saved_data = state.state_in_dir(experiment_dir)
    if saved_data is None:
        return {}
    saved = state.from_data(saved_data)
    outcomes = saved.ledger.outcomes if saved.ledger else {}
    retried = saved.ledger.retried if saved.ledger else {}
    least_bad = saved.ledger.least_bad if saved.ledger else None
    return {"outcomes": outcomes, "retried": retried, "slos": saved.slos, "metric": saved.metric, "mode": saved.mode,
            "least_bad": least_bad.trial_id if least_bad else None, "log_scale": list(saved.log_scale)}


def error_class(outcome_class: Optional[str], error: Optional[str], failed: bool) -> Optional[str]:
    """The class a failed trial was graded with (None for a success): a class of the policy,
    or "other" for a crash with no error text at all."""
    if not failed:
        return None
    if outcome_class not in (None, ErrorClass.CRASH):
        return outcome_class
    return ErrorClass.CRASH if (error or "").strip() else ErrorClass.OTHER


def failure_report(source: Union[Any, str, os.PathLike], metric: Optional[str] = None,
                   mode: Optional[str] = None) -> pd.DataFrame:
    """One row per trial: its config (``config/...`` columns), status (a
    :class:`~ray_graded_penalty._core.outcomes.Kind`: "success", "slo_miss" or "failure"), metric or
    penalty, told value, elapsed seconds, timeout, completion, error class and the error's
    first line. With SLOs, ``slo_miss`` (the weighted total miss), ``slo/<metric>`` (the value
    reported) and ``slo_miss/<metric>`` (its miss, 0 when met) for each; with several
    objectives, ``value/<metric>`` for each. ``report.attrs["mode"]`` is the mode the best is
    read by, and ``report.attrs["mode_from"]`` where it came from: the searcher's saved state,
    the caller, or nowhere (None: no best success is named).

    Args:
        source: a ``ResultGrid`` or the path of an experiment directory.
        metric, mode: the metric and its mode, for runs without this package's searcher
            (otherwise read from its saved state, which wins).
    """
    from ray.tune import ExperimentAnalysis
    from ray.tune.utils import flatten_dict

    if mode is not None:
        check_mode(mode)
    path = _experiment_dir(source)
    searcher_state = load_searcher_state(path)
    outcomes, slos = searcher_state.get("outcomes", {}), tuple(searcher_state.get("slos", ()))
    retried = searcher_state.get("retried", {})
    objectives = searcher_state.get("metric")
    objectives = list(objectives) if isinstance(objectives, (list, tuple)) else None
    analysis = ExperimentAnalysis(path)
    rows = []
    reported_any = False
    for order, trial in enumerate(in_creation_order(analysis.trials)):
        outcome = outcomes.get(trial.trial_id)
        was_retried = outcome is None and trial.trial_id in retried
        if was_retried:  # a transient failure: its configuration ran again, and nothing was told
            outcome = retried[trial.trial_id]
        last = trial.last_result or {}
        row: Dict[str, Any] = {"trial_id": trial.trial_id, "order": order}
        # A nested space (Ray Train's train_loop_config) as Tune flattens it: config/outer/inner.
        row.update({CONFIG_PREFIX + k: v for k, v in flatten_dict(dict(trial.config or {})).items()})
        if outcome is not None:
            failed = outcome.failed
            several = isinstance(outcome.metric, tuple)
            row.update(
                status=outcome.kind.value,
                value=outcome.metric[0] if several else outcome.metric,  # several: the first objective
                penalty=outcome.penalty,
                told=None if was_retried else outcome.told,
                elapsed_s=outcome.elapsed_s,
                timeout_s=outcome.timeout_s,
                completion=outcome.completion,
                error_class=error_class(outcome.error_class, outcome.error, failed),
                error=first_line(outcome.error),
            )
            if slos:
                row["slo_miss"] = outcome.slo_miss
            if objectives:
                values = outcome.metric if several else (None,) * len(objectives)
                row.update({VALUE_PREFIX + m: v for m, v in zip(objectives, values)})
            for slo in slos:
                value = outcome.slo_values.get(slo.metric)
                row[SLO_PREFIX + slo.metric] = value
                row[MISS_PREFIX + slo.metric] = None if value is None else slo.miss(value)
        else:  # not told by this package's searcher: what Ray recorded
            value = last.get(metric) if metric else None
            # A NaN or an infinity is no success (the searcher grades it a crash, as Ray's own
            # searchers cannot use it): a failure, said in the words the searcher would use.
            read = Objectives((metric,), ("max",)).read(last) if metric and value is not None else None
            failed = trial.status == "ERROR" or isinstance(read, str)
            recorded = _recorded_failure(trial) if trial.status == "ERROR" else None
            error = recorded[1] if recorded else read if isinstance(read, str) else ""
            elapsed = last.get("time_total_s")
            if elapsed is None and recorded:  # it failed before it reported: from Ray's clock of its start
                started = first_start(trial)  # None: it never ran (its actor could not start)
                elapsed = 0.0 if started is None else seconds_between(started, recorded[2])
            reported_any = reported_any or value is not None
            row.update(
                # a success is a trial that ended so: one still running (an interrupted run) is not
                status=(Kind.FAILURE.value if failed
                        else Kind.SUCCESS.value if value is not None and trial.status == "TERMINATED"
                        else trial.status.lower()),
                value=value, penalty=None, told=None,
                elapsed_s=elapsed, timeout_s=None, completion=None,
                error_class=error_class(recorded[0] if recorded else None, error, failed), error=error,
            )
        if retried:
            row["retried"] = was_retried
        rows.append(row)
    report = pd.DataFrame(rows, columns=None if rows else list(REPORT_COLUMNS))
    if metric and not outcomes and rows and not reported_any:
        logger.warning("No trial of %s reported the metric %r: no success can be read. The last results "
                       "hold %s.", path, metric, sorted({k for t in analysis.trials for k in (t.last_result or {})
                                                         if not k.startswith(("config", "time", "date"))})[:20])
    report.attrs["log_scale"] = searcher_state.get("log_scale", [])  # binned and drawn on a log scale
    # the objective the values are of: the searcher's (a list for several), else the caller's
    report.attrs["metric"] = objectives or searcher_state.get("metric") or metric
    modes = searcher_state.get("mode")
    if objectives and isinstance(modes, (list, tuple)):
        report.attrs["modes"] = list(modes)
    saved = modes[0] if isinstance(modes, (list, tuple)) else modes
    report.attrs["least_bad"] = searcher_state.get("least_bad")  # as the searcher ordered what it told
    report.attrs["mode"], report.attrs["mode_from"] = (
        (saved, "the searcher's saved state") if saved else (mode, "the caller") if mode else (None, None))
    return report


#: Ray's line before each failure in a trial's ``error.txt``, with the local time it happened.
_FAILED_AT = re.compile(r"^Failure # \d+ \(occurred at (\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)\)$", re.MULTILINE)


def _recorded_failure(trial: Any) -> Tuple[str, str, Optional[float]]:
    """The class of the last failure Ray recorded for ``trial`` in the experiment directory, as
    the default policy would grade it, its exception line (the ``error.txt`` is a header, the
    traceback, then the exception), and when it happened (seconds since the epoch, None if not
    written). Read without a Ray session (``Trial.error_file`` needs one)."""
    text_path, pickled_path = error_file_paths(trial)
    recorded = read_error_text(text_path)
    text = last_failure(recorded)
    # the exception's line: the first line after the last traceback's indented frames (a
    # message's own later lines, such as a server's log, are not it); without a traceback, the
    # last line that is not indented
    last = text.rsplit("Traceback (most recent call last):", 1)
    lines = [line for line in last[-1].splitlines() if line.strip() and not line.startswith((" ", "\t"))]
    exception = (lines[0] if len(last) > 1 else lines[-1]) if lines else ""
    times = _FAILED_AT.findall(recorded)
    when = _failure_time(times[-1], text_path) if times else None
    return classify(read_recorded_error(text, pickled_path), PenaltyPolicy()), first_line(exception), when


def _failure_time(written: str, path: Optional[str]) -> float:
    """When a failure happened, from the local time Ray wrote for it (the writing machine's zone,
    unknown here) and the ``error.txt``'s modification time (zone-free, unless the directory was
    copied since): the file's time when the two differ by a whole number of quarter hours (a
    zone's offset), else the written time read in this machine's zone."""
    here = time.mktime(time.strptime(written, "%Y-%m-%d_%H-%M-%S"))
    try:
        modified = os.path.getmtime(path) if path else None
    except OSError:
        modified = None
    if modified is not None:
        offset = (modified - here) % 900.0
        if min(offset, 900.0 - offset) <= 2.0 and abs(modified - here) <= 14 * 3600 + 2.0:
            return modified
    return here


def seconds_between(start: Optional[float], end: Optional[float]) -> Optional[float]:
    """``end - start`` when both are known and it is not negative (clocks a second apart: 0)."""
    if start is None or end is None or end < start - 1.0:
        return None
    return max(0.0, end - start)


def config_columns(report: pd.DataFrame) -> list:
    return [c for c in report.columns if c.startswith(CONFIG_PREFIX)]


def parameter_values(report: pd.DataFrame, column: str, bins: int = 5) -> pd.Series:
    """A config column as the summary and the plots group it: numbers as they are; anything
    else as text, a None (or no value) and a list choice included: None is a value of its own,
    and a list is not hashable."""
    values = report[column]
    if not pd.api.types.is_numeric_dtype(values):
        return values.map(lambda v: str(None if _missing(v) else v))
    numbers = pd.Series(values.to_numpy(dtype=float, na_value=math.nan), index=values.index)  # pandas' NA too
    finite = numbers.map(math.isfinite)
    if finite.all():
        return values
    if numbers[finite].nunique() > 2 * bins:  # a continuous parameter: binned; no bin holds an infinity
        return numbers.where(finite)
    # a choice of numbers with None (or an infinity) among them: text, None a value of its own
    # (pandas holds it as NaN, which groupby and the plots would leave out); 4096, not 4096.0
    whole = bool((numbers[finite] % 1 == 0).all())
    return numbers.map(lambda v: str(None if math.isnan(v) else int(v) if whole and math.isfinite(v) else v))


def slo_columns(report: pd.DataFrame) -> list:
    """The SLO metrics the report has columns for."""
    return [c[len(SLO_PREFIX):] for c in report.columns if c.startswith(SLO_PREFIX)]


def objective_columns(report: pd.DataFrame) -> list:
    """The objectives of a search with several (empty for one)."""
    return [c[len(VALUE_PREFIX):] for c in report.columns if c.startswith(VALUE_PREFIX)]


def summarize(report: pd.DataFrame, bins: int = 5) -> Dict[str, Any]:
    """Failure rate by error class; failure rate and mean penalty per parameter value or bin;
    and the best success (with several objectives, by the first, and the Pareto front) or, when
    nothing succeeded, the least-bad failure."""
    failed = report["status"] == Kind.FAILURE.value
    counts = report[failed]["error_class"].value_counts()
    classes = list(ERROR_CLASSES) + sorted(set(counts.index) - set(ERROR_CLASSES))  # a policy's own too
    by_class = counts.reindex(classes, fill_value=0).to_frame("trials")
    by_class["share_of_all_trials"] = by_class["trials"] / max(1, len(report))
    by_parameter = {}
    for column in config_columns(report):
        values = parameter_values(report, column, bins)
        if values.nunique() < 2:
            continue  # a constant, not a parameter
        numeric = pd.api.types.is_numeric_dtype(values)
        # Few distinct values (a choice of tensor-parallel degrees) keep their own rows.
        few = values.nunique() <= (2 * bins if pd.api.types.is_integer_dtype(values) else bins)
        key = _binned(values, bins, on_log_scale(report, column, values)) if numeric and not few else values
        missed = report["status"] == Kind.SLO_MISS.value
        grouped = report.assign(_key=key, _failed=failed, _missed=missed).groupby("_key", observed=True)
        columns = dict(trials=("_failed", "size"), failure_rate=("_failed", "mean"))
        if slo_columns(report):
            columns.update(slo_miss_rate=("_missed", "mean"))
        table = grouped.agg(**columns, mean_penalty=("penalty", "mean"))
        table.index.name = column[len(CONFIG_PREFIX):]
        by_parameter[table.index.name] = table
    successes = report[(report["status"] == Kind.SUCCESS.value) & report["value"].notna()]
    best: Optional[pd.Series] = None
    kind = "none"
    mode = report.attrs.get("mode")
    if len(successes) and mode is None:
        kind = "no mode"
    elif len(successes):
        values = successes["value"].astype(float)
        best = successes.loc[values.idxmax() if mode == "max" else values.idxmin()]
        kind = "best success"
    elif "metric" in report.attrs and report.attrs["metric"] is None and (report["status"] == "terminated").any():
        kind = "no metric"  # trials ended, and nothing says which of their results is the metric
    elif (report["status"] == Kind.SLO_MISS.value).any() and slo_columns(report):
        # The searcher's own choice when it saved one; else the least weighted total miss (its
        # order, the slo_miss column); a report without that column: the misses' plain sum.
        misses = report[report["status"] == Kind.SLO_MISS.value]
        named = misses.index[misses["trial_id"] == report.attrs.get("least_bad")]
        if "slo_miss" in misses and misses["slo_miss"].notna().all():
            total = misses["slo_miss"].astype(float)
        else:
            total = misses[[MISS_PREFIX + m for m in slo_columns(report)]].astype(float).fillna(0).sum(axis=1)
        best = misses.loc[named[0] if len(named) else total.idxmin()]
        kind = "least SLO miss"
    elif failed.any() and report.loc[failed, "penalty"].notna().any():
        # The searcher's own order when it saved one: the failure of least severity (magnitude,
        # ties broken by progress); else the same order read from the report's columns.
        named = report.index[failed & (report["trial_id"] == report.attrs.get("least_bad"))]
        if len(named):
            best = report.loc[named[0]]
        else:
            ranked = report[failed & report["penalty"].notna()].assign(
                _magnitude=lambda r: r["penalty"].astype(float).abs(),
                _progress=lambda r: r["completion"].astype(float).fillna(0.0) if "completion" in r else 0.0)
            best = ranked.sort_values(["_magnitude", "_progress"], ascending=[True, False], kind="stable").iloc[0]
        kind = "least-bad failure"
    return {"by_error_class": by_class, "by_parameter": by_parameter, "best": best, "best_kind": kind,
            "pareto_front": pareto_front(report)}


def on_log_scale(report: pd.DataFrame, column: str, values: pd.Series) -> bool:
    """Whether a parameter's ``values`` (:func:`parameter_values`) are binned and drawn on a log
    scale: Tune sampled it so (the searcher's saved state, ``report.attrs["log_scale"]``) and
    every value there is positive."""
    named = column[len(CONFIG_PREFIX):] in (report.attrs.get("log_scale") or ())
    return named and pd.api.types.is_numeric_dtype(values) and bool((values.dropna() > 0).all())


def _binned(values: pd.Series, bins: int, log: bool) -> pd.Series:
    """A continuous parameter's values in ``bins`` bins of equal width, or of equal ratio for a
    parameter sampled on a log scale (``log``, :func:`on_log_scale`: equal widths put nearly all
    of ``loguniform(1e-5, 0.1)`` in the first bin)."""
    if not log:
        return pd.cut(values, bins=bins)
    low, high = values.min(), values.max()
    edges = np.geomspace(low, high, bins + 1)
    edges[0] = np.nextafter(low, 0.0)  # the lowest value in the first bin (pandas' include_lowest labels it below 0)
    return pd.cut(values, bins=edges)


def pareto_front(report: pd.DataFrame) -> List[str]:
    """With several objectives, the trial ids of the successes no other success dominates (in
    each objective's mode, ``report.attrs["modes"]``); empty for one objective."""
    names, modes = objective_columns(report), report.attrs.get("modes")
    if len(names) < 2 or not modes:
        return []
    objectives = Objectives.of(names, list(modes))
    ok = report[(report["status"] == Kind.SUCCESS.value)]
    values = {row["trial_id"]: tuple(float(row[VALUE_PREFIX + m]) for m in names) for _, row in ok.iterrows()}
    return [t for t, a in values.items() if not any(objectives.dominates(b, a) for b in values.values())]


def format_summary(report: pd.DataFrame, summary: Dict[str, Any]) -> str:
    """The summary as plain-text tables, for a terminal."""
    failed = int((report["status"] == Kind.FAILURE.value).sum())
    missed = int((report["status"] == Kind.SLO_MISS.value).sum())
    share = missed / max(1, len(report))
    slo_note = f" {missed} served but missed an SLO ({share:.0%})." if slo_columns(report) else ""
    again = int(report["retried"].map(_plain).eq(True).sum()) if "retried" in report.columns else 0
    again_note = f" {again} of them transient: their configurations ran again." if again else ""
    lines = [f"{len(report)} trials, {failed} failed ({failed / max(1, len(report)):.0%}).{again_note}{slo_note}", "",
             "Failures by error class:", summary["by_error_class"].to_string(), ""]
    for name, table in summary["by_parameter"].items():
        lines += [f"By {name}:", table.to_string(float_format=lambda x: f"{x:.3g}" if not math.isnan(x) else "-"), ""]
    best = summary["best"]
    if summary["best_kind"] == "no mode":
        lines.append("best success: not named, the mode is unknown (the run has no saved state of this "
                     "package's searcher): pass failure_report(..., mode=...) or --mode, or, for a "
                     "report read from a CSV, set report.attrs['mode']")
    if summary["best_kind"] == "no metric":
        lines.append("best success: not named, no metric was given (the run has no saved state of this "
                     "package's searcher to read it from): pass failure_report(..., metric=...) or --metric")
    if summary["best_kind"] == "best success":
        lines.append(f"mode {report.attrs['mode']!r}, from {report.attrs['mode_from']}")
    if best is not None:
        config = {c[len(CONFIG_PREFIX):]: getattr(best[c], "item", lambda: best[c])() for c in config_columns(report)}
        shown = best["penalty"] if summary["best_kind"] == "least-bad failure" else best["value"]
        lines.append(f"{summary['best_kind']}: trial {best['trial_id']} ({float(shown):.6g}) {config}")
    if summary.get("pareto_front"):
        lines.append(f"Pareto front ({', '.join(objective_columns(report))}): trials "
                     f"{', '.join(summary['pareto_front'])}")
    return "\n".join(lines)


# ----- read back: the earlier trials of a warm start ----------------------------------------------


#: The ``status`` values of a failure report, and the word reports before 0.5 wrote for a failure.
STATUSES = {Kind.SUCCESS.value: Kind.SUCCESS, Kind.SLO_MISS.value: Kind.SLO_MISS,
            Kind.FAILURE.value: Kind.FAILURE, "failed": Kind.FAILURE}


HistorySource = Union[str, os.PathLike, pd.DataFrame]


def _frame(source: HistorySource, metric: Optional[str]) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = _local_path(os.fspath(source))
        if os.path.isdir(path):
            return failure_report(path, metric=metric)
        if path.endswith(".csv") and os.path.isfile(path):
            return _read_csv(path)
        raise ValueError(f"history source {path!r} is neither an experiment directory nor a .csv file")
    raise TypeError(f"history must be a DataFrame, a .csv path or an experiment directory, got {type(source).__name__}")


#: What a CSV cell that holds no value reads as, outside the config columns (pandas' own list).
_NO_VALUE = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
             "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")


def _read_csv(path: str) -> pd.DataFrame:
    """A report's CSV; in the config columns only an empty cell (a None) holds no value, so that
    a choice of "None", "NA" or "null" stays the text it is. Numbers are read back exactly
    (pandas before 3.0 lost a float's last digit: the configuration told was not the one run)."""
    columns = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, keep_default_na=False, float_precision="round_trip", na_values={
        c: [""] if str(c).startswith(CONFIG_PREFIX) else list(_NO_VALUE) for c in columns})


def onto_space(trials: List[PastTrial], space: Dict[str, Any]) -> List[PastTrial]:
    """``trials`` with each value of a choice in ``space`` (Tune's, ``tune.choice``) as the
    choice itself: a report's CSV reads ``"16"`` back as 16, ``2048`` of a mixed choice as
    ``"2048"``, a tuple as the text of a list, a None as no value. A parameter with no value is
    refused, naming it, unless None is one of its choices. A constant of ``space`` (a value,
    not a domain: ``"model": "llama-3-8b"``) is no parameter: the report writes it as a column,
    and it is left out (with a warning when the earlier trials held another value)."""
    from ray.tune.search.sample import Categorical, Domain, Float, Integer
    from ray.tune.utils import flatten_dict

    flat = flatten_dict(dict(space or {}))
    choices = {name: list(domain.categories) for name, domain in flat.items() if isinstance(domain, Categorical)}
    ranges = {name: (domain.lower, _highest(domain)) for name, domain in flat.items()
              if isinstance(domain, (Float, Integer))}
    constants = {name: value for name, value in flat.items() if not isinstance(value, Domain)}
    changed: set = set()
    fitted = []
    for n, past in enumerate(trials):
        changed.update(name for name, value in past.config.items()
                       if name in constants and _as_choice(value, [constants[name]]) != constants[name])
        config = _chosen_dicts({k: v for k, v in past.config.items() if k not in constants}, choices)
        config = {name: _as_choice(value, choices[name]) if name in choices else value
                  for name, value in config.items()}
        missing = [name for name, value in config.items() if _missing(value) and None not in choices.get(name, ())]
        if missing:
            raise ValueError(f"history trial {n}: no value for parameter(s) {missing}")
        _check_in_space(n, config, choices, ranges)
        fitted.append(dataclasses.replace(past, config=config))
    if changed:
        logger.warning("The earlier trials held other values of %s, constants of this search space; they "
                       "are told as if run with this space's.", sorted(changed))
    return fitted


def log_scaled(space: Dict[str, Any]) -> Tuple[str, ...]:
    """The parameters of Tune's ``space`` sampled on a log scale (``tune.loguniform``,
    ``tune.lograndint`` and their quantized forms), named as Tune flattens them."""
    from ray.tune.search.sample import Domain, LogUniform
    from ray.tune.utils import flatten_dict

    found = []
    for name, domain in flatten_dict(dict(space or {})).items():
        sampler = domain.get_sampler() if isinstance(domain, Domain) else None
        if isinstance(getattr(sampler, "sampler", sampler), LogUniform):  # a quantized one wraps it
            found.append(name)
    return tuple(sorted(found))


def _highest(domain: Any) -> float:
    """The highest value a Float or Integer domain holds: Tune's integer upper bound is exclusive,
    but for ``qrandint`` with ``q`` above 1 (its docstring)."""
    from ray.tune.search.sample import Integer, Quantized

    sampler = domain.get_sampler()
    if isinstance(domain, Integer) and not (isinstance(sampler, Quantized) and sampler.q > 1):
        return domain.upper - 1
    return domain.upper


def _check_in_space(n: int, config: Dict[str, Any], choices: Dict[str, List[Any]],
                    ranges: Dict[str, Tuple[float, float]]) -> None:
    """Refuse, naming the trial, a value the space cannot hold: before anything is told, so that
    a warm start is all told or not at all (the inner searcher's own error named no row, and a
    study in a database kept the rows before it)."""
    for name, value in config.items():
        if name in choices and value not in choices[name] and not (_missing(value) and None in choices[name]):
            raise ValueError(f"history trial {n}: {name}={value!r} is none of the space's choices {choices[name]}")
        if name in ranges:
            low, high = ranges[name]
            number = real_number(value)
            if number is None or not low <= number <= high:
                raise ValueError(f"history trial {n}: {name}={value!r} is not a number in the space's range "
                                 f"[{low}, {high}]")


def _chosen_dicts(config: Dict[str, Any], choices: Dict[str, List[Any]]) -> Dict[str, Any]:
    """``config`` with a chosen dict back under its choice's name: Tune flattens the dict a
    ``tune.choice`` of dicts chose as it flattens a nested space (``p/a``, ``p/b`` for ``p``)."""
    from ray.tune.utils import flatten_dict

    config = dict(config)
    for name, categories in choices.items():
        prefix = name + "/"
        keys = [k for k in config if k.startswith(prefix)]
        if name in config or not keys or not any(isinstance(c, dict) for c in categories):
            continue
        chosen = {k[len(prefix):]: config.pop(k) for k in keys}
        config[name] = next((c for c in categories if isinstance(c, dict) and flatten_dict(c) == chosen), chosen)
    return config


def _as_choice(value: Any, categories: List[Any]) -> Any:
    """The category ``value`` stands for, or ``value`` when none matches."""
    for category in categories:  # the same, type included (True is not 1)
        if type(category) is type(value) and category == value:
            return category
    if _missing(value):
        return None if None in categories else value
    text = str(value)
    for category in categories:
        if isinstance(category, (list, tuple)):
            if isinstance(value, (list, tuple)) and list(category) == list(value):
                return category
            if text in (str(list(category)), str(tuple(category))):
                return category
        elif not isinstance(category, bool) and not isinstance(value, bool) and category == value:
            return category  # 1 for 1.0
        elif str(category) == text:
            return category  # "16" for 16, 2048 for "2048", None for "None"
    return value


def _flat_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """A trial's parameters as Tune flattens a nested space (``outer/inner``, as
    :func:`failure_report` writes them): a dict in one column, as 0.5's report wrote a nested
    parameter (its repr, in a CSV), is spread out."""
    from ray.tune.utils import flatten_dict

    return flatten_dict({name: _dict_literal(value) for name, value in config.items()})


def _dict_literal(value: Any) -> Any:
    """``value``, or the dict its text is the repr of."""
    if not (isinstance(value, str) and value.startswith("{")):
        return value
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return parsed if isinstance(parsed, dict) else value


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _finite(where: str, kind: Kind, name: str, value: Any, positive: bool = False) -> float:
    number = None if _missing(value) else real_number(value)
    if number is None or not math.isfinite(number) or (positive and number <= 0):
        what = "a success" if kind is Kind.SUCCESS else "an SLO miss"
        raise ValueError(f"{where}: {what} needs a {'positive' if positive else 'finite'} {name!r}, got {value!r}")
    return number


def read_history(source: HistorySource, metric: Optional[str] = None) -> List[PastTrial]:
    """Parse and check ``source``; a malformed row is refused with an error naming it.

    ``metric``: the objective to read. A report of several objectives has one column for each
    (``value/<metric>``) and needs it; a run without this package's searcher (an experiment
    directory) has its successes' values read from it.
    """
    frame = _frame(source, metric)
    # The objective the values are of, where the source says it (a report's attrs): a search of
    # another refuses them (ledger.tell_history).
    source_metric, source_mode = frame.attrs.get("metric"), frame.attrs.get("modes") or frame.attrs.get("mode")
    config_columns = [c for c in frame.columns if str(c).startswith(CONFIG_PREFIX)]
    if not config_columns:
        raise ValueError(
            f"history has no config columns (named 'config/<parameter>'); columns: {list(frame.columns)}"
        )
    objectives = [str(c)[len(VALUE_PREFIX):] for c in frame.columns if str(c).startswith(VALUE_PREFIX)]
    if objectives:  # several: 'value' is the first one's
        if metric not in objectives:
            raise ValueError(f"history has several objectives {objectives}: a warm start takes one; "
                             f"got metric={metric!r} (pass the searcher one of them as metric=)")
        frame = frame.assign(value=frame[VALUE_PREFIX + metric])
        listed = isinstance(source_metric, list) and isinstance(source_mode, list) and metric in source_metric
        source_mode = source_mode[source_metric.index(metric)] if listed else None
        source_metric = metric
    source = {"metric": source_metric if isinstance(source_metric, str) else None,
              "mode": source_mode if isinstance(source_mode, str) else None}
    trials = []
    for index, row in frame.iterrows():
        where = f"history row {index}"
        status = row.get("status") if "status" in frame.columns else None
        if not _missing(status) and status not in STATUSES:
            continue  # running, pending, ...: nothing to learn from
        if "retried" in frame.columns and _plain(row.get("retried")) is True:
            continue  # the infrastructure's failure: its configuration's retry is in the history
        config = _flat_config({c[len(CONFIG_PREFIX):]: _plain(row[c]) for c in config_columns})
        config = {name: None if _missing(v) else v for name, v in config.items()}  # a None choice (onto_space)
        value = _plain(row.get("value"))
        kind = STATUSES[str(status)] if not _missing(status) else (Kind.FAILURE if _missing(value) else Kind.SUCCESS)
        if kind is Kind.SUCCESS:
            trials.append(PastTrial(config, value=_finite(where, kind, "value", value), kind=kind, **source))
            continue
        if kind is Kind.SLO_MISS:
            miss = _finite(where, kind, "slo_miss", _plain(row.get("slo_miss")), positive=True)
            trials.append(PastTrial(config, value=_finite(where, kind, "value", value), kind=kind, slo_miss=miss,
                                    **source))
            continue
        try:
            elapsed = check_elapsed(_plain(row.get("elapsed_s")))
            timeout = row.get("timeout_s") if "timeout_s" in frame.columns else None
            timeout = None if _missing(timeout) else check_timeout("timeout_s", _plain(timeout))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        error = row.get("error") if "error" in frame.columns else ""
        error_class = row.get("error_class") if "error_class" in frame.columns else None
        known = not _missing(error_class) and error_class != ErrorClass.OTHER
        trials.append(PastTrial(config, elapsed_s=elapsed, timeout_s=timeout,
                                error="" if _missing(error) else str(error),
                                error_class=str(error_class) if known else None,
                                progress=_completion(where, row.get("completion")), **source))
    if len(frame) and not trials:
        statuses = sorted({str(v) for v in frame["status"]}) if "status" in frame.columns else []
        logger.warning("No trial of the history could be told (statuses %s): a run without this package's "
                       "searcher needs the searcher's metric to read its successes.", statuses)
    return trials


def _completion(where: str, value: Any) -> Optional[float]:
    """A failure's ``completion`` as its report gives it (how far it got when it was graded: its
    reported progress, its iterations, its stage or its clock), or None where there is none."""
    value = _plain(value)
    if _missing(value):
        return None
    number = real_number(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise ValueError(f"{where}: completion must be a number in [0, 1] or empty, got {value!r}")
    return number


if not TYPE_CHECKING:  # unseen by type checkers, which would take any name of the module then
    __getattr__ = gone_names(__name__)
