"""How a served trial failed: its evidence as attributes, and the server's own words.

A :class:`ServerError` carries what the trainable knows, as attributes that survive Ray's
pickling: ``stage`` ("start", "ready" or "load"), the server's ``exit_code`` (negative: the
signal that ended it) and its last ``log_lines``. It decides no error class itself: the
searcher's one classifier (:func:`~ray_graded_penalty._core.judge.classify`) reads the stage and
the words, so a cause the server names in its own words (an allocation that failed: "failed to
allocate buffer for kv cache", "std::bad_alloc", "CUDA out of memory", in the policy's words)
is out of memory at any stage, and otherwise a server that never came up failed to deploy and
one that failed under load crashed. Its message is for people: the first line says what
happened, the server's last log lines and its error answers follow. How far the trial got
against its timeout grades the stage.

Example:
    >>> error = failure("start", "the server exited (exit code 1)", ["load: failed to allocate buffer for kv cache"],
    ...                 exit_code=1)
    >>> error.stage, error.exit_code, error.error_class, str(error).splitlines()[0]
    ('start', 1, None, 'deploy failed: the server exited (exit code 1)')
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Tuple

from ray_graded_penalty._core.legacy import gone_names

#: The stages a served trial goes through, and how its failure's first line begins.
HEADLINES = {"start": "deploy failed", "ready": "deploy failed", "load": "the server failed under load"}
#: How many of the server's distinct error answers the message quotes.
ANSWERS_QUOTED = 5
#: A log line's level, as servers print it near the line's start: vLLM's ``INFO 06-26 16:55:22
#: [file.py:12]`` and ``(EngineCore pid=258) INFO gpu_worker.py:440``, uvicorn's ``INFO:``,
#: Python logging's ``... - INFO - ...``, TGI's ``... INFO text_generation_launcher``.
_LEVEL = re.compile(r"\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b")
#: The levels whose lines say, by the server's own account, that nothing went wrong.
_INFORMATIONAL = ("DEBUG", "INFO")
#: An error stated in a log line, as Python and C++ servers print one: ``RuntimeError: ...``,
#: ``torch.OutOfMemoryError: ...``, ``CUDA error: ...``, ``error: ...``.
_STATEMENT = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*\.)*\w*(?:Error|Exception|error): \S")
#: How many of the errors a server logged before its last lines the message quotes, and how much of each.
ERRORS_QUOTED, ERROR_CHARS = 10, 1000


def informational(line: str) -> bool:
    """Whether ``line`` is one the server logged at an informational level (its first level word,
    in its first 60 characters, is INFO or DEBUG). Such lines name memory as a matter of course
    (vLLM's ``Available KV cache memory: 0.56 GiB`` at every start): quoted, the classifier would
    read any failure after them as out of memory.

    Example:
        >>> informational("(EngineCore pid=258) INFO gpu_worker.py:440 Available KV cache memory: 0.56 GiB")
        True
        >>> informational("(EngineCore pid=258) ERROR core.py:412] No available memory for the cache blocks")
        False
        >>> informational("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
        False
    """
    level = _LEVEL.search(line[:60])
    return level is not None and level.group(1) in _INFORMATIONAL


def error_statements(lines: Iterable[str], limit: int = ERRORS_QUOTED) -> List[str]:
    """The last ``limit`` distinct errors stated in ``lines`` (a server's whole log), in the order
    last stated: lines that state one (:data:`_STATEMENT`), not logged at a level below ERROR.
    The cause of a failure is often far above its last lines: vLLM's engine states it ("CUDA out
    of memory ...") and its API server's own traceback of 30 lines follows, ending in "See root
    cause above". Distinct by what is stated: a line each process logged once counts once.

    Example:
        >>> error_statements(["(Engine pid=1) ERROR RuntimeError: CUDA out of memory",
        ...                   '(API pid=2)   File "serve.py", line 57, in cmd',
        ...                   "(API pid=2) RuntimeError: Engine core failed",
        ...                   "WARNING 06-26 ImportError: no flash attention"])
        ['(Engine pid=1) ERROR RuntimeError: CUDA out of memory', '(API pid=2) RuntimeError: Engine core failed']
    """
    found: Dict[str, str] = {}
    for line in lines:
        stated = _STATEMENT.search(line)
        if stated is None:
            continue
        level = _LEVEL.search(line[:60])
        if level is not None and level.group(1) in _INFORMATIONAL + ("WARNING", "WARN"):
            continue
        key = line[stated.start():]
        found.pop(key, None)  # kept in the order last stated
        found[key] = line[:ERROR_CHARS]
    return list(found.values())[-limit:]


class ServerError(RuntimeError):
    """A served trial failed.

    Attributes:
        stage: "start" (the server exited before it was ready), "ready" (it was not ready in
            time) or "load" (it failed under load).
        exit_code: The server's exit status when it had exited (negative: the signal), else None.
        log_lines: The server's last log lines.
        errors: The errors it stated before them (:func:`error_statements`).
        error_class: None: the searcher's classifier decides from the rest (a class given
            here is taken as the exception's own claim).
    """

    def __init__(self, message: str, stage: str = "start", error_class: Optional[str] = None,
                 exit_code: Optional[int] = None, log_lines: Sequence[str] = (), errors: Sequence[str] = ()) -> None:
        # One argument in ``args``, the rest in ``__dict__``: plain pickling keeps both, and
        # the subclass Ray 2.30 derives from it to wrap it (RayTaskError's) stays valid.
        super().__init__(message)
        self.stage = stage
        self.error_class = error_class
        self.exit_code = exit_code
        self.log_lines: Tuple[str, ...] = tuple(log_lines)
        self.errors: Tuple[str, ...] = tuple(errors)


def failure(stage: str, what: str, log_lines: Sequence[str], answers: Sequence[str] = (),
            exit_code: Optional[int] = None, errors: Sequence[str] = ()) -> ServerError:
    """The error for a trial that failed at ``stage``: ``what`` happened; the server logged
    ``log_lines`` (its last lines), stated ``errors`` in its whole log (:func:`error_statements`),
    answered ``answers`` (its error responses) and exited with ``exit_code`` (None: it had not).
    The message quotes the errors not among the last lines, then the log lines but their
    informational ones (:func:`informational`), which the error's ``log_lines`` keep."""
    if stage not in HEADLINES:
        raise ValueError(f"stage must be one of {sorted(HEADLINES)}, got {stage!r}")
    message = f"{HEADLINES[stage]}: {what}"
    quoted_lines: List[str] = [line for line in log_lines if not informational(line)]
    earlier = [line for line in errors if line not in log_lines]
    if earlier:
        message += "\nerrors the server logged before its last lines:\n" + "\n".join(earlier)
    if quoted_lines:
        message += "\nlast server log lines:\n" + "\n".join(quoted_lines)
    if len(quoted_lines) < len(log_lines):
        message += f"\n({len(log_lines) - len(quoted_lines)} informational log lines left out: see log_lines)"
    quoted = list(dict.fromkeys(a.strip()[:300] for a in answers if a.strip()))[:ANSWERS_QUOTED]
    if quoted:
        message += "\nthe server answered:\n" + "\n".join(quoted)
    return ServerError(message, stage, exit_code=exit_code, log_lines=log_lines, errors=earlier)


if not TYPE_CHECKING:  # unseen by type checkers, which would take any name of the module then
    __getattr__ = gone_names(__name__)
