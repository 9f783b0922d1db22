"""How a served trial failed, in words the penalty policy's keywords grade correctly.

The message is what the searcher reads (``ServerError: <message>``). Its first line names the
stage and what happened, in the server's own words where it gave any; the server's last log
lines follow. The default policy's keywords then grade it (see
:data:`ray_graded_penalty.DEFAULT_MODIFIERS`): a server that ran out of memory says "out of
memory" (x1.5), one that never came up says "deploy failed" (x1.2), and how far the trial got
against its timeout grades the stage.

Allocation failures have many spellings ("failed to allocate buffer for kv cache",
"std::bad_alloc", "CUDA out of memory"); any of :data:`MEMORY_TEXTS` in the server's output or
its answers makes the first line say "out of memory", whatever the stage.

Example:
    >>> error = failure("start", "the server exited (exit code 1)", ["load: failed to allocate buffer for kv cache"])
    >>> str(error).splitlines()[0]
    'out of memory during start-up: load: failed to allocate buffer for kv cache; the server exited (exit code 1)'
    >>> str(failure("start", "the server exited (exit code 1)", ["error: invalid argument: --bogus"])).splitlines()[0]
    'deploy failed: the server exited (exit code 1)'
"""

from __future__ import annotations

from typing import Iterable, Sequence

#: Texts (lower case) by which servers and their runtimes say an allocation failed.
MEMORY_TEXTS = (
    "out of memory", "insufficient memory", "failed to allocate", "bad_alloc",
    "cannot allocate memory", "outofmemoryerror", "memoryerror",
)

#: The stages a served trial goes through, and how its failure's first line begins.
HEADLINES = {"start": "deploy failed", "ready": "deploy failed", "load": "the server failed under load"}
WHEN = {"start": "during start-up", "ready": "before it was ready", "load": "under load"}


class ServerError(RuntimeError):
    """A served trial failed; ``stage`` is "start", "ready" or "load"."""

    def __init__(self, message: str, stage: str = "start") -> None:
        # One argument in ``args``, the stage in ``__dict__``: plain pickling keeps both, and
        # the subclass Ray 2.30 derives from it to wrap it (RayTaskError's) stays valid.
        super().__init__(message)
        self.stage = stage


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
        first = f"out of memory {WHEN[stage]}: {memory[:300]}; {what}"
    else:
        first = f"{HEADLINES[stage]}: {what}"
    tail = "\n".join(log_lines)
    return ServerError(f"{first}\nlast server log lines:\n{tail}" if tail else first, stage)
