"""Shared by the serving tests: the toy server's command, and which servers are still running."""

import glob
import os
import sys
import time

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty.serving.process import alive, launched_pids
from ray_graded_penalty.trial_errors import read_exception

TOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers", "toy_server.py")
#: The toy server; ``{port}`` and the trial's fields are filled in per trial.
TOY_COMMAND = f"{sys.executable} {TOY} --port {{port}}"


def server_pids(root):
    """The pid of every server launched with its log under ``root`` (``# pid N: ...`` lines)."""
    return [pid for path in glob.glob(os.path.join(str(root), "**", "server.log"), recursive=True)
            for pid in launched_pids(path)]


def graded_as(error):
    """The default policy's error class for a raised error, as the searcher reads it: the
    class the error carries, else its text's."""
    found = read_exception(error)
    return PenaltyPolicy().grade(0, 1, found.text, found.error_class).error_class


def running_servers(root, within_s=0.0):
    """The servers under ``root`` still running after waiting up to ``within_s`` for them to go."""
    deadline = time.monotonic() + within_s
    while True:
        left = [pid for pid in server_pids(root) if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)
