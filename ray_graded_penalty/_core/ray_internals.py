"""Ray's internals the package needs, read here and nowhere else.

The reaper and the watchdog (:mod:`ray_graded_penalty.timeout`)
need the actor of a trial, the actors it started, recursively, and the placement groups they
created; the searcher needs the states Tune's ``SearchGenerator`` saves for searchers that wrap another; the tests
need to know which Ray Train generation runs; the serving trainable publishes how far a trial
got where the driver's watchdog can read it (Ray's internal key-value store, cluster-wide); the
callback needs what failed under Ray's and Ray Train's wrapping exceptions (:func:`innermost`).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

logger = logging.getLogger("ray_graded_penalty")


#: Ray Train's errors that only wrap what a training worker raised (Train V1 chains it as the
#: ``__cause__``; V2 keeps it in ``worker_failures``, ``controller_failure`` or, for a worker
#: whose health check failed, its death, ``health_check_failure``).
_TRAIN_WRAPPERS = ("TrainingFailedError", "WorkerGroupError", "ControllerError")


def is_train_wrapper(exc: BaseException) -> bool:
    """Whether ``exc`` is one of Ray Train's errors that only wrap a worker's (:data:`_TRAIN_WRAPPERS`)."""
    return type(exc).__name__ in _TRAIN_WRAPPERS


def train_preempted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ray Train V2's ``PreemptionError`` (Ray, 2026-06): a node of the run was
    preempted, raised once ``FailureConfig.max_preemption_failures`` is spent. It wraps no
    worker's exception. By name, as the wrappers above: older Ray has no such class."""
    return type(exc).__name__ == "PreemptionError"


def innermost(exc: BaseException) -> BaseException:
    """What really failed under Ray's wrappers: a task's cause (``RayTaskError.cause``), and
    under Ray Train's errors the first failing worker's own exception (a worker that died,
    its node lost, comes as a failed health check around Ray's ``ActorDiedError``; Train V2
    before Ray's PR #61153, 2026-02, kept a worker's exception in a
    ``UserExceptionWithTraceback``, as ``_base_exc``)."""
    for _ in range(16):  # wrappers nest a few levels deep; never loop on a cycle
        inner = getattr(exc, "cause", None)
        if not isinstance(inner, BaseException):
            failures = getattr(exc, "worker_failures", None)
            if isinstance(failures, dict) and failures:
                inner = failures[min(failures)]
        for attribute in ("controller_failure", "health_check_failure"):
            if not isinstance(inner, BaseException):
                inner = getattr(exc, attribute, None)
        if not isinstance(inner, BaseException) and type(exc).__name__ == "UserExceptionWithTraceback":
            inner = getattr(exc, "_base_exc", None)
        if not isinstance(inner, BaseException) and is_train_wrapper(exc):
            inner = exc.__cause__
        if not isinstance(inner, BaseException) or inner is exc:
            return exc
        exc = inner
    return exc


def experiment_state_pattern() -> str:
    """The file name Tune's controller saves an experiment's state under, any session
    (``experiment_state-*.json``): what makes a directory an experiment's."""
    from ray.tune.execution.tune_controller import TuneController

    return TuneController.CKPT_FILE_TMPL.format("*")


def searcher_state_pattern() -> str:
    """The file name a ``Searcher`` saves itself under in an experiment, any session
    (``searcher-state-*.pkl``; this package's own before 0.5)."""
    from ray.tune.search import Searcher

    return Searcher.CKPT_FILE_TMPL.format("*")


def wrapper_states(experiment_dir: str) -> Dict[str, Any]:
    """What Tune's ``SearchGenerator`` saved in ``experiment_dir`` (its newest file) of each searcher
    that wraps another (one with a ``searcher`` attribute, like ``ConcurrencyLimiter``), by class
    name; empty when it saved none there."""
    from ray.tune.search.search_generator import SearchGenerator
    from ray.tune.utils.util import _load_newest_checkpoint

    state = _load_newest_checkpoint(experiment_dir, SearchGenerator.CKPT_FILE_TMPL.format("*")) or {}
    return {key[len("name:"):]: value for key, value in state.items() if key.startswith("name:")}


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
        from ray.train.data_parallel_trainer import DataParallelTrainer  # type: ignore[assignment]
    return DataParallelTrainer


def trial_actor(trial: Any) -> Any:
    """The Ray actor running ``trial`` (a ``ray.tune.experiment.Trial``), or None."""
    state = getattr(trial, "temporary_state", None)
    return getattr(state, "ray_actor", None)


def error_file_paths(trial: Any) -> Tuple[Optional[str], Optional[str]]:
    """The paths of the ``error.txt`` and the pickled exception Ray recorded for ``trial`` in its
    experiment directory, None where there is none; without a Ray session (``Trial.error_file``
    needs one). Its run metadata's class is private."""
    names = (trial.run_metadata.error_filename, getattr(trial.run_metadata, "pickled_error_filename", None))
    text, pickled = (os.path.join(trial.path, name) if trial.path and name else None for name in names)
    return text, pickled


def first_start(trial: Any) -> Optional[float]:
    """When ``trial`` first started running (seconds since the epoch), as its run metadata saved
    it; None if it never ran."""
    return getattr(trial.run_metadata, "start_time", None)


def in_creation_order(trials: List[Any]) -> List[Any]:
    """``trials`` in the order Tune created them: by the counter its ``experiment_tag`` starts
    with (``"3_x=0.5"``); Ray's own list of an experiment's trials is in another order after a
    restore, and sometimes without one. A trial whose tag has no counter keeps its place after them."""
    def counter(position: int) -> Tuple[int, int]:
        tag = str(getattr(trials[position], "experiment_tag", "") or "")
        number = tag.split("_", 1)[0]
        return (0, int(number)) if number.isdigit() else (1, position)

    return [trials[i] for i in sorted(range(len(trials)), key=counter)]


def from_a_repeater(trial: Any) -> bool:
    """Whether Ray's ``Repeater`` suggested ``trial``: it marks each repeat's configuration with
    its index in the group (``repeater.TRIAL_INDEX``, unless ``set_index=False``)."""
    from ray.tune.search.repeater import TRIAL_INDEX

    return isinstance(trial.config, dict) and TRIAL_INDEX in trial.config


def forbid_retries(trial: Any) -> None:
    """Let Tune not start ``trial`` again when it fails now (whatever ``FailureConfig`` says):
    ``Trial.should_recover`` compares its failures with ``max_failures``."""
    trial.max_failures = 0


def actor_id(actor: Any) -> str:
    """The hex id of a Ray actor handle."""
    return actor._actor_id.hex()


def _tables() -> Any:
    """Ray's connected reader of the GCS tables (``GlobalStateAccessor``): its name and the way it
    connects changed after 2.30."""
    from ray._private import state

    tables: Any = state.state  # untyped
    if hasattr(tables, "_connect_and_get_accessor"):
        return tables._connect_and_get_accessor()
    tables._check_connected()
    return tables.global_state_accessor


def actor_tree(root_id: str) -> Dict[str, bool]:
    """``root_id`` and every actor it started, and theirs (id -> alive), from the GCS tables.

    A trial that runs a Ray Train trainer (``trainer.fit()`` in a function trainable, Train V2)
    starts a controller actor, which starts the workers and reserves their resources in a
    placement group of its own. Who started an actor is its owner, the worker process that
    runs the parent: this follows owners down from the trial's actor by the worker's id (not
    its address: a worker that died leaves its port to the next one on the node). No state
    API, so ``ray[tune]`` alone is enough. Detached actors are not a trial's to end.
    """
    from ray.core.generated import gcs_pb2

    table: Any = getattr(gcs_pb2, "ActorTableData")  # generated, without stubs
    actors = {r.actor_id.hex(): r for r in (table.FromString(raw) for raw in _tables().get_actor_table(None, None))}
    if root_id not in actors:
        return {}
    found, frontier = {root_id}, [root_id]
    while frontier:
        worker = actors[frontier.pop()].address.worker_id
        if not worker:  # not placed yet: it started nothing
            continue
        for child, record in actors.items():
            if child not in found and not record.is_detached and record.owner_address.worker_id == worker:
                found.add(child)
                frontier.append(child)
    return {i: actors[i].state != table.DEAD for i in found}


def live_actors() -> Dict[str, str]:
    """Every actor of the cluster not yet dead (id -> class name), from the GCS tables."""
    from ray._private import state

    return {i: info.get("ActorClassName", "") for i, info in state.actors().items() if info.get("State") != "DEAD"}


def _held_placement_groups() -> List[Any]:
    """The GCS record (``PlacementGroupTableData``) of every placement group neither removed
    nor detached: those an owner's death can leave holding resources."""
    from ray.core.generated import gcs_pb2

    group_table: Any = getattr(gcs_pb2, "PlacementGroupTableData")  # generated, without stubs
    records = (group_table.FromString(raw) for raw in _tables().get_placement_group_table())
    return [r for r in records if not r.is_detached and r.state != group_table.REMOVED]


def _created_by_an_actor(table: Any) -> bool:
    """Whether an actor created the group of ``table``; a driver's own has a nil creator actor."""
    return bool(table.creator_actor_id.strip(b"\xff\x00"))


def placement_groups_created_by(actor_ids: Optional[Iterable[str]]) -> List[bytes]:
    """The placement groups, not removed and not detached, that any of ``actor_ids`` created;
    with ``actor_ids`` None, those any actor created."""
    ids = None if actor_ids is None else set(actor_ids)
    groups = []
    for table in _held_placement_groups():
        if _created_by_an_actor(table) if ids is None else table.creator_actor_id.hex() in ids:
            groups.append(table.placement_group_id)
    return groups


def orphaned_placement_groups(job_ids: Optional[Iterable[str]] = None) -> List[bytes]:
    """Placement groups Ray's own lifetime rule says are over but that are still there.

    Ray removes a group (not detached) once both the job and the actor that created it are
    dead, but it marks the actor dead only on groups registered by then: a group whose request
    reached the GCS just after its creator died (a Ray Train controller reserving its workers
    as its trial, a killed driver's or a lost node's, went) is never marked, and stays. Those
    are the groups returned: created by an actor the actor table has as dead, of one of
    ``job_ids`` (hex: the drivers that ran an experiment, the running one's included); with
    None, of any job that is dead. The GCS forgets a dead job's actors five minutes after
    the job ended (``gcs_actor_table_min_duration_ms``): an actor of a dead job no longer in
    the table is dead too."""
    from ray._private import state

    jobs = None if job_ids is None else set(job_ids)
    actors = state.actors()
    groups = []
    for table in _held_placement_groups():
        if not _created_by_an_actor(table):
            continue
        creator = actors.get(table.creator_actor_id.hex())
        # a creator no longer in the table was forgotten with its job
        dead = creator.get("State") == "DEAD" if creator is not None else table.creator_job_dead
        if not dead:
            continue
        if (table.creator_job_id.hex() in jobs) if jobs is not None else table.creator_job_dead:
            groups.append(table.placement_group_id)
    return groups


def remove_placement_groups(ids: list) -> None:
    """Remove placement groups by id (as :func:`placement_groups_created_by` returns them)."""
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    for pg_id in ids:
        remove_placement_group(PlacementGroup(PlacementGroupID(pg_id)))


# ----- how far a trial got, published for the driver ---------------------------------------------

_NAMESPACE = "ray_graded_penalty"


def publish_stage(trial_id: str, stage: str) -> None:
    """Publish the stage a running trial is in (the serving trainable's "start", "load"), in
    Ray's internal key-value store, where the driver's watchdog reads it when it ends the trial
    (:func:`published_stage`); nothing outside a Ray worker."""
    from ray.experimental import internal_kv

    if internal_kv._internal_kv_initialized():
        internal_kv._internal_kv_put(f"stage:{trial_id}", stage, namespace=_NAMESPACE)


def published_stage(trial_id: str) -> Optional[str]:
    """The stage ``trial_id`` last published, or None (also when the store cannot be read: the
    callback's events must never stop Tune's loop)."""
    from ray.experimental import internal_kv

    try:
        if not internal_kv._internal_kv_initialized():
            return None
        value = internal_kv._internal_kv_get(f"stage:{trial_id}", namespace=_NAMESPACE)
    except Exception:
        logger.warning("Could not read the stage trial %s published.", trial_id, exc_info=True)
        return None
    return value.decode() if value else None


def forget_stage(trial_id: str) -> None:
    """Remove what ``trial_id`` published, once it has ended; never raises (see :func:`published_stage`)."""
    from ray.experimental import internal_kv

    try:
        if internal_kv._internal_kv_initialized():
            internal_kv._internal_kv_del(f"stage:{trial_id}", namespace=_NAMESPACE)
    except Exception:
        logger.warning("Could not remove the stage trial %s published.", trial_id, exc_info=True)
