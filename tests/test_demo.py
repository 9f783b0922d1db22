"""The demo: a real tuning run of a simulated LLM server on a local Ray, from the command line."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ray
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, tmp_path):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "RAY_DEDUP_LOGS": "0"},
    )




def test_the_demo_prints_penalties_and_the_best_config(tmp_path):
    done = run(["-m", "ray_graded_penalty", "demo", "--samples", "6", "--timeout", "1",
                "--storage-path", str(tmp_path)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "failed" in done.stdout and ("best config:" in done.stdout or "least-bad failure:" in done.stdout)
    assert "-> penalty" in done.stderr  # one INFO line per failure


def test_the_demo_refuses_bad_arguments(tmp_path):
    done = run(["-m", "ray_graded_penalty", "demo", "--samples", "0"], tmp_path)
    assert done.returncode == 2 and "--samples must be at least 1, got 0" in done.stderr
