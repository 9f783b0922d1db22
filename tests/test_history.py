"""Warm start: earlier trials, failures included, from a DataFrame, a CSV or an experiment."""

import math
import random

import pandas as pd
import pytest
from ray import tune
from ray.tune.search import Searcher
from scipy.stats import binomtest

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.backends.optuna import violation
from ray_graded_penalty.history import read_history

from conftest import hyperopt_done_trials, optuna_study

SPACE = {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}


def outcome(config):
    """x < 0.3 always crashes early (a deploy failure); elsewhere a success peaking at (0.6, 0.5)."""
    if config["x"] < 0.3:
        return None, 5.0, "Deployment failed: image not found"
    return -((config["x"] - 0.6) ** 2) - (config["y"] - 0.5) ** 2, 300.0, ""


def earlier_run(rows=40, seed=123):
    rng = random.Random(seed)
    records = []
    for _ in range(rows):
        config = {"x": rng.random(), "y": rng.random()}
        value, elapsed, error = outcome(config)
        records.append({"config/x": config["x"], "config/y": config["y"], "value": value,
                        "elapsed_s": elapsed, "error": error,
                        "status": "failed" if value is None else "success"})
    return pd.DataFrame(records)


def crash_region_share(searcher, trials=30):
    searcher.set_search_properties("score", "max", SPACE)
    hits = 0
    for i in range(trials):
        config = searcher.suggest(f"t{i}")
        value, elapsed, error = outcome(config)
        if value is None:
            searcher.record_failure(f"t{i}", elapsed_s=elapsed, error=error)
        else:
            searcher.on_trial_complete(f"t{i}", result={"score": value})
        hits += config["x"] < 0.3
    return hits


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
    searcher.set_search_properties("score", "max", SPACE)
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
        (pd.DataFrame({"config/x": [None], "value": [1.0]}), r"history row 0: no value for parameter\(s\) \['x'\]"),
        (pd.DataFrame({"config/x": [0.1], "elapsed_s": [-3.0]}), "history row 0: elapsed_s must not be negative"),
        (pd.DataFrame({"config/x": [0.1], "elapsed_s": [3.0], "timeout_s": [0]}),
         "history row 0: timeout_s must be a positive"),
    ],
)
def test_malformed_history_is_refused_naming_the_row(frame, message):
    with pytest.raises(ValueError, match=message):
        read_history(frame)


def test_a_malformed_history_is_refused_at_construction(tmp_path):
    with pytest.raises(ValueError, match="neither an experiment directory nor a .csv"):
        GradedPenaltySearcher(trial_timeout_s=60, warm_start=str(tmp_path / "nope.txt"))


class NoHistorySearcher(Searcher):
    """A user's own searcher without add_evaluated_point: suggests the middle of the space."""

    def suggest(self, trial_id):
        return {"x": 0.5, "y": 0.5}

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass


def test_a_searcher_without_add_evaluated_point_says_it_cannot_warm_start():
    searcher = GradedPenaltySearcher(NoHistorySearcher(), trial_timeout_s=600, warm_start=earlier_run(rows=3))
    with pytest.raises(NotImplementedError, match="warm start needs an inner searcher with add_evaluated_point"):
        searcher.set_search_properties("score", "max", SPACE)


def test_a_hyperopt_warm_start_avoids_the_region_that_always_crashed():
    seeds = range(12)
    warm = [crash_region_share(GradedPenaltySearcher("hyperopt", trial_timeout_s=600, seed=s,
                                                     warm_start=earlier_run())) for s in seeds]
    cold = [crash_region_share(GradedPenaltySearcher("hyperopt", trial_timeout_s=600, seed=s)) for s in seeds]
    wins, losses = sum(w < c for w, c in zip(warm, cold)), sum(w > c for w, c in zip(warm, cold))
    assert binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue < 0.01, (warm, cold)


def test_hyperopt_history_reaches_its_trials_ranked_below_successes_and_moves_with_them():
    history = earlier_run(rows=10)
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, seed=0, warm_start=history)
    searcher.set_search_properties("score", "max", SPACE)
    done = hyperopt_done_trials(searcher)
    failed = history["status"] == "failed"
    assert len(done) == 10
    assert [t["misc"]["vals"]["x"] for t in done] == [[x] for x in history["config/x"]]
    losses = [t["result"]["loss"] for t in done]
    assert all(loss == 1200.0 for loss, f in zip(losses, failed) if f)  # HyperOpt minimizes -score
    assert max(-v for v in history["value"][~failed]) < 1200.0
    # A far worse success arrives: the failures told from history move below it too.
    searcher.suggest("new")
    searcher.on_trial_complete("new", result={"score": -5000.0})
    moved = [t["result"]["loss"] for t, f in zip(hyperopt_done_trials(searcher), failed) if f]
    assert min(moved) > 5000.0


def test_a_hyperopt_warm_start_stores_a_choice_as_its_index_and_checks_the_parameters():
    space = {"x": tune.uniform(0, 1), "kind": tune.choice(["fp8", "bf16"])}
    frame = pd.DataFrame({"config/x": [0.5], "config/kind": ["bf16"], "value": [1.0]})
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, warm_start=frame)
    searcher.set_search_properties("score", "max", space)
    assert hyperopt_done_trials(searcher)[0]["misc"]["vals"]["kind"] == [1]
    assert searcher.suggest("t1")["kind"] in ("fp8", "bf16")

    wrong = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, warm_start=frame.drop(columns="config/kind"))
    with pytest.raises(ValueError, match=r"parameters \['x'\] do not match the search space's \['kind', 'x'\]"):
        wrong.set_search_properties("score", "max", space)


def test_a_hyperopt_warm_start_in_a_nested_space():
    space = {"x": tune.uniform(0, 1), "server": {"tp": tune.choice([1, 2, 4]), "frac": tune.uniform(0.5, 1)}}
    frame = pd.DataFrame({"config/x": [0.2], "config/server/tp": [4], "config/server/frac": [0.9], "value": [3.0]})
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, warm_start=frame)
    searcher.set_search_properties("score", "max", space)
    vals = hyperopt_done_trials(searcher)[0]["misc"]["vals"]
    assert vals == {"x": [0.2], "server/tp": [2], "server/frac": [0.9]}  # tp stored as its index
    assert searcher.suggest("t1")["server"]["tp"] in (1, 2, 4)
