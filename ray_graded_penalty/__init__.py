"""Graded failure penalties for Ray Tune: failed trials become finite scores TPE learns from.

Public API:
    GradedPenaltySearcher: the Ray Tune ``Searcher`` wrapping Optuna's or HyperOpt's TPE.
    GradedPenaltyCallback: its ``tune.Callback`` (``searcher.callback``).
    PenaltyPolicy, Tier, ErrorModifier: the penalty policy, configurable.
    SLO: a bound on a reported metric; misses rank below successes, far misses count as failures.
    TrialTimeout: a hard per-trial wall-clock timeout, usable on its own.
    GoodGroupSize: TPE's good-group size with many trials at once, for your own TPESampler.
    TrialOutcome: what the searcher told of one finished trial (``searcher.outcomes``).
    DEFAULT_TIERS, DEFAULT_MODIFIERS: the default policy's tiers and error classes, to extend.
"""

from ray_graded_penalty._core.legacy import install_old_names as _install_old_names
from ray_graded_penalty._core.outcomes import TrialOutcome
from ray_graded_penalty.backends.optuna import GoodGroupSize
from ray_graded_penalty.callback import GradedPenaltyCallback
from ray_graded_penalty.policy import DEFAULT_MODIFIERS, DEFAULT_TIERS, ErrorModifier, PenaltyPolicy, Tier
from ray_graded_penalty.searcher import GradedPenaltySearcher
from ray_graded_penalty.slo import SLO
from ray_graded_penalty.timeout import TrialTimeout

__all__ = [
    "DEFAULT_MODIFIERS",
    "DEFAULT_TIERS",
    "ErrorModifier",
    "GoodGroupSize",
    "GradedPenaltyCallback",
    "GradedPenaltySearcher",
    "PenaltyPolicy",
    "SLO",
    "Tier",
    "TrialOutcome",
    "TrialTimeout",
]
__version__ = "0.6.0.dev0"

from ray_graded_penalty.compat import check_versions as _check_versions  # noqa: E402

_check_versions()
_install_old_names()  # the modules 0.6 made private, by their 0.5 names, until 0.7
