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

pytestmark = pytest.mark.skipif(
    not compat.optuna_search_accepts_storage() or not HAS_TRIAL_CONSTRAINTS,
    reason=f"OptunaSearch(storage=...) needs a newer Ray than {compat.RAY}, and a study in a database "
    f"keeps failures ranked last only through Optuna 5's trial constraints (here {compat.OPTUNA})",
)

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
