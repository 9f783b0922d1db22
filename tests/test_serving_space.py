"""The recorded llama-server space and its replay (benchmarks/serving_space): the table read as
recorded, a configuration's outcome looked up with its real text, class and seconds, the GPU
cost added to every start, the budget spent as the simulation promises, the comparisons."""

import csv
import math

import pytest

from benchmarks.concurrency_report import sign_test
from benchmarks.serving_space import replay


def _rows():
    with open(replay.TABLE) as f:
        return list(csv.DictReader(f))


def test_the_table_is_read_as_recorded():
    rows, table = _rows(), replay.table()
    assert len(table) == 168 and sum(len(v) for v in table.values()) == len(rows)
    failed = [k for k, v in table.items() if v[0]["outcome"] != "ok"]
    assert len(failed) == 86  # as benchmarks/serving_space/README.md says
    assert {(int(r["batch"]), int(r["ubatch"])) for r in rows} == set(replay.UBATCH.items())
    assert set(replay.space()) == set(replay.KNOBS)


def test_a_failure_replays_with_its_text_class_and_seconds_and_the_gpu_cost_adds_a_load():
    row = next(r for r in _rows() if r["outcome"] != "ok" and r["error_class"] == "oom")
    config = {k: int(row[k]) for k in replay.KNOBS}
    recorded, gpu = replay.outcome_of(config), replay.outcome_of(config, replay.GPU_LOAD_S)
    assert recorded.failed and recorded.error == row["error"] and recorded.error_class == "oom"
    assert recorded.fraction * replay.TIMEOUT_S == pytest.approx(float(row["elapsed_s"]))
    assert gpu.fraction * replay.TIMEOUT_S == pytest.approx(float(row["elapsed_s"]) + replay.GPU_LOAD_S)


def test_a_success_replays_the_mean_of_its_measurements():
    rows = [r for r in _rows() if r["outcome"] == "ok"]
    key = {k: int(rows[0][k]) for k in replay.KNOBS}
    same = [r for r in rows if all(int(r[k]) == v for k, v in key.items())]
    assert len(same) == 2
    outcome = replay.outcome_of(key)
    assert outcome.value == pytest.approx(sum(float(r["throughput"]) for r in same) / 2)
    assert outcome.metrics["e2el_p99_s"] == pytest.approx(sum(float(r["e2el_p99_s"]) for r in same) / 2)
    assert 40 < replay.best_possible() < 45  # the space's best SLO-meeting throughput, tok/s


@pytest.mark.parametrize("workers", [1, 4])
def test_a_replay_spends_its_budget_and_every_start_pays_the_load(workers):
    run = replay.run_one("gpu", "graded_optuna", seed=0, workers=workers, scale=0.3)
    trials = run["trials"]
    assert trials and all(t["end"] <= run["budget_s"] / workers + 1e-9 for t in trials)
    # Every worker always busy: the GPU time used is the budget, less each worker's unfinished trial.
    used = sum(t["end"] - t["start"] for t in trials)
    assert run["budget_s"] - workers * 130 <= used <= run["budget_s"]
    assert all(t["end"] - t["start"] >= replay.GPU_LOAD_S for t in trials)  # each paid the load
    assert any(t["value"] is None for t in trials) and any(t["meets"] for t in trials)


def test_the_comparisons_count_seeds_and_the_sign_test_is_exact():
    assert sign_test(6, 0) == pytest.approx(2 / 64)
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) == 1.0
    assert replay.paired([3, 2, 1], [1, 2, 3]) == {"better": 1, "worse": 1, "equal": 1, "p": 1.0}
    runs = [replay.run_one("recorded", m, s, 1, scale=0.3) for m in ("graded_optuna", "optuna_search", "flat_penalty")
            for s in range(2)]
    summary = replay.summarize(runs)
    cells = {c["method"]: c for c in summary["cells"]}
    assert set(cells) == {"graded_optuna", "optuna_search", "flat_penalty"}
    ours = cells["graded_optuna"]
    assert sum(ours["vs_optuna_search"][k] for k in ("better", "worse", "equal")) == 2
    assert sum(ours["vs_flat_penalty"][k] for k in ("better", "worse", "equal")) == 2
    assert ours["regret"] == pytest.approx(summary["best_possible"] - ours["best"])  # two seeds: medians are means
    assert all(0 <= c["failed_share"] <= 1 and not math.isnan(c["best"]) for c in cells.values())
    assert "| recorded | 1 | graded_optuna |" in replay.table_text(summary)
