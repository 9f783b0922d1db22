"""One server process: started in its own group, tied to its launcher, always stopped."""


import signal
import sys

from ray_graded_penalty.serving.process import Server, alive, exit_text

from serving_helpers import TOY_COMMAND, running_servers, server_pids


def test_exit_text_names_signals():
    assert exit_text(-signal.SIGKILL) == "signal SIGKILL"
    assert exit_text(3) == "exit code 3"


def test_a_server_dies_with_the_thread_that_launched_it(tmp_path):
    """The launcher arms PR_SET_PDEATHSIG: the server goes when its launcher goes, even by SIGKILL."""
    import subprocess
    import textwrap
    import time

    script = textwrap.dedent(f"""
        import sys, time
        from ray_graded_penalty.serving.process import Server, free_port
        server = Server.start({TOY_COMMAND.split()!r}[:-1] + [str(free_port())], {str(tmp_path / 'server.log')!r})
        print(server.pid, flush=True)
        time.sleep(600)
    """)
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(launcher.stdout.readline())
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


def test_stop_ends_the_whole_process_group(tmp_path):
    """A server that forks a helper (as vLLM's API server forks its engine): both are stopped."""
    script = ("import os, subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)")
    server = Server.start([sys.executable, "-c", script], str(tmp_path / "server.log"))
    import time

    time.sleep(1.0)
    children = [int(p) for p in open(f"/proc/{server.pid}/task/{server.pid}/children").read().split()]
    assert len(children) == 1
    assert server.stop(grace_s=2.0) is not None
    assert not alive(children[0])


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
