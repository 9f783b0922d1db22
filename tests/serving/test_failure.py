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
