"""The benchmark's quick mode runs end to end, and the research side's on its results (a
smoke test: it checks they run, not their numbers)."""

import json
import os
import pickle
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, module="benchmarks.run"):
    done = subprocess.run([sys.executable, "-m", module, "--quick", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_quick_benchmarks_write_results_and_plots(tmp_path):
    _run("--out", str(tmp_path))
    results = (tmp_path / "RESULTS.md").read_text()
    for section in ("## Methods", "## Problems", "## Overhead", "## Targets",
                    "## Many trials at once", "### W = 1:", "### W = 4:", "### Targets for many trials at once"):
        assert section in results
    for method in ("graded_optuna", "graded_hyperopt", "optuna_search", "hyperopt_search",
                   "random", "flat_penalty", "design_fixed_scale"):
        assert f"| {method} |" in results
    assert "graded_optuna_no_tie_break" not in results and "graded_optuna_0.2" not in results  # research/
    assert "(research/RECORD.md)" in results
    assert "| optuna_search_told |" in results.replace(" | ", " |\n| ")  # an overhead column
    for problem in ("pressure_vessel", "welded_beam", "spring", "speed_reducer", "three_bar_truss", "gramacy"):
        assert f"| {problem} |" in results  # the published problems, in the W tables
    # The Optuna pair on new seeds, pooled with the concurrent section's: 1 + 1 seeds here.
    assert "The same two on 2 seeds" in results and "(median regret, 2 seeds)" in results
    # The committed run at the oldest pins (benchmarks/oldest/results.json) is rendered too.
    assert "The same two at Ray 2.30.0 and Optuna 3.6.1" in results
    assert "(median regret, 20 seeds, Ray 2.30.0 and Optuna 3.6.1)" in results
    data = json.loads((tmp_path / "results.json").read_text())
    more, first = data["more_seeds"]["llm_serving"]["4"], data["concurrent"]["llm_serving"]["4"]
    assert set(more) == {"graded_optuna", "optuna_search"} and more["graded_optuna"]["seeds"] == 1
    assert more["optuna_search"] != first["optuna_search"]  # seed 1, not seed 0 again
    for problem in ("all_fail", "branin_discs", "llm_serving", "mostly_fail", "latency_ms", "concurrency"):
        png = (tmp_path / f"{problem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000

    # The research side writes RECORD.md from its variants and these results.
    research = tmp_path / "research"
    _run("--out", str(research), "--shipped", str(tmp_path / "results.json"), module="benchmarks.research.run")
    record = (research / "RECORD.md").read_text()
    for section in ("## One at a time", "## Many trials at once", "## What TPE's good group held"):
        assert section in record
    for variant in ("graded_optuna_no_tie_break", "optuna_pruned_progress", "graded_hyperopt_ray_defaults"):
        assert f"| {variant} |" in record
    assert "| graded_optuna_0.2 |" in record.replace(" | ", " |\n| ")  # a variant tried at W > 1
    assert "identical on" in record  # one at a time, as version 0.2
    variants = json.loads((research / "results.json").read_text())["concurrency_variants"]
    assert set(variants["llm_serving"]["1"]) == {"graded_optuna_0.2"}

    # Rerunning one method of the concurrent section keeps every other method's results.
    before = data
    before["concurrent"]["llm_serving"]["1"]["optuna_search"]["marker"] = "kept"
    before["concurrent"]["llm_serving"]["1"]["graded_hyperopt"]["marker"] = "rerun"
    (tmp_path / "merged.json").write_text(json.dumps(before))
    out = tmp_path / "rerun"
    _run("--only", "concurrent", "--methods", "graded_hyperopt", "--merge", str(tmp_path / "merged.json"),
         "--out", str(out))
    after = json.loads((out / "results.json").read_text())
    assert after["concurrent"]["llm_serving"]["1"]["optuna_search"]["marker"] == "kept"
    rerun = after["concurrent"]["llm_serving"]["1"]["graded_hyperopt"]
    assert "marker" not in rerun and rerun["seeds"] == 1  # run again, deterministic: same numbers
    committed = before["concurrent"]["llm_serving"]["1"]["graded_hyperopt"]
    assert rerun == {k: v for k, v in committed.items() if k != "marker"}
    assert after["timing"]["concurrent, graded_hyperopt rerun"]["command"] == (
        f"python -m benchmarks.run --quick --only concurrent --methods graded_hyperopt --out {out}")
    assert after["timing"]["concurrent"] == before["timing"]["concurrent"]


def test_the_hang_benchmark_tells_a_hang_by_what_it_reached_or_by_its_clock(tmp_path):
    from benchmarks.hang_region import HANG, METHODS_HERE, lines, main

    told = {}
    for name in ("evidence", "clock"):
        method = METHODS_HERE[name](0)
        method.setup(HANG.space, HANG.mode)
        for trial_id, point in (("hang", {"x": 9.0, "y": 9.0}), ("crash", {"x": 7.5, "y": 7.5})):
            method.suggest(trial_id)
            method.tell(trial_id, HANG.evaluate(point))
        told[name] = {t: method.searcher.outcomes[t].completion for t in ("hang", "crash")}
    # The hang never became ready: nowhere by what it reached, the furthest of all by its clock.
    assert told["evidence"] == {"hang": 0.0, "crash": 0.9375}
    assert told["clock"] == {"hang": 1.0, "crash": 0.9375}

    found = main(["--seeds", "2", "--workers", "1", "--processes", "1", "--out", str(tmp_path / "hang.json")])
    assert [c["workers"] for c in found["cells"]] == [1] and found["cells"][0]["seeds"] == 2
    assert "| 1 | 2 |" in "\n".join(lines(found))


def test_the_searchers_benchmark_adds_seeds_to_a_run_made_before(tmp_path):
    from benchmarks.searchers import main

    parts = [tmp_path / "first.json", tmp_path / "second.json", tmp_path / "both.json"]
    for first_seed, seeds, out in zip((0, 1, 0), ("1", "1", "2"), parts):
        assert main(["--searchers", "tpe", "--problems", "gramacy", "--workers", "1", "--seeds", seeds,
                     "--first-seed", str(first_seed), "--scale", "0.05", "--processes", "1", "--out", str(out)]) == 0
    assert main(["--join", f"{parts[0]},{parts[1]}", "--out", str(tmp_path / "joined.json")]) == 0
    joined, both = (json.load(open(p))["rows"] for p in (tmp_path / "joined.json", parts[2]))
    # seeds 0 and 1 run apart and put together are seeds 0 and 1 run at once
    assert len(joined) == 1 and len(joined[0]["regret_by_seed_wrapped"]) == 2
    assert {k: joined[0][k] for k in both[0]} == both[0]

    # The record takes new seeds into its own cell, and a run's cell in place of its own, each run listed
    record = tmp_path / "searchers.json"
    other = {**both[0], "problem": "spring"}
    json.dump({"runs": [], "rows": [json.load(open(parts[0]))["rows"][0], other]}, open(record, "w"))
    assert main(["--join", f"{record},{parts[1]}", "--into", str(record), "--note", "seed 1 added"]) == 0
    found = json.load(open(record))
    assert found["rows"] == [other, joined[0]]
    assert [r["searchers"] for r in found["runs"]] == ["seed 1 added"]
    assert "--out" not in found["runs"][0]["command"] and "--first-seed 1" in found["runs"][0]["command"]
    found["rows"][1]["marker"] = "the row the next run replaces"
    json.dump(found, open(record, "w"))
    run = ["--searchers", "tpe", "--problems", "gramacy", "--workers", "1", "--seeds", "1", "--scale", "0.05",
           "--processes", "1"]
    assert main([*run, "--into", str(record), "--note", "seed 0 again, alone"]) == 0
    found = json.load(open(record))
    assert found["rows"] == [other, json.load(open(parts[0]))["rows"][0]]
    assert [(r["searchers"], r["command"]) for r in found["runs"]][1:] == [
        ("seed 0 again, alone", "python -m benchmarks.searchers " + " ".join(run))]
    for wrong in (["--join", str(parts[2]), "--out", str(record), "--into", str(record)],  # would overwrite it
                  ["--join", str(record), "--out", str(tmp_path / "x.json")],  # a record only: no run
                  ["--join", f"{record},{parts[1]}", "--into", str(record)]):  # which seeds? no note
        with pytest.raises(SystemExit):
            main(wrong)
    assert json.load(open(record)) == found


def test_a_simulation_cut_off_and_resumed_from_its_checkpoint_is_the_one_never_cut_off(tmp_path, monkeypatch):
    """welded_beam's wrapped GP cells run longer than a session: one is saved as it goes and
    resumed, and must tell and suggest what it would have uncut."""
    from benchmarks import asynchronous

    def run(**checkpointed):
        return asynchronous.simulate("spring", "graded_optuna", 3, 4, gpu_budget=12.0 * 4, **checkpointed)

    whole = run()
    checkpoint = str(tmp_path / "cell.pkl")
    step, steps = asynchronous.Simulation.step, []

    def cut_off(self):
        if len(steps) == 25:
            raise KeyboardInterrupt  # the session ends
        steps.append(1)
        return step(self)

    monkeypatch.setattr(asynchronous.Simulation, "step", cut_off)
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=checkpoint, every_s=0.0)
    with open(checkpoint, "rb") as f:
        told = sum(t.get("told", False) for t in pickle.load(f).trials)
    assert 0 < told < len(whole["trials"])  # cut off midway, saved before the cut

    def counted(self):
        steps.append(1)
        return step(self)

    monkeypatch.setattr(asynchronous.Simulation, "step", counted)
    steps.clear()
    assert run(checkpoint=checkpoint, every_s=0.0) == whole
    assert len(steps) == len(whole["trials"]) - told + 1  # from the checkpoint on (the last: the wall time is over)
    with pytest.raises(ValueError, match="holds the run"):  # another cell's checkpoint is refused
        asynchronous.simulate("spring", "graded_optuna", 4, 4, gpu_budget=12.0 * 4, checkpoint=checkpoint)


def test_seeds_are_paired_only_where_both_ran():
    """A cell with 20 seeds now against 10 before is compared on those 10: the other 10 are
    neither better, worse nor level (they had counted as level)."""
    from benchmarks.concurrency_report import paired_counts

    assert paired_counts([1.0, 2.0, 3.0, 0.0], [2.0, 2.0]) == (1, 0, 1)
    assert paired_counts([1.0, 2.0], [2.0, 1.0, 0.0]) == (1, 1, 0)


def test_the_callback_steps_benchmark_times_the_callback_and_tune_s_scan(tmp_path):
    from benchmarks.callback_steps import main

    out = tmp_path / "steps.json"
    assert main(["--trials", "20,40", "--running", "4", "--steps", "3", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["trials"], r["running"]) for r in rows] == [(20, 4), (40, 4)]
    assert all(r["ms_per_step"] > 0 and r["tune_is_finished_ms"] > 0 for r in rows)


def test_the_committed_results_pages_are_what_their_generators_write_from_the_committed_runs(tmp_path):
    """RESULTS.md and research/RECORD.md are generated; edited by hand or left behind a new
    reading.md, they say what no run measured (RECORD.md was 159 lines behind, 2026-12-08)."""
    from benchmarks.research.record import load_research, write_record
    from benchmarks.research.run import HERE as RESEARCH
    from benchmarks.research.run import SHIPPED
    from benchmarks.results_page import load_results, write_page

    data = load_results(SHIPPED)
    write_page(data, str(tmp_path))
    write_record(str(tmp_path / "RECORD.md"), data, load_research(os.path.join(RESEARCH, "results.json")))
    for made, committed in (("RESULTS.md", os.path.join(ROOT, "benchmarks", "RESULTS.md")),
                            ("RECORD.md", os.path.join(RESEARCH, "RECORD.md"))):
        with open(committed) as f:
            assert (tmp_path / made).read_text() == f.read(), f"{committed} is not what its generator writes"
