"""Every difference between the Ray, Optuna and HyperOpt versions this package supports.

Nowhere else in the package is a version checked or a private attribute of Ray's or
Optuna's objects read: it all goes through here, so a new release that moves something breaks
here, loudly, and a test names it.

Tested ranges (``constraints-oldest.txt`` and ``constraints.txt``): Ray 2.30 to 2.60, Optuna
3.6 to 5.0, HyperOpt 0.2.7 to 0.3. A version outside them gets one warning at import.

What differs:

- Ray: ``tune.RunConfig``, ``tune.FailureConfig`` and ``tune.report`` exist from Ray 2.41;
  before, they are in ``ray.train``. ``OptunaSearch(storage=..., study_name=...)``
  exists only in the newer Ray.
- Optuna: ``Trial.set_constraint`` and ``FrozenTrial.constraints`` are new in 5.0, and 5.0's TPE
  ranks infeasible trials after feasible ones by itself. Before 5.0 a sampler sees constraints
  only through its ``constraints_func``, which Optuna calls after each finished trial and whose
  result it stores as the system attribute ``"constraints"``; TPE ranks by them only when its
  ``constraints_func`` is set. Optuna 5.0 turned ``multivariate`` and ``constant_liar`` on by
  default; the package's own sampler sets both explicitly, so it behaves the same everywhere.
  Its good-group size (``gamma=``) is deprecated from Optuna 4.9 and goes in 6.0.

Example:
    >>> from ray_graded_penalty import compat
    >>> run_config = compat.RunConfig(callbacks=[])
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import optuna
import ray
from packaging.version import Version

logger = logging.getLogger("ray_graded_penalty")

RAY = Version(ray.__version__)
OPTUNA = Version(optuna.__version__)

#: (oldest, newest) version tested of each package; CI runs the suite at both ends.
TESTED = {"ray": ("2.30.0", "2.60.0"), "optuna": ("3.6.0", "5.0.0"), "hyperopt": ("0.2.7", "0.3.0")}

#: The key of the package's constraint on each failed trial (and of the SLO misses).
CONSTRAINT_KEY = "graded_failure"
_ATTR = f"graded_penalty:{CONSTRAINT_KEY}"  # before Optuna 5.0, the violation is kept here

HAS_TRIAL_CONSTRAINTS = OPTUNA >= Version("5.0.0")


def _installed(name: str) -> Optional[Version]:
    try:
        from importlib.metadata import version

        return Version(version(name))
    except Exception:  # not installed (hyperopt is imported lazily)
        return None


def check_versions() -> None:
    """Warn once for each package whose installed version is outside the tested range."""
    for name, (low, high) in TESTED.items():
        installed = _installed(name)
        if installed is None:
            continue
        base = Version(installed.base_version)
        if base < Version(low) or Version(f"{Version(high).major}.{Version(high).minor + 1}") <= base:
            warnings.warn(
                f"ray-graded-penalty is tested with {name} {low} to {high}; {installed} is "
                f"installed. It may work, but nothing here was tested against it.",
                stacklevel=2,
            )


# ----- Ray --------------------------------------------------------------------------------

if RAY >= Version("2.41.0"):
    from ray.tune import FailureConfig, RunConfig, report  # noqa: F401
else:  # pragma: no cover - exercised by the oldest pins
    from ray.train import FailureConfig, RunConfig, report  # type: ignore[no-redef]  # noqa: F401


def train_v2() -> bool:
    """Whether Ray Train's trainers run inside a function trainable (Train V2, default from
    Ray 2.5x): ``trainer.fit()`` in the trainable, not a trainer passed to ``tune.Tuner``."""
    try:
        from ray.train.v2._internal.constants import is_v2_enabled
    except ImportError:
        return False
    return bool(is_v2_enabled())


def data_parallel_trainer() -> Any:
    """Ray Train's ``DataParallelTrainer`` class of the running generation."""
    if train_v2():
        from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer
    else:
        from ray.train.data_parallel_trainer import DataParallelTrainer  # type: ignore[no-redef]
    return DataParallelTrainer


def trial_actor(trial: Any) -> Any:
    """The Ray actor running ``trial`` (a ``ray.tune.experiment.Trial``), or None."""
    state = getattr(trial, "temporary_state", None)
    return getattr(state, "ray_actor", None)


def placement_groups_under(actor: Any) -> list:
    """The placement groups that ``actor`` and the actors it started (and theirs) created.

    A trial that runs a Ray Train trainer (``trainer.fit()`` in a function trainable, Ray
    Train V2) starts a controller actor, which reserves its workers' resources in a placement
    group of its own. Ending the trial's actor ends those actors with it (they are owned by
    it), but not the placement group: it lives as long as the job, unless Ray Train's own
    cleaner, which needs the state API of ``ray[default]``, removes it. This reads the GCS
    tables directly (no state API): who owns which actor, who created which placement group.
    """
    from ray._private import state
    from ray.core.generated import gcs_pb2

    actors = state.actors()
    root = actor._actor_id.hex()
    if root not in actors:
        return []

    def address(info: Dict[str, Any], key: str) -> tuple:
        where = info.get(key) or {}
        return where.get("IPAddress"), where.get("Port")

    found, frontier = {root}, [root]
    while frontier:
        parent = address(actors[frontier.pop()], "Address")
        for actor_id, info in actors.items():
            if actor_id not in found and not info.get("IsDetached") and address(info, "OwnerAddress") == parent:
                found.add(actor_id)
                frontier.append(actor_id)
    groups = []
    accessor = getattr(state.state, "_global_state_accessor", None) or state.state.global_state_accessor  # renamed after 2.30
    for raw in accessor.get_placement_group_table():
        table = gcs_pb2.PlacementGroupTableData.FromString(raw)
        if (table.creator_actor_id.hex() in found and not table.is_detached
                and table.state != gcs_pb2.PlacementGroupTableData.REMOVED):
            groups.append(table.placement_group_id)
    return groups


def remove_placement_groups(ids: list) -> None:
    """Remove placement groups by id (as :func:`placement_groups_under` returns them)."""
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    for pg_id in ids:
        remove_placement_group(PlacementGroup(PlacementGroupID(pg_id)))


def inner_searchers(searcher: Any) -> list:
    """``searcher`` and the searchers it wraps (``ConcurrencyLimiter``, ``Repeater``), outermost first."""
    from ray.tune.search import ConcurrencyLimiter, Repeater

    chain = [searcher]
    while isinstance(chain[-1], (ConcurrencyLimiter, Repeater)):
        chain.append(chain[-1].searcher)
    return chain


def base_searcher(searcher: Any) -> Any:
    """The innermost searcher under Ray's wrappers."""
    return inner_searchers(searcher)[-1]


def optuna_search_accepts_storage() -> bool:
    """Whether Ray's ``OptunaSearch`` takes ``storage=`` and ``study_name=``."""
    import inspect

    from ray.tune.search.optuna import OptunaSearch

    return "storage" in inspect.signature(OptunaSearch.__init__).parameters


class OptunaSearchView:
    """What the package reads of a Ray ``OptunaSearch``: its study, live trials and space."""

    def __init__(self, search: Any) -> None:
        self.search = search

    @property
    def study(self) -> Optional["optuna.Study"]:
        return getattr(self.search, "_ot_study", None)

    @property
    def live_trials(self) -> Dict[str, "optuna.Trial"]:
        return getattr(self.search, "_ot_trials", {}) or {}

    @property
    def distributions(self) -> Optional[Dict[str, Any]]:
        space = getattr(self.search, "_space", None)
        return space if isinstance(space, dict) else None

    @property
    def sampler(self) -> Any:
        study = self.study
        return study.sampler if study is not None else getattr(self.search, "_sampler", None)


class HyperOptSearchView:
    """What the package reads of a Ray ``HyperOptSearch``: its trial list, live trials, domain."""

    def __init__(self, search: Any) -> None:
        self.search = search

    @property
    def trials(self) -> Any:
        return getattr(self.search, "_hpopt_trials", None)

    @property
    def live_tids(self) -> Dict[str, int]:
        live = getattr(self.search, "_live_trial_mapping", {}) or {}
        return {trial_id: entry[0] for trial_id, entry in live.items()}

    @property
    def domain(self) -> Any:
        return getattr(self.search, "domain", None)

    @property
    def loss_sign(self) -> float:
        """HyperOpt minimizes ``loss = loss_sign * value``."""
        return self.search.metric_op

    def choices_as_indices(self, config: Dict[str, Any]) -> None:
        """HyperOpt stores a choice as its index: convert ``config`` in place."""
        self.search._convert_categories_to_indices(config)


# ----- Optuna -----------------------------------------------------------------------------


def tpe_sampler(seed: Optional[int] = None, gamma: Optional[Callable[[int], int]] = None) -> "optuna.samplers.TPESampler":
    """The package's TPE: joint (multivariate), constant liar, ranking infeasible trials last.

    Every option it relies on is set explicitly, so Optuna 3.6 and 5.0 sample alike.
    """
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
    if HAS_TRIAL_CONSTRAINTS:
        return True
    return getattr(sampler, "_constraints_func", None) is stored_constraints


def mark_infeasible(study: "optuna.Study", ot_trial: "optuna.Trial", violation: float) -> None:
    """Mark a running trial infeasible by ``violation`` (> 0) before it is told."""
    if HAS_TRIAL_CONSTRAINTS:
        ot_trial.set_constraint(CONSTRAINT_KEY, violation)
    else:
        study._storage.set_trial_system_attr(ot_trial._trial_id, _ATTR, violation)


def history_attrs(violation: Optional[float]) -> Dict[str, Any]:
    """System attributes of a finished trial added to a study (a warm start): infeasible by
    ``violation``, or feasible when it is None. Before Optuna 5.0 a feasible one needs its
    constraints too: TPE ranks a trial without them after every other."""
    if HAS_TRIAL_CONSTRAINTS:
        return {} if violation is None else {f"constraints:{CONSTRAINT_KEY}": violation}
    value = 0.0 if violation is None else violation
    return {_ATTR: value, "constraints": (value,)}


def violation(trial: "optuna.trial.FrozenTrial") -> float:
    """The package's violation on ``trial`` (0 for a feasible one)."""
    if HAS_TRIAL_CONSTRAINTS:
        return sum(v for v in trial.constraints.values() if v > 0)
    return max(0.0, float(trial.system_attrs.get(_ATTR, 0.0)))


def trial_number_id(ot_trial: "optuna.Trial") -> int:
    """The storage id of a running Optuna trial."""
    return ot_trial._trial_id


def rewrite_values(study: "optuna.Study", values: Dict[int, Sequence[float]]) -> bool:
    """Rewrite the stored values of finished trials (storage id -> values); only Optuna's
    in-memory storage allows it. Returns whether it did."""
    from optuna.storages import InMemoryStorage

    storage = getattr(study, "_storage", None)
    if not isinstance(storage, InMemoryStorage):
        return False
    import copy

    with storage._lock:
        for trial_id, new in values.items():
            frozen = copy.copy(storage._get_trial(trial_id))
            frozen.values = list(new)
            storage._set_trial(trial_id, frozen)
    return True


def tpe_gamma(sampler: Any) -> Any:
    """The ``gamma`` of a TPESampler (None for any other sampler)."""
    return getattr(sampler, "_gamma", None) if isinstance(sampler, optuna.samplers.TPESampler) else None
