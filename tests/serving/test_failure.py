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


def test_a_server_error_survives_pickling_with_its_stage():
    error = pickle.loads(pickle.dumps(failure("load", "it died", ["x"])))
    assert isinstance(error, ServerError) and error.stage == "load" and "it died" in str(error)
