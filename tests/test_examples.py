"""The cluster example and the console script run to completion (as a user would start them);
the demo: test_demo.py."""

import os
import subprocess
import sys

import pytest

from conftest import run_python as run

pytestmark = pytest.mark.ray


def test_the_cluster_example_runs_on_a_local_ray(tmp_path):
    done = run(["examples/cluster.py", "--samples", "3", "--timeout", "30", "--simulated-timeout", "0.5",
                "--gpus-per-trial", "0", "--seed", "0", "--storage-path", str(tmp_path)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trials failed; each was graded" in done.stdout


def test_the_console_script_is_installed(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "ray-graded-penalty")
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "demo" in done.stdout and "report" in done.stdout
