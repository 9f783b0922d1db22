"""Ending a trial's actor, and leaving nothing a trial started behind, whatever ended it.

A trial's actor owns what it starts: the actors of a Ray Train trainer die with it, but not at
once, and the placement groups they reserved stay until removed. :class:`TrialReaper` follows
what each trial started and, when the trial ends (or is ended by :meth:`TrialReaper.end`),
removes those groups and looks again 2, 8 and 20 s later; at the experiment's end it waits
until they are gone. At the start and the end of an experiment it also removes the groups Ray
itself left behind when their creator died as it reserved them (a trial ended with a killed
driver or a lost node; see :func:`~ray_graded_penalty.ray_internals.orphaned_placement_groups`).
:class:`~ray_graded_penalty.TrialTimeout` is a reaper with a clock.

Example:
    >>> from ray_graded_penalty.compat import RunConfig
    >>> run_config = RunConfig(callbacks=[TrialReaper()])
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Tuple

import ray
from ray.tune import Callback

from ray_graded_penalty.ray_internals import (
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
#: The most the end of an experiment waits for such actors to die.
FINAL_WAIT_S = 10.0


class TrialReaper(Callback):
    """Removes what a trial's own actors reserved once the trial ends; ends trials on request."""

    def __init__(self) -> None:
        self._roots: Dict[str, str] = {}  # trial id -> its actor's id, while it runs
        self._sweeps: List[Tuple[float, str]] = []  # (when, a trial actor's id) to check again
        self._to_end: Dict[str, Any] = {}  # trial id -> Trial, to end once its actor is there

    def __reduce__(self) -> Any:  # what it follows of a run does not outlive the driver
        return (type(self), ())

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
        ray.kill(actor, no_restart=True)  # what it started dies with it, as its owner
        _sweep(root, all_ending=True)
        self._sweeps += [(time.time() + after, root) for after in SWEEPS_S]

    def setup(self, stop: Optional[Any] = None, num_samples: Optional[int] = None,
              total_num_samples: Optional[int] = None, **info: Any) -> None:
        _remove_orphans(of_this_job=False)  # those of a driver that died: the one restored from, say

    def on_trial_start(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._remember_root(trial)

    def on_trial_recover(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_trial_complete(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_trial_error(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_step_begin(self, iteration: int, trials: List[Any], **info: Any) -> None:
        for trial in list(self._to_end.values()):
            if trial.status in ("TERMINATED", "ERROR"):
                del self._to_end[trial.trial_id]
            elif trial_actor(trial) is not None and trial.status == "RUNNING":
                self.end(trial)
        now = time.time()
        due = [s for s in self._sweeps if s[0] <= now]
        if due:
            self._sweeps = [s for s in self._sweeps if s[0] > now]
            for _, root in due:
                _sweep(root)

    def on_experiment_end(self, trials: List[Any], **info: Any) -> None:
        roots = list(dict.fromkeys(root for _, root in self._sweeps))
        self._sweeps = []
        deadline = time.time() + FINAL_WAIT_S
        while roots:  # until every actor under a gone trial actor has died with it
            roots = [root for root in roots if _sweep(root)]
            if roots and time.time() > deadline:
                logger.warning("Actors started by %d ended trials are still alive %gs after the "
                               "experiment ended; what they reserve may stay reserved.", len(roots), FINAL_WAIT_S)
                break
            if roots:
                time.sleep(0.5)
        _remove_orphans(of_this_job=True)

    def _remember_root(self, trial: Any) -> None:
        actor = trial_actor(trial)
        if actor is not None:
            self._roots[trial.trial_id] = actor_id(actor)

    def _ended(self, trial: Any) -> None:
        self._to_end.pop(trial.trial_id, None)
        root = self._roots.pop(trial.trial_id, None)
        if root is not None:
            self._sweeps += [(time.time() + after, root) for after in SWEEPS_S]


def _sweep(root: str, all_ending: bool = False) -> bool:
    """Remove the placement groups that ended actors of the trial with actor ``root`` created
    (with ``all_ending``, those of every actor under it: its actor is being ended now). An
    actor the trial started dies with the trial's actor, which owns it, but not at once.
    Returns whether an actor under a gone trial actor is still alive, to look again.
    Reading Ray's tables must never stop the run."""
    try:
        tree = actor_tree(root)
        ended = set(tree) if all_ending else {i for i, up in tree.items() if not up}
        groups = placement_groups_created_by(ended) if ended else []
        if groups:
            remove_placement_groups(groups)
            logger.info("Removed %d placement groups the trial's own actors had reserved.", len(groups))
        return bool(tree) and not tree[root] and any(tree.values())
    except Exception:
        logger.warning("Could not list what a finished trial's actor started; resources its own actors "
                       "reserved may stay reserved.", exc_info=True)
        return False


def _remove_orphans(of_this_job: bool) -> None:
    """Remove the placement groups Ray left after their creator died (of dead jobs; with
    ``of_this_job``, also of the running driver's dead actors); never stops the run."""
    try:
        groups = orphaned_placement_groups(ray.get_runtime_context().get_job_id() if of_this_job else None)
        if groups:
            remove_placement_groups(groups)
            logger.info("Removed %d placement groups whose creator died as it reserved them.", len(groups))
    except Exception:
        logger.warning("Could not look for placement groups Ray left after their creator died.", exc_info=True)
