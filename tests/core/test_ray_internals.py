"""What the package reads of Ray's internals, against a real local Ray: a trial's actor, the
actors it started, and the placement groups they reserved."""

import time

import pytest
import ray
from ray.util.placement_group import placement_group

from ray_graded_penalty._core import ray_internals

from conftest import worker_group_error


class _Trial:
    """What the reaper reads of a Tune ``Trial``: its actor, and its retries."""

    def __init__(self, actor=None):
        self.temporary_state = type("State", (), {"ray_actor": actor})()
        self.max_failures = 3


def test_a_trial_s_actor_and_its_retries():
    assert ray_internals.trial_actor(object()) is None and ray_internals.trial_actor(_Trial("a")) == "a"
    trial = _Trial()
    ray_internals.forbid_retries(trial)
    assert trial.max_failures == 0
    assert isinstance(ray_internals.train_v2(), bool)


@ray.remote(num_cpus=0)
class _Child:
    def reserve(self):
        return placement_group([{"CPU": 0.01}]).id.hex()


@ray.remote(num_cpus=0)
class _Parent:
    def start_child(self):
        self.child = _Child.remote()
        return ray.get(self.child.reserve.remote())


@pytest.mark.ray
def test_the_actor_tree_and_the_groups_its_actors_created(local_ray):
    parent = _Parent.remote()
    group = ray.get(parent.start_child.remote())
    root = ray_internals.actor_id(parent)
    tree = ray_internals.actor_tree(root)
    assert root in tree and len(tree) == 2 and all(tree.values())
    created = {g.hex() for g in ray_internals.placement_groups_created_by(tree)}
    assert created == {group}
    ray_internals.remove_placement_groups([bytes.fromhex(group)])
    deadline = time.time() + 10
    while ray_internals.placement_groups_created_by(tree) and time.time() < deadline:
        time.sleep(0.1)
    assert ray_internals.placement_groups_created_by(tree) == []
    ray.kill(parent)
    assert group not in {g.hex() for g in ray_internals.orphaned_placement_groups()}  # removed already


def test_a_group_whose_creator_ray_forgot_with_its_dead_job_is_an_orphan(monkeypatch):
    """Ray forgets a dead job's actors five minutes after the job ended: a group one of them
    left reserved (a restore long after a driver was killed) was never found."""
    from ray._private import state
    from ray.core.generated import gcs_pb2

    def group(n, actor, job_dead, actor_id=None):
        return gcs_pb2.PlacementGroupTableData(
            placement_group_id=bytes([n]) * 18, creator_actor_id=actor_id or bytes([actor]) * 16,
            creator_job_id=bytes([7, 0, 0, 0]), creator_job_dead=job_dead)

    records = [group(1, 11, True), group(2, 12, True), group(3, 13, False), group(4, 14, True),
               group(5, 0, True, actor_id=b"\xff" * 16)]  # 5: the driver's own, no actor
    actors = {(bytes([12]) * 16).hex(): {"State": "ALIVE"}, (bytes([14]) * 16).hex(): {"State": "DEAD"}}
    monkeypatch.setattr(ray_internals, "_held_placement_groups", lambda: records)
    monkeypatch.setattr(state, "actors", lambda: actors)
    # 1: its actor forgotten with its dead job; 2: alive; 3: its job alive, unknown; 4: dead, known
    assert ray_internals.orphaned_placement_groups(None) == [bytes([1]) * 18, bytes([4]) * 18]
    assert ray_internals.orphaned_placement_groups(["07000000"]) == [bytes([1]) * 18, bytes([4]) * 18]
    assert ray_internals.orphaned_placement_groups(["08000000"]) == []


def test_a_stage_published_in_a_trial_is_read_by_the_driver_and_forgotten(local_ray):
    import ray

    from ray_graded_penalty._core.ray_internals import forget_stage, publish_stage, published_stage

    @ray.remote
    def in_a_worker():
        publish_stage("trial_x", "start")

    ray.get(in_a_worker.remote())
    assert published_stage("trial_x") == "start"
    forget_stage("trial_x")
    assert published_stage("trial_x") is None


class _Tables:
    """Ray's GCS table reader, answering with actor records made here."""

    def __init__(self, records):
        self._records = [r.SerializeToString() for r in records]

    def get_actor_table(self, job_id, state_name):
        return list(self._records)


def test_the_actor_tree_follows_the_owner_s_worker_not_its_port(monkeypatch):
    """A worker that died leaves its port to the next worker on the node: an actor another trial's
    worker started there is not in the tree of the trial whose actor ran there before."""
    from ray.core.generated import common_pb2, gcs_pb2

    def actor(n, worker, port, owner_worker, owner_port, alive):
        return gcs_pb2.ActorTableData(
            actor_id=bytes([n]) * 16, class_name=f"A{n}", job_id=b"\x01\x00\x00\x00",
            state=gcs_pb2.ActorTableData.ALIVE if alive else gcs_pb2.ActorTableData.DEAD,
            address=common_pb2.Address(ip_address="10.0.0.1", port=port, worker_id=worker),
            owner_address=common_pb2.Address(ip_address="10.0.0.1", port=owner_port, worker_id=owner_worker))

    old, new, driver = b"\x0a" * 28, b"\x0b" * 28, b"\x0c" * 28
    records = [
        actor(1, old, 10002, driver, 50000, alive=False),  # the ended trial's actor, on port 10002
        actor(2, b"\x0d" * 28, 10003, old, 10002, alive=False),  # what it started: died with it
        actor(3, new, 10002, driver, 50000, alive=True),  # the next trial's actor, on the same port
        actor(4, b"\x0e" * 28, 10004, new, 10002, alive=True),  # what that one started
    ]
    monkeypatch.setattr(ray_internals, "_tables", lambda: _Tables(records))  # Ray's reader, answering these
    ended = (bytes([1]) * 16).hex()
    assert ray_internals.actor_tree(ended) == {ended: False, (bytes([2]) * 16).hex(): False}
    running = (bytes([3]) * 16).hex()
    assert ray_internals.actor_tree(running) == {running: True, (bytes([4]) * 16).hex(): True}
    assert ray_internals.actor_tree((bytes([9]) * 16).hex()) == {}


# Ray Train V2 keeps a dead worker's error in a private module: read here, the tests' module for Ray's internals.
def test_a_train_v2_worker_lost_with_its_node_is_lost_not_a_failed_health_check():
    """Ray Train V2 reports a worker that died (its node lost, or its process) as a failed health
    check around Ray's own ActorDiedError: it was graded by "A worker health check failed." as a
    timeout, and a lost node was never run again."""
    WorkerGroupError = worker_group_error()
    from ray.exceptions import RayActorError, RayTaskError
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError

    from ray_graded_penalty import PenaltyPolicy
    from ray_graded_penalty._core.judge import classify
    from ray_graded_penalty.callback import read_exception

    def in_train(death):  # as Ray Train V2's worker group polls its workers
        check = WorkerHealthCheckFailedError("A worker health check failed.\nWorker info: rank 3", failure=death)
        return RayTaskError("train", "Traceback (most recent call last):\n  File \"/x/train.py\"",
                            WorkerGroupError("Training failed due to worker errors", {3: check}))

    node = RayActorError(error_msg="The actor died unexpectedly before finishing this task.\n"
                                   "The actor died because its node has died. Node Id: 4f2e")
    crashed = RayActorError(error_msg="The actor died unexpectedly before finishing this task. Worker exit type: "
                                      "SYSTEM_ERROR Worker exit detail: Worker unexpectedly exits")
    assert read_exception(in_train(node)).stage == "node"
    evidence = read_exception(in_train(crashed))
    assert evidence.stage == "worker" and classify(evidence, PenaltyPolicy()) == "crash"


def test_a_train_v2_workers_own_exception_is_read_under_its_traceback_wrapper():
    """Train V2, before Ray's PR #61153 (2026-02), gave a worker's exception in ``worker_failures``
    inside its ``UserExceptionWithTraceback`` (``_base_exc``): its text was the whole traceback,
    and what the exception says of itself (a served trial's ``stage``) was not read."""
    WorkerGroupError = worker_group_error()
    import cloudpickle
    from ray.exceptions import RayTaskError
    from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

    from ray_graded_penalty.callback import read_exception
    from ray_graded_penalty.serving.failure import failure

    served = failure("start", "the server exited (exit code 2)", ["error: invalid argument: --bogus"], exit_code=2)
    wrapped = UserExceptionWithTraceback(served, "Traceback (most recent call last):\n  File \"train.py\"\n"
                                                 "ServerError: deploy failed: the server exited (exit code 2)")
    error = RayTaskError("train", "Traceback (most recent call last):\n  File \"/x/train.py\"",
                         WorkerGroupError("Training failed due to worker errors", {0: wrapped}))
    evidence = read_exception(cloudpickle.loads(cloudpickle.dumps(error)))
    assert evidence.stage == "start" and evidence.text.startswith("ServerError: deploy failed")
