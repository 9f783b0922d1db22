"""The vocabulary: how a trial ended, what killed it, how bad it was, and the objectives.

One name per idea, defined here and nowhere else:

- :class:`Kind`, how a finished trial ended (as SMAC's ``StatusType``): a success, an SLO miss
  or a failure. The failure report's ``status`` column holds its values.
- :class:`ErrorClass`, the built-in error classes: what killed a failed trial. A policy may add
  classes of its own, under any other name.
- :class:`Grade`, everything that went into one failure's penalty, and :class:`Severity`, how
  bad a trial told below every success was, on the one scale the placement and the backends
  share.
- :class:`TrialOutcome`, what the inner searcher was told of one finished trial, as users read
  it; :class:`PastTrial`, an earlier trial of a warm start.
- :class:`Objectives`, the metric or metrics and their modes.

Pure logic, no Ray import.

Example:
    >>> objectives = Objectives.of(["throughput", "e2el_p99_s"], ["max", "min"])
    >>> objectives.read({"throughput": 900.0, "e2el_p99_s": 0.4})
    (900.0, 0.4)
    >>> objectives.read({"throughput": 900.0})
    "objective 'e2el_p99_s' missing from the result"
    >>> miss = Severity.of_miss(0.25)          # an SLO missed by 25 %
    >>> miss
    Severity(level=0.2, violation=0.2)
    >>> miss.violation < 1 <= Severity(level=12.5, violation=1001.0).violation  # every miss above every failure
    True
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ray_graded_penalty._core.checks import check_mode, real_number


class Kind(str, Enum):
    """How a finished trial ended, as it was told: the one type every module compares.

    A ``str`` enum: ``Kind.SLO_MISS == "slo_miss"``, and the failure report's ``status``
    column holds these values.
    """

    SUCCESS = "success"  # reported its objectives, within every SLO: told as it is
    SLO_MISS = "slo_miss"  # served but missed an SLO: told below every success
    FAILURE = "failure"  # failed (or missed an SLO past its fail_ratio): told a graded penalty

    def __str__(self) -> str:
        return self.value


class ErrorClass:
    """The built-in error classes, by name: what killed a failed trial.

    Plain strings, so that a policy's own classes (any other name) mix with them. The default
    policy's modifiers (:data:`~ray_graded_penalty.DEFAULT_MODIFIERS`) give the first five their
    keywords and factors; the rest are the package's own.
    """

    #: A success that missed an SLO past its ``fail_ratio`` (:mod:`~ray_graded_penalty.slo`).
    SLO = "slo"
    OOM = "oom"
    DEPLOY = "deploy"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    #: The trial's node or worker was lost under it (Ray says the node died or was preempted):
    #: the infrastructure's failure, not the configuration's, so by default its configuration
    #: runs again before anything is told (``GradedPenaltySearcher(retries=...)``); factor 1.
    LOST = "lost"
    #: A failure no modifier applies to (factor 1): a plain crash.
    CRASH = "crash"
    #: In reports only: a crash with no error text at all.
    OTHER = "other"

    #: Every built-in class, in the order reports list them.
    ALL: Tuple[str, ...] = (OOM, DEPLOY, TIMEOUT, CONNECTION, SLO, LOST, CRASH, OTHER)
    #: The classes of the package's own endings: they apply whatever the policy (factor 1
    #: without a modifier of that name).
    OWN: Tuple[str, ...] = (TIMEOUT, CRASH, SLO, LOST)
    #: The classes whose failures are the infrastructure's by default: retried, not told.
    TRANSIENT: Tuple[str, ...] = (LOST,)


class Severity(NamedTuple):
    """How bad one trial below the successes was: the one measure the placement, the ledger and
    the backends read.

    Attributes:
        level: Where the placement tells it, below every success: an SLO miss in (0, 1), its
            total miss ``m`` as ``m / (1 + m)``; a failure at least 1, its penalty magnitude
            over the policy's least magnitude.
        violation: Its order among every trial below the successes, the infeasibility a
            backend marks it with: an SLO miss's ``level``; a failure's ``1 + rank`` (the
            magnitude with ties broken by progress, see :class:`Grade`), so above 1 and every miss.
    """

    level: float
    violation: float

    @classmethod
    def of_miss(cls, total_miss: float) -> "Severity":
        """An SLO miss of ``total_miss`` (> 0): larger misses rank worse, all above a failure."""
        rank = total_miss / (1.0 + total_miss)
        return cls(rank, rank)

    @classmethod
    def of_failure(cls, magnitude: float, rank: float, least_magnitude: float) -> "Severity":
        """A failure of ``magnitude`` (and ``rank``, its tie-broken order) under a policy whose
        least-bad failure has ``least_magnitude``."""
        return cls(magnitude / least_magnitude, 1.0 + rank)


@dataclass(frozen=True)
class Grade:
    """Everything that went into one failure's penalty, for logs and reports."""

    elapsed_s: float
    timeout_s: float
    completion: float
    tier_magnitude: float
    #: What killed it: the name of the modifier that scaled it, or ``"crash"`` (none did).
    error_class: str
    magnitude: float
    #: The order TPE is given: ``magnitude`` plus a tie-break that makes an earlier failure
    #: of the same magnitude rank worse (see ``PenaltyPolicy(break_ties_by_progress=...)``).
    rank: float

    def penalty(self, mode: str) -> float:
        """The magnitude with the sign that makes it bad for ``mode``."""
        return -self.magnitude if check_mode(mode) == "max" else self.magnitude

    @property
    def modifier(self) -> Optional[str]:
        """Deprecated (0.4's name): :attr:`error_class`, None where it is ``"crash"``."""
        warnings.warn("Grade.modifier is deprecated and goes in 0.7: use Grade.error_class (\"crash\" where "
                      "modifier was None)", DeprecationWarning, stacklevel=2)
        return None if self.error_class == ErrorClass.CRASH else self.error_class


# ----- the objectives -------------------------------------------------------------------------

MetricArg = Union[None, str, Sequence[str]]
#: A value as users read it: a float for one objective, a tuple for several.
Told = Union[float, Tuple[float, ...]]


def metric_names(metric: MetricArg) -> Tuple[str, ...]:
    """``metric``, a name or a list of them, as a tuple of names; else a ValueError naming it."""
    names = (metric,) if isinstance(metric, str) else tuple(metric) if isinstance(metric, (list, tuple)) else ()
    if not names or not all(isinstance(m, str) and m for m in names):
        raise ValueError(f"metric must be a metric name or a list of them, got {metric!r}")
    return names


@dataclass(frozen=True)
class Objectives:
    """Metric names and their modes, one or several: a name and "max" or "min", as in
    ``tune.TuneConfig(metric=..., mode=...)``, or lists of both, as Ray's
    ``OptunaSearch(metric=[...], mode=[...])`` takes them."""

    metrics: Tuple[str, ...]
    modes: Tuple[str, ...]

    @classmethod
    def of(cls, metric: MetricArg, mode: MetricArg) -> "Objectives":
        """Check ``metric`` and ``mode`` (a name and a mode, or two lists of the same length)."""
        metrics = metric_names(metric)
        modes = (mode,) if isinstance(mode, str) else tuple(mode) if isinstance(mode, (list, tuple)) else ()
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metric names must be unique, got {list(metrics)}")
        if len(modes) != len(metrics):
            raise ValueError(
                f"one mode per metric: metric={list(metrics)!r} but mode={mode!r}; give "
                f"mode=['max' or 'min', ...] with {len(metrics)} entries"
            )
        for m in modes:
            check_mode(m)
        return cls(metrics, modes)

    @staticmethod
    def check_args(metric: MetricArg, mode: MetricArg) -> bool:
        """Check a searcher's ``metric`` and ``mode`` arguments, either of which may be left to
        ``TuneConfig``; returns whether they name several objectives."""
        several = isinstance(metric, (list, tuple)) or isinstance(mode, (list, tuple))
        if metric is not None and mode is not None:
            if isinstance(mode, (list, tuple)) and not isinstance(metric, (list, tuple)):  # Ray's Searcher asserts it
                raise ValueError(f"metric and mode are both names or both lists (several objectives); got "
                                 f"metric={metric!r}, mode={mode!r}")
            Objectives.of(metric, mode)
            return several
        if metric is not None:
            metric_names(metric)
        if several:
            raise ValueError(f"several objectives need both lists, metric=[...] and mode=[...]; "
                             f"got metric={metric!r}, mode={mode!r}")
        elif mode is not None:
            check_mode(mode)
        return several

    @property
    def several(self) -> bool:
        return len(self.metrics) > 1

    def read(self, result: Optional[Mapping[str, Any]]) -> Union[Tuple[float, ...], str]:
        """The objectives' values in ``result``, or why they cannot be used (a message)."""
        values = []
        for metric in self.metrics:
            value = (result or {}).get(metric)
            if value is None:
                return f"objective {metric!r} missing from the result"
            number = real_number(value)
            if number is None or not math.isfinite(number):
                return f"non-finite objective {metric}={value!r}"
            values.append(number)
        return tuple(values)

    def signed(self, values: Sequence[float]) -> Tuple[float, ...]:
        """``values`` turned so that larger is better in every objective."""
        return tuple(v if mode == "max" else -v for v, mode in zip(values, self.modes))

    def dominates(self, a: Sequence[float], b: Sequence[float]) -> bool:
        """Whether ``a`` is at least as good as ``b`` everywhere and better somewhere."""
        sa, sb = self.signed(a), self.signed(b)
        return all(x >= y for x, y in zip(sa, sb)) and any(x > y for x, y in zip(sa, sb))

    def told(self, values: Sequence[float]) -> Told:
        """``values`` (one per objective) as users read them: a float for one objective."""
        values = tuple(float(v) for v in values)
        return values if self.several else values[0]

    @staticmethod
    def values(told: Told) -> Tuple[float, ...]:
        """The inverse of :meth:`told`: one value per objective."""
        return tuple(told) if isinstance(told, tuple) else (told,)

    def result(self, values: Sequence[float]) -> dict:
        """``values`` as a result dict, as Ray reports it."""
        return dict(zip(self.metrics, values))

    def describe(self, values: Sequence[float]) -> str:
        """``metric=value`` for each objective."""
        return ", ".join(f"{m}={v:.6g}" for m, v in zip(self.metrics, values))


# ----- what was told ------------------------------------------------------------------------------


@dataclass
class TrialOutcome:
    """What the inner searcher was told about one finished trial.

    A success that missed an SLO has ``failed=False`` and a positive ``slo_miss``; it was told
    below every success that met its SLOs. With several objectives, ``told`` and ``metric``
    hold one value per objective.
    """

    trial_id: str
    config: Optional[Dict[str, Any]]
    failed: bool
    told: Told  # the value the inner searcher was told
    metric: Optional[Told] = None  # the success's own metric value(s)
    penalty: Optional[float] = None  # the policy's penalty (before placement)
    elapsed_s: Optional[float] = None
    timeout_s: Optional[float] = None
    completion: Optional[float] = None
    error_class: Optional[str] = None  # a failure's: the modifier that scaled it, or "crash"
    error: Optional[str] = None
    slo_miss: float = 0.0  # weighted total miss of the SLOs (0: all met, or a failure)
    slo_values: Dict[str, Optional[float]] = field(default_factory=dict)  # SLO metric -> value
    slo_misses: Dict[str, float] = field(default_factory=dict)  # SLO metric -> miss, missed only

    @property
    def kind(self) -> Kind:
        """How it ended: a success, an SLO miss or a failure."""
        return Kind.FAILURE if self.failed else (Kind.SLO_MISS if self.slo_miss > 0 else Kind.SUCCESS)


@dataclass(frozen=True)
class PastTrial:
    """One earlier trial: a success (``value``), an SLO miss (``value``, ``slo_miss``) or a
    failure (``elapsed_s``, ``error_class``, ``error``, and ``progress``: how far it got, in
    [0, 1], as it was graded then, when its report says it). ``metric`` and ``mode``: the
    objective its run's values were of, where the source says it (the saved state of this
    package's searcher, a report's ``attrs``); None where it does not (a CSV)."""

    config: Dict[str, Any]
    value: Optional[float] = None
    elapsed_s: Optional[float] = None
    timeout_s: Optional[float] = None
    error: str = ""
    kind: Kind = Kind.FAILURE
    slo_miss: float = 0.0
    error_class: Optional[str] = None
    progress: Optional[float] = None
    metric: Optional[str] = None
    mode: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.kind is Kind.FAILURE


def outcome_data(outcome: TrialOutcome) -> Dict[str, Any]:
    """``outcome`` as plain data: its fields, several objectives' values as lists."""
    data = dataclasses.asdict(outcome)
    for key in ("told", "metric"):
        if isinstance(data[key], tuple):
            data[key] = list(data[key])
    return data


def outcome_from_data(data: Dict[str, Any]) -> TrialOutcome:
    """The outcome :func:`outcome_data` describes."""
    data = dict(data)
    for key in ("told", "metric"):
        if isinstance(data.get(key), list):
            data[key] = tuple(data[key])
    return TrialOutcome(**data)


def config_key(config: Dict[str, Any]) -> str:
    """One configuration as a key: its values flattened as Tune flattens a nested space
    (``outer/inner``), in name order; equal for equal configurations.

    A number is its value: ``3.0`` is ``3`` (a DataFrame with a NaN holds an integer parameter
    as a float), and numpy's ``np.int64(3)`` too.

    Example:
        >>> config_key({"train_loop_config": {"lr": 0.1}, "n": 2}) == config_key({"n": 2, "train_loop_config/lr": 0.1})
        True
        >>> config_key({"n": 3.0}) == config_key({"n": 3})
        True
    """
    flat: Dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                walk(f"{prefix}/{name}" if prefix else str(name), inner)
            return
        if isinstance(value, numbers.Number) and hasattr(value, "item"):
            value = value.item()  # numpy's scalars, as Python's
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        flat[prefix] = value

    walk("", config)
    return repr(sorted(flat.items()))
