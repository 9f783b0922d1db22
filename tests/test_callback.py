"""What the callback reports: the error a trial is graded by (the one that really failed, under Ray's and
Ray Train's wrappers), resumes against starts, and what Tune ends without an event."""

import pytest
import ray
from ray.exceptions import RayTaskError
from ray.tune.search import Repeater

from ray_graded_penalty import GradedPenaltySearcher, PenaltyPolicy
from ray_graded_penalty.callback import GradedPenaltyCallback, describe_exception

from conftest import overridden_with_other_names, worker_group_error
from tuner_helpers import oom_above_06, run


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
    failure = worker_group_error()(
        "rank 1 failed", {1: RuntimeError("CUDA out of memory"), 3: ConnectionError("peer gone")})
    text = describe_exception(_task_error(failure))
    assert text == "RuntimeError: CUDA out of memory"
    assert PenaltyPolicy().grade(30, 600, text).error_class == "oom"


def test_a_train_v2_controller_error_is_graded_by_its_cause():
    exceptions = pytest.importorskip("ray.train.v2.api.exceptions", reason="Train V2 exists from Ray 2.4x")
    if not hasattr(exceptions, "ControllerError"):
        pytest.skip("this Ray's Train V2 raises no error of its controller's (Ray 2.44)")
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


def test_a_ray_train_run_whose_node_was_preempted_reads_as_the_stage_node():
    exceptions = pytest.importorskip("ray.train.v2.api.exceptions")  # Ray 2026-06 on: not at the oldest pins
    if not hasattr(exceptions, "PreemptionError"):
        pytest.skip("this Ray's Train V2 has no PreemptionError")
    from ray.train.v2.api.preemption import PreemptionInfo

    from ray_graded_penalty.callback import read_exception

    error = exceptions.PreemptionError(PreemptionInfo(deadline_ms=None, preempted_node_to_ranks={"4f2e": [0, 1]}))
    evidence = read_exception(error)
    assert evidence.stage == "node"
    assert evidence.text.startswith("PreemptionError: Training was interrupted by node preemption")


@pytest.mark.parametrize("name", ["GradedPenaltyCallback", "TrialTimeout", "TrialReaper"])
def test_every_method_of_rays_callback_it_overrides_keeps_rays_argument_names(name):
    """Ray calls a callback's hooks with keyword arguments: each hook of Ray's ``Callback`` these
    classes define takes Ray's parameters, under Ray's names, in Ray's order."""
    from ray.tune import Callback

    from ray_graded_penalty import callback, timeout

    renamed, overridden = overridden_with_other_names(getattr(callback, name, None) or getattr(timeout, name), Callback)
    assert {"on_trial_start", "on_trial_error"} <= overridden
    assert renamed == []


class Heard:
    """A TrialEvents that writes down what it hears."""

    def __init__(self):
        self.heard = []

    def callback_attached(self): pass
    def stops_at_iteration(self, iterations): pass
    def trial_started(self, trial_id): self.heard.append(("started", trial_id))
    def trial_resumed(self, trial_id): self.heard.append(("resumed", trial_id))
    def trial_timed_out(self, trial_id, stage=None): self.heard.append(("timed out", trial_id))
    def trial_errored(self, trial_id, evidence): self.heard.append(("errored", trial_id))
    def trial_stopped(self, trial_id): self.heard.append(("stopped", trial_id))
    def search_ended(self): self.heard.append(("search ended",))
    def experiment_ended(self): self.heard.append(("ended",))
    def already_told(self, trial_id): return False


class FakeTrial:
    def __init__(self, trial_id, status):
        self.trial_id, self.status, self.config = trial_id, status, {"x": 0.5}


def test_a_start_after_a_pause_is_a_resume_and_one_after_a_failure_a_start():
    heard, trial = Heard(), FakeTrial("a", "RUNNING")
    callback = GradedPenaltyCallback(heard, timeout_s=None)
    callback.setup(total_num_samples=5)
    callback.on_trial_start(iteration=1, trials=[trial], trial=trial)
    callback.on_trial_start(iteration=2, trials=[trial], trial=trial)  # a scheduler had paused it
    callback.on_trial_recover(iteration=3, trials=[trial], trial=trial)  # it failed; Tune runs it again
    callback.on_trial_start(iteration=4, trials=[trial], trial=trial)
    callback.on_trial_start(iteration=5, trials=[trial], trial=trial)
    assert heard.heard == [("started", "a"), ("resumed", "a"), ("started", "a"), ("resumed", "a")]


def test_a_retry_does_not_inherit_the_stage_its_last_attempt_reached(local_ray):
    """A retry that hangs before it publishes a stage of its own was graded by the stage its
    failed attempt had reached (a server that never came up read as one that served)."""
    from ray_graded_penalty._core.ray_internals import publish_stage, published_stage

    ray.get(ray.remote(publish_stage).remote("retried", "load"))  # as the first attempt's trainable
    callback, trial = GradedPenaltyCallback(Heard(), timeout_s=None), FakeTrial("retried", "RUNNING")
    callback.setup(total_num_samples=5)
    callback.on_trial_start(iteration=1, trials=[trial], trial=trial)
    assert published_stage("retried") == "load"
    callback.on_trial_recover(iteration=2, trials=[trial], trial=trial)
    assert published_stage("retried") is None


def test_a_trial_started_before_a_restore_resumes_when_tune_starts_it_again():
    before, trial = GradedPenaltyCallback(Heard(), timeout_s=None), FakeTrial("a", "RUNNING")
    before.setup(total_num_samples=5)
    before.on_trial_start(iteration=1, trials=[trial], trial=trial)
    saved = before.get_state()  # Tune saves it with the experiment
    heard = Heard()
    restored = GradedPenaltyCallback(heard, timeout_s=None)
    restored.set_state(saved)  # Tune restores the state, then sets the callback up
    restored.setup(total_num_samples=5)
    other = FakeTrial("b", "RUNNING")
    for t in (trial, other):
        restored.on_trial_start(iteration=1, trials=[trial, other], trial=t)
    restored.setup(total_num_samples=5)  # the same callback in a new run: no trial started in it
    restored.on_trial_start(iteration=1, trials=[trial], trial=trial)
    assert heard.heard == [("resumed", "a"), ("started", "b"), ("started", "a")]


def test_at_a_steps_end_it_reports_the_trials_tune_stopped_without_an_event_and_the_searchs_end():
    heard, trials = Heard(), [FakeTrial("ended-before-a-restore", "TERMINATED"), FakeTrial("a", "RUNNING"),
                              FakeTrial("b", "PENDING")]
    callback = GradedPenaltyCallback(heard, timeout_s=None)
    callback.setup(total_num_samples=5)
    callback.on_step_begin(iteration=1, trials=trials)
    callback.on_step_end(iteration=1, trials=trials)
    assert heard.heard == [("stopped", "ended-before-a-restore")]  # no news if told; not the search's end
    trials[1].status = "TERMINATED"
    callback.on_trial_complete(iteration=2, trials=trials, trial=trials[1])  # ended with its event
    callback.on_step_end(iteration=2, trials=trials)
    assert heard.heard == [("stopped", "ended-before-a-restore")]
    trials[2].status = "TERMINATED"  # Tune stopped the run: no event
    trials.append(FakeTrial("c", "TERMINATED"))  # made and stopped within the same step
    callback.on_step_end(iteration=3, trials=trials)
    callback.on_step_end(iteration=4, trials=trials)
    assert heard.heard[1:] == [("stopped", "b"), ("stopped", "c"), ("search ended",)]


def test_the_search_ends_at_the_step_tune_has_made_all_its_trials_in():
    heard = Heard()
    callback = GradedPenaltyCallback(heard, timeout_s=None)
    callback.setup(total_num_samples=2)
    callback.on_step_end(iteration=1, trials=[FakeTrial("a", "RUNNING")])
    assert heard.heard == []
    for iteration in (2, 3):
        callback.on_step_end(iteration=iteration, trials=[FakeTrial("a", "RUNNING"), FakeTrial("b", "PENDING")])
    assert heard.heard == [("search ended",)]


@pytest.mark.ray
def test_a_repeater_around_the_searcher_is_refused_when_tune_starts_its_first_trial(local_ray, tmp_path):
    searcher = GradedPenaltySearcher(trial_timeout_s=60, metric="score", mode="max", seed=0)
    with pytest.raises(ValueError, match="does not run under a Repeater.*Repeat inside your trainable instead"):
        run(Repeater(searcher, repeat=2), oom_above_06, tmp_path, num_samples=4, callbacks=[searcher.callback])
    assert searcher.outcomes == {}  # nothing ran to its end
