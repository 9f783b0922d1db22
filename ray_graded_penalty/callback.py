"""The ``tune.Callback`` that sees trials start and fail, and tells its searcher.

Ray tells a searcher only that a trial errored, never how or when; a callback sees the
``Trial`` with its error. Ray calls the searcher first and this callback right after, so the
searcher waits for it; if the order ever flipped, the callback's details arrive first and the
searcher tells the failure as soon as Ray reports it. Either way it is told once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List

from ray.tune import Callback

from ray_graded_penalty.trial_errors import read_trial_error

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

    from ray_graded_penalty.searcher import GradedPenaltySearcher


class GradedPenaltyCallback(Callback):
    """Reports when trials really start running and what ended them.

    Reach it as ``searcher.callback`` and pass it to ``tune.RunConfig(callbacks=[...])``.
    """

    def __init__(self, searcher: "GradedPenaltySearcher") -> None:
        self._searcher = searcher

    def setup(self, **info: Any) -> None:
        self._searcher._callback_attached = True

    def on_trial_start(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._searcher._trial_started(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: List["Trial"], trial: "Trial", **info: Any) -> None:
        self._searcher._trial_errored(trial.trial_id, read_trial_error(trial))

    def on_experiment_end(self, trials: List["Trial"], **info: Any) -> None:
        self._searcher._flush_failures()
