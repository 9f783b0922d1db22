"""The inner TPE searchers, and how each keeps failures below successes over its history.

Two built-in backends wrap Ray's own searchers, so search-space conversion,
``points_to_evaluate`` and checkpointing behave exactly as Ray users know them:

- ``"optuna"``: ``OptunaSearch`` with Optuna's ``TPESampler`` (``constant_liar=True``, so
  trials running at the same time do not pile onto one configuration).
- ``"hyperopt"``: ``HyperOptSearch`` (HyperOpt's TPE) with 10 random start-up trials and
  ``gamma=1.0``: a good group of ``ceil(sqrt(n))`` trials, Optuna's size at 100 trials. Ray's
  defaults (20 and 0.25, a good group of 2 at 50 trials) waste the failures' information; see
  ``benchmarks/RESULTS.md``.

A :class:`RankKeeper` knows how one backend can keep every told failure ranked below every
success, including successes that arrive later:

- Optuna: each failure is also an *infeasible* trial (``Trial.set_constraint`` with its
  rank, the penalty magnitude with ties broken by progress, as the violation). Optuna's TPE
  ranks every feasible trial above every infeasible one and infeasible ones by violation, so
  the order holds whatever comes later.
  With Optuna's in-memory storage (Ray's default) the stored values of failures are also
  rewritten when the placement moves, so the study's values agree with that order.
- HyperOpt: the losses of failures already told are rewritten when the placement moves.
- Any other searcher: each failure is placed below every success told *before* it.

The keepers read private attributes of Ray's searchers (``_ot_trials``, ``_ot_study``,
``_live_trial_mapping``, ``_hpopt_trials``) and of Optuna's ``InMemoryStorage``; the tests
check them against the pinned versions. Where one is missing, the keeper logs a warning and
falls back to the guarantee of any other searcher.
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Any, Dict, List, Optional

from ray.tune.search import Searcher
from ray.tune.utils.util import flatten_dict, unflatten_dict

logger = logging.getLogger("ray_graded_penalty")

BACKENDS = ("optuna", "hyperopt")
CONSTRAINT_KEY = "graded_failure"
HYPEROPT_STARTUP_TRIALS = 10
HYPEROPT_GAMMA = 1.0


def build_backend(
    name: str,
    *,
    seed: Optional[int] = None,
    points_to_evaluate: Optional[List[Dict[str, Any]]] = None,
) -> Searcher:
    """Build the inner searcher called ``name`` ("optuna" or "hyperopt")."""
    if name == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        with warnings.catch_warnings():  # constant_liar is marked experimental by Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
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


def base_searcher(searcher: Searcher) -> Searcher:
    """The innermost searcher under Ray's wrappers (ConcurrencyLimiter, Repeater)."""
    while hasattr(searcher, "searcher"):
        searcher = searcher.searcher
    return searcher


class RankKeeper:
    """The generic guarantee: a failure ranks below every success told before it."""

    whole_history = False

    def __init__(self, search: Searcher) -> None:
        self._search = search

    def before_failure(self, trial_id: str, rank: float) -> None:
        """Called just before the inner searcher is told the failure of ``trial_id``.

        ``rank`` orders failures (larger is worse): the magnitude with ties broken by progress.
        """

    def move_failures(self, values: Dict[str, float]) -> bool:
        """The placement moved: ``values`` maps failed trials to new values.

        Returns True when the inner searcher's history now holds these values.
        """
        return False

    def add_history(self, key: str, config: Dict[str, Any], value: float, rank: Optional[float]) -> None:
        """Add an earlier trial (a failure when ``rank`` is set) to the inner model."""
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
    """Marks each failure infeasible (violation = its rank) and, for Optuna's in-memory
    storage, rewrites the values of failures already told when the placement moves."""

    whole_history = True

    def __init__(self, search: Searcher) -> None:
        super().__init__(search)
        self._ids: Dict[str, int] = {}  # Ray trial id -> Optuna storage trial id, for failures

    def before_failure(self, trial_id: str, rank: float) -> None:
        trials = getattr(self._search, "_ot_trials", None)
        if trials is None or trial_id not in trials:
            logger.warning(
                "Cannot mark trial %s infeasible in the Optuna study (OptunaSearch has no "
                "_ot_trials entry); it is told as a completed value only.",
                trial_id,
            )
            return
        ot_trial = trials[trial_id]
        ot_trial.set_constraint(CONSTRAINT_KEY, rank)
        self._ids[trial_id] = ot_trial._trial_id

    def add_history(self, key: str, config: Dict[str, Any], value: float, rank: Optional[float]) -> None:
        import optuna

        search = self._search
        if not isinstance(getattr(search, "_space", None), dict) or search._ot_study is None:
            raise RuntimeError("warm start needs the search space: it is applied once Tune sets it")
        attrs = {} if rank is None else {f"constraints:{CONSTRAINT_KEY}": rank}
        search._ot_study.add_trial(optuna.trial.create_trial(
            params=config, distributions=search._space, value=value, system_attrs=attrs,
        ))
        if rank is not None:
            self._ids[key] = search._ot_study.trials[-1]._trial_id

    def move_failures(self, values: Dict[str, float]) -> bool:
        from optuna.storages import InMemoryStorage

        study = getattr(self._search, "_ot_study", None)
        storage = getattr(study, "_storage", None)
        if not isinstance(storage, InMemoryStorage):
            return False  # constraints alone keep TPE's ranking; the stored values stay
        with storage._lock:
            for trial_id, value in values.items():
                if trial_id in self._ids:
                    frozen = copy.copy(storage._get_trial(self._ids[trial_id]))
                    frozen.values = [value]
                    storage._set_trial(self._ids[trial_id], frozen)
        return True

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
        self._tids: Dict[str, int] = {}  # Ray trial id -> hyperopt tid, for told failures

    def before_failure(self, trial_id: str, rank: float) -> None:
        live = getattr(self._search, "_live_trial_mapping", {})
        if trial_id in live:
            self._tids[trial_id] = live[trial_id][0]

    def add_history(self, key: str, config: Dict[str, Any], value: float, rank: Optional[float]) -> None:
        from hyperopt import JOB_STATE_DONE
        from hyperopt.fmin import generate_trial

        search = self._search
        trials, domain = getattr(search, "_hpopt_trials", None), getattr(search, "domain", None)
        if trials is None or domain is None:
            raise RuntimeError("warm start needs the search space: it is applied once Tune sets it")
        labels = set(domain.params)
        if set(config) != labels:
            raise ValueError(
                f"an earlier trial's parameters {sorted(config)} do not match the search space's "
                f"{sorted(labels)}: a HyperOpt warm start needs every parameter, and no other"
            )
        point = unflatten_dict(config)
        search._convert_categories_to_indices(point)  # HyperOpt stores a choice as its index
        tid = trials.new_trial_ids(1)[0]
        doc = generate_trial(tid, flatten_dict(point))
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": search.metric_op * value, "status": "ok"}
        trials.insert_trial_docs([doc])
        trials.refresh()
        if rank is not None:
            self._tids[key] = tid

    def move_failures(self, values: Dict[str, float]) -> bool:
        trials = getattr(self._search, "_hpopt_trials", None)
        if trials is None:
            logger.warning("HyperOptSearch has no _hpopt_trials: failures told stay where they are.")
            return False
        by_tid = {t["tid"]: t for t in trials._dynamic_trials}
        sign = self._search.metric_op  # HyperOpt minimizes: loss = metric_op * value
        for trial_id, value in values.items():
            ho_trial = by_tid.get(self._tids.get(trial_id, -1))
            if ho_trial is not None and ho_trial.get("result", {}).get("status") == "ok":
                ho_trial["result"]["loss"] = sign * value
        trials.refresh()
        return True

    def get_state(self) -> Dict[str, Any]:
        return {"tids": dict(self._tids)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._tids = dict(state.get("tids", {}))


def rank_keeper_for(searcher: Searcher) -> RankKeeper:
    """The strongest :class:`RankKeeper` that ``searcher``'s base searcher supports."""
    base = base_searcher(searcher)
    try:
        from ray.tune.search.optuna import OptunaSearch

        if isinstance(base, OptunaSearch):
            return OptunaRankKeeper(base)
    except ImportError:  # pragma: no cover - optuna is a dependency
        pass
    try:
        from ray.tune.search.hyperopt import HyperOptSearch

        if isinstance(base, HyperOptSearch):
            return HyperOptRankKeeper(base)
    except ImportError:  # pragma: no cover - hyperopt is a dependency
        pass
    return RankKeeper(searcher)
