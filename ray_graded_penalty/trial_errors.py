"""What killed a trial: its error text, and its error class where the error itself says it.

The trainable's own exception is what names the cause ("CUDA out of memory"); Ray's wrapper
around it carries a traceback whose file paths could match keywords by accident, so the
wrapper is unwrapped first. Before any text is read, the exception may say its class
(:func:`error_class_of`): an ``error_class`` attribute (a
:class:`~ray_graded_penalty.serving.ServerError`, or any exception of yours that sets one), or
Ray's own error for a dead worker.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, NamedTuple, Optional

from ray import cloudpickle, exceptions

from ray_graded_penalty.error_classes import CRASH

logger = logging.getLogger("ray_graded_penalty")


#: Ray Train's errors that only wrap what a training worker raised (Train V1 chains it as the
#: ``__cause__``; V2 keeps it in ``worker_failures`` or ``controller_failure``).
_TRAIN_WRAPPERS = ("TrainingFailedError", "WorkerGroupError", "ControllerError")


def innermost(exc: BaseException) -> BaseException:
    """What really failed under Ray's wrappers: a task's cause (``RayTaskError.cause``), and
    under Ray Train's errors the first failing worker's own exception."""
    for _ in range(16):  # wrappers nest a few levels deep; never loop on a cycle
        inner = getattr(exc, "cause", None)
        if not isinstance(inner, BaseException):
            failures = getattr(exc, "worker_failures", None)
            if isinstance(failures, dict) and failures:
                inner = failures[min(failures)]
        if not isinstance(inner, BaseException):
            inner = getattr(exc, "controller_failure", None)
        if not isinstance(inner, BaseException) and type(exc).__name__ in _TRAIN_WRAPPERS:
            inner = exc.__cause__
        if not isinstance(inner, BaseException) or inner is exc:
            return exc
        exc = inner
    return exc


#: Ray's words around a dead worker that say how Ray noticed or what *might* have killed it, not
#: what did: the raylet notices through a closed socket ("connection error code 2. End of
#: file.") and lists possible causes ("the OOM killer due to high memory usage", Ray 2.30 and
#: 2.60 wordings). Left in, the policy's keywords would grade every dead worker (``os._exit``,
#: a segfault, a SIGKILL) as out of memory. What Ray knows for sure stays: "Worker exit type",
#: and its own memory monitor's "killed due to the node running low on memory".
_RAY_GUESSES = (
    (re.compile(r"\s*(?:Some common causes include|There are some potential root causes).*", re.S), ""),
    (re.compile(r" with a connection error code \d+\.(?:\s*End of file\.)?"), "."),
)


def without_ray_guesses(message: str) -> str:
    """``message`` without Ray's list of possible causes of a worker's death (see above).

    Example:
        >>> without_ray_guesses("Worker unexpectedly exits with a connection error code 2. End of file. "
        ...                     "Some common causes include: (1) the OOM killer due to high memory usage")
        'Worker unexpectedly exits.'
    """
    for pattern, replacement in _RAY_GUESSES:
        message = pattern.sub(replacement, message)
    return message


class TrialError(NamedTuple):
    """What killed a trial, as the searcher is told it."""

    text: str
    #: The class the error itself says it is (:func:`error_class_of`); None: read the text.
    error_class: Optional[str] = None


#: Ray's errors for a worker, actor or node that died under a trial: Ray knows it died, not why.
_DEAD_WORKER = (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.NodeDiedError,
                exceptions.LocalRayletDiedError)
#: How Ray's memory monitor says it killed a worker (Ray 2.30 to 2.60).
_MEMORY_MONITOR = "running low on memory"


def error_class_of(exc: BaseException) -> Optional[str]:
    """The error class ``exc`` (the innermost exception, see :func:`innermost`) says it is.

    In order: its own ``error_class`` attribute, if a string; Ray's memory monitor's kill
    (``ray.exceptions.OutOfMemoryError``, or a dead actor it killed): "oom"; any other dead
    worker, actor or node: "crash". None for everything else, and for an actor that died of an
    error in its creation task (that error's text says what it was).

    Example:
        >>> class XidError(RuntimeError):
        ...     error_class = "xid"
        >>> error_class_of(XidError("GPU has fallen off the bus")), error_class_of(KeyError("boom"))
        ('xid', None)
    """
    claimed = getattr(exc, "error_class", None)
    if isinstance(claimed, str) and claimed:
        return claimed
    if isinstance(exc, exceptions.OutOfMemoryError):
        return "oom"
    if isinstance(exc, exceptions.RayActorError) and exc.actor_init_failed:
        return None
    if isinstance(exc, _DEAD_WORKER):
        return "oom" if _MEMORY_MONITOR in str(exc) else CRASH
    return None


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` of the innermost exception Ray kept (see :func:`innermost`)."""
    exc = innermost(exc)
    message = without_ray_guesses(str(exc).strip())
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def read_exception(exc: BaseException) -> TrialError:
    """The text and class of the exception that ended a trial (the innermost one Ray kept)."""
    return TrialError(describe_exception(exc), error_class_of(innermost(exc)))


def read_trial_error(trial: Any) -> TrialError:
    """What ended ``trial`` (a ``ray.tune.experiment.Trial``); an empty text if nothing is known."""
    path: Optional[str] = getattr(trial, "pickled_error_file", None)
    if path and os.path.exists(path):
        try:
            with open(path, "rb") as f:
                return read_exception(cloudpickle.load(f))
        except Exception:  # an exception that cannot be unpickled here: use the text file
            logger.debug("Could not unpickle %s", path, exc_info=True)
    return TrialError(read_error_file(getattr(trial, "error_file", None)))


def read_error_file(path: Optional[str]) -> str:
    """The last failure recorded in a trial's ``error.txt``, or "" if there is none."""
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        last = f.read().rsplit("Failure # ", 1)[-1]
    return without_ray_guesses("\n".join(last.splitlines()[1:]).strip())


def first_line(text: Optional[str], default: str = "") -> str:
    """The first non-blank line of ``text``, or ``default``."""
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else default
