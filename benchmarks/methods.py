"""The methods the benchmark compares: what ships (the package's two backends), what Ray ships,
random search, and two ways of telling failures without the package's ranking (a flat
penalty, the seed design's fixed scale). Each is driven through Ray's Searcher interface
without Ray's loop. What was tried and not adopted is in ``research/variants.py``.

Every method gets the same problem, seed and budget; a failure is reported the way that
method would hear of it in a real run.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Dict, Optional

import optuna
from ray.tune.search import Searcher
from ray.tune.search.hyperopt import HyperOptSearch
from ray.tune.search.optuna import OptunaSearch

from benchmarks.problems import Outcome
from ray_graded_penalty import GradedPenaltySearcher, PenaltyPolicy
from ray_graded_penalty.callback import Evidence

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("ray_graded_penalty").setLevel(logging.ERROR)
logging.getLogger("ray.tune.search.optuna.optuna_search").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

TIMEOUT_S = 600.0


class Method:
    """Asks one searcher for configs and tells it outcomes, as its Ray integration would.

    ``hold_failures``: the concurrent simulation tells a failure only once every trial started
    before it has ended (a variant tried for many trials at once, in ``research/variants.py``).
    """

    def __init__(self, searcher: Searcher, tell_failure: Callable[["Method", str, Outcome], None],
                 hold_failures: bool = False):
        self.searcher = searcher
        self._tell_failure = tell_failure
        self.hold_failures = hold_failures

    def setup(self, space: Dict[str, Any], mode: str) -> None:
        self.searcher.set_search_properties("value", mode, space)

    def suggest(self, trial_id: str) -> Optional[Dict[str, Any]]:
        return self.searcher.suggest(trial_id)

    def tell(self, trial_id: str, outcome: Outcome) -> None:
        if outcome.failed:
            self._tell_failure(self, trial_id, outcome)
        else:
            self.searcher.on_trial_complete(trial_id, result={"value": outcome.value})


def _graded(method: Method, trial_id: str, outcome: Outcome) -> None:
    # As in Ray: the searcher hears of the error first, then the callback brings its details.
    if outcome.progress is not None or outcome.stage is not None:
        tell_as_tune_would(method.searcher, trial_id, outcome)
        return
    method.searcher.on_trial_complete(trial_id, error=True)
    record_failure(method.searcher, trial_id, outcome)


def tell_as_tune_would(searcher: GradedPenaltySearcher, trial_id: str, outcome: Outcome) -> None:
    """A failure whose trial reported how far it got or failed in a published stage, told in
    the order Ray's loop and the package's callback tell it: its result, the watchdog's verdict
    (a trial that ran its whole timeout), Ray's error, then the callback's evidence."""
    if outcome.progress is not None:
        searcher.on_trial_result(trial_id, {"progress": outcome.progress})
    if outcome.fraction >= 1.0:
        searcher.trial_timed_out(trial_id, stage=outcome.stage)
    searcher.on_trial_complete(trial_id, error=True)
    searcher.trial_errored(trial_id, Evidence(outcome.error, stage=outcome.stage))


def _graded_by_clock(method: Method, trial_id: str, outcome: Outcome) -> None:
    # What the package hears of a trainable that reports nothing: its time, its error text.
    method.searcher.on_trial_complete(trial_id, error=True)
    record_failure(method.searcher, trial_id, outcome)


def record_failure(searcher: GradedPenaltySearcher, trial_id: str, outcome: Outcome) -> None:
    """Tell the package's searcher a failure's details; the class the trial knew, if any, when
    the searcher's policy grades it (a flat policy has none: it reads every failure alike)."""
    known = outcome.error_class in (*searcher.policy.error_classes, "timeout")
    searcher.record_failure(trial_id, outcome.fraction * TIMEOUT_S, outcome.error,
                            error_class=outcome.error_class if known else None)


def _dropped(method: Method, trial_id: str, outcome: Outcome) -> None:
    method.searcher.on_trial_complete(trial_id, error=True)  # what Ray tells a searcher


def _design_scale(method: Method, trial_id: str, outcome: Outcome) -> None:
    penalty = PenaltyPolicy().penalty(outcome.fraction * TIMEOUT_S, TIMEOUT_S, outcome.error, method.searcher.mode)
    method.searcher.on_trial_complete(trial_id, result={"value": penalty})


FLAT = PenaltyPolicy(tiers=[(0.0, 1000.0)], modifiers=[], break_ties_by_progress=False)

METHODS: Dict[str, Callable[[int], Method]] = {
    "graded_optuna": lambda seed: Method(GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed),
                                         _graded),
    "graded_hyperopt": lambda seed: Method(GradedPenaltySearcher("hyperopt", trial_timeout_s=TIMEOUT_S, seed=seed),
                                           _graded),
    "optuna_search": lambda seed: Method(OptunaSearch(seed=seed), _dropped),
    "hyperopt_search": lambda seed: Method(HyperOptSearch(random_state_seed=seed), _dropped),
    "random": lambda seed: Method(OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=seed)), _dropped),
    "flat_penalty": lambda seed: Method(
        GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed, policy=FLAT), _graded
    ),
    "design_fixed_scale": lambda seed: Method(OptunaSearch(seed=seed), _design_scale),
}

#: Where a worker process finds the shipped methods by name (``module:dict``).
CATALOG = "benchmarks.methods:METHODS"


def load_catalog(spec: str) -> Dict[str, Callable[[int], Method]]:
    """The methods named by ``spec`` (``module:dict``), importable in a worker process."""
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


DESCRIPTIONS = {
    "graded_optuna": "this package, Optuna backend (joint TPE, constant liar; while trials run at "
    "once, the good group is the best tenth of the successes)",
    "graded_hyperopt": "this package, HyperOpt backend (10 start-up trials, gamma 1.0)",
    "optuna_search": "Ray's OptunaSearch as it ships (failures dropped: FAIL)",
    "hyperopt_search": "Ray's HyperOptSearch as it ships (failures dropped)",
    "random": "random search (Optuna's RandomSampler)",
    "flat_penalty": "this package with a flat policy: every failure the same worst value",
    "design_fixed_scale": "OptunaSearch told the seed design's numbers, no ranking safeguard",
}
