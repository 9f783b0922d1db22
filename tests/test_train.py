"""Trials that run a Ray Train trainer: a hung worker is ended at the timeout and every
resource the trainer held comes back, also when the trainer's controller outlives the trial's
actor long enough to reserve its workers again; a worker's own error keeps its class."""

import re
import time

import pytest
import ray
from ray import tune

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty._core import ray_internals
from ray_graded_penalty.compat import RunConfig, report

from conftest import own_ray

pytestmark = pytest.mark.ray
TIMEOUT_S = 30.0  # a Train V2 trainer's start and run took over 20 s on a slow day (CI dry run, 2026-12-02)


@pytest.fixture(scope="module")
def three_cpus():
    """A trial (1 CPU) and its trainer's two workers (1 CPU each): nothing to spare."""
    yield from own_ray(num_cpus=3)


def train_loop(config):
    """Worker 1 hangs below x = 0.4 (a stuck collective); above 0.6 it runs out of memory; from 0.4
    to 0.45 the user's code fails."""
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    if config["x"] < 0.4 and rank == 1:
        time.sleep(10_000)
    if config["x"] > 0.6 and rank == 1:
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
    if 0.4 <= config["x"] < 0.45 and rank == 1:
        raise ValueError("the learning-rate schedule has no steps")
    ray.train.report({"score": config["x"]})


def _trainer(config, cpu=1.0):
    from ray.train import ScalingConfig

    scaling = ScalingConfig(num_workers=2, resources_per_worker={"CPU": cpu})
    if not ray_internals.train_v2():  # Train V1: the trainer is the trial, its actor takes ``cpu``
        scaling = ScalingConfig(num_workers=2, resources_per_worker={"CPU": cpu}, trainer_resources={"CPU": cpu})
    return ray_internals.data_parallel_trainer()(train_loop, train_loop_config=config, scaling_config=scaling)


def trainable(config):
    """Train V2: the trainer runs inside the trial. (Train V2 keeps a worker's reported metrics
    in ``Result.metrics`` only with a checkpoint, so the trial reports the score itself.)"""
    _trainer(config, config["cpu"]).fit()
    report({"score": config["x"]})


#: A hang, a worker out of memory, a success: after the hang the next trial's trainer needs the
#: CPUs the hung one reserved (at 1 CPU each, all three).
POINTS = [{"x": 0.1}, {"x": 0.9}, {"x": 0.5}]


def _points():
    # OptunaSearch enqueues points as given, so a nested parameter is named by its flat path.
    return POINTS if ray_internals.train_v2() else [{"train_loop_config/x": p["x"]} for p in POINTS]


def _tuner(searcher, storage, cpu):
    tune_config = tune.TuneConfig(metric="score", mode="max", search_alg=searcher, num_samples=len(POINTS),
                                  max_concurrent_trials=1)
    run_config = RunConfig(storage_path=storage, callbacks=[searcher.callback], verbose=0)
    if ray_internals.train_v2():
        return tune.Tuner(tune.with_resources(trainable, {"cpu": cpu}),
                          param_space={"x": tune.uniform(0, 1), "cpu": cpu},
                          tune_config=tune_config, run_config=run_config)
    # Train V1: the trainer itself is the trainable; its trial reserves the workers' resources.
    return tune.Tuner(_trainer({}, cpu), param_space={"train_loop_config": {"x": tune.uniform(0, 1)}},
                      tune_config=tune_config, run_config=run_config)


@pytest.mark.parametrize("cpu", [0.5, 1.0], ids=["fractional", "whole"])
def test_hung_trainers_are_ended_and_nothing_they_reserved_stays(three_cpus, tmp_path, cpu):
    from ray.tune.search.optuna import OptunaSearch

    searcher = GradedPenaltySearcher(OptunaSearch(seed=0, points_to_evaluate=_points()), trial_timeout_s=TIMEOUT_S)
    _tuner(searcher, str(tmp_path), cpu).fit()
    outcomes = sorted(searcher.outcomes.values(), key=lambda o: _x(o.config))
    kinds = [(o.kind, o.error_class) for o in outcomes]
    assert kinds == [("failure", "timeout"), ("success", None), ("failure", "oom")], \
        [(o.kind, o.error) for o in outcomes]
    hung, served, oom = outcomes
    assert hung.penalty == -80.0
    # Had a hung trainer's workers kept their CPUs, the next trials could not have run: 3 CPUs in all.
    assert served.metric == pytest.approx(0.5)
    assert oom.error.startswith("RuntimeError: CUDA out of memory")
    deadline = time.time() + 30
    while (_cpus_no_actor_holds() < 3 or ray_internals.placement_groups_created_by(None)) and time.time() < deadline:
        time.sleep(0.5)
    assert ray_internals.placement_groups_created_by(None) == []  # none reserved by a trial's actors
    assert _cpus_no_actor_holds() == 3, ray.available_resources()


def _cpus_no_actor_holds():
    """Free CPUs: outside placement groups, plus those inside a placement group that no actor
    uses (Ray 2.30's Tune can leave a trial's group in place for a while after ``fit`` returns;
    Ray lists a group's free CPUs as ``CPU_group_<id>``, and per bundle as ``CPU_group_<i>_<id>``)."""
    free = ray.available_resources()
    return free.get("CPU", 0) + sum(v for k, v in free.items() if re.fullmatch(r"CPU_group_[0-9a-f]+", k))


def _x(config):
    return config["x"] if "x" in config else config["train_loop_config"]["x"]


def fits_a_trainer(config):
    """A function trainable that runs a trainer itself: Train V2's only way, and a V1 user's too."""
    _trainer({"x": config["x"]}, 0.5).fit()
    report({"score": config["x"]})


def test_a_workers_error_under_a_trainer_run_in_a_function_trainable_keeps_its_class(three_cpus, tmp_path):
    """Train V1's ``fit()`` raises ``TrainingFailedError`` from the worker's error, and says of any
    failure "(assuming that the error is not caused by your own application logic, but rather an
    error such as OOM)": the user's own ValueError was graded out of memory by that aside (Ray
    2.30, found in this test's first run). Ray pickles the trial's exception, which drops
    ``__cause__``: the worker's error is read from the trial's ``error.txt``. (Train V2, the newer
    end: the worker's own exception.)"""
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=120, points_to_evaluate=[{"x": 0.9}, {"x": 0.42}])
    tune.Tuner(tune.with_resources(fits_a_trainer, {"cpu": 0.5}), param_space={"x": tune.uniform(0, 1)},
               tune_config=tune.TuneConfig(metric="score", mode="max", search_alg=searcher, num_samples=2,
                                           max_concurrent_trials=1),
               run_config=RunConfig(storage_path=str(tmp_path), callbacks=[searcher.callback], verbose=0)).fit()
    graded = {o.config["x"]: (o.kind, o.error_class) for o in searcher.outcomes.values()}
    assert graded == {0.9: ("failure", "oom"), 0.42: ("failure", "crash")}, \
        [o.error for o in searcher.outcomes.values()]
