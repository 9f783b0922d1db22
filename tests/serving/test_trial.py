"""Whole served trials against a real server process (tests/servers/toy_server.py: real HTTP, real
allocations under a real memory limit, real signals). Against llama.cpp's server: test_llama_server.py;
inside Ray Tune: test_serving_tune.py."""

import os

import pytest

from ray_graded_penalty.serving import ServerError, server_trainable
from ray_graded_penalty.serving.trial import serve

from serving_helpers import TOY_COMMAND, graded_as, running_servers, server_pids


def test_a_server_starts_serves_reports_and_is_stopped(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --slots {slots}", scenarios="D(40,8)", requests=12,
                                 concurrency=4)
    metrics = serve(trainable.spec, {"slots": 2}, str(tmp_path))
    assert metrics["requests_ok"] == 12 and metrics["request_errors"] == 0
    assert metrics["output_tokens"] == 12 * 8  # the server's own counts; a prompt a token more or less:
    assert 12 * 39 <= metrics["input_tokens"] <= 12 * 40  # a run read back without a leading space
    assert metrics["throughput"] > 0 and metrics["request_throughput"] > 0
    assert 0 < metrics["ttft_p50_s"] <= metrics["ttft_p99_s"] <= metrics["e2el_p99_s"]
    # a loaded machine may deliver two tokens in one read (a gap of 0): the median may be 0, not all
    assert 0 < metrics["tpot_mean_s"] and 0 <= metrics["itl_p50_s"] and 0 < metrics["itl_p99_s"]
    assert "goodput" not in metrics
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


@pytest.mark.parametrize("flag, says", [
    ("--no-tokenizer", "no /tokenize"),
    ("--no-detokenize", "/tokenize but no /detokenize"),
    ("--tgi-tokenizer", "/tokenize but no /detokenize"),  # TGI: "inputs" in, a list of {"id", "text"} out
], ids=["neither", "no-detokenize", "tgi"])
def test_a_server_without_a_whole_tokenizer_gets_estimated_prompts(tmp_path, caplog, flag, says):
    trainable = server_trainable(f"{TOY_COMMAND} {flag}", scenarios="D(10,2)", requests=3, concurrency=1)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        metrics = serve(trainable.spec, {}, str(tmp_path))
    assert metrics["requests_ok"] == 3 and metrics["request_errors"] == 0  # it serves: a success
    assert metrics["input_tokens"] == 3 * 60  # ten tokens estimated as sixty characters: the toy counts 60
    warned = [r.getMessage() for r in caplog.records if "characters per token" in r.getMessage()]
    assert len(warned) == 1 and f"has {says}:" in warned[0]  # one warning, never a failed trial


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_a_stream_without_done_that_said_it_finished_is_whole(tmp_path, endpoint):
    """TGI before 2.2 ended its streams without ``data: [DONE]``: every request was read as cut
    short, and every configuration failed (a stream cut before its finish_reason still fails)."""
    trainable = server_trainable(TOY_COMMAND + " --no-done", scenarios="D(10,4)", requests=6, concurrency=2,
                                 endpoint=endpoint)
    metrics = serve(trainable.spec, {}, str(tmp_path))
    assert metrics["requests_ok"] == 6 and metrics["request_errors"] == 0 and metrics["output_tokens"] == 24


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


# The ready timeout is long where the server ends or serves by itself (it only bounds the wait:
# under two suites at once on 2 cores, the toy's start alone once took more than 1.5 s), and
# short where the test waits it out; 4 s leaves the toy time to bind its port and answer 503.
@pytest.mark.parametrize("flags, limit, ready_s, stage, graded, says", [
    ("--kv-mb 4096", 1.0, 60.0, "start", "oom", "MemoryError"),
    ("--bogus-flag", None, 60.0, "start", "deploy", "exit code 2"),
    ("--start-s 600", None, 4.0, "ready", "deploy", "not ready within ready_timeout_s=4 (/health: HTTP 503)"),
    ("--die-after 5", None, 60.0, "load", "crash", "exited (signal SIGABRT) during the load"),
    ("--bad-request-every 4", None, 60.0, "load", "crash", "3 of 12 requests failed (max_error_share=0.2)"),
    ("--cut-stream", None, 60.0, "load", "crash", "the stream ended before [DONE]"),
], ids=["oom-at-start", "bad-flag", "hangs-before-ready", "dies-under-load", "fails-requests", "cut-streams"])


def test_a_failing_server_raises_at_its_stage_in_its_own_words(tmp_path, flags, limit, ready_s, stage, graded, says):
    trainable = server_trainable(f"{TOY_COMMAND} {flags}", requests=12, concurrency=3, scenarios="D(8,4)",
                                 ready_timeout_s=ready_s, max_error_share=0.2, memory_limit_gb=limit)
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


def test_a_port_another_process_took_before_the_server_bound_it_is_not_the_configurations(tmp_path, monkeypatch,
                                                                                         caplog):
    """The port is free when chosen; a process on the same node binds it first. The server is
    started again on another port, once, and the trial serves."""
    import socket

    from ray_graded_penalty.serving import trial as trial_module

    thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    thief.bind(("127.0.0.1", 0))
    thief.listen()
    taken = thief.getsockname()[1]
    ports = iter([taken])
    real_free_port = trial_module.free_port
    monkeypatch.setattr(trial_module, "free_port", lambda host: next(ports, None) or real_free_port(host))
    trainable = server_trainable(TOY_COMMAND, scenarios="D(8,4)", requests=3, concurrency=1)
    try:
        with caplog.at_level("WARNING", logger="ray_graded_penalty"):
            metrics = serve(trainable.spec, {}, str(tmp_path))
    finally:
        thief.close()
    assert metrics["requests_ok"] == 3
    assert [r.getMessage() for r in caplog.records if "took port" in r.getMessage()] == [
        f"Another process took port {taken} before the server bound it: starting the server again on another port."]
    assert len(server_pids(tmp_path)) == 2 and running_servers(tmp_path) == []


def test_a_server_that_fails_at_start_on_a_free_port_is_not_started_again(tmp_path):
    trainable = server_trainable(f"{TOY_COMMAND} --bogus-flag")
    with pytest.raises(ServerError):
        serve(trainable.spec, {}, str(tmp_path))
    assert len(server_pids(tmp_path)) == 1  # a bad flag is the configuration's: one start


def test_a_searched_model_is_the_one_its_requests_name(tmp_path):
    """vLLM refuses a request naming a model it does not serve: a model searched in the trial's
    config is the one its requests and its tokenizer name (0.5 sent "default", and every request
    failed)."""
    trainable = server_trainable(TOY_COMMAND + " --model {model}", scenarios="D(12,4)", requests=4, concurrency=2)
    metrics = serve(trainable.spec, {"model": "org/model-a"}, str(tmp_path))
    # Sized by its tokenizer (a token a character; the estimate would send 72): a prompt that
    # began with a space lost it, a token (make_prompts strips it).
    assert metrics["requests_ok"] == 4 and 4 * 11 <= metrics["input_tokens"] <= 4 * 12
    fixed = server_trainable(TOY_COMMAND + " --model {model}", scenarios="D(12,4)", requests=4, concurrency=2,
                             model="org/model-b")
    assert serve(fixed.spec, {}, str(tmp_path))["requests_ok"] == 4


def test_a_model_written_into_the_command_is_read_back_from_the_server(tmp_path):
    """``vllm serve Qwen/Qwen2.5-7B-Instruct --port {port}``: no model field, so requests named
    "default", which vLLM refuses (HTTP 404), and every trial failed as a crash under load. The
    server's ``/v1/models`` names it."""
    trainable = server_trainable(TOY_COMMAND + " --model org/written-in", scenarios="D(12,4)", requests=4,
                                 concurrency=2)
    metrics = serve(trainable.spec, {}, str(tmp_path))
    assert metrics["requests_ok"] == 4 and 4 * 11 <= metrics["input_tokens"] <= 4 * 12  # its tokenizer too


def test_a_reasoning_models_first_token_is_its_first_reasoning_token(tmp_path):
    """A chat answer that reasons first streams ``delta.reasoning_content``: it was not read as
    text, so TTFT was taken at the answer after it (8 of 12 tokens in) and TPOT from 4 tokens'
    time spread over 11; all reasoning, a request had no TTFT at all."""
    trainable = server_trainable(TOY_COMMAND + " --reasoning-events 8 --token-ms 20", endpoint="chat",
                                 prompts=["Why?"], max_tokens=4, requests=4, concurrency=1, warmup=0)
    metrics = serve(trainable.spec, {}, str(tmp_path))
    assert metrics["requests_ok"] == 4 and metrics["output_tokens"] == 4 * 12
    assert metrics["ttft_p50_s"] < 0.4 * metrics["e2el_p50_s"]  # 1 of 12 tokens' time, not 9 of 12


def test_a_server_that_dies_while_the_prompts_are_sized_fails_at_load_in_its_own_words(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --tokenizer-dies-after 1", scenarios="D(12,4)", requests=4,
                                 concurrency=1)
    with pytest.raises(ServerError) as caught:
        serve(trainable.spec, {}, str(tmp_path))
    error = caught.value
    assert error.stage == "load" and error.exit_code is not None and error.exit_code < 0  # SIGABRT
    assert "the server exited (signal SIGABRT) while the prompts of D(12,4) c=1 were sized" in str(error)
    assert any("aborting at /tokenize call 2" in line for line in error.log_lines)
    assert graded_as(error) == "crash" and running_servers(tmp_path) == []


VLLM_START_OOM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                              "vllm_start_oom.log")


def test_a_cause_the_server_logged_above_its_last_lines_grades_the_failure(tmp_path):
    """vLLM's engine states why it failed ("CUDA out of memory ..."), then its API server prints a
    traceback of some 40 lines that ends "See root cause above": the message quoted the last 20,
    and the failure was graded a deploy failure. ``tests/data/vllm_start_oom.log``: the lines of
    one run in vllm-project/vllm#27508 (a worker's, the engine core's, the API server's); the
    last six, cut off in that thread, are the same code's end from vllm-project/vllm#23176."""
    trainable = server_trainable(f"{TOY_COMMAND} --fails-with-log {VLLM_START_OOM}", ready_timeout_s=60)
    with pytest.raises(ServerError) as caught:
        serve(trainable.spec, {}, str(tmp_path))
    error = caught.value
    assert error.stage == "start" and graded_as(error) == "oom"
    assert "CUDA out of memory occurred when warming up sampler" not in "\n".join(error.log_lines)  # above the last 20
    assert len(error.errors) == 1 and "] RuntimeError: CUDA out of memory occurred when" in error.errors[0]
    assert str(error).index("CUDA out of memory") < str(error).index("last server log lines")
    assert running_servers(tmp_path) == []
