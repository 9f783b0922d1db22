"""The error a trial is graded by is the one that really failed, under Ray's and Ray Train's wrappers."""

import pytest
from ray.exceptions import RayTaskError

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty.callback import describe_exception

from conftest import overridden_with_other_names


def _task_error(cause):
    return RayTaskError("train", "Traceback (most recent call last):\n  File \"/x/memory_utils.py\"", cause)


def test_a_task_error_is_graded_by_the_trainables_own_exception():
    assert describe_exception(_task_error(RuntimeError("CUDA out of memory"))) == "RuntimeError: CUDA out of memory"


def test_a_train_v1_failure_is_graded_by_the_workers_exception():
    from ray.train.base_trainer import TrainingFailedError

    try:
        try:
            raise _task_error(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
        except RayTaskError as worker_error:
            raise TrainingFailedError("Training failed") from worker_error
    except TrainingFailedError as failed:
        text = describe_exception(_task_error(failed))
    assert text == "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB"
    assert PenaltyPolicy().grade(30, 600, text).error_class == "oom"


def test_a_train_v2_worker_group_error_is_graded_by_the_first_failing_worker():
    exceptions = pytest.importorskip("ray.train.v2.api.exceptions", reason="Train V2 exists from Ray 2.4x")
    failure = exceptions.WorkerGroupError(
        "rank 1 failed", {1: RuntimeError("CUDA out of memory"), 3: ConnectionError("peer gone")})
    text = describe_exception(_task_error(failure))
    assert text == "RuntimeError: CUDA out of memory"
    assert PenaltyPolicy().grade(30, 600, text).error_class == "oom"
    controller = exceptions.ControllerError(ValueError("placement group could not be scheduled"))
    assert describe_exception(_task_error(controller)) == "ValueError: placement group could not be scheduled"


def test_a_users_own_chained_exception_keeps_its_own_message():
    try:
        try:
            raise ConnectionError("socket closed")
        except ConnectionError as low:
            raise RuntimeError("Deployment failed: server never came up") from low
    except RuntimeError as error:
        assert describe_exception(_task_error(error)) == "RuntimeError: Deployment failed: server never came up"


def test_ray_s_errors_for_a_node_lost_under_a_trial_read_as_the_stage_node():
    from ray.exceptions import ActorUnavailableError, RayActorError

    from ray_graded_penalty.callback import read_exception

    died = RayActorError(error_msg="The actor died unexpectedly before finishing this task.\n"
                                   "The actor died because its node has died. Node Id: 4f2e")
    preempted = RayActorError(error_msg="The actor died unexpectedly before finishing this task.", preempted=True)
    unreachable = ActorUnavailableError("The actor is temporarily unavailable: RpcError: Socket closed", None)
    crashed = RayActorError(error_msg="The actor died unexpectedly before finishing this task. Worker exit type: "
                                      "SYSTEM_ERROR Worker exit detail: Worker unexpectedly exits")
    assert [read_exception(e).stage for e in (died, preempted, unreachable)] == ["node"] * 3
    assert read_exception(crashed).stage == "worker"  # its own process died: the trial's, not the node's


@pytest.mark.parametrize("name", ["GradedPenaltyCallback", "TrialTimeout", "TrialReaper"])
def test_every_method_of_rays_callback_it_overrides_keeps_rays_argument_names(name):
    """Ray calls a callback's hooks with keyword arguments: each hook of Ray's ``Callback`` these
    classes define takes Ray's parameters, under Ray's names, in Ray's order."""
    from ray.tune import Callback

    from ray_graded_penalty import callback, timeout

    renamed, overridden = overridden_with_other_names(getattr(callback, name, None) or getattr(timeout, name), Callback)
    assert {"on_trial_start", "on_trial_error"} <= overridden
    assert renamed == []
