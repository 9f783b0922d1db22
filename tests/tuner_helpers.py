"""Trainables and a Tuner runner shared by the tests that run real Ray Tune."""

import time

from ray import tune

from ray_graded_penalty.compat import RunConfig, report

SPACE = {"x": tune.uniform(0, 1)}


def oom_above_06(config):
    """Succeeds below x = 0.6 and runs out of GPU memory above it."""
    x = config["x"]
    if x > 0.6:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    report({"score": 10.0 - (x - 0.3) ** 2})


def latency_ms_or_oom(config):
    """A negative latency in ms (around -2000): the design numbers would outrank it."""
    x = config["x"]
    if x > 0.6:
        raise RuntimeError("CUDA out of memory")
    report({"score": -2000.0 - 1000.0 * (x - 0.3) ** 2})


def run(search_alg, trainable, tmp_path, num_samples=12, *, callbacks=None, space=SPACE,
        failure_config=None, stop=None, **tune_config):
    """Run a real Tuner and return its ResultGrid; ``callbacks`` default to the searcher's."""
    tune_config.setdefault("metric", "score")
    tune_config.setdefault("mode", "max")
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(search_alg=search_alg, num_samples=num_samples, **tune_config),
        run_config=RunConfig(
            storage_path=str(tmp_path),
            callbacks=[search_alg.callback] if callbacks is None else list(callbacks),
            failure_config=failure_config,
            stop=stop,
            verbose=0,
        ),
    )
    return tuner.fit()


def trial_ids(grid):
    """Ids of (all, errored) trials of a finished run, read from its experiment state."""
    trials = tune.ExperimentAnalysis(grid.experiment_path).trials
    return {t.trial_id for t in trials}, {t.trial_id for t in trials if t.status == "ERROR"}


# ----- the seed design's all-fail scenario ----------------------------------------------
# Every trial fails; the further x + y is from 0, the longer it survives. Trials with
# x + y >= 16 run into the timeout; the longest-surviving region is completion >= 95 %.

ALL_FAIL_SPACE = {"x": tune.uniform(0, 10), "y": tune.uniform(0, 10)}
ALL_FAIL_REGION_SHARE = (20 - 0.95 * 16) ** 2 / 2 / 100  # its area under uniform sampling


def survival(config):
    """The fraction of the timeout a configuration survives, in [0, 1]."""
    return min(1.0, (config["x"] + config["y"]) / 16)


def in_longest_surviving_region(config):
    return survival(config) >= 0.95


def all_fail_outcome(config, timeout_s):
    """(elapsed seconds, error text) of the scenario's failure for ``config``."""
    if survival(config) >= 1.0:
        return timeout_s, f"Experiment timed out after {timeout_s} seconds"
    return survival(config) * timeout_s, "RuntimeError: inference server crashed"


def all_fail_trainable(config):
    """A real trial that never succeeds: it reports how far it got, then fails.

    It says its ``progress`` (with the metric, as Tune wants in every report, not yet known) so
    that what it is told does not hang on the clock: on a loaded machine a trial's start can
    take a second of a 3 s timeout, and the watchdog would end crashes as timeouts. A crash
    comes after half its share of the timeout; the longest survivors run into the timeout.
    """
    elapsed, error = all_fail_outcome(config, config["timeout_s"])
    report({"score": float("nan"), "progress": survival(config)})
    if "timed out" in error:
        time.sleep(elapsed)
        raise TimeoutError(error)
    time.sleep(elapsed / 2)
    raise RuntimeError(error)


class Recorder(tune.Callback):
    """Driver times at which each trial started and ended, as Ray reported them; the node each
    reported from and its last ``training_iteration``."""

    def __init__(self):
        self.started, self.ended, self.nodes, self.iterations = {}, {}, {}, {}

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started.setdefault(trial.trial_id, time.time())

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.ended[trial.trial_id] = time.time()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.ended[trial.trial_id] = time.time()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "node" in result:
            self.nodes[trial.trial_id] = result["node"]
        self.iterations[trial.trial_id] = result.get("training_iteration")


def serve_two_objectives(config):
    """Throughput up with x, p99 latency up with x; OOM above 0.8; time to first token over
    its SLO between 0.5 and 0.6."""
    x = config["x"]
    if x > 0.8:
        raise RuntimeError("CUDA out of memory")
    report({"tps": 1000.0 * x, "p99": 0.1 + x, "ttft": 2.0 if 0.5 < x < 0.6 else 0.5})
