"""A hard per-trial wall-clock timeout for Ray Tune, usable on its own.

Ray Tune has none (ray-project/ray#47475): ``time_budget_s`` ends the whole experiment and
``stop={"time_total_s": T}`` is checked only when a trial reports, so a trial hung in a deploy
step or a blocking C call runs, and holds its GPU, forever.

The mechanism is a watchdog in the driver: at every step of Tune's control loop (about ten
times a second) it ends the actor of any trial that has been RUNNING for longer than the
timeout, and, as a :class:`~ray_graded_penalty.reaper.TrialReaper`, removes the placement
groups that actor's own actors had reserved (a Ray Train trainer's workers, which would
otherwise hold their GPUs for the rest of the experiment). Ending the actor is the only thing
that stops a thread stuck in a blocking C call and frees its GPU: a watchdog inside the
worker could raise in Python code but not interrupt native code. Ray then fails the trial as
usual (``on_trial_error``, retries per ``FailureConfig``), and its resources go back to the
pool. Time is the driver's, counted from when the trial started running, so time spent
PENDING for a GPU is not counted.

Example:
    >>> from ray_graded_penalty import TrialTimeout
    >>> from ray_graded_penalty.compat import RunConfig  # ray.tune's, or ray.train's before Ray 2.41
    >>> run_config = RunConfig(callbacks=[TrialTimeout(timeout_s=600)])
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ray_graded_penalty.checks import check_timeout
from ray_graded_penalty.ray_internals import trial_actor
from ray_graded_penalty.reaper import TrialReaper

logger = logging.getLogger("ray_graded_penalty")


class TrialTimeout(TrialReaper):
    """Stops every trial that runs longer than ``timeout_s``, even if it never reports, and
    leaves nothing a trial started behind, whatever ended it.

    Args:
        timeout_s: Seconds a trial may run, counted from when it started RUNNING.
        on_timeout: Called with the trial id just before its actor is ended.
    """

    def __init__(self, timeout_s: float, on_timeout: Optional[Callable[[str], None]] = None) -> None:
        super().__init__()
        self.timeout_s = check_timeout("timeout_s", timeout_s)
        self._on_timeout = on_timeout
        self._started: Dict[str, Tuple[float, Any]] = {}  # trial id -> (start, Trial)
        self._stopped: Set[str] = set()

    def __reduce__(self) -> Any:  # as its arguments: what it follows of a run does not outlive the driver
        return (type(self), (self.timeout_s, self._on_timeout))

    @property
    def timed_out(self) -> Set[str]:
        """Ids of the trials this watchdog stopped."""
        return set(self._stopped)

    def on_trial_start(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started[trial.trial_id] = (time.time(), trial)
        super().on_trial_start(iteration, trials, trial, **info)

    def on_trial_recover(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started.pop(trial.trial_id, None)  # the retry gets a full timeout of its own
        super().on_trial_recover(iteration, trials, trial, **info)

    def on_trial_complete(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started.pop(trial.trial_id, None)
        super().on_trial_complete(iteration, trials, trial, **info)

    def on_trial_error(self, iteration: int, trials: List[Any], trial: Any, **info: Any) -> None:
        self._started.pop(trial.trial_id, None)
        super().on_trial_error(iteration, trials, trial, **info)

    def on_step_begin(self, iteration: int, trials: List[Any], **info: Any) -> None:
        # Only the trials that started and have not ended: this runs ten times a second.
        now = time.time()
        for trial_id, (started, trial) in list(self._started.items()):
            if trial_id not in self._roots:
                self._remember_root(trial)
            if now - started < self.timeout_s or trial.status != "RUNNING" or trial_actor(trial) is None:
                continue
            del self._started[trial_id]
            self._stopped.add(trial_id)
            logger.warning("Trial %s ran %.1fs, past its timeout of %gs: ending its actor.",
                           trial_id, now - started, self.timeout_s)
            if self._on_timeout is not None:
                self._on_timeout(trial_id)
            self.end(trial)
        super().on_step_begin(iteration, trials, **info)
