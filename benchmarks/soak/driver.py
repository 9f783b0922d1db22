"""One Tune driver of the soak, run as its own process so that it can be killed:

    python -m benchmarks.soak.driver fresh|restore ADDRESS WORKDIR TRIALS CONCURRENT TIMEOUT_S
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import ray
from ray import tune

from benchmarks.soak.fates import soak_trial
from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.compat import FailureConfig, RunConfig

NAME = "soak"


class TrialStarts(tune.Callback):
    """Appends when each trial started RUNNING (the watchdog's clock) to ``starts.jsonl``, and
    when it ended to ``ends.jsonl``."""

    def __init__(self, workdir: str) -> None:
        self.path = os.path.join(workdir, "starts.jsonl")
        self.ends = os.path.join(workdir, "ends.jsonl")

    def on_trial_start(self, iteration, trials, trial, **info):
        _append(self.path, trial.trial_id)

    def on_trial_complete(self, iteration, trials, trial, **info):
        _append(self.ends, trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info):
        _append(self.ends, trial.trial_id)


def _append(path: str, trial_id: str) -> None:
    with open(path, "a") as f:
        f.write(json.dumps({"trial_id": trial_id, "time": time.time()}) + "\n")


class LettingToldTrialsRun(GradedPenaltySearcher):
    """The searcher as 0.4 was: a told trial Tune starts again after the restore runs to its
    end (``--let-told-trials-run``, to measure what ending them saves)."""

    def already_told(self, trial_id: str) -> bool:
        return False


def main(how: str, address: str, workdir: str, trials: int, concurrent: int, timeout_s: float) -> None:
    ray.init(address=address, logging_level=logging.WARNING)
    with open(os.path.join(workdir, f"driver_{how}.json"), "w") as f:
        json.dump({"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}, f)
    trainable = tune.with_resources(soak_trial, {"cpu": 1, "gpu": 1})
    storage = os.path.join(workdir, "storage")
    if how == "fresh":
        kind = LettingToldTrialsRun if os.environ.get("SOAK_LET_TOLD_TRIALS_RUN") else GradedPenaltySearcher
        searcher = kind("optuna", trial_timeout_s=timeout_s, seed=0)
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(0, 1), "workdir": workdir},
            tune_config=tune.TuneConfig(metric="score", mode="max", search_alg=searcher,
                                        num_samples=trials, max_concurrent_trials=concurrent),
            run_config=RunConfig(name=NAME, storage_path=storage, callbacks=[searcher.callback, TrialStarts(workdir)],
                                 failure_config=FailureConfig(max_failures=0), verbose=0),
        )
    else:
        tuner = tune.Tuner.restore(os.path.join(storage, NAME), trainable=trainable)
    tuner.fit()
    with open(os.path.join(workdir, f"driver_{how}.done"), "w") as f:
        f.write("done\n")
    ray.shutdown()


if __name__ == "__main__":
    how, address, workdir, trials, concurrent, timeout_s = sys.argv[1:7]
    main(how, address, workdir, int(trials), int(concurrent), float(timeout_s))
