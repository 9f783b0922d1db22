"""The demo: a real tuning run of a simulated LLM server on a local Ray, from the command line."""

import pytest

from conftest import run_python as run

pytestmark = pytest.mark.ray


def test_the_demo_prints_penalties_and_the_best_config(tmp_path):
    done = run(["-m", "ray_graded_penalty", "demo", "--samples", "6", "--timeout", "1",
                "--storage-path", str(tmp_path)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "failed" in done.stdout and ("best config:" in done.stdout or "least-bad failure:" in done.stdout)
    assert "-> penalty" in done.stderr  # one INFO line per failure
    # The README's way on: its report, and a later search warm-started from the run and from the
    # report's CSV (both were refused: the demo's constant "timeout_s" is a column of the report).
    from ray_graded_penalty import GradedPenaltySearcher
    from ray_graded_penalty.demo import SPACE

    experiment = tmp_path / "graded_penalty_demo"
    done = run(["-m", "ray_graded_penalty", "report", str(experiment), "--out", str(tmp_path / "report")], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for source in (experiment, tmp_path / "report" / "failure_report.csv"):
        later = GradedPenaltySearcher("optuna", trial_timeout_s=1, metric="throughput", mode="max",
                                      warm_start=str(source))
        later.set_search_properties(None, None, {**SPACE, "timeout_s": 1})
        assert len(later.outcomes) == 6 and all("timeout_s" not in o.config for o in later.outcomes.values())


def test_the_demo_refuses_bad_arguments(tmp_path):
    done = run(["-m", "ray_graded_penalty", "demo", "--samples", "0"], tmp_path)
    assert done.returncode == 2 and "--samples must be at least 1, got 0" in done.stderr
