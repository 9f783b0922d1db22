"""Trials that run a Ray Train trainer: a hung worker is ended at the timeout and every
resource the trainer held comes back; a worker's own error keeps its class."""

import re
import time

import pytest
import ray
from ray import tune

from conftest import own_ray
from ray_graded_penalty import GradedPenaltySearcher, compat
from ray_graded_penalty.compat import RunConfig, report

pytestmark = pytest.mark.ray
TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def three_cpus():
    """A trial (1 CPU) and its trainer's two workers (1 CPU each): nothing to spare."""
    yield from own_ray(num_cpus=3)


def train_loop(config):
    """Worker 1 hangs below x = 0.4 (a stuck collective); above 0.6 it runs out of memory."""
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    if config["x"] < 0.4 and rank == 1:
        time.sleep(10_000)
    if config["x"] > 0.6 and rank == 1:
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
    ray.train.report({"score": config["x"]})


def _trainer(config):
    from ray.train import ScalingConfig

    return compat.data_parallel_trainer()(
        train_loop, train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}))


def trainable(config):
    """Train V2: the trainer runs inside the trial. (Train V2 keeps a worker's reported metrics
    in ``Result.metrics`` only with a checkpoint, so the trial reports the score itself.)"""
    _trainer(config).fit()
    report({"score": config["x"]})


POINTS = [{"x": 0.1}, {"x": 0.5}, {"x": 0.9}]  # hangs, succeeds, runs out of memory


def _points():
    # OptunaSearch enqueues points as given, so a nested parameter is named by its flat path.
    return POINTS if compat.train_v2() else [{"train_loop_config/x": p["x"]} for p in POINTS]


def _tuner(searcher, storage):
    if compat.train_v2():
        return tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}), param_space={"x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(metric="score", mode="max", search_alg=searcher, num_samples=3,
                                        max_concurrent_trials=1),
            run_config=RunConfig(storage_path=storage, callbacks=[searcher.callback], verbose=0),
        )
    # Train V1: the trainer itself is the trainable; its trial reserves the workers' resources.
    return tune.Tuner(
        _trainer({}), param_space={"train_loop_config": {"x": tune.uniform(0, 1)}},
        tune_config=tune.TuneConfig(metric="score", mode="max", search_alg=searcher, num_samples=3,
                                    max_concurrent_trials=1),
        run_config=RunConfig(storage_path=storage, callbacks=[searcher.callback], verbose=0),
    )


def test_a_hung_trainer_is_ended_and_its_workers_resources_come_back(three_cpus, tmp_path):
    from ray.tune.search.optuna import OptunaSearch

    searcher = GradedPenaltySearcher(OptunaSearch(seed=0, points_to_evaluate=_points()), trial_timeout_s=TIMEOUT_S)
    _tuner(searcher, str(tmp_path)).fit()
    outcomes = sorted(searcher.outcomes.values(), key=lambda o: _x(o.config))
    assert [o.kind for o in outcomes] == ["failure", "success", "failure"], [(o.kind, o.error) for o in outcomes]
    hung, served, oom = outcomes
    assert hung.error_class == "timeout" and hung.penalty == -80.0
    # Had the hung trainer's workers kept their CPUs, this one could not have run: 3 CPUs in all.
    assert served.metric == pytest.approx(0.5)
    assert oom.error_class == "oom" and oom.error.startswith("RuntimeError: CUDA out of memory")
    deadline = time.time() + 30
    while _cpus_no_actor_holds() < 3 and time.time() < deadline:
        time.sleep(0.5)
    assert _cpus_no_actor_holds() == 3, ray.available_resources()


def _cpus_no_actor_holds():
    """Free CPUs: outside placement groups, plus those inside a placement group that no actor
    uses (Ray 2.30's Tune can leave a trial's group in place for a while after ``fit`` returns;
    Ray lists a group's free CPUs as ``CPU_group_<id>``, and per bundle as ``CPU_group_<i>_<id>``)."""
    free = ray.available_resources()
    return free.get("CPU", 0) + sum(v for k, v in free.items() if re.fullmatch(r"CPU_group_[0-9a-f]+", k))


def _x(config):
    return config["x"] if "x" in config else config["train_loop_config"]["x"]
