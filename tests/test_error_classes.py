"""Error classes by whole words: how a text is split, what a keyword matches, and the order."""

import pytest

from ray_graded_penalty import DEFAULT_MODIFIERS, ErrorModifier, PenaltyPolicy
from ray_graded_penalty.error_classes import classify, words


def cls(text, modifiers=DEFAULT_MODIFIERS):
    found = classify(text, modifiers)
    return found.name if found else None


@pytest.mark.parametrize("text", [
    "ValueError: zoom level must be positive", "KeyError: 'boom'",
    "ValueError: bigscience/bloom-560m: tp 3 unsupported",
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
