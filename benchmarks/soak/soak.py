"""The soak: a local cluster, a driver that runs the experiment, faults thrown at it, checks.

A ``ray.cluster_utils.Cluster`` with a head (no CPUs for trials) and three worker nodes
declaring GPUs; a driver process (:mod:`benchmarks.soak.driver`) runs the experiment with the
package's searcher, ``CONCURRENT`` trials at once, each drawing its fate
(:mod:`benchmarks.soak.fates`). While it runs, as trials start: one worker node is removed
(not the driver's), a new one is added, and the driver is SIGKILLed and the experiment
continued by a second driver with ``Tuner.restore``. Then :func:`check` looks at everything.

Example (the short version the test suite runs)::

    report = run_soak(Plan(trials=14, concurrent=4, timeout_s=20), workdir)
    assert report["problems"] == []
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any, Dict, List, NamedTuple, Optional

from benchmarks.soak import fates

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Detached actors Ray itself keeps: a cluster-wide singleton of Ray Train's, and Ray Train's
#: per-run PlacementGroupCleaner, which stays when its controller dies ungracefully (the
#: watchdog, a lost node, a killed driver) and Ray's state API is missing (``ray[tune]`` without
#: the dashboard): it polls that API forever. It reserves no CPU or GPU, and without a handle
#: (it has no name) nothing outside Ray can end it. Reported apart, not as a trial's.
RAY_OWN_ACTORS = ("_AutoscalingCoordinatorActor", "PlacementGroupCleaner")
#: Ray's texts for a trial whose node or actor went away under it.
LOST_TEXTS = ("died", "unavailable", "node", "worker crashed", "exited unexpectedly")


class Plan(NamedTuple):
    """The soak's size and when its faults land (as shares of the trials started)."""

    trials: int = 150
    concurrent: int = 8
    timeout_s: float = 30.0
    remove_node_at: float = 0.25
    add_node_at: float = 0.4
    kill_driver_at: float = 0.55
    seed: int = 0
    deadline_s: float = 3600.0


def _started(workdir: str) -> int:
    return sum(name.endswith(".json") for name in os.listdir(os.path.join(workdir, "attempts")))


def _driver(how: str, address: str, workdir: str, plan: Plan) -> subprocess.Popen:
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0.5", "TUNE_MAX_PENDING_TRIALS_PG": str(plan.concurrent),
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    log = open(os.path.join(workdir, f"driver_{how}.log"), "w")
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.soak.driver", how, address, workdir, str(plan.trials),
         str(plan.concurrent), str(plan.timeout_s)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_started(workdir: str, count: int, driver: subprocess.Popen, until: float) -> None:
    while _started(workdir) < count:
        if driver.poll() is not None:
            raise RuntimeError(f"the driver exited ({driver.returncode}) before {count} trials started; "
                               f"see {workdir}/driver_*.log")
        if time.monotonic() > until:
            raise TimeoutError(f"{count} trials did not start in time")
        time.sleep(0.2)


def _driver_node(workdir: str, how: str) -> str:
    path = os.path.join(workdir, f"driver_{how}.json")
    for _ in range(600):
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)["node"]
        time.sleep(0.1)
    raise TimeoutError("the driver never connected")


def run_soak(plan: Plan, workdir: str) -> Dict[str, Any]:
    """Run the soak in ``workdir`` (created) and return its report (see :func:`check`)."""
    from ray.cluster_utils import Cluster

    for sub in ("attempts", "children", "faults", "raised", "storage"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    with open(os.path.join(workdir, "deck.json"), "w") as f:
        json.dump(fates.deck(plan.trials, plan.seed), f)
    started = time.monotonic()
    until = started + plan.deadline_s
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={
        "num_cpus": 0, "num_gpus": 0,
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3}})
    events: List[str] = []
    try:
        workers = [cluster.add_node(num_cpus=4, num_gpus=4) for _ in range(3)]
        cluster.wait_for_nodes()
        driver = _driver("fresh", cluster.address, workdir, plan)
        try:
            driver_node = _driver_node(workdir, "fresh")
            _wait_started(workdir, max(1, int(plan.remove_node_at * plan.trials)), driver, until)
            lost = next(w for w in workers if w.node_id != driver_node)
            cluster.remove_node(lost, allow_graceful=False)
            events.append(f"removed node {lost.node_id[:8]} after {_started(workdir)} trials started")
            _wait_started(workdir, max(2, int(plan.add_node_at * plan.trials)), driver, until)
            cluster.add_node(num_cpus=4, num_gpus=4)
            events.append(f"added a node after {_started(workdir)} trials started")
            _wait_started(workdir, max(3, int(plan.kill_driver_at * plan.trials)), driver, until)
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(30)
            told_before = _told(os.path.join(workdir, "storage", "soak"), plan)
            events.append(f"killed the driver after {_started(workdir)} trials started, {len(told_before)} told")
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
                driver.wait(30)
        restored = _driver("restore", cluster.address, workdir, plan)
        try:
            code = restored.wait(max(1.0, until - time.monotonic()))
        finally:
            if restored.poll() is None:
                os.killpg(restored.pid, signal.SIGKILL)
                restored.wait(30)
        events.append(f"the restored driver exited with {code}")
        report = check(plan, workdir, cluster.address, lost.node_id, told_before)
    finally:
        cluster.shutdown()
    report.update(events=events, wall_s=time.monotonic() - started)
    return report


def _settle(probe, seconds: float):
    """``probe()`` until it returns something falsy or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if not value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _told(experiment: str, plan: Plan) -> Dict[str, Any]:
    """What the searcher in the experiment's last checkpoint had told (trial id -> outcome)."""
    from ray_graded_penalty import GradedPenaltySearcher

    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=plan.timeout_s)
    try:
        searcher.restore_from_dir(experiment)
    except (RuntimeError, FileNotFoundError, EOFError):  # no checkpoint yet
        return {}
    return searcher.outcomes


def check(plan: Plan, workdir: str, address: str, lost_node: str,
          told_before: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Everything the soak promises, looked at after the run; ``problems`` lists what failed."""
    report = check_told(plan, workdir, lost_node, told_before)
    left = check_left(address, workdir)
    report["problems"] += [f"{what} left after the soak: {value}" for what, value in left.items()
                           if value and what != "ray_own_actors"]
    report.update(children=len(_children(workdir)), ray_own_actors_left=dict(left["ray_own_actors"]))
    return report


def check_told(plan: Plan, workdir: str, lost_node: str,
               told_before: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """What the model was told: every trial once, each as its fate (or what really ended it)."""
    from ray import tune

    from ray_graded_penalty import GradedPenaltySearcher
    from ray_graded_penalty.backends.optuna import OptunaView
    from ray_graded_penalty.compat import base_searcher

    problems: List[str] = []
    experiment = os.path.join(workdir, "storage", "soak")
    trials = {t.trial_id: t.status for t in tune.ExperimentAnalysis(experiment).trials}
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=plan.timeout_s)
    searcher.restore_from_dir(experiment)
    outcomes, retried = searcher.outcomes, searcher.retried
    changed = [t for t, o in (told_before or {}).items() if outcomes.get(t) != o]
    if changed:
        problems.append(f"told before the driver was killed, then told differently: {changed}")
    study = OptunaView(base_searcher(searcher.searcher)).study.trials
    if len(trials) != plan.trials:
        problems.append(f"{len(trials)} trials in the experiment, not {plan.trials}")
    ended = set(outcomes) | set(retried)  # told, or lost with its node and its configuration run again
    if ended != set(trials) or set(outcomes) & set(retried):
        problems.append(f"told {len(outcomes)} and retried {len(retried)} trials, the experiment has {len(trials)}: "
                        f"neither {sorted(set(trials) - ended)}, unknown {sorted(ended - set(trials))}, "
                        f"both {sorted(set(outcomes) & set(retried))}")
    for trial_id, lost in retried.items():
        again = [o for o in outcomes.values() if o.config == lost.config]
        if lost.error_class != "lost" or len(again) != 1:
            problems.append(f"trial {trial_id} retried as {lost.error_class!r}, its configuration told "
                            f"{len(again)} times after: only a lost node is retried, and its retry told once")
    complete = [t for t in study if t.state.name == "COMPLETE"]
    if len(complete) != len(outcomes) or len(study) != len(outcomes):
        problems.append(f"the model holds {len(complete)} told trials ({len(study)} in all) for "
                        f"{len(outcomes)} outcomes: a trial was told twice or not at all")

    records = fates.attempts(workdir)
    tries: Dict[str, List[dict]] = {}
    for record in records:
        tries.setdefault(record["trial_id"], []).append(record)
    # When each attempt's failure reached its trial: at once for a trial's own fault; for a
    # trainer's, when its worker's error came out of ``fit()`` (Ray Train takes seconds).
    faults, raised = fates.fault_times(workdir), fates.fault_times(workdir, "raised")
    starts, ends = _times(workdir, "starts.jsonl"), _times(workdir, "ends.jsonl")
    graded: Counter = Counter()
    earlier = 0
    reruns: List[float] = []  # how long each start of an already told trial ran
    for trial_id, outcome in outcomes.items():
        ran = len(tries.get(trial_id, []))
        if outcome.failed and _lost(outcome) and (ran == 0 or len(starts.get(trial_id, [])) > ran):
            # Ray started (or was starting) an attempt that never reached the trial's function
            # (its node or actor went first), and that is the attempt the searcher told.
            graded["lost before its function ran"] += 1
            continue
        # A trial Tune reran after the restore is told once: by its last attempt, or by an
        # earlier one Ray had already ended (and the searcher told) before the driver was killed.
        match = next((i for i, record in reversed(list(enumerate(tries.get(trial_id, []))))
                      if _as_expected(outcome, record, lost_node, faults, raised,
                                   starts.get(trial_id, []), plan)),
                     None)
        if match is None:
            record = (tries.get(trial_id) or [{"fate": "never started"}])[-1]
            problems.append(f"trial {trial_id} ({record['fate']}) told as {(outcome.kind.value, outcome.error_class)}: "
                            f"{(outcome.error or '').splitlines()[0][:200] if outcome.error else ''}")
            continue
        record = tries[trial_id][match]
        earlier += match < len(tries[trial_id]) - 1
        reruns += _reruns(record["time"], starts.get(trial_id, []), ends.get(trial_id, []))
        how = (outcome.kind, outcome.error_class)
        graded[record["fate"] + ("" if how == fates.EXPECTED[record["fate"]] else
                                 " (timed out before its fault)" if outcome.error_class == "timeout"
                                 else " (node lost)")] += 1

    return {
        "trials": len(trials), "attempts": len(records), "told": len(outcomes), "retried": len(retried),
        "fates": dict(Counter(r["fate"] for r in records)), "graded_as_expected": dict(graded),
        "told_before_kill": len(told_before or {}), "told_from_an_earlier_attempt": earlier,
        "reruns_of_told_trials": len(reruns), "rerun_s": round(sum(reruns), 1),
        "rerun_s_max": round(max(reruns, default=0.0), 1), "problems": problems,
    }


def _times(workdir: str, name: str) -> Dict[str, List[float]]:
    """Trial id -> the times in ``name`` (one JSON object per line), in order."""
    times: Dict[str, List[float]] = {}
    path = os.path.join(workdir, name)
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                times.setdefault(entry["trial_id"], []).append(entry["time"])
    return times


def _reruns(told_at: float, starts: List[float], ends: List[float]) -> List[float]:
    """How long each start of a trial after the start of the attempt it was told by ran (to
    the end Ray reported next): the GPU time spent on a trial already told."""
    told_start = max((s for s in starts if s <= told_at), default=told_at)
    later = [s for s in starts if s > told_start]
    return [min((e for e in ends if e >= s), default=s) - s for s in later]


def check_left(address: str, workdir: str) -> Dict[str, Any]:
    """What is left on the cluster and the machine after the run (empty values: nothing)."""
    import ray

    from ray_graded_penalty._core import ray_internals

    ray.init(address=address, logging_level=logging.WARNING)
    try:
        def busy():
            free, total = ray.available_resources(), ray.cluster_resources()
            return {k: (free.get(k, 0.0), total[k]) for k in ("CPU", "GPU") if free.get(k, 0.0) < total.get(k, 0.0)}

        def groups():
            return [g for g, info in ray.util.placement_group_table().items() if info["state"] != "REMOVED"]

        def actors():
            return {i: name for i, name in ray_internals.live_actors().items() if name not in RAY_OWN_ACTORS}

        left = {"resources held": _settle(busy, 60), "placement groups": _settle(groups, 60),
                "actors": _settle(actors, 60)}
        left["ray_own_actors"] = Counter(n for n in ray_internals.live_actors().values() if n in RAY_OWN_ACTORS)
    finally:
        ray.shutdown()
    pids = _children(workdir)
    from ray_graded_penalty.serving.process import alive

    left["processes"] = _settle(lambda: [p for p in pids if alive(p)], 30)
    return left


def _children(workdir: str) -> List[int]:
    """The pid of every child process the trials started (through the serving launcher)."""
    from ray_graded_penalty.serving.process import launched_pids

    folder = os.path.join(workdir, "children")
    return [pid for name in os.listdir(folder) for pid in launched_pids(os.path.join(folder, name))]


def _lost(outcome: Any) -> bool:
    return any(text in (outcome.error or "").lower() for text in LOST_TEXTS)


def _as_expected(outcome: Any, record: dict, lost_node: str, faults: Dict[int, float],
                 raised: Dict[int, float], starts: List[float], plan: Plan) -> bool:
    """Whether ``outcome`` is what attempt ``record`` must be told as: its fate's, a node lost
    under it, or a timeout when it really ran ``timeout_s`` (from when Ray started it, as the
    watchdog counts) before its failure reached it: on 2 cores a trial or its trainer can take
    that long to start, and a worker's error takes Ray Train seconds to come out of ``fit()``."""
    if (outcome.kind, outcome.error_class) == fates.EXPECTED[record["fate"]]:
        return True
    if record["node"] == lost_node and outcome.failed and _lost(outcome):
        return True
    if outcome.error_class != "timeout":
        return False
    started = max((t for t in starts if t <= record["time"]), default=None)
    if started is None:
        return False
    trainer = record["fate"].startswith("trainer")
    fault = (raised if trainer else faults).get(record["index"])
    if fault is None and not trainer:
        fault = record["time"] + 2.5  # its fault comes within 2 s of its function's start
    return fault is None or fault >= started + plan.timeout_s - 1.0

