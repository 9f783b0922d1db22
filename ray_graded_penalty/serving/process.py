"""One server process: started in its own session, tied to its launching thread, always stopped.

Three things keep a server from outliving its trial, so none depends on one Ray default:
the server runs in a process group of its own, and :meth:`Server.stop` signals the whole group
(SIGTERM, then SIGKILL); it is launched through ``launch.py``, which leads that group and
SIGKILLs all of it, the server's own children too, when the thread that started it dies (the
trial's actor killed by the watchdog included); and Ray itself ends what a worker started when
the worker exits. A server that leaves its own process tree (a daemonizing launcher, a
container started through a daemon) escapes all three:
stop such a server from the command itself (``docker run --rm`` in the foreground, say).

Example:
    >>> import sys, tempfile
    >>> log = tempfile.NamedTemporaryFile(suffix=".log").name
    >>> server = Server.start([sys.executable, "-c", "print('hi')"], log)
    >>> server.wait(10)
    0
    >>> list(server.lines())[-1]
    'hi'
    >>> server.stop()
    0
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator, List, Mapping, Optional

logger = logging.getLogger("ray_graded_penalty")

LAUNCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launch.py")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def launched_pids(log_path: str) -> List[int]:
    """The pid of every server launcher with its output in ``log_path``, its process group's id
    (``launch.py`` writes ``# pid N: command`` first; a retried trial appends another)."""
    try:
        with open(log_path, errors="replace") as f:
            return [int(line.split()[2].rstrip(":")) for line in f if line.startswith("# pid ")]
    except OSError:
        return []


def _stat(pid: int) -> Optional[List[str]]:
    """The fields of ``/proc/<pid>/stat`` after the command's name (state, ppid, pgrp, ...), or
    None when it is gone; Linux."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


#: The states of a process that has ended: a zombie, or dead.
_ENDED = ("Z", "X")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, already dead, does not count); Linux."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in _ENDED


def group_members(pgid: int) -> List[int]:
    """The running processes (zombies left out) of process group ``pgid``: a server launched
    here, its launcher and whatever it started that stayed in its group; Linux."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = _stat(int(entry))
        if fields is not None and fields[0] not in _ENDED and fields[2] == str(pgid):
            found.append(int(entry))
    return found


def exit_text(code: Optional[int]) -> str:
    """``"exit code 1"`` or ``"signal SIGKILL"`` for a ``Popen.returncode``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class Server:
    """A running server process and its log file."""

    def __init__(self, process: subprocess.Popen, log_path: str, log_offset: int, started: float) -> None:
        self.process = process
        self.log_path = log_path
        self.log_offset = log_offset  # where this server's output begins (a retried trial appends)
        self.started = started

    @classmethod
    def start(
        cls,
        argv: List[str],
        log_path: str,
        env: Optional[Mapping[str, str]] = None,
        memory_limit_bytes: Optional[int] = None,
    ) -> "Server":
        """Start ``argv`` in a new session, its output appended to ``log_path``.

        Call it from the thread that runs the trial: the server dies with that thread.
        """
        launch = [sys.executable, "-I", LAUNCH, "--parent", str(os.getpid())]
        if memory_limit_bytes is not None:
            launch += ["--memory-limit", str(int(memory_limit_bytes))]
        with open(log_path, "ab") as log:
            offset = log.tell()
            process = subprocess.Popen(
                launch + ["--"] + list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                close_fds=True,
            )
        logger.debug("Started server pid %d: %s", process.pid, argv)
        return cls(process, log_path, offset, time.monotonic())

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> Optional[int]:
        """The exit status (``Popen.returncode``) if the server has exited, else None."""
        return self.process.poll()

    def wait(self, timeout_s: float) -> Optional[int]:
        """Wait up to ``timeout_s`` for the server to exit; its status, or None if it runs on."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def lines(self) -> Iterator[str]:
        """The non-blank lines this server logged, read from its log as they are asked for (the
        launcher's own line left out); none if the log cannot be read."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                for raw in f:  # a progress bar's carriage returns end lines too
                    for line in raw.decode(errors="replace").splitlines():
                        if line.strip() and not line.startswith("# pid "):
                            yield line.rstrip()
        except OSError:
            return

    def stop(self, grace_s: float = 10.0) -> Optional[int]:
        """SIGTERM the server's process group, SIGKILL it after ``grace_s``; its exit status."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            if self.poll() is not None and not _group_alive(self.pid):
                break
            try:
                os.killpg(self.pid, sig)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if self.wait(0.05) is not None:  # the launcher is reaped: wait() returns at once now
                    if not _group_alive(self.pid):
                        break
                    time.sleep(0.05)  # others of its group are ending (a vLLM engine core)
        return self.poll()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True
