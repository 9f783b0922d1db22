"""The serving trainable against llama.cpp's real llama-server, and the example that tunes it.

Needs ``bash examples/llama_server/setup.sh`` (about 10 minutes): skipped, with the reason,
where it has not run (CI). RGP_LLAMA_HOME points at its directory."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ray_graded_penalty.serving import ServerError, server_trainable
from ray_graded_penalty.serving.trainable import serve

from serving_helpers import graded_as, running_servers, server_pids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = os.environ.get("RGP_LLAMA_HOME", os.path.expanduser("~/.cache/ray-graded-penalty/llama.cpp"))
SERVER, MODEL = os.path.join(HOME, "bin", "llama-server"), os.path.join(HOME, "model.gguf")
pytestmark = pytest.mark.skipif(
    not (os.path.exists(SERVER) and os.path.exists(MODEL)),
    reason=f"llama-server is not built in {HOME}: run `bash examples/llama_server/setup.sh` (about 10 min)")

COMMAND = "{server} -m {model} --port {port} -np {slots} -c {ctx} -t 1 --no-warmup"
ENV = {"MALLOC_ARENA_MAX": "2", "OMP_WAIT_POLICY": "passive"}


def trainable(**kwargs):
    settings = dict(server=SERVER, model=MODEL, requests=8, concurrency=4, max_tokens=16, env=ENV,
                    ready_timeout_s=30, extra_body={"ignore_eos": True})
    return server_trainable(COMMAND, **{**settings, **kwargs})




def test_a_real_server_starts_serves_and_is_stopped(tmp_path):
    metrics = serve(trainable().spec, {"slots": 2, "ctx": 4096}, str(tmp_path))
    assert metrics["requests_ok"] == 8 and metrics["output_tokens"] == 8 * 16
    assert metrics["throughput"] > 0 and 0 < metrics["ttft_p50_s"] <= metrics["latency_p99_s"]
    assert running_servers(tmp_path) == [] and len(server_pids(tmp_path)) == 1


def test_a_kv_cache_beyond_the_memory_limit_is_out_of_memory_in_the_servers_words(tmp_path):
    with pytest.raises(ServerError) as caught:
        serve(trainable(memory_limit_gb=1.0).spec, {"slots": 1, "ctx": 262144}, str(tmp_path))
    error = caught.value
    assert error.stage == "start" and graded_as(error) == "oom", str(error)
    assert str(error).startswith("out of memory during start-up: ")
    assert "allocate" in str(error).splitlines()[0]  # llama.cpp's own line
    assert running_servers(tmp_path) == []


def test_a_bad_flag_is_a_deploy_failure(tmp_path):
    bad = server_trainable(COMMAND + " --no-such-flag", server=SERVER, model=MODEL)
    with pytest.raises(ServerError) as caught:
        serve(bad.spec, {"slots": 1, "ctx": 4096}, str(tmp_path))
    assert caught.value.stage == "start" and graded_as(caught.value) == "deploy", str(caught.value)
    assert "--no-such-flag" in str(caught.value)


def test_a_per_slot_context_too_small_for_the_prompts_fails_the_load(tmp_path):
    """-c 1024 over 4 slots: 256 tokens each, less than the longest prompt and its tokens."""
    with pytest.raises(ServerError) as caught:
        serve(trainable(max_tokens=64).spec, {"slots": 4, "ctx": 1024}, str(tmp_path))
    assert caught.value.stage == "load" and "HTTP 400" in str(caught.value), str(caught.value)
    assert "context" in str(caught.value).splitlines()[0]


def test_a_server_killed_under_load_fails_at_the_load(tmp_path):
    spec = trainable(requests=16, concurrency=2, max_tokens=128).spec

    def kill_when_serving():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = server_pids(tmp_path)
            log = (tmp_path / "server.log").read_text(errors="replace") if pids else ""
            if "slot launch_slot_" in log or "processing task" in log:
                time.sleep(0.3)
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_serving)
    killer.start()
    with pytest.raises(ServerError) as caught:
        serve(spec, {"slots": 2, "ctx": 4096}, str(tmp_path))
    killer.join()
    assert caught.value.stage == "load" and "signal SIGKILL" in str(caught.value), str(caught.value)
    assert running_servers(tmp_path) == []


@pytest.mark.ray
def test_the_example_tunes_llama_server(tmp_path):
    done = subprocess.run(
        [sys.executable, "examples/llama_server/tune.py", "--samples", "4", "--timeout", "60",
         "--storage-path", str(tmp_path), "--json", str(tmp_path / "summary.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trials failed" in done.stdout and (tmp_path / "summary.json").exists()
    assert running_servers(tmp_path, within_s=5.0) == [] and len(server_pids(tmp_path)) >= 4
