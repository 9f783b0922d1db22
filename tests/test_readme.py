"""The README's Python examples run as a user would paste them (with a trainable and a space of
ours where the README leaves them to the user), and do what their comments say."""

import os
import re
import string

import pytest
from ray import tune

from ray_graded_penalty import compat
from ray_graded_penalty.slo import judge

from conftest import ROOT

README = open(os.path.join(ROOT, "README.md")).read()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def block(marker):
    """The one Python block of the README that holds ``marker``."""
    found = [b for b in BLOCKS if marker in b]
    assert len(found) == 1, f"{len(found)} README blocks hold {marker!r}"
    return found[0]


def edited(code, old, new):
    """``code`` with ``old`` (which it must hold) replaced by ``new``."""
    assert old in code, old
    return code.replace(old, new)


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_every_python_block_is_python(number):
    compile(BLOCKS[number], f"README block {number}", "exec")


def throughput_or_oom(config):
    """A user's trainable: above 48 sequences it runs out of GPU memory."""
    if config["max_num_seqs"] > 48:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    compat.report({"throughput": 10.0 * config["max_num_seqs"]})


@pytest.mark.ray
def test_use_it_and_the_report_run_through_real_tune(local_ray, tmp_path):
    code = edited(block("print(searcher.best)"), "num_samples=30", "num_samples=8")  # a short run
    # written where the test keeps its files, quietly
    code = edited(code, "callbacks=[searcher.callback])",
                  f"callbacks=[searcher.callback], storage_path={str(tmp_path)!r}, verbose=0)")
    if not hasattr(tune, "RunConfig"):  # as the README's comment says
        code = edited(code, "tune.RunConfig(", "ray.train.RunConfig(").replace("from ray import tune",
                                                                             "import ray.train\nfrom ray import tune")
    names = {"trainable": throughput_or_oom, "space": {"max_num_seqs": tune.randint(1, 97)}}
    exec(code, names)

    searcher = names["searcher"]
    told = list(searcher.outcomes.values())
    assert len(told) == 8
    failed = [o for o in told if o.failed]
    assert all(o.error_class == "oom" and o.penalty is not None for o in failed)
    best = searcher.best
    if len(failed) < len(told):
        assert not best.failed and best.metric == max(o.metric for o in told if not o.failed)

    names["result_grid"] = names["tuner"].get_results()
    exec(block("summarize(report)"), names)
    assert len(names["report"]) == 8
    summary = names["summary"]
    assert summary["best_kind"] == ("best success" if len(failed) < len(told) else "least-bad failure")
    assert summary["best"]["trial_id"] == best.trial_id
    assert summary["by_error_class"].loc["oom", "trials"] == len(failed)  # every class has its row


def test_the_policy_example_grades_its_own_class():
    names = {}
    exec(block("ErrorModifier(\"xid\""), names)
    grade = names["policy"].grade(0.0, 600.0, "NVRM: Xid 79, GPU has fallen off the bus")
    assert grade.error_class == "xid" and grade.magnitude == 2000.0  # the first tier, x2
    assert names["policy"].grade(590.0, 600.0, "CUDA out of memory").magnitude == 150.0  # the last tier, x1.5


def test_the_slo_example_fails_and_misses_as_its_comments_say():
    names = {}
    exec(block("SLO(\"e2el_p99_s\""), names)
    slos = names["searcher"].slos
    assert judge(slos, {"e2el_p99_s": 1.0, "ttft_p99_s": 1.0}).failure  # p99 of 1.0 s or more: a failure
    missed = judge(slos, {"e2el_p99_s": 0.9, "ttft_p99_s": 1.0})
    assert missed.failure is None and missed.total_miss == pytest.approx(0.8)
    doubled = judge(slos, {"e2el_p99_s": 0.4, "ttft_p99_s": 2.8})
    assert doubled.total_miss == pytest.approx(2.0 * 0.4)  # a miss here counts double


def test_the_serving_example_builds_its_trainables_for_its_space(tmp_path, monkeypatch):
    vllm = tmp_path / "vllm"  # the example is for a machine that has vLLM: its executable is checked
    vllm.write_text("#!/bin/sh\n")
    vllm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    names = {}
    exec(block("server_trainable("), names)
    assert callable(names["vllm"]) and callable(names["seed_task"]) and names["tuner"] is not None
    commands = re.findall(r'"(vllm serve \{model\}.*?)",\n\s*model=', block("server_trainable("), re.S)
    assert len(commands) == 2
    for command in commands:
        fields = {f for _, f, _, _ in string.Formatter().parse(command.replace('"\n    "', "")) if f}
        assert fields - {"model", "port"} <= set(names["space"]), fields
