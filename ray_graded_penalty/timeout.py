"""A hard per-trial wall-clock timeout for Ray Tune, usable on its own.

Ray Tune has none (ray-project/ray#47475): ``time_budget_s`` ends the whole experiment and
``stop={"time_total_s": T}`` is checked only when a trial reports, so a trial hung in a deploy
step or a blocking C call runs, and holds its GPU, forever.

The mechanism is a watchdog in the driver: at every step of Tune's control loop (about ten
times a second) it ends the actor of any trial that has been RUNNING for longer than the
timeout, and removes the placement groups that actor's own actors had reserved (a Ray Train
trainer's workers, which would otherwise hold their GPUs for the rest of the experiment). Ending the actor is the only thing that stops a thread stuck in a blocking C call
and frees its GPU: a watchdog inside the worker could raise in Python code but not interrupt
native code. Ray then fails the trial as usual (``on_trial_error``, retries per
``FailureConfig``), and its resources go back to the pool. Time is the driver's, counted from
when the trial started running, so time spent PENDING for a GPU is not counted.

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

from ray_graded_penalty.compat import placement_groups_under, remove_placement_groups, trial_actor
from ray_graded_penalty.policy import check_timeout

logger = logging.getLogger("ray_graded_penalty")


def timeout_error_text(timeout_s: float) -> str:
    """The error a timed-out trial is graded with."""
    return f"TimeoutError: trial timed out after trial_timeout_s={timeout_s:g} seconds"


class TrialTimeout(Callback):
    """Stops every trial that runs longer than ``timeout_s``, even if it never reports.

    Args:
        timeout_s: Seconds a trial may run, counted from when it started RUNNING.
        on_timeout: Called with the trial id just before its actor is ended.
    """

    def __init__(self, timeout_s: float, on_timeout: Optional[Callable[[str], None]] = None) -> None:
        self.timeout_s = check_timeout("timeout_s", timeout_s)
        self._on_timeout = on_timeout
        self._started: Dict[str, Tuple[float, Any]] = {}  # trial id -> (start, Trial)
        self._stopped: Set[str] = set()

    @property
    def timed_out(self) -> Set[str]:
        """Ids of the trials this watchdog stopped."""
        return set(self._stopped)

    def on_trial_start(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started[trial.trial_id] = (time.time(), trial)

    def on_trial_recover(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started.pop(trial.trial_id, None)  # the retry gets a full timeout of its own

    def on_trial_complete(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started.pop(trial.trial_id, None)

    def on_trial_error(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started.pop(trial.trial_id, None)

    def on_step_begin(self, iteration: int, trials: List[Any], **info: Any) -> None:
        # Only the trials that started and have not ended: this runs ten times a second.
        now = time.time()
        for trial_id, (started, trial) in list(self._started.items()):
            if now - started < self.timeout_s or trial.status != "RUNNING":
                continue
            actor = trial_actor(trial)
            if actor is None:
                continue
            del self._started[trial_id]
            self._stopped.add(trial_id)
            logger.warning(
                "Trial %s ran %.1fs, past its timeout of %gs: ending its actor.",
                trial_id, now - started, self.timeout_s,
            )
            if self._on_timeout is not None:
                self._on_timeout(trial_id)
            groups = _placement_groups_under(actor)
            ray.kill(actor, no_restart=True)
            if groups:  # a Ray Train trainer's workers: free their resources too
                remove_placement_groups(groups)
                logger.info("Removed %d placement groups the trial's own actors had reserved.", len(groups))


def _placement_groups_under(actor: Any) -> list:
    try:
        return placement_groups_under(actor)
    except Exception:  # reading Ray's tables must never stop the timeout itself
        logger.warning("Could not list the placement groups under a timed-out trial's actor; "
                       "resources its own actors reserved may stay reserved.", exc_info=True)
        return []
