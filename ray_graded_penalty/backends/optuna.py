"""The Optuna backend: Ray's ``OptunaSearch`` with the package's TPE, and everything read of
Optuna's and ``OptunaSearch``'s internals. No other module of the package, its tests or its
benchmarks reads them.

Each failure (and SLO miss) is also an *infeasible* trial, by its severity's violation;
Optuna's TPE ranks every feasible trial above every infeasible one and infeasible ones by
violation, so the order holds whatever comes later. With Optuna's in-memory storage (Ray's
default) the stored values of failures are also rewritten when the placement moves, so the
study's values agree with that order.

Optuna's versions differ here: ``Trial.set_constraint`` and ``FrozenTrial.constraints`` are
new in 5.0, and 5.0's TPE ranks infeasible trials after feasible ones by itself. Before 5.0 a
sampler sees constraints only through its ``constraints_func`` (Optuna stores its result as
the system attribute ``"constraints"``), so the package's sampler sets one that reads the
violation it stored. Optuna 5.0 turned ``multivariate`` and ``constant_liar`` on by default;
the package's sampler sets both, so it samples alike everywhere. Its ``gamma=`` is deprecated
from Optuna 4.9 and goes in 6.0.

Example:
    >>> sampler = tpe_sampler(seed=0)
    >>> sampler_ranks_infeasible_last(sampler), sampler_settings(sampler)
    (True, {'multivariate': True, 'constant_liar': True})
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import optuna
from optuna.storages import InMemoryStorage
from optuna.trial import TrialState
from packaging.version import Version
from ray.tune.search import Searcher

from ray_graded_penalty._core.checks import check_past_parameters
from ray_graded_penalty._core.legacy import gone_names
from ray_graded_penalty._core.outcomes import config_key
from ray_graded_penalty.backends.generic import RankKeeper
from ray_graded_penalty.compat import OPTUNA

logger = logging.getLogger("ray_graded_penalty")

HAS_TRIAL_CONSTRAINTS = OPTUNA >= Version("5.0.0")
#: The key of the package's constraint on each trial told below the successes.
CONSTRAINT_KEY = "graded_failure"
_ATTR = f"graded_penalty:{CONSTRAINT_KEY}"  # before Optuna 5.0, the violation is kept here
#: Optuna's system attribute for a trial's constraints: before 5.0 a ``constraints_func``'s values
#: under it; from 5.0 each constraint under ``constraints:<key>``, the package's as below.
_CONSTRAINTS = "constraints"
_CONSTRAINT_ATTR = f"{_CONSTRAINTS}:{CONSTRAINT_KEY}"


class OptunaView:
    """What the package reads of a Ray ``OptunaSearch``: its study, live trials and space."""

    def __init__(self, search: Any) -> None:
        self.searcher = search

    @property
    def study(self) -> Optional["optuna.Study"]:
        return getattr(self.searcher, "_ot_study", None)

    @property
    def live_trials(self) -> Dict[str, "optuna.Trial"]:
        """Ray trial id -> the Optuna trial asked for it, while it runs."""
        return getattr(self.searcher, "_ot_trials", {}) or {}

    @property
    def distributions(self) -> Optional[Dict[str, Any]]:
        space = getattr(self.searcher, "_space", None)
        return space if isinstance(space, dict) else None

    @property
    def sampler(self) -> Any:
        study = self.study
        return study.sampler if study is not None else getattr(self.searcher, "_sampler", None)

    def in_memory(self) -> bool:
        """Whether the study is kept in Optuna's in-memory storage."""
        return isinstance(getattr(self.study, "_storage", None), InMemoryStorage)


# ----- the good group ----------------------------------------------------------------------------


class GoodGroupSize:
    """TPE's ``gamma``: its own ``min(ceil(share n), cap)`` one trial at a time, the best
    ``share`` of the successes while other trials are pending.

    How many trials TPE's good group holds, when failures are told and trials run at once.

    Optuna's TPE splits the trials it was told into a good group, the best ``gamma(n)`` of ``n``
    (``min(ceil(0.1 n), 25)``), and the rest; it proposes what looks like the good group and not
    like the rest. Told every failure, ``n`` counts failures as well as successes.

    One trial at a time that works well: ``benchmarks/RESULTS.md`` shows it. With many trials at
    once it does not. Failures end sooner than successes (a crash at load time, against a server
    that serves for the whole benchmark), so while W trials run, the trials told so far are mostly
    the fast failures, ``n`` grows with them, and the good group takes in every success there is,
    good or poor. TPE then proposes the inside of the region that has succeeded so far, almost
    never failing and hardly improving: with 16 trials at once on the pressure-vessel problem, 1
    of the 80 proposals after three timeouts failed and the best value stayed at 57,150 (18,520
    with the split below; ``benchmarks/RESULTS.md``, "Many trials at once").

    So while other trials are still running, the good group is the best tenth of the successes,
    as if the failures were not there (Ray's ``OptunaSearch``, which drops failures, has that
    split), and the failures keep their place below every success. One trial at a time nothing
    changes. While nothing has succeeded, the good group is TPE's own, among the graded failures.

    The searcher keeps :attr:`successes` and :attr:`pending` current; Optuna's ``TPESampler``
    calls the object with the number of finished trials.

    The same holds for a user's own ``TPESampler`` wrapped in the package (told every failure,
    unlike bare): its ``gamma`` is kept and given the successes' count while other trials run
    (``base``; see :func:`count_successes_while_pending`).

    Args:
        share: The share of trials (or of successes) in the good group.
        cap: The most trials the good group holds.
        base: A ``gamma`` of the user's, called with the count instead of ``share`` and ``cap``.

    Example:
       >>> size = GoodGroupSize()
       >>> size(200)                       # nothing known yet: TPE's own split
       20
       >>> size.successes, size.pending = 30, 15
       >>> size(200)                       # 15 trials still running: the best tenth of 30 successes
       3
       >>> size.pending = 0
       >>> size(200)                       # one at a time: TPE's own split
       20
    """

    def __init__(self, share: float = 0.1, cap: int = 25, base: Optional[Callable[[int], int]] = None) -> None:
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ValueError(f"share must be a number in (0, 1], got {share!r}")
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"cap must be a whole number, at least 1, got {cap!r}")
        if base is not None and not callable(base):
            raise TypeError(f"base must be a function of the number of trials (TPE's gamma), or None; got {base!r}")
        self.share = share
        self.cap = cap
        self.base = base
        self.successes = 0  # successes told to the model
        self.pending = 0  # trials suggested and not finished, other than the one being sampled

    def __call__(self, n: int) -> int:
        counted = self.successes if self.successes and self.pending else n
        return self.base(counted) if self.base is not None else min(math.ceil(self.share * counted), self.cap)

    def __repr__(self) -> str:
        if self.base is not None:
            return f"GoodGroupSize(base={self.base!r})"
        return f"GoodGroupSize(share={self.share}, cap={self.cap})"


def count_successes_while_pending(sampler: Any, study: "optuna.Study") -> bool:
    """Give a user's ``TPESampler`` the good group of :class:`GoodGroupSize` around its own
    ``gamma``; whether it has one now. Wrapped, TPE is told every failure; while other trials
    run, the failures that ended first fill its ``n``, and its good group takes in every
    success, good or poor. Measured with Optuna's default TPE at 16 trials at once: worse than
    bare on the pressure-vessel problem in 17 of 20 seeds before (``benchmarks/searchers.py``).
    One trial at a time its split is unchanged."""
    if not isinstance(sampler, optuna.samplers.TPESampler):
        return False
    if not isinstance(sampler._gamma, GoodGroupSize):
        base = sampler._gamma
        if base is None:  # Optuna 5 picks its default at the first sample, by the number of objectives
            from optuna.samplers._tpe import sampler as tpe

            base = tpe.default_gamma if len(study.directions) <= 1 else tpe.default_gamma_multiobjective
        sampler._gamma = GoodGroupSize(base=base)
    return True


# ----- the package's sampler ------------------------------------------------------------------


def tpe_sampler(seed: Optional[int] = None,
                gamma: Optional[Callable[[int], int]] = None) -> "optuna.samplers.TPESampler":
    """The package's TPE: joint (multivariate), constant liar, ranking infeasible trials last."""
    kwargs: Dict[str, Any] = {"seed": seed, "multivariate": True, "constant_liar": True}
    if gamma is not None:
        kwargs["gamma"] = gamma
    if not HAS_TRIAL_CONSTRAINTS:
        kwargs["constraints_func"] = stored_constraints
    with warnings.catch_warnings():
        # constant_liar and constraints_func are marked experimental; ``gamma`` is deprecated
        # from Optuna 4.9 and to be removed in 6.0, past the newest version tested here.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.TPESampler(**kwargs)


def stored_constraints(trial: "optuna.trial.FrozenTrial") -> Tuple[float]:
    """A ``constraints_func`` for Optuna before 5.0: the violation the package stored."""
    return (float(trial.system_attrs.get(_ATTR, 0.0)),)


def sampler_ranks_infeasible_last(sampler: Any) -> bool:
    """Whether ``sampler`` ranks the package's infeasible trials after every feasible one."""
    if not isinstance(sampler, optuna.samplers.TPESampler):
        return False
    return HAS_TRIAL_CONSTRAINTS or getattr(sampler, "_constraints_func", None) is stored_constraints


def sampler_reads_constraints(sampler: Any) -> bool:
    """Whether ``sampler`` reads the package's constraint at all: TPE as
    :func:`sampler_ranks_infeasible_last` says; from Optuna 5.0 also ``GPSampler`` and the NSGA
    samplers, which read every trial's constraints themselves (GP models feasibility, NSGA ranks
    by constrained domination); before 5.0 a sampler given ``constraints_func=stored_constraints``."""
    if sampler_ranks_infeasible_last(sampler):
        return True
    if HAS_TRIAL_CONSTRAINTS:
        samplers = optuna.samplers
        return isinstance(sampler, (samplers.GPSampler, samplers.NSGAIISampler, samplers.NSGAIIISampler))
    return getattr(sampler, "_constraints_func", None) is stored_constraints


def sampler_settings(sampler: Any) -> Dict[str, bool]:
    """A TPESampler's ``multivariate`` and ``constant_liar``."""
    return {"multivariate": sampler._multivariate, "constant_liar": sampler._constant_liar}


def tpe_gamma(sampler: Any) -> Any:
    """The ``gamma`` of a TPESampler (None for any other sampler)."""
    return getattr(sampler, "_gamma", None) if isinstance(sampler, optuna.samplers.TPESampler) else None


# ----- constraints and stored values ----------------------------------------------------------


def mark_infeasible(study: "optuna.Study", ot_trial: "optuna.Trial", violation: float) -> None:
    """Mark a running trial infeasible by ``violation`` (> 0) before it is told."""
    if HAS_TRIAL_CONSTRAINTS:
        ot_trial.set_constraint(CONSTRAINT_KEY, violation)
    else:
        study._storage.set_trial_system_attr(ot_trial._trial_id, _ATTR, violation)


def mark_feasible(study: "optuna.Study", ot_trial: "optuna.Trial") -> None:
    """Give a running trial about to be told as a success the package's constraint, feasible.

    From Optuna 5.0, a sampler that models constraints (``GPSampler``) needs the same ones on
    every trial: it raises "The number of constraints must be the same for all trials" when
    the failures carry one and the successes none. TPE reads a missing constraint as feasible,
    so this changes nothing for it. Before 5.0 a sampler reads constraints only through its
    own ``constraints_func``: nothing to do."""
    if HAS_TRIAL_CONSTRAINTS:
        ot_trial.set_constraint(CONSTRAINT_KEY, 0.0)


def mark_finished_feasible(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
    """Give a finished trial the package did not tell (``evaluated_rewards``,
    ``add_evaluated_point``) the package's constraint, feasible (see :func:`mark_feasible`), in
    Optuna's in-memory storage: a finished trial cannot change through Optuna's API."""
    storage: Any = study._storage  # an InMemoryStorage, whose private methods are not typed
    with storage._lock:
        frozen = copy.copy(storage._get_trial(trial._trial_id))
        frozen.system_attrs = {**frozen.system_attrs, _CONSTRAINT_ATTR: 0.0}
        storage._set_trial(trial._trial_id, frozen)


def history_attrs(violation: Optional[float]) -> Dict[str, Any]:
    """System attributes of a finished trial added to a study (a warm start): infeasible by
    ``violation``, or feasible when it is None. Every trial carries the constraint (see
    :func:`mark_feasible`); before Optuna 5.0 a feasible one needs it too: TPE ranks a trial
    without constraints after every other."""
    value = 0.0 if violation is None else violation
    if HAS_TRIAL_CONSTRAINTS:
        return {_CONSTRAINT_ATTR: value}
    return {_ATTR: value, _CONSTRAINTS: (value,)}


def violation(trial: "optuna.trial.FrozenTrial") -> float:
    """The package's violation on ``trial`` (0 for a feasible one): its own constraint only, not
    those of a user's ``constraints_func``, which Optuna 5.0 keeps beside it (they were summed
    in, so that a success the user's function found infeasible was read back as a failure)."""
    own = trial.constraints.get(CONSTRAINT_KEY) if HAS_TRIAL_CONSTRAINTS else None
    if own is None:  # before Optuna 5.0, or a study the package wrote then
        own = trial.system_attrs.get(_ATTR, 0.0)
    return max(0.0, float(own))


def is_feasible(trial: "optuna.trial.FrozenTrial") -> bool:
    """Whether Optuna's samplers take ``trial`` as feasible: every constraint met, a user's too."""
    if HAS_TRIAL_CONSTRAINTS:
        return all(v <= 0 for v in trial.constraints.values())
    # before 5.0 a constraints_func's values are kept as the system attribute "constraints"
    return violation(trial) <= 0 and all(v <= 0 for v in trial.system_attrs.get(_CONSTRAINTS) or ())


#: The violation a trial told below the successes without the constraint is read back with (GP
#: over a database study, see ``OptunaRankKeeper._constraints_kept``): a failure's is above 1.
_TOLD_BY_VALUE = {"failure": 2.0, "slo_miss": 0.5}


def told_violation(trial: "optuna.trial.FrozenTrial") -> float:
    """The package's violation on ``trial``; for one told below the successes by value alone, what
    its ``graded_penalty.kind`` says it was (a failure, an SLO miss)."""
    found = violation(trial)
    return found if found > 0 else _TOLD_BY_VALUE.get(str(trial.user_attrs.get("graded_penalty.kind")), found)


def storage_id(trial: Any) -> int:
    """The storage id of an Optuna trial, running or frozen."""
    return trial._trial_id


def rewrite_values(study: "optuna.Study", values: Dict[int, Sequence[float]]) -> None:
    """Rewrite the stored values of finished trials (storage id -> values) in Optuna's
    in-memory storage (see :meth:`OptunaView.in_memory`)."""
    storage: Any = study._storage  # an InMemoryStorage, whose private methods are not typed
    with storage._lock:
        for trial_id, new in values.items():
            frozen = copy.copy(storage._get_trial(trial_id))
            frozen.values = list(new)
            storage._set_trial(trial_id, frozen)


# ----- the keeper -------------------------------------------------------------------------------


class OptunaRankKeeper(RankKeeper):
    """Marks each trial told below the successes infeasible and, for Optuna's in-memory
    storage, rewrites the values of those told before when the placement moves; keeps the
    good group's counts."""

    def __init__(self, searcher: Searcher, searcher_name: Optional[str] = None) -> None:
        super().__init__(searcher, searcher_name)
        self._view = OptunaView(searcher)
        self._ids: Dict[str, int] = {}  # Ray trial id -> Optuna storage trial id, below successes
        self._feasible: Dict[int, bool] = {}  # trial number -> feasible, for finished trials
        self._seen: Set[int] = set()  # numbers of the finished trials _read_finished read
        self._unread: List[Tuple[float, ...]] = []  # successes read there, not yet given to successes_elsewhere
        self._constrained: Set[int] = set()  # numbers of the finished trials that carry the constraint
        self._unconstrained: Optional[bool] = None  # see _constraints_kept
        self._by_config: Dict[str, List[Tuple[Tuple[float, ...], float]]] = {}  # config_key -> (values, violation)
        self._held: Optional[Dict[str, List[Tuple[Tuple[float, ...], float]]]] = None  # see _holds_already
        self._warned = False

    @property
    def whole_history(self) -> bool:  # type: ignore[override]
        return sampler_ranks_infeasible_last(self._view.sampler) or self._view.in_memory()

    @property
    def rewrites_history(self) -> bool:
        return self._view.study is not None and self._view.in_memory() and not self.tells_failures_as_errors

    @property
    def tells_failures_as_errors(self) -> bool:  # type: ignore[override]
        """Optuna's ``CmaEsSampler`` is told a failure as ``FAIL``, as Ray's ``OptunaSearch`` tells
        it bare: CMA-ES ranks each generation and, with the ``cmaes`` library's negative weights,
        pushes its search distribution away from its worst solutions; a failure told as the
        worst value (it reads no constraints) pushes it away from the boundary of the failing
        region, where constrained optima lie. Measured: wrapped with values, it was worse than
        bare on 5 of 20 cells (``benchmarks/searchers.py``); a ``FAIL`` trial it leaves out of its
        generation and samples again."""
        return isinstance(self._view.sampler, optuna.samplers.CmaEsSampler)

    @property
    def failures_close_below(self) -> bool:  # type: ignore[override]
        """Optuna's ``GPSampler`` (from Optuna 5.0, where it reads the package's constraint) is told
        a failure close below the worst success: it fits its objective's GP to every completed trial,
        feasible or not, after standardizing their values, and failures told one spread and more
        below the successes took nearly all of the values' range, the successes' own differences a
        small share of it; it found the optimum's neighbourhood but not the optimum (measured on
        ``branin_discs`` at 16 at once: worse than bare, 4 seeds better, 15 worse). The constraint,
        which its feasibility GP models, keeps failures out of the region that fails."""
        return HAS_TRIAL_CONSTRAINTS and isinstance(self._view.sampler, optuna.samplers.GPSampler)

    def _constrain_others(self) -> None:
        """Every finished trial carries the package's constraint (see :func:`mark_feasible`), those
        told elsewhere too: Optuna 5's ``GPSampler`` raises when some have it and some not."""
        study = self._view.study
        if not HAS_TRIAL_CONSTRAINTS or study is None or not self._view.in_memory() or self.tells_failures_as_errors:
            return
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.number not in self._constrained:
                self._constrained.add(t.number)
                if _CONSTRAINT_ATTR not in t.system_attrs:
                    mark_finished_feasible(study, t)

    def check_modes(self, modes: Tuple[str, ...]) -> None:
        """A study loaded from a database keeps the directions it was created with (Optuna's
        ``load_if_exists`` does not compare them): searched the other way, its earlier values
        would be read as successes of this search, and its best trial be the worst."""
        study = self._view.study
        if study is None:
            return
        wanted = ["maximize" if m == "max" else "minimize" for m in modes]
        kept = [d.name.lower() for d in study.directions]
        if kept != wanted:
            advice = ("pass OptunaSearch the same mode, or none" if self._view.in_memory() else
                      "use another study_name, or the study's own mode")
            raise ValueError(f"the Optuna study {study.study_name!r} was created to {' and '.join(kept)}; this "
                             f"search's mode {list(modes) if len(modes) > 1 else modes[0]!r} needs "
                             f"{' and '.join(wanted)}: {advice}")

    def _constraints_kept(self) -> bool:
        """Whether trials get the package's constraint. Not for Optuna 5's ``GPSampler`` over a study
        in a database that holds finished trials without it (told by something else: an earlier
        run without this package, ``evaluated_rewards``): GP raises "The number of constraints must
        be the same for all trials", and a finished trial cannot be given one there. Failures are
        told to it by value alone then, close below the worst success. Decided at the first tell."""
        if self._unconstrained is None:
            study = self._view.study
            self._unconstrained = bool(
                HAS_TRIAL_CONSTRAINTS and study is not None and not self._view.in_memory()
                and isinstance(self._view.sampler, optuna.samplers.GPSampler)
                and any(_CONSTRAINT_ATTR not in t.system_attrs
                        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))))
            if self._unconstrained:
                logger.warning(
                    "The Optuna study %r holds finished trials without this package's constraint, which "
                    "cannot be given one in its database; GPSampler needs the same constraints on every "
                    "trial, so failures are told to it by value alone (close below the worst success), "
                    "not marked infeasible.", study.study_name if study is not None else None)
        return not self._unconstrained

    def before_suggest(self) -> None:
        self._constrain_others()
        study = self._view.study
        if study is None or not count_successes_while_pending(self._view.sampler, study):
            return
        gamma = tpe_gamma(self._view.sampler)
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
        pending = successes = 0
        for t in trials:
            if t.state == TrialState.RUNNING:
                pending += 1
                continue
            feasible = self._feasible.get(t.number)
            if feasible is None:  # a finished trial's feasibility never changes: look once
                feasible = self._feasible[t.number] = is_feasible(t)  # as TPE splits them
            successes += feasible
        gamma.pending, gamma.successes = pending, successes

    def _read_finished(self) -> None:
        """Read the study's finished trials not read before, each once: indexed by configuration
        (their parameters are named as Tune flattens a space) for :meth:`finished_elsewhere`, and
        the successes kept for :meth:`successes_elsewhere`."""
        study = self._view.study
        if study is None:
            return
        below = set(self._ids.values())  # what this searcher told below the successes (without a
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):  # constraint: _constraints_kept)
            if t.number in self._seen:
                continue
            self._seen.add(t.number)
            if t.values is None:
                continue
            values, told = tuple(float(v) for v in t.values), told_violation(t)
            self._by_config.setdefault(config_key(t.params), []).append((values, told))
            if told <= 0 and storage_id(t) not in below:
                self._unread.append(values)

    def successes_elsewhere(self) -> List[Tuple[float, ...]]:
        self._constrain_others()
        self._read_finished()
        found, self._unread = self._unread, []
        return found

    def finished_elsewhere(self, config: Dict[str, Any]) -> List[Tuple[Tuple[float, ...], float]]:
        self._read_finished()
        return list(self._by_config.get(config_key(config), ()))

    def before_tell(self, trial_id: str, violation: float, attrs: Optional[Dict[str, Any]] = None,
                    key: Optional[str] = None) -> None:
        trials = self._view.live_trials
        study = self._view.study
        if violation <= 0:  # a success: feasible, so every trial of the study carries the constraint
            # (not where failures are told as errors: no trial carries one then, and Optuna 5's
            # CmaEsSampler warns of constraints it does not use at every trial that has one)
            if trial_id in trials and study is not None and not self.tells_failures_as_errors \
                    and self._constraints_kept():
                mark_feasible(study, trials[trial_id])
            return
        if trial_id not in trials or study is None:
            logger.warning(
                "Cannot mark trial %s infeasible in the Optuna study (OptunaSearch does not know "
                "it); it is told as a completed value only.", trial_id,
            )
            return
        if not sampler_reads_constraints(self._view.sampler) and not self._warned:
            self._warned = True
            logger.warning(
                "The sampler of this OptunaSearch (%s) reads no constraints (Optuna %s), so it does "
                "not rank infeasible trials last; failures rank below every success %s. Use "
                "GradedPenaltySearcher(\"optuna\", ...) for the full guarantee.",
                type(self._view.sampler).__name__, OPTUNA,
                "over the whole history through their stored values (in-memory storage)"
                if self._view.in_memory() else "told before them",
            )
        if self._constraints_kept():
            mark_infeasible(study, trials[trial_id], violation)
        for name, value in (attrs or {}).items():  # shown by optuna-dashboard as user attributes
            trials[trial_id].set_user_attr(f"graded_penalty.{name}", value)
        self._ids[key or trial_id] = storage_id(trials[trial_id])

    def add_history(self, key: str, config: Dict[str, Any], value: float, violation: Optional[float],
                    attrs: Optional[Dict[str, Any]] = None) -> None:
        study, distributions = self._view.study, self._view.distributions
        if study is None or distributions is None:
            raise RuntimeError("warm start needs the search space: it is applied once Tune sets it")
        check_past_parameters(config, distributions)
        if not self._view.in_memory() and self._holds_already(config, value, violation):
            return  # a warm start passed again to a study in a database: its rows are there from before
        if violation is not None and self.tells_failures_as_errors:
            study.add_trial(optuna.trial.create_trial(params=config, distributions=distributions,
                                                      state=TrialState.FAIL))
            return
        study.add_trial(optuna.trial.create_trial(
            params=config, distributions=distributions, value=value,
            system_attrs=history_attrs(violation) if self._constraints_kept() else {},
            user_attrs={f"graded_penalty.{name}": v for name, v in (attrs or {}).items()},  # as before_tell's
        ))
        if violation is not None:
            self._ids[key] = storage_id(study.get_trials(deepcopy=False)[-1])  # no copy of every trial per row

    def _holds_already(self, config: Dict[str, Any], value: float, violation: Optional[float]) -> bool:
        """Whether the study held, before this search added any, a finished trial of ``config``
        with this outcome that no other row matched: a success of the same value, or a trial
        below the successes (whose value depends on the successes known when it was added)."""
        if self._held is None:  # taken once, at the first row
            self._read_finished()
            self._held = {key: list(found) for key, found in self._by_config.items()}
        held = self._held.get(config_key(config), [])
        for i, (values, held_violation) in enumerate(held):
            if (held_violation > 0) if violation is not None else (held_violation <= 0 and values == (value,)):
                del held[i]  # one row each
                return True
        return False

    def move_below(self, moves: Dict[str, Tuple[float, ...]]) -> None:
        study = self._view.study
        if study is not None:  # called only when rewrites_history: there is one
            rewrite_values(study, {self._ids[t]: v for t, v in moves.items() if t in self._ids})

    def get_state(self) -> Dict[str, Any]:
        return {"ids": dict(self._ids)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._ids = dict(state.get("ids", {}))
        self._feasible, self._seen, self._constrained = {}, set(), set()  # of the study before: a restore replaces it
        self._unconstrained = None  # decided again from the restored study, which says the same
        self._unread, self._by_config, self._held = [], {}, None


if not TYPE_CHECKING:  # unseen by type checkers, which would take any name of the module then
    __getattr__ = gone_names(__name__)
