"""The ``tune.Callback`` that sees trials start and fail, and reports it as :class:`TrialEvents`.

Ray tells a searcher only that a trial errored, never how or when; a callback sees the
``Trial`` with its error. Ray calls the searcher first and this callback right after, so the
searcher waits for it; if the order ever flipped, the callback's details arrive first and the
searcher tells the failure as soon as Ray reports it. Either way it is told once.

A trial the searcher has told already that Tune starts again (after ``Tuner.restore``, a
trial whose actor had died before the experiment's state was saved) is ended at its start,
without a retry: it would spend its GPU on a result nobody reads.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, List, Optional

from ray.tune import Callback

from ray_graded_penalty.events import TrialEvents
from ray_graded_penalty.reaper import TrialReaper
from ray_graded_penalty.timeout import TrialTimeout
from ray_graded_penalty.trial_errors import read_trial_error

logger = logging.getLogger("ray_graded_penalty")

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


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
            TrialReaper() if timeout_s is None else TrialTimeout(timeout_s, on_timeout=events.trial_timed_out)
        )

    def __reduce__(self) -> Any:  # as its arguments: what it keeps of a run does not outlive the driver
        return (GradedPenaltyCallback, (self._events, None if self.timeout is None else self.timeout.timeout_s))

    @property
    def timeout(self) -> Optional[TrialTimeout]:
        """The watchdog, or None when the timeout is not enforced."""
        return self._reaper if isinstance(self._reaper, TrialTimeout) else None

    def setup(self, stop: Optional[Any] = None, num_samples: Optional[int] = None,
              total_num_samples: Optional[int] = None, **info: Any) -> None:
        self._reaper.setup()
        self._events.callback_attached()

    def on_step_begin(self, iteration: int, trials: List["Trial"], **info: Any) -> None:
        self._reaper.on_step_begin(iteration, trials, **info)

    def on_trial_start(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._reaper.on_trial_start(iteration, trials, trial, **info)
        if self._events.already_told(trial.trial_id):
            logger.warning("Trial %s was told before the run was restored; Tune started it again: "
                           "ending it, without a retry.", trial.trial_id)
            self._reaper.end(trial, retry=False)
            return
        self._events.trial_started(trial.trial_id)

    def on_trial_recover(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._reaper.on_trial_recover(iteration, trials, trial, **info)

    def on_trial_complete(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._reaper.on_trial_complete(iteration, trials, trial, **info)

    def on_trial_error(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._reaper.on_trial_error(iteration, trials, trial, **info)
        error = read_trial_error(trial)
        self._events.trial_errored(trial.trial_id, error.text, error.error_class)

    def on_experiment_end(self, trials: List["Trial"], **info: Any) -> None:
        self._reaper.on_experiment_end(trials, **info)
        self._events.experiment_ended()
