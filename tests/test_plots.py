"""The report's plots: one PNG per parameter and one over the trials, every class drawn."""

import matplotlib.image
import matplotlib.pyplot as plt
import pandas as pd

from ray_graded_penalty.plots import plot_report


def test_every_class_is_drawn_a_policy_s_own_too(tmp_path, monkeypatch):
    report = pd.DataFrame({
        "trial_id": list("abcde"), "order": range(5), "config/tp": [1, 2, 4, 8, 8],
        "status": ["success", "failure", "failure", "slo_miss", "failure"],
        "value": [10.0, None, None, 7.0, None], "penalty": [None, -1500.0, -2000.0, None, -1000.0],
        "error_class": [None, "oom", "xid", None, "crash"],
    })
    files = plot_report(report, str(tmp_path))
    assert sorted(p.rsplit("/", 1)[1] for p in files) == ["by_tp.png", "over_trials.png"]
    assert all(matplotlib.image.imread(p).shape[0] > 100 for p in files)  # real images
    drawn = []
    original = plt.Axes.scatter

    def record(self, x, y, *args, label=None, **kwargs):
        drawn.append(label)
        return original(self, x, y, *args, label=label, **kwargs)

    monkeypatch.setattr(plt.Axes, "scatter", record)
    plot_report(report, str(tmp_path / "again"))
    assert {"success", "slo_miss", "oom", "xid", "crash"} <= set(drawn)


def test_two_objectives_get_a_plot_each_and_the_front(tmp_path):
    report = pd.DataFrame({
        "trial_id": list("abcd"), "order": range(4), "config/x": [0.1, 0.4, 0.7, 0.9],
        "status": ["success", "success", "failure", "success"], "value": [3.0, 2.0, None, 1.0],
        "value/tps": [3.0, 2.0, None, 1.0], "value/p99": [0.5, 0.3, None, 0.6],
        "penalty": [None, None, -1500.0, None], "error_class": [None, None, "oom", None],
    })
    report.attrs["modes"] = ["max", "min"]
    files = {p.rsplit("/", 1)[1] for p in plot_report(report, str(tmp_path))}
    assert files == {"by_x.tps.png", "by_x.p99.png", "over_trials.png", "pareto.png"}


def test_an_objective_named_with_a_slash_gets_its_own_file(tmp_path):
    """A metric reported nested (``{"eval": {"tps": ...}}``, Tune's ``eval/tps``) made the file
    name a directory that did not exist: FileNotFoundError, and no plot."""
    report = pd.DataFrame({
        "trial_id": list("abc"), "order": range(3), "config/x": [0.1, 0.4, 0.7],
        "status": ["success", "success", "failure"], "value": [3.0, 2.0, None],
        "value/eval/tps": [3.0, 2.0, None], "value/eval/p99": [0.5, 0.3, None],
        "penalty": [None, None, -1500.0], "error_class": [None, None, "oom"],
    })
    report.attrs["modes"] = ["max", "min"]
    files = {p.rsplit("/", 1)[1] for p in plot_report(report, str(tmp_path))}
    assert files == {"by_x.eval.tps.png", "by_x.eval.p99.png", "over_trials.png", "pareto.png"}


def test_failures_of_a_run_without_the_package_are_drawn_at_the_worst_edge(tmp_path, monkeypatch):
    """A run without this package's searcher has no penalties: its failures were drawn at NaN,
    that is not at all (the legend named them, no point showed)."""
    import numpy as np

    report = pd.DataFrame({
        "trial_id": list("abcd"), "order": range(4), "config/x": [0.1, 0.3, 0.6, 0.9],
        "status": ["success", "failure", "success", "failure"], "value": [2.0, None, 4.0, None],
        "penalty": [None] * 4, "error_class": [None, "oom", None, "crash"],
    })
    drawn = {}
    original = plt.Axes.scatter

    def record(self, x, y, *args, label=None, **kwargs):
        drawn.setdefault(label, []).extend(np.asarray(y, dtype=float))
        return original(self, x, y, *args, label=label, **kwargs)

    monkeypatch.setattr(plt.Axes, "scatter", record)
    for mode, worst in (("max", lambda y: y < 2.0), ("min", lambda y: y > 4.0)):
        drawn.clear()
        report.attrs["mode"] = mode
        plot_report(report, str(tmp_path / mode))
        failures = drawn["oom"] + drawn["crash"]
        assert len(failures) == 4 and all(np.isfinite(failures)) and all(worst(y) for y in failures), (mode, drawn)


def test_a_parameter_sampled_on_a_log_scale_is_drawn_on_one(tmp_path, monkeypatch):
    """``tune.loguniform(1e-5, 0.1)`` on a linear axis: nearly every point against its left edge."""
    report = pd.DataFrame({
        "trial_id": list("abcd"), "order": range(4), "config/lr": [1e-5, 3e-4, 2e-3, 0.08],
        "config/x": [0.1, 0.4, 0.7, 0.9], "status": ["success", "success", "failure", "success"],
        "value": [3.0, 2.0, None, 1.0], "penalty": [None, None, -1500.0, None],
        "error_class": [None, None, "oom", None],
    })
    report.attrs["log_scale"] = ["lr"]  # as failure_report reads it from the searcher's saved state
    scales = []
    original = plt.Axes.set_xlabel

    def record(self, label, *args, **kwargs):
        scales.append((label, self.get_xscale()))
        return original(self, label, *args, **kwargs)

    monkeypatch.setattr(plt.Axes, "set_xlabel", record)
    plot_report(report, str(tmp_path))
    assert ("lr", "log") in scales and ("x", "linear") in scales
