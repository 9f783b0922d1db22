"""The HyperOpt backend: Ray's HyperOptSearch with failures kept below successes by rewriting
their losses, and a warm start written into its trial list."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import tune
from ray.tune.search.hyperopt import HyperOptSearch
from scipy.stats import binomtest

from ray_graded_penalty import GradedPenaltySearcher

from conftest import hyperopt_done_trials
from searcher_helpers import HISTORY_SPACE, crash_region_share, drive, earlier_run, make, outcomes


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
    searcher.set_search_properties("score", "max", HISTORY_SPACE)
    done = hyperopt_done_trials(searcher)
    failed = history["status"] == "failed"
    assert len(done) == 10
    assert [t["misc"]["vals"]["x"] for t in done] == [[x] for x in history["config/x"]]
    losses = [t["result"]["loss"] for t in done]
    assert all(loss == 1200.0 for loss, f in zip(losses, failed) if f)  # HyperOpt minimizes -score
    successes = [loss for loss, f in zip(losses, failed) if not f]
    assert successes == [-v for v in history["value"][~failed]] and max(successes) < 1200.0  # their order kept
    # A far worse success arrives: the failures told from history move below it too.
    searcher.suggest("new")
    searcher.on_trial_complete("new", result={"score": -5000.0})
    moved = [t["result"]["loss"] for t, f in zip(hyperopt_done_trials(searcher), failed) if f]
    assert min(moved) > 5000.0


def test_a_point_evaluated_elsewhere_is_refused_naming_what_hyperopt_takes_instead():
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, seed=0)
    searcher.set_search_properties("score", "max", HISTORY_SPACE)
    with pytest.raises(NotImplementedError, match="HyperOptSearch takes no point evaluated elsewhere.*add_history"):
        searcher.add_evaluated_point({"x": 0.5, "y": 0.5}, 1.0)
    assert searcher.add_history(earlier_run(rows=4)) == 4  # what it names instead


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


def test_a_hyperopt_warm_start_of_choices_of_tuples_dicts_and_equal_numbers():
    """Ray's own conversion of a warm start's choices found no tuple, and never returned for a
    dict (the driver spun in HyperOpt's expression for ever); ``1`` was ``True``'s index."""
    space = {"t": tune.choice([(1, 2), (3, 4)]), "b": tune.choice([1, True]), "x": tune.uniform(0, 1)}
    frame = pd.DataFrame({"config/t": ["[3, 4]", "[1, 2]"], "config/b": [True, 1], "config/x": [0.1, 0.2],
                          "value": [1.0, 2.0]})  # as failure_report writes a tuple: the text of a list
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, warm_start=frame)
    searcher.set_search_properties("score", "max", space)
    assert [d["misc"]["vals"] for d in hyperopt_done_trials(searcher)] == [
        {"t": [1], "b": [1], "x": [0.1]}, {"t": [0], "b": [0], "x": [0.2]}]
    assert searcher.suggest("t1")["t"] in ((1, 2), (3, 4))

    dicts = {"p": tune.choice([{"a": 1}, {"a": 2}])}
    bare = HyperOptSearch(metric="score", mode="max", random_state_seed=0)
    bare.set_search_properties("score", "max", dicts)
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600,
                                     warm_start=pd.DataFrame({"config/p/a": [2], "value": [1.0]}))
    if bare.suggest("t0")["p"] == {}:  # Ray 2.30's HyperOptSearch keeps no dict choice: it suggests {}
        with pytest.raises(ValueError, match=r"p=\{'a': 2\} is none of the search space's choices"):
            searcher.set_search_properties("score", "max", dicts)
        return
    searcher.set_search_properties("score", "max", dicts)
    assert hyperopt_done_trials(searcher)[0]["misc"]["vals"] == {"p": [1]}


def test_a_hyperopt_warm_start_in_a_nested_space():
    space = {"x": tune.uniform(0, 1), "server": {"tp": tune.choice([1, 2, 4]), "frac": tune.uniform(0.5, 1)}}
    frame = pd.DataFrame({"config/x": [0.2], "config/server/tp": [4], "config/server/frac": [0.9], "value": [3.0]})
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, warm_start=frame)
    searcher.set_search_properties("score", "max", space)
    vals = hyperopt_done_trials(searcher)[0]["misc"]["vals"]
    assert vals == {"x": [0.2], "server/tp": [2], "server/frac": [0.9]}  # tp stored as its index
    assert searcher.suggest("t1")["server"]["tp"] in (1, 2, 4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=outcomes, mode=st.sampled_from(["max", "min"]))
def test_hyperopt_never_ranks_a_failure_above_a_success(events, mode):
    searcher = make("hyperopt", mode)
    drive(searcher, events)
    done = hyperopt_done_trials(searcher)
    assert len(done) == len(events)
    losses = [doc["result"]["loss"] for doc in sorted(done, key=lambda doc: doc["tid"])]  # in the events' order
    failed = [loss for (kind, _), loss in zip(events, losses) if kind == "f"]
    succeeded = [loss for (kind, _), loss in zip(events, losses) if kind != "f"]
    assert all(f > s for f in failed for s in succeeded)  # HyperOpt minimizes its loss


def test_the_backend_without_hyperopt_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hyperopt", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r'pip install "ray-graded-penalty\[hyperopt\]"'):
        GradedPenaltySearcher("hyperopt", trial_timeout_s=60)
    GradedPenaltySearcher("optuna", trial_timeout_s=60)  # the Optuna backend needs nothing more
