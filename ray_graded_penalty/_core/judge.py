"""What a trial's end teaches the model, decided once: its kind, its error class, its grade.

:func:`decide` takes what is known of a trial that ended (an
:class:`~ray_graded_penalty._core.trials.Ending`) and the search's :class:`Rules`, and returns one
:class:`Decision`: a success as it is, an SLO miss, or a failure with its grade. In this order:

1. Ray said the trial failed (an error, the watchdog, ``record_failure``): a failure, of the
   class :func:`classify` reads from its evidence, graded by how far it got (:func:`grade`).
2. Its result has no usable objective: a failure, of class "timeout" when it reported none
   (it was stopped before it could), else a plain "crash" (a NaN, an infinity).
3. A metric an SLO names is missing, or an SLO is missed at or past its ``fail_ratio``: a
   failure of class ``"slo"`` at 100 % completion (it served to the end).
4. Some SLO missed: an SLO miss, by its total miss.
5. Otherwise a success.

A failure of a transient class (:attr:`Rules.transient`, by default "lost": the
infrastructure's, not the configuration's) whose configuration has tries left
(:attr:`Rules.retries`) is decided as a retry (:attr:`Decision.retry`): its configuration runs
again, and only how the last try ended is told.

**The one classifier.** Every path that knows a failure reaches :func:`classify`: the callback
(Ray's errors), ``record_failure``, the serving trainable (its
:class:`~ray_graded_penalty.serving.ServerError`'s stage and
the server's words), a warm start and the report (the class as it was graded). In order:

1. A class known without reading any text (:attr:`Evidence.error_class`): the package's own
   endings (the watchdog's "timeout", "crash" for a NaN, "slo"), a class the exception claims
   (an ``error_class`` attribute), Ray's memory monitor's kill ("oom"). A class the policy does
   not know is ignored, with one warning, and the rest decides.
2. A cause its types name, read without its prose (:data:`TYPE_CLASSES`): an exception type
   (or a base class) along its chain, from the root cause (``torch.OutOfMemoryError``,
   ``ModuleNotFoundError``), a Kubernetes reason (``ImagePullBackOff``), a process killed by
   SIGKILL (out of memory). Types come from the exception where the callback has it
   (:attr:`Evidence.types`) and from the lines of the text that print one (:func:`named_types`).
3. What failed, where the evidence says it (:attr:`Evidence.stage`): a served stage ("start",
   "ready", "load"), a dead Ray worker ("worker"), or a node Ray lost under it ("node": died or
   was preempted, class "lost"). A *cause* the words name (a class other
   than the stages' and symptoms' ``deploy``, ``timeout``, ``connection`` and ``slo``: out of
   memory, or a class of the user's) wins; else the stage's class (:data:`STAGE_CLASSES`), if
   the policy has it.
4. A symptom or a plain crash its types name: a timeout, a lost connection (unless the words
   name a symptom the policy puts first: a connection that timed out is a timeout), a
   programming error (``TypeError``, ``NameError``, ...: a crash, whatever its words).
5. Else the words: the first of the policy's modifiers with a keyword in the text, as whole
   words (:func:`words`); else a plain "crash".

The package's own endings carry their class; their messages, which may name a metric such as
``gpu_memory_gb``, are never read as keywords. Pure logic, no Ray import.

**Whole words.** The error text is split into words at spaces and punctuation, inside a
``CamelCase`` name and between letters and digits; a keyword matches where it begins and ends at
word boundaries of the text and its own words are the text's, in order, whatever their case. So
``"oom"`` matches "CUDA OOM" and "OOMKilled" but not "zoom" or "room"; ``"out of memory"``
matches "CUDA out of memory", "OutOfMemoryError" and "CUDA_ERROR_OUT_OF_MEMORY"; a user's
``"xid"`` matches "Xid 79" but not "oxide"; ``"nvlink"`` and ``"oomkilled"`` match "NVLink" and
"OOMKilled" (one word of a keyword may span a ``CamelCase`` name's parts). A name in lower case
joined by ``_`` or ``-`` (``gpu_memory_gb``, ``--gpu-memory-utilization``, ``bad_alloc``) is one
word: metric names, flags and fields are not prose. ``UPPER_CASE_NAMES`` are split. A word
before ``=`` (``Timeout(ms)=600000``) and a quoted key before ``:`` are not read, only their
values; a flag set to true reads as its name (``"OOMKilled": true``), one set to false, null
or 0 as nothing.

Example:
    >>> from ray_graded_penalty import PenaltyPolicy
    >>> from ray_graded_penalty._core.outcomes import Objectives
    >>> from ray_graded_penalty._core.trials import Ending
    >>> rules = Rules(Objectives.of("throughput", "max"), PenaltyPolicy(), (), 600.0)
    >>> decide(Ending("t1", {}, 30.0, None, "CUDA out of memory", None, failed=True), rules).grade.magnitude
    1500.0
    >>> str(decide(Ending("t2", {}, 90.0, None, None, {"throughput": 12.5}), rules).kind)
    'success'
    >>> words("torch.OutOfMemoryError: CUDA out of memory; gpu_memory_gb: 80")
    ('torch', 'out', 'of', 'memory', 'error', 'cuda', 'out', 'of', 'memory', 'gpu_memory_gb', '80')
    >>> policy = PenaltyPolicy()
    >>> classify(Evidence("ValueError: zoom level must be positive"), policy)
    'crash'
    >>> classify(Evidence('{"OOMKilled": false, "ExitCode": 137}'), policy)
    'crash'
    >>> classify(Evidence("ServerError: deploy failed\\nload: failed to allocate buffer", stage="start"), policy)
    'oom'
    >>> classify(Evidence("TypeError: '<' not supported between instances of 'str' and 'int'"), policy)
    'crash'
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Set, Tuple

from ray_graded_penalty._core.checks import check_elapsed, check_timeout
from ray_graded_penalty._core.outcomes import ErrorClass, Grade, Kind, Objectives, PastTrial, Severity
from ray_graded_penalty._core.trials import Ending
from ray_graded_penalty.slo import SLO, Verdict, judge

if TYPE_CHECKING:
    from ray_graded_penalty.policy import ErrorModifier, PenaltyPolicy

logger = logging.getLogger("ray_graded_penalty")


# ----- whole words ------------------------------------------------------------------------------

# A field: a quoted key before ":", or a word (and a unit in parentheses) before "="; and its
# value, when that is a flag.
_FIELD = re.compile(r"""(?:"(?P<key>[^"\n]*)"\s*:(?!:)|(?P<word>[^\W\d][\w.-]*)(?:\([^()\s]*\))?\s*=(?!=))"""
                    r"""\s*(?:(?P<flag>true|false|null|none|0)(?![\w.]))?""", re.UNICODE | re.IGNORECASE)


def _field(match: "re.Match[str]") -> str:
    """What a field says: the name of a flag set to true; nothing else of its name."""
    flag = (match["flag"] or "").lower()
    return f" {match['key'] or match['word']} " if flag == "true" else " "


# A chunk of text between spaces and punctuation other than "_" and "-".
_CHUNK = re.compile(r"[^\W_]+(?:[-_]+[^\W_]+)*", re.UNICODE)
# A lower-case identifier joined by "_" or "-": one word.
_IDENTIFIER = re.compile(r"[a-z0-9]+(?:[-_]+[a-z0-9]+)+")
# Words inside a chunk: an acronym (OOM in OOMKilled), a capitalised or lower-case word, digits.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^\W\d_A-Za-z]+", re.UNICODE)


def _chunks(text: Optional[str]) -> List[List[str]]:
    """``text``'s chunks, each as its lower-case words."""
    chunks = []
    for chunk in _CHUNK.findall(_FIELD.sub(_field, text or "")):
        chunks.append([chunk] if _IDENTIFIER.fullmatch(chunk) else [w.lower() for w in _WORD.findall(chunk)])
    return chunks


def words(text: Optional[str]) -> Tuple[str, ...]:
    """``text`` as lower-case words, split as the module's docstring says."""
    return tuple(w for chunk in _chunks(text) for w in chunk)


class Spelling(NamedTuple):
    """Words run together, and the positions in ``letters`` where words must begin or end."""

    letters: str
    bounds: FrozenSet[int]


def spell(text: Optional[str]) -> Spelling:
    """An error text, with a boundary before and after each of its words."""
    letters: List[str] = []
    bounds, n = {0}, 0
    for word in words(text):
        letters.append(word)
        n += len(word)
        bounds.add(n)
    return Spelling("".join(letters), frozenset(bounds))


@lru_cache(maxsize=4096)
def spell_keyword(keyword: str) -> Spelling:
    """A keyword, with the boundaries between its chunks that the text must have too."""
    letters: List[str] = []
    bounds, n = set(), 0
    for chunk in _chunks(keyword):
        if letters:
            bounds.add(n)
        letters.append("".join(chunk))
        n += len(letters[-1])
    return Spelling("".join(letters), frozenset(bounds))


def contains(text: Spelling, keyword: Spelling) -> bool:
    """Whether ``keyword`` stands in ``text`` as whole words (see the module's docstring)."""
    if not keyword.letters:
        return False
    i = text.letters.find(keyword.letters)
    while i >= 0:
        if (i in text.bounds and i + len(keyword.letters) in text.bounds
                and all(i + b in text.bounds for b in keyword.bounds)):
            return True
        i = text.letters.find(keyword.letters, i + 1)
    return False


def first_match(text: Optional[str], modifiers: Iterable["ErrorModifier"]) -> Optional["ErrorModifier"]:
    """The first of ``modifiers`` with a keyword in ``text`` (whole words, any case), or None."""
    spelled = spell(text)
    return next((m for m in modifiers if any(contains(spelled, spell_keyword(k)) for k in m.keywords)), None)


def first_line(text: Optional[str], default: str = "") -> str:
    """The first non-blank line of ``text``, or ``default``."""
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else default


# ----- the classifier -----------------------------------------------------------------------------


class Evidence(NamedTuple):
    """What is known of how a trial failed, before its class is decided (see :func:`classify`)."""

    #: The error text: the trainable's own exception as ``"Type: message"``.
    text: Optional[str] = ""
    #: A class known without reading the text (the package's own endings, a class the
    #: exception claims, Ray's memory monitor's kill); None: the rest decides.
    error_class: Optional[str] = None
    #: What failed, where the evidence says it: a served stage, or "worker" (a dead Ray worker).
    stage: Optional[str] = None
    #: The names of the exception's types where the exception itself was at hand: along its
    #: chain from the root cause, each with its base classes (see :func:`exception_types`).
    types: Tuple[str, ...] = ()


# ----- evidence before words ----------------------------------------------------------------------

#: What an exception's type (or a base class's), a Kubernetes reason or a kill says of a failure,
#: without reading its prose. Out of memory and a failed deploy name a cause: they decide before
#: a stage does. A timeout and a lost connection are symptoms, and a plain crash's types are
#: programming errors (an operation on the wrong type, a missing name, a bad index): they decide
#: after the stage and before the words, whose ordinary prose ("not supported between
#: instances", "substring not found") would otherwise read as a deploy failure. Generic types
#: (``RuntimeError``, ``ValueError``, ``OSError``, ``KeyError``, ``AssertionError``) say nothing:
#: their words decide.
TYPE_CLASSES: Dict[str, str] = {
    **dict.fromkeys((
        "MemoryError", "OutOfMemoryError", "ResourceExhaustedError", "ObjectStoreFullError", "OutOfDiskError",
    ), ErrorClass.OOM),
    **dict.fromkeys((
        "ModuleNotFoundError", "ImportError", "FileNotFoundError", "RepositoryNotFoundError", "GatedRepoError",
        "RevisionNotFoundError", "EntryNotFoundError", "HFValidationError", "RuntimeEnvSetupError",
        "ActorUnschedulableError", "TaskUnschedulableError",
        # Kubernetes' reasons for a container that never ran
        "ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError",
        "CreateContainerError", "RunContainerError",
    ), ErrorClass.DEPLOY),
    **dict.fromkeys((
        "TimeoutError", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout",
        "ReadTimeoutError", "ConnectTimeoutError", "TimeoutExpired", "GetTimeoutError", "ServerTimeoutError",
        "DeadlineExceeded",
    ), ErrorClass.TIMEOUT),
    **dict.fromkeys((
        "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError",
        "BrokenPipeError", "RemoteDisconnected", "IncompleteRead", "NewConnectionError", "ProtocolError",
        "RemoteProtocolError", "ConnectError", "ClientConnectorError", "ClientConnectionError", "ClientOSError",
        "ServerDisconnectedError", "ClientPayloadError", "ChunkedEncodingError", "ConnectionClosed",
        "ConnectionClosedError",
    ), ErrorClass.CONNECTION),
    **dict.fromkeys((
        "TypeError", "NameError", "UnboundLocalError", "ZeroDivisionError", "IndexError", "RecursionError",
        "SyntaxError", "IndentationError",
    ), ErrorClass.CRASH),
}
#: The classes that name a cause: their evidence decides before a stage does.
CAUSE_CLASSES = (ErrorClass.OOM, ErrorClass.DEPLOY)
#: The classes that name a symptom: of two, the policy's order decides (a connection that timed out is a timeout).
SYMPTOMS = (ErrorClass.TIMEOUT, ErrorClass.CONNECTION)
#: Kubernetes' reasons stand anywhere in a text (a column of ``kubectl``'s output, an event).
#: ``OOMKilled`` is read with the words: Docker writes it as a flag, ``"OOMKilled": false``.
#: ``CrashLoopBackOff`` says only that the container keeps exiting: its logs say why.
_REASONS = re.compile(r"(?<![\w.])(ImagePullBackOff|ErrImagePull|ErrImageNeverPull|InvalidImageName|"
                      r"CreateContainerConfigError|CreateContainerError|RunContainerError)(?!\w)")
#: An exception as Python and Ray print it: its (dotted) type at the start of a line, after any
#: ``[rank0]:`` or ``(pid=1)`` prefixes, followed by ``:`` or the line's end; Ray's
#: ``RayTaskError(Inner)`` names the inner type too. A traceback's source lines (``raise X(``,
#: ``except X:``) do not match.
_TYPE_LINE = re.compile(r"^\s*(?:(?:\[[^\]\n]*\]|\([^)\n]*\)):?\s*)*(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)"
                        r"(?:\((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)\))?(?=:\s|:?$)", re.MULTILINE)
#: A process killed by SIGKILL, as exit statuses and signals are written (137 = 128 + 9; -9 as
#: Python's ``returncode``; a shell's job report "line 42:  8 Killed  python ...", or "Killed" as
#: the whole text; gcc's "Killed signal terminated program"). Unasked for, that is the kernel's
#: (or a container's) out-of-memory killer; the package's own watchdog names its kills "timeout"
#: before this is read, and where Docker records that the out-of-memory killer did not act
#: (``"OOMKilled": false``), it is not read.
_SIGKILL = re.compile(r"(?:exit\s*(?:code|status)|exitcode|exit_code|returncode|return\s*code"
                      r"|exited\s+with(?:\s+code)?)\W{0,3}(?:137|-9)(?!\d)|(?:killed\s+by\s+)?signal\W{0,3}(?:9(?!\d)|sigkill|killed)"
                      r"|\bSIGKILL\b|\bkilled\s+signal\s+terminated\b|\bline\s+\d+:\s+\d+\s+killed\b"
                      r"|\A\s*killed\s*\Z", re.IGNORECASE)
_NOT_OOM_KILLED = re.compile(r"OOMKilled\W{0,3}\s*[:=]\s*false", re.IGNORECASE)


def named_types(text: Optional[str]) -> Tuple[str, ...]:
    """The exception types ``text`` names as Python prints them, in order, then the Kubernetes
    reasons it names; ``"SIGKILL"`` if it says a process was killed by that signal.

    Example:
        >>> named_types("Traceback (most recent call last):\\n  ...\\n    except ConnectionError:\\n"
        ...             "torch.OutOfMemoryError: CUDA out of memory.")
        ('OutOfMemoryError',)
        >>> named_types("ray.exceptions.RayTaskError(ModuleNotFoundError): No module named 'vllm'")
        ('RayTaskError', 'ModuleNotFoundError')
        >>> named_types("Back-off pulling image: ImagePullBackOff"), named_types("failed (exitcode: -9)")
        (('ImagePullBackOff',), ('SIGKILL',))
    """
    text = text or ""
    found = [name for match in _TYPE_LINE.finditer(text) for name in match.groups() if name]
    found += _REASONS.findall(text)
    if _SIGKILL.search(text) and not _NOT_OOM_KILLED.search(text):
        found.append("SIGKILL")
    return tuple(found)


def exception_types(exc: BaseException) -> Tuple[str, ...]:
    """The names of ``exc``'s types along its chain (``__cause__``, else an unsuppressed
    ``__context__``), from the root cause, each followed by its base classes' names.

    Example:
        >>> try:
        ...     try:
        ...         raise ConnectionRefusedError("refused")
        ...     except OSError as e:
        ...         raise RuntimeError("the engine failed") from e
        ... except RuntimeError as e:
        ...     exception_types(e)[:3]
        ('ConnectionRefusedError', 'ConnectionError', 'OSError')
    """
    chain: List[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return tuple(t.__name__ for e in reversed(chain) for t in type(e).__mro__
                 if t not in (BaseException, Exception, object))


def type_class(names: Iterable[str], policy: "PenaltyPolicy", causes: bool) -> Optional[str]:
    """The class the type ``names`` name (:data:`TYPE_CLASSES`; SIGKILL: out of memory), the
    first in the chain that the policy has: among the causes' classes, or the others'."""
    for name in names:
        found = ErrorClass.OOM if name == "SIGKILL" else TYPE_CLASSES.get(name)
        if found is not None and (found in CAUSE_CLASSES) == causes and found in policy.error_classes:
            return found
    return None


#: The class of each stage a failure can name, when no cause is named in its words: a server that
#: never came up failed to deploy; one that failed under load, or a Ray worker that died, crashed.
STAGE_CLASSES = {"start": ErrorClass.DEPLOY, "ready": ErrorClass.DEPLOY, "load": ErrorClass.CRASH,
                 "worker": ErrorClass.CRASH, "node": ErrorClass.LOST}
#: Stages that say the trial never got past its start-up (a server that never became ready): how
#: far it got is nothing, whatever its clock says.
NEVER_STARTED = ("start", "ready")
#: Classes that name a stage or a symptom, not a cause: where the evidence says what failed,
#: these words do not override it.
NOT_CAUSES = (ErrorClass.DEPLOY, ErrorClass.TIMEOUT, ErrorClass.CONNECTION, ErrorClass.SLO)


def known_class(error_class: Optional[str], policy: "PenaltyPolicy", trial_id: str = "",
                warned: Optional[Set[str]] = None) -> Optional[str]:
    """``error_class`` if the package or ``policy`` knows it; else None (the rest decides), with
    a warning, once per class for each set ``warned`` (a searcher's)."""
    if error_class is None or error_class in ErrorClass.OWN or error_class in policy.error_classes:
        return error_class
    warned = set() if warned is None else warned
    if error_class not in warned:
        warned.add(error_class)
        logger.warning("Trial %s's error says its class is %r, which the policy does not know (%s); "
                       "it is graded by its text.", trial_id, error_class, ", ".join(policy.error_classes))
    return None


def classify(evidence: Evidence, policy: "PenaltyPolicy", trial_id: str = "",
             warned: Optional[Set[str]] = None) -> str:
    """The error class of a failure, from its evidence, in the order of the module's docstring
    (``warned``: the classes a warning was given for already, see :func:`known_class`)."""
    known = known_class(evidence.error_class, policy, trial_id, warned)
    if known is not None:
        return known
    names = (*evidence.types, *named_types(evidence.text))
    typed = type_class(names, policy, causes=True)
    if typed is not None:
        return typed
    if evidence.stage in STAGE_CLASSES:
        cause = first_match(evidence.text, (m for m in policy.modifiers if m.name not in NOT_CAUSES))
        if cause is not None:
            return cause.name
        staged = STAGE_CLASSES[evidence.stage]
        if staged in policy.error_classes or staged in ErrorClass.OWN:  # else a policy of yours without it: the words
            return staged
    symptom = type_class(names, policy, causes=False)
    if symptom is not None:
        # a symptom the words name before it in the policy's order: a connection that timed out ran out of time
        earlier = policy.modifiers[:policy.error_classes.index(symptom)] if symptom in SYMPTOMS else ()
        found = first_match(evidence.text, (m for m in earlier if m.name in SYMPTOMS))
        return found.name if found else symptom
    found = first_match(evidence.text, policy.modifiers)
    return found.name if found else ErrorClass.CRASH


# ----- the grade ----------------------------------------------------------------------------------


def grade(policy: "PenaltyPolicy", elapsed_s: float, timeout_s: float, error_class: str,
          progress: Optional[float] = None) -> Grade:
    """Grade one failure of ``error_class`` that ran ``elapsed_s`` of ``timeout_s``: the tier of
    its completion, scaled by that class's factor (1 for "crash" or a class the policy has no
    modifier for). Its completion is how far it got: ``progress`` (in [0, 1]) where the trial
    said it, else the clock's share of the timeout (the seed design's reading)."""
    elapsed = check_elapsed(elapsed_s)
    timeout = check_timeout("timeout_s", timeout_s)
    completion = min(elapsed / timeout, 1.0) if progress is None else min(max(progress, 0.0), 1.0)
    tier_magnitude = policy.tiers[0].magnitude
    for tier in policy.tiers:
        if completion >= tier.start:
            tier_magnitude = tier.magnitude
    factor = next((m.factor for m in policy.modifiers if m.name == error_class), 1.0)
    magnitude = tier_magnitude * factor
    return Grade(elapsed_s=elapsed, timeout_s=timeout, completion=completion, tier_magnitude=tier_magnitude,
                 error_class=error_class, magnitude=magnitude, rank=magnitude + (1.0 - completion) * policy.tie_width)


# ----- the decision -------------------------------------------------------------------------------


class Rules(NamedTuple):
    """What decides how a finished trial is told: the search's fixed settings."""

    objectives: Objectives
    policy: "PenaltyPolicy"
    slos: Tuple[SLO, ...]
    #: The per-trial timeout a failure's progress is measured against, unless it has its own.
    timeout_s: float
    #: What this searcher warned of already, once each: error classes a trial's error claimed that
    #: the policy does not know, and objectives a trial ended without reporting.
    warned: Optional[Set[str]] = None
    #: How many times a configuration runs again after a failure of a ``transient`` class.
    retries: int = 0
    #: The classes whose failures are the infrastructure's, not the configuration's.
    transient: Tuple[str, ...] = ()


class Decision(NamedTuple):
    """How one finished trial is told: the one value the ledger, the backends and the log read."""

    trial_id: str
    config: Optional[Dict[str, Any]]
    kind: Kind
    #: The objectives it reported (a success, an SLO miss, a trial failed by an SLO).
    values: Optional[Tuple[float, ...]] = None
    #: A success's own result, passed on to the inner searcher as it is.
    result: Optional[Dict[str, Any]] = None
    elapsed_s: Optional[float] = None
    #: How bad it was: set for an SLO miss and a failure, which are told below every success.
    severity: Optional[Severity] = None
    grade: Optional[Grade] = None  # a failure's
    verdict: Optional[Verdict] = None  # against the SLOs, when there are any
    error: Optional[str] = None  # a failure's error text
    #: A transient failure with tries left: not told; its configuration runs again.
    retry: bool = False


def decide(ending: Ending, rules: Rules) -> Decision:
    """Decide how ``ending`` is told, in the order of this module's docstring."""
    if ending.failed:
        evidence = Evidence(ending.error, ending.error_class, ending.stage, ending.error_types)
        return _failure(ending, rules, ending.error, classify(evidence, rules.policy, ending.trial_id, rules.warned))
    result = ending.result or {}
    values = rules.objectives.read(result)
    if isinstance(values, str):
        if not any(m in result for m in rules.objectives.metrics):
            named = ", ".join(rules.objectives.metrics)
            warned = set() if rules.warned is None else rules.warned
            if f"unreported {named}" not in warned:
                warned.add(f"unreported {named}")
                logger.warning("Trial %s ended without reporting %s: graded as a timeout (a trial stopped before "
                               "it could report). A trainable that returns without tune.report({%r: ...}) does "
                               "this; warned once.", ending.trial_id, named, rules.objectives.metrics[0])
            return _failure(ending, rules, f"stopped before reporting {named}; graded as a timeout",
                            ErrorClass.TIMEOUT)
        logger.warning("Trial %s: %s, which TPE cannot use; it is graded as a failure.", ending.trial_id, values)
        return _failure(ending, rules, values, ErrorClass.CRASH)
    verdict = judge(rules.slos, result) if rules.slos else None
    if verdict is not None and verdict.failure is not None:
        if any(v is None for v in verdict.values.values()):
            logger.warning("Trial %s: %s; it is graded as a failure.", ending.trial_id, verdict.failure)
        served = ending._replace(elapsed_s=ending.timeout_s or rules.timeout_s, progress=1.0)  # it served to the end
        return _failure(served, rules, verdict.failure, ErrorClass.SLO, verdict, values)
    if verdict is not None and not verdict.met:
        return Decision(ending.trial_id, ending.config, Kind.SLO_MISS, values, elapsed_s=ending.elapsed_s,
                        severity=verdict.severity, verdict=verdict)
    return Decision(ending.trial_id, ending.config, Kind.SUCCESS, values, result, ending.elapsed_s, verdict=verdict)


def _failure(ending: Ending, rules: Rules, error: Optional[str], error_class: str,
             verdict: Optional[Verdict] = None, values: Optional[Tuple[float, ...]] = None) -> Decision:
    progress = 0.0 if ending.stage in NEVER_STARTED else ending.progress
    graded = grade(rules.policy, ending.elapsed_s, ending.timeout_s or rules.timeout_s, error_class, progress)
    retry = error_class in rules.transient and ending.tries < rules.retries and not ending.final
    return Decision(ending.trial_id, ending.config, Kind.FAILURE, values, elapsed_s=graded.elapsed_s,
                    severity=Severity.of_failure(graded.magnitude, graded.rank, rules.policy.least_magnitude),
                    grade=graded, verdict=verdict, error=error, retry=retry)


def decide_past(key: str, past: PastTrial, rules: Rules) -> Decision:
    """How an earlier trial of a warm start (one objective) is told, under ``key``: as it was
    told then (a success, an SLO miss by its total miss, a failure by its class or text)."""
    if past.kind is not Kind.FAILURE:
        assert past.value is not None  # history reads a value for every success and SLO miss
        if past.kind is Kind.SUCCESS:
            return Decision(key, past.config, Kind.SUCCESS, (past.value,))
        verdict = Verdict(total_miss=past.slo_miss)
        return Decision(key, past.config, Kind.SLO_MISS, (past.value,), severity=verdict.severity, verdict=verdict)
    assert past.elapsed_s is not None  # and an elapsed time for every failure
    ending = Ending(key, past.config, past.elapsed_s, past.timeout_s, past.error, None, True, past.error_class,
                    progress=past.progress)
    return decide(ending, rules)
