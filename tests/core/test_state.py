"""save/restore keep everything told and everything not yet told, for every kind of inner."""

import pytest
from ray import tune
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty import GradedPenaltySearcher, PenaltyPolicy

from conftest import hyperopt_done_trials, optuna_study

SPACE = {"x": tune.uniform(0, 1)}


def build(kind):
    if kind == "wrapped":
        inner = ConcurrencyLimiter(OptunaSearch(space=SPACE, metric="score", mode="max", seed=0), 8)
        return GradedPenaltySearcher(inner, trial_timeout_s=600)
    searcher = GradedPenaltySearcher(kind, trial_timeout_s=600, seed=0, metric="score", mode="max")
    searcher.set_search_properties(None, None, SPACE)
    return searcher


def finished_in_inner(searcher, kind):
    if kind == "hyperopt":
        return len(hyperopt_done_trials(searcher))
    return sum(t.state.name == "COMPLETE" for t in optuna_study(searcher).trials)


@pytest.mark.parametrize("kind", ["optuna", "hyperopt", "wrapped"])
def test_round_trip_keeps_told_pending_and_running_trials(kind, tmp_path):
    before = build(kind)
    for trial_id in "abcd":
        before.suggest(trial_id)
    before.on_trial_complete("a", result={"score": -2000.0})
    before.record_failure("b", elapsed_s=300, error="CUDA OOM")
    before.on_trial_complete("c", error=True)  # still waiting for its details
    path = str(tmp_path / "searcher.pkl")
    before.save(path)

    after = build(kind)
    after.restore(path)
    assert after.outcomes.keys() == {"a", "b"}  # saving told nothing: "c" still waits, not lost
    assert after.outcomes == before.outcomes
    assert finished_in_inner(after, kind) == 2
    after.on_trial_complete("d", result={"score": -1500.0})  # running across the restore; "c" told first
    after.on_trial_complete("d", result={"score": -1500.0})  # and told only once
    assert list(after.outcomes) == ["a", "b", "c", "d"] and after.outcomes["c"].failed
    assert after.suggest("e") is not None
    after.record_failure("e", elapsed_s=600, error="timed out")
    assert finished_in_inner(after, kind) == 5
    told = after.outcomes
    failures = [told[t].told for t in "bce"]
    assert max(failures) < min(told["a"].told, told["d"].told)  # below every success


def test_restore_keeps_a_custom_policy_and_the_placement(tmp_path):
    before = GradedPenaltySearcher(
        "optuna", trial_timeout_s=60, metric="score", mode="min",
        policy=PenaltyPolicy(tiers=[(0.0, 5.0)], modifiers=[]),
    )
    before.set_search_properties(None, None, SPACE)
    before.suggest("a")
    before.on_trial_complete("a", result={"score": 3000.0})
    path = str(tmp_path / "s.pkl")
    before.save(path)
    after = GradedPenaltySearcher("optuna", trial_timeout_s=1)
    after.restore(path)
    assert after.policy == before.policy and after.trial_timeout_s == 60 and after.mode == "min"
    after.suggest("b")
    after.record_failure("b", elapsed_s=1)
    assert after.outcomes["b"].told > 3000.0


def test_a_state_saved_by_version_0_2_restores_and_keeps_placing_failures():
    from ray_graded_penalty import TrialOutcome
    from ray_graded_penalty._core.ledger import FailurePlacement

    placement = FailurePlacement("max", least_magnitude=80.0)
    placement.add_success(-10.0)
    placement.place(1000.0 / 80.0)
    failure = TrialOutcome("f", {"x": 0.9}, failed=True, told=placement.value_at(1000.0 / 80.0), penalty=-1000.0)
    success = TrialOutcome("s", {"x": 0.1}, failed=False, told=-10.0, metric=-10.0)
    v1 = {
        "version": 1, "metric": "score", "mode": "max", "trial_timeout_s": 600.0,
        "policy": PenaltyPolicy(), "placement": placement, "records": {},
        "outcomes": {"f": failure, "s": success}, "failure_magnitudes": {"f": 1000.0},
        "best": success, "least_bad": failure, "keeper": {},
    }
    searcher = GradedPenaltySearcher("hyperopt", trial_timeout_s=600, seed=0, metric="score", mode="max")
    searcher.set_search_properties(None, None, SPACE)
    searcher.set_state(v1)
    assert searcher.best.trial_id == "s" and set(searcher.outcomes) == {"f", "s"}
    searcher.suggest("late")
    searcher.on_trial_complete("late", result={"score": -5000.0})  # worse than the old failure
    assert searcher.outcomes["f"].told < -5000.0  # moved below it, as 0.2 would have


@pytest.mark.parametrize("runs", [None, 3])
def test_runs_per_config_is_kept_and_a_state_from_before_it_means_never_twice(runs):
    from ray_graded_penalty._core import state

    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, runs_per_config=runs, metric="s", mode="max")
    data = searcher.get_state()
    assert state.from_data(data).runs_per_config == runs
    del data["runs_per_config"]
    assert state.from_data(data).runs_per_config == 1


def test_retries_and_transient_classes_are_kept_and_a_state_from_before_them_retries_nothing():
    from ray_graded_penalty._core import state

    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, retries=2, transient=("lost", "connection"),
                                     metric="s", mode="max")
    data = searcher.get_state()
    assert (state.from_data(data).retries, state.from_data(data).transient) == (2, ("lost", "connection"))
    del data["retries"], data["transient"]
    assert (state.from_data(data).retries, state.from_data(data).transient) == (0, ())


def test_a_restored_timeout_is_the_watchdogs_too_and_replaced_settings_are_named(tmp_path, caplog):
    saved = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric="s", mode="max")
    saved.set_search_properties("s", "max", {"x": tune.uniform(0, 1)})
    saved.save(str(tmp_path / "s.pkl"))
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, retries=3, metric="s", mode="max")
    searcher.set_search_properties("s", "max", {"x": tune.uniform(0, 1)})
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        searcher.restore(str(tmp_path / "s.pkl"))
    assert searcher.trial_timeout_s == searcher.callback.timeout.timeout_s == 60
    (message,) = [r.getMessage() for r in caplog.records if r.name.startswith("ray_graded_penalty")]
    assert "trial_timeout_s=60.0 (was 600.0)" in message and "retries=1 (was 3)" in message
    caplog.clear()
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        searcher.restore(str(tmp_path / "s.pkl"))  # the same settings: nothing to say
    assert not [r for r in caplog.records if r.name.startswith("ray_graded_penalty")]
