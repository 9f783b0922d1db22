"""A driver killed mid-experiment and restored with Tuner.restore loses nothing, tells nothing
twice, and keeps grading failures (its callback finds the restored searcher)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import optuna_study
from ray_graded_penalty import GradedPenaltySearcher
from restore_driver import NUM_SAMPLES

pytestmark = pytest.mark.ray
DRIVER = os.path.join(os.path.dirname(__file__), "restore_driver.py")


def start_driver(storage, how):
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0.5"}
    # Its own session, so the driver and every Ray process it started can be killed together.
    return subprocess.Popen(
        [sys.executable, DRIVER, str(storage), "exp", how],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def checkpointed(experiment_dir):
    """The searcher as the experiment's last checkpoint holds it, or None if there is none."""
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30)
    try:
        searcher.restore_from_dir(experiment_dir)
    except (RuntimeError, FileNotFoundError, EOFError):
        return None
    return searcher


def kill_session(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def test_a_killed_driver_restored_with_tuner_restore_loses_nothing(tmp_path):
    experiment_dir = str(tmp_path / "exp")
    driver = start_driver(tmp_path, "fresh")
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            state = os.path.isdir(experiment_dir) and checkpointed(experiment_dir)
            if state and len(state.outcomes) >= 4:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the first driver never checkpointed four finished trials")
    finally:
        kill_session(driver)
    told_before = checkpointed(experiment_dir).outcomes
    assert 4 <= len(told_before) < NUM_SAMPLES, "the kill must land mid-experiment"

    restored = start_driver(tmp_path, "restore")
    try:
        assert restored.wait(timeout=240) == 0
    finally:
        kill_session(restored)

    final = checkpointed(experiment_dir)
    outcomes = final.outcomes
    assert len(outcomes) == NUM_SAMPLES
    for trial_id, outcome in told_before.items():  # nothing told before the kill changed
        assert outcomes[trial_id] == outcome
    study = optuna_study(final).trials
    complete = [t for t in study if t.state.name == "COMPLETE"]
    assert len(complete) == NUM_SAMPLES  # every finished trial told exactly once
    told_after = [o for t, o in outcomes.items() if t not in told_before]
    failures_after = [o for o in told_after if o.failed]
    assert failures_after, "penalties keep being told after the restore"
    for outcome in failures_after:  # graded with the callback's error text, not blind
        assert "CUDA out of memory" in (outcome.error or "") and outcome.error_class == "oom"
