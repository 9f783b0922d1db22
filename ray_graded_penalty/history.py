"""Earlier trials, failures included, read from an experiment directory, a CSV or a DataFrame,
so a new search can start from what an earlier one learned (warm start).

The columns are those of :func:`ray_graded_penalty.report.failure_report` (so its CSV can be
fed back as it is):

- ``config/<name>``: one column per parameter (required, at least one);
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
- ``error``: its error text (optional).
"""

from __future__ import annotations

import math
import os
from typing import Any, List, Union

import pandas as pd

from ray_graded_penalty.checks import check_elapsed, check_timeout
from ray_graded_penalty.records import Kind, PastTrial
from ray_graded_penalty.report import CONFIG_PREFIX, NO_TEXT, failure_report

#: The ``status`` values of a failure report, and the word reports before 0.5 wrote for a failure.
STATUSES = {Kind.SUCCESS.value: Kind.SUCCESS, Kind.SLO_MISS.value: Kind.SLO_MISS,
            Kind.FAILURE.value: Kind.FAILURE, "failed": Kind.FAILURE}


HistorySource = Union[str, os.PathLike, pd.DataFrame]


def _frame(source: HistorySource) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(source))
        if os.path.isdir(path):
            return failure_report(path)
        if path.endswith(".csv") and os.path.isfile(path):
            return pd.read_csv(path)
        raise ValueError(f"history source {path!r} is neither an experiment directory nor a .csv file")
    raise TypeError(f"history must be a DataFrame, a .csv path or an experiment directory, got {type(source).__name__}")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _finite(where: str, kind: Kind, name: str, value: Any, positive: bool = False) -> float:
    ok = not _missing(value) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        what = "a success" if kind is Kind.SUCCESS else "an SLO miss"
        raise ValueError(f"{where}: {what} needs a {'positive' if positive else 'finite'} {name!r}, got {value!r}")
    return float(value)


def read_history(source: HistorySource) -> List[PastTrial]:
    """Parse and check ``source``; a malformed row is refused with an error naming it."""
    frame = _frame(source)
    config_columns = [c for c in frame.columns if str(c).startswith(CONFIG_PREFIX)]
    if not config_columns:
        raise ValueError(
            f"history has no config columns (named 'config/<parameter>'); columns: {list(frame.columns)}"
        )
    trials = []
    for index, row in frame.iterrows():
        where = f"history row {index}"
        status = row.get("status") if "status" in frame.columns else None
        if not _missing(status) and status not in STATUSES:
            continue  # running, pending, ...: nothing to learn from
        config = {c[len(CONFIG_PREFIX):]: _plain(row[c]) for c in config_columns}
        missing = [name for name, v in config.items() if _missing(v)]
        if missing:
            raise ValueError(f"{where}: no value for parameter(s) {missing}")
        value = _plain(row.get("value"))
        kind = STATUSES[str(status)] if not _missing(status) else (Kind.FAILURE if _missing(value) else Kind.SUCCESS)
        if kind is Kind.SUCCESS:
            trials.append(PastTrial(config, value=_finite(where, kind, "value", value), kind=kind))
            continue
        if kind is Kind.SLO_MISS:
            miss = _finite(where, kind, "slo_miss", _plain(row.get("slo_miss")), positive=True)
            trials.append(PastTrial(config, value=_finite(where, kind, "value", value), kind=kind, slo_miss=miss))
            continue
        try:
            elapsed = check_elapsed(_plain(row.get("elapsed_s")))
            timeout = row.get("timeout_s") if "timeout_s" in frame.columns else None
            timeout = None if _missing(timeout) else check_timeout("timeout_s", _plain(timeout))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        error = row.get("error") if "error" in frame.columns else ""
        error_class = row.get("error_class") if "error_class" in frame.columns else None
        known = not _missing(error_class) and error_class != NO_TEXT
        trials.append(PastTrial(config, elapsed_s=elapsed, timeout_s=timeout,
                                error="" if _missing(error) else str(error),
                                error_class=str(error_class) if known else None))
    return trials
