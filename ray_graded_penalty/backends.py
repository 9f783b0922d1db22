"""The inner TPE searchers, and how each keeps failures below successes over its history.

Two built-in backends wrap Ray's own searchers, so search-space conversion,
``points_to_evaluate`` and checkpointing behave exactly as Ray users know them:

- ``"optuna"``: ``OptunaSearch`` with Optuna's ``TPESampler`` (joint, constant liar, failures
  ranked last), whose good group is a :class:`~ray_graded_penalty.good_group.GoodGroupSize`:
  TPE's own one trial at a time, the best tenth of the successes while others run.
- ``"hyperopt"``: ``HyperOptSearch`` (HyperOpt's TPE) with 10 random start-up trials and
  ``gamma=1.0``: a good group of ``ceil(sqrt(n))`` trials, Optuna's size at 100 trials. Ray's
  defaults (20 and 0.25, a good group of 2 at 50 trials) waste the failures' information; see
  ``benchmarks/RESULTS.md``.

A :class:`RankKeeper` knows how one backend can keep every told failure ranked below every
success, including successes that arrive later:

- Optuna: each failure is also an *infeasible* trial, its violation ``1 + rank`` (the penalty
  magnitude with ties broken by progress); Optuna's TPE ranks every feasible trial above every
  infeasible one and infeasible ones by violation, so the order holds whatever comes later.
  With Optuna's in-memory storage (Ray's default) the stored values of failures are also
  rewritten when the placement moves, so the study's values agree with that order.
- HyperOpt: the losses of failures already told are rewritten when the placement moves.
- Any other searcher: each failure is placed below every success told *before* it.

Everything version-dependent, and every private attribute read, is in
:mod:`ray_graded_penalty.compat`.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from ray.tune.search import Searcher
from ray.tune.utils.util import flatten_dict, unflatten_dict

from ray_graded_penalty import compat
from ray_graded_penalty.good_group import GoodGroupSize

logger = logging.getLogger("ray_graded_penalty")

BACKENDS = ("optuna", "hyperopt")
HYPEROPT_STARTUP_TRIALS = 10
HYPEROPT_GAMMA = 1.0


def failure_violation(rank: float) -> float:
    """The infeasibility a failure of ``rank`` is told with: above 1, so above every SLO miss."""
    return 1.0 + rank


def build_backend(
    name: str,
    *,
    seed: Optional[int] = None,
    points_to_evaluate: Optional[List[Dict[str, Any]]] = None,
) -> Searcher:
    """Build the inner searcher called ``name`` ("optuna" or "hyperopt")."""
    if name == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        sampler = compat.tpe_sampler(seed=seed, gamma=GoodGroupSize())
        return OptunaSearch(sampler=sampler, points_to_evaluate=points_to_evaluate)
    if name == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(
            points_to_evaluate=points_to_evaluate, random_state_seed=seed,
            n_initial_points=HYPEROPT_STARTUP_TRIALS, gamma=HYPEROPT_GAMMA,
        )
    raise ValueError(
        f"unknown searcher {name!r}: expected one of {list(BACKENDS)} "
        f"or an instance of ray.tune.search.Searcher"
    )


class RankKeeper:
    """The generic guarantee: a failure ranks below every success told before it."""

    whole_history = False

    def __init__(self, search: Searcher) -> None:
        self._search = search

    def before_suggest(self) -> None:
        """Called before each suggestion."""

    def before_tell(self, trial_id: str, violation: float, attrs: Optional[Dict[str, Any]] = None) -> None:
        """Called just before the inner searcher is told a trial that ranks below every
        success: a failure (``violation`` above 1) or an SLO miss (between 0 and 1).
        ``attrs`` describe it (penalty, error class, elapsed time) for whoever looks at the
        inner searcher's history."""

    def move_failures(self, values: Dict[str, List[float]]) -> bool:
        """The placement moved: ``values`` maps trials told below the successes to their new
        values (one per objective).

        Returns True when the inner searcher's history now holds these values.
        """
        return False

    def add_history(self, key: str, config: Dict[str, Any], value: float, violation: Optional[float]) -> None:
        """Add an earlier trial (below every success when ``violation`` is set) to the model."""
        try:
            self._search.add_evaluated_point(config, value)
        except NotImplementedError:
            raise NotImplementedError(
                f"warm start needs an inner searcher with add_evaluated_point; "
                f"{type(self._search).__name__} has none (both built-in backends take a warm start)"
            ) from None

    def get_state(self) -> Dict[str, Any]:
        """What must survive a checkpoint (the searcher itself is not part of it)."""
        return {}

    def set_state(self, state: Dict[str, Any]) -> None:
        """Load what :meth:`get_state` returned."""


class OptunaRankKeeper(RankKeeper):
    """Marks each failure infeasible and, for Optuna's in-memory storage, rewrites the values
    of failures already told when the placement moves; keeps the good group's counts."""

    def __init__(self, search: Searcher) -> None:
        super().__init__(search)
        self._view = compat.OptunaSearchView(search)
        self._ids: Dict[str, int] = {}  # Ray trial id -> Optuna storage trial id, below successes
        self._feasible: Dict[int, bool] = {}  # trial number -> feasible, for finished trials
        self._warned = False

    @property
    def whole_history(self) -> bool:  # type: ignore[override]
        return compat.sampler_ranks_infeasible_last(self._view.sampler) or self._in_memory()

    def _in_memory(self) -> bool:
        from optuna.storages import InMemoryStorage

        return isinstance(getattr(self._view.study, "_storage", None), InMemoryStorage)

    def before_suggest(self) -> None:
        gamma = compat.tpe_gamma(self._view.sampler)
        study = self._view.study
        if not isinstance(gamma, GoodGroupSize) or study is None:
            return
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
        pending = successes = 0
        for t in trials:
            if t.state == TrialState.RUNNING:
                pending += 1
                continue
            feasible = self._feasible.get(t.number)
            if feasible is None:  # a finished trial's feasibility never changes: look once
                feasible = self._feasible[t.number] = compat.violation(t) <= 0
            successes += feasible
        gamma.pending, gamma.successes = pending, successes

    def before_tell(self, trial_id: str, violation: float, attrs: Optional[Dict[str, Any]] = None) -> None:
        trials = self._view.live_trials
        study = self._view.study
        if trial_id not in trials or study is None:
            logger.warning(
                "Cannot mark trial %s infeasible in the Optuna study (OptunaSearch does not know "
                "it); it is told as a completed value only.", trial_id,
            )
            return
        if not compat.sampler_ranks_infeasible_last(self._view.sampler) and not self._warned:
            self._warned = True
            logger.warning(
                "The sampler of this OptunaSearch does not rank infeasible trials last (Optuna %s "
                "reads constraints only through TPESampler(constraints_func=...)); failures rank "
                "below every success %s. Use GradedPenaltySearcher(\"optuna\", ...) for the full "
                "guarantee.", compat.OPTUNA,
                "over the whole history through their stored values (in-memory storage)"
                if self._in_memory() else "told before them",
            )
        compat.mark_infeasible(study, trials[trial_id], violation)
        for key, value in (attrs or {}).items():  # shown by optuna-dashboard as user attributes
            trials[trial_id].set_user_attr(f"graded_penalty.{key}", value)
        self._ids[trial_id] = compat.trial_number_id(trials[trial_id])

    def add_history(self, key: str, config: Dict[str, Any], value: float, violation: Optional[float]) -> None:
        import optuna

        study, distributions = self._view.study, self._view.distributions
        if study is None or distributions is None:
            raise RuntimeError("warm start needs the search space: it is applied once Tune sets it")
        attrs = compat.history_attrs(violation)
        study.add_trial(optuna.trial.create_trial(
            params=config, distributions=distributions, value=value, system_attrs=attrs,
        ))
        if violation is not None:
            self._ids[key] = study.trials[-1]._trial_id

    def move_failures(self, values: Dict[str, float]) -> bool:
        study = self._view.study
        if study is None:
            return False
        return compat.rewrite_values(
            study, {self._ids[t]: v for t, v in values.items() if t in self._ids}
        )

    def get_state(self) -> Dict[str, Any]:
        return {"ids": dict(self._ids)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._ids = dict(state.get("ids", {}))


class HyperOptRankKeeper(RankKeeper):
    """Rewrites the losses of failures already told when the placement moves, and adds
    earlier trials straight into HyperOpt's trial list (``HyperOptSearch`` has no
    ``add_evaluated_point``)."""

    whole_history = True

    def __init__(self, search: Searcher) -> None:
        super().__init__(search)
        self._view = compat.HyperOptSearchView(search)
        self._tids: Dict[str, int] = {}  # Ray trial id -> hyperopt tid, for told failures

    def before_tell(self, trial_id: str, violation: float, attrs: Optional[Dict[str, Any]] = None) -> None:
        live = self._view.live_tids
        if trial_id in live:
            self._tids[trial_id] = live[trial_id]

    def add_history(self, key: str, config: Dict[str, Any], value: float, violation: Optional[float]) -> None:
        from hyperopt import JOB_STATE_DONE
        from hyperopt.fmin import generate_trial

        trials, domain = self._view.trials, self._view.domain
        if trials is None or domain is None:
            raise RuntimeError("warm start needs the search space: it is applied once Tune sets it")
        labels = set(domain.params)
        if set(config) != labels:
            raise ValueError(
                f"an earlier trial's parameters {sorted(config)} do not match the search space's "
                f"{sorted(labels)}: a HyperOpt warm start needs every parameter, and no other"
            )
        point = unflatten_dict(config)
        self._view.choices_as_indices(point)
        tid = trials.new_trial_ids(1)[0]
        doc = generate_trial(tid, flatten_dict(point))
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": self._view.loss_sign * value, "status": "ok"}
        trials.insert_trial_docs([doc])
        trials.refresh()
        if violation is not None:
            self._tids[key] = tid

    def move_failures(self, values: Dict[str, List[float]]) -> bool:
        trials = self._view.trials
        if trials is None:
            logger.warning("HyperOptSearch has no trial list: failures told stay where they are.")
            return False
        by_tid = {t["tid"]: t for t in trials._dynamic_trials}
        sign = self._view.loss_sign
        for trial_id, value in values.items():
            ho_trial = by_tid.get(self._tids.get(trial_id, -1))
            if ho_trial is not None and ho_trial.get("result", {}).get("status") == "ok":
                ho_trial["result"]["loss"] = sign * value[0]  # HyperOpt: one objective
        trials.refresh()
        return True

    def get_state(self) -> Dict[str, Any]:
        return {"tids": dict(self._tids)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._tids = dict(state.get("tids", {}))


def rank_keeper_for(searcher: Searcher) -> RankKeeper:
    """The strongest :class:`RankKeeper` that ``searcher``'s base searcher supports."""
    base = compat.base_searcher(searcher)
    from ray.tune.search.optuna import OptunaSearch

    if isinstance(base, OptunaSearch):
        return OptunaRankKeeper(base)
    try:
        from ray.tune.search.hyperopt import HyperOptSearch
    except ImportError:  # pragma: no cover - hyperopt is a dependency
        return RankKeeper(searcher)
    if isinstance(base, HyperOptSearch):
        return HyperOptRankKeeper(base)
    return RankKeeper(searcher)
