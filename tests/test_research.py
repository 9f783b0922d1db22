"""The research side of the benchmarks: its quick run writes RECORD.md from the variants and
the shipped methods' results, and its prototypes change nothing one trial at a time."""

import json
import subprocess
import sys

import pytest

from ray_graded_penalty.backends.optuna import HAS_TRIAL_CONSTRAINTS
from ray_graded_penalty.compat import OPTUNA
from test_benchmarks import ROOT


def test_quick_research_run_writes_the_record(tmp_path):
    shipped = tmp_path / "shipped"
    for command in (["benchmarks.run", "--quick", "--only", "sequential,concurrent,slo,overhead", "--out", str(shipped)],
                    ["benchmarks.research.run", "--quick", "--out", str(tmp_path), "--shipped", str(shipped / "results.json")]):
        done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    record = (tmp_path / "RECORD.md").read_text()
    for section in ("## One at a time", "## Many trials at once", "## What TPE's good group held"):
        assert section in record
    for variant in ("graded_optuna_no_tie_break", "optuna_pruned_progress", "graded_hyperopt_ray_defaults"):
        assert f"| {variant} |" in record
    assert "| graded_optuna_0.2 |" in record.replace(" | ", " |\n| ")  # a variant tried at W > 1
    assert "identical on" in record  # one at a time, as version 0.2
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["concurrency_variants"]["llm_serving"]["1"]) == {"graded_optuna_0.2"}


def _change_only_while_trials_run(problem, backend, variants, changed):
    """Each of ``variants`` suggests as ``backend`` one trial at a time; each of ``changed``
    suggests otherwise with 4 trials at once."""
    from benchmarks.asynchronous import simulate
    from benchmarks.research.variants import ALL_METHODS

    methods = {**ALL_METHODS, **variants}

    def values(method, workers):
        run = simulate(problem, method, 0, workers, gpu_budget=15.0 * workers, methods=methods)
        return [t["value"] for t in run["trials"]]

    one_at_a_time = values(backend, 1)
    for name in variants:  # one trial at a time each is the backend as it ships
        assert values(name, 1) == one_at_a_time, name
    while_running = values(backend, 4)
    for name in changed:
        assert values(name, 4) != while_running, name


def test_hyperopt_prototypes_change_the_split_only_while_trials_run():
    from benchmarks.research.hyperopt_variants import HYPEROPT_VARIANTS

    _change_only_while_trials_run("spring", "graded_hyperopt", HYPEROPT_VARIANTS,
                                  ("ho_failures_out", "ho_joint_veto"))


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS,
                    reason=f"the Optuna prototypes read a failure's violation from Optuna 5's trial "
                    f"constraints, as at the benchmarks' pins (here Optuna {OPTUNA})")
def test_optuna_prototypes_change_the_model_only_while_trials_run():
    from benchmarks.research.optuna_variants import OPTUNA_VARIANTS

    _change_only_while_trials_run("pressure_vessel", "graded_optuna", OPTUNA_VARIANTS, OPTUNA_VARIANTS)
