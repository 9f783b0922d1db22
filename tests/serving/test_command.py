"""The command template: the trial's config, fixed values and a free port."""




from ray_graded_penalty.serving.command import Command


def test_the_command_takes_config_fixed_and_port():
    command = Command.parse("srv -m {model} --port {port} -np {slots} --host {host}", {"model": "m.gguf"}, False)
    assert command.render({"slots": 4, "other": 1}, 8080) == [
        "srv", "-m", "m.gguf", "--port", "8080", "-np", "4", "--host", "127.0.0.1"]
