"""One server process: started in its own group, tied to its launcher, always stopped."""


import signal
import sys

from ray_graded_penalty.serving.process import Server, alive, exit_text, group_members

from serving_helpers import TOY_COMMAND, running_servers, server_pids


def test_exit_text_names_signals():
    assert exit_text(-signal.SIGKILL) == "signal SIGKILL"
    assert exit_text(3) == "exit code 3"


def launched_from_another_process(argv, log):
    """A process that starts ``argv`` (Python code for the list) as a server and sleeps: it, and
    the server's pid (its group's) it printed."""
    import subprocess
    import textwrap

    script = textwrap.dedent(f"""
        import sys, time
        from ray_graded_penalty.serving.process import Server, free_port
        server = Server.start({argv}, {log!r})
        print(server.pid, flush=True)
        time.sleep(600)
    """)
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    return launcher, int(launcher.stdout.readline())


def test_a_server_dies_with_the_thread_that_launched_it(tmp_path):
    """The launcher arms PR_SET_PDEATHSIG: the server goes when its launcher goes, even by SIGKILL."""
    import time

    launcher, pid = launched_from_another_process(f"{TOY_COMMAND.split()!r}[:-1] + [str(free_port())]",
                                                  str(tmp_path / "server.log"))
    try:
        deadline = time.monotonic() + 10
        while not server_pids(tmp_path) and time.monotonic() < deadline:  # the launcher's own line
            time.sleep(0.05)
        assert running_servers(tmp_path) == [pid]
        launcher.kill()  # SIGKILL: no finally, no atexit
        launcher.wait(10)
        assert running_servers(tmp_path, within_s=3.0) == []
    finally:
        launcher.kill()
        launcher.wait(10)


FORKS_A_HELPER = ("import os, subprocess, sys, time; "
                  "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)")


def started_with_its_helper(server):
    """The group's pids once the server (as vLLM's API server forks its engine) forked its helper."""
    import time

    deadline = time.monotonic() + 20
    while len(group_members(server.pid)) < 3 and time.monotonic() < deadline:  # launcher, server, helper
        time.sleep(0.05)
    return group_members(server.pid)


def test_stop_ends_the_whole_process_group(tmp_path):
    server = Server.start([sys.executable, "-c", FORKS_A_HELPER], str(tmp_path / "server.log"))
    members = started_with_its_helper(server)
    assert len(members) == 3
    assert server.stop(grace_s=2.0) is not None
    assert not any(alive(pid) for pid in members) and group_members(server.pid) == []


def test_a_server_and_its_helper_die_with_the_thread_that_launched_them(tmp_path):
    """The launcher SIGKILLed, as the watchdog kills a trial's actor: no stop() runs, and a death
    signal of the server's own would not reach the helper it forked; its group goes."""
    import time

    launcher, pid = launched_from_another_process(f"[sys.executable, '-c', {FORKS_A_HELPER!r}]",
                                                  str(tmp_path / "server.log"))
    try:
        deadline = time.monotonic() + 20
        while len(group_members(pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        members = group_members(pid)
        assert len(members) == 3
        launcher.kill()  # SIGKILL: no finally, no atexit, no stop()
        launcher.wait(10)
        assert running_servers(tmp_path, within_s=3.0) == [] and not any(alive(pid) for pid in members)
    finally:
        launcher.kill()
        launcher.wait(10)


def test_the_server_exits_as_its_command_did(tmp_path):
    """The launcher waits for the server and exits as it did: its code, or killed by its signal."""
    killed = "import os, signal; os.kill(os.getpid(), signal.{})"
    # SIGKILL is the OOM killer's: it read "exit code 1" before
    for code, expected, text in (("raise SystemExit(3)", 3, "exit code 3"),
                                 (killed.format("SIGABRT"), -signal.SIGABRT, "signal SIGABRT"),
                                 (killed.format("SIGKILL"), -signal.SIGKILL, "signal SIGKILL")):
        server = Server.start([sys.executable, "-c", code], str(tmp_path / "server.log"))
        assert server.wait(30) == expected and exit_text(expected) == text


def test_the_launcher_refuses_to_start_a_server_whose_launcher_is_already_gone(tmp_path):
    """The parent it was told is not its parent (the launcher died before the death signal
    was armed): it exits instead of running an orphan."""
    import subprocess

    from ray_graded_penalty.serving.process import LAUNCH

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    done = subprocess.run([sys.executable, "-I", LAUNCH, "--parent", str(gone.pid), "--",
                           sys.executable, "-c", "print('ran')"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "the launching process is gone" in done.stderr and "ran" not in done.stdout
