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
