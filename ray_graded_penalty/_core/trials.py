"""What is known of each unfinished trial, until it can be told: the trial bookkeeping.

Ray tells a searcher that a trial ended in an error before its callback says what the error
was, so an errored trial waits for both. A :class:`TrialBook` keeps one :class:`TrialRecord`
per trial the searcher suggested, takes every event about it, and hands back an
:class:`Ending` once the trial can be told (the record is then gone):

=====================  ==========================================  =========================
event                  what the record learns                      the trial can be told
=====================  ==========================================  =========================
``suggested``          its config; the time                        no
``reported``           its ``time_total_s``; how far it got        no
``started``            a start (a retry starts over: clean slate)  no
``resumed``            a start after a pause (progress stays)      no
``timed_out``          elapsed = the timeout, class "timeout"      no
``completed`` (ok)     its end and result                          yes, with its result
``completed`` (error)  ``errored``                                 if ``details_known``, or no
                                                                   callback in Tune's loop
``errored``            its end, error text and class: known        if ``errored``
``failure_given``      elapsed, error, class, timeout as given     yes
``waiting``            (errored trials whose details never came)   yes, with what is known
``stopped``            Tune ended it with no result or error       never: the record goes
                       (its time budget, ``fail_fast``)            (a retry's try: queued again;
                                                                   errored: with what is known;
                                                                   timed out: as a timeout)
=====================  ==========================================  =========================

Pure logic, no Ray import. Times are driver wall-clock seconds (``time.time()``): trials run
on other nodes whose clocks are not the driver's, and a record must survive a driver restart.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple

from ray_graded_penalty._core.checks import real_number
from ray_graded_penalty._core.outcomes import ErrorClass, config_key

logger = logging.getLogger("ray_graded_penalty")

_NO_CALLBACK_HINT = (
    "add its callback to the run so failures are graded from when they really started and "
    "what killed them: tune.RunConfig(callbacks=[searcher.callback])"
)


def timeout_error_text(timeout_s: float) -> str:
    """The error text of a trial ended by the watchdog (its class is "timeout")."""
    return f"TimeoutError: trial timed out after trial_timeout_s={timeout_s:g} seconds"


class Ending(NamedTuple):
    """What is known of a trial that ended, when it is told."""

    trial_id: str
    config: Optional[Dict[str, Any]]
    elapsed_s: float  # seconds of real progress
    timeout_s: Optional[float]  # its own timeout, if it had one (``record_failure``)
    error: Optional[str]
    result: Optional[Dict[str, Any]]  # what it reported last, if it ended without an error
    failed: bool = False  # Ray (or ``record_failure``) said it failed
    error_class: Optional[str] = None  # what killed it, when known without reading ``error``
    stage: Optional[str] = None  # what failed, when the error says it (a served stage, a dead worker)
    progress: Optional[float] = None  # how far it got, in [0, 1], when it reported it (see TrialBook.reported)
    error_types: Tuple[str, ...] = ()  # its exception's types, where the exception was at hand (Evidence.types)
    inner_id: Optional[str] = None  # the id the inner searcher knows it by, when not trial_id
    followers: Tuple[str, ...] = ()  # suggestions of the same configuration waiting for its outcome (inner ids)
    tries: int = 0  # earlier tries of its configuration that failed transiently and were retried
    final: bool = False  # no try can follow it (the experiment ended before a retry ran)


@dataclass
class TrialRecord:
    """Bookkeeping for one trial between its suggestion and the moment it is told."""

    config: Optional[Dict[str, Any]] = None
    suggested_at: Optional[float] = None
    started_at: Optional[float] = None  # when it last started RUNNING (set by the callback)
    ended_at: Optional[float] = None
    time_total_s: Optional[float] = None  # from its last reported result
    errored: bool = False  # Ray said the trial ended in an error
    error: Optional[str] = None
    elapsed_s: Optional[float] = None  # given explicitly (record_failure, the watchdog)
    timeout_s: Optional[float] = None
    details_known: bool = False  # error text came from the callback or record_failure
    timed_out: bool = False  # stopped by this package's watchdog
    error_class: Optional[str] = None  # set when known without its text (the watchdog, the error)
    error_types: Tuple[str, ...] = ()  # its exception's types (Evidence.types)
    #: The id the inner searcher suggested it under, when not its own: it was asked again
    #: after suggesting a configuration that had run already (see ``runs_per_config``).
    inner_id: Optional[str] = None
    #: Suggestions of the same configuration made while it ran (the inner searcher's ids for
    #: them): not run, they are told its outcome when it is told.
    followers: List[str] = field(default_factory=list)
    stage: Optional[str] = None  # what failed, when the error says it (see judge.Evidence)
    progress: Optional[float] = None  # the furthest it reported, in [0, 1] (see TrialBook.reported)
    #: Its objectives and SLO metrics in its last result whose objectives were finite: told when
    #: Tune completes it with no result (a scheduler stopped it while paused).
    last_result: Optional[Dict[str, Any]] = None
    #: Earlier tries of its configuration that failed transiently and were retried (see ``retry``).
    tries: int = 0
    #: A transient failure's record waiting for its retry to be suggested (see ``retry``), kept
    #: under ``<trial_id>/retry``: its configuration counts as running.
    queued: bool = False
    #: The trial its retry runs as, once suggested (see ``take_retry``): the record stays until
    #: that trial is told, and is queued again if Tune stops it with no outcome.
    taken_by: Optional[str] = None

    def elapsed(self, now: float, starts_reported: bool = False) -> float:
        """Seconds of real progress, from the best source available.

        In order: an explicit ``elapsed_s``; driver time from the start of RUNNING (time spent
        PENDING, waiting for a GPU, is no progress); none at all if starts are reported but
        this trial never started (it failed before it ran); the trial's own ``time_total_s``;
        driver time since the suggestion (an upper bound, when nothing reports starts).
        """
        if self.elapsed_s is not None:
            return self.elapsed_s
        end = self.ended_at if self.ended_at is not None else now
        if self.started_at is not None:
            return max(0.0, end - self.started_at)
        if starts_reported:
            return 0.0
        if self.time_total_s is not None:
            return max(0.0, self.time_total_s)
        if self.suggested_at is not None:
            return max(0.0, end - self.suggested_at)
        return 0.0


def stop_iterations(stop: Any) -> Optional[int]:
    """The ``training_iteration`` Tune's ``stop`` ends every trial at, when it says one (a dict)."""
    iterations = stop.get("training_iteration") if isinstance(stop, dict) else None
    if isinstance(iterations, int) and not isinstance(iterations, bool) and iterations > 0:
        return iterations
    return None


class TrialBook:
    """The records of the trials suggested and not yet told (see the module's table).

    Args:
        timeout_s: The per-trial timeout the watchdog ends trials at.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.records: Dict[str, TrialRecord] = {}
        self.callback_attached = False  # starts and errors are reported by the callback
        #: Tune's loop drives the searcher (it passed its experiment's spec): without the callback
        #: no details will follow an error, so an errored trial is told at once.
        self.in_tunes_loop = False
        #: The ``training_iteration`` a trial stops at (Tune's ``stop``), when the callback knows it.
        self.stop_iterations: Optional[int] = None
        self._warned_no_callback = False
        self._warned_progress: Set[str] = set()

    def __contains__(self, trial_id: str) -> bool:
        return trial_id in self.records

    def is_retry(self, trial_id: str) -> bool:
        """Whether the trial runs a configuration again after a transient failure (see ``retry``)."""
        record = self.records.get(trial_id)
        return record is not None and record.tries > 0

    def suggested(self, trial_id: str, config: Dict[str, Any], now: float, inner_id: Optional[str] = None) -> None:
        self.records[trial_id] = TrialRecord(config=config, suggested_at=now,
                                             inner_id=None if inner_id == trial_id else inner_id)

    def running(self, config: Dict[str, Any]) -> List[str]:
        """The unfinished trials of ``config`` (as :func:`config_key` compares them)."""
        key = config_key(config)
        return [t for t, r in self.records.items()
                if r.config is not None and r.taken_by is None and config_key(r.config) == key]

    def follow(self, trial_id: str, inner_id: str) -> None:
        """A suggestion (the inner searcher's ``inner_id``) of ``trial_id``'s configuration, to
        be told its outcome when it is told."""
        self.records[trial_id].followers.append(inner_id)

    def inner_id(self, trial_id: str) -> str:
        """The id the inner searcher knows an unfinished trial by."""
        record = self.records.get(trial_id)
        return record.inner_id or trial_id if record is not None else trial_id

    def reported(self, trial_id: str, result: Dict[str, Any], kept: Optional[Dict[str, Any]] = None) -> None:
        """A result it reported: its ``time_total_s``, and how far it got, the furthest of a
        ``progress`` in [0, 1] it reports itself and its ``training_iteration`` against the
        iterations Tune stops it at. A ``progress`` that is not a number in [0, 1] is not read
        (one warning naming the trial): its clock grades it then. ``kept``: what of it to tell
        if Tune completes the trial with no result (its objectives, when finite)."""
        record = self.records.get(trial_id)
        if record is None:
            return
        if kept is not None:
            record.last_result = dict(kept)
        seconds = real_number(result.get("time_total_s"))
        if seconds is not None and math.isfinite(seconds):  # Tune's own; a trainable's of its own may be anything
            record.time_total_s = seconds
        reached = [p for p in (record.progress, self._reported_progress(trial_id, result),
                               self._iterations_share(result)) if p is not None]
        record.progress = max(reached, default=None)

    def _reported_progress(self, trial_id: str, result: Dict[str, Any]) -> Optional[float]:
        if "progress" not in result:
            return None
        value = result["progress"]
        number = real_number(value)
        if number is not None and 0.0 <= number <= 1.0:
            return number
        if trial_id not in self._warned_progress:
            self._warned_progress.add(trial_id)
            logger.warning("Trial %s reported progress=%r, not a number in [0, 1]: not read; its time "
                           "grades how far it got.", trial_id, value)
        return None

    def _iterations_share(self, result: Dict[str, Any]) -> Optional[float]:
        iteration = result.get("training_iteration")
        if not self.stop_iterations or not isinstance(iteration, int) or isinstance(iteration, bool):
            return None
        return min(1.0, max(0, iteration) / self.stop_iterations)

    def started(self, trial_id: str, now: Optional[float]) -> None:
        """The trial started RUNNING at ``now`` (None: it waits to run again, see :meth:`retried`):
        what its earlier attempt left counts no more."""
        record = self.records.get(trial_id)
        if record is not None:
            record.started_at = now
            record.ended_at = record.elapsed_s = record.error = record.error_class = record.stage = None
            record.progress = None
            record.timed_out = record.details_known = False

    def retried(self, trial_id: str) -> None:
        """Tune runs the trial again after a failure: until it starts, it has not run (an attempt
        that fails before it starts is graded so, not by the earlier attempt's clock)."""
        self.started(trial_id, None)

    def resumed(self, trial_id: str, now: float) -> None:
        """The trial runs again after a scheduler paused it: how far it got stays, and its clock
        counts the seconds it ran before (its own ``time_total_s``) and those from now."""
        record = self.records.get(trial_id)
        if record is not None:
            record.started_at = now - (record.time_total_s or 0.0)

    def timed_out(self, trial_id: str, stage: Optional[str] = None) -> None:
        """The watchdog ends the trial, in ``stage`` where it published one (a served trial whose
        server never became ready got nowhere: see ``judge.NEVER_STARTED``)."""
        record = self.records.get(trial_id)
        if record is not None:
            record.timed_out, record.elapsed_s = True, self.timeout_s
            record.error, record.error_class = timeout_error_text(self.timeout_s), ErrorClass.TIMEOUT
            record.stage = stage

    def completed(self, trial_id: str, result: Optional[Dict[str, Any]], error: bool, now: float) -> Optional[Ending]:
        """Ray's ``on_trial_complete`` of a trial in the book."""
        record = self.records[trial_id]
        if record.ended_at is None:
            record.ended_at = now
        if result and "time_total_s" in result:
            record.time_total_s = result["time_total_s"]
        if not error:  # no result: Tune stopped it while paused or pending; its last one, if any
            return self._end(trial_id, now, result or record.last_result or {})
        record.errored = True
        if record.details_known:
            return self._end(trial_id, now)
        if self.in_tunes_loop and not self.callback_attached:
            return self._end_without_details(trial_id, now)
        return None

    def errored(self, trial_id: str, error: str, now: float, error_class: Optional[str] = None,
                stage: Optional[str] = None, error_types: Tuple[str, ...] = ()) -> Optional[Ending]:
        """The callback's evidence: error text, class, stage and types (the watchdog's stay for a trial it ended)."""
        record = self.records.get(trial_id)
        if record is None:
            return None
        if record.ended_at is None:
            record.ended_at = now
        if not record.timed_out:
            record.error, record.error_class, record.stage, record.error_types = error, error_class, stage, error_types
        record.details_known = True
        return self._end(trial_id, now) if record.errored else None

    def failure_given(self, trial_id: str, elapsed_s: float, error: str, timeout_s: Optional[float],
                      now: float, error_class: Optional[str] = None) -> Ending:
        """``record_failure``: the details are given, the trial is told now."""
        record = self.records.get(trial_id)
        if record is None:
            raise ValueError(
                f"unknown trial id {trial_id!r}: it was not suggested by this searcher "
                f"(or was already told); record_failure is for trials from suggest()"
            )
        record.elapsed_s, record.error, record.timeout_s = elapsed_s, error, timeout_s
        record.error_class, record.details_known = error_class, True
        return self._end(trial_id, now)

    def waiting(self, now: float, except_id: Optional[str] = None) -> List[Ending]:
        """Errored trials whose details never came (no callback, or it was skipped)."""
        return [self._end_without_details(t, now) for t, r in list(self.records.items())
                if r.errored and t != except_id]

    def retry(self, ending: Ending) -> None:
        """``ending`` failed transiently: its configuration is suggested again next (see
        :meth:`take_retry`), under the inner searcher's id for it, its followers waiting on."""
        self.records[f"{ending.trial_id}/retry"] = TrialRecord(
            config=ending.config, inner_id=ending.inner_id or ending.trial_id, followers=list(ending.followers),
            elapsed_s=ending.elapsed_s, timeout_s=ending.timeout_s, error=ending.error, error_class=ending.error_class,
            error_types=ending.error_types, stage=ending.stage, progress=ending.progress, tries=ending.tries,
            queued=True)

    def take_retry(self, trial_id: str, now: float) -> Optional[Dict[str, Any]]:
        """The configuration of the oldest retry waiting, now suggested as ``trial_id``; None if none waits."""
        key = next((k for k, r in self.records.items() if r.queued), None)
        if key is None:
            return None
        waiting = self.records[key]
        waiting.queued, waiting.taken_by = False, trial_id
        self.records[trial_id] = TrialRecord(config=waiting.config, suggested_at=now, inner_id=waiting.inner_id,
                                             followers=list(waiting.followers), tries=waiting.tries + 1)
        return waiting.config

    def stopped(self, trial_id: str, now: float) -> Optional[Ending]:
        """Tune ended the trial itself, with no result or error for its searcher (its time budget
        or ``fail_fast`` stopped the run): it is never told, as Ray tells its searchers nothing of
        it, nor are its followers. A retry's earlier try is queued again: told as it ended if no
        trial comes to run it (:meth:`unrun_retries`). One that errored and waits for its details
        (a restored run's) is told now with what is known; one the watchdog ended (Tune stopped
        the run before the ended actor's error came) as the timeout it was."""
        record = self.records.get(trial_id)
        if record is None:
            return None
        if record.timed_out:
            return self._end(trial_id, now)
        if record.errored:
            return self._end_without_details(trial_id, now)
        del self.records[trial_id]
        earlier = next((r for r in self.records.values() if r.taken_by == trial_id), None)
        if earlier is not None:
            earlier.queued, earlier.taken_by, earlier.followers = True, None, record.followers
        return None

    def unrun_retries(self, now: float) -> List[Ending]:
        """The transient failures whose retries were never suggested (the experiment ended):
        told now, as they ended."""
        return [self._end(k, now)._replace(trial_id=k[:-len("/retry")], final=True)
                for k, r in list(self.records.items()) if r.queued]

    def _end_without_details(self, trial_id: str, now: float) -> Ending:
        if not self.callback_attached and not self._warned_no_callback:
            self._warned_no_callback = True
            logger.warning("GradedPenaltySearcher graded trial %s without its error text or start "
                           "time: %s", trial_id, _NO_CALLBACK_HINT)
        return self._end(trial_id, now)

    def _end(self, trial_id: str, now: float, result: Optional[Dict[str, Any]] = None) -> Ending:
        record = self.records.pop(trial_id)
        for key in [k for k, r in self.records.items() if r.taken_by == trial_id]:  # its retry ran: done
            del self.records[key]
        return Ending(trial_id, record.config, record.elapsed(now, starts_reported=self.callback_attached),
                      record.timeout_s, record.error, result, failed=result is None, error_class=record.error_class,
                      stage=record.stage, progress=record.progress, error_types=tuple(record.error_types),
                      inner_id=record.inner_id, followers=tuple(record.followers), tries=record.tries)
