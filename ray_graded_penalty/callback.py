"""What Ray's loop tells the searcher: the ``tune.Callback``, the events it reports, and Ray's errors read.

Ray tells a searcher only that a trial errored, never how or when; a callback sees the
``Trial`` with its error. :class:`GradedPenaltyCallback` reports what it sees as
:class:`TrialEvents` (the small interface both sides name, which the searcher implements), and
reads what killed a trial from Ray's errors into an :class:`Evidence` (:func:`read_trial_error`),
what ``trial_errored`` hears: ``from ray_graded_penalty.callback import Evidence``. Ray calls the
searcher first and this callback right after, so the searcher waits for it; if the order ever
flipped, the callback's details arrive first and the searcher tells the failure as soon as Ray
reports it. Either way it is told once.

The trainable's own exception is what names the cause ("CUDA out of memory"); Ray's wrapper
around it carries a traceback whose file paths could match keywords by accident, so the
wrapper is unwrapped first (:func:`~ray_graded_penalty._core.ray_internals.innermost`).

A trial the searcher has told already that Tune starts again (after ``Tuner.restore``, a
trial whose actor had died before the experiment's state was saved) is ended at its start,
without a retry: it would spend its GPU on a result nobody reads.

Example:
    >>> class Printer:
    ...     def callback_attached(self): print("attached")
    ...     def stops_at_iteration(self, iterations): print("stops at", iterations)
    ...     def trial_started(self, trial_id): print("started", trial_id)
    ...     def trial_resumed(self, trial_id): print("resumed", trial_id)
    ...     def trial_timed_out(self, trial_id, stage=None): print("timed out", trial_id, stage)
    ...     def trial_errored(self, trial_id, evidence): print("errored", trial_id, evidence.text)
    ...     def trial_stopped(self, trial_id): print("stopped", trial_id)
    ...     def search_ended(self): print("no more trials")
    ...     def experiment_ended(self): print("ended")
    ...     def already_told(self, trial_id): return False
    >>> isinstance(Printer(), TrialEvents)
    True
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Set, runtime_checkable

from ray import cloudpickle, exceptions
from ray.tune import Callback

from ray_graded_penalty._core.checks import REPEATER_REFUSED
from ray_graded_penalty._core.judge import STAGE_CLASSES, exception_types, named_types
from ray_graded_penalty._core.judge import Evidence as Evidence  # public here: what trial_errored hears
from ray_graded_penalty._core.outcomes import ErrorClass
from ray_graded_penalty._core.ray_internals import (
    forget_stage,
    from_a_repeater,
    innermost,
    is_train_wrapper,
    published_stage,
    train_preempted,
)
from ray_graded_penalty._core.trials import stop_iterations
from ray_graded_penalty.timeout import TrialReaper, TrialTimeout

logger = logging.getLogger("ray_graded_penalty")

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


# ----- the events -----------------------------------------------------------------------------------

@runtime_checkable
class TrialEvents(Protocol):
    """Receives what a callback sees of trials, in the order Ray's loop sees it.

    Optional (an implementation without it is still one): ``trial_retried(trial_id)``, Tune runs
    the trial again after a failure (``FailureConfig(max_failures=...)``): the attempt that
    failed counts no more, and until the next one starts the trial has not run (an attempt that
    fails before it starts failed before it ran)."""

    def callback_attached(self) -> None:
        """The callback is part of the run: starts and errors will be reported."""

    def stops_at_iteration(self, iterations: int) -> None:
        """Tune stops each trial at this ``training_iteration`` (its ``stop``): how far a trial
        got is the share of it that it reached."""

    def trial_started(self, trial_id: str) -> None:
        """The trial started RUNNING (again, for a retry: its last attempt is what counts)."""

    def trial_resumed(self, trial_id: str) -> None:
        """The trial runs again after a pause (a scheduler's: HyperBand, PBT): how far it got
        stays, and its clock counts what it ran before."""

    def trial_timed_out(self, trial_id: str, stage: Optional[str] = None) -> None:
        """The watchdog is about to end the trial: it ran past its timeout, in ``stage`` where the
        trial published one (the serving trainable's "start" before its server was ready)."""

    def trial_errored(self, trial_id: str, evidence: Evidence) -> None:
        """The trial ended in an error (after its last retry); ``evidence`` is what killed it:
        its text, and its class or stage where the error itself says them."""

    def trial_stopped(self, trial_id: str) -> None:
        """Tune ended the trial itself with no result or error for its searcher: its time budget
        or ``fail_fast`` stopped the run (``TuneController`` stops every trial then, silently),
        or it could not start the trial's actor."""

    def search_ended(self) -> None:
        """Tune will start no more trials (its ``num_samples`` are all suggested, or it stopped
        the search): what waits for a trial to come (a retry) must be told now, before Tune's
        last save of the experiment."""

    def experiment_ended(self) -> None:
        """The run is over: whatever is still waiting must be told now."""

    def already_told(self, trial_id: str) -> bool:
        """Whether the trial was told already (Tune starts it again only after a restore)."""


# ----- the callback ---------------------------------------------------------------------------------


class GradedPenaltyCallback(Callback):
    """Reports when trials really start running and what ended them; enforces the timeout.

    Reach it as ``searcher.callback`` and pass it to ``tune.RunConfig(callbacks=[...])``.

    Args:
        events: Who hears of it: a :class:`TrialEvents`, the searcher.
        timeout_s: End trials that run longer than this many seconds (a
            :class:`~ray_graded_penalty.TrialTimeout`); None: no watchdog.
    """

    def __init__(self, events: TrialEvents, timeout_s: Optional[float]) -> None:
        if not isinstance(events, TrialEvents):
            raise TypeError(f"events must implement TrialEvents, got {type(events).__name__}")
        self._events = events
        self._reaper: TrialReaper = (
            TrialReaper() if timeout_s is None else TrialTimeout(timeout_s, on_timeout=self._timed_out)
        )
        self._samples: Optional[int] = None  # how many trials Tune starts in all (its total num_samples)
        self._heard: Set[str] = set()  # trials whose end was reported: with Tune's event, or as stopped
        self._before: Optional[Set[str]] = None  # trials that had ended when this run began (a restore's)
        self._started: Set[str] = set()  # trials started in this run, or before it was restored
        self._restored: Set[str] = set()  # those started before the restore, until setup takes them
        self._recovering: Set[str] = set()  # trials Tune starts again after a failure (max_failures)
        self._search_over = False

    def _timed_out(self, trial_id: str) -> None:
        # A stage only where there is one: TrialEvents written for 0.5 take the trial id alone.
        stage = published_stage(trial_id)
        if stage is None:
            self._events.trial_timed_out(trial_id)
        else:
            self._events.trial_timed_out(trial_id, stage=stage)

    def __reduce__(self) -> Any:  # as its arguments: what it keeps of a run does not outlive the driver
        return (GradedPenaltyCallback, (self._events, None if self.timeout is None else self.timeout.timeout_s))

    @property
    def timeout(self) -> Optional[TrialTimeout]:
        """The watchdog, or None when the timeout is not enforced."""
        return self._reaper if isinstance(self._reaper, TrialTimeout) else None

    def setup(self, stop: Optional[Any] = None, num_samples: Optional[int] = None,
              total_num_samples: Optional[int] = None, **info: Any) -> None:
        self._reaper.setup()
        self._samples, self._heard, self._before, self._search_over = total_num_samples, set(), None, False
        # Tune restores the callback's state before its setup: a trial started before the restore
        # and started again resumes (how far it got stays), as after a scheduler's pause.
        self._started, self._recovering, self._restored = self._restored, set(), set()
        self._events.callback_attached()
        iterations = stop_iterations(stop)
        if iterations is not None:
            self._events.stops_at_iteration(iterations)

    def get_state(self) -> Optional[Dict[str, Any]]:
        return {**(self._reaper.get_state() or {}), "started": sorted(self._started)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._reaper.set_state(state)
        self._restored = set(state.get("started", []))  # saved by 0.6 on; before, none

    def on_step_begin(self, iteration: int, trials: List["Trial"], **info: Any) -> None:
        if self._before is None:
            self._before = {t.trial_id for t in trials if t.status in _ENDED}
        self._reaper.on_step_begin(iteration, trials, **info)

    def on_trial_start(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        if from_a_repeater(trial):  # it cannot see a Repeater around it before: Tune starts the first trial
            raise ValueError(f"GradedPenaltySearcher does not run under a Repeater (search_alg=Repeater(...)). "
                             f"{REPEATER_REFUSED}")
        self._reaper.on_trial_start(iteration, trials, trial, **info)
        if self._events.already_told(trial.trial_id):
            logger.warning("Trial %s was told before the run was restored; Tune started it again: "
                           "ending it, without a retry.", trial.trial_id)
            self._reaper.end(trial, retry=False)
            return
        # Started before in this run and not after a failure: a scheduler had paused it.
        if trial.trial_id in self._started and trial.trial_id not in self._recovering:
            self._events.trial_resumed(trial.trial_id)
        else:
            self._events.trial_started(trial.trial_id)
        self._started.add(trial.trial_id)
        self._recovering.discard(trial.trial_id)

    def on_trial_recover(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._reaper.on_trial_recover(iteration, trials, trial, **info)
        self._recovering.add(trial.trial_id)
        forget_stage(trial.trial_id)  # the retry's watchdog reads the retry's stage, not the last attempt's
        retried = getattr(self._events, "trial_retried", None)  # optional: see TrialEvents
        if retried is not None:
            retried(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._reaper.on_trial_complete(iteration, trials, trial, **info)
        self._heard.add(trial.trial_id)
        forget_stage(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._reaper.on_trial_error(iteration, trials, trial, **info)
        self._heard.add(trial.trial_id)
        self._events.trial_errored(trial.trial_id, read_trial_error(trial))
        forget_stage(trial.trial_id)

    def on_step_end(self, iteration: int, trials: List["Trial"], **info: Any) -> None:
        # Tune ends a trial without an event when it stops the whole run (its time budget,
        # fail_fast: TuneController._stop_experiment_if_needed, TERMINATED), after which it
        # suggests no more; when it cannot start its actor (ERROR); and, on a restore with
        # resume_unfinished=False, before the first step. Trials that had ended when the run
        # began are reported too (told ones are no news to the searcher), but say nothing of
        # the search's end.
        stopped = [t for t in trials if t.status in _ENDED and t.trial_id not in self._heard]
        before = self._before or set()
        for trial in stopped:
            self._heard.add(trial.trial_id)
            if trial.trial_id not in before:  # ended in this run: what its actors reserved goes too
                self._reaper.on_trial_complete(iteration, trials, trial)
                forget_stage(trial.trial_id)
            self._events.trial_stopped(trial.trial_id)
        run_stopped = any(t.status == "TERMINATED" and t.trial_id not in before for t in stopped)
        if not self._search_over and (run_stopped or (self._samples is not None and len(trials) >= self._samples)):
            self._search_over = True
            self._events.search_ended()

    def on_experiment_end(self, trials: List["Trial"], **info: Any) -> None:
        self._reaper.on_experiment_end(trials, **info)
        self._events.experiment_ended()


#: Tune's statuses of a trial that has ended.
_ENDED = ("TERMINATED", "ERROR")


# ----- Ray's errors ---------------------------------------------------------------------------------

#: Ray's words around a dead worker that say how Ray noticed or what *might* have killed it, not
#: what did: the raylet notices through a closed socket ("connection error code 2. End of
#: file.") and lists possible causes ("the OOM killer due to high memory usage", Ray 2.30 and
#: 2.60 wordings). Left in, the policy's keywords would grade every dead worker (``os._exit``,
#: a segfault, a SIGKILL) as out of memory. What Ray knows for sure stays: "Worker exit type",
#: and its own memory monitor's "killed due to the node running low on memory". Ray Train V1's
#: ``TrainingFailedError`` says the same of any failure: "(assuming that the error is not caused
#: by your own application logic, but rather an error such as OOM)" (Ray 2.30 to 2.60).
_RAY_GUESSES = (
    (re.compile(r"\s*(?:Some common causes include|There are some potential root causes).*", re.S), ""),
    (re.compile(r" with a connection error code \d+\.(?:\s*End of file\.)?"), "."),
    (re.compile(r"\s*\(assuming that the error is not caused by your own application logic, but rather an "
                r"error such as OOM\)"), ""),
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


#: Ray's errors for a worker, actor or node that died under a trial: Ray knows it died, not why.
_DEAD_WORKER = (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.NodeDiedError,
                exceptions.LocalRayletDiedError)


#: Ray's words for a node lost under an actor or task (its GCS and raylet wordings, 2.30 to 2.60).
_NODE_LOST = re.compile(r"its node has died|node it was running on is dead|node was preempted", re.IGNORECASE)


def lost_node(exc: BaseException, text: str) -> bool:
    """Whether Ray says ``exc`` ended a trial because its node was lost (it died or was preempted,
    or the actor became unreachable; a Ray Train run whose node was preempted): the
    infrastructure's failure (class "lost")."""
    if isinstance(exc, (exceptions.NodeDiedError, exceptions.ActorUnavailableError)) or train_preempted(exc):
        return True
    return isinstance(exc, exceptions.RayActorError) and (exc.preempted or bool(_NODE_LOST.search(text)))


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` of the innermost exception Ray kept (see
    :func:`~ray_graded_penalty._core.ray_internals.innermost`)."""
    exc = innermost(exc)
    message = without_ray_guesses(str(exc).strip())
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def read_exception(exc: BaseException) -> Evidence:
    """The evidence of the exception that ended a trial: the text of the innermost one Ray kept
    (:func:`describe_exception`), and what that exception says of its own failure besides: a
    class it claims (its ``error_class`` attribute, if a string), Ray's memory monitor's kill
    (``ray.exceptions.OutOfMemoryError``: "oom"), a stage (a
    :class:`~ray_graded_penalty.serving.ServerError`'s ``stage``; "node" for a node Ray lost
    under it (:func:`lost_node`); "worker" for any other dead Ray worker, actor or node, whose
    text Ray's own words say how it died in). The classifier
    (:func:`~ray_graded_penalty._core.judge.classify`) decides from it.

    Example:
        >>> class XidError(RuntimeError):
        ...     error_class = "xid"
        >>> read_exception(XidError("GPU has fallen off the bus")).error_class
        'xid'
        >>> read_exception(KeyError("boom")).error_class is None
        True
    """
    exc = innermost(exc)
    text, types = describe_exception(exc), exception_types(exc)
    claimed = getattr(exc, "error_class", None)
    if isinstance(claimed, str) and claimed:
        return Evidence(text, claimed, types=types)
    if isinstance(exc, exceptions.OutOfMemoryError):
        return Evidence(text, ErrorClass.OOM, types=types)
    if isinstance(exc, exceptions.RayActorError) and exc.actor_init_failed:
        return Evidence(text, types=types)  # an error in its creation task: that error's text says what it was
    if lost_node(exc, text):
        return Evidence(text, stage="node", types=types)
    if isinstance(exc, _DEAD_WORKER):
        return Evidence(text, stage="worker", types=types)
    stage = getattr(exc, "stage", None)
    return Evidence(text, stage=stage if stage in STAGE_CLASSES else None, types=types)


def read_trial_error(trial: Any) -> Evidence:
    """What ended ``trial`` (a ``ray.tune.experiment.Trial``); an empty text if nothing is known.

    The exception Ray pickled is read first. Pickling keeps an exception's type but not its
    chain (``__cause__``, ``__context__``), which the traceback in the trial's ``error.txt``
    prints: the types named there are added to the exception's own."""
    return read_recorded_error(read_error_file(getattr(trial, "error_file", None)),
                               getattr(trial, "pickled_error_file", None))


def read_recorded_error(text: str, path: Optional[str]) -> Evidence:
    """What Ray recorded of a trial's last failure: the ``text`` of its ``error.txt``
    (:func:`read_error_file`) and the pickled exception at ``path`` (see :func:`read_trial_error`);
    also without a Ray session."""
    if path and os.path.exists(path):
        try:
            with open(path, "rb") as f:
                exc = cloudpickle.load(f)
            evidence = read_exception(exc)
            cause = lost_cause(exc, text)
            if cause:  # what Ray Train's wrapper was raised from, lost with its chain
                evidence = evidence._replace(text=f"{evidence.text}\ncaused by {cause}")
            return evidence._replace(types=evidence.types + named_types(text))
        except Exception:  # an exception that cannot be unpickled here: use the text file
            logger.debug("Could not unpickle %s", path, exc_info=True)
    return Evidence(text)


#: How Python prints a chain of exceptions: each cause, then this, then what it caused.
_CHAINED = re.compile(r"\n\s*(?:The above exception was the direct cause of the following exception:"
                      r"|During handling of the above exception, another exception occurred:)\s*\n")


def lost_cause(exc: BaseException, text: str) -> Optional[str]:
    """When what failed is one of Ray Train's wrappers with nothing under it (V1's
    ``TrainingFailedError`` raised from the worker's error: Ray pickled it, and pickling drops
    ``__cause__``), the first cause the trial's ``error.txt`` (``text``) prints: the lines after
    its last frame (its exception's line; a message of several lines, all of them); else None.

    Example:
        >>> lost_cause(type("TrainingFailedError", (RuntimeError,), {})("The Ray Train run failed."),
        ...            "Traceback (most recent call last):\\n  File 'train.py', line 3\\n"
        ...            "RuntimeError: CUDA out of memory\\n\\nThe above exception was the direct cause "
        ...            "of the following exception:\\n\\nTrainingFailedError: The Ray Train run failed.")
        'RuntimeError: CUDA out of memory'
    """
    if not is_train_wrapper(innermost(exc)):
        return None
    blocks = _CHAINED.split(text)
    if len(blocks) < 2:
        return None
    said: List[str] = []  # the lines after the cause's last frame (Ray's own headers of a task's
    for line in reversed(blocks[0].rstrip().splitlines()):  # error come before its frames)
        if not line.strip() or line.startswith((" ", "\t")):
            break
        said.insert(0, line)
    return "\n".join(said) or None


def read_error_file(path: Optional[str]) -> str:
    """The last failure recorded in a trial's ``error.txt``, or "" if there is none."""
    return last_failure(read_error_text(path))


def read_error_text(path: Optional[str]) -> str:
    """The whole text of a trial's ``error.txt`` (every failure Ray recorded), or "" if there is none."""
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


def last_failure(recorded: str) -> str:
    """The last failure of the text of an ``error.txt``: Ray writes a "Failure # N (occurred at
    ...)" line before each."""
    last = recorded.rsplit("Failure # ", 1)[-1]
    return without_ray_guesses("\n".join(last.splitlines()[1:]).strip())
