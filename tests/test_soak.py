"""The chaos soak's short version: one fault of each kind on a local four-node cluster (a node
removed and one added, the driver killed and the experiment restored), then every promise
checked: each trial told exactly once and graded by its real cause, what was told before the
driver was killed unchanged after the restore, and no placement group, actor, CPU, GPU or
process of a trial left. The full soak: benchmarks/soak (RESULTS.md)."""

import pytest

from benchmarks.soak.fates import EXPECTED
from benchmarks.soak.soak import Plan, run_soak

pytestmark = [pytest.mark.ray, pytest.mark.cluster]


def test_a_short_soak_keeps_every_promise(tmp_path):
    report = run_soak(Plan(trials=16, concurrent=4, timeout_s=20.0, deadline_s=600.0), str(tmp_path))
    assert report["problems"] == [], report
    # Every trial told, or lost with the removed node and its configuration run again (and told).
    assert report["trials"] == report["told"] + report["retried"] == 16
    # The driver was killed mid-experiment: some trials told (and unchanged after), some not yet.
    assert 0 < report["told_before_kill"] < 16, report["events"]
    assert set(report["fates"]) == set(EXPECTED), report["fates"]  # one fault of each kind at least
    # Each attempt starts a child process, unless a fault killed it first; none of them is left.
    assert report["attempts"] >= 16 and 0 < report["children"] <= report["attempts"]
    assert len(report["events"]) == 4 and report["events"][-1].endswith("exited with 0"), report["events"]
    # A trial told before the driver was killed that Tune started again is ended at its start.
    assert report["rerun_s_max"] < 5.0, report
