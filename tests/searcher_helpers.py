"""Shared by the tests that drive the searcher directly (no Ray loop): a space, a searcher on it,
event sequences, and an earlier run to warm-start from."""

import pickle
import random

import optuna
import pandas as pd
from hypothesis import strategies as st
from ray import tune
from ray.tune.search import Searcher

from ray_graded_penalty import GradedPenaltySearcher

from conftest import optuna_study

SPACE = {"x": tune.uniform(0, 1)}

def make(backend="optuna", mode="max", **kwargs):
    searcher = GradedPenaltySearcher(backend, trial_timeout_s=600, seed=0, **kwargs)
    searcher.set_search_properties("score", mode, SPACE)
    return searcher

def complete_values(searcher):
    return [t.value for t in optuna_study(searcher).trials if t.state == optuna.trial.TrialState.COMPLETE]

outcomes = st.lists(
    st.one_of(
        st.tuples(st.just("s"), st.one_of(st.floats(-5000, -1000), st.floats(0, 10), st.floats(-1e7, 1e7))),
        st.tuples(st.just("f"), st.tuples(st.floats(0, 700), st.sampled_from(["", "OOM", "deploy", "timeout"]))),
    ),
    min_size=1,
    max_size=14,
)

def drive(searcher, events):
    for i, (kind, x) in enumerate(events):
        tid = f"t{i}"
        searcher.suggest(tid)
        if kind == "s":
            searcher.on_trial_complete(tid, result={"score": x})
        else:
            searcher.record_failure(tid, elapsed_s=x[0], error=x[1])

def suggest_and_score(searcher, trials, key, change=None):
    """Suggest up to ``trials`` trials, each scored by its ``key`` parameter (after ``change``
    of its config, if given), until the searcher suggests no configuration; the values run."""
    ran = []
    for i in range(trials):
        config = searcher.suggest(f"t{i}")
        if not isinstance(config, dict):
            break
        ran.append(config[key])
        if change is not None:
            change(config)
        searcher.on_trial_complete(f"t{i}", result={"score": float(config[key]), "training_iteration": 1})
    return ran

def ranks_below(failures, successes, mode):
    return all((f < s) if mode == "max" else (f > s) for f in failures for s in successes)


# ----- an earlier run, for warm starts -------------------------------------------------------------

HISTORY_SPACE = {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}


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
    searcher.set_search_properties("score", "max", HISTORY_SPACE)
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


class Recording(Searcher):
    """A searcher that keeps what it is told and cannot rewrite it (as NevergradSearch, BayesOptSearch):
    the generic backend's."""

    def __init__(self):
        super().__init__(metric="score", mode="max")
        self.told = []

    def suggest(self, trial_id):
        return {"x": len(self.told) / 10}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.told.append((trial_id, None if error else result["score"]))


class NoHistorySearcher(Searcher):
    """A user's own searcher without add_evaluated_point: suggests the middle of the space."""

    def suggest(self, trial_id):
        return {"x": 0.5, "y": 0.5}

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass


class OnePointThenNone(Searcher):
    """Proposes one configuration, then nothing (as BayesOptSearch skipping the one point it
    keeps proposing)."""

    def __init__(self):
        super().__init__(metric="score", mode="max")
        self.asked = 0

    def suggest(self, trial_id):
        self.asked += 1
        return {"x": 0.5} if self.asked == 1 else None

    def set_search_properties(self, metric, mode, config, **spec):
        return True  # takes Tune's space (it proposes its one point whatever the space)

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass


class PointsThenFinished(Searcher):
    """Two configurations, then its own end (as BayesOptSearch's ``patience``); with ``marker``,
    a file it creates when it answers FINISHED (a test's callback in a real run sees it)."""

    def __init__(self, marker=None):
        super().__init__(metric="score", mode="max")
        self.asked, self.points, self.marker = 0, 2, marker

    def suggest(self, trial_id):
        self.asked += 1
        if self.asked <= self.points:
            return {"x": self.asked / 10}
        if self.marker is not None:
            open(self.marker, "w").close()
        return Searcher.FINISHED

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass

    def save(self, checkpoint_path):
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.asked, f)

    def restore(self, checkpoint_path):
        with open(checkpoint_path, "rb") as f:
            self.asked = pickle.load(f)
