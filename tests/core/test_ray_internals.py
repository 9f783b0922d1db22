"""What the package reads of Ray's internals, against a real local Ray: a trial's actor, the
actors it started, and the placement groups they reserved."""

import time

import pytest
import ray
from ray.util.placement_group import placement_group

from ray_graded_penalty._core import ray_internals


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
