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
from ray_graded_penalty.serving.client import RequestResult
from ray_graded_penalty.serving.command import Command
from ray_graded_penalty.serving.failure import failure
from ray_graded_penalty.serving.load import arrival_gaps
from ray_graded_penalty.serving.metrics import Goodput, combine, percentile, summarize
from ray_graded_penalty.serving.process import Server, alive, exit_text
from ray_graded_penalty.serving.trial import serve
from ray_graded_penalty.serving.workload import make_prompts, parse_scenario, plan_lengths

from serving_helpers import TOY_COMMAND, graded_as, running_servers, server_pids

# ----- bad input: refused at construction, naming the value ------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"command": "llama-server -m m.gguf"}, r"has no \{port\}"),
    ({"command": "no-such-server-xyz --port {port}"}, r"'no-such-server-xyz' was not found"),
    ({"command": "  "}, "non-empty"),
    ({"command": "x --port {port} --a {a.b}", "check_executable": False}, r"\{a.b\} must be a plain name"),
    ({"command": "x --port {port}", "port": 1, "check_executable": False}, r"\['port'\] are filled in"),
    ({"command": TOY_COMMAND, "requests": 0}, "requests must be a positive integer, got 0"),
    ({"command": TOY_COMMAND, "concurrency": -2}, "concurrency must be a positive integer or a list of them, got -2"),
    ({"command": TOY_COMMAND, "max_tokens": 64}, "max_tokens goes with prompts"),
    ({"command": TOY_COMMAND, "prompts": ["hi"], "max_tokens": 1.5}, "max_tokens must be a positive integer"),
    ({"command": TOY_COMMAND, "concurency": 32}, r"'concurency' \(did you mean 'concurrency'\?\)"),
    ({"command": TOY_COMMAND, "ready_timout_s": 600}, r"'ready_timout_s' \(did you mean 'ready_timeout_s'\?\)"),
    ({"command": TOY_COMMAND, "scenarios": "D(512)"}, r"scenario 'D\(512\)' is not one of D\(in,out\)"),
    ({"command": TOY_COMMAND, "scenarios": "U(9,8)/(1,2)"}, "U takes whole bounds with 1 <= lo <= hi"),
    ({"command": TOY_COMMAND, "scenarios": "N(0,5)/(10,1)"}, "N takes a mean of at least 1"),
    ({"command": TOY_COMMAND, "scenarios": []}, "scenarios must be a scenario or a non-empty list"),
    ({"command": TOY_COMMAND, "scenarios": ["D(8,2)"], "prompts": ["hi"]}, "not both"),
    ({"command": TOY_COMMAND, "concurrency": [1, 1]}, r"concurrency lists a value twice: \[1, 1\]"),
    ({"command": TOY_COMMAND, "request_rate": 0}, "request_rate must be a positive number"),
    ({"command": TOY_COMMAND, "request_rate": 2, "burstiness": 0}, "burstiness must be a positive number"),
    ({"command": TOY_COMMAND, "max_concurrency": 0}, "max_concurrency must be a positive integer"),
    ({"command": TOY_COMMAND, "goodput": {"ttft": 0.5}}, r"goodput takes SLOs on \['ttft_s', 'tpot_s', 'e2el_s'\]"),
    ({"command": TOY_COMMAND, "goodput": {"tpot_s": -1}}, r"goodput\['tpot_s'\] must be a positive number"),
    ({"command": TOY_COMMAND, "combine": "best"}, r"combine must be one of \['mean', 'worst'\]"),
    ({"command": TOY_COMMAND, "warmup": -1}, "warmup must be a whole number"),
    ({"command": TOY_COMMAND, "warmup": 65}, r"warmup=65 is larger than the load it warms \(requests=64\)"),
    ({"command": TOY_COMMAND, "scenarios": "N(1,2)/(3)"}, r"scenario 'N\(1,2\)/\(3\)' is not one of"),
    ({"command": TOY_COMMAND, "scenarios": "D(0,8)"}, "at least 1"),
    ({"command": TOY_COMMAND, "duration_s": 0}, "duration_s must be a positive number"),
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


# ----- workloads, arrivals and metrics -----------------------------------------------------------

def test_scenarios_draw_seeded_lengths_of_their_kind():
    assert plan_lengths(parse_scenario("D(512,128)"), 3, seed=1) == [(512, 128)] * 3
    uniform = plan_lengths(parse_scenario("U(8,64)/(2,6)"), 500, seed=1)
    assert {i for i, _ in uniform} == set(range(8, 65)) and {o for _, o in uniform} == set(range(2, 7))
    normal = plan_lengths(parse_scenario("N(480,240)/(300,150)"), 2000, seed=1)
    assert min(i for i, _ in normal) == 1  # truncated at 1, not below
    assert 460 < sum(i for i, _ in normal) / 2000 < 500
    assert plan_lengths(parse_scenario("N(480,240)/(300,150)"), 50, seed=1) == normal[:50]
    assert plan_lengths(parse_scenario("N(480,240)/(300,150)"), 50, seed=2) != normal[:50]


def test_prompts_are_distinct_and_sized_by_the_tokenizer():
    from ray_graded_penalty.serving.workload import Tokenizer

    chars = Tokenizer(lambda text: [ord(c) for c in text], lambda ids: "".join(map(chr, ids)))
    prompts = make_prompts([100, 100, 7, 300], seed=0, tokenizer=chars)
    assert [len(p) for p in prompts] == [100, 100, 7, 300] and prompts[0] != prompts[1]
    assert make_prompts([100, 100, 7, 300], seed=0, tokenizer=chars) == prompts
    estimated = make_prompts([100, 50], seed=0, tokenizer=None)
    assert [len(p) for p in estimated] == [400, 200]  # four characters a token, an estimate


def test_open_loop_gaps_have_the_rate_and_the_burstiness():
    import statistics

    for burstiness in (0.5, 1.0, 4.0):
        gaps = arrival_gaps(4000, request_rate=5.0, burstiness=burstiness, seed=3)
        assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.06)
        # a gamma of shape k has a coefficient of variation of 1 / sqrt(k)
        assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(burstiness ** -0.5, rel=0.08)
    assert arrival_gaps(3, float("inf"), 1.0, 0) == [0.0, 0.0, 0.0]


def _done(ttft, e2el, out, inp=10):
    """A completed request whose tokens came evenly between its first token and its end."""
    times = tuple(ttft + (e2el - ttft) * i / max(out - 1, 1) for i in range(out))
    return RequestResult(True, "", 0.0, times, e2el, inp, out)


def test_metrics_as_vllm_defines_them():
    done = [_done(0.01 * i, 0.1 * i + 0.5, 11) for i in range(1, 101)]
    failed = [RequestResult(False, "HTTP 503", 0.0, (), 9.0, None, 0)] * 3
    m = summarize(done + failed, wall_s=10.0, goodput=Goodput(ttft_s=0.5, e2el_s=5.0))
    assert m["throughput"] == pytest.approx(110.0) and m["input_throughput"] == pytest.approx(100.0)
    assert m["request_throughput"] == pytest.approx(10.0) and m["request_errors"] == 3 and m["requests_ok"] == 100
    assert m["ttft_p50_s"] == pytest.approx(0.505) and m["ttft_p99_s"] == pytest.approx(0.9901)
    assert m["e2el_mean_s"] == pytest.approx(5.55) and m["e2el_p90_s"] == pytest.approx(9.51)
    # TPOT of request i: (e2el - ttft) / 10 = (0.09 i + 0.5) / 10; ITL: the same gaps, ten per request
    assert m["tpot_mean_s"] == pytest.approx(0.09 * 50.5 / 10 + 0.05)
    assert m["itl_mean_s"] == pytest.approx(m["tpot_mean_s"])
    assert m["goodput"] == pytest.approx(4.5)  # ttft <= 0.5 and e2el <= 5.0: i <= 45
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN: nothing completed
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5  # between ranks, as numpy.percentile


def test_several_loads_combine_by_mean_or_by_the_worst():
    a = summarize([_done(0.1, 1.0, 5)], 1.0)
    b = summarize([_done(0.3, 2.0, 5)], 2.0)
    mean, worst = combine({"a": a, "b": b}), combine({"a": a, "b": b}, "worst")
    assert mean["throughput"] == pytest.approx(3.75) and worst["throughput"] == pytest.approx(2.5)
    assert mean["ttft_p99_s"] == pytest.approx(0.2) and worst["ttft_p99_s"] == pytest.approx(0.3)
    assert mean["requests_ok"] == worst["requests_ok"] == 2 and mean["load_s"] == 3.0


# ----- whole trials against a real server process ----------------------------------------------

def test_a_server_starts_serves_reports_and_is_stopped(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --slots {slots}", scenarios="D(40,8)", requests=12,
                                 concurrency=4)
    metrics = serve(trainable.spec, {"slots": 2}, str(tmp_path))
    assert metrics["requests_ok"] == 12 and metrics["request_errors"] == 0
    assert metrics["output_tokens"] == 12 * 8 and metrics["input_tokens"] == 12 * 40  # the server's own counts
    assert metrics["throughput"] > 0 and metrics["request_throughput"] > 0
    assert 0 < metrics["ttft_p50_s"] <= metrics["ttft_p99_s"] <= metrics["e2el_p99_s"]
    assert 0 < metrics["tpot_mean_s"] and 0 < metrics["itl_p50_s"] and "goodput" not in metrics
    assert metrics["ready_s"] > 0 and "loads" not in metrics
    assert len(server_pids(tmp_path)) == 1 and running_servers(tmp_path) == []


def test_several_loads_run_on_one_deployment(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --token-ms 2", scenarios=["D(16,4)", "U(8,32)/(2,6)"],
                                 concurrency=[1, 3], requests=6, warmup=2, goodput={"ttft_s": 10.0})
    metrics = serve(trainable.spec, {}, str(tmp_path))
    assert list(metrics["loads"]) == ["D(16,4) c=1", "D(16,4) c=3", "U(8,32)/(2,6) c=1", "U(8,32)/(2,6) c=3"]
    assert all(load["requests_ok"] == 6 for load in metrics["loads"].values())  # the warmup not counted
    assert metrics["loads"]["D(16,4) c=3"]["output_tokens"] == 24
    assert metrics["requests_ok"] == 24 and metrics["goodput"] > 0
    assert len(server_pids(tmp_path)) == 1  # one deployment for the four loads


def test_an_open_loop_load_holds_its_rate_and_its_cap(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --token-ms 5", scenarios="D(8,4)", request_rate=20.0,
                                 max_concurrency=2, requests=20)
    metrics = serve(trainable.spec, {}, str(tmp_path))
    assert metrics["requests_ok"] == 20
    assert 0.5 < metrics["load_s"] < 5.0  # twenty arrivals at 20 per second: about a second


def test_a_duration_ends_a_load_before_its_requests(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --token-ms 20", scenarios="D(8,5)", concurrency=1,
                                 requests=1000, duration_s=1.0)
    metrics = serve(trainable.spec, {}, str(tmp_path))
    assert 3 <= metrics["requests_ok"] <= 12 and metrics["request_errors"] == 0


def test_a_server_without_a_tokenizer_gets_estimated_prompts(tmp_path, caplog):
    trainable = server_trainable(TOY_COMMAND + " --no-tokenizer", scenarios="D(10,2)", requests=3, concurrency=1)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        metrics = serve(trainable.spec, {}, str(tmp_path))
    assert metrics["input_tokens"] == 3 * 40  # ten tokens estimated as forty characters: the toy counts 40
    warned = [r.getMessage() for r in caplog.records if "no /tokenize" in r.getMessage()]
    assert len(warned) == 1 and "4 characters per token" in warned[0]  # one warning, never a failed trial


def test_your_own_prompts_with_max_tokens_and_the_chat_endpoint(tmp_path):
    trainable = server_trainable(TOY_COMMAND, prompts=["hello", "world!"], max_tokens=5, requests=4,
                                 concurrency=2, endpoint="chat")
    metrics = serve(trainable.spec, {}, str(tmp_path))
    assert metrics["output_tokens"] == 20 and metrics["input_tokens"] == 22


def test_a_load_the_context_cannot_hold_fails_naming_the_load(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --ctx 64", scenarios=["D(16,8)", "D(100,8)"], requests=3,
                                 concurrency=1)
    with pytest.raises(ServerError) as caught:
        serve(trainable.spec, {}, str(tmp_path))
    assert "load D(100,8) c=1: 3 of 3 requests failed" in str(caught.value)
    assert "exceeds the available context size" in str(caught.value)
    assert running_servers(tmp_path) == []


@pytest.mark.parametrize("flags, limit, stage, graded, says", [
    ("--kv-mb 4096", 1.0, "start", "oom", "out of memory during start-up: MemoryError"),
    ("--bogus-flag", None, "start", "deploy", "exit code 2"),
    ("--start-s 600", None, "ready", "deploy", "not ready within ready_timeout_s=1.5 (/health: HTTP 503)"),
    ("--die-after 5", None, "load", "crash", "exited (signal SIGABRT) during the load"),
    ("--bad-request-every 4", None, "load", "crash", "3 of 12 requests failed (max_error_share=0.2)"),
], ids=["oom-at-start", "bad-flag", "hangs-before-ready", "dies-under-load", "fails-requests"])
def test_a_failing_server_raises_at_its_stage_in_its_own_words(tmp_path, flags, limit, stage, graded, says):
    trainable = server_trainable(f"{TOY_COMMAND} {flags}", requests=12, concurrency=3, scenarios="D(8,4)",
                                 ready_timeout_s=1.5, max_error_share=0.2, memory_limit_gb=limit)
    with pytest.raises(ServerError) as caught:
        serve(trainable.spec, {}, str(tmp_path))
    assert caught.value.stage == stage
    assert graded_as(caught.value) == graded
    assert says in str(caught.value)
    assert running_servers(tmp_path) == []


def test_errors_within_the_allowed_share_are_reported_not_raised(tmp_path):
    trainable = server_trainable(f"{TOY_COMMAND} --bad-request-every 4", requests=12, concurrency=3,
                                 scenarios="D(8,4)", max_error_share=0.25)
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


def test_the_readme_s_gpu_example_is_accepted_as_written(tmp_path, monkeypatch):
    """The README's vLLM trainables, built as written (no server starts): every keyword is one
    server_trainable knows. A `vllm` on the PATH stands in for the executable only."""
    (tmp_path / "vllm").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "vllm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")).read()
    block = readme.split("On a GPU cluster", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    code = block.split("\ntuner = ", 1)[0]
    names: dict = {}
    exec(code, names)  # noqa: S102 - the README's own text
    assert {"vllm", "seed_task"} <= set(names)
    assert [plan.name for plan in names["seed_task"].spec.loads] == ["D(512,128) c=1", "D(512,128) c=2"]
