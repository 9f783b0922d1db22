"""Every way a trial can end is graded: hangs, killed workers, failing setups, retries."""

import os
import signal
import time

import pandas as pd
import pytest
from ray import tune

from ray_graded_penalty import GradedPenaltySearcher, TrialTimeout
from ray_graded_penalty.compat import FailureConfig, RunConfig, report
from ray_graded_penalty.report import failure_report

from conftest import optuna_study, own_ray
from searcher_helpers import PointsThenFinished
from tuner_helpers import Recorder, run, trial_ids

pytestmark = pytest.mark.ray
TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def ray_with_a_gpu():
    """A local Ray with one (pretend) GPU, so trials that need it must take turns."""
    yield from own_ray(num_cpus=2, num_gpus=1)


def fit(trainable, searcher, tmp_path, num_samples, space, **kwargs):
    """A real Tuner run that also records when each trial started and ended."""
    recorder = Recorder()
    grid = run(searcher, trainable, tmp_path, num_samples, space=space,
               callbacks=[searcher.callback, recorder], **kwargs)
    return grid, recorder


def hang_or_succeed(config):
    if config["hang"]:
        time.sleep(10**6)  # a deploy step that never returns
    report({"score": 1.0})


class HangingClassTrainable(tune.Trainable):
    def setup(self, config):
        self.hang = config["hang"]

    def step(self):
        if self.hang:
            time.sleep(10**6)
        return {"score": 1.0, "done": True}

    def save_checkpoint(self, checkpoint_dir):
        return None

    def load_checkpoint(self, checkpoint):
        pass


@pytest.mark.parametrize("trainable", [hang_or_succeed, HangingClassTrainable], ids=["function", "class"])
def test_a_hung_trial_is_stopped_within_the_timeout_frees_its_gpu_and_scores_minus_80(
    ray_with_a_gpu, tmp_path, trainable
):
    searcher = GradedPenaltySearcher(
        "optuna", trial_timeout_s=TIMEOUT_S, points_to_evaluate=[{"hang": 1}, {"hang": 0}]
    )
    gpu_trainable = tune.with_resources(trainable, {"cpu": 1, "gpu": 1})
    grid, recorder = fit(gpu_trainable, searcher, tmp_path, 2, {"hang": tune.choice([0, 1])})
    hung = next(t for t, o in searcher.outcomes.items() if o.config["hang"])
    fine = next(t for t, o in searcher.outcomes.items() if not o.config["hang"])
    assert recorder.ended[hung] - recorder.started[hung] <= TIMEOUT_S + 10
    # The only GPU was held by the hung trial: the other ran only after it was freed.
    assert recorder.started[fine] >= recorder.ended[hung] - 0.5
    outcome = searcher.outcomes[hung]
    assert outcome.failed and outcome.penalty == -80.0 and outcome.error_class == "timeout"
    assert not searcher.outcomes[fine].failed
    assert searcher.callback.timeout.timed_out == {hung}


def two_steps_then_hang_or_all_ten(config):
    for step in range(10):
        report({"score": float(step)})
        if config["hang"] and step == 1:
            time.sleep(10**6)


@pytest.mark.parametrize("scheduler", [None, "asha"])
def test_a_trial_that_reported_2_of_10_iterations_and_hung_is_graded_at_a_fifth(ray_with_a_gpu, tmp_path,
                                                                                 scheduler):
    """How far it got, not how long it ran: Tune stops trials at iteration 10, the hung one
    reported 2 of them; the watchdog ends it at the timeout, and it is graded at 20 % (the
    20-60 % tier, by the timeout's factor: -400), not -80 as its clock would say. With ASHA,
    its ``max_t`` given as the same ``stop`` (which stops nothing ASHA would not) is read alike."""
    from ray.tune.schedulers import ASHAScheduler

    searcher = GradedPenaltySearcher(
        "optuna", trial_timeout_s=TIMEOUT_S, points_to_evaluate=[{"hang": 1}, {"hang": 0}]
    )
    asha = {"scheduler": ASHAScheduler(time_attr="training_iteration", max_t=10, grace_period=4)} if scheduler else {}
    fit(two_steps_then_hang_or_all_ten, searcher, tmp_path, 2, {"hang": tune.choice([0, 1])},
        stop={"training_iteration": 10}, **asha)
    hung = next(o for o in searcher.outcomes.values() if o.config["hang"])
    assert hung.failed and hung.error_class == "timeout" and hung.completion == 0.2 and hung.penalty == -400.0
    assert hung.elapsed_s >= TIMEOUT_S
    assert [o.metric for o in searcher.outcomes.values() if not o.config["hang"]] == [9.0]


def test_the_timeout_works_on_its_own(ray_with_a_gpu, tmp_path):
    watchdog = TrialTimeout(timeout_s=TIMEOUT_S)
    recorder = Recorder()
    tuner = tune.Tuner(
        hang_or_succeed,
        param_space={"hang": 1},
        run_config=RunConfig(storage_path=str(tmp_path), callbacks=[watchdog, recorder], verbose=0),
    )
    start = time.time()
    grid = tuner.fit()
    assert time.time() - start < TIMEOUT_S + 60  # the hang is 10**6 s: ended, on a machine however loaded
    (trial_id,) = recorder.ended
    assert watchdog.timed_out == {trial_id} and grid[0].error is not None


def die(config):
    time.sleep(0.3)
    if config["how"] == 1:
        os._exit(1)
    if config["how"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    report({"score": 1.0})


def test_a_worker_process_that_dies_is_graded_and_the_run_completes(ray_with_a_gpu, tmp_path):
    searcher = GradedPenaltySearcher(
        "optuna", trial_timeout_s=60, points_to_evaluate=[{"how": 1}, {"how": 2}, {"how": 0}]
    )
    grid, _ = fit(die, searcher, tmp_path, 3, {"how": tune.choice([0, 1, 2])})
    every, errored = trial_ids(grid)
    assert len(every) == 3 and set(searcher.outcomes) == every
    died = [o for o in searcher.outcomes.values() if o.config["how"]]
    assert len(died) == 2 and {o.trial_id for o in died} == errored
    for outcome in died:
        assert outcome.failed and outcome.error  # Ray's text about the dead actor
        # Ray knows it died, not why: a plain crash, and Ray's guesses ("the OOM killer due to
        # high memory usage") are not in the text.
        assert outcome.error_class == "crash" and "memory" not in outcome.error, outcome.error
        assert outcome.completion < 0.2  # it died early: the earliest tier
    assert len(optuna_study(searcher).trials) == 3


class FailingSetup(tune.Trainable):
    def setup(self, config):
        raise ValueError("invalid tensor_parallel for this model")

    def step(self):  # pragma: no cover - never reached
        return {"score": 1.0}


def test_a_trainable_whose_setup_raises_is_graded_at_the_earliest_tier(ray_with_a_gpu, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=0)
    fit(FailingSetup, searcher, tmp_path, 2, {"x": tune.uniform(0, 1)})
    assert len(searcher.outcomes) == 2
    for outcome in searcher.outcomes.values():
        assert outcome.failed and outcome.penalty == -1000.0
        assert "invalid tensor_parallel" in outcome.error


def flaky_then_fine(config):
    """Fails its first attempt (a transient error), succeeds on the retry."""
    marker = os.path.join(config["dir"], f"attempted-{config['x']:.6f}")
    if config["always_fail"] or not os.path.exists(marker):
        open(marker, "w").close()
        raise ConnectionError("connection reset by peer")
    report({"score": 5.0})


@pytest.mark.parametrize("always_fail", [False, True], ids=["succeeds-on-retry", "exhausts-retries"])
def test_retries_tell_the_final_outcome_once(ray_with_a_gpu, tmp_path, always_fail):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=0)
    space = {"x": tune.uniform(0, 1), "dir": str(tmp_path), "always_fail": always_fail}
    fit(flaky_then_fine, searcher, tmp_path, 2, space, failure_config=FailureConfig(max_failures=2))
    trials = optuna_study(searcher).trials
    assert len(trials) == 2 and len(searcher.outcomes) == 2
    for outcome in searcher.outcomes.values():
        if always_fail:
            assert outcome.failed and outcome.error_class == "connection" and outcome.penalty == -800.0
        else:
            assert not outcome.failed and outcome.told == 5.0


class RunsThenCannotStart(tune.Trainable):
    """Its first attempt runs two seconds and runs out of memory; Tune's retry of it cannot even
    start (its setup, in the actor's creation, runs out of memory)."""

    def setup(self, config):
        marker = os.path.join(config["dir"], f"attempted-{config['x']:.6f}")
        if os.path.exists(marker):
            raise RuntimeError("CUDA out of memory (loading the model)")
        open(marker, "w").close()

    def step(self):
        time.sleep(2)
        raise RuntimeError("CUDA out of memory")


def test_a_retry_that_fails_before_it_starts_is_graded_as_failing_before_it_ran(ray_with_a_gpu, tmp_path):
    """Tune sends no start for an attempt whose actor could not be created: it was graded by the
    attempt before it (its clock from that one's start, 2 s and more, where the failure that
    counts, the last, never ran)."""
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=0)
    fit(RunsThenCannotStart, searcher, tmp_path, 1, {"x": tune.uniform(0, 1), "dir": str(tmp_path)},
        failure_config=FailureConfig(max_failures=1))
    (told,) = searcher.outcomes.values()
    assert told.failed and "loading the model" in told.error, told.error
    assert told.elapsed_s == 0.0 and told.completion == 0.0, (told.elapsed_s, told.completion)


class NodeLost(RuntimeError):
    error_class = "lost"  # the infrastructure's failure: its configuration runs again


def lost_with_its_node(config):
    raise NodeLost("the node was preempted")


def test_a_transient_failure_whose_retry_never_ran_is_told_before_tunes_last_save(ray_with_a_gpu, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=0)
    grid, _ = fit(lost_with_its_node, searcher, tmp_path, 1, {"x": tune.uniform(0, 1)})
    (told,) = searcher.outcomes.values()  # no trial was left to retry it: told as it ended
    assert told.failed and told.error_class == "lost" and searcher.retried == {}
    (row,) = failure_report(grid).to_dict("records")
    assert row["told"] == told.told and not row.get("retried", False)
    after = GradedPenaltySearcher("optuna", trial_timeout_s=60)
    after.restore_from_dir(grid.experiment_path)
    assert after.outcomes == searcher.outcomes and after.retried == {}


def lost_then_runs_long(config):
    """Its node is lost on the first try; the retry would run for two minutes."""
    tried, running = os.path.join(config["dir"], "tried"), os.path.join(config["dir"], "retry-running")
    if not os.path.exists(tried):
        open(tried, "w").close()
        raise NodeLost("the node was preempted")
    open(running, "w").close()
    time.sleep(120)
    report({"score": 1.0})


class StopAllOnceTheRetryRuns(tune.Stopper):
    """Stops the whole run as time_budget_s does (Tune's stop_all), once the retry is running."""

    def __init__(self, marker):
        self.marker = marker

    def __call__(self, trial_id, result):
        return False

    def stop_all(self):
        return os.path.exists(self.marker)


def test_a_retry_cut_off_when_tune_stops_the_run_is_not_told_and_its_first_try_is(ray_with_a_gpu, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=300, seed=0)
    started = time.monotonic()
    grid, _ = fit(lost_then_runs_long, searcher, tmp_path, 3, {"x": tune.uniform(0, 1), "dir": str(tmp_path)},
                  stop=StopAllOnceTheRetryRuns(str(tmp_path / "retry-running")), max_concurrent_trials=1)
    assert time.monotonic() - started < 100  # stopped, not the retry's two minutes
    everything, errored = trial_ids(grid)
    (first,), (retry,) = errored, everything - errored  # the run stopped before a third
    (told,) = searcher.outcomes.values()
    assert told.trial_id == first and told.failed and told.error_class == "lost"
    assert searcher.retried == {} and searcher.get_state()["records"] == {}  # the cut-off retry: gone
    rows = {row["trial_id"]: row for row in failure_report(grid).to_dict("records")}
    assert rows[first]["told"] == told.told and pd.isna(rows[retry]["told"])
    assert rows[retry]["status"] == "terminated"  # what Ray recorded: not told
    after = GradedPenaltySearcher("optuna", trial_timeout_s=300)
    after.restore_from_dir(grid.experiment_path)
    assert after.outcomes == searcher.outcomes and after.get_state()["records"] == {}


def runs_until_interrupted_then_is_lost(config):
    """x = 0.1 succeeds; x = 0.2 runs until the run is interrupted, and its node is lost when
    the restored run starts it again."""
    if config["x"] < 0.15:
        report({"score": 1.0})
        return
    running = os.path.join(config["dir"], "running")
    if not os.path.exists(running):
        open(running, "w").close()
        time.sleep(10**6)  # until the run is interrupted (or the watchdog ends it: then not told as lost)
    raise NodeLost("the node was preempted")


class InterruptOnceFinished(tune.Callback):
    """Ctrl+C, once the inner searcher answered FINISHED and the trial at x = 0.2 runs."""

    def __init__(self, dir):
        self.finished, self.running = os.path.join(dir, "finished"), os.path.join(dir, "running")

    def on_step_end(self, iteration, trials, **info):
        if os.path.exists(self.finished) and os.path.exists(self.running):
            os.remove(self.finished)  # once: the restored run has this callback too
            os.kill(os.getpid(), signal.SIGINT)  # Tune saves the experiment and ends the run


def test_restored_after_its_searcher_finished_a_lost_trial_is_told_before_tunes_last_save(ray_with_a_gpu,
                                                                                           tmp_path):
    searcher = GradedPenaltySearcher(PointsThenFinished(str(tmp_path / "finished")), trial_timeout_s=300)
    grid = run(searcher, runs_until_interrupted_then_is_lost, tmp_path, 5, space={"dir": str(tmp_path)},
               callbacks=[searcher.callback, InterruptOnceFinished(str(tmp_path))])
    assert [o.told for o in searcher.outcomes.values()] == [1.0]  # x = 0.2 was interrupted
    restored = tune.Tuner.restore(grid.experiment_path, trainable=runs_until_interrupted_then_is_lost)
    restored.fit()
    after = GradedPenaltySearcher(PointsThenFinished(str(tmp_path / "finished")), trial_timeout_s=300)
    after.restore_from_dir(grid.experiment_path)  # what Tune saved last: no trial came to retry it
    assert sorted(o.error_class or "success" for o in after.outcomes.values()) == ["lost", "success"]
    assert after.retried == {}


def half_way_when_interrupted(config):
    """Reports it got half way and runs on until the run is interrupted; started again by the
    restored run (from the beginning: it has no checkpoint), it runs out of memory at once."""
    started = os.path.join(config["dir"], "started")
    if os.path.exists(started):
        raise RuntimeError("CUDA out of memory while restoring")
    open(started, "w").close()
    report({"score": 1.0, "progress": 0.5})
    time.sleep(10**6)


class InterruptAtAResult(tune.Callback):
    """Ctrl+C once a trial reported (after its searcher heard it), in the first run only."""

    def __init__(self, dir):
        self.once = os.path.join(dir, "interrupt")
        open(self.once, "w").close()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if os.path.exists(self.once):
            os.remove(self.once)
            os.kill(os.getpid(), signal.SIGINT)


def test_a_trial_started_before_a_restore_keeps_how_far_it_got(ray_with_a_gpu, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=300, seed=0)
    grid = run(searcher, half_way_when_interrupted, tmp_path, 1,
               space={"x": tune.uniform(0, 1), "dir": str(tmp_path)},
               callbacks=[searcher.callback, InterruptAtAResult(str(tmp_path))])
    assert searcher.outcomes == {}  # interrupted while it ran
    tune.Tuner.restore(grid.experiment_path, trainable=half_way_when_interrupted).fit()
    after = GradedPenaltySearcher("optuna", trial_timeout_s=300)
    after.restore_from_dir(grid.experiment_path)
    (told,) = after.outcomes.values()
    assert told.error_class == "oom" and told.completion == pytest.approx(0.5)  # not from the restart's clock


def fails_then_runs_long(config):
    """Fails at once, its retries too; run again after them (a restore), it would hold its GPU
    for a minute."""
    attempts = len(os.listdir(config["dir"]))
    open(os.path.join(config["dir"], f"attempt-{attempts}"), "w").close()
    if attempts >= 3:  # the first run's attempt and its two retries have failed
        time.sleep(60)
        report({"score": 1.0})
        return
    raise RuntimeError("CUDA out of memory")


def test_a_told_trial_tune_starts_again_after_a_restore_is_ended_at_its_start(ray_with_a_gpu, tmp_path, caplog):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=120, seed=0)
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    grid, _ = fit(fails_then_runs_long, searcher, tmp_path, 1, {"x": tune.uniform(0, 1), "dir": str(attempts)},
                  failure_config=FailureConfig(max_failures=2))
    (told,) = searcher.outcomes.values()
    assert told.error_class == "oom"
    started = time.monotonic()
    restored = tune.Tuner.restore(grid.experiment_path, trainable=fails_then_runs_long, resume_errored=True)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        again = restored.fit()
    assert time.monotonic() - started < 40  # ended at its start: not its minute, no retries
    assert len(os.listdir(attempts)) <= 4  # at most the rerun's own start, and no retry of it
    (result,) = list(again)
    assert result.error is not None and "score" not in (result.metrics or {})
    assert sum("was told before the run was restored" in r.getMessage() for r in caplog.records) == 1
    after = GradedPenaltySearcher("optuna", trial_timeout_s=120)
    after.restore_from_dir(grid.experiment_path)
    assert after.outcomes == {told.trial_id: told}  # told once, and as it was


def raises_with_a_class(config):
    from ray_graded_penalty.serving import ServerError

    raise ServerError("the server failed: zoom", stage="load", error_class=config["error_class"])


def test_the_class_an_exception_carries_survives_ray_and_beats_its_text(ray_with_a_gpu, tmp_path, caplog):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60,
                                     points_to_evaluate=[{"error_class": "oom"}, {"error_class": "xid"}])
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        fit(raises_with_a_class, searcher, tmp_path, 2, {"error_class": tune.choice(["oom", "xid"])})
    graded = {o.config["error_class"]: o.error_class for o in searcher.outcomes.values()}
    assert graded == {"oom": "oom", "xid": "crash"}  # "xid": unknown to the policy, so its text decides
    assert sum("its class is 'xid'" in r.getMessage() for r in caplog.records) == 1


def raises_from_a_cause(config):
    """An engine wrapper that hides its cause in the chain: only the types say what it was."""
    causes = {"memory": MemoryError(), "module": ModuleNotFoundError("No module named 'flash_attn'"),
              "none": None}
    try:
        if causes[config["cause"]] is not None:
            raise causes[config["cause"]]
    except Exception as e:
        raise RuntimeError("the engine core failed to start") from e
    raise RuntimeError("the engine core failed to start")


def test_the_types_along_an_exception_s_chain_survive_ray_and_decide_its_class(ray_with_a_gpu, tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60,
                                     points_to_evaluate=[{"cause": c} for c in ("memory", "module", "none")])
    fit(raises_from_a_cause, searcher, tmp_path, 3, {"cause": tune.choice(["memory", "module", "none"])})
    graded = {o.config["cause"]: o.error_class for o in searcher.outcomes.values()}
    assert graded == {"memory": "oom", "module": "deploy", "none": "crash"}


def score_each_iteration(config):
    for i in range(1, 10):
        report({"score": config["x"] * i})
        time.sleep(0.05)


def test_a_trial_hyperband_stops_while_paused_is_told_its_last_result_not_a_failure(ray_with_a_gpu, tmp_path):
    """HyperBand pauses trials at its milestones and stops the worse ones while paused: Tune then
    completes them with no result (TuneController.stop_trial). Each is told its last score."""
    from ray.tune.schedulers import HyperBandScheduler

    recorder = Recorder()
    points = [{"x": x} for x in (0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.5)]
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, points_to_evaluate=points)
    reported = {}

    class LastScores(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            reported[trial.trial_id] = result["score"]

    grid = run(searcher, score_each_iteration, tmp_path, len(points), space={"x": tune.uniform(0, 1)},
               callbacks=[searcher.callback, recorder, LastScores()],
               scheduler=HyperBandScheduler(time_attr="training_iteration", max_t=9, reduction_factor=3))
    stopped = [r for r in grid if r.metrics.get("training_iteration", 9) < 9]
    assert stopped, "HyperBand stopped no trial early: nothing checked"
    assert not any(o.failed for o in searcher.outcomes.values())  # 0.5 graded each as a timeout
    assert {t: o.metric for t, o in searcher.outcomes.items()} == pytest.approx(reported)


def fails_when_resumed(config):
    """Reports each iteration; started again after HyperBand paused it, it fails at once (as a
    restore that runs out of memory)."""
    marker = os.path.join(config["dir"], f"started-{config['x']}")
    if os.path.exists(marker):
        raise RuntimeError("CUDA out of memory while restoring")
    open(marker, "w").close()
    for i in range(1, 10):
        report({"score": config["x"] * i, "progress": i / 9})
        time.sleep(0.05)


def test_a_trial_that_fails_when_hyperband_resumes_it_keeps_how_far_it_got(ray_with_a_gpu, tmp_path):
    from ray.tune.schedulers import HyperBandScheduler

    points = [{"x": x} for x in (0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.5)]
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, points_to_evaluate=points)
    run(searcher, fails_when_resumed, tmp_path, len(points), space={"x": tune.uniform(0, 1), "dir": str(tmp_path)},
        scheduler=HyperBandScheduler(time_attr="training_iteration", max_t=9, reduction_factor=3))
    resumed = [o for o in searcher.outcomes.values() if o.failed]
    assert resumed, "HyperBand resumed no trial: nothing checked"
    for outcome in resumed:  # it had reported its milestone's progress (3 of 9) before its pause
        assert outcome.error_class == "oom" and outcome.completion == pytest.approx(3 / 9), outcome
