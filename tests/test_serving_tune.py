"""The serving trainable in real Ray Tune runs, with the package's searcher: each fate of a
server graded by what really happened, the watchdog's SIGKILL of a trial's actor taking its
server with it, and no server left running after the run."""

import glob
import os

import pytest
from ray import tune

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.compat import RunConfig
from ray_graded_penalty.serving import server_trainable

from conftest import own_ray
from serving_helpers import TOY_COMMAND, running_servers, server_pids

pytestmark = pytest.mark.ray
TIMEOUT_S = 8.0

#: One trial per fate, in this order (two at once).
FATES = {
    "serves": {"slots": "2", "kv_mb": 0, "start_s": 0, "die_after": 0},
    "oom": {"slots": "2", "kv_mb": 4096, "start_s": 0, "die_after": 0},
    "bad_flag": {"slots": "many", "kv_mb": 0, "start_s": 0, "die_after": 0},
    "hangs": {"slots": "2", "kv_mb": 0, "start_s": 600, "die_after": 0},
    "dies": {"slots": "2", "kv_mb": 0, "start_s": 0, "die_after": 3},
    "serves_too": {"slots": "4", "kv_mb": 0, "start_s": 0, "die_after": 0},
}


@pytest.fixture(scope="module")
def two_cpus():
    yield from own_ray(num_cpus=2)


class ServerGoneCheck(tune.Callback):
    """When a trial errors, which of its servers still run 2 s later (after the watchdog's kill)."""

    def __init__(self, root):
        self.root, self.left, self.launched = root, {}, {}

    def on_trial_error(self, iteration, trials, trial, **info):
        dirs = glob.glob(os.path.join(self.root, "**", f"*{trial.trial_id}*"), recursive=True)
        self.launched[trial.trial_id] = [pid for d in dirs for pid in server_pids(d)]
        self.left[trial.trial_id] = [pid for d in dirs for pid in running_servers(d, within_s=2.0)]


def test_each_fate_is_graded_by_what_the_server_did_and_no_server_outlives_its_trial(two_cpus, tmp_path):
    from ray.tune.search.optuna import OptunaSearch

    trainable = server_trainable(
        TOY_COMMAND + " --slots {slots} --kv-mb {kv_mb} --start-s {start_s} --die-after {die_after}",
        requests=12, concurrency=3, scenarios="D(16,8)", ready_timeout_s=60, memory_limit_gb=1.0)
    space = {"slots": tune.choice(["2", "4", "many"]), "kv_mb": tune.choice([0, 4096]),
             "start_s": tune.choice([0, 600]), "die_after": tune.choice([0, 3])}
    searcher = GradedPenaltySearcher(OptunaSearch(seed=0, points_to_evaluate=list(FATES.values())),
                                     trial_timeout_s=TIMEOUT_S)
    check = ServerGoneCheck(str(tmp_path))
    tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(metric="throughput", mode="max", search_alg=searcher,
                                    num_samples=len(FATES), max_concurrent_trials=2),
        run_config=RunConfig(storage_path=str(tmp_path), callbacks=[searcher.callback, check], verbose=0),
    ).fit()

    by_fate = {name: o for o in searcher.outcomes.values() for name, c in FATES.items()
               if {k: o.config[k] for k in c} == c}
    assert sorted(by_fate) == sorted(FATES), [o.config for o in searcher.outcomes.values()]
    kinds = {name: (o.kind, o.error_class) for name, o in by_fate.items()}
    assert kinds == {
        "serves": ("success", None), "serves_too": ("success", None),
        "oom": ("failure", "oom"), "bad_flag": ("failure", "deploy"),
        "hangs": ("failure", "timeout"), "dies": ("failure", "crash"),
    }, {name: o.error for name, o in by_fate.items()}
    assert by_fate["oom"].error.startswith("ServerError: deploy failed: the server exited")
    assert by_fate["oom"].error.rstrip().endswith("MemoryError")  # the server's own last line
    assert "invalid int value: 'many'" in by_fate["bad_flag"].error
    assert "(signal SIGABRT) during the load" in by_fate["dies"].error
    # It hung before its server was ready: a start-up failure (the first tier, x0.8 for the
    # watchdog's timeout), not the mildest grade its clock would give (-80)
    assert by_fate["hangs"].penalty == -800.0 and by_fate["hangs"].completion == 0.0
    assert by_fate["serves"].metric > 0
    # Every failure was told the inner searcher below every success.
    assert max(o.told for o in by_fate.values() if o.failed) < min(by_fate[n].told for n in ("serves", "serves_too"))
    assert by_fate["serves"].told == by_fate["serves"].metric
    # The watchdog SIGKILLed the hung trial's actor: its server was gone within 2 s.
    hung = by_fate["hangs"].trial_id
    assert len(check.launched[hung]) == 1 and check.left[hung] == []  # its server found, and gone
    assert len(server_pids(tmp_path)) == len(FATES) and running_servers(tmp_path, within_s=5.0) == []
