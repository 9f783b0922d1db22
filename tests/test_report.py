"""The failure report, from a real run with successes, errors and timeouts."""

import math
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from ray import tune
from scipy.stats import binomtest

from ray_graded_penalty import SLO, GradedPenaltySearcher
from ray_graded_penalty.backends.optuna import violation
from ray_graded_penalty.compat import report
from ray_graded_penalty.report import failure_report, format_summary, read_history, summarize

from conftest import optuna_study
from searcher_helpers import HISTORY_SPACE, crash_region_share, earlier_run
from tuner_helpers import run

pytestmark = pytest.mark.ray
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def three_endings(config):
    """x < 1: succeeds; 1 <= x < 2: out of memory at once; x >= 2: hangs past the timeout."""
    if config["x"] >= 2:
        time.sleep(10**6)
    if config["x"] >= 1:
        raise RuntimeError("CUDA out of memory")
    report({"score": 1.0 - config["x"]})


@pytest.fixture(scope="module")
def experiment(local_ray, tmp_path_factory):
    storage = tmp_path_factory.mktemp("report")
    points = [{"x": 0.5}, {"x": 1.5}, {"x": 2.5}, {"x": 0.1}, {"x": 1.2}]
    # An out-of-memory error at once is graded -1500 within a fifth of the timeout: 2 s left 0.4 s
    # for Tune's round trip, too little on a loaded machine.
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=6.0, points_to_evaluate=points)
    grid = run(searcher, three_endings, storage, num_samples=5, space={"x": tune.uniform(0, 3)},
               max_concurrent_trials=2)
    return grid, searcher


def test_the_order_is_the_order_tune_created_the_trials_in(experiment):
    """Ray's list of an experiment's trials is not in their creation order: the plot "over the
    run" drew them shuffled. Tune created them in the order of points_to_evaluate."""
    grid, _ = experiment
    report = failure_report(grid.experiment_path).sort_values("order")
    assert list(report["order"]) == list(range(5))
    assert list(report["config/x"]) == [0.5, 1.5, 2.5, 0.1, 1.2]


def check_rows(report, searcher):
    assert len(report) == 5 and set(report["trial_id"]) == set(searcher.outcomes)
    for row in report.itertuples():
        x = report.loc[row.Index, "config/x"]
        if x < 1:
            assert row.status == "success" and row.value == pytest.approx(1.0 - x) and pd.isna(row.error_class)
        elif x < 2:
            assert row.status == "failure" and row.error_class == "oom" and row.penalty == -1500.0
            assert row.error == "RuntimeError: CUDA out of memory"
        else:
            assert row.status == "failure" and row.error_class == "timeout" and row.penalty == -80.0
            assert row.completion == 1.0


def test_the_report_from_the_result_grid_matches_what_the_trials_did(experiment):
    grid, searcher = experiment
    report = failure_report(grid)
    check_rows(report, searcher)
    summary = summarize(report)
    assert summary["by_error_class"].loc["oom", "trials"] == 2
    assert summary["by_error_class"].loc["timeout", "trials"] == 1
    assert summary["best_kind"] == "best success" and summary["best"]["config/x"] == 0.1


def test_the_report_from_disk_in_a_fresh_process(experiment, tmp_path):
    grid, searcher = experiment
    csv = tmp_path / "rows.csv"
    code = (
        "import sys; from ray_graded_penalty.report import failure_report; "
        f"failure_report(sys.argv[1]).to_csv({str(csv)!r}, index=False)"
    )
    done = subprocess.run([sys.executable, "-c", code, grid.experiment_path], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    check_rows(pd.read_csv(csv), searcher)


def test_the_cli_writes_the_csv_and_real_pngs(experiment, tmp_path):
    grid, _ = experiment
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "ray_graded_penalty", "report", grid.experiment_path, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Failures by error class:" in done.stdout and "best success" in done.stdout
    assert len(pd.read_csv(out / "failure_report.csv")) == 5
    import matplotlib.image

    for name in ("by_x.png", "over_trials.png"):
        image = matplotlib.image.imread(out / name)  # decodes: a real image
        height, width = image.shape[:2]
        assert height > 200 and width > 300 and image.std() > 0.05  # not blank


def test_the_cli_says_what_it_cannot_read_without_a_traceback(experiment, tmp_path):
    import glob
    import shutil

    grid, _ = experiment
    copy = tmp_path / "run"
    shutil.copytree(grid.experiment_path, copy)
    (tmp_path / "taken").write_text("a file")
    done = subprocess.run([sys.executable, "-m", "ray_graded_penalty", "report", str(copy), "--out",
                           str(tmp_path / "taken")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "is a file" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "ray_graded_penalty", "report", str(copy), "--out",
                           str(tmp_path / "taken" / "sub")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "error: cannot write the report in" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for state in glob.glob(str(copy / "experiment_state-*.json")):  # cut short, as a full disk leaves it
        with open(state, "r+") as f:
            f.truncate(40)
    done = subprocess.run([sys.executable, "-m", "ray_graded_penalty", "report", str(copy)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "error: cannot read the experiment" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("make, says", [(lambda p: p / "missing", "no such directory"),
                                        (lambda p: p, "not a Ray Tune experiment")], ids=["missing", "foreign"])
def test_the_cli_refuses_a_missing_or_foreign_directory(tmp_path, make, says):
    (tmp_path / "notes.txt").write_text("not an experiment")
    done = subprocess.run(
        [sys.executable, "-m", "ray_graded_penalty", "report", str(make(tmp_path))],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert "error:" in done.stderr
    assert says in done.stderr


def test_the_report_reads_a_file_uri_and_says_what_a_file_or_a_remote_uri_is(experiment):
    """Tune takes ``file:///...`` as a storage path; the report said "no such directory" for it, and
    for the path of a file in the experiment (its state)."""
    import glob

    from ray_graded_penalty.report import NotAnExperimentError

    grid, searcher = experiment
    check_rows(failure_report("file://" + grid.experiment_path), searcher)
    state = glob.glob(os.path.join(grid.experiment_path, "experiment_state-*.json"))[0]
    with pytest.raises(NotAnExperimentError, match="is a file, not a directory: pass the experiment directory "
                                                   f"that holds it, {grid.experiment_path}"):
        failure_report(state)
    with pytest.raises(NotAnExperimentError, match="s3://bucket/run is not on this machine"):
        failure_report("s3://bucket/run")


def test_a_new_search_warm_starts_from_the_experiment_directory(experiment):
    grid, searcher = experiment
    warm = GradedPenaltySearcher("optuna", trial_timeout_s=600, warm_start=grid.experiment_path)
    warm.set_search_properties("score", "max", {"x": tune.uniform(0, 3)})
    told = warm.outcomes
    assert len(told) == 5 and sum(o.failed for o in told.values()) == 3
    # Graded against the earlier run's own 6 s timeout, as recorded in the report.
    assert sorted(o.penalty for o in told.values() if o.failed) == [-1500.0, -1500.0, -80.0]


@pytest.mark.parametrize("metric, mode", [("score", "min"), ("latency", "max")])
def test_a_warm_start_from_a_run_of_another_objective_is_refused(experiment, tmp_path, metric, mode):
    """The run searched "score", "max" (its searcher's saved state says so); a search of "score",
    "min" was told its values as its own (its best as its worst), and one of another metric too."""
    grid, _ = experiment
    warm = GradedPenaltySearcher("optuna", trial_timeout_s=600, warm_start=grid.experiment_path)
    with pytest.raises(ValueError, match=f"history trial 0 comes from a run that searched metric='score', "
                                         f"mode='max'; this search has metric={metric!r}, mode={mode!r}"):
        warm.set_search_properties(metric, mode, {"x": tune.uniform(0, 3)})
    assert warm.outcomes == {}  # nothing told
    later = GradedPenaltySearcher("optuna", trial_timeout_s=600, metric=metric, mode=mode)
    later.set_search_properties(None, None, {"x": tune.uniform(0, 3)})
    with pytest.raises(ValueError, match="comes from a run that searched"):
        later.add_history(failure_report(grid))  # a DataFrame: its attrs say it too
    csv = tmp_path / "report.csv"
    failure_report(grid).to_csv(csv, index=False)
    assert later.add_history(str(csv)) == 5  # a CSV names no objective: told as written


def test_a_failure_of_the_history_is_graded_by_the_completion_its_report_gives():
    """A trial that hung at iteration 2 of 10 until the watchdog ended it was told -400 (it got a
    fifth of the way); a warm start read it by its clock (600 s of 600): -80, the least-bad failure."""
    frame = pd.DataFrame({
        "config/x": [0.2, 0.4], "config/y": [0.5, 0.5], "status": ["failure", "failure"],
        "elapsed_s": [600.0, 300.0], "timeout_s": [600.0, 600.0], "completion": [0.2, 0.5],
        "error_class": ["timeout", "crash"], "error": ["", "RuntimeError: boom"]})
    searcher = GradedPenaltySearcher(trial_timeout_s=600, seed=0, warm_start=frame)
    searcher.set_search_properties("score", "max", HISTORY_SPACE)
    assert sorted(o.penalty for o in searcher.outcomes.values()) == [-500.0, -400.0]
    with pytest.raises(ValueError, match=r"completion must be a number in \[0, 1\] or empty, got 1.5"):
        read_history(frame.assign(completion=[0.2, 1.5]))


def test_when_nothing_succeeded_the_summary_names_the_least_bad_failure():
    report = pd.DataFrame({
        "trial_id": ["a", "b", "c"], "order": [0, 1, 2], "config/x": [1.0, 5.0, 9.0],
        "status": ["failure"] * 3, "value": [None] * 3, "penalty": [-1200.0, -500.0, -80.0],
        "told": [-1200.0, -500.0, -80.0], "elapsed_s": [1.0, 300.0, 600.0], "timeout_s": [600.0] * 3,
        "completion": [0.0, 0.5, 1.0], "error_class": ["deploy", "crash", "timeout"], "error": ["", "", ""],
    })
    summary = summarize(report)
    assert summary["best_kind"] == "least-bad failure" and summary["best"]["trial_id"] == "c"
    assert summary["by_error_class"]["trials"].to_dict() == {
        "deploy": 1, "oom": 0, "connection": 0, "timeout": 1, "slo": 0, "lost": 0, "crash": 1, "other": 0}
    assert list(summary["by_parameter"]["x"]["failure_rate"]) == [1.0, 1.0, 1.0]


def test_a_choice_of_a_few_integers_keeps_a_row_per_value_and_floats_are_binned():
    tp, frac = [1, 2, 3, 4, 6, 8, 8], [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    report = pd.DataFrame({
        "trial_id": list("abcdefg"), "order": range(7), "config/tp": tp, "config/frac": frac,
        "status": ["failure"] * 3 + ["success"] * 4, "value": [None] * 3 + [1.0, 2.0, 3.0, 4.0],
        "penalty": [-1500.0] * 3 + [None] * 4, "told": [-1500.0] * 3 + [1.0, 2.0, 3.0, 4.0],
        "elapsed_s": [1.0] * 7, "timeout_s": [600.0] * 7, "completion": [0.0] * 7,
        "error_class": ["oom"] * 3 + [None] * 4, "error": [""] * 7,
    })
    by = summarize(report)["by_parameter"]
    assert list(by["tp"].index) == [1, 2, 3, 4, 6, 8] and by["tp"].loc[8, "trials"] == 2
    assert len(by["frac"]) == 5  # seven distinct floats: five bins


def score_is_x(config):
    report({"score": config["x"], "p99_s": config["x"]})


def test_a_min_run_names_its_best_from_the_searchers_saved_mode(local_ray, tmp_path):
    """No failure to read a mode from: the searcher's saved state says "min"."""
    points = [{"x": 0.7}, {"x": 0.2}, {"x": 0.9}]
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30, points_to_evaluate=points)
    grid = run(searcher, score_is_x, tmp_path, num_samples=3, mode="min", space={"x": tune.uniform(0, 1)})
    report = failure_report(grid)
    assert (report.attrs["mode"], report.attrs["mode_from"]) == ("min", "the searcher's saved state")
    summary = summarize(report)
    assert summary["best_kind"] == "best success" and summary["best"]["config/x"] == 0.2
    assert "mode 'min', from the searcher's saved state" in format_summary(report, summary)


def score_is_x_but_nan_at_05_and_oom_at_03(config):
    if config["x"] == 0.3:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    report({"score": math.nan if config["x"] == 0.5 else config["x"]})


def test_a_run_without_the_package_names_no_best_unless_the_caller_gives_the_mode(local_ray, tmp_path):
    from ray.tune.search.optuna import OptunaSearch

    points = [{"x": 0.7}, {"x": 0.2}, {"x": 0.9}, {"x": 0.5}, {"x": 0.3}]
    space = {"x": tune.uniform(0, 1), "model": "m-8b"}  # a constant too: the report writes its column
    grid = run(OptunaSearch(points_to_evaluate=points), score_is_x_but_nan_at_05_and_oom_at_03, tmp_path,
               num_samples=5, callbacks=[], mode="min", space=space)
    rows = {row["config/x"]: row for row in failure_report(grid, metric="score").to_dict("records")}
    assert (rows[0.5]["status"], rows[0.5]["error_class"]) == ("failure", "crash")  # a NaN is no success
    assert rows[0.5]["error"] == "non-finite objective score=nan"
    assert (rows[0.3]["status"], rows[0.3]["error_class"]) == ("failure", "oom")  # as the default policy reads it
    assert rows[0.3]["error"] == "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"  # not Ray's header
    unknown = summarize(failure_report(grid, metric="score"))
    assert unknown["best_kind"] == "no mode" and unknown["best"] is None
    told = failure_report(grid, metric="score", mode="min")
    assert told.attrs["mode_from"] == "the caller" and summarize(told)["best"]["config/x"] == 0.2
    with pytest.raises(ValueError, match="mode"):
        failure_report(grid, metric="score", mode="lowest")
    done = subprocess.run([sys.executable, "-m", "ray_graded_penalty", "report", grid.experiment_path,
                           "--metric", "score", "--mode", "min"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "mode 'min', from the caller" in done.stdout, done.stderr[-2000:]
    assert "2 failed" in done.stdout  # read without a Ray session: the error files from the directory
    # --mode without --metric: no value can be read; the summary said nothing of why no best was named
    assert summarize(failure_report(grid, mode="min"))["best_kind"] == "no metric"
    done = subprocess.run([sys.executable, "-m", "ray_graded_penalty", "report", grid.experiment_path,
                           "--mode", "min"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "not named, no metric was given" in done.stdout, done.stderr[-2000:]
    assert "pass failure_report(..., metric=...) or --metric" in done.stdout
    # The OOM failed before it reported (no time_total_s): its time from Ray's clock of its start and
    # of its error; a warm start from the run raised "elapsed_s must be finite, got nan", and the
    # constant's column did not match the space ("do not match the search space's").
    assert 0 <= rows[0.3]["elapsed_s"] < 120
    warm = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="score", mode="min",
                                 warm_start=grid.experiment_path)
    warm.set_search_properties(None, None, space)
    assert sorted(o.failed for o in warm.outcomes.values()) == [False, False, False, True, True]
    assert all(set(o.config) == {"x"} for o in warm.outcomes.values())


def test_a_report_warns_of_a_metric_no_trial_reported_and_a_running_trial_is_no_success(
        local_ray, tmp_path, monkeypatch, caplog):
    """A misspelt --metric read every trial as "not failed" with no word; a trial still RUNNING
    (an interrupted run) that had reported was named the best success."""
    import logging

    import ray.tune
    from ray.tune.search.optuna import OptunaSearch

    points = [{"x": 0.7}, {"x": 0.2}, {"x": 0.9}]
    grid = run(OptunaSearch(points_to_evaluate=points), score_is_x_but_nan_at_05_and_oom_at_03, tmp_path,
               num_samples=3, callbacks=[], mode="min", space={"x": tune.uniform(0, 1)})
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        failure_report(grid, metric="scor", mode="min")
    assert any("reported the metric 'scor'" in r.getMessage() and "'score'" in r.getMessage()
               for r in caplog.records)
    real = ray.tune.ExperimentAnalysis

    def interrupted(path):  # the trial at 0.2 as a run cut off while it ran leaves it
        analysis = real(path)
        for trial in analysis.trials:
            if trial.config["x"] == 0.2:
                trial.status = "RUNNING"
        return analysis

    monkeypatch.setattr(ray.tune, "ExperimentAnalysis", interrupted)
    report = failure_report(grid, metric="score", mode="min")
    assert summarize(report)["best"]["config/x"] == 0.7
    assert dict(zip(report["config/x"], report["status"]))[0.2] == "running"


def two_latencies(config):
    report({"score": config["x"], "ttft_s": config["ttft_s"], "e2el_s": config["e2el_s"]})


def test_with_only_slo_misses_the_summary_names_the_searchers_least_weighted_miss(local_ray, tmp_path):
    # a misses the weighted SLO by 0.2 (0.4 weighted), b the other by 0.3 (0.3): b is the least miss
    points = [{"x": 0.9, "ttft_s": 1.2, "e2el_s": 0.5}, {"x": 0.1, "ttft_s": 0.5, "e2el_s": 1.3}]
    slos = [SLO("ttft_s", max=1.0, weight=2.0), SLO("e2el_s", max=1.0)]
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30, points_to_evaluate=points, slos=slos)
    space = {"x": tune.uniform(0, 1), "ttft_s": tune.uniform(0, 2), "e2el_s": tune.uniform(0, 2)}
    grid = run(searcher, two_latencies, tmp_path, num_samples=2, space=space)
    report = failure_report(grid)
    b = report.loc[report["config/x"] == 0.1, "trial_id"].iloc[0]
    assert searcher.best.trial_id == b
    summary = summarize(report)
    assert summary["best_kind"] == "least SLO miss" and summary["best"]["trial_id"] == b
    report.attrs.pop("least_bad")  # without the searcher's choice: its order, the weighted total
    assert summarize(report)["best"]["trial_id"] == b
    unweighted = report.drop(columns="slo_miss")  # a report without that column: the plain sum
    assert summarize(unweighted)["best"]["config/x"] == 0.9


def test_a_warm_start_from_a_report_tells_its_slo_misses_as_slo_misses(local_ray, tmp_path):
    points = [{"x": 0.3}, {"x": 0.6}, {"x": 0.8}, {"x": 0.45}]  # p99 0.6 and 0.8 miss the 0.5 s SLO
    slos = [SLO("p99_s", max=0.5)]
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30, points_to_evaluate=points, slos=slos)
    grid = run(searcher, score_is_x, tmp_path, num_samples=4, space={"x": tune.uniform(0, 1)})
    csv = tmp_path / "report.csv"
    failure_report(grid).to_csv(csv, index=False)
    assert sorted(pd.read_csv(csv)["status"]) == ["slo_miss", "slo_miss", "success", "success"]
    warm = GradedPenaltySearcher("optuna", trial_timeout_s=30, warm_start=str(csv), slos=slos)
    warm.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    kinds = {round(o.config["x"], 6): (o.kind, o.slo_miss) for o in warm.outcomes.values()}
    assert kinds[0.8] == ("slo_miss", pytest.approx(0.6)) and kinds[0.6] == ("slo_miss", pytest.approx(0.2))
    assert kinds[0.3] == kinds[0.45] == ("success", 0.0)
    told = {round(o.config["x"], 6): o.told for o in warm.outcomes.values()}
    assert told[0.8] < told[0.6] < min(told[0.3], told[0.45])  # below every success, by their miss


def test_a_warm_start_avoids_the_region_that_always_crashed():
    seeds = range(12)
    warm = [crash_region_share(GradedPenaltySearcher(trial_timeout_s=600, seed=s,
                                                     warm_start=earlier_run())) for s in seeds]
    cold = [crash_region_share(GradedPenaltySearcher(trial_timeout_s=600, seed=s)) for s in seeds]
    wins, losses = sum(w < c for w, c in zip(warm, cold)), sum(w > c for w, c in zip(warm, cold))
    # Paired sign test over fixed seeds: each run is deterministic, so is the verdict.
    assert binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue < 0.01, (warm, cold)


def test_history_reaches_the_study_with_failures_ranked_below_successes(tmp_path):
    history = earlier_run(rows=10)
    path = tmp_path / "history.csv"
    history.to_csv(path, index=False)
    searcher = GradedPenaltySearcher(trial_timeout_s=600, seed=0, warm_start=str(path))
    searcher.set_search_properties("score", "max", HISTORY_SPACE)
    trials = optuna_study(searcher).trials
    assert len(trials) == 10 and all(t.state.name == "COMPLETE" for t in trials)
    failed = [t for t in trials if violation(t) > 0]
    assert len(failed) == (history["status"] == "failed").sum()
    assert max(t.value for t in failed) < min(t.value for t in trials if t not in failed)
    assert all(t.value == -1200.0 for t in failed)  # early deploy failures, design numbers


def test_columns_without_status_and_defaults():
    frame = pd.DataFrame({"config/x": [0.5, 0.1], "config/y": [0.5, 0.2], "value": [1.0, math.nan],
                          "elapsed_s": [math.nan, 60.0]})
    past = read_history(frame)
    assert [p.failed for p in past] == [False, True] and past[1].error == "" and past[1].timeout_s is None


def test_a_csv_gives_back_the_configurations_exactly(tmp_path):
    """pandas before 3.0 read 0.0014297724879798392 back 4e-17 off: a warm start told the model
    configurations next to those that ran."""
    xs = [0.0014297724879798392, 0.1 + 0.2, 1 / 3]
    pd.DataFrame({"config/x": xs, "config/y": [0.5] * 3, "value": [1.0, 2.0, 0.1 + 0.7]}).to_csv(
        tmp_path / "r.csv", index=False)
    past = read_history(str(tmp_path / "r.csv"))
    assert [p.config["x"] for p in past] == xs and past[2].value == 0.1 + 0.7


def test_rows_that_did_not_finish_are_skipped():
    frame = pd.DataFrame({"config/x": [0.5], "config/y": [0.5], "status": ["pending"]})
    assert read_history(frame) == []


@pytest.mark.parametrize(
    "frame,message",
    [
        (pd.DataFrame({"x": [1.0], "value": [1.0]}), "no config columns"),
        (pd.DataFrame({"config/x": [0.1], "status": ["failed"], "elapsed_s": [math.nan]}),
         "history row 0: elapsed_s must be finite"),
        (pd.DataFrame({"config/x": [0.1, 0.2], "status": ["success", "failed"], "value": [1.0, None]}),
         "history row 1: elapsed_s must be a number"),
        (pd.DataFrame({"config/x": [0.1], "status": ["success"], "value": [math.inf]}),
         "history row 0: a success needs a finite 'value'"),
        (pd.DataFrame({"config/x": [0.1], "elapsed_s": [-3.0]}), "history row 0: elapsed_s must not be negative"),
        (pd.DataFrame({"config/x": [0.1], "elapsed_s": [3.0], "timeout_s": [0]}),
         "history row 0: timeout_s must be a positive"),
    ],
)
def test_malformed_history_is_refused_naming_the_row(frame, message):
    with pytest.raises(ValueError, match=message):
        read_history(frame)


def test_a_warm_start_reads_a_file_uri_and_refuses_a_remote_one(tmp_path):
    csv = tmp_path / "report.csv"
    pd.DataFrame({"config/x": [0.2], "status": ["success"], "value": [1.0]}).to_csv(csv, index=False)
    assert [t.value for t in read_history(f"file://{csv}")] == [1.0]  # "neither an experiment directory nor ..."
    with pytest.raises(ValueError, match="s3://bucket/run is not on this machine"):
        GradedPenaltySearcher(trial_timeout_s=60, warm_start="s3://bucket/run")


def test_a_malformed_history_is_refused_at_construction(tmp_path):
    with pytest.raises(ValueError, match="neither an experiment directory nor a .csv"):
        GradedPenaltySearcher(trial_timeout_s=60, warm_start=str(tmp_path / "nope.txt"))


def test_the_least_bad_failure_is_the_searchers_own_order_magnitude_then_progress():
    report = pd.DataFrame({
        "trial_id": ["a", "b", "c"], "order": [0, 1, 2], "config/x": [1.0, 5.0, 9.0],
        "status": ["failure"] * 3, "value": [None] * 3, "penalty": [-200.0, -200.0, -500.0],
        "completion": [0.61, 0.94, 0.3], "error_class": ["crash"] * 3,
    })
    assert summarize(report)["best"]["trial_id"] == "b"  # same magnitude: the one that got further
    report.attrs["least_bad"] = "a"  # what the searcher's saved state named wins
    assert summarize(report)["best"]["trial_id"] == "a"


def train_loop_like(config):
    """A space nested as Ray Train's train_loop_config: fails above lr 0.6, else a score."""
    inner = config["train_loop_config"]
    if inner["lr"] > 0.6:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    report({"score": inner["layers"] - inner["lr"]})


def test_a_nested_space_through_the_report_the_summary_the_plots_the_cli_and_a_warm_start(local_ray, tmp_path):
    from ray_graded_penalty._cli import main as cli

    space = {"train_loop_config": {"lr": tune.uniform(0, 1), "layers": tune.choice([1, 2, 3]),
                                   "wd": tune.loguniform(1e-6, 1e-2)}}
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30, seed=1)
    grid = run(searcher, train_loop_like, tmp_path, num_samples=8, space=space)
    frame = failure_report(grid)
    assert {"config/train_loop_config/lr", "config/train_loop_config/layers"} <= set(frame.columns)
    assert set(frame["status"]) == {"success", "failure"}, frame["status"]  # seed 1: both
    summary = summarize(frame)
    assert summary["best_kind"] == "best success" and set(summary["by_parameter"]) <= {
        "train_loop_config/lr", "train_loop_config/layers", "train_loop_config/wd"}
    assert "train_loop_config/lr" in format_summary(frame, summary)
    # the loguniform parameter, from the searcher's saved state: bins of equal ratio, not width
    assert frame.attrs["log_scale"] == ["train_loop_config/wd"]
    edges = summary["by_parameter"]["train_loop_config/wd"].index  # a bin without trials has no row
    ratios = [b.right / b.left for b in edges]  # edges as labelled: 3 digits
    assert len(ratios) >= 2 and max(ratios) == pytest.approx(min(ratios), rel=0.01), ratios
    out = tmp_path / "report"
    assert cli(["report", grid.experiment_path, "--out", str(out)]) == 0
    assert (out / "failure_report.csv").exists() and (out / "by_train_loop_config.lr.png").exists()
    warm = GradedPenaltySearcher("optuna", trial_timeout_s=30, warm_start=str(out / "failure_report.csv"))
    warm.set_search_properties("score", "max", space)
    assert len(warm.outcomes) == 8 and sum(o.failed for o in warm.outcomes.values()) == (
        frame["status"] == "failure").sum()
    assert set(warm.suggest("next")["train_loop_config"]) == {"lr", "layers", "wd"}  # Tune's names again


def test_a_failure_whose_configuration_was_retried_is_not_read_back(tmp_path):
    report = pd.DataFrame({
        "config/x": [0.1, 0.1, 0.5], "status": ["failure", "success", "failure"], "value": [None, 2.0, None],
        "elapsed_s": [30.0, 50.0, 10.0], "error_class": ["lost", None, "oom"], "retried": [True, False, False],
    })
    path = tmp_path / "report.csv"
    report.to_csv(path, index=False)
    for source in (report, str(path)):  # as a DataFrame and from its CSV
        trials = read_history(source)
        assert [(t.config["x"], t.kind.value) for t in trials] == [(0.1, "success"), (0.5, "failure")]


REPORT_0_5 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "report_0.5.0.csv")


@pytest.mark.parametrize("backend", ["optuna", "hyperopt"])
def test_a_report_0_5_wrote_for_a_nested_space_warm_starts_a_search(backend):
    """``tests/data/report_0.5.0.csv`` (``tests/data/make_old_report.py`` on 0.5.0): 0.5.0's
    ``failure_report`` of a real Tuner run (12 trials, 5 failed: out of memory above x = 0.6, a
    bad flag below 0.15) in a nested space, which 0.5 wrote as one column holding the dict
    (``config/nested`` = ``"{'y': 1}"``). It is read as Tune
    flattens it (``nested/y``) and warm-starts a search in that space, failures below successes;
    in a space without ``nested``, the parameters are refused by name."""
    history = read_history(REPORT_0_5)
    assert [t.config["nested/y"] for t in history[:3]] == [1, 2, 1] and all(len(t.config) == 2 for t in history)
    assert sorted(t.error_class or "" for t in history if t.kind.value == "failure") == ["deploy"] + ["oom"] * 4
    space = {"x": tune.uniform(0, 1), "nested": {"y": tune.choice([1, 2])}}
    searcher = GradedPenaltySearcher(backend, trial_timeout_s=60, seed=0, warm_start=REPORT_0_5,
                                     metric="score", mode="max")
    searcher.set_search_properties(None, None, space)
    told = searcher.outcomes.values()
    assert len(told) == 12 and max(o.told for o in told if o.failed) < min(o.told for o in told if not o.failed)
    assert set(searcher.suggest("next")) == {"x", "nested"}
    flat = GradedPenaltySearcher(backend, trial_timeout_s=60, warm_start=REPORT_0_5, metric="score", mode="max")
    with pytest.raises(ValueError, match=r"parameters \['nested/y', 'x'\] do not match the search space's \['x'\]"):
        flat.set_search_properties(None, None, {"x": tune.uniform(0, 1)})


# ----- reports of unusual runs, read without Ray ---------------------------------------------------


def test_a_failure_ray_recorded_is_read_from_the_experiment_directory_without_a_ray_session(tmp_path):
    from types import SimpleNamespace

    from ray_graded_penalty.report import _recorded_failure

    data = os.path.join(os.path.dirname(__file__), "data", "ray_error.txt")  # Ray 2.x wrote it
    (tmp_path / "error.txt").write_bytes(open(data, "rb").read())
    written = time.mktime((2026, 12, 7, 2, 9, 28, 0, 0, -1))  # Ray wrote local time
    os.utime(tmp_path / "error.txt", (written + 1000.5, written + 1000.5))  # a copy's time: no zone's offset
    trial = SimpleNamespace(path=str(tmp_path), run_metadata=SimpleNamespace(error_filename="error.txt",
                                                                             pickled_error_filename=None))
    assert _recorded_failure(trial) == ("oom", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
                                        written)
    nothing = SimpleNamespace(path=str(tmp_path), run_metadata=SimpleNamespace(error_filename=None))
    assert _recorded_failure(nothing)[1] == ""
    for text, line in (
        # an exception whose message has lines of its own (a server's log): its line, not the log's last
        ("Failure # 1 (occurred at 2026-12-07_02-09-20)\nRuntimeError: first try\n"
         "Failure # 2 (occurred at 2026-12-07_02-09-28)\nTraceback (most recent call last):\n"
         '  File "serve.py", line 3, in <module>\nRuntimeError: vLLM engine failed to start\nstderr tail:\n'
         "INFO loading weights\nERROR engine core died\n", "RuntimeError: vLLM engine failed to start"),
        # a chained exception: the last one raised, whatever its class is called
        ("Failure # 1 (occurred at 2026-12-07_02-09-28)\nTraceback (most recent call last):\n"
         '  File "t.py", line 3, in f\nKeyError: \'gpu\'\n\nThe above exception was the direct cause of the '
         'following exception:\n\nTraceback (most recent call last):\n  File "t.py", line 5, in g\n'
         "NodeLost: the node died\n", "NodeLost: the node died"),
    ):
        (tmp_path / "error.txt").write_text(text)
        assert _recorded_failure(trial)[1] == line


def test_a_failures_time_is_read_whatever_zone_wrote_it(tmp_path):
    """Ray writes a failure's local time; read in another zone it was hours off (or refused)."""
    from ray_graded_penalty.report import _failure_time

    written = "2026-12-07_02-09-28"
    here = time.mktime(time.strptime(written, "%Y-%m-%d_%H-%M-%S"))
    path = tmp_path / "error.txt"
    path.write_text("x")
    os.utime(path, (here + 5 * 3600 + 0.4, here + 5 * 3600 + 0.4))  # written five zones east
    assert _failure_time(written, str(path)) == here + 5 * 3600 + 0.4
    os.utime(path, (here + 12345.6, here + 12345.6))  # a copy's time: not the failure's
    assert _failure_time(written, str(path)) == here


def test_a_choice_of_lists_or_with_none_is_summarized_and_plotted(tmp_path):
    from ray_graded_penalty.plots import plot_report

    report = pd.DataFrame({
        "trial_id": list("abcd"), "order": range(4), "status": ["success", "failure", "success", "failure"],
        "value": [1.0, None, 2.0, None], "penalty": [None, -800.0, None, -900.0],
        "error_class": [None, "oom", None, "oom"], "completion": [None, 0.5, None, 0.2],
        "config/shape": [[1, 2], [3, 4], [1, 2], [3, 4]], "config/quant": [None, "awq", None, "awq"],
        "config/max_len": [4096, None, 8192, None],  # numbers and None: pandas holds the None as NaN
        "config/limit": [1.5, math.inf, 2.5, math.inf],  # no bin holds an infinity: pd.cut raised
    })
    report.attrs.update(mode="max", mode_from="the caller")
    summary = summarize(report)
    assert set(summary["by_parameter"]) == {"shape", "quant", "max_len", "limit"}
    assert summary["by_parameter"]["limit"]["failure_rate"].to_dict() == {"1.5": 0.0, "2.5": 0.0, "inf": 1.0}
    assert list(summary["by_parameter"]["quant"].index) == ["None", "awq"]
    # the two failures at None were left out, and each number's row read 0 % failed
    assert summary["by_parameter"]["max_len"]["failure_rate"].to_dict() == {"4096": 0.0, "8192": 0.0, "None": 1.0}
    assert summary["by_parameter"]["shape"]["failure_rate"].to_dict() == {"[1, 2]": 0.0, "[3, 4]": 1.0}
    assert "best success" in format_summary(report, summary)
    pytest.importorskip("matplotlib")
    written = {os.path.basename(p) for p in plot_report(report, str(tmp_path))}
    assert {"by_shape.png", "by_quant.png", "by_max_len.png", "by_limit.png"} <= written


def test_a_continuous_parameter_with_a_missing_value_stays_binned_and_nullable_numbers_are_read():
    from ray_graded_penalty.report import parameter_values

    x = [i / 30 for i in range(30)]
    report = pd.DataFrame({"config/x": x[:-1] + [math.nan], "config/n": pd.array([1, 2, None] * 10, dtype="Int64")})
    assert pd.api.types.is_float_dtype(parameter_values(report, "config/x"))  # binned, not 30 rows of text
    assert set(parameter_values(report, "config/n")) == {"1", "2", "None"}  # pandas' NA: math.isfinite raised


def test_a_report_of_no_trials_is_summarized():
    from ray_graded_penalty.report import REPORT_COLUMNS

    report = pd.DataFrame(columns=list(REPORT_COLUMNS))  # what failure_report gives for a run without trials
    summary = summarize(report)
    assert summary["best_kind"] == "none" and summary["by_parameter"] == {}
    assert format_summary(report, summary).startswith("0 trials")


def test_a_warm_start_from_two_objectives_reads_the_one_it_is_given():
    two = pd.DataFrame({"config/x": [0.1, 0.2], "status": ["success", "success"], "value": [1.0, 3.0],
                        "value/a": [1.0, 3.0], "value/b": [5.0, 0.5]})
    assert [t.value for t in read_history(two, metric="b")] == [5.0, 0.5]
    with pytest.raises(ValueError, match=r"several objectives \['a', 'b'\].*metric=None"):
        read_history(two)
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="b", mode="min", warm_start=two)
    searcher.set_search_properties("b", "min", {"x": tune.uniform(0, 1)})
    assert searcher.best.metric == 0.5
    # as failure_report gives it: each objective's mode in its attrs, the one read back checked
    two.attrs.update(metric=["a", "b"], modes=["max", "min"], mode="max")
    assert [(t.metric, t.mode) for t in read_history(two, metric="b")] == [("b", "min")] * 2
    wrong = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="b", mode="max", warm_start=two)
    with pytest.raises(ValueError, match="searched metric='b', mode='min'; this search has metric='b', mode='max'"):
        wrong.set_search_properties("b", "max", {"x": tune.uniform(0, 1)})


@pytest.mark.parametrize("backend", ["optuna", "hyperopt"])
def test_a_constant_of_the_space_is_no_parameter_of_a_warm_start(backend, caplog):
    """The report writes a column for every entry of a trial's config, a constant too (the demo's
    "timeout_s"): a warm start from it was refused ("do not match the search space's")."""
    history = pd.DataFrame({"config/x": [0.2, 0.7], "config/timeout_s": [60, 120], "config/model/name": ["a", "a"],
                            "status": ["success", "failure"], "value": [1.0, None], "elapsed_s": [None, 30.0]})
    space = {"x": tune.uniform(0, 1), "timeout_s": 60, "model": {"name": "a"}}
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        searcher = GradedPenaltySearcher(backend, trial_timeout_s=60, metric="v", mode="max", warm_start=history)
        searcher.set_search_properties(None, None, space)
    assert [o.config for o in searcher.outcomes.values()] == [{"x": 0.2}, {"x": 0.7}]
    named = [r.getMessage() for r in caplog.records if "constants of this search space" in r.getMessage()]
    assert len(named) == 1 and "['timeout_s']" in named[0]  # 120 is not this space's 60; "a" is


@pytest.mark.parametrize("bad, message", [
    ({"x": 1.5}, r"history trial 2: x=1.5 is not a number in the space's range \[0(\.0)?, 1(\.0)?\]"),
    ({"n": "64"}, r"history trial 2: n='64' is none of the space's choices \[8, 16\]"),
    ({"k": 4}, r"history trial 2: k=4 is not a number in the space's range \[0, 3\]"),  # randint(0, 4): 0 to 3
])
def test_a_value_outside_the_space_is_refused_naming_its_trial_before_any_is_told(bad, message):
    """Optuna's own error named no row, and a study in a database kept the rows told before it."""
    rows = [{"x": 0.2, "n": 8, "k": 0}, {"x": 0.4, "n": 16, "k": 3}, {"x": 0.6, "n": 8, "k": 1, **bad}]
    history = pd.DataFrame([{**{f"config/{k}": v for k, v in r.items()}, "status": "success", "value": 1.0}
                            for r in rows])
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="v", mode="max", warm_start=history)
    with pytest.raises(ValueError, match=message):
        searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1), "n": tune.choice([8, 16]),
                                                    "k": tune.randint(0, 4)})
    assert searcher.outcomes == {} and optuna_study(searcher).trials == []


def test_warm_started_failures_carry_the_graded_penalty_attributes_in_the_study():
    """Filtered on graded_penalty.kind (as design.md says for optuna-dashboard), warm-started
    failures passed as successes: they had no attributes."""
    history = pd.DataFrame({"config/x": [0.2, 0.7], "status": ["success", "failure"], "value": [1.0, None],
                            "elapsed_s": [None, 30.0], "error": [None, "CUDA out of memory"]})
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="v", mode="max", warm_start=history)
    searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    success, failure = optuna_study(searcher).trials
    assert not any(k.startswith("graded_penalty.") for k in success.user_attrs)
    assert failure.user_attrs["graded_penalty.kind"] == "failure"
    assert failure.user_attrs["graded_penalty.error_class"] == "oom"
    assert failure.user_attrs["graded_penalty.penalty"] == searcher.outcomes["history-1"].penalty == -750.0  # 500 x 1.5


def test_a_history_with_nothing_to_tell_is_warned_of(caplog):
    plain = pd.DataFrame({"config/x": [0.1, 0.2], "status": ["terminated", "terminated"], "value": [None, None]})
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        assert read_history(plain) == []
    assert any("needs the searcher's metric" in r.getMessage() for r in caplog.records)


CHOICES = {"tp": tune.choice(["8", "16"]), "batch": tune.choice([2048, "auto"]), "quant": tune.choice([None, "awq"]),
           "kv": tune.choice(["None", "NA", "fp8"]), "shape": tune.choice([(1, 2), (3, 4)]),
           "eager": tune.choice([True, False]), "lr": tune.uniform(0, 1)}
ROWS = [  # as the trials ran: one row a trial
    {"tp": "8", "batch": 2048, "quant": None, "kv": "None", "shape": (1, 2), "eager": True, "lr": 0.25},
    {"tp": "16", "batch": "auto", "quant": "awq", "kv": "NA", "shape": (3, 4), "eager": False, "lr": 0.5},
    {"tp": "16", "batch": 2048, "quant": None, "kv": "fp8", "shape": (3, 4), "eager": True, "lr": 0.75},
]


@pytest.mark.parametrize("through", ["csv", "frame"])
def test_a_warm_start_gives_the_inner_searcher_each_choice_as_it_is_in_the_space(tmp_path, through):
    frame = pd.DataFrame([{**{f"config/{k}": list(v) if isinstance(v, tuple) else v for k, v in row.items()},
                           "status": "success", "value": float(i)} for i, row in enumerate(ROWS)])
    source = frame  # a report read from an experiment directory: a tuple as Ray's JSON gives it, a list
    if through == "csv":
        frame.to_csv(tmp_path / "report.csv", index=False)
        source = str(tmp_path / "report.csv")
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="score", mode="max", warm_start=source)
    searcher.set_search_properties("score", "max", CHOICES)
    told = [t.params for t in optuna_study(searcher).trials]
    assert len(told) == 3
    for params, row in zip(told, ROWS):
        assert {k: v for k, v in params.items()} == row  # Optuna's params are the space's own values
        assert [type(params[k]) for k in row] == [type(v) for v in row.values()]


def test_a_parameter_without_a_value_is_refused_unless_none_is_a_choice():
    frame = pd.DataFrame({"config/tp": ["8", None], "config/quant": [None, None], "status": "success",
                          "value": [1.0, 2.0]})
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="score", mode="max", warm_start=frame)
    with pytest.raises(ValueError, match=r"history trial 1: no value for parameter\(s\) \['tp'\]"):
        searcher.set_search_properties("score", "max", {"tp": tune.choice(["8", "16"]),
                                                        "quant": tune.choice([None, "awq"])})


def test_a_warm_start_gives_back_a_chosen_dict_that_tune_flattened():
    frame = pd.DataFrame({"config/p/a": [1, 3], "config/p/b": ["x", "y"], "config/lr": [0.1, 0.2],
                          "status": "success", "value": [1.0, 2.0]})  # as failure_report writes it
    space = {"p": tune.choice([{"a": 1, "b": "x"}, {"a": 3, "b": "y"}]), "lr": tune.uniform(0, 1)}
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="score", mode="max", warm_start=frame)
    searcher.set_search_properties("score", "max", space)
    assert [t.params["p"] for t in optuna_study(searcher).trials] == [{"a": 1, "b": "x"}, {"a": 3, "b": "y"}]


def test_the_summary_says_how_many_failures_ran_again():
    """A transient failure (a lost node) is a failed trial whose configuration ran again: the
    summary counted it among the failures and did not say so."""
    report = pd.DataFrame({
        "trial_id": ["a", "b", "c"], "config/x": [0.1, 0.1, 0.5], "status": ["failure", "success", "failure"],
        "value": [None, 2.0, None], "penalty": [-10.0, None, -20.0], "elapsed_s": [30.0, 50.0, 10.0],
        "error_class": ["lost", None, "oom"], "retried": [True, False, False],
    })
    report.attrs.update(mode="max", mode_from="the caller")
    text = format_summary(report, summarize(report))
    assert text.startswith("3 trials, 2 failed (67%). 1 of them transient: their configurations ran again.")
    plain = report.drop(columns="retried")
    assert "transient" not in format_summary(plain, summarize(plain))
