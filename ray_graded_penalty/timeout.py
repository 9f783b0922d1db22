"""Ending trials: a hard per-trial wall-clock timeout, usable on its own, and the reaper under it.

Ray Tune has none (ray-project/ray#47475): ``time_budget_s`` ends the whole experiment and
``stop={"time_total_s": T}`` is checked only when a trial reports, so a trial hung in a deploy
step or a blocking C call runs, and holds its GPU, forever.

The mechanism is a watchdog in the driver (:class:`TrialTimeout`): at every step of Tune's
control loop (about ten times a second) it ends the actor of any trial that has been RUNNING for
longer than the timeout, and, as a :class:`TrialReaper`, removes the placement groups that
actor's own actors had reserved (a Ray Train trainer's workers, which would otherwise hold their
GPUs for the rest of the experiment). Ending the actor is the only thing that stops a thread
stuck in a blocking C call and frees its GPU: a watchdog inside the worker could raise in Python
code but not interrupt native code. Ray then fails the trial as usual (``on_trial_error``,
retries per ``FailureConfig``), and its resources go back to the pool. Time is the driver's,
counted from when the trial started running, so time spent PENDING for a GPU is not counted,
nor time a scheduler held it paused (the seconds it ran before a pause are).

A trial's actor owns what it starts: the actors of a Ray Train trainer die with it, but not at
once, and the placement groups they reserved stay until removed. :class:`TrialReaper` follows
what each trial started and, when the trial ends (or is ended by :meth:`TrialReaper.end`),
removes those groups and looks again 2, 8 and 20 s later, then every 30 s while an actor of the
trial's is alive, for up to ten minutes (Tune stops a trial's actor gracefully, forcing it only
after ten minutes); at the experiment's end it waits
for every trial actor of the run, and what they started, to die (Tune's cleanup stops those
still running with no event) and removes what they reserved. It also removes the groups Ray
itself left behind when their creator died as it reserved them (a trial ended with a killed
driver or a lost node; see
:func:`~ray_graded_penalty._core.ray_internals.orphaned_placement_groups`), only those of the
drivers that ran this experiment: the running one at the experiment's end, and those of the
runs it was restored from when it is restored, and again 2 to 60 s later (it keeps their job
ids in Tune's callback state). Another job's groups on a shared cluster are never its to touch.

Example:
    >>> from ray_graded_penalty import TrialTimeout
    >>> from ray_graded_penalty.compat import RunConfig  # ray.tune's, or ray.train's before Ray 2.41
    >>> run_config = RunConfig(callbacks=[TrialTimeout(timeout_s=600)])
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import ray
from ray.tune import Callback

from ray_graded_penalty._core.checks import check_timeout
from ray_graded_penalty._core.ray_internals import (
    actor_id,
    actor_tree,
    forbid_retries,
    orphaned_placement_groups,
    placement_groups_created_by,
    remove_placement_groups,
    trial_actor,
)

logger = logging.getLogger("ray_graded_penalty")

#: Seconds after a trial ended at which what it started is checked again: an actor that was
#: still running when the trial's own actor was ended can reserve resources meanwhile.
SWEEPS_S = (2.0, 8.0, 20.0)
#: After those, every ``FOLLOW_UP_S`` while an actor of the trial's is alive, until ``WATCH_S``
#: after its end: Tune stops a trial's actor gracefully (a pause saves a checkpoint first) and
#: forces it only after ``TUNE_FORCE_TRIAL_CLEANUP_S``, 600 s by default.
FOLLOW_UP_S = 30.0
WATCH_S = 620.0
#: The most the end of an experiment waits for such actors to die.
FINAL_WAIT_S = 10.0


class TrialReaper(Callback):
    """Removes what a trial's own actors reserved once the trial ends; ends trials on request."""

    def __init__(self) -> None:
        self._roots: Dict[str, str] = {}  # trial id -> its actor's id, while it runs
        # (when, a trial actor's id, until when it is followed up) to check again
        self._sweeps: List[Tuple[float, str, float]] = []
        self._to_end: Dict[str, Any] = {}  # trial id -> Trial, to end once its actor is there
        self._jobs: List[str] = []  # the job ids (hex) of the drivers that ran this experiment
        self._looks: List[Tuple[float, List[str]]] = []  # (when, earlier drivers' jobs) to look at again

    def __reduce__(self) -> Any:  # what it follows of a run does not outlive the driver
        return (type(self), ())

    def get_state(self) -> Optional[Dict[str, Any]]:
        """Tune's callback state: the drivers' jobs that ran this experiment."""
        return {"jobs": list(self._jobs)}

    def set_state(self, state: Dict[str, Any]) -> None:
        """A restore: remove what Ray left of the runs it is restored from (a killed driver's),
        now and again as their actors' deaths reach Ray's tables (a restore right after the kill)."""
        earlier = [job for job in state.get("jobs", []) if job not in self._jobs]
        self._jobs = earlier + self._jobs
        _remove_orphans(earlier)
        if earlier:
            self._looks = [(time.time() + after, earlier) for after in (*SWEEPS_S, 60.0)]

    def end(self, trial: Any, retry: bool = True) -> None:
        """End ``trial``'s actor (what it started dies with it) now, or at the next step of
        Tune's loop if it has none yet. ``retry=False``: Tune does not start it again."""
        if not retry:
            forbid_retries(trial)
        actor = trial_actor(trial)
        if actor is None or trial.status != "RUNNING":
            self._to_end[trial.trial_id] = trial
            return
        self._to_end.pop(trial.trial_id, None)
        root = actor_id(actor)
        self._roots.pop(trial.trial_id, None)
        try:
            ray.kill(actor, no_restart=True)  # what it started dies with it, as its owner
        except Exception as exc:  # noqa: BLE001 - gone already (Ray raises ActorHandleNotFoundError), or the
            # GCS did not answer: never into Tune's loop, which would end the whole experiment
            logger.warning("Could not end the actor of trial %s (%s: %s); its groups are removed all the same.",
                           trial.trial_id, type(exc).__name__, exc)
        _sweep(root, all_ending=True)
        self._look_again(root)

    def setup(self, stop: Optional[Any] = None, num_samples: Optional[int] = None,
              total_num_samples: Optional[int] = None, **info: Any) -> None:
        self._jobs.append(ray.get_runtime_context().get_job_id())

    def on_trial_start(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._remember_root(trial)

    def on_trial_recover(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_trial_complete(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_trial_error(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_step_begin(self, iteration: int, trials: List[Any], **info: Any) -> None:
        for trial in trials:  # a scheduler paused it: Tune stopped its actor, with no event
            if trial.status == "PAUSED" and trial.trial_id in self._roots:
                self._ended(trial)
        for trial in list(self._to_end.values()):
            if trial.status in ("TERMINATED", "ERROR"):
                del self._to_end[trial.trial_id]
            elif trial_actor(trial) is not None and trial.status == "RUNNING":
                self.end(trial)
        now = time.time()
        due = [s for s in self._sweeps if s[0] <= now]
        if due:
            self._sweeps = [s for s in self._sweeps if s[0] > now]
            for _, root, until in due:
                alive = _sweep(root)
                if alive and now + FOLLOW_UP_S < until and all(s[1] != root for s in self._sweeps):
                    self._sweeps.append((now + FOLLOW_UP_S, root, until))  # still stopping: follow it up
        if self._looks and self._looks[0][0] <= now:
            _remove_orphans(self._looks.pop(0)[1])

    def on_experiment_end(self, trials: List[Any], **info: Any) -> None:
        # Tune's cleanup (Ctrl+C, an error in its loop, its time budget) stops the actors of
        # trials still running, with no event, and of those it stopped or cached, and they die a
        # moment later: every trial actor of the run is waited for.
        roots = list(dict.fromkeys([s[1] for s in self._sweeps] + list(self._roots.values())))
        self._sweeps, self._roots, self._looks = [], {}, []
        deadline = time.time() + FINAL_WAIT_S
        while roots:  # until every actor under a trial actor has died with it
            roots = [root for root in roots if _sweep(root)]
            if roots and time.time() > deadline:
                logger.warning("Actors of %d trials are still alive %gs after the "
                               "experiment ended; what they reserve may stay reserved.", len(roots), FINAL_WAIT_S)
                break
            if roots:
                time.sleep(0.5)
        _remove_orphans(self._jobs)

    def _remember_root(self, trial: Any) -> None:
        actor = trial_actor(trial)
        if actor is not None:
            self._roots[trial.trial_id] = actor_id(actor)

    def _ended(self, trial: Any) -> None:
        self._to_end.pop(trial.trial_id, None)
        root = self._roots.pop(trial.trial_id, None)
        if root is not None:
            self._look_again(root)

    def _look_again(self, root: str) -> None:
        now = time.time()
        self._sweeps += [(now + after, root, now + WATCH_S) for after in SWEEPS_S]


def _sweep(root: str, all_ending: bool = False) -> bool:
    """Remove the placement groups that ended actors of the trial with actor ``root`` created
    (with ``all_ending``, those of every actor under it: its actor is being ended now). An
    actor the trial started dies with the trial's actor, which owns it, but not at once.
    Returns whether an actor of the tree, the trial's own included (Tune may still be stopping
    it), is still alive, to look again. Reading Ray's tables must never stop the run."""
    try:
        tree = actor_tree(root)
        ended = set(tree) if all_ending else {i for i, up in tree.items() if not up}
        groups = placement_groups_created_by(ended) if ended else []
        if groups:
            remove_placement_groups(groups)
            logger.info("Removed %d placement groups the trial's own actors had reserved.", len(groups))
        return any(tree.values())
    except Exception:
        logger.warning("Could not list what a finished trial's actor started; resources its own actors "
                       "reserved may stay reserved.", exc_info=True)
        return False


def _remove_orphans(jobs: List[str]) -> None:
    """Remove the placement groups Ray left after their creator died, of ``jobs`` only; never
    stops the run."""
    if not jobs:
        return
    try:
        groups = orphaned_placement_groups(jobs)
        if groups:
            remove_placement_groups(groups)
            logger.info("Removed %d placement groups whose creator died as it reserved them.", len(groups))
    except Exception:
        logger.warning("Could not look for placement groups Ray left after their creator died.", exc_info=True)


class TrialTimeout(TrialReaper):
    """Stops every trial that runs longer than ``timeout_s``, even if it never reports, and
    leaves nothing a trial started behind, whatever ended it.

    Args:
        timeout_s: Seconds a trial may run, counted from when it started RUNNING; after a
            scheduler's pause (HyperBand, PBT) the seconds it ran before its pause count too.
        on_timeout: Called with the trial id just before its actor is ended.
    """

    def __init__(self, timeout_s: float, on_timeout: Optional[Callable[[str], None]] = None) -> None:
        super().__init__()
        self.timeout_s = check_timeout("timeout_s", timeout_s)
        if on_timeout is not None and not callable(on_timeout):
            raise TypeError(f"on_timeout must be a function of the trial id, or None; got {on_timeout!r}")
        self._on_timeout = on_timeout
        self._started: Dict[str, Tuple[float, Any]] = {}  # trial id -> (start, Trial)
        self._ran: Dict[str, float] = {}  # trial id -> seconds it ran before a scheduler paused it
        self._stopped: Set[str] = set()

    def __reduce__(self) -> Any:  # as its arguments: what it follows of a run does not outlive the driver
        return (type(self), (self.timeout_s, self._on_timeout))

    @property
    def timed_out(self) -> Set[str]:
        """Ids of the trials this watchdog stopped."""
        return set(self._stopped)

    def on_trial_start(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        # Started again after a pause: its clock goes on from what it ran before.
        self._started[trial.trial_id] = (time.time() - self._ran.pop(trial.trial_id, 0.0), trial)
        super().on_trial_start(iteration, trials, trial, **info)

    def on_trial_recover(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._forget(trial.trial_id)  # the retry gets a full timeout of its own
        super().on_trial_recover(iteration, trials, trial, **info)

    def on_trial_complete(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._forget(trial.trial_id)
        super().on_trial_complete(iteration, trials, trial, **info)

    def on_trial_error(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._forget(trial.trial_id)
        super().on_trial_error(iteration, trials, trial, **info)

    def _forget(self, trial_id: str) -> None:
        self._started.pop(trial_id, None)
        self._ran.pop(trial_id, None)

    def on_step_begin(self, iteration: int, trials: List[Any], **info: Any) -> None:
        # Only the trials that started and have not ended: this runs ten times a second.
        now = time.time()
        for trial_id, (started, trial) in list(self._started.items()):
            if trial_id not in self._roots:
                self._remember_root(trial)
            if trial.status == "PAUSED":  # a scheduler's pause: Tune stopped its actor, with no event
                self._ran.setdefault(trial_id, now - started)
                continue
            if now - started < self.timeout_s or trial.status != "RUNNING" or trial_actor(trial) is None:
                continue
            del self._started[trial_id]
            self._stopped.add(trial_id)
            logger.warning("Trial %s ran %.1fs, past its timeout of %gs: ending its actor.",
                           trial_id, now - started, self.timeout_s)
            try:
                if self._on_timeout is not None:
                    self._on_timeout(trial_id)
            except Exception:  # the hung trial is ended whatever the callback did
                logger.exception("on_timeout raised for trial %s; its actor is ended all the same.", trial_id)
            self.end(trial)
        super().on_step_begin(iteration, trials, **info)
