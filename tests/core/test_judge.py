"""How a finished trial is told: the decision's order, the one classifier (evidence, then whole
words) and the grade."""

import math

import pytest

from ray_graded_penalty import DEFAULT_MODIFIERS, SLO, ErrorModifier, PenaltyPolicy
from ray_graded_penalty._core.judge import Rules, decide, first_match, words
from ray_graded_penalty._core.outcomes import Objectives
from ray_graded_penalty._core.trials import Ending

RULES = Rules(Objectives.of("throughput", "max"), PenaltyPolicy(), (SLO("p99_s", max=0.5, fail_ratio=1.0),), 600.0)


def ending(result=None, failed=False, error=None, elapsed=30.0, timeout=None, error_class=None):
    return Ending("t", {"x": 1}, elapsed, timeout, error, result, failed, error_class)


def test_a_failure_reported_by_ray_is_graded_from_its_progress_and_text():
    decision = decide(ending(failed=True, error="CUDA out of memory"), RULES)
    assert decision.kind == "failure" and decision.grade.magnitude == 1500.0
    assert decision.severity.level == 1500.0 / RULES.policy.least_magnitude and decision.severity.violation > 1


def test_a_trial_of_its_own_timeout_is_graded_against_it():
    assert decide(ending(failed=True, elapsed=30.0, timeout=40.0), RULES).grade.completion == 0.75


def test_a_result_without_the_objective_is_a_timeout_and_a_nan_is_a_failure_naming_it():
    stopped = decide(ending(result={"p99_s": 0.1}), RULES)
    assert stopped.kind == "failure" and stopped.grade.error_class == "timeout"
    nan = decide(ending(result={"throughput": math.nan, "p99_s": 0.1}), RULES)
    assert nan.kind == "failure" and "non-finite objective throughput" in nan.error
    assert nan.grade.error_class == "crash"


@pytest.mark.parametrize("policy", [PenaltyPolicy(), PenaltyPolicy(modifiers=[("mem", ["memory", "gb"], 3.0)])],
                         ids=["default", "a user's memory keyword"])
def test_the_package_s_own_endings_are_never_read_as_keywords(policy):
    """A metric named gpu_memory_gb appears in the package's own messages; they keep their class."""
    rules = Rules(Objectives.of("gpu_memory_gb", "min"), policy, (), 600.0)
    stopped = decide(ending(result={"other": 1.0}), rules)
    assert "gpu_memory_gb" in stopped.error and stopped.grade.error_class == "timeout"
    nan = decide(ending(result={"gpu_memory_gb": math.nan}), rules)
    assert "gpu_memory_gb" in nan.error and nan.grade.error_class == "crash"
    if policy == PenaltyPolicy():  # the default policy: a timeout at 5 % is 1000 x 0.8, a crash 1000
        assert (stopped.grade.penalty("max"), nan.grade.penalty("max")) == (-800.0, -1000.0)
    else:  # no "timeout" modifier in this policy: factor 1, and never the user's "memory" one
        assert stopped.grade.magnitude == nan.grade.magnitude == 1000.0


def test_a_known_error_class_is_graded_without_reading_the_text():
    decision = decide(ending(failed=True, error="zoom: CUDA out of memory", error_class="deploy"), RULES)
    assert decision.grade.error_class == "deploy" and decision.grade.magnitude == 1200.0


def test_an_slo_failure_served_to_the_end_and_an_slo_miss_ranks_between():
    failed = decide(ending(result={"throughput": 9.0, "p99_s": 1.2}), RULES)
    assert failed.kind == "failure" and failed.grade.error_class == "slo" and failed.grade.completion == 1.0
    assert failed.values == (9.0,) and failed.verdict.failure.startswith("SLO missed")
    missed = decide(ending(result={"throughput": 9.0, "p99_s": 0.6}), RULES)
    assert missed.kind == "slo_miss" and 0 < missed.severity.level < 1 <= failed.severity.level
    assert missed.severity.violation < failed.severity.violation


def test_a_success_passes_its_own_result_on():
    result = {"throughput": 9.0, "p99_s": 0.1, "extra": "kept"}
    decision = decide(ending(result=result), RULES)
    assert decision.kind == "success" and decision.result is result and decision.severity is None


def cls(text, modifiers=DEFAULT_MODIFIERS):
    found = first_match(text, modifiers)
    return found.name if found else None


@pytest.mark.parametrize("text", [
    "ValueError: zoom level must be positive", "KeyError: 'boom'",
    "ValueError: bigscience/bloom-560m: tp 3 has no kernel",
    "RuntimeError: the room is taken", "RuntimeError: redeployed twice", "KeyError: 'deployment_id'",
    "ValueError: timeout_s must be positive", "RuntimeError: CUDA error: an illegal memory access was encountered",
])
def test_a_keyword_inside_another_word_or_a_name_does_not_fire(text):
    assert cls(text) is None


@pytest.mark.parametrize("text, expected", [
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "oom"),
    ("tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor", "oom"),
    ("CUDA_ERROR_OUT_OF_MEMORY", "oom"), ("terminate called after throwing an instance of 'std::bad_alloc'", "oom"),
    ("Reason: OOMKilled", "oom"), ("XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory", "oom"),
    ("ModuleNotFoundError: No module named 'vllm'", "deploy"), ("Failed to pull image: ErrImagePull", "deploy"),
    ("ConnectionResetError: [Errno 104] Connection reset by peer", "connection"),
    ("BrokenPipeError: [Errno 32] Broken pipe", "connection"),
    ("requests.exceptions.ReadTimeout: HTTPConnectionPool(host='h', port=80): Read timed out. (read timeout=60)",
     "timeout"),
])
def test_real_phrasings_of_each_class(text, expected):
    assert cls(text) == expected


def test_words_split_camel_case_and_upper_snake_but_keep_lower_case_names_whole():
    assert words("OOMKilled HTTPConnectionPool RESOURCE_EXHAUSTED gpu_memory_gb --max-num-seqs") == (
        "oom", "killed", "http", "connection", "pool", "resource", "exhausted", "gpu_memory_gb", "max-num-seqs")


def test_a_field_name_is_a_setting_and_a_flag_says_its_name_only_when_true():
    assert cls('{"OOMKilled": false, "ExitCode": 137}') is None
    assert cls('{"OOMKilled": true, "ExitCode": 137}') == "oom"
    assert cls("WorkNCCL(SeqNum=2, OpType=ALLREDUCE, Timeout(ms)=600000) raised: unhandled system error") is None
    assert cls('status="timeout"') == "timeout"  # a value is read


def test_a_users_keyword_matches_whole_words_and_phrases():
    xid = ErrorModifier("xid", ("xid",), 2.0)
    assert cls("NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus", [xid]) == "xid"
    assert cls("Xid 79", [xid]) == "xid" and cls("an oxide layer", [xid]) is None
    phrase = ErrorModifier("nvlink", ("nvlink error",), 2.0)
    assert cls("NVLink error on link 3", [phrase]) == "nvlink" and cls("nvlink ok; error elsewhere", [phrase]) is None


def test_the_first_class_in_order_wins_the_cause_before_the_stage():
    assert cls("Deployment failed: CUDA out of memory while loading weights") == "oom"
    assert cls("Connection timed out") == "timeout"


def test_keywords_without_words_and_a_class_named_crash_are_refused():
    with pytest.raises(ValueError, match=r"no words to match: \['!!'\]"):
        PenaltyPolicy(modifiers=[("odd", ["ok", "!!"], 2.0)])
    with pytest.raises(ValueError, match="may not be named 'crash'"):
        PenaltyPolicy(modifiers=[("crash", ["segfault"], 2.0)])


def test_a_class_the_policy_does_not_know_is_warned_of_once_per_searcher(caplog):
    from ray_graded_penalty._core.judge import Evidence, classify

    first, second = set(), set()
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        for warned in (first, first, second):
            assert classify(Evidence("RuntimeError: CUDA out of memory", "xid"), PenaltyPolicy(), "t", warned) == "oom"
    warnings = [r for r in caplog.records if "'xid', which the policy does not know" in r.getMessage()]
    assert len(warnings) == 2 and first == second == {"xid"}  # once for each searcher's set, not once a process


def test_a_stage_s_class_is_taken_only_where_the_policy_has_it():
    from ray_graded_penalty._core.judge import Evidence, classify

    own = PenaltyPolicy(modifiers=[("oom", ["out of memory"], 1.5), ("xid", ["xid"], 2.0)])
    assert classify(Evidence("ServerError: deploy failed: exited", stage="start"), PenaltyPolicy()) == "deploy"
    assert classify(Evidence("ServerError: deploy failed: exited", stage="start"), own) == "crash"
    assert classify(Evidence("ServerError: deploy failed: Xid 79", stage="start"), own) == "xid"
    assert classify(Evidence("ActorDiedError: the actor died", stage="worker"), own) == "crash"


def test_how_far_a_trial_got_beats_its_clock_and_a_server_never_ready_got_nowhere():
    hung = Ending("t", {"x": 1}, 600.0, None, "timed out", None, True, "timeout")
    assert decide(hung, RULES).grade.magnitude == 80.0  # nothing reported: the seed design's table
    at_a_fifth = decide(hung._replace(progress=0.2), RULES).grade
    assert at_a_fifth.completion == 0.2 and at_a_fifth.magnitude == 500.0 * 0.8  # 20-60 % tier, timeout's factor
    assert at_a_fifth.elapsed_s == 600.0  # its time is still what it held the GPU for
    for stage in ("start", "ready"):  # a server that never became ready, however long it took
        never_ready = decide(Ending("t", {}, 590.0, None, "deploy failed: no answer", None, True, None, stage), RULES)
        assert never_ready.grade.completion == 0.0 and never_ready.grade.tier_magnitude == 1000.0
    under_load = decide(Ending("t", {}, 590.0, None, "the server failed under load", None, True, None, "load"), RULES)
    assert under_load.grade.completion == 590.0 / 600.0  # past start-up: its clock


def test_an_slo_failure_served_to_the_end_whatever_it_reported_on_the_way():
    result = {"throughput": 9.0, "p99_s": 5.0}
    decision = decide(Ending("t", {}, 100.0, None, None, result, progress=0.3), RULES)
    assert decision.kind == "failure" and decision.grade.completion == 1.0


# ----- evidence before words ----------------------------------------------------------------------

def classified(text="", types=(), stage=None, policy=None):
    from ray_graded_penalty._core.judge import Evidence, classify
    return classify(Evidence(text, stage=stage, types=tuple(types)), policy or PenaltyPolicy())


@pytest.mark.parametrize("text, expected", [
    # a type decides where the words would say otherwise, or nothing
    ("ModuleNotFoundError: No module named 'flash_attn'", "deploy"),
    ("ImportError: /usr/lib/libfoo.so: cannot open shared object", "deploy"),
    ("aiohttp.client_exceptions.ClientPayloadError: Response payload is not completed", "connection"),
    ("TypeError: '<' not supported between instances of 'str' and 'int'", "crash"),
    ("TypeError: connect() got an unexpected keyword argument 'timeout'", "crash"),
    ("ray.exceptions.RayTaskError(MemoryError): ray::train() (pid=1)", "oom"),
    # a connection that timed out is a timeout, whichever names it
    ("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='h', port=443): Read timed out.", "timeout"),
    # Kubernetes' reasons and a SIGKILL, unasked for
    ("Warning  Failed  kubelet  Error: ErrImageNeverPull", "deploy"),
    ("torch/distributed/elastic/multiprocessing/api.py] failed (exitcode: -9) local_rank: 0", "oom"),
    ("Job step aborted: exit code 137", "oom"),
    ('{"OOMKilled": false, "ExitCode": 137}', "crash"),
    ("Segmentation fault (core dumped), exit code 139", "crash"),
    # a SIGKILL as a shell's job report and gcc write it
    ("run.sh: line 42:     8 Killed                  python3 serve.py --port 8188", "oom"),
    ("g++: fatal error: Killed signal terminated program cc1plus", "oom"),
    ("run.sh: line 42: the model was killed by its owner", "crash"),
    ("Killed\n", "oom"),
    ("Killed: the request was cancelled by its client", "crash"),
])
def test_what_an_error_s_types_say_decides_before_its_words(text, expected):
    assert classified(text) == expected


def test_a_traceback_s_source_lines_are_not_the_exception():
    from ray_graded_penalty._core.judge import named_types
    text = ('Traceback (most recent call last):\n  File "x.py", line 3, in f\n    except ConnectionError:\n'
            '    raise TimeoutError("late")\n[rank0]: ValueError: the shapes do not match')
    assert named_types(text) == ("ValueError",)


def test_the_types_of_the_exception_at_hand_and_its_chain_decide_root_cause_first():
    from ray_graded_penalty._core.judge import exception_types

    class EngineDead(RuntimeError):
        pass

    try:
        try:
            raise MemoryError()
        except MemoryError as e:
            raise EngineDead("the engine core died; connection refused") from e
    except EngineDead as e:
        types = exception_types(e)
    assert types[0] == "MemoryError" and "EngineDead" in types
    assert classified("EngineDead: the engine core died; connection refused", types) == "oom"
    assert classified("EngineDead: the engine core died; connection refused") == "connection"  # the words alone


def test_a_cause_type_beats_the_stage_and_a_symptom_type_does_not():
    assert classified("ServerError: not ready in time", ["ServerError", "ConnectionRefusedError"], stage="ready") \
        == "deploy"
    assert classified("ServerError: the server exited", ["ServerError", "OutOfMemoryError"], stage="start") == "oom"
    assert classified("ServerError: the server exited (exit code -9)", stage="start") == "oom"


def test_a_type_s_class_the_policy_does_not_have_is_left_to_the_rest():
    own = PenaltyPolicy(modifiers=[("network", ("refused",), 0.8)])
    assert classified("ConnectionRefusedError: [Errno 111] Connection refused", policy=own) == "network"
    assert classified("MemoryError", policy=own) == "crash"


def test_a_node_lost_under_a_trial_is_lost_unless_the_words_name_a_cause():
    from ray_graded_penalty._core.judge import Evidence, classify

    died = "ActorDiedError: The actor died because its node has died. Node Id: 4f2e"
    assert classify(Evidence(died, stage="node"), PenaltyPolicy()) == "lost"
    assert classify(Evidence(died, stage="node"), PenaltyPolicy(modifiers=[])) == "lost"  # the package's own class
    assert classify(Evidence(died + " (the node ran out of memory)", stage="node"), PenaltyPolicy()) == "oom"


def test_a_transient_failure_with_tries_left_is_decided_as_a_retry():
    rules = RULES._replace(retries=1, transient=("lost",))
    lost = Ending("t", {"x": 1}, 30.0, None, "node died", None, True, "lost")
    assert decide(lost, rules).retry and decide(lost, rules).grade.error_class == "lost"
    assert not decide(lost._replace(tries=1), rules).retry  # the second loss is the configuration's
    assert not decide(lost._replace(final=True), rules).retry  # no trial will come to retry it
    assert not decide(lost, RULES).retry  # no retries: told at once
    oom = Ending("t", {"x": 1}, 30.0, None, "CUDA out of memory", None, True)
    assert not decide(oom, rules).retry
