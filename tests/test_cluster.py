"""A multi-node cluster on this machine: two GPU workers, failures on both, one worker lost and its trial retried.

``ray.cluster_utils.Cluster`` starts a head and two worker raylets here; each worker declares
one GPU, so trials that request a GPU run only on the workers, at most one per worker.
"""

import logging
import threading
import time

import pytest
import ray
from ray import tune
from ray.cluster_utils import Cluster

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.compat import RunConfig, report
from ray_graded_penalty.report import failure_report

from conftest import optuna_study
from tuner_helpers import Recorder, trial_ids

pytestmark = [pytest.mark.ray, pytest.mark.cluster]
NUM_SAMPLES = 12


@pytest.fixture
def gpu_cluster():
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "num_gpus": 0,
            # Notice a lost node within about two seconds instead of the default thirty.
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    workers = [cluster.add_node(num_cpus=1, num_gpus=1) for _ in range(2)]
    ray.init(address=cluster.address, logging_level=logging.WARNING)
    cluster.wait_for_nodes()
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


def serve_on_gpu(config):
    """Reports which node it runs on, works a while, then runs out of memory above x = 0.6."""
    node = ray.get_runtime_context().get_node_id()
    for step in range(4):  # after its first report, time enough for the test to remove its node under it
        time.sleep(0.4 if step == 0 else 1.0)
        report({"node": node, "score": config["x"] * step})
    if config["x"] > 0.6:
        raise RuntimeError("CUDA out of memory")


def test_two_gpu_workers_failures_on_both_and_a_lost_worker(gpu_cluster, tmp_path, monkeypatch):
    cluster, workers = gpu_cluster
    # With a searcher, Tune keeps one trial waiting for resources at a time unless told more;
    # with trials this short and actors slow to start, the two workers would take turns.
    monkeypatch.setenv("TUNE_MAX_PENDING_TRIALS_PG", "2")
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=30, seed=4)
    recorder = Recorder()
    # The driver attaches to one of the raylets on this machine, on older Ray any of them; Ray
    # refuses to remove that one (it would end the driver), so the worker lost is the other.
    driver_node = ray.get_runtime_context().get_node_id()
    lost_worker = next(w for w in reversed(workers) if w.node_id != driver_node)

    def lose_a_worker():
        # Once some trials are told, wait until a trial on the worker to lose has made its
        # first report (three more steps to go: a trial near its end could finish before the
        # node is gone, and nothing would be lost), then remove that node under it.
        while True:
            running_there = [
                t for t, n in list(recorder.nodes.items())
                if n == lost_worker.node_id and t not in recorder.ended and recorder.iterations.get(t) == 1
            ]
            if len(searcher.outcomes) >= 4 and running_there:
                break
            time.sleep(0.02)
        cluster.remove_node(lost_worker, allow_graceful=False)

    remover = threading.Thread(target=lose_a_worker, daemon=True)
    remover.start()
    tuner = tune.Tuner(
        tune.with_resources(serve_on_gpu, {"cpu": 1, "gpu": 1}),
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(metric="score", mode="max", search_alg=searcher, num_samples=NUM_SAMPLES),
        run_config=RunConfig(storage_path=str(tmp_path), callbacks=[searcher.callback, recorder], verbose=0),
    )
    grid = tuner.fit()
    remover.join(timeout=5)
    assert not remover.is_alive(), "the worker was removed mid-experiment"

    every, errored = trial_ids(grid)
    outcomes, retried = searcher.outcomes, searcher.retried
    # Every trial either reached the model or was retried: never both.
    assert len(every) == NUM_SAMPLES and set(outcomes) | set(retried) == every and not set(outcomes) & set(retried)
    errors = {t: o.error for t, o in {**outcomes, **retried}.items() if o.failed}
    # A trial lost with its node was reported to the searcher and callbacks as errored, but
    # Ray (seen on 2.30 and 2.60) can save it as still running (read back as PENDING): its actor
    # was gone when Ray stopped it, and TuneController._schedule_trial_stop returns before
    # marking the trial for the experiment checkpoint then. Those are the only extras: trials
    # that ran on the lost worker, or whose error names a node (Ray's "node ... died").
    assert errored <= set(errors)
    ran_there = {t for t, n in recorder.nodes.items() if n == lost_worker.node_id}
    assert all(t in ran_there or "node" in errors[t] for t in set(errors) - errored), errors

    nodes = {w.node_id for w in workers}
    assert set(recorder.nodes.values()) == nodes, "trials ran on both GPU workers"
    on = {n: [t for t, tn in recorder.nodes.items() if tn == n] for n in nodes}
    a, b = on.values()
    assert any(
        recorder.started[x] < recorder.ended[y] and recorder.started[y] < recorder.ended[x]
        for x in a for y in b
    ), ("trials on the two workers ran at the same time",
        sorted((recorder.started[t], recorder.ended.get(t), n[:6]) for t, n in recorder.nodes.items()))
    failed_on = {recorder.nodes[t] for t in errors if t in recorder.nodes}
    assert failed_on == nodes, "failures on both workers"

    # The trial on the removed worker was lost with it: the infrastructure's failure, so its
    # configuration ran once more, on the worker left, and only that try was told.
    assert retried, ("a trial on the removed worker was lost with it and retried",
                     {t: (errors.get(t), outcomes[t].error_class if t in outcomes else None) for t in ran_there})
    study = optuna_study(searcher).trials
    for trial_id, lost in retried.items():
        assert lost.error_class == "lost" and lost.told == lost.penalty, lost
        # Ray's text about the lost node: the actor or node "died"; Ray 2.30 at times reports it
        # as the actor's socket closing ("ActorUnavailableError ... unavailable").
        assert "died" in lost.error or "unavailable" in lost.error, lost.error
        assert recorder.nodes.get(trial_id, lost_worker.node_id) == lost_worker.node_id
        again = [o for o in outcomes.values() if o.config == lost.config]
        assert len(again) == 1 and recorder.nodes[again[0].trial_id] != lost_worker.node_id, again
        told = [t.value for t in study if t.params == lost.config]
        assert told == [again[0].told], (told, again[0])
    # Out of memory is the configuration's: told at once, never retried, each configuration run once.
    ooms = [o for o in outcomes.values() if o.failed and o.error_class == "oom"]
    assert ooms and all(sum(p.config == o.config for p in outcomes.values()) == 1 for o in ooms)
    assert all(o.error_class == "lost" for o in retried.values())
    # The model saw each configuration once: the retry under the lost trial's id.
    assert len(study) == NUM_SAMPLES - len(retried) and all(t.state.name == "COMPLETE" for t in study)

    # The report shows every try, and which failures were retried (and not told).
    rows = failure_report(grid).set_index("trial_id")
    assert set(rows.index) == every and set(rows.index[rows["retried"]]) == set(retried)
    assert rows.loc[list(retried), "error_class"].eq("lost").all() and rows.loc[list(retried), "told"].isna().all()
