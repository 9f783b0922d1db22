"""The command template: the trial's config, fixed values and a free port."""

import os
import stat

from ray_graded_penalty.serving.command import Command


def test_the_command_takes_config_fixed_and_port():
    command = Command.parse("srv -m {model} --port {port} -np {slots} --host {host}", {"model": "m.gguf"}, False)
    assert command.render({"slots": 4, "other": 1}, 8080) == [
        "srv", "-m", "m.gguf", "--port", "8080", "-np", "4", "--host", "127.0.0.1"]


def test_a_relative_program_path_is_made_absolute_as_tune_runs_each_trial_in_its_own_directory(tmp_path,
                                                                                                monkeypatch):
    program = tmp_path / "bin" / "srv"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.chdir(tmp_path)
    command = Command.parse("./bin/srv --port {port}", {}, True)
    os.chdir(tmp_path / "bin")  # a trial's directory
    assert command.render({}, 8080)[0] == str(program)
    assert Command.parse("./missing/srv --port {port}", {}, False).words[0] == "./missing/srv"  # only on the workers


def test_a_json_value_in_the_command_is_written_with_doubled_braces_and_the_error_says_so():
    """vLLM takes JSON flags (``--compilation-config '{"level": 3}'``): refused as a field that is
    not a plain name, with no word of how to write a brace."""
    import pytest

    with pytest.raises(ValueError, match="a literal brace is written twice"):
        Command.parse("vllm serve m --port {port} --compilation-config '{\"level\": 3}'", {}, False)
    command = Command.parse("vllm serve m --port {port} --compilation-config '{{\"level\": {level}}}'", {}, False)
    assert command.render({"level": 3}, 8000)[-1] == '{"level": 3}'
