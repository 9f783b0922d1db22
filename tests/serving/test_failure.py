"""ServerError: what a failed served trial carries, and how the one classifier grades it."""


import pickle

import pytest

from ray_graded_penalty.serving import ServerError
from ray_graded_penalty.serving.failure import failure

from serving_helpers import graded_as


def test_failure_texts_grade_by_the_servers_own_words():
    oom = failure("start", "the server exited (exit code 1)", ["llama_init: failed to allocate buffer for kv cache"])
    assert graded_as(oom) == "oom"
    assert str(oom).splitlines()[:3] == ["deploy failed: the server exited (exit code 1)", "last server log lines:",
                                         "llama_init: failed to allocate buffer for kv cache"]
    bad_flag = failure("start", "the server exited (exit code 2)", ["error: invalid argument: --bogus"])
    assert graded_as(bad_flag) == "deploy"
    assert graded_as(failure("ready", "not ready within 30 s", [])) == "deploy"
    assert graded_as(failure("load", "2 of 8 requests failed", [], ['HTTP 400: {"message":"std::bad_alloc"}'])) == "oom"
    assert graded_as(failure("load", "the server exited (signal SIGABRT)", ["aborting"])) == "crash"
    with pytest.raises(ValueError, match="stage must be one of"):
        failure("warmup", "x", [])


#: vLLM's start-up lines, as a user captured them from a real server (its `docker logs`): they
#: name KV cache memory at every start.
VLLM_STARTED = [
    "(EngineCore pid=258) INFO gpu_model_runner.py:4879 Model loading took 2.89 GiB memory and 60.297843 seconds",
    "(EngineCore pid=258) INFO gpu_worker.py:440 Available KV cache memory: 0.56 GiB",
    "(EngineCore pid=258) INFO kv_cache_utils.py:1708 GPU KV cache size: 20,992 tokens",
    "(EngineCore pid=258) INFO kv_events.py:329 Starting ZMQ publisher thread",
]


def test_a_servers_informational_lines_do_not_make_a_failure_out_of_memory():
    hang = failure("ready", "the server was not ready within ready_timeout_s=120 (/health: ConnectionRefusedError)",
                   VLLM_STARTED)
    assert graded_as(hang) == "deploy"  # 0.6.0.dev: oom, from "Available KV cache memory"
    assert hang.log_lines == tuple(VLLM_STARTED) and "4 informational log lines left out" in str(hang)
    assert "Available KV cache memory" not in str(hang)
    crash = failure("load", "the server exited (signal SIGSEGV) during the load", VLLM_STARTED + ["Segmentation fault"])
    assert graded_as(crash) == "crash" and str(crash).splitlines()[2] == "Segmentation fault"
    no_room = failure("start", "the server exited (exit code 1)", VLLM_STARTED + [
        "(EngineCore_DP0 pid=48217) ERROR core.py:412] No available memory for the cache blocks. Try increasing "
        "gpu_memory_utilization when initializing the engine."])
    assert graded_as(no_room) == "oom"  # the server's own error line names it: read


def test_a_server_error_survives_pickling_with_its_stage():
    error = pickle.loads(pickle.dumps(failure("load", "it died", ["x"])))
    assert isinstance(error, ServerError) and error.stage == "load" and "it died" in str(error)


def test_the_one_classifier_reads_the_stage_and_the_servers_words():
    """A cause the server names wins at any stage; words of a stage or symptom do not override it."""
    from ray_graded_penalty import ErrorModifier, PenaltyPolicy
    from ray_graded_penalty._core.judge import classify
    from ray_graded_penalty.callback import read_exception

    reset = failure("load", "4 of 8 requests failed", ["srv: connection closed"],
                    ["ConnectionResetError: reset by peer"])
    assert graded_as(reset) == "crash"  # the trial's own server dropped them: the server failed
    context = failure("load", "3 of 3 requests failed", [], ["HTTP 400: exceeds the available context size"])
    assert graded_as(context) == "oom"  # the policy's words; 0.5's substring list said crash
    hang = failure("ready", "not ready within ready_timeout_s=30 (/health: timed out)", [])
    assert graded_as(hang) == "deploy"
    xid = ErrorModifier("xid", ("xid",), 2.0)
    policy = PenaltyPolicy(modifiers=[*PenaltyPolicy().modifiers, xid])
    fallen = failure("start", "the server exited (signal SIGABRT)", ["NVRM: Xid 79, GPU has fallen off the bus"])
    assert classify(read_exception(fallen), policy) == "xid"
    assert read_exception(fallen).stage == "start" and fallen.exit_code is None


def test_errors_stated_above_the_last_lines_are_quoted_and_graded():
    """Under load uvicorn logs a line per request (``INFO:     127.0.0.1:... "POST ..." 200 OK``):
    20 of them after the engine's out-of-memory error, and the message quoted none of the server's
    words; graded a crash."""
    from ray_graded_penalty.serving.failure import error_statements

    oom = ("(EngineCore_DP0 pid=48217) ERROR 01-10 07:09:06 [core.py:850] torch.OutOfMemoryError: CUDA out of "
           "memory. Tried to allocate 1.74 GiB. GPU 0 has a total capacity of 23.57 GiB of which 605.88 MiB is free.")
    access = [f'(APIServer pid=1) INFO:     127.0.0.1:{40000 + i} - "POST /v1/completions HTTP/1.1" 500 Internal '
              'Server Error' for i in range(24)]
    log = ["(APIServer pid=1) WARNING 01-10 07:00:01 [utils.py:12] ImportError: flash-attn not found",
           oom, "(EngineCore_DP0 pid=48218) " + oom.split(") ", 1)[1]] + access
    errors = error_statements(log)
    assert errors == [log[2]]  # one statement, as its last process logged it; no warning
    crashed = failure("load", "the server exited (exit code 1) during the load D(8,4)", log[-20:], errors=errors,
                      exit_code=1)
    assert graded_as(crashed) == "oom" and crashed.errors == (log[2],)
    assert graded_as(failure("load", "the server exited (exit code 1) during the load D(8,4)", log[-20:],
                             exit_code=1)) == "crash"  # its last lines alone
    assert error_statements(["x"] * 3 + [f"RuntimeError: step {i} failed" for i in range(15)]) == [
        f"RuntimeError: step {i} failed" for i in range(5, 15)]  # the last ten
