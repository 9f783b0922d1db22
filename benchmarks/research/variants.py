"""What was tried on the way to the shipped methods, and not adopted: the variants measured
beside them (``python -m benchmarks.research.run``), in the harness of ``benchmarks/methods.py``.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Optional, Sequence

import optuna
from ray.tune.search.hyperopt import HyperOptSearch
from ray.tune.search.optuna import OptunaSearch

from benchmarks.methods import DESCRIPTIONS as SHIPPED_DESCRIPTIONS
from benchmarks.methods import METHODS, TIMEOUT_S, Method, _dropped, _graded
from benchmarks.problems import Outcome
from ray_graded_penalty import SLO, GoodGroupSize, GradedPenaltySearcher, PenaltyPolicy
from ray_graded_penalty.backends.optuna import OptunaView


def _pruned_with_progress(method: Method, trial_id: str, outcome: Outcome) -> None:
    """Optuna's other channel for partial trials: PRUNED, with progress as the last step.

    Optuna's TPE ranks pruned trials after completed ones, by step reached (later is better),
    then by the value reported at that step (here the design penalty).
    """
    search = method.searcher
    view = OptunaView(search)
    grade = PenaltyPolicy().grade(outcome.fraction * TIMEOUT_S, TIMEOUT_S, outcome.error)
    ot_trial = view.live_trials.pop(trial_id)
    ot_trial.report(grade.penalty(search.mode), step=round(1000 * grade.completion))
    view.study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)


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



def _graded_tpe(seed: int, good_group: bool, hold: bool = False,
                sampler: Callable[..., optuna.samplers.TPESampler] = optuna.samplers.TPESampler,
                policy: Optional[PenaltyPolicy] = None, slos: Sequence[SLO] = (), **tpe: Any) -> Method:
    """The Optuna backend's TPE with one setting changed (or built by ``sampler``, a subclass's
    constructor), under ``policy`` (the default policy when None) and ``slos``, through the public API."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tpe_sampler = sampler(
            seed=seed, multivariate=tpe.pop("multivariate", True), constant_liar=True,
            **({"gamma": GoodGroupSize()} if good_group else {}), **tpe,
        )
    searcher = GradedPenaltySearcher(OptunaSearch(sampler=tpe_sampler), trial_timeout_s=TIMEOUT_S, slos=list(slos),
                                     **({} if policy is None else {"policy": policy}))
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


#: Every method a research run can name: the shipped ones and the variants.
ALL_METHODS = {**METHODS, **VARIANTS, **CONCURRENCY_VARIANTS}

DESCRIPTIONS = {
    **SHIPPED_DESCRIPTIONS,
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
