"""Searchers saved by earlier releases (0.2.0 and 0.3.0, files in tests/data) restore: what
they had told is kept, the trials that were running are told once, and new failures still
land below every success. The files were written by ``tests/data/make_saved_states.py`` run
on those releases; each carries the inner Optuna study of the Optuna major it was made with,
so a file restores where that major is installed."""

import glob
import json
import os

import optuna
import pytest
from ray import tune

from ray_graded_penalty import SLO, GradedPenaltySearcher

from conftest import optuna_study

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MAJOR = optuna.__version__.split(".")[0]
CASES = sorted(glob.glob(os.path.join(DATA, f"saved_*_optuna{MAJOR}.json")))


def test_a_saved_state_exists_for_this_optuna():
    assert CASES, f"no saved state made with Optuna {MAJOR} in {DATA}"


@pytest.mark.parametrize("case", CASES, ids=[os.path.basename(c)[6:-5] for c in CASES])
def test_a_state_saved_by_an_earlier_release_restores(case):
    with open(case) as f:
        expected = json.load(f)
    slos = [SLO("p99_s", max=0.5)] if expected["slos"] else None
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0, metric="score", mode="max", slos=slos)
    searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    searcher.restore(case[:-5] + ".pkl")

    told = {t: {"told": o.told, "kind": o.kind, "penalty": o.penalty} for t, o in searcher.outcomes.items()}
    assert told == expected["outcomes"]
    assert searcher.best.trial_id == expected["best"]
    for trial_id in expected["running"]:  # running across the save: told once, when they end
        searcher.on_trial_complete(trial_id, result={"score": 1.0, "p99_s": 0.1})
        searcher.on_trial_complete(trial_id, result={"score": 1.0, "p99_s": 0.1})
    assert set(searcher.outcomes) == set(expected["outcomes"]) | set(expected["running"])
    assert searcher.suggest("late") is not None
    searcher.record_failure("late", elapsed_s=10.0, error="deploy failed: bad flag")
    outcomes = searcher.outcomes
    successes = [o.told for o in outcomes.values() if o.kind == "success"]
    assert outcomes["late"].told < min(successes)
    complete = [t for t in optuna_study(searcher).trials if t.state.name == "COMPLETE"]
    assert len(complete) == len(outcomes)  # each told to the study exactly once
