"""Shared by the serving tests: the toy server's command, and which servers are still running."""

import glob
import os
import re
import sys
import time

TOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers", "toy_server.py")
#: The toy server; ``{port}`` and the trial's fields are filled in per trial.
TOY_COMMAND = f"{sys.executable} {TOY} --port {{port}}"


def server_pids(root):
    """The pid of every server launched with its log under ``root`` (``# pid N: ...`` lines)."""
    pids = []
    for path in glob.glob(os.path.join(str(root), "**", "server.log"), recursive=True):
        with open(path, errors="replace") as f:
            pids += [int(m.group(1)) for m in re.finditer(r"^# pid (\d+):", f.read(), re.M)]
    return pids


def alive(pid):
    """Whether ``pid`` runs (a zombie, already dead, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def running_servers(root, within_s=0.0):
    """The servers under ``root`` still running after waiting up to ``within_s`` for them to go."""
    deadline = time.monotonic() + within_s
    while True:
        left = [pid for pid in server_pids(root) if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)
