"""server_trainable: its arguments checked once, bad input refused naming it, the README's examples as written."""


import os

import pytest

from ray_graded_penalty.serving import server_trainable
from ray_graded_penalty.serving.trial import serve

from serving_helpers import TOY_COMMAND


@pytest.mark.parametrize("kwargs, match", [
    ({"command": "llama-server -m m.gguf"}, r"has no \{port\}"),
    ({"command": "no-such-server-xyz --port {port}"}, r"'no-such-server-xyz' was not found"),
    ({"command": "  "}, "non-empty"),
    ({"command": "x --port {port} --a {a.b}", "check_executable": False}, r"\{a.b\} must be a plain name"),
    ({"command": "x --port {port}", "port": 1, "check_executable": False}, r"\['port'\] are filled in"),
    ({"command": TOY_COMMAND, "requests": 0}, "requests must be a positive integer, got 0"),
    ({"command": TOY_COMMAND, "concurrency": -2}, "concurrency must be a positive integer or a list of them, got -2"),
    ({"command": TOY_COMMAND, "max_tokens": 64, "scenarios": "D(8,4)"}, "max_tokens goes with prompts"),
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
    ({"command": TOY_COMMAND, "request_rate": 0.5, "duration_s": 2},
     r"duration_s=2 ends the load D\(512,128\) rps=0.5 before its first request arrives \(3.72 s"),
    ({"command": TOY_COMMAND, "endpoint": "embeddings"}, r"endpoint must be one of \['chat', 'completions'\]"),
    ({"command": TOY_COMMAND, "max_error_share": 1.5}, r"max_error_share must be in \[0, 1\], got 1.5"),
    ({"command": TOY_COMMAND, "health_path": "health"}, "health_path must be a path"),
    ({"command": TOY_COMMAND, "memory_limit_gb": 0}, "memory_limit_gb must be a positive number"),
    ({"command": TOY_COMMAND, "prompts": []}, "prompts must be a non-empty sequence"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        server_trainable(**kwargs)


def test_a_command_field_named_as_an_argument_is_warned_of_at_construction():
    with pytest.warns(UserWarning, match=r"fields \['seed'\] are also server_trainable's arguments"):
        trainable = server_trainable(TOY_COMMAND + " --seed {seed}", seed=0)
    assert trainable.spec.command.needs == ("seed",)  # each trial's config gives it, not seed=0


def test_a_parameter_nobody_gives_is_named_before_any_server_starts(tmp_path):
    trainable = server_trainable(TOY_COMMAND + " --slots {slots}")
    assert trainable.spec.command.needs == ("slots",)
    with pytest.raises(ValueError, match=r"needs \['slots'\].*keys: \['threads'\]"):
        serve(trainable.spec, {"threads": 2}, str(tmp_path))
    assert not os.path.exists(tmp_path / "server.log")


def test_the_readme_s_gpu_example_is_accepted_as_written(tmp_path, monkeypatch):
    """The README's vLLM trainables, built as written (no server starts): every keyword is one
    server_trainable knows. A `vllm` on the PATH stands in for the executable only."""
    (tmp_path / "vllm").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "vllm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    readme = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")).read()
    block = readme.split("On a GPU cluster", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    code = block.split("\ntuner = ", 1)[0]
    names: dict = {}
    exec(code, names)  # noqa: S102 - the README's own text
    assert {"vllm", "seed_task"} <= set(names)
    assert [plan.name for plan in names["seed_task"].spec.loads] == ["D(512,128) c=1", "D(512,128) c=2"]


def test_0_4_s_max_tokens_without_prompts_still_works_with_a_deprecation_warning():
    """0.4's server_trainable(cmd, requests=24, concurrency=4, max_tokens=8): its four fixed prompts."""
    from ray_graded_penalty.serving.trainable import PROMPTS_0_4

    with pytest.warns(DeprecationWarning, match=r'Write scenarios="D\(<input tokens>,8\)"'):
        trainable = server_trainable(TOY_COMMAND, requests=24, concurrency=4, max_tokens=8)
    assert trainable.spec.prompts == PROMPTS_0_4 and trainable.spec.max_tokens == 8
    assert len(trainable.spec.loads) == 1 and trainable.spec.loads[0].concurrency == 4
