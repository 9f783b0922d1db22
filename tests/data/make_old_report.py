"""Write the report an earlier release wrote, which tests/test_report.py warm-starts from: run with
that release first on the path, e.g. from a checkout of 0.5.0 (a32351b):

    PYTHONPATH=/path/to/that/checkout python tests/data/make_old_report.py tests/data/report_0.5.0.csv /tmp/exp

A real Tuner run on a local Ray in a nested space (12 trials, two at a time: out of memory above
x = 0.6, a bad flag below 0.15), and that release's ``failure_report`` of it as CSV.
"""

import sys
import time

import ray
from ray import tune

import ray_graded_penalty
from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.compat import RunConfig, report
from ray_graded_penalty.report import failure_report


def trainable(config):
    x = config["x"]
    time.sleep(0.2)
    if x > 0.6:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    if x < 0.15:
        raise ValueError("invalid argument: --bogus")
    report({"score": 10.0 - (x - 0.3) ** 2, "p99_s": x})


def main(out_csv: str, storage: str) -> None:
    ray.init(num_cpus=2, include_dashboard=False)
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, seed=3)
    tuner = tune.Tuner(
        trainable, param_space={"x": tune.uniform(0, 1), "nested": {"y": tune.choice([1, 2])}},
        tune_config=tune.TuneConfig(metric="score", mode="max", search_alg=searcher, num_samples=12,
                                    max_concurrent_trials=2),
        run_config=RunConfig(storage_path=storage, callbacks=[searcher.callback], verbose=0))
    failure_report(tuner.fit()).to_csv(out_csv, index=False)
    ray.shutdown()
    print("wrote", out_csv, "from", ray_graded_penalty.__version__, ray_graded_penalty.__file__)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
