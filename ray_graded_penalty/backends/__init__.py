"""The inner TPE searchers, and how each keeps failures below successes over its history.

Two built-in backends wrap Ray's own searchers, so search-space conversion,
``points_to_evaluate`` and checkpointing behave exactly as Ray users know them:

- ``"optuna"``: ``OptunaSearch`` with Optuna's ``TPESampler`` (joint, constant liar, failures
  ranked last), whose good group is a :class:`~ray_graded_penalty.backends.optuna.GoodGroupSize`:
  TPE's own one trial at a time, the best tenth of the successes while others run.
- ``"hyperopt"``: ``HyperOptSearch`` (HyperOpt's TPE) with 10 random start-up trials and
  ``gamma=1.0``: a good group of ``ceil(sqrt(n))`` trials, Optuna's size at 100 trials. Ray's
  defaults (20 and 0.25, a good group of 2 at 50 trials) waste the failures' information; see
  ``benchmarks/RESULTS.md``.

A :class:`~ray_graded_penalty.backends.generic.RankKeeper` knows how one backend keeps every
told failure ranked below every success (:func:`keeper_for` picks it):

- Optuna (:mod:`.optuna`): each failure is also an infeasible trial, ranked last by TPE.
- HyperOpt (:mod:`.hyperopt`): the losses of failures already told are rewritten.
- Ray's ``NevergradSearch`` (:mod:`.nevergrad`): a failure is told as an error, as Ray tells
  it: Nevergrad's evolution strategies shrink their step on every point told worse.
- Any other searcher (:mod:`.generic`): each failure is told by a value below every success
  told *before* it (a failure told before the first success can end above a later one; told
  as errors instead, BayesOptSearch learned nothing and kept proposing one point for ever).

Each backend's module is the only place that reads its library's internals.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from ray.tune.search import Searcher

from ray_graded_penalty._core.checks import REPEATER_REFUSED, check_backend_args
from ray_graded_penalty.backends.generic import RankKeeper
from ray_graded_penalty.backends.hyperopt import HyperOptRankKeeper
from ray_graded_penalty.backends.nevergrad import NevergradRankKeeper, is_nevergrad
from ray_graded_penalty.backends.optuna import GoodGroupSize, OptunaRankKeeper, tpe_sampler
from ray_graded_penalty.compat import base_searcher, inner_searchers

BACKENDS = ("optuna", "hyperopt")
HYPEROPT_STARTUP_TRIALS = 10
HYPEROPT_GAMMA = 1.0

__all__ = ["BACKENDS", "RankKeeper", "build_backend", "inner_searcher", "is_hyperopt", "keeper_for"]


def build_backend(
    name: str,
    *,
    seed: Optional[int] = None,
    points_to_evaluate: Optional[List[Dict[str, Any]]] = None,
) -> Searcher:
    """Build the inner searcher called ``name`` ("optuna" or "hyperopt")."""
    if name == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(sampler=tpe_sampler(seed=seed, gamma=GoodGroupSize()),
                            points_to_evaluate=points_to_evaluate)
    if name == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        try:
            import hyperopt  # noqa: F401 - Ray's HyperOptSearch needs it, and says so less clearly
        except ImportError:
            raise ImportError('the "hyperopt" backend needs HyperOpt, an extra of this package: '
                              'pip install "ray-graded-penalty[hyperopt]"') from None

        return HyperOptSearch(
            points_to_evaluate=points_to_evaluate, random_state_seed=seed,
            n_initial_points=HYPEROPT_STARTUP_TRIALS, gamma=HYPEROPT_GAMMA,
        )
    raise ValueError(
        f"unknown searcher {name!r}: expected one of {list(BACKENDS)} "
        f"or an instance of ray.tune.search.Searcher"
    )


def inner_searcher(
    searcher: Union[str, Searcher],
    *,
    seed: Optional[int] = None,
    points_to_evaluate: Optional[List[Dict[str, Any]]] = None,
) -> Searcher:
    """The searcher to wrap: a built-in backend by name, or the user's own ``Searcher``."""
    check_backend_args(seed, points_to_evaluate)
    if isinstance(searcher, str):
        return build_backend(searcher, seed=seed, points_to_evaluate=points_to_evaluate)
    if not isinstance(searcher, Searcher):
        raise TypeError(f"searcher must be one of {list(BACKENDS)} or a ray.tune.search.Searcher "
                        f"instance, got {type(searcher).__name__}: {searcher!r}")
    from ray.tune.search import Repeater

    if any(isinstance(s, Repeater) for s in inner_searchers(searcher)):
        raise ValueError(f"GradedPenaltySearcher does not wrap a Repeater. {REPEATER_REFUSED}")
    if any(type(s).__name__ == "GradedPenaltySearcher" for s in inner_searchers(searcher)):
        raise ValueError("GradedPenaltySearcher does not wrap another GradedPenaltySearcher: the inner one would "
                         "be told the outer one's penalties as successes. Wrap the inner one's searcher once")
    if points_to_evaluate is not None or seed is not None:
        raise ValueError(f"points_to_evaluate and seed configure the built-in backends {list(BACKENDS)}; "
                         f"set them on your {type(searcher).__name__} instead")
    return searcher


def is_hyperopt(searcher: Searcher) -> bool:
    """Whether ``searcher``'s base searcher is Ray's ``HyperOptSearch``."""
    from ray.tune.search.hyperopt import HyperOptSearch

    return isinstance(base_searcher(searcher), HyperOptSearch)


def keeper_for(searcher: Searcher) -> RankKeeper:
    """The strongest :class:`RankKeeper` that ``searcher``'s base searcher supports."""
    from ray.tune.search.optuna import OptunaSearch

    base, name = base_searcher(searcher), type(searcher).__name__
    if isinstance(base, OptunaSearch):
        return OptunaRankKeeper(base, name)
    if is_hyperopt(searcher):
        return HyperOptRankKeeper(base, name)
    if is_nevergrad(base):
        return NevergradRankKeeper(searcher, name)
    return RankKeeper(searcher, name)
