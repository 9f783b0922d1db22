"""Shared by the serving tests: the toy server's command, and which servers are still running."""

import glob
import os
import sys
import time

from ray_graded_penalty import PenaltyPolicy
from ray_graded_penalty._core.judge import classify
from ray_graded_penalty.callback import read_exception
from ray_graded_penalty.serving.process import group_members, launched_pids

TOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers", "toy_server.py")
#: The toy server; ``{port}`` and the trial's fields are filled in per trial.
TOY_COMMAND = f"{sys.executable} {TOY} --port {{port}}"


def server_pids(root):
    """The pid of every server launched with its log under ``root`` (``# pid N: ...`` lines)."""
    return [pid for path in glob.glob(os.path.join(str(root), "**", "server.log"), recursive=True)
            for pid in launched_pids(path)]


def graded_as(error):
    """The default policy's error class for a raised error, as the searcher reads it: the one
    classifier, from the error's evidence."""
    return classify(read_exception(error), PenaltyPolicy())


def running_servers(root, within_s=0.0):
    """The servers under ``root`` (their launchers' pids, their groups) of which some process still
    runs, the server's own children included, after waiting up to ``within_s`` for them to go."""
    deadline = time.monotonic() + within_s
    while True:
        left = [pid for pid in server_pids(root) if group_members(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)
