"""An OptunaSearch that keeps its study in SQLite, wrapped with the one-line change."""

import json
import subprocess
import sys

import optuna
import pytest
from ray import tune

from ray_graded_penalty import GradedPenaltySearcher, compat
from ray_graded_penalty.backends.optuna import HAS_TRIAL_CONSTRAINTS

from tuner_helpers import latency_ms_or_oom, run

pytestmark = pytest.mark.skipif(not compat.optuna_search_accepts_storage(),
                                reason=f"OptunaSearch(storage=...) needs a newer Ray than {compat.RAY}")
needs_constraints = pytest.mark.skipif(
    not HAS_TRIAL_CONSTRAINTS, reason=f"a study in a database keeps failures ranked last only through "
    f"Optuna 5's trial constraints (here {compat.OPTUNA})")

READ_BACK = r"""
import json, sys
import optuna
study = optuna.load_study(study_name="graded", storage=sys.argv[1])
rows = [{"number": t.number, "state": t.state.name, "value": t.value,
         "violation": sum(v for v in t.constraints.values() if v > 0),
         "attrs": {k: v for k, v in t.user_attrs.items() if k.startswith("graded_penalty.")}}
        for t in study.trials]
print(json.dumps({"rows": rows, "best": study.best_trial.number}))
"""


@needs_constraints
@pytest.mark.ray
def test_a_sqlite_study_holds_every_trial_graded_and_its_best_trial_is_a_success(local_ray, tmp_path):
    from ray.tune.search.optuna import OptunaSearch

    url = f"sqlite:///{tmp_path / 'study.db'}"
    inner = OptunaSearch(storage=optuna.storages.RDBStorage(url), study_name="graded", seed=0,
                         points_to_evaluate=[{"x": 0.9}, {"x": 0.2}])  # a failure, then a success
    searcher = GradedPenaltySearcher(inner, trial_timeout_s=60)  # the one-line change
    # Negative latencies in ms: a failure told before a success is told above it by value,
    # and the database's values cannot be rewritten; the constraints keep the order.
    run(searcher, latency_ms_or_oom, tmp_path / "runs", num_samples=12,
        space={"x": tune.uniform(0, 1)}, max_concurrent_trials=1)

    done = subprocess.run([sys.executable, "-c", READ_BACK, url], capture_output=True, text=True, check=True)
    study = json.loads(done.stdout)
    rows = study["rows"]
    assert len(rows) == 12 and all(r["state"] == "COMPLETE" for r in rows)
    failures = [r for r in rows if r["violation"] > 0]
    successes = [r for r in rows if r["violation"] == 0]
    assert failures and successes
    # The first failure was told -1500 before any success; the successes are about -2000.
    assert max(r["value"] for r in failures) > min(r["value"] for r in successes)
    assert study["best"] in {r["number"] for r in successes}
    for r in failures:
        attrs = r["attrs"]
        assert attrs["graded_penalty.kind"] == "failure" and attrs["graded_penalty.error_class"] == "oom"
        assert attrs["graded_penalty.penalty"] < 0 and attrs["graded_penalty.elapsed_s"] >= 0
    told = searcher.outcomes
    assert sum(o.failed for o in told.values()) == len(failures)


def _earlier_plain_study(url, direction):
    """A study an earlier run without this package left in the database: two successes."""
    study = optuna.create_study(storage=url, study_name="graded", direction=direction)
    for x in (0.5, 0.7):
        study.enqueue_trial({"x": x})
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)


def test_a_study_kept_for_the_other_direction_is_refused(tmp_path):
    """Optuna's load_if_exists keeps the stored direction: searched the other way, the earlier
    latencies were read as throughput successes and the study's best was the worst."""
    from ray.tune.search.optuna import OptunaSearch

    url = f"sqlite:///{tmp_path / 'study.db'}"
    _earlier_plain_study(url, "minimize")
    searcher = GradedPenaltySearcher(OptunaSearch(storage=optuna.storages.RDBStorage(url), study_name="graded"),
                                     trial_timeout_s=60)
    with pytest.raises(ValueError, match="created to minimize; this search's mode 'max' needs maximize"):
        searcher.set_search_properties("throughput", "max", {"x": tune.uniform(0, 1)})


@needs_constraints
def test_gp_over_a_database_study_with_trials_of_a_plain_run_is_told_failures_by_value(tmp_path, caplog):
    """Optuna 5's GPSampler needs the same constraints on every trial; trials an earlier plain run
    left in the database have none and cannot be given one: it raised "The number of constraints
    must be the same for all trials" at its first model-based suggestion after a failure."""
    from ray.tune.search.optuna import OptunaSearch

    url = f"sqlite:///{tmp_path / 'study.db'}"
    _earlier_plain_study(url, "maximize")
    sampler = optuna.samplers.GPSampler(seed=0, n_startup_trials=2)
    searcher = GradedPenaltySearcher(OptunaSearch(sampler=sampler, storage=optuna.storages.RDBStorage(url),
                                                  study_name="graded"), trial_timeout_s=60)
    searcher.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        for i in range(5):
            config = searcher.suggest(f"t{i}")
            if i % 2 == 0:
                searcher.record_failure(f"t{i}", elapsed_s=10, error="CUDA out of memory")
            else:
                searcher.on_trial_complete(f"t{i}", result={"score": 0.6 + config["x"] / 10})
    assert sum("told to it by value alone" in r.getMessage() for r in caplog.records) == 1
    study = optuna.load_study(study_name="graded", storage=url)
    assert len(study.trials) == 7 and all(t.state.name == "COMPLETE" for t in study.trials)
    told = {t.number: t.value for t in study.trials}
    failures = [2, 4, 6]
    assert all(told[f] < 0.5 for f in failures)  # below the worst success told before each of them
    # the same grade below the same worst success (0.5; this run's are 0.6 and more): told alike;
    # a failure read back from the study as a success would have pushed the next one lower
    assert told[2] == told[4] == told[6] == searcher.outcomes["t4"].told
    # reopened: its failures, told by value alone, are not read back as successes (each reopening
    # told the same failure lower: 0.481, 0.4625, ...), nor run again
    again = GradedPenaltySearcher(OptunaSearch(sampler=optuna.samplers.GPSampler(seed=1, n_startup_trials=2),
                                               storage=optuna.storages.RDBStorage(url), study_name="graded"),
                                  trial_timeout_s=60)
    again.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    again.suggest("u0")
    again.record_failure("u0", elapsed_s=10, error="CUDA out of memory")
    assert again.outcomes["u0"].told == told[2]


def _drive(searcher, limit):
    """Suggest and tell until the searcher has nothing new (FINISHED) or ``limit`` trials ran:
    odd n runs out of memory, even n scores n. Returns the n of each trial that ran."""
    ran = []
    for i in range(limit):
        config = searcher.suggest(f"t{i}")
        if not isinstance(config, dict):
            break
        ran.append(config["n"])
        if config["n"] % 2:
            searcher.record_failure(f"t{i}", elapsed_s=10, error="CUDA out of memory")
        else:
            searcher.on_trial_complete(f"t{i}", result={"score": float(config["n"])})
    return ran


def test_a_study_reopened_does_not_run_again_what_its_earlier_run_finished(tmp_path):
    """"No configuration runs twice" checked this run's trials only: a second run on the same
    study ran again configurations the first had finished (4 of 4 in an audit's 8-value space)."""
    from ray.tune.search.optuna import OptunaSearch

    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = {"n": tune.choice(list(range(1, 9)))}
    runs = []
    for seed in (0, 1):
        searcher = GradedPenaltySearcher(OptunaSearch(storage=optuna.storages.RDBStorage(url), study_name="graded",
                                                      seed=seed), trial_timeout_s=60)
        searcher.set_search_properties("score", "max", space)
        runs.append(_drive(searcher, 4 if seed == 0 else 12))
    first, second = runs
    assert len(set(first)) == 4 and not set(first) & set(second), runs
    assert sorted(first + second) == list(range(1, 9))  # the second ran the other four, then had nothing new


def test_a_warm_start_passed_again_to_a_study_in_a_database_is_added_once(tmp_path):
    """The same script run twice stored its warm start's rows twice (nothing told a row added
    before from a new one)."""
    import pandas as pd
    from ray.tune.search.optuna import OptunaSearch

    url = f"sqlite:///{tmp_path / 'study.db'}"
    history = pd.DataFrame({"config/x": [0.2, 0.7, 0.7, 0.2], "status": ["success", "failure", "failure", "success"],
                            "value": [1.0, None, None, 1.0], "elapsed_s": [None, 30.0, 500.0, None],
                            "error": [None, "CUDA out of memory", "", None]})
    for _ in range(2):
        searcher = GradedPenaltySearcher(OptunaSearch(storage=optuna.storages.RDBStorage(url), study_name="graded"),
                                         trial_timeout_s=600, warm_start=history)
        searcher.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
        assert len(searcher.outcomes) == 4  # told to this search all the same
    study = optuna.load_study(study_name="graded", storage=url)
    assert sorted(t.params["x"] for t in study.trials) == [0.2, 0.2, 0.7, 0.7]  # each row once, repeats too
