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


def test_the_demo_refuses_bad_arguments(tmp_path):
    done = run(["-m", "ray_graded_penalty", "demo", "--samples", "0"], tmp_path)
    assert done.returncode == 2 and "--samples must be at least 1, got 0" in done.stderr
