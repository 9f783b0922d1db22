"""The research side of the benchmarks: its prototypes change nothing one trial at a time
(its quick run is checked in test_benchmarks.py, on the benchmark's own quick results)."""

import pytest

from ray_graded_penalty.backends.optuna import HAS_TRIAL_CONSTRAINTS
from ray_graded_penalty.compat import OPTUNA


def _change_only_while_trials_run(problem, backend, variants, changed):
    """Each of ``variants`` suggests as ``backend`` one trial at a time; each of ``changed``
    suggests otherwise with 4 trials at once."""
    from benchmarks.asynchronous import simulate
    from benchmarks.research.variants import ALL_METHODS

    methods = {**ALL_METHODS, **variants}

    def values(method, workers):
        run = simulate(problem, method, 0, workers, gpu_budget=15.0 * workers, methods=methods)
        return [t["value"] for t in run["trials"]]

    one_at_a_time = values(backend, 1)
    for name in variants:  # one trial at a time each is the backend as it ships
        assert values(name, 1) == one_at_a_time, name
    while_running = values(backend, 4)
    for name in changed:
        assert values(name, 4) != while_running, name


def test_hyperopt_prototypes_change_the_split_only_while_trials_run():
    from benchmarks.research.hyperopt_variants import HYPEROPT_VARIANTS

    _change_only_while_trials_run("spring", "graded_hyperopt", HYPEROPT_VARIANTS,
                                  ("ho_failures_out", "ho_joint_veto"))


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS,
                    reason=f"the Optuna prototypes read a failure's violation from Optuna 5's trial "
                    f"constraints, as at the benchmarks' pins (here Optuna {OPTUNA})")
def test_optuna_prototypes_change_the_model_only_while_trials_run():
    from benchmarks.research.optuna_variants import OPTUNA_VARIANTS

    _change_only_while_trials_run("pressure_vessel", "graded_optuna", OPTUNA_VARIANTS, OPTUNA_VARIANTS)


def test_grade_weights_share_the_failures_weight_by_their_grade_and_leave_the_rest():
    from types import SimpleNamespace

    from benchmarks.research.grade_weights import _by_progress, _by_severity, failure_factors

    def trial(penalty=None, completion=None):
        attrs = {} if penalty is None else {"graded_penalty.penalty": penalty, "graded_penalty.completion": completion}
        return SimpleNamespace(user_attrs=attrs)

    trials = [trial(), trial(-1500.0, 0.05), trial(-100.0, 0.97), trial(-500.0, 0.3), trial()]
    by_severity = failure_factors(trials, _by_severity)
    assert by_severity[0] == by_severity[4] == 1.0  # a success or a running trial: TPE's own weight
    assert by_severity[1:4].mean() == pytest.approx(1.0)  # the failures' total weight is TPE's own
    assert by_severity[1] == pytest.approx(3 * by_severity[2])  # the worst weighs three times the least bad
    assert by_severity[1] > by_severity[3] > by_severity[2]
    by_progress = failure_factors(trials, _by_progress)
    assert by_progress[1] > by_progress[3] > by_progress[2] and by_progress[1:4].mean() == pytest.approx(1.0)
    flat = [trial(-1000.0, 0.1), trial(-1000.0, 0.9)]
    assert list(failure_factors(flat, _by_severity)) == [1.0, 1.0]  # one magnitude: nothing to share out


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS,
                    reason=f"the research harness runs at the benchmarks' pins, Optuna 5 (here Optuna {OPTUNA})")
def test_the_grade_weights_harness_is_the_shipped_tpe_where_it_changes_nothing():
    from benchmarks.asynchronous import simulate
    from benchmarks.research.grade_weights import VARIANTS, _method

    def configs(method, methods=None, problem="mostly_fail", budget=15.0):
        run = simulate(problem, method, 0, 1, gpu_budget=budget, methods=methods)
        return [t["config"] for t in run["trials"]]

    assert configs("unweighted", {"unweighted": _method(None)}) == configs("graded_optuna")
    assert configs("flat_weights_by_severity", VARIANTS) == configs("flat_penalty")  # one magnitude: unchanged
    # and the weights do change what TPE proposes (seed 0 of the measured table: regret 568 against 1648)
    assert configs("weights_by_severity", VARIANTS, "pressure_vessel", 60.0) != configs(
        "graded_optuna", None, "pressure_vessel", 60.0)


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS,
                    reason=f"the research harness runs at the benchmarks' pins, Optuna 5 (here Optuna {OPTUNA})")
def test_on_the_recorded_serving_space_the_harness_is_the_replay_s_graded_optuna_where_it_changes_nothing():
    from benchmarks.research.grade_weights import _serving_run, serving_methods
    from benchmarks.serving_space import replay

    catalog = serving_methods()

    def configs(method, workers):
        return [t["config"] for t in replay.run_one("recorded", method, 0, workers, catalog=catalog)["trials"]]

    assert configs("unweighted", 4) == configs("graded_optuna", 4)  # its SLO included
    # out-of-memory and deploy failures are told two magnitudes: the weights change what TPE proposes
    assert configs("weights_by_severity", 1) != configs("graded_optuna", 1)
    run = _serving_run(("llama_server_recorded", "graded_optuna", 0, 1))
    same = replay.run_one("recorded", "graded_optuna", 0, 1)
    assert run["regret"] == pytest.approx(replay.best_possible() - replay.best(same))
    assert run["regret"] >= 0 and run["trials"] > run["failed"] > 0


def test_grade_weights_tables_come_from_several_recorded_files(tmp_path, capsys):
    import json

    from benchmarks.research.grade_weights import main

    def runs(problem, regrets):
        return [{"problem": problem, "method": m, "seed": s, "workers": 1, "regret": r, "trials": 5, "failed": 2}
                for m, values in regrets.items() for s, r in enumerate(values)]

    (tmp_path / "a.json").write_text(json.dumps(runs("spring", {"graded_optuna": [1.0, 2.0], "flat_penalty": [1.0, 3.0],
                                                                "weights_by_severity": [0.5, 2.0]})))
    (tmp_path / "b.json").write_text(json.dumps(runs("llama_server_gpu", {"graded_optuna": [0.0, 1.5],
                                                                          "weights_by_severity": [0.0, 0.0]})))
    assert main(["--table-from", f"{tmp_path / 'a.json'},{tmp_path / 'b.json'}"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | spring | 1.5 | 2 (1.33x) | 1.25 (0.83x) | 1/0/1, p 1 | 2/0/0, p 0.5 |" in out
    assert "| 1 | gpu | 1/2, 0.750 | 2/2, 0.000 | 1/0/1, p 1 |" in out  # seeds at the best, mean regret


def test_the_welded_beam_gp_cells_pair_the_seeds_both_sides_finished(tmp_path):
    import json

    from benchmarks.research.welded_gp import _files, main, regrets, rows

    def cell(side, workers, seed, regret):
        summary = {"welded_beam": {str(workers): {f"{side}:gp": {"regret_by_seed@1": [regret]}}}}
        path = tmp_path / f"{side}_w{workers}_s{seed}.json"
        path.write_text(json.dumps({"summaries": summary, "date": "2026-12-06", "s": 1.0, "optuna": "5.0.0"}))

    for seed, (bare, wrapped) in enumerate([(2.7, 1.5), (2.4, 4.2), (6.1, 6.1)]):
        cell("bare", 16, seed, bare)
        cell("wrapped", 16, seed, wrapped)
    cell("bare", 16, 3, 2.2)  # its wrapped side still running: not counted
    (tmp_path / "wrapped_w16_s3.json.part").write_text("{")
    cell("bare", 1, 0, 2.7)  # no wrapped seed at W = 1 yet: no row
    [row] = rows(regrets(_files(str(tmp_path))))
    assert (row["workers"], row["seeds"], row["better"], row["worse"], row["level"]) == (16, [0, 1, 2], 1, 1, 1)
    assert row["regret_by_seed_bare"] == [2.7, 2.4, 6.1] and row["regret_by_seed_wrapped"] == [1.5, 4.2, 6.1]
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"runs": [], "rows": [{"searcher": "gp", "problem": "welded_beam", "workers": 16}]}))
    assert main(["--folder", str(tmp_path), "--into", str(record), "--note", "three seeds"]) == 0
    written = json.loads(record.read_text())
    assert [r["better"] for r in written["rows"]] == [1] and written["runs"][0]["searchers"] == "three seeds"
