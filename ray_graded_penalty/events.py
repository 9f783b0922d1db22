"""What the callback tells the searcher: the small interface both sides name.

Ray tells a ``Searcher`` only that a trial ended in an error, never when it really started
or what killed it; a ``tune.Callback`` sees both. :class:`TrialEvents` is what such a callback
reports, and :class:`~ray_graded_penalty.GradedPenaltySearcher` implements it. The callback
knows nothing else of the searcher, so either side can change without the other.

Example:
    >>> class Printer:
    ...     def callback_attached(self): print("attached")
    ...     def trial_started(self, trial_id): print("started", trial_id)
    ...     def trial_timed_out(self, trial_id): print("timed out", trial_id)
    ...     def trial_errored(self, trial_id, error, error_class): print("errored", trial_id, error)
    ...     def experiment_ended(self): print("ended")
    ...     def already_told(self, trial_id): return False
    >>> isinstance(Printer(), TrialEvents)
    True
"""

from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable


@runtime_checkable
class TrialEvents(Protocol):
    """Receives what a callback sees of trials, in the order Ray's loop sees it."""

    def callback_attached(self) -> None:
        """The callback is part of the run: starts and errors will be reported."""

    def trial_started(self, trial_id: str) -> None:
        """The trial started RUNNING (again, for a retry: its last attempt is what counts)."""

    def trial_timed_out(self, trial_id: str) -> None:
        """The watchdog is about to end the trial: it ran past its timeout."""

    def trial_errored(self, trial_id: str, error: str, error_class: Optional[str]) -> None:
        """The trial ended in an error (after its last retry); ``error`` is what killed it, and
        ``error_class`` its class when the error itself says it (None: read the text)."""

    def experiment_ended(self) -> None:
        """The run is over: whatever is still waiting must be told now."""

    def already_told(self, trial_id: str) -> bool:
        """Whether the trial was told already (Tune starts it again only after a restore)."""
