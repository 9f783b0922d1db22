"""What each soak trial does, drawn from a shuffled deck, and what the model must be told of it.

A trial takes the next card (an attempt number no other trial has: a file created exclusively),
writes down its fate, its trial id, its node and its pid, starts a child process it holds (as a
trial holds a server it deployed), then meets its fate. Only a trial that succeeds stops its
child; every other fate leaves it to what ends the trial (the watchdog, the trial's exit, a
lost node, a killed driver).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import Dict, List, Optional, Tuple

#: Every fate, and what the searcher must tell of it: (kind, error class).
EXPECTED: Dict[str, Tuple[str, Optional[str]]] = {
    "succeeds": ("success", None),
    "oom": ("failure", "oom"),
    "deploy": ("failure", "deploy"),
    "hangs": ("failure", "timeout"),
    "exits": ("failure", "crash"),
    "trainer_hangs": ("failure", "timeout"),
    "trainer_oom": ("failure", "oom"),
}
#: How often each fate is drawn beyond the first card of each.
WEIGHTS = {"succeeds": 5, "oom": 2, "deploy": 2, "hangs": 1, "exits": 2, "trainer_hangs": 1, "trainer_oom": 1}


def deck(cards: int, seed: int, fates: Tuple[str, ...] = tuple(EXPECTED)) -> List[str]:
    """``cards`` fates, each of ``fates`` at least once (if there are enough cards), shuffled."""
    rng = random.Random(seed)
    drawn = list(fates[:cards]) + rng.choices(fates, [WEIGHTS[f] for f in fates], k=max(0, cards - len(fates)))
    rng.shuffle(drawn)
    return drawn


def take_card(workdir: str) -> int:
    """The next attempt number: the first ``attempts/NNNNN`` this process creates."""
    folder = os.path.join(workdir, "attempts")
    index = sum(not name.endswith(".json") for name in os.listdir(folder))
    while True:
        try:
            os.close(os.open(os.path.join(folder, f"{index:05d}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return index
        except FileExistsError:
            index += 1


def attempts(workdir: str) -> List[dict]:
    """Every attempt's record, in the order taken."""
    folder = os.path.join(workdir, "attempts")
    records = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                records.append(json.load(f))
    return records


def mark_fault(workdir: str, index: int, folder: str = "faults") -> None:
    """Note when attempt ``index`` meets its fate (before it hangs, raises or exits); with
    ``folder="raised"``, when its trainer's failure reached the trial's own function."""
    with open(os.path.join(workdir, folder, f"{index:05d}"), "w") as f:
        f.write(repr(time.time()))


def fault_times(workdir: str, folder: str = "faults") -> Dict[int, float]:
    """When each attempt met its fate (attempt number -> time), for those that got that far."""
    folder = os.path.join(workdir, folder)
    return {int(name): float(open(os.path.join(folder, name)).read()) for name in os.listdir(folder)}


def _train_loop(config):
    import ray.train

    if ray.train.get_context().get_world_rank() == 1:
        mark_fault(config["workdir"], config["index"])
        if config["fate"] == "trainer_hangs":
            time.sleep(10_000)  # a stuck collective
        raise RuntimeError("CUDA out of memory. Tried to allocate 8.00 GiB (rank 1)")
    time.sleep(10_000 if config["fate"] == "trainer_hangs" else 0.5)


def _run_trainer(fate: str, workdir: str, index: int) -> None:
    from ray.train import RunConfig, ScalingConfig

    from ray_graded_penalty._core import ray_internals

    trainer_class = ray_internals.data_parallel_trainer()
    # A name of its own: Train V1 names a run by the second it started, and two trainers
    # started in the same second on one node share (and break) each other's files.
    trainer = trainer_class(_train_loop, train_loop_config={"fate": fate, "workdir": workdir, "index": index},
                            scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.5}),
                            run_config=RunConfig(name=f"trainer_{index:05d}",
                                                 storage_path=os.path.join(workdir, "trainers")))
    try:
        trainer.fit()
    except BaseException:  # the worker's failure has reached the trial (Ray Train takes a while)
        mark_fault(workdir, index, "raised")
        raise


def soak_trial(config: dict) -> None:
    """The soak's trainable: ``config["workdir"]`` holds the deck and the records."""
    import ray

    from ray_graded_penalty import compat
    from ray_graded_penalty.serving.process import Server

    workdir = config["workdir"]
    index = take_card(workdir)
    with open(os.path.join(workdir, "deck.json")) as f:
        cards = json.load(f)
    fate = cards[index % len(cards)]
    record = {"index": index, "fate": fate, "trial_id": compat.trial_context().get_trial_id(),
              "node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "time": time.time()}
    with open(os.path.join(workdir, "attempts", f"{index:05d}.json"), "w") as f:
        json.dump(record, f)
    child = Server.start([sys.executable, "-c", "import time; time.sleep(3600)"],
                         os.path.join(workdir, "children", f"{index:05d}.log"))
    rng = random.Random(index)
    time.sleep(rng.uniform(0.2, 2.0))
    if not fate.startswith("trainer"):
        mark_fault(workdir, index)
    if fate == "succeeds":
        child.stop()
        compat.report({"score": config["x"]})
    elif fate == "oom":
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    elif fate == "deploy":
        raise RuntimeError("deploy failed: the server exited before it was healthy")
    elif fate == "hangs":
        time.sleep(10_000)
    elif fate == "exits":
        os._exit(1)
    else:
        _run_trainer(fate, workdir, index)
