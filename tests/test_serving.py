"""The serving trainable's parts, without Ray: the command template, the failure texts and how
the default policy grades them, the metrics, and whole trials against a real server process
(tests/servers/toy_server.py: real HTTP, real allocations under a real memory limit, real
signals). Against llama.cpp's server: test_llama_server.py; inside Ray Tune: test_serving_tune.py."""

import os
import pickle
import signal
import sys

import pytest

from ray_graded_penalty.serving import ServerError, server_trainable
from ray_graded_penalty.serving.command import Command
from ray_graded_penalty.serving.failure import failure
from ray_graded_penalty.serving.load import RequestResult
from ray_graded_penalty.serving.metrics import percentile, summarize
from ray_graded_penalty.serving.process import Server, alive, exit_text
from ray_graded_penalty.serving.trainable import serve

from serving_helpers import TOY_COMMAND, graded_as, running_servers, server_pids

# ----- bad input: refused at construction, naming the value ------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"command": "llama-server -m m.gguf"}, r"has no \{port\}"),
    ({"command": "no-such-server-xyz --port {port}"}, r"'no-such-server-xyz' was not found"),
    ({"command": "  "}, "non-empty"),
    ({"command": "x --port {port} --a {a.b}", "check_executable": False}, r"\{a.b\} must be a plain name"),
    ({"command": "x --port {port}", "port": 1, "check_executable": False}, r"\['port'\] are filled in"),
    ({"command": TOY_COMMAND, "requests": 0}, "requests must be a positive integer, got 0"),
    ({"command": TOY_COMMAND, "concurrency": -2}, "concurrency must be a positive integer, got -2"),
    ({"command": TOY_COMMAND, "max_tokens": 1.5}, "max_tokens must be a positive integer"),
    ({"command": TOY_COMMAND, "endpoint": "embeddings"}, r"endpoint must be one of \['chat', 'completions'\]"),
    ({"command": TOY_COMMAND, "max_error_share": 1.5}, r"max_error_share must be in \[0, 1\], got 1.5"),
    ({"command": TOY_COMMAND, "health_path": "health"}, "health_path must be a path"),
    ({"command": TOY_COMMAND, "memory_limit_gb": 0}, "memory_limit_gb must be a positive number"),
    ({"command": TOY_COMMAND, "prompts": []}, "prompts must be a non-empty sequence"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        server_trainable(**kwargs)


def test_a_parameter_nobody_gives_is_named_before_any_server_starts(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --slots {slots}")
    assert trainable.spec.command.needs == ("slots",)
    with pytest.raises(ValueError, match=r"needs \['slots'\].*keys: \['threads'\]"):
        serve(trainable.spec, {"threads": 2}, str(tmp_path))
    assert not os.path.exists(tmp_path / "server.log")


def test_the_command_takes_config_fixed_and_port():
    command = Command.parse("srv -m {model} --port {port} -np {slots} --host {host}", {"model": "m.gguf"}, False)
    assert command.render({"slots": 4, "other": 1}, 8080) == [
        "srv", "-m", "m.gguf", "--port", "8080", "-np", "4", "--host", "127.0.0.1"]


# ----- what a failure says, and how the default policy grades it -------------------------------

def test_failure_texts_grade_by_the_servers_own_words():
    oom = failure("start", "the server exited (exit code 1)", ["llama_init: failed to allocate buffer for kv cache"])
    assert graded_as(oom) == "oom"
    assert str(oom).startswith("out of memory during start-up: llama_init: failed to allocate buffer")
    bad_flag = failure("start", "the server exited (exit code 2)", ["error: invalid argument: --bogus"])
    assert graded_as(bad_flag) == "deploy"
    assert graded_as(failure("ready", "not ready within 30 s", [])) == "deploy"
    assert graded_as(failure("load", "2 of 8 requests failed", [], ['HTTP 400: {"message":"std::bad_alloc"}'])) == "oom"
    assert graded_as(failure("load", "the server exited (signal SIGABRT)", ["aborting"])) == "crash"
    with pytest.raises(ValueError, match="stage must be one of"):
        failure("warmup", "x", [])


def test_a_server_error_survives_pickling_with_its_stage():
    error = pickle.loads(pickle.dumps(failure("load", "it died", ["x"])))
    assert isinstance(error, ServerError) and error.stage == "load" and "it died" in str(error)


def test_exit_text_names_signals():
    assert exit_text(-signal.SIGKILL) == "signal SIGKILL"
    assert exit_text(3) == "exit code 3"


# ----- metrics ---------------------------------------------------------------------------------

def test_metrics_are_nearest_rank_over_completed_requests():
    done = [RequestResult(True, 0.01 * i, 0.1 * i, 5) for i in range(1, 101)]
    failed = [RequestResult(False, None, 9.0, 0, "HTTP 503")] * 3
    m = summarize(done + failed, wall_s=10.0)
    assert m["throughput"] == 50.0 and m["request_errors"] == 3 and m["requests_ok"] == 100
    assert m["ttft_p50_s"] == pytest.approx(0.5) and m["latency_p99_s"] == pytest.approx(9.9)
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN: nothing completed


# ----- whole trials against a real server process ----------------------------------------------

def test_a_server_starts_serves_reports_and_is_stopped(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --slots {slots}", requests=12, concurrency=4, max_tokens=8)
    metrics = serve(trainable.spec, {"slots": 2}, str(tmp_path))
    assert metrics["requests_ok"] == 12 and metrics["request_errors"] == 0
    assert metrics["output_tokens"] == 12 * 8 and metrics["throughput"] > 0
    assert 0 < metrics["ttft_p50_s"] <= metrics["ttft_p99_s"] <= metrics["latency_p99_s"]
    assert metrics["ready_s"] > 0
    assert len(server_pids(tmp_path)) == 1 and running_servers(tmp_path) == []


def test_the_chat_endpoint(tmp_path):
    trainable = server_trainable(TOY_COMMAND, requests=4, concurrency=2, max_tokens=5, endpoint="chat")
    assert serve(trainable.spec, {}, str(tmp_path))["output_tokens"] == 20


@pytest.mark.parametrize("flags, limit, stage, graded, says", [
    ("--kv-mb 4096", 1.0, "start", "oom", "out of memory during start-up: MemoryError"),
    ("--bogus-flag", None, "start", "deploy", "exit code 2"),
    ("--start-s 600", None, "ready", "deploy", "not ready within ready_timeout_s=1.5 (/health: HTTP 503)"),
    ("--die-after 5", None, "load", "crash", "exited (signal SIGABRT) during the load"),
    ("--bad-request-every 4", None, "load", "crash", "3 of 12 requests failed (max_error_share=0.2)"),
], ids=["oom-at-start", "bad-flag", "hangs-before-ready", "dies-under-load", "fails-requests"])
def test_a_failing_server_raises_at_its_stage_in_its_own_words(tmp_path, flags, limit, stage, graded, says):
    trainable = server_trainable(f"{TOY_COMMAND} {flags}", requests=12, concurrency=3, max_tokens=4,
                                 ready_timeout_s=1.5, max_error_share=0.2, memory_limit_gb=limit)
    with pytest.raises(ServerError) as caught:
        serve(trainable.spec, {}, str(tmp_path))
    assert caught.value.stage == stage
    assert graded_as(caught.value) == graded
    assert says in str(caught.value)
    assert running_servers(tmp_path) == []


def test_errors_within_the_allowed_share_are_reported_not_raised(tmp_path):
    trainable = server_trainable(f"{TOY_COMMAND} --bad-request-every 4", requests=12, concurrency=3,
                                 max_tokens=4, max_error_share=0.25)
    assert serve(trainable.spec, {}, str(tmp_path))["request_errors"] == 3


def test_a_retried_trial_reads_only_its_own_servers_log(tmp_path):
    trainable = server_trainable(f"{TOY_COMMAND} --kv-mb 4096", memory_limit_gb=1.0)
    with pytest.raises(ServerError):
        serve(trainable.spec, {}, str(tmp_path))
    trainable = server_trainable(f"{TOY_COMMAND} --bogus-flag")
    with pytest.raises(ServerError) as caught:
        serve(trainable.spec, {}, str(tmp_path))
    assert "MemoryError" not in str(caught.value) and graded_as(caught.value) == "deploy"


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
