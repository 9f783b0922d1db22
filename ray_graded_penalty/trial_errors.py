"""What killed a trial, as one line of text the policy's keywords can match.

The trainable's own exception is what names the cause ("CUDA out of memory"); Ray's wrapper
around it carries a traceback whose file paths could match keywords by accident, so the
wrapper is unwrapped first.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Optional

from ray import cloudpickle

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


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` of the innermost exception Ray kept (see :func:`innermost`)."""
    exc = innermost(exc)
    message = without_ray_guesses(str(exc).strip())
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def read_trial_error(trial: Any) -> str:
    """The error that ended ``trial`` (a ``ray.tune.experiment.Trial``), or "" if none is known."""
    path: Optional[str] = getattr(trial, "pickled_error_file", None)
    if path and os.path.exists(path):
        try:
            with open(path, "rb") as f:
                return describe_exception(cloudpickle.load(f))
        except Exception:  # an exception that cannot be unpickled here: use the text file
            logger.debug("Could not unpickle %s", path, exc_info=True)
    return read_error_file(getattr(trial, "error_file", None))


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
