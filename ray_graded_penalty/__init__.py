"""Graded failure penalties for Ray Tune: failed trials become finite scores TPE learns from.

Public API:
    GradedPenaltySearcher: the Ray Tune ``Searcher`` wrapping Optuna's or HyperOpt's TPE.
    GradedPenaltyCallback: its ``tune.Callback`` (``searcher.callback``).
    PenaltyPolicy, Tier, ErrorModifier: the penalty policy, configurable.
    TrialTimeout: a hard per-trial wall-clock timeout, usable on its own.
"""

from ray_graded_penalty.callback import GradedPenaltyCallback
from ray_graded_penalty.placement import FailurePlacement
from ray_graded_penalty.policy import (
    DEFAULT_MODIFIERS,
    DEFAULT_TIERS,
    ErrorModifier,
    Grade,
    PenaltyPolicy,
    Tier,
)
from ray_graded_penalty.records import TrialOutcome
from ray_graded_penalty.searcher import GradedPenaltySearcher
from ray_graded_penalty.timeout import TrialTimeout

__all__ = [
    "DEFAULT_MODIFIERS",
    "DEFAULT_TIERS",
    "ErrorModifier",
    "FailurePlacement",
    "Grade",
    "GradedPenaltyCallback",
    "GradedPenaltySearcher",
    "PenaltyPolicy",
    "Tier",
    "TrialOutcome",
    "TrialTimeout",
]
__version__ = "0.2.0"
