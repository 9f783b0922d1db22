"""A Tune driver run as a subprocess by test_restore.py: ``fresh`` starts an experiment,
``restore`` continues it with ``Tuner.restore`` after the first driver was killed."""

import logging
import os
import sys
import time

import ray
from ray import tune

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.compat import RunConfig, report

NUM_SAMPLES = 14


def trainable(config):
    time.sleep(0.6)
    if config["x"] > 0.5:
        raise RuntimeError("CUDA out of memory")
    report({"score": config["x"]})


def main(storage, name, how):
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    if how == "fresh":
        searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30, seed=0)
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(
                metric="score", mode="max", search_alg=searcher, num_samples=NUM_SAMPLES,
                max_concurrent_trials=2,
            ),
            run_config=RunConfig(name=name, storage_path=storage, callbacks=[searcher.callback], verbose=0),
        )
    else:
        tuner = tune.Tuner.restore(os.path.join(storage, name), trainable=trainable)
    tuner.fit()
    ray.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
