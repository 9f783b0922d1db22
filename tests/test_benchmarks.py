"""The benchmarks' quick mode runs end to end (a smoke test: it checks they run, not their numbers)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_benchmarks_write_results_and_plots(tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
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
    for problem in ("all_fail", "branin_discs", "llm_serving", "mostly_fail", "latency_ms", "concurrency"):
        png = (tmp_path / f"{problem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
