"""The penalty policy: how far a failed trial got and what killed it, as one finite penalty.

Pure logic with no Ray import, so it can be tested and reused on its own.

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> policy = PenaltyPolicy()
    >>> policy.penalty(30, 600, error="CUDA out of memory", mode="max")
    -1500.0
    >>> policy.penalty(600, 600, error="TimeoutError", mode="min")
    80.0
"""

from __future__ import annotations

import collections.abc
import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

from ray_graded_penalty._core.checks import check_mode, finite_number
from ray_graded_penalty._core.judge import Evidence, Spelling, classify, contains, grade, spell_keyword
from ray_graded_penalty._core.outcomes import ErrorClass, Grade, Severity

__all__ = ["CRASH", "DEFAULT_MODIFIERS", "DEFAULT_TIERS", "SLO_ERROR_CLASS", "ErrorClass", "ErrorModifier", "Grade",
           "PenaltyPolicy", "Tier"]

#: The class of a failure no modifier applies to (``ErrorClass.CRASH``), under its 0.5 name.
CRASH = ErrorClass.CRASH
#: The class of a success that missed an SLO past its ``fail_ratio`` (``ErrorClass.SLO``), under its 0.5 name.
SLO_ERROR_CLASS = ErrorClass.SLO


@dataclass(frozen=True)
class Tier:
    """Failures whose completion is at least ``start`` (until the next tier) get ``magnitude``."""

    start: float
    magnitude: float


@dataclass(frozen=True)
class ErrorModifier:
    """Multiplies the magnitude by ``factor`` when the error text contains one of ``keywords``.

    Keywords match whole words, case-insensitively (see :mod:`~ray_graded_penalty._core.judge`);
    the first modifier that matches wins.
    """

    name: str
    keywords: Tuple[str, ...]
    factor: float

    def matches(self, text: Spelling) -> bool:
        """Whether one of the keywords stands in ``text`` (from :func:`~ray_graded_penalty._core.judge.spell`)."""
        return any(contains(text, spell_keyword(k)) for k in self.keywords)



#: The default policy's error classes and factors (the seed design's), each with the ways real servers, runtimes and
#: clusters say it. The order is the cause before the stage: an allocation that failed while
#: deploying ("Deployment failed: CUDA out of memory") is out of memory, and a read timed out
#: on a connection ("ReadTimeout: HTTPConnectionPool(...): Read timed out") ran out of time.
#: "connection" and "timeout" share x0.8 in the seed design; they are two classes here so
#: that reports tell them apart. "slo" comes first of all: the searcher names that class
#: itself, and the keyword finds it again in an earlier run's error text, which begins "SLO
#: missed:". x0.8: it served to the end.
DEFAULT_MODIFIERS: Tuple[ErrorModifier, ...] = (
    ErrorModifier(ErrorClass.SLO, ("slo missed",), 0.8),
    ErrorModifier(ErrorClass.OOM, (
        "oom", "oom-killer", "oom-kill", "out of memory", "out-of-memory", "insufficient memory",
        "not enough memory", "cannot allocate memory", "failed to allocate", "unable to allocate",
        "could not allocate", "cannot allocate", "allocation failed", "allocation failure",
        "alloc failed", "memory allocation", "bad_alloc", "bad alloc", "memory error",
        "low on memory", "low on resource memory", "no available memory", "free memory",
        "shared memory", "kv cache memory", "kv cache space", "kv cache is needed",
        "stored in kv cache", "context size", "exceed_context_size_error", "not enough space",
        "it is full", "store full", "enomem", "memory usage threshold", "more system memory",
        "memory limit", "paging file is too small", "enough gpu ram", "high memory pressure",
        "no executable batch size", "paged kv cache", "anon-rss", "allocation on device",
        "out of gpu resources", "attempting to allocate",
    ), 1.5),
    ErrorModifier(ErrorClass.DEPLOY, (
        "deploy", "deployment", "deploying", "not found", "no such file", "does not exist",
        "no module named", "cannot import name", "undefined symbol", "not compiled with",
        "invalid device ordinal", "can't load", "cannot load", "unable to load",
        "failed to load", "error loading model", "model loading error", "unknown model architecture",
        "not a valid model", "does not recognize", "failed to open", "failed to initialize",
        "not supported", "only supported", "incompatible", "not compatible", "must be divisible",
        "not divisible", "kernel image", "building extension", "exec format error",
        "unrecognized arguments", "unrecognized argument", "unrecognized option", "unknown argument",
        "unknown option", "invalid argument", "invalid choice", "unknown value", "unkown value",
        "arguments are required", "repo id", "gated repo", "401 client error", "403 client error",
        "address already in use", "port is already allocated", "couldn't bind", "could not bind",
        "failed to bind", "image pull", "pull access denied", "pull rate limit", "manifest unknown",
        "no such image", "oci runtime", "runtime env", "could not select device driver",
        "nvidia driver", "cuda driver version", "driver combination", "no cuda gpus are available",
        "no cuda capable device", "cuda error no device", "no visible gpu", "failed scheduling", "nodes are available",
        "cannot be scheduled", "insufficient cluster resources", "unschedulable", "insufficient nvidia",
        "fulfill resource request", "should be divisible", "version mismatch", "mismatches", "unsupported",
        "not implemented", "not aligned", "nvcc fatal", "cudnn library", "cudnn handle",
        "busy or unavailable", "dll load failed", "cuda setup failed", "update your driver",
        "invalid runtime name", "unable to create", "access permissions", "permission denied",
        "no device code", "no binary for gpu", "code object for", "pull image", "failed to provision",
        "resources unavailable", "vcpu limit", "missing the files", "missing files", "invalid model",
        "does not support", "doesn't support", "no file named", "no matching distribution",
        "could not find a version", "loadlibrary failed", "provisioning attempts failed", "failed provisioning",
        "misconfiguration", "environment variable is not set", "command not found", "quota",
        "resource limit exceeded", "build stopped", "cmake error", "nvml", "invalid device function",
        "instruction set architecture", "authentication required", "found to be in conflict",
        "does not match the version", "devices unavailable", "not able to use gpu", "placement group",
    ), 1.2),
    ErrorModifier(ErrorClass.TIMEOUT, (
        "timeout", "timed out", "time out", "timing out", "times out", "deadline exceeded",
        "took too long", "stuck", "did not become ready", "health check failed", "hanging", "hang",
        "hangs", "hung", "did not respond", "unresponsive", "store based barrier",
        "did not complete within", "time limit",
    ), 0.8),
    ErrorModifier(ErrorClass.CONNECTION, (
        "connection", "connect", "refused", "reset by peer", "broken pipe", "disconnected",
        "remote end closed", "closed by remote", "closed by peer", "from peer", "econnrefused",
        "econnreset", "epipe", "no route to host", "unreachable", "no such host",
        "name resolution", "name or service not known", "incomplete read", "unexpected eof",
        "network error", "transport error", "recv failed", "send failed", "service unavailable",
        "socket closed", "returned nothing", "no available servers", "marked dead", "reconnect",
        "heartbeat",
    ), 0.8),
)


#: The default policy's tiers (the seed design's): <20 % -> 1000, <60 % -> 500, <95 % -> 200, else 100.
DEFAULT_TIERS: Tuple[Tier, ...] = (
    Tier(0.00, 1000.0),
    Tier(0.20, 500.0),
    Tier(0.60, 200.0),
    Tier(0.95, 100.0),
)

TierLike = Union[Tier, Tuple[float, float]]
ModifierLike = Union[ErrorModifier, Tuple[str, Sequence[str], float]]


def _a_list(value: object) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes))


def _as_tiers(tiers: Iterable[TierLike]) -> Tuple[Tier, ...]:
    if not _a_list(tiers):
        raise TypeError(f"tiers must be a list of Tier or (start, magnitude) pairs, got {tiers!r}")
    result = []
    for i, tier in enumerate(tiers):
        if not isinstance(tier, Tier):
            try:
                start, magnitude = tier
            except (TypeError, ValueError):
                raise TypeError(
                    f"tiers[{i}] must be a Tier or a (start, magnitude) pair, got {tier!r}"
                ) from None
            tier = Tier(start, magnitude)
        start = finite_number(f"tiers[{i}].start", tier.start)
        magnitude = finite_number(f"tiers[{i}].magnitude", tier.magnitude)
        if not 0.0 <= start <= 1.0:
            raise ValueError(f"tiers[{i}].start must be a completion in [0, 1], got {start!r}")
        if magnitude <= 0:
            raise ValueError(f"tiers[{i}].magnitude must be positive, got {magnitude!r}")
        result.append(Tier(start, magnitude))
    if not result:
        raise ValueError("tiers must not be empty")
    if result[0].start != 0.0:
        raise ValueError(f"the first tier must start at 0.0, got {result[0].start!r}")
    for i in range(1, len(result)):
        before, tier = result[i - 1], result[i]
        if tier.start <= before.start:
            raise ValueError(f"tier starts must increase strictly: tiers[{i}].start={tier.start!r} "
                             f"follows {before.start!r}")
        if tier.magnitude > before.magnitude:
            raise ValueError(
                f"tiers[{i}] (from {tier.start:.0%}) has magnitude {tier.magnitude!r}, larger "
                f"than the earlier tier's {before.magnitude!r}: a later failure would score "
                f"worse than an earlier one; magnitudes must not increase with completion"
            )
    return tuple(result)


def _as_modifiers(modifiers: Iterable[ModifierLike]) -> Tuple[ErrorModifier, ...]:
    if not _a_list(modifiers):
        raise TypeError(f"modifiers must be a list of ErrorModifier or (name, keywords, factor), got {modifiers!r}")
    result = []
    for i, modifier in enumerate(modifiers):
        parts: Any = modifier
        if isinstance(modifier, ErrorModifier):
            parts = (modifier.name, modifier.keywords, modifier.factor)
        try:
            name, keywords, factor = parts
        except (TypeError, ValueError):
            raise TypeError(f"modifiers[{i}] must be an ErrorModifier or a (name, keywords, factor) "
                            f"triple, got {modifier!r}") from None
        if not isinstance(name, str) or not name:
            raise ValueError(f"modifiers[{i}].name must be a non-empty string, got {name!r}")
        if isinstance(keywords, str) or not isinstance(keywords, collections.abc.Iterable):
            raise TypeError(f"modifiers[{i}].keywords must be a list of non-empty strings, got {keywords!r}")
        keywords = tuple(keywords)  # once: a generator is read once
        if not all(isinstance(k, str) and k for k in keywords):
            raise ValueError(f"modifiers[{i}].keywords must be a list of non-empty strings, got {list(keywords)!r}")
        if not keywords:
            raise ValueError(f"modifiers[{i}] ({name!r}) has no keywords")
        wordless = [k for k in keywords if not spell_keyword(k).letters]
        if wordless:
            raise ValueError(f"modifiers[{i}] ({name!r}) has keywords with no words to match: "
                             f"{wordless}; a keyword matches whole words of the error text")
        if name == ErrorClass.CRASH:
            raise ValueError(f"modifiers[{i}] may not be named {ErrorClass.CRASH!r}: that is the class of a failure "
                             f"no modifier applies to")
        factor = finite_number(f"modifiers[{i}].factor", factor)
        if factor <= 0:
            raise ValueError(f"modifiers[{i}].factor must be positive, got {factor!r}")
        result.append(ErrorModifier(name, keywords, factor))
    names = [m.name for m in result]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"modifier names must be unique, repeated: {duplicates}")
    return tuple(result)


def _tie_width(magnitudes: Sequence[float]) -> float:
    """Just under half the smallest gap between two magnitudes (or half the only one)."""
    gaps = [b - a for a, b in zip(magnitudes, magnitudes[1:])]
    return 0.49 * min(gaps) if gaps else 0.49 * magnitudes[0]


class PenaltyPolicy:
    """Turns (elapsed time, timeout, error text) into a finite penalty.

    completion = elapsed / timeout, clamped to [0, 1], picks a tier's magnitude; the first
    modifier with a keyword in the error text scales it (keywords match whole words, see
    :mod:`~ray_graded_penalty._core.judge`), unless the caller knows the error's class
    (:meth:`grade`'s ``error_class``). The sign makes it bad for the mode:
    negative for ``mode="max"``, positive for ``mode="min"``. The defaults are the default
    policy (the seed design's table); a configuration in which an earlier failure could score better than a
    later one with the same error is refused here, at construction.

    Args:
        tiers: ``Tier`` or ``(start, magnitude)`` pairs. The first starts at 0.0, starts
            increase strictly, magnitudes are positive and never increase.
        modifiers: ``ErrorModifier`` or ``(name, keywords, factor)`` triples: names unique
            and not ``"crash"`` (a failure none applies to), keywords with words in them,
            factors positive.
        break_ties_by_progress: If True (the default), failures with the same magnitude are
            ranked for TPE by completion, earlier worse (``Grade.rank``). The tie-break is
            under half the smallest gap between two magnitudes the policy can give, so it
            never reorders the table, and the penalty itself is unchanged. Within a tier TPE
            then still sees which failures got closer to finishing.

    Example:
        >>> policy = PenaltyPolicy(tiers=[(0.0, 10.0), (0.5, 1.0)], modifiers=[])
        >>> policy.penalty(elapsed_s=60, timeout_s=100, mode="max")
        -1.0
    """

    def __init__(
        self,
        tiers: Iterable[TierLike] = DEFAULT_TIERS,
        modifiers: Iterable[ModifierLike] = DEFAULT_MODIFIERS,
        *,
        break_ties_by_progress: bool = True,
    ) -> None:
        self.tiers = _as_tiers(tiers)
        self.modifiers = _as_modifiers(modifiers)
        if not isinstance(break_ties_by_progress, bool):
            raise TypeError(f"break_ties_by_progress must be True or False, got {break_ties_by_progress!r}")
        self.break_ties_by_progress = break_ties_by_progress
        overflow = [(t.magnitude, m.factor) for t in self.tiers for m in self.modifiers
                    if not math.isfinite(t.magnitude * m.factor)]
        if overflow:
            magnitude, factor = overflow[0]
            raise ValueError(f"a failure's magnitude must be a finite number: a tier's magnitude {magnitude!r} "
                             f"times a modifier's factor {factor!r} is not")
        self._tie_width = _tie_width(self.magnitudes) if break_ties_by_progress else 0.0

    def to_data(self) -> Dict[str, Any]:
        """This policy as plain data (see :mod:`~ray_graded_penalty._core.state`)."""
        return {"tiers": [[t.start, t.magnitude] for t in self.tiers],
                "modifiers": [[m.name, list(m.keywords), m.factor] for m in self.modifiers],
                "break_ties_by_progress": self.break_ties_by_progress}

    @classmethod
    def from_data(cls, data: Dict[str, Any]) -> "PenaltyPolicy":
        """The policy :meth:`to_data` describes, checked as any policy is."""
        return cls(tiers=[tuple(t) for t in data["tiers"]], modifiers=[tuple(m) for m in data["modifiers"]],
                   break_ties_by_progress=data["break_ties_by_progress"])

    def __repr__(self) -> str:
        return (
            f"PenaltyPolicy(tiers={list(self.tiers)}, modifiers={list(self.modifiers)}, "
            f"break_ties_by_progress={self.break_ties_by_progress})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PenaltyPolicy):
            return NotImplemented
        return (self.tiers, self.modifiers, self.break_ties_by_progress) == (
            other.tiers, other.modifiers, other.break_ties_by_progress
        )

    @property
    def magnitudes(self) -> Tuple[float, ...]:
        """Every magnitude this policy can give, ascending."""
        factors = [1.0] + [m.factor for m in self.modifiers]
        return tuple(sorted({tier.magnitude * f for tier in self.tiers for f in factors}))

    @property
    def least_magnitude(self) -> float:
        """The smallest magnitude this policy can give: its least-bad possible failure."""
        return self.magnitudes[0]

    def severity(self, grade: Grade) -> Severity:
        """How bad the failure ``grade`` is, on the scale the placement and backends share (the
        judge makes it the same way, from the policy's least magnitude)."""
        return Severity.of_failure(grade.magnitude, grade.rank, self.least_magnitude)

    @property
    def error_classes(self) -> Tuple[str, ...]:
        """The classes this policy grades: its modifiers' names, then ``"crash"`` (none applies)."""
        return (*(m.name for m in self.modifiers), ErrorClass.CRASH)

    def classify(self, error: Optional[str]) -> Optional[ErrorModifier]:
        """The first modifier with a keyword in ``error`` (whole words, any case), or None."""
        name = classify(Evidence(error), self)
        return next((m for m in self.modifiers if m.name == name), None)

    @property
    def tie_width(self) -> float:
        """The most the progress tie-break adds to a failure's rank (0 when it is off)."""
        return self._tie_width

    def grade(
        self, elapsed_s: float, timeout_s: float, error: Optional[str] = "", error_class: Optional[str] = None
    ) -> Grade:
        """Grade one failure; see :meth:`penalty` for the arguments.

        ``error_class`` names what killed it when the caller knows (a timeout, an SLO failure):
        that modifier's factor applies (1.0 for ``"crash"`` or a class the policy has no
        modifier for), and the text is not read. None: the text's keywords decide.
        """
        if error is not None and not isinstance(error, str):
            raise TypeError(f"error must be a string, got {type(error).__name__}: {error!r}")
        if error_class is None:
            error_class = classify(Evidence(error), self)
        return grade(self, elapsed_s, timeout_s, error_class)

    def penalty(
        self, elapsed_s: float, timeout_s: float, error: Optional[str] = "", mode: str = "max"
    ) -> float:
        """The penalty of a trial that failed after ``elapsed_s`` of a ``timeout_s`` budget.

        Args:
            elapsed_s: Seconds the trial ran before it failed (finite, >= 0).
            timeout_s: The per-trial timeout in seconds (finite, > 0).
            error: The error text; keywords in it pick a modifier.
            mode: "max" (penalty negative) or "min" (penalty positive).
        """
        check_mode(mode)
        return self.grade(elapsed_s, timeout_s, error).penalty(mode)
