"""Placement groups Ray itself leaves behind: a group whose creation reached the GCS just after
its creator actor died is never marked as its dead actor's, so Ray never removes it, even once
its job is gone (seen in the soak as a Ray Train controller's workers' group, 1 CPU, that
outlived a killed driver). The reaper removes those of the drivers that ran its experiment
(restored: the earlier drivers'), and only those."""

import os
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest
import ray
from ray.util.placement_group import placement_group, remove_placement_group

from ray_graded_penalty._core import ray_internals
from ray_graded_penalty.timeout import TrialReaper, TrialTimeout

from conftest import own_ray

pytestmark = pytest.mark.ray

#: A driver of its own whose actors reserve tiny groups in a loop and are killed while at it
#: (with four actors, 2 of 8 drivers left groups here, 2026-12-08; with one, 2 of 10).
RACE = textwrap.dedent("""
    import sys, time, ray
    from ray.util.placement_group import placement_group
    ray.init(address=sys.argv[1], logging_level="ERROR")
    print(ray.get_runtime_context().get_job_id())

    @ray.remote(num_cpus=0)
    class Reserver:
        def loop(self):
            while True:
                placement_group([{"CPU": 0.001}])

    actors = [Reserver.remote() for _ in range(4)]
    for actor in actors:
        actor.loop.remote()
    time.sleep(1.0)
    for actor in actors:
        ray.kill(actor)
    time.sleep(1.0)
""")


@pytest.fixture(scope="module")
def two_cpus():
    yield from own_ray(num_cpus=2)


@ray.remote(num_cpus=0)
class Holder:
    def reserve(self):
        group = placement_group([{"CPU": 0.01}])
        return group.id.hex()

    def exit_in(self, seconds):
        """The process ends ``seconds`` from now, as an actor Tune asked to stop ends a moment later."""
        threading.Timer(seconds, os._exit, (0,)).start()


def _ids(groups):
    return {g.hex() for g in groups}


def test_the_reaper_removes_what_ray_left_after_a_dead_creator_and_nothing_alive(two_cpus):
    address = ray.get_runtime_context().gcs_address
    jobs = []
    for _ in range(15):  # the race is Ray's: a run of drivers until one leaves a group
        race = subprocess.run([sys.executable, "-c", RACE, address], check=True, timeout=120,
                              capture_output=True, text=True)
        jobs.append(race.stdout.split()[0])
        time.sleep(2.0)
        if ray_internals.orphaned_placement_groups(None):
            break
    orphans = _ids(ray_internals.orphaned_placement_groups(None))
    if not orphans:
        pytest.skip("no driver of 15 left a group in Ray's race (about one in five does): nothing to mend")
    # Still there seconds after both their actor and their job died: Ray will not remove them.
    time.sleep(3.0)
    assert orphans <= _ids(ray_internals.placement_groups_created_by(None))

    reaper = TrialReaper()
    reaper.setup()  # a new experiment: the other drivers' leftovers are not its own
    time.sleep(2.0)
    assert orphans <= _ids(ray_internals.orphaned_placement_groups(None))  # more, as the jobs' deaths land
    assert reaper.get_state() == {"jobs": [ray.get_runtime_context().get_job_id()]}

    holder = Holder.remote()  # a live actor's group, and the driver's own: not the reaper's to touch
    alive = ray.get(holder.reserve.remote())
    own = placement_group([{"CPU": 0.01}])
    reaper.set_state({"jobs": jobs})  # restored from a run those drivers made: theirs to mend
    deadline = time.time() + 25
    while ray_internals.orphaned_placement_groups(None) and time.time() < deadline:
        reaper.on_step_begin(1, [])  # it looks again as their deaths reach Ray's tables
        time.sleep(0.5)
    assert ray_internals.orphaned_placement_groups(None) == []
    left = _ids(ray_internals.placement_groups_created_by(None))
    assert not orphans & left and alive in left
    assert ray.util.placement_group_table(own)["state"] != "REMOVED"
    remove_placement_group(own)
    ray.kill(holder)


class PausedTrial:
    """A trial as the reaper sees it: its id, status and actor (``temporary_state.ray_actor``)."""

    def __init__(self, actor):
        self.trial_id, self.status = "paused", "RUNNING"
        self.temporary_state = type("State", (), {"ray_actor": actor})()


@pytest.mark.parametrize("dies_in", [None, 4.0])
def test_what_a_paused_trials_actor_reserved_is_removed_at_the_pause(two_cpus, monkeypatch, dies_in):
    """HyperBand or PBT pause a trial: Tune stops its actor without a callback event, and the
    groups that actor reserved stayed (until the trial ended; held through its pause); also when
    the actor takes longer to stop than the looks after the pause (a checkpoint saved first: the
    looks ended while it was alive, and its groups stayed to the experiment's end)."""
    import ray_graded_penalty.timeout as timeout

    monkeypatch.setattr(timeout, "SWEEPS_S", (0.0,))
    monkeypatch.setattr(timeout, "FOLLOW_UP_S", 0.5)
    holder = Holder.remote()
    group = ray.get(holder.reserve.remote())
    trial, reaper = PausedTrial(holder), TrialReaper()
    reaper.setup()
    reaper.on_trial_start(1, [trial], trial)
    if dies_in is None:
        ray.kill(holder)  # as Tune stops a paused trial's actor
    else:
        ray.get(holder.exit_in.remote(dies_in))
    trial.status, trial.temporary_state.ray_actor = "PAUSED", None

    def held():
        return [g for g in ray.util.placement_group_table().values()
                if g["placement_group_id"] == group and g["state"] != "REMOVED"]

    deadline = time.time() + 30
    while held() and time.time() < deadline:
        reaper.on_step_begin(2, [trial])
        time.sleep(0.5)
    assert held() == []


@pytest.mark.parametrize("dies_in,ended", [(None, False), (2.0, False), (2.0, True)])
def test_what_a_trial_still_running_at_the_experiments_end_reserved_is_removed(two_cpus, dies_in, ended):
    """Tune's cleanup (Ctrl+C, an exception in its loop, its time budget) stops running trials'
    actors with no event, then ends the experiment: the groups of this run's trial actors are
    removed then, also of an actor that dies only after the experiment's end began (it was left
    reserved when the actor's death had not reached Ray's tables yet: a failure in CI,
    2026-12-07), and of a trial that ended just before, whose actor Tune was still stopping."""
    holder = Holder.remote()
    group = ray.get(holder.reserve.remote())
    trial, reaper = PausedTrial(holder), TrialReaper()
    reaper.setup()
    reaper.on_trial_start(1, [trial], trial)
    if ended:
        trial.status = "TERMINATED"
        reaper.on_trial_complete(2, [trial], trial)
    if dies_in is None:
        ray.kill(holder)  # as Tune's cleanup stops it
    else:
        ray.get(holder.exit_in.remote(dies_in))
    reaper.on_experiment_end([trial])  # Tune's last call: nothing of the reaper runs after it
    assert ray.util.placement_group_table()[group]["state"] == "REMOVED"


def test_a_restore_looks_again_at_what_the_earlier_drivers_left(monkeypatch):
    """A restore right after the driver was killed: its actors' deaths reach Ray's tables later,
    and what they left was looked for only once, then (and at the run's end)."""
    import ray_graded_penalty.timeout as timeout

    looked, now = [], [1000.0]
    monkeypatch.setattr(timeout, "_remove_orphans", lambda jobs: looked.append((now[0], list(jobs))))
    monkeypatch.setattr(timeout.time, "time", lambda: now[0])
    driver = types.SimpleNamespace(get_job_id=lambda: "0b000000")
    monkeypatch.setattr(timeout.ray, "get_runtime_context", lambda: driver)
    reaper = TrialReaper()
    reaper.setup()  # this driver's job
    reaper.set_state({"jobs": ["0a000000", "0b000000"]})
    for now[0] in range(1000, 1100):
        reaper.on_step_begin(1, [])
    assert looked == [(t, ["0a000000"]) for t in (1000.0, 1002.0, 1008.0, 1020.0, 1060.0)]
    reaper.set_state({"jobs": ["0b000000"]})  # nothing earlier: nothing to look at again
    reaper.on_step_begin(1, [])
    assert len(looked) == 6 and looked[-1][1] == []


def test_a_hung_trial_is_ended_even_when_on_timeout_raises(two_cpus, caplog):
    def fails(trial_id):
        raise RuntimeError("the user's callback failed")

    holder = Holder.remote()
    ray.get(holder.reserve.remote())
    trial, watchdog = PausedTrial(holder), TrialTimeout(0.01, on_timeout=fails)
    watchdog.setup()
    watchdog.on_trial_start(1, [trial], trial)
    time.sleep(0.05)
    with caplog.at_level("ERROR", logger="ray_graded_penalty"):
        watchdog.on_step_begin(2, [trial])  # Tune's loop goes on: no exception
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(holder.reserve.remote(), timeout=30)
    assert any("on_timeout raised for trial paused" in r.getMessage() for r in caplog.records)


def test_a_hung_trial_whose_actor_is_gone_already_does_not_end_the_experiment(two_cpus, monkeypatch, caplog):
    """``ray.kill`` raises when the GCS cannot end the actor (newer Ray: ActorHandleNotFoundError for
    one destroyed already; any status but OK): raised in the watchdog's step, it ended Tune's loop."""
    holder = Holder.remote()
    group = ray.get(holder.reserve.remote())
    trial, watchdog = PausedTrial(holder), TrialTimeout(0.01)
    watchdog.setup()
    watchdog.on_trial_start(1, [trial], trial)
    time.sleep(0.05)
    real_kill = ray.kill

    def kill_refused(actor, no_restart=True):
        real_kill(actor, no_restart=no_restart)  # it dies, and the GCS answers with an error
        raise RuntimeError("The actor was not found in the GCS (as a GCS failover answers)")

    monkeypatch.setattr(ray, "kill", kill_refused)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        watchdog.on_step_begin(2, [trial])  # Tune's loop goes on: no exception
    assert any("Could not end the actor of trial paused" in r.getMessage() for r in caplog.records)
    deadline = time.time() + 30  # and what it reserved is removed all the same
    while ray.util.placement_group_table()[group]["state"] != "REMOVED" and time.time() < deadline:
        watchdog.on_step_begin(3, [trial])
        time.sleep(0.5)
    assert ray.util.placement_group_table()[group]["state"] == "REMOVED"


def test_an_on_timeout_that_cannot_be_called_is_refused_at_construction():
    """Called at a timeout, it would raise before the hung trial's actor is ended."""
    with pytest.raises(TypeError, match="on_timeout must be a function of the trial id, or None; got 'print'"):
        TrialTimeout(1.0, on_timeout="print")


def test_a_trial_paused_and_started_again_keeps_the_seconds_it_ran_before(monkeypatch):
    """HyperBand or PBT pause a trial and start it again: its clock started again at every start,
    so a trial paused often enough never reached its timeout (the grader counted all of it)."""
    import ray_graded_penalty.timeout as timeout

    clock = [0.0]
    monkeypatch.setattr(timeout, "time", types.SimpleNamespace(time=lambda: clock[0]))
    ended = []
    watchdog = TrialTimeout(1.0)
    monkeypatch.setattr(watchdog, "end", lambda trial: ended.append(trial.trial_id))
    monkeypatch.setattr(watchdog, "_remember_root", lambda trial: None)
    trial = PausedTrial(object())

    def step_at(now, status):
        clock[0], trial.status = now, status
        watchdog.on_step_begin(0, [trial])

    watchdog.on_trial_start(0, [trial], trial)
    step_at(0.7, "RUNNING")
    step_at(0.8, "PAUSED")  # ran 0.8 s; a pause of any length is not counted
    step_at(100.0, "PAUSED")
    clock[0] = 100.0
    watchdog.on_trial_start(0, [trial], trial)
    step_at(100.1, "RUNNING")
    assert ended == []  # 0.9 s run
    step_at(100.3, "RUNNING")
    assert ended == ["paused"]  # 1.1 s run
