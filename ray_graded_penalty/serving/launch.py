"""Run a server so that it, and every process it starts, dies with the thread that launched it;
stdlib only, run by path.

    python -I launch.py --parent PID [--memory-limit BYTES] -- COMMAND [ARG ...]

Run as a script (not imported by the package, so it starts in milliseconds) as the leader of a
new process group. It gives up at once if its parent is no longer ``PID`` (the launcher died
before the signal below was armed, even before this script started), writes ``# pid N: command``
as the first line of its output (``N``, its own pid, is the group's id), then starts the command
as its child, in its group, with the address space capped if asked (``RLIMIT_AS``), and waits.

Linux sends it ``SIGUSR1`` when its launching thread dies (``PR_SET_PDEATHSIG``; the trial's actor
killed by the watchdog included): it then SIGKILLs its whole group, the server's own children
too (vLLM's engine, a tensor-parallel worker), which a death signal of the server's own would not
reach (Linux clears it in a forked child). The server also has Linux SIGKILL it if this script
dies first. A SIGTERM to the group (``Server.stop``) is the
server's to answer: this script waits for it. It exits as the server did: with its exit code, or
killed by the same signal.
"""

import ctypes
import os
import resource
import shlex
import signal
import sys

PR_SET_PDEATHSIG = 1


def _end_group(signum, frame):
    os.killpg(0, signal.SIGKILL)  # the launching thread is gone: the whole group goes, this script too


def _die_with_parent(sig, parent):
    """Have Linux send ``sig`` when the thread that started this process dies; False if ``parent``
    is gone already (before the signal was armed)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            sys.exit(f"prctl(PR_SET_PDEATHSIG) failed: errno {ctypes.get_errno()}")
    return os.getppid() == parent


def _exit_as(status):
    """Exit as a child that ended with wait ``status`` did."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the server dumped its core, if any: not again
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # their handlers cannot be set (EINVAL)
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.WEXITSTATUS(status))


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
    signal.signal(signal.SIGUSR1, _end_group)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)  # the server's to answer; exec resets it there
    if not _die_with_parent(signal.SIGUSR1, parent):  # the launcher died before the signal was armed
        sys.exit("the launching process is gone")
    print(f"# pid {os.getpid()}: {shlex.join(command)}", flush=True)
    supervisor = os.getpid()
    child = os.fork()
    if child == 0:
        try:  # the server itself is also SIGKILLed if this script is ever killed first
            if not _die_with_parent(signal.SIGKILL, supervisor):
                os._exit(1)
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            os.execvp(command[0], command)
        except OSError as e:
            print(f"could not run {command[0]!r}: {e.strerror}", file=sys.stderr, flush=True)
        os._exit(1)
    _, status = os.waitpid(child, 0)
    _exit_as(status)


if __name__ == "__main__":
    main(sys.argv[1:])
