"""How a served trial failed: its stage and error class as attributes, and the server's words.

A :class:`ServerError` carries what the trainable knows, as attributes that survive Ray's
pickling and that the searcher reads before any text (see
:func:`~ray_graded_penalty.trial_errors.error_class_of`): ``stage`` ("start", "ready" or
"load") and ``error_class``: "oom" when the server or its answers said an allocation failed,
else "deploy" for a server that never came up, "crash" for one that failed under load. Its
message is for people: the first line says what happened, in the server's own words where it
gave any, and the server's last log lines follow. How far the trial got against its timeout
grades the stage.

Allocation failures have many spellings ("failed to allocate buffer for kv cache",
"std::bad_alloc", "CUDA out of memory"); any of :data:`MEMORY_TEXTS` in the server's output or
its answers makes it "oom", whatever the stage.

Example:
    >>> error = failure("start", "the server exited (exit code 1)", ["load: failed to allocate buffer for kv cache"])
    >>> error.error_class, str(error).splitlines()[0][:69]
    ('oom', 'out of memory during start-up: load: failed to allocate buffer for kv')
    >>> error = failure("start", "the server exited (exit code 1)", ["error: invalid argument: --bogus"])
    >>> error.error_class, str(error).splitlines()[0]
    ('deploy', 'deploy failed: the server exited (exit code 1)')
"""

from __future__ import annotations

from typing import Iterable, Sequence

#: Texts (lower case) by which servers and their runtimes say an allocation failed.
MEMORY_TEXTS = (
    "out of memory", "insufficient memory", "failed to allocate", "bad_alloc",
    "cannot allocate memory", "outofmemoryerror", "memoryerror",
)

#: The stages a served trial goes through, how its failure's first line begins, and its class.
HEADLINES = {"start": "deploy failed", "ready": "deploy failed", "load": "the server failed under load"}
WHEN = {"start": "during start-up", "ready": "before it was ready", "load": "under load"}
CLASSES = {"start": "deploy", "ready": "deploy", "load": "crash"}


class ServerError(RuntimeError):
    """A served trial failed; ``stage`` is "start", "ready" or "load", ``error_class`` what
    killed it ("oom", "deploy" or "crash")."""

    def __init__(self, message: str, stage: str = "start", error_class: str = "crash") -> None:
        # One argument in ``args``, the rest in ``__dict__``: plain pickling keeps both, and
        # the subclass Ray 2.30 derives from it to wrap it (RayTaskError's) stays valid.
        super().__init__(message)
        self.stage = stage
        self.error_class = error_class


def memory_line(texts: Iterable[str]) -> str:
    """The first of ``texts`` that reports a failed allocation, or ""."""
    for text in texts:
        if any(m in text.lower() for m in MEMORY_TEXTS):
            return text.strip()
    return ""


def failure(stage: str, what: str, log_lines: Sequence[str], answers: Sequence[str] = ()) -> ServerError:
    """The error for a trial that failed at ``stage``: ``what`` happened; the server logged
    ``log_lines`` (its last lines) and answered ``answers`` (its error responses)."""
    if stage not in HEADLINES:
        raise ValueError(f"stage must be one of {sorted(HEADLINES)}, got {stage!r}")
    memory = memory_line(list(log_lines) + list(answers))
    if memory:
        first, error_class = f"out of memory {WHEN[stage]}: {memory[:300]}; {what}", "oom"
    else:
        first, error_class = f"{HEADLINES[stage]}: {what}", CLASSES[stage]
    tail = "\n".join(log_lines)
    return ServerError(f"{first}\nlast server log lines:\n{tail}" if tail else first, stage, error_class)
