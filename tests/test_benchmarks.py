"""The benchmarks' quick mode runs end to end (a smoke test: it checks they run, not their numbers)."""

import json
import os
import subprocess
import sys

import pytest

from ray_graded_penalty import compat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--quick", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_quick_benchmarks_write_results_and_plots(tmp_path):
    _run("--out", str(tmp_path))
    results = (tmp_path / "RESULTS.md").read_text()
    for section in ("## Methods", "## Problems", "## What was tried", "## Overhead", "## Targets",
                    "## Many trials at once", "### W = 1:", "### W = 4:", "### Targets for many trials at once"):
        assert section in results
    for method in ("graded_optuna", "graded_hyperopt", "optuna_search", "hyperopt_search",
                   "random", "flat_penalty", "design_fixed_scale"):
        assert f"| {method} |" in results
    for variant in ("graded_optuna_no_tie_break", "optuna_pruned_progress", "graded_hyperopt_ray_defaults"):
        assert f"| {variant} |" in results
    assert "| optuna_search_told |" in results.replace(" | ", " |\n| ")  # an overhead column
    for problem in ("pressure_vessel", "welded_beam", "spring", "speed_reducer", "three_bar_truss", "gramacy"):
        assert f"| {problem} |" in results  # the published problems, in the W tables
    assert "| graded_optuna_0.2 |" in results.replace(" | ", " |\n| ")  # a variant tried at W > 1
    # The Optuna pair on new seeds, pooled with the concurrent section's: 1 + 1 seeds here.
    assert "The same two on 2 seeds" in results and "(median regret, 2 seeds)" in results
    # The committed run at the oldest pins (benchmarks/oldest/results.json) is rendered too.
    assert "The same two at Ray 2.30.0 and Optuna 3.6.1" in results
    assert "(median regret, 20 seeds, Ray 2.30.0 and Optuna 3.6.1)" in results
    data = json.loads((tmp_path / "results.json").read_text())
    more, first = data["more_seeds"]["llm_serving"]["4"], data["concurrent"]["llm_serving"]["4"]
    assert set(more) == {"graded_optuna", "optuna_search"} and more["graded_optuna"]["seeds"] == 1
    assert more["optuna_search"] != first["optuna_search"]  # seed 1, not seed 0 again
    for problem in ("all_fail", "branin_discs", "llm_serving", "mostly_fail", "latency_ms", "concurrency"):
        png = (tmp_path / f"{problem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000

    # Rerunning one method of the concurrent section keeps every other method's results.
    before = data
    before["concurrent"]["llm_serving"]["1"]["optuna_search"]["marker"] = "kept"
    before["concurrent"]["llm_serving"]["1"]["graded_hyperopt"]["marker"] = "rerun"
    (tmp_path / "merged.json").write_text(json.dumps(before))
    out = tmp_path / "rerun"
    _run("--only", "concurrent", "--methods", "graded_hyperopt", "--merge", str(tmp_path / "merged.json"),
         "--out", str(out))
    after = json.loads((out / "results.json").read_text())
    assert after["concurrent"]["llm_serving"]["1"]["optuna_search"]["marker"] == "kept"
    rerun = after["concurrent"]["llm_serving"]["1"]["graded_hyperopt"]
    assert "marker" not in rerun and rerun["seeds"] == 1  # run again, deterministic: same numbers
    assert rerun == {k: v for k, v in before["concurrent"]["llm_serving"]["1"]["graded_hyperopt"].items() if k != "marker"}
    assert after["timing"]["concurrent, graded_hyperopt rerun"]["command"] == (
        f"python benchmarks/run.py --quick --only concurrent --methods graded_hyperopt --out {out}")
    assert after["timing"]["concurrent"] == before["timing"]["concurrent"]


def _change_only_while_trials_run(problem, backend, variants, changed):
    """Each of ``variants`` suggests as ``backend`` one trial at a time; each of ``changed``
    suggests otherwise with 4 trials at once."""
    from asynchronous import simulate
    from methods import ALL_METHODS

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
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from hyperopt_variants import HYPEROPT_VARIANTS

    _change_only_while_trials_run("spring", "graded_hyperopt", HYPEROPT_VARIANTS,
                                  ("ho_failures_out", "ho_joint_veto"))


@pytest.mark.skipif(not compat.HAS_TRIAL_CONSTRAINTS,
                    reason=f"the Optuna prototypes read a failure's violation from Optuna 5's trial "
                    f"constraints, as at the benchmarks' pins (here Optuna {compat.OPTUNA})")
def test_optuna_prototypes_change_the_model_only_while_trials_run():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from optuna_variants import OPTUNA_VARIANTS

    _change_only_while_trials_run("pressure_vessel", "graded_optuna", OPTUNA_VARIANTS, OPTUNA_VARIANTS)
