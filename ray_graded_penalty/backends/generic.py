"""The guarantee any Ray ``Searcher`` gets: a failure ranks below every success told before it.

:class:`RankKeeper` is also the interface the Optuna and HyperOpt backends implement:
what :func:`~ray_graded_penalty._core.ledger.tell` asks of a backend, in its order.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ray.tune.search import Searcher

from ray_graded_penalty.compat import base_searcher


class RankKeeper:
    """Keeps told failures below the successes, as far as the inner searcher allows.

    Args:
        searcher: The searcher it keeps (the base searcher, for the built-in backends).
        searcher_name: The name of the searcher the user gave, for log lines.
    """

    #: Whether every told failure stays below every success, including later ones.
    whole_history = False
    #: Whether the inner searcher is told a trial below the successes as an error (Ray's
    #: ``on_trial_complete(error=True)``) rather than by its graded value: for a searcher whose
    #: model a value below the successes harms (see the Optuna backend's CMA-ES). The trial is
    #: still graded, kept in ``outcomes`` and reported.
    tells_failures_as_errors = False
    #: Whether trials below the successes are told close below the worst success rather than one
    #: spread and more below it: for a searcher that fits a regression to every told value and
    #: keeps failures apart by their constraint (see the Optuna backend's GPSampler).
    failures_close_below = False

    def __init__(self, searcher: Searcher, searcher_name: Optional[str] = None) -> None:
        self._searcher = searcher
        self.searcher_name = searcher_name or type(searcher).__name__

    @property
    def rewrites_history(self) -> bool:
        """Whether :meth:`move_below` can rewrite the values of trials told before."""
        return False

    def check_modes(self, modes: Tuple[str, ...]) -> None:
        """Called once Tune set the search up, with each objective's mode: refuse an inner
        searcher whose history was kept for other ones, or that was built for other ones (it
        keeps the mode it was built with: told graded values, it would take a failure for its
        best trial)."""
        kept = getattr(base_searcher(self._searcher), "mode", None)
        if kept is None:
            return
        kept_modes = tuple(kept) if isinstance(kept, (list, tuple)) else (kept,)
        if kept_modes != tuple(modes):
            wanted = list(modes) if len(modes) > 1 else modes[0]
            raise ValueError(f"the inner searcher ({self.searcher_name}) was built with mode={kept!r}; this search's "
                             f"mode is {wanted!r}: give both the same mode, or none to the inner searcher")

    def before_suggest(self) -> None:
        """Called before each suggestion."""

    def before_tell(self, trial_id: str, violation: float, attrs: Optional[Dict[str, Any]] = None,
                    key: Optional[str] = None) -> None:
        """Called just before the inner searcher is told a trial: a success that met its
        SLOs (``violation`` 0, no ``attrs``), or one that ranks below every success: a failure
        (``violation`` above 1) or an SLO miss (between 0 and 1). ``attrs`` describe the
        latter (penalty, error class, elapsed time) for whoever looks at the inner searcher's
        history. ``key``: what the ledger's moves will name it by, when not ``trial_id`` (a
        suggestion told a finished trial's outcome again)."""

    def successes_elsewhere(self) -> List[Tuple[float, ...]]:
        """Successes (values, one per objective) the inner searcher holds that it was not told
        through this package since the last call: points the user gave it with rewards, trials
        of a study it loaded. Trials told below the successes are not among them. A searcher
        this package cannot read holds none it can see."""
        return []

    def finished_elsewhere(self, config: Dict[str, Any]) -> List[Tuple[Tuple[float, ...], float]]:
        """The values (one per objective) and violations of the finished trials of ``config``
        the inner searcher holds from elsewhere (a study reopened from a database, a point the
        user gave with its reward), for a configuration this search has not finished. A
        searcher this package cannot read holds none it can see."""
        return []

    def move_below(self, moves: Dict[str, Tuple[float, ...]]) -> None:
        """The placement moved: ``moves`` maps trials told below the successes to the values
        (one per objective) they must hold now. Called only when :attr:`rewrites_history`."""

    @property
    def takes_history(self) -> bool:
        """Whether :meth:`add_history` can tell the inner searcher earlier trials: the searcher
        under Ray's wrappers has Ray's ``add_evaluated_point``."""
        return type(base_searcher(self._searcher)).add_evaluated_point is not Searcher.add_evaluated_point

    def no_history(self) -> str:
        """Why this searcher takes no warm start, for an error."""
        return (f"a warm start needs an inner searcher with Ray's add_evaluated_point; {self.searcher_name} has "
                f"none: wrap OptunaSearch or HyperOptSearch (or use the built-in 'optuna' or 'hyperopt'), or "
                f"start without warm_start")

    def add_history(self, key: str, config: Dict[str, Any], value: float, violation: Optional[float],
                    attrs: Optional[Dict[str, Any]] = None) -> None:
        """Add an earlier trial (below every success when ``violation`` is set, described by
        ``attrs`` as :meth:`before_tell` describes one) to the model."""
        try:
            self._searcher.add_evaluated_point(config, value)
        except NotImplementedError:
            raise NotImplementedError(self.no_history()) from None

    def get_state(self) -> Dict[str, Any]:
        """What must survive a checkpoint (the searcher itself is not part of it)."""
        return {}

    def set_state(self, state: Dict[str, Any]) -> None:
        """Load what :meth:`get_state` returned."""
