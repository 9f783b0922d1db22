"""The methods compared, each driven through Ray's Searcher interface without Ray's loop.

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

from problems import Outcome
from ray_graded_penalty import GoodGroupSize, GradedPenaltySearcher, PenaltyPolicy

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("ray_graded_penalty").setLevel(logging.ERROR)
logging.getLogger("ray.tune.search.optuna.optuna_search").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

TIMEOUT_S = 600.0


class Method:
    """Asks one searcher for configs and tells it outcomes, as its Ray integration would.

    ``hold_failures``: the concurrent simulation tells a failure only once every trial started
    before it has ended (a variant tried for many trials at once; see asynchronous.py).
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
    method.searcher.on_trial_complete(trial_id, error=True)
    method.searcher.record_failure(trial_id, outcome.fraction * TIMEOUT_S, outcome.error)


def _dropped(method: Method, trial_id: str, outcome: Outcome) -> None:
    method.searcher.on_trial_complete(trial_id, error=True)  # what Ray tells a searcher


def _pruned_with_progress(method: Method, trial_id: str, outcome: Outcome) -> None:
    """Optuna's other channel for partial trials: PRUNED, with progress as the last step.

    Optuna's TPE ranks pruned trials after completed ones, by step reached (later is better),
    then by the value reported at that step (here the design penalty).
    """
    search = method.searcher
    grade = PenaltyPolicy().grade(outcome.fraction * TIMEOUT_S, TIMEOUT_S, outcome.error)
    ot_trial = search._ot_trials.pop(trial_id)
    ot_trial.report(grade.penalty(search.mode), step=round(1000 * grade.completion))
    search._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)


def _design_scale(method: Method, trial_id: str, outcome: Outcome) -> None:
    penalty = PenaltyPolicy().penalty(outcome.fraction * TIMEOUT_S, TIMEOUT_S, outcome.error, method.searcher.mode)
    method.searcher.on_trial_complete(trial_id, result={"value": penalty})


FLAT = PenaltyPolicy(tiers=[(0.0, 1000.0)], modifiers=[], break_ties_by_progress=False)

METHODS: Dict[str, Callable[[int], Method]] = {
    "graded_optuna": lambda seed: Method(GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed), _graded),
    "graded_hyperopt": lambda seed: Method(GradedPenaltySearcher("hyperopt", trial_timeout_s=TIMEOUT_S, seed=seed), _graded),
    "optuna_search": lambda seed: Method(OptunaSearch(seed=seed), _dropped),
    "hyperopt_search": lambda seed: Method(HyperOptSearch(random_state_seed=seed), _dropped),
    "random": lambda seed: Method(OptunaSearch(sampler=optuna.samplers.RandomSampler(seed=seed)), _dropped),
    "flat_penalty": lambda seed: Method(
        GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed, policy=FLAT), _graded
    ),
    "design_fixed_scale": lambda seed: Method(OptunaSearch(seed=seed), _design_scale),
}

# What was tried on the way to the methods above, measured on the same problems and seeds.
VARIANTS: Dict[str, Callable[[int], Method]] = {
    "graded_optuna_no_tie_break": lambda seed: Method(GradedPenaltySearcher(
        "optuna", trial_timeout_s=TIMEOUT_S, seed=seed, policy=PenaltyPolicy(break_ties_by_progress=False),
    ), _graded),
    "graded_optuna_tiers_only": lambda seed: Method(GradedPenaltySearcher(
        "optuna", trial_timeout_s=TIMEOUT_S, seed=seed, policy=PenaltyPolicy(modifiers=[]),
    ), _graded),
    "optuna_pruned_progress": lambda seed: Method(OptunaSearch(seed=seed), _pruned_with_progress),
    "graded_hyperopt_ray_defaults": lambda seed: Method(GradedPenaltySearcher(
        HyperOptSearch(random_state_seed=seed), trial_timeout_s=TIMEOUT_S,
    ), _graded),
    "hyperopt_search_10_1.0": lambda seed: Method(
        HyperOptSearch(random_state_seed=seed, n_initial_points=10, gamma=1.0), _dropped
    ),
}



def _graded_tpe(seed: int, good_group: bool, hold: bool = False, **tpe: Any) -> Method:
    """The Optuna backend's TPE with one setting changed, through the public API."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(
            seed=seed, multivariate=tpe.pop("multivariate", True), constant_liar=True,
            **({"gamma": GoodGroupSize()} if good_group else {}), **tpe,
        )
    searcher = GradedPenaltySearcher(OptunaSearch(sampler=sampler), trial_timeout_s=TIMEOUT_S)
    return Method(searcher, _graded, hold_failures=hold)


# What was tried on the way to the Optuna backend's behaviour with many trials at once
# (benchmarks/asynchronous.py), measured at W = 16 and 64 on every problem.
CONCURRENCY_VARIANTS: Dict[str, Callable[[int], Method]] = {
    "graded_optuna_0.2": lambda seed: _graded_tpe(seed, good_group=False),
    "graded_optuna_0.2_held": lambda seed: _graded_tpe(seed, good_group=False, hold=True),
    "graded_optuna_0.2_independent": lambda seed: _graded_tpe(seed, good_group=False, multivariate=False),
    "graded_optuna_held": lambda seed: _graded_tpe(seed, good_group=True, hold=True),
    "graded_optuna_independent": lambda seed: _graded_tpe(seed, good_group=True, multivariate=False),
}

ALL_METHODS = {**METHODS, **VARIANTS, **CONCURRENCY_VARIANTS}

DESCRIPTIONS = {
    "graded_optuna": "this package, Optuna backend (joint TPE, constant liar; while trials run at "
    "once, the good group is the best tenth of the successes)",
    "graded_hyperopt": "this package, HyperOpt backend (10 start-up trials, gamma 1.0)",
    "optuna_search": "Ray's OptunaSearch as it ships (failures dropped: FAIL)",
    "hyperopt_search": "Ray's HyperOptSearch as it ships (failures dropped)",
    "random": "random search (Optuna's RandomSampler)",
    "flat_penalty": "this package with a flat policy: every failure the same worst value",
    "design_fixed_scale": "OptunaSearch told the design document's numbers, no ranking safeguard",
    "graded_optuna_no_tie_break": "graded_optuna without the progress tie-break within a tier",
    "graded_optuna_tiers_only": "graded_optuna with the design tiers but no error modifiers",
    "optuna_pruned_progress": "OptunaSearch told each failure as a PRUNED trial: its progress as the "
    "step, its design penalty as the value",
    "graded_hyperopt_ray_defaults": "graded_hyperopt on Ray's HyperOptSearch defaults: 20 start-up "
    "trials, gamma 0.25",
    "hyperopt_search_10_1.0": "Ray's HyperOptSearch with graded_hyperopt's settings (10 start-up "
    "trials, gamma 1.0), failures dropped",
    "graded_optuna_0.2": "the Optuna backend of version 0.2: TPE's own good group (the best tenth of "
    "all trials told, failures included) at every W",
    "graded_optuna_0.2_held": "graded_optuna_0.2, and each failure told only once every trial started "
    "before it has ended (until then it stays a pending trial)",
    "graded_optuna_0.2_independent": "graded_optuna_0.2 with independent (per-parameter) TPE "
    "instead of the joint one",
    "graded_optuna_held": "graded_optuna, and failures held as in graded_optuna_0.2_held",
    "graded_optuna_independent": "graded_optuna with independent (per-parameter) TPE",
}
