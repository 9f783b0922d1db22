"""Exec a server so that it dies with the thread that launched it; stdlib only, run by path.

    python -I launch.py --parent PID [--memory-limit BYTES] -- COMMAND [ARG ...]

Run as a script (not imported by the package, so it starts in milliseconds): it asks Linux
to SIGKILL it when its launching thread dies (``PR_SET_PDEATHSIG``, kept across ``exec``),
gives up at once if its parent is no longer ``PID`` (the launcher died before the signal was
armed, even before this script started), caps its address space if asked
(``RLIMIT_AS``), writes ``# pid N: command`` as the first line of its output, and replaces
itself with the command, which keeps the pid, the signal and the limit.
"""

import ctypes
import os
import resource
import shlex
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv):
    parent = limit = None
    while argv[:1] in (["--parent"], ["--memory-limit"]):
        if argv[0] == "--parent":
            parent = int(argv[1])
        else:
            limit = int(argv[1])
        argv = argv[2:]
    if argv[:1] != ["--"] or len(argv) < 2 or parent is None:
        sys.exit("usage: launch.py --parent PID [--memory-limit BYTES] -- COMMAND [ARG ...]")
    command = argv[1:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            sys.exit(f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}")
    if os.getppid() != parent:  # the launcher died before the signal was armed
        sys.exit("the launching process is gone")
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(f"# pid {os.getpid()}: {shlex.join(command)}", flush=True)
    try:
        os.execvp(command[0], command)
    except OSError as e:
        sys.exit(f"could not run {command[0]!r}: {e.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
