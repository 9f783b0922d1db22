"""The searcher's bookkeeping, driven directly with the real Optuna and HyperOpt searchers."""

import logging
import math
import time

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty import GradedPenaltySearcher, PenaltyPolicy
from ray_graded_penalty.backends.optuna import violation
from ray_graded_penalty.callback import Evidence  # where a user extending the searcher finds it
from ray_graded_penalty.searcher import MAX_IDLE_NONES

from conftest import hyperopt_done_trials, optuna_study, overridden_with_other_names
from searcher_helpers import (
    SPACE,
    OnePointThenNone,
    PointsThenFinished,
    complete_values,
    drive,
    make,
    outcomes,
    ranks_below,
    suggest_and_score,
)


def test_a_success_reaches_the_study_unchanged():
    searcher = make()
    searcher.suggest("a")
    searcher.on_trial_complete("a", result={"score": 12.5})
    assert complete_values(searcher) == [12.5]
    assert searcher.best.trial_id == "a" and not searcher.best.failed


def test_record_failure_before_on_trial_complete_tells_once():
    searcher = make()
    searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=300, error="CUDA out of memory")
    searcher.on_trial_complete("a", error=True)
    assert complete_values(searcher) == [-750.0]
    # violation = 1 + rank: 750 plus the tie-break for failing at half the timeout
    assert violation(optuna_study(searcher).trials[0]) == pytest.approx(1 + 750 + 0.5 * 4.9)


def test_record_failure_after_on_trial_complete_error_tells_once_with_its_details():
    searcher = make()
    searcher.suggest("a")
    searcher.on_trial_complete("a", error=True)
    assert complete_values(searcher) == []  # waits for the details
    searcher.record_failure("a", elapsed_s=30, error="deployment failed")
    searcher.suggest("b")
    assert complete_values(searcher) == [-1200.0]


def test_an_error_without_details_is_told_at_the_next_suggest_and_warns_once(caplog):
    searcher = make()
    searcher.suggest("a")
    searcher.suggest("b")
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        searcher.on_trial_complete("a", error=True)
        searcher.on_trial_complete("b", error=True)  # flushes "a"
        searcher.suggest("c")  # flushes "b"
    assert complete_values(searcher) == [-1000.0, -1000.0]  # elapsed ~0 s: earliest tier
    hints = [r for r in caplog.records if "callbacks=[searcher.callback]" in r.getMessage()]
    assert len(hints) == 1


def test_a_completion_told_twice_reaches_the_study_once():
    searcher = make()
    searcher.suggest("a")
    searcher.on_trial_complete("a", result={"score": 1.0})
    searcher.on_trial_complete("a", result={"score": 2.0})
    searcher.record_failure("a", elapsed_s=1.0)
    assert complete_values(searcher) == [1.0]


@pytest.mark.parametrize("mode,expected", [("max", -80.0), ("min", 80.0)])
def test_a_trial_stopped_before_reporting_the_metric_is_a_timeout(mode, expected, caplog):
    searcher = make(mode=mode)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        for trial_id in ("a", "b"):
            searcher.suggest(trial_id)
            searcher.on_trial_complete(trial_id, result={"time_total_s": 600.0, "other": 1})
    assert complete_values(searcher) == [expected, expected]
    assert searcher.outcomes["a"].error_class == "timeout"
    warned = [r.getMessage() for r in caplog.records if "without reporting" in r.getMessage()]
    assert len(warned) == 1 and "ended without reporting score" in warned[0]  # one warning naming the metric


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_metric_is_graded_as_a_failure_with_a_warning(bad, caplog):
    searcher = make()
    searcher.suggest("a")
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        searcher.on_trial_result("a", {"score": bad, "time_total_s": 1.0})
        searcher.on_trial_complete("a", result={"score": bad, "time_total_s": 1.0})
    assert complete_values(searcher) == [-1000.0]
    assert any("cannot use" in r.getMessage() for r in caplog.records)


def test_failures_move_below_a_success_on_a_negative_scale():
    searcher = make()
    searcher.suggest("f")
    searcher.record_failure("f", elapsed_s=600, error="timeout")
    searcher.suggest("s")
    searcher.on_trial_complete("s", result={"score": -2000.0})
    failure, success = complete_values(searcher)
    assert success == -2000.0 and failure < success
    assert searcher.outcomes["f"].told == failure and searcher.outcomes["f"].penalty == -80.0


def test_outcomes_read_earlier_do_not_change_when_later_trials_move_them():
    searcher = make()
    searcher.suggest("f")
    searcher.record_failure("f", elapsed_s=600, error="timeout")
    read = searcher.outcomes
    read["f"].config["x"] = "changed by the user"
    searcher.suggest("s")
    searcher.on_trial_complete("s", result={"score": -2000.0})  # moves "f" below it
    assert read["f"].told == -80.0 and searcher.outcomes["f"].told < -2000.0
    assert searcher.outcomes["f"].config["x"] != "changed by the user"


# ----- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,kwargs,error,message",
    [
        (("tpe",), dict(trial_timeout_s=600), ValueError, "unknown searcher 'tpe'"),
        ((42,), dict(trial_timeout_s=600), TypeError, "searcher must be one of"),
        (("optuna",), dict(), ValueError, "trial_timeout_s is required"),
        (("optuna",), dict(trial_timeout_s=-5), ValueError, "positive number of seconds"),
        (("optuna",), dict(trial_timeout_s=math.nan), ValueError, "must be finite"),
        (("optuna",), dict(trial_timeout_s=60, mode="maximize"), ValueError, "'max' or 'min'"),
        (("optuna",), dict(trial_timeout_s=60, metric=["a", "b"]), ValueError, "need both lists"),
        (("optuna",), dict(trial_timeout_s=60, metric=["a", "b"], mode="max"), ValueError, "one mode per metric"),
        (("optuna",), dict(trial_timeout_s=60, metric=["a", "a"], mode=["max", "min"]), ValueError, "unique"),
        (("hyperopt",), dict(trial_timeout_s=60, metric=["a", "b"], mode=["max", "min"]), ValueError,
         "HyperOpt backend takes one objective"),
        (("optuna",), dict(trial_timeout_s=60, slos=["p99 < 0.5"]), TypeError, r"slos\[0\] must be an SLO"),
        (("optuna",), dict(trial_timeout_s=60, policy={"tiers": []}), TypeError, "PenaltyPolicy"),
        (("optuna",), dict(trial_timeout_s=60, metric=5, mode="max"), ValueError, "metric must be a metric name.*5"),
        (("optuna",), dict(trial_timeout_s=60, metric=5), ValueError, "metric must be a metric name.*5"),
        (("optuna",), dict(trial_timeout_s=60, metric="m", mode=["max"]), ValueError,
         r"both names or both lists.*metric='m', mode=\['max'\]"),  # was Ray's bare AssertionError
        (("optuna",), dict(trial_timeout_s=60, metric="", mode="max"), ValueError, "metric must be a metric name"),
        (("optuna",), dict(trial_timeout_s=60, metric="m", mode=""), ValueError, "mode must be 'max' or 'min'"),
        (("optuna",), dict(trial_timeout_s=60, points_to_evaluate={"x": 0.5}), TypeError,
         r"points_to_evaluate must be a list of configurations.*\{'x': 0.5\}"),
        (("optuna",), dict(trial_timeout_s=60, points_to_evaluate=[0.5]), TypeError, "each a dict"),
        (("optuna",), dict(trial_timeout_s=60, seed="x"), TypeError, "seed must be an int or None, got 'x'"),
        (("hyperopt",), dict(trial_timeout_s=60, seed=1.5), TypeError, "seed must be an int or None, got 1.5"),
        (("optuna",), dict(trial_timeout_s=60, seed=-1), ValueError, r"seed must be between 0 and 2\*\*32 - 1, got -1"),
        (("hyperopt",), dict(trial_timeout_s=60, seed=2**32), ValueError, "got 4294967296"),  # Optuna's named no value
        (("optuna",), dict(trial_timeout_s=60, slos=5), TypeError, "slos must be an SLO or a list of them.*got 5"),
        (("optuna",), dict(trial_timeout_s=60, slos="p99"), TypeError, "got 'p99'"),  # was "slos[0] ... got 'p'"
        (("optuna",), dict(trial_timeout_s=60, enforce_timeout="no"), TypeError,
         "enforce_timeout must be True or False, got 'no'"),
    ],
)
def test_bad_construction_gets_a_clear_error(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        GradedPenaltySearcher(*args, **kwargs)


def test_several_objectives_with_a_searcher_of_one_and_a_wrapper_in_a_wrapper_are_refused():
    """Found by an audit (2026-12-07): NevergradSearch with two metrics was built and crashed at
    the first success (``_metric_op``), BayesOptSearch at its tenth; a GradedPenaltySearcher
    inside another was told the outer one's failures as successes."""
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.hyperopt import HyperOptSearch
    from ray.tune.search.nevergrad import NevergradSearch

    nevergrad = pytest.importorskip("nevergrad")
    with pytest.raises(ValueError, match="several objectives need Ray's OptunaSearch.*NevergradSearch takes one"):
        GradedPenaltySearcher(NevergradSearch(optimizer=nevergrad.optimizers.OnePlusOne), trial_timeout_s=60,
                              metric=["a", "b"], mode=["max", "min"])
    with pytest.raises(ValueError, match="HyperOpt backend takes one objective"):
        GradedPenaltySearcher(ConcurrencyLimiter(HyperOptSearch(), 2), trial_timeout_s=60, metric=["a", "b"],
                              mode=["max", "min"])
    inner = GradedPenaltySearcher("optuna", trial_timeout_s=60)
    for wrapped in (inner, ConcurrencyLimiter(inner, max_concurrent=2)):
        with pytest.raises(ValueError, match="does not wrap another GradedPenaltySearcher"):
            GradedPenaltySearcher(wrapped, trial_timeout_s=60)


def test_several_objectives_may_be_given_as_tuples():
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=60, metric=("a", "b"), mode=("max", "min"))
    assert (searcher.metric, searcher.mode) == (["a", "b"], ["max", "min"])  # Ray's Searcher refused the tuples


def test_seed_with_a_searcher_instance_is_refused():
    with pytest.raises(ValueError, match="set them on your OptunaSearch"):
        GradedPenaltySearcher(OptunaSearch(), trial_timeout_s=60, seed=1)


def test_a_bad_mode_from_tune_config_is_refused():
    searcher = GradedPenaltySearcher(trial_timeout_s=60)
    with pytest.raises(ValueError, match="mode must be 'max' or 'min', got 'maximum'"):
        searcher.set_search_properties("score", "maximum", SPACE)


def test_record_failure_checks_its_arguments():
    searcher = make()
    searcher.suggest("a")
    with pytest.raises(ValueError, match="elapsed_s must be finite"):
        searcher.record_failure("a", elapsed_s=math.nan)
    with pytest.raises(ValueError, match="timeout_s must be a positive"):
        searcher.record_failure("a", elapsed_s=1, timeout_s=0)
    with pytest.raises(ValueError, match="unknown trial id 'zzz'"):
        searcher.record_failure("zzz", elapsed_s=1)
    assert complete_values(searcher) == []


# ----- the ranking invariant through the real backends ----------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=outcomes, mode=st.sampled_from(["max", "min"]))
def test_optuna_study_never_ranks_a_failure_above_a_success(events, mode):
    searcher = make("optuna", mode)
    drive(searcher, events)
    trials = optuna_study(searcher).trials
    assert len(trials) == len(events) and all(t.state.name == "COMPLETE" for t in trials)
    failed = [t for t in trials if violation(t) > 0]
    succeeded = [t for t in trials if t not in failed]
    assert len(failed) == sum(kind == "f" for kind, _ in events)
    assert ranks_below([t.value for t in failed], [t.value for t in succeeded], mode)


def test_policy_is_used_for_grading():
    policy = PenaltyPolicy(tiers=[(0.0, 7.0)], modifiers=[])
    searcher = make(policy=policy)
    drive(searcher, [("f", (1.0, "OOM"))])
    assert complete_values(searcher) == [-7.0]


# ----- the order in which Ray and the callback report a failure ------------------------------
# These call the hooks GradedPenaltyCallback calls (the real callback runs in test_tuner.py).


def attached(searcher):
    searcher.callback.setup()
    return searcher


def test_in_rays_order_the_callbacks_details_tell_the_failure_at_once():
    searcher = attached(make())
    searcher.suggest("a")
    searcher.trial_started("a")
    searcher.on_trial_complete("a", error=True)
    assert complete_values(searcher) == []
    searcher.trial_errored("a", Evidence("RuntimeError: CUDA out of memory"))
    assert complete_values(searcher) == [-1500.0]
    assert searcher.outcomes["a"].error_class == "oom"


def test_a_trial_completed_with_no_result_is_told_its_last_finite_one():
    """As Tune completes a trial a scheduler stopped while paused (result None, no error)."""
    searcher = attached(make())
    searcher.suggest("a")
    searcher.trial_started("a")
    searcher.on_trial_result("a", {"score": -7.0, "training_iteration": 1})
    searcher.on_trial_result("a", {"score": float("nan"), "training_iteration": 2})  # not kept
    searcher.on_trial_complete("a")
    assert not searcher.outcomes["a"].failed and complete_values(searcher) == [-7.0]
    searcher.suggest("b")
    searcher.trial_started("b")
    searcher.on_trial_complete("b")  # nothing reported: stopped before it reported the metric
    assert searcher.outcomes["b"].failed


@pytest.mark.parametrize("call", [
    lambda searcher: searcher.trial_errored("a", "RuntimeError: boom", "oom"),  # a text and a class
    lambda searcher: searcher.trial_errored("a", error="RuntimeError: CUDA out of memory"),  # by keyword
], ids=["positional", "keyword"])
def test_0_5s_trial_errored_is_told_with_a_deprecation_warning(call):
    searcher = attached(make())
    searcher.suggest("a")
    searcher.trial_started("a")
    searcher.on_trial_complete("a", error=True)
    with pytest.warns(DeprecationWarning, match="0.7.*Evidence"):
        call(searcher)
    assert complete_values(searcher) == [-1500.0]
    assert searcher.outcomes["a"].error_class == "oom"


def test_trial_errored_refuses_evidence_and_0_5s_error_together_or_neither():
    searcher = attached(make())
    with pytest.raises(TypeError, match="not both"):
        searcher.trial_errored("a", Evidence("x"), error="y")
    with pytest.raises(TypeError, match="needs the evidence"):
        searcher.trial_errored("a")


def test_a_record_failure_after_the_trial_was_told_warns_that_its_details_are_not_told(caplog):
    searcher = make()  # driven directly, no Tune loop: as a replay or a simulation is
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", error=True)
    searcher.record_failure("a", elapsed_s=42.0, error="CUDA out of memory")  # right after: told with it
    searcher.on_trial_complete("b", error=True)
    searcher.suggest("c")  # tells "b", still waiting for its details, without them
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        searcher.record_failure("b", elapsed_s=42.0, error="CUDA out of memory")
        searcher.record_failure("b", elapsed_s=42.0, error="CUDA out of memory")
    assert searcher.outcomes["a"].error_class == "oom"
    assert searcher.outcomes["b"].error_class == "crash"
    late = [r for r in caplog.records if "came after the trial was told" in r.getMessage()]
    assert len(late) == 1 and "'b'" in late[0].getMessage()  # once per searcher


def test_if_the_order_flipped_the_failure_is_still_told_once_with_its_details():
    searcher = attached(make())
    searcher.suggest("a")
    searcher.trial_started("a")
    searcher.trial_errored("a", Evidence("Deployment failed"))
    assert complete_values(searcher) == []  # not told before Ray says the trial is over
    searcher.on_trial_complete("a", error=True)
    searcher.on_trial_complete("a", error=True)
    assert complete_values(searcher) == [-1200.0]


def test_a_trial_that_never_started_is_graded_at_the_earliest_tier():
    searcher = attached(make())
    searcher.suggest("a")
    time.sleep(0.05)  # time spent PENDING is not progress
    searcher.on_trial_complete("a", error=True)
    searcher.trial_errored("a", Evidence("RuntimeError: actor could not start"))
    assert searcher.outcomes["a"].elapsed_s == 0.0 and complete_values(searcher) == [-1000.0]


def test_a_trial_the_watchdog_ended_is_a_timeout_whatever_ray_says():
    searcher = attached(make())
    searcher.suggest("a")
    searcher.trial_started("a")
    searcher.trial_timed_out("a")
    searcher.on_trial_complete("a", error=True)
    searcher.trial_errored("a", Evidence("ActorDiedError: The actor died unexpectedly"))
    assert complete_values(searcher) == [-80.0]
    assert searcher.outcomes["a"].completion == 1.0


def test_a_retried_trial_is_graded_from_its_last_attempt():
    searcher = attached(make())
    searcher.suggest("a")
    searcher.trial_started("a")
    searcher.trial_timed_out("a")  # the first attempt timed out and was retried
    searcher.trial_started("a")
    searcher.on_trial_complete("a", error=True)
    searcher.trial_errored("a", Evidence("RuntimeError: boom"))
    assert searcher.outcomes["a"].error == "RuntimeError: boom"
    assert searcher.outcomes["a"].completion < 0.01


def test_0_4_s_name_for_the_inner_searcher_still_answers_with_a_deprecation_warning():
    searcher = make()
    with pytest.warns(DeprecationWarning, match=r"use \.searcher"):
        assert searcher.inner is searcher.searcher


def test_in_tunes_loop_without_the_callback_an_error_is_told_at_once_and_get_state_changes_nothing(caplog):
    """Tune passes its experiment's spec (``num_samples``, ``stop``): no callback will bring an
    error's details, so the failure is told when Ray reports it. ``get_state`` (at every Tune
    checkpoint) is a getter: outside Tune's loop a failure waiting for its details stays waiting."""
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0)
    searcher.set_search_properties("score", "max", SPACE, num_samples=4, stop=None)
    searcher.suggest("a")
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        searcher.on_trial_complete("a", error=True)
    assert len(complete_values(searcher)) == 1 and searcher.outcomes["a"].failed
    assert "callbacks=[searcher.callback]" in caplog.text

    waiting = make()  # driven by a script: record_failure may still follow
    waiting.suggest("b")
    waiting.on_trial_complete("b", error=True)
    saved = waiting.get_state()
    assert complete_values(waiting) == [] and "b" in saved["records"]
    waiting.record_failure("b", elapsed_s=60, error="CUDA out of memory")
    assert waiting.outcomes["b"].error_class == "oom"


# ----- never pay twice ------------------------------------------------------------------------------

SMALL = {"x": tune.choice([1, 2, 3])}


def _small(backend="optuna", **kwargs):
    searcher = GradedPenaltySearcher(backend, trial_timeout_s=600, seed=0, **kwargs)
    searcher.set_search_properties("score", "max", SMALL)
    return searcher


def _run_all(searcher, fails=(), n=12):
    """Suggest and finish until the searcher says it has finished; the configurations run."""
    ran = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        if config == Searcher.FINISHED:
            break
        ran.append(config["x"])
        if config["x"] in fails:
            searcher.record_failure(f"t{i}", elapsed_s=10.0, error="CUDA out of memory")
        else:
            searcher.on_trial_complete(f"t{i}", result={"score": float(config["x"])})
    return ran


@pytest.mark.parametrize("backend", ["optuna", "hyperopt"])
def test_a_finished_configuration_is_not_run_again_and_an_exhausted_space_finishes(backend, caplog):
    searcher = _small(backend)
    with caplog.at_level(logging.WARNING, logger="ray_graded_penalty"):
        ran = _run_all(searcher, fails=(3,))
    assert sorted(ran) == [1, 2, 3]  # each once, then FINISHED: the space is exhausted
    assert sum("the search is finished" in r.getMessage() for r in caplog.records) == 1
    assert len(searcher.outcomes) == 3  # only what ran is an outcome of the search


def test_the_inner_study_hears_each_repeat_with_the_outcome_it_repeats_below_every_success():
    searcher = _small()
    _run_all(searcher, fails=(3,), n=6)
    study = optuna_study(searcher)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) > 3  # the repeats were told, not run
    by_x = {}
    for t in done:
        by_x.setdefault(t.params["x"], set()).add(t.value)
    failed = by_x[3]
    assert len(failed) == 1 and max(failed) < min(by_x[1] | by_x[2])  # told as the failure is told now
    assert all(violation(t) > 0 for t in done if t.params["x"] == 3)


def test_a_repeated_failure_moves_with_it_when_a_success_arrives_below_it():
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0)
    searcher.set_search_properties("score", "max", {"x": tune.choice([1, 2])})
    searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=10.0, error="CUDA out of memory")  # told -1500
    failed_x = searcher.outcomes["a"].config["x"]
    study = optuna_study(searcher)

    def told_failed():
        return [t.value for t in study.trials
                if t.state == optuna.trial.TrialState.COMPLETE and t.params["x"] == failed_x]

    assert searcher.suggest("b")["x"] != failed_x  # the failed one is told again, not run
    for i in range(40):  # b runs: each suggestion of the failed one is a repeat told at once
        searcher.suggest(f"c{i}")
        if len(told_failed()) >= 3:
            break
    assert len(told_failed()) >= 3 and set(told_failed()) == {-1500.0}  # the failure and its repeats
    searcher.on_trial_complete("b", result={"score": -50000.0})  # a success far below -1500
    assert len(told_failed()) >= 3 and all(v < -50000.0 for v in told_failed())  # the repeats moved with it


def test_runs_per_config_repeats_noisy_successes_but_never_a_failure():
    searcher = _small(runs_per_config=3)
    ran = _run_all(searcher, fails=(3,), n=30)
    assert ran.count(3) == 1 and ran.count(1) <= 3 and ran.count(2) <= 3
    assert ran.count(1) + ran.count(2) > 2  # a success may run again


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_runs_per_config_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="runs_per_config must be a positive int.*got"):
        GradedPenaltySearcher("optuna", trial_timeout_s=600, runs_per_config=bad)


def test_a_trial_asked_for_again_is_told_under_the_id_the_inner_searcher_knows_after_a_restore(tmp_path):
    searcher = _small()
    searcher.suggest("t0")
    searcher.on_trial_complete("t0", result={"score": 1.0})
    pending, repeated = [], False
    for i in range(1, 30):
        searcher.suggest(f"t{i}")
        pending.append(f"t{i}")
        repeated = len(optuna_study(searcher).trials) > i + 1  # asked again under another id after a repeat
        if repeated:
            break
    assert repeated  # the small space repeats within 30 suggestions (seeded): the case this test is for
    path = str(tmp_path / "searcher.pkl")
    searcher.save(path)
    after = _small()
    after.restore(path)
    for trial_id in pending:
        after.on_trial_complete(trial_id, result={"score": 2.0})
    study = optuna_study(after)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_a_suggestion_of_a_running_configuration_waits_for_its_outcome_across_a_restore(tmp_path):
    searcher = _small()
    first = searcher.suggest("t0")
    followers = 0
    for i in range(1, 40):  # the inner searcher suggests t0's configuration again while t0 runs
        config = searcher.suggest(f"t{i}")
        if config in (Searcher.FINISHED, None):  # None: only what runs or ran, no trial now
            break
        searcher.on_trial_complete(f"t{i}", result={"score": float(config["x"])})
        assert config != first
    running = [t for t in optuna_study(searcher).trials if t.state == optuna.trial.TrialState.RUNNING]
    followers = len(running) - 1  # t0 and the suggestions waiting for it
    assert followers >= 1
    path = str(tmp_path / "searcher.pkl")
    searcher.save(path)
    after = _small()
    after.restore(path)
    after.on_trial_complete("t0", result={"score": 10.0})
    study = optuna_study(after)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert sum(t.value == 10.0 for t in study.trials) == 1 + followers  # each waiting suggestion told t0's outcome
    assert list(after.outcomes) == [f"t{j}" for j in range(1, i)] + ["t0"]  # only what ran


# ----- transient failures: the configuration runs again, only the last try is told ---------------

LOST = "ray.exceptions.ActorDiedError: The actor died because its node has died. Node Id: 4f2e"


@pytest.mark.parametrize("backend", ["optuna", "hyperopt"])
def test_a_trial_lost_with_its_node_runs_again_and_only_the_retry_is_told(backend):
    searcher = attached(make(backend))
    config = searcher.suggest("a")
    searcher.on_trial_complete("a", error=True)
    searcher.trial_errored("a", Evidence(LOST, stage="node"))  # as the callback reads Ray's error
    assert searcher.outcomes == {} and set(searcher.retried) == {"a"}
    assert searcher.retried["a"].error_class == "lost"
    assert searcher.suggest("b") == config  # the retry comes first
    searcher.on_trial_complete("b", result={"score": 0.7})
    assert set(searcher.outcomes) == {"b"} and searcher.outcomes["b"].told == 0.7
    if backend == "optuna":
        study = optuna_study(searcher)
        assert [(t.params, t.value) for t in study.trials] == [(config, 0.7)]  # one trial, the retry's
    else:
        assert [t["result"]["loss"] for t in hyperopt_done_trials(searcher)] == [-0.7]
    assert searcher.suggest("c") != config


def test_a_retrys_intermediate_results_are_not_reported_twice_under_the_first_trys_id(recwarn):
    searcher = attached(make())
    config = searcher.suggest("a")
    searcher.on_trial_result("a", {"score": 0.1, "training_iteration": 1})
    searcher.on_trial_complete("a", error=True)
    searcher.trial_errored("a", Evidence(LOST, stage="node"))
    assert searcher.suggest("b") == config
    searcher.on_trial_result("b", {"score": 0.2, "training_iteration": 1})  # the retry's first step
    searcher.on_trial_complete("b", result={"score": 0.7, "training_iteration": 2})
    (trial,) = optuna_study(searcher).trials
    assert trial.value == 0.7 and trial.intermediate_values == {1: 0.1}
    assert not [w for w in recwarn if "already reported" in str(w.message)]


def test_once_no_trial_will_come_a_queued_retry_is_told_and_a_later_loss_at_once():
    searcher = make()
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    assert set(searcher.retried) == {"a"} and searcher.outcomes == {}
    searcher.search_ended()  # the callback: Tune made all its trials
    assert set(searcher.outcomes) == {"a"} and searcher.retried == {}
    assert searcher.outcomes["a"].error_class == "lost" and complete_values(searcher) == [-1000.0]
    searcher.record_failure("b", elapsed_s=30.0, error=LOST, error_class="lost")
    assert set(searcher.outcomes) == {"a", "b"} and searcher.retried == {}
    attached(searcher).suggest("c")  # a run starts again (Tuner.restore): trials will come
    searcher.record_failure("c", elapsed_s=30.0, error=LOST, error_class="lost")
    assert set(searcher.retried) == {"c"}


def test_a_retry_tune_cuts_off_after_the_search_ended_tells_its_first_try_at_once():
    searcher = make()
    config = searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    assert searcher.suggest("b") == config  # the retry, Tune's last trial
    searcher.search_ended()
    assert searcher.outcomes == {} and set(searcher.retried) == {"a"}  # it runs
    searcher.trial_stopped("b")  # Tune's time budget ended the run
    assert set(searcher.outcomes) == {"a"} and searcher.retried == {}
    assert searcher.outcomes["a"].error_class == "lost" and complete_values(searcher) == [-1000.0]


def test_once_the_inner_searcher_finished_a_later_loss_is_told_at_once():
    searcher = GradedPenaltySearcher(PointsThenFinished(), trial_timeout_s=600)
    searcher.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    searcher.suggest("a")
    searcher.suggest("b")
    assert searcher.suggest("c") == Searcher.FINISHED  # Tune asks no more
    searcher.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    assert set(searcher.outcomes) == {"a"} and searcher.retried == {}


def finished_with_b_running():
    """A searcher in a run: its inner searcher answered FINISHED while trial ``b`` still runs."""
    searcher = attached(GradedPenaltySearcher(PointsThenFinished(), trial_timeout_s=600))
    searcher.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    searcher.suggest("a")
    searcher.suggest("b")
    assert searcher.suggest("c") == Searcher.FINISHED
    searcher.on_trial_complete("a", result={"score": 0.5})
    return searcher


def test_restored_after_it_answered_finished_a_later_loss_is_told_at_once():
    saved = finished_with_b_running().get_state()
    after = GradedPenaltySearcher(PointsThenFinished(), trial_timeout_s=600)
    after.set_state(saved)
    attached(after)  # Tune restores the searcher, then starts its callbacks; it asks for no trial
    after.record_failure("b", elapsed_s=30.0, error=LOST, error_class="lost")
    assert set(after.outcomes) == {"a", "b"} and after.retried == {}
    assert after.outcomes["b"].error_class == "lost"


def test_reused_in_a_new_run_after_it_answered_finished_a_loss_is_retried():
    searcher = finished_with_b_running()
    searcher.on_trial_complete("b", result={"score": 0.7})
    searcher.searcher.points = 4  # it has one more configuration in the next run (asked 3 times so far)
    attached(searcher).suggest("c")  # a new Tuner with the same searcher: Tune asks it at once
    assert searcher.get_state()["finished"] is False
    searcher.record_failure("c", elapsed_s=30.0, error=LOST, error_class="lost")
    assert set(searcher.outcomes) == {"a", "b"} and set(searcher.retried) == {"c"}


def test_a_searcher_that_ran_before_restores_as_a_new_one_does(tmp_path, caplog):
    checkpoint = make(retries=1)  # a run where most trials failed
    for i in range(12):
        config = checkpoint.suggest(f"y{i}")
        if i in (3, 7):
            checkpoint.on_trial_complete(f"y{i}", result={"score": config["x"]})
        else:
            checkpoint.record_failure(f"y{i}", elapsed_s=5.0, error="boom")
    checkpoint.save(str(tmp_path / "y.pkl"))
    used = make(retries=3)  # it ran another experiment to its end first: every trial a success
    for i in range(12):
        used.on_trial_complete(f"x{i}", result={"score": used.suggest(f"x{i}")["x"]})
    used.suggest("x-pending")
    used.experiment_ended()
    new = make(retries=1)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        for searcher in (used, new):
            searcher.restore(str(tmp_path / "y.pkl"))
    (replaced,) = [r.getMessage() for r in caplog.records if "replace this searcher's" in r.getMessage()]
    assert "retries=1 (was 3)" in replaced  # used's own setting: the checkpoint's wins, said once

    def go_on(searcher):  # trials at once: TPE's good group counts the successes among them
        configs = [searcher.suggest(f"z{i}") for i in range(4)]
        searcher.record_failure("z0", elapsed_s=3.0, error=LOST, error_class="lost")
        return configs, sorted(searcher.retried)

    assert go_on(used) == go_on(new)
    assert go_on(used)[1] == ["z0"]  # retried: the last run's end does not hold after a restore


def test_after_many_nones_a_new_run_starts_with_its_own_count():
    searcher = attached(GradedPenaltySearcher(OnePointThenNone(), trial_timeout_s=600))
    searcher.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    searcher.on_trial_complete("a", result={"score": searcher.suggest("a")["x"]})
    answers = [searcher.suggest(f"n{i}") for i in range(MAX_IDLE_NONES)]
    assert answers[-1] == Searcher.FINISHED
    attached(searcher)  # a new run with the same searcher
    assert searcher.suggest("next") is None  # one None, not the last run's count


def test_a_state_loaded_twice_is_shared_by_neither():
    def one_choice():
        searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0)
        searcher.set_search_properties("score", "max", {"x": tune.choice([0])})
        return searcher

    running = one_choice()
    running.suggest("a")
    state = running.get_state()
    first, second = one_choice(), one_choice()
    for searcher in (first, second):
        searcher.set_state(state)
    before = repr(state)
    assert first.suggest("b") is None  # the one configuration again: it waits for a's outcome
    assert first.get_state()["records"]["a"]["followers"] != []
    assert repr(state) == before and second.get_state()["records"]["a"]["followers"] == []


def test_the_state_names_the_parameters_sampled_on_a_log_scale_for_the_report():
    from ray_graded_penalty.report import log_scaled

    assert log_scaled({"a": tune.qloguniform(1e-6, 1e-2, 1e-6), "b": tune.qlograndint(8, 512, 8),
                       "c": tune.quniform(0, 1, 0.1), "d": 3}) == ("a", "b")
    space = {"lr": tune.loguniform(1e-5, 0.1), "batch": tune.lograndint(8, 512), "x": tune.uniform(0, 1),
             "train": {"wd": tune.loguniform(1e-6, 1e-2), "layers": tune.choice([1, 2])}}
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0)
    searcher.set_search_properties("score", "max", space)
    assert searcher.get_state()["log_scale"] == ["batch", "lr", "train/wd"]
    restored = GradedPenaltySearcher(OptunaSearch(space={"x": optuna.distributions.FloatDistribution(0, 1)},
                                                  metric="score", mode="max"), trial_timeout_s=600)
    restored.set_state(searcher.get_state())
    restored.set_search_properties(None, None, {})  # Tune's space is the inner searcher's: none here
    assert restored.get_state()["log_scale"] == ["batch", "lr", "train/wd"]  # kept from the state


def test_a_second_loss_of_the_same_configuration_is_the_configurations():
    searcher = make()
    config = searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    assert searcher.suggest("b") == config
    searcher.record_failure("b", elapsed_s=30.0, error=LOST, error_class="lost")
    assert set(searcher.retried) == {"a"} and set(searcher.outcomes) == {"b"}
    assert searcher.outcomes["b"].error_class == "lost" and complete_values(searcher) == [-1000.0]
    assert searcher.suggest("c") != config  # never a third time


def test_out_of_memory_is_never_retried_and_retries_0_tells_a_loss_at_once():
    searcher = make()
    config = searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=30.0, error="torch.OutOfMemoryError: CUDA out of memory")
    assert searcher.retried == {} and searcher.outcomes["a"].error_class == "oom"
    assert searcher.suggest("b") != config
    once = make(retries=0)
    once.suggest("a")
    once.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    assert once.retried == {} and once.outcomes["a"].error_class == "lost"


def test_a_users_own_transient_class_is_retried():
    searcher = make(transient=("lost", "connection"))
    config = searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=5.0, error="ConnectionResetError: [Errno 104] Connection reset by peer")
    assert set(searcher.retried) == {"a"} and searcher.suggest("b") == config


def test_a_retry_no_trial_came_for_is_told_when_the_experiment_ends():
    searcher = make()
    searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    searcher.experiment_ended()
    assert searcher.retried == {} and searcher.outcomes["a"].error_class == "lost"
    assert complete_values(searcher) == [-1000.0]  # told once, as it ended


def test_a_retry_waiting_survives_a_restore(tmp_path):
    searcher = make()
    config = searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    path = str(tmp_path / "searcher.pkl")
    searcher.save(path)
    after = make()
    after.restore(path)
    assert set(after.retried) == {"a"} and after.suggest("b") == config
    after.on_trial_complete("b", result={"score": 0.5})
    assert complete_values(after) == [0.5]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"retries": -1}, ValueError, "retries must be a non-negative int.*got -1"),
    ({"retries": True}, ValueError, "retries must be a non-negative int.*got True"),
    ({"retries": 1.0}, ValueError, "retries must be a non-negative int.*got 1.0"),
    ({"transient": "lost"}, TypeError, "transient must be a list or tuple of error classes.*got 'lost'"),
    ({"transient": ("lost", "preempted")}, ValueError, r"does not know: \['preempted'\]; the classes a failure"),
])
def test_bad_retries_or_transient_classes_are_refused_at_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        GradedPenaltySearcher("optuna", trial_timeout_s=600, **kwargs)


def test_a_trial_retried_elsewhere_is_settled_for_the_callback():
    searcher = make()
    searcher.suggest("a")
    searcher.record_failure("a", elapsed_s=30.0, error=LOST, error_class="lost")
    # Tune may start "a" again after a restore (its actor died before the experiment was saved):
    # its configuration runs as the retry, so the callback ends "a" at its start.
    assert searcher.already_told("a")
    searcher.record_failure("a", elapsed_s=1.0, error="CUDA out of memory")  # nothing more is told
    assert searcher.outcomes == {} and searcher.retried["a"].error_class == "lost"


def test_a_searcher_that_keeps_to_what_is_running_gets_no_trial_now_not_the_end():
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0)
    searcher.set_search_properties("score", "max", {"x": tune.choice([1])})
    assert searcher.suggest("t0") == {"x": 1}
    assert searcher.suggest("t1") is None  # only t0's configuration, still running: Ray asks again later
    searcher.on_trial_complete("t0", result={"score": 1.0})
    assert searcher.suggest("t2") == Searcher.FINISHED  # now it has finished: the space is exhausted
    assert set(searcher.outcomes) == {"t0"}


def test_an_inner_searcher_that_gives_nothing_while_nothing_runs_ends_the_search(caplog):
    searcher = GradedPenaltySearcher(OnePointThenNone(), trial_timeout_s=600)
    searcher.set_search_properties("score", "max", {"x": tune.uniform(0, 1)})
    assert searcher.suggest("t0") == {"x": 0.5}
    assert [searcher.suggest(f"w{i}") for i in range(300)] == [None] * 300  # t0 runs: it may change the answer
    searcher.on_trial_complete("t0", result={"score": 1.0})
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        answers = [searcher.suggest(f"t{i}") for i in range(1, MAX_IDLE_NONES + 1)]
    assert answers == [None] * (MAX_IDLE_NONES - 1) + [Searcher.FINISHED]
    assert sum("gave no configuration" in r.getMessage() for r in caplog.records) == 1


def test_every_method_of_rays_searcher_it_overrides_keeps_rays_argument_names():
    """Ray's loop and wrappers may pass any argument by name: each method of Ray's ``Searcher``
    the wrapper defines again takes Ray's parameters, under Ray's names, in Ray's order (0.6 had
    renamed ``set_state``'s ``state``)."""
    renamed, overridden = overridden_with_other_names(GradedPenaltySearcher, Searcher)
    assert {"suggest", "on_trial_complete", "set_search_properties", "set_state", "get_state"} <= overridden
    assert renamed == []


def test_a_metric_beyond_a_floats_range_is_a_failure_told_once_not_an_error():
    """``10**400`` (a Python int) made ``on_trial_result`` raise OverflowError, and at the
    trial's end the trial was lost: taken from the book, never told."""
    searcher = make()
    searcher.suggest("a")
    searcher.on_trial_result("a", {"score": 10**400, "training_iteration": 1})
    searcher.on_trial_complete("a", result={"score": 10**400, "training_iteration": 1})
    [outcome] = searcher.outcomes.values()
    assert outcome.failed and outcome.error_class == "crash" and "finite" in outcome.error


def test_best_and_the_pareto_front_are_copies_as_outcomes_is():
    """``best`` and ``pareto_front`` handed out the ledger's own outcomes: one held while everything
    failed changed when a later success moved it, and one written to rewrote ``outcomes``."""
    searcher = make()
    searcher.suggest("f1")
    searcher.record_failure("f1", elapsed_s=5, error="CUDA out of memory")
    held = searcher.best
    told_then = held.told
    searcher.suggest("s1")
    searcher.on_trial_complete("s1", result={"score": -5000.0, "training_iteration": 1})
    assert held.told == told_then  # the failure moved below the success; what was read did not
    searcher.best.told = -1e9
    searcher.pareto_front[0].told = 123.0
    assert searcher.outcomes["s1"].told == -5000.0


@pytest.mark.parametrize("backend", ["optuna", "hyperopt"])
def test_a_suggestion_changed_by_its_caller_is_still_known_as_what_was_suggested(backend):
    """Driven without Tune (which copies the config), a script that added its constants to the
    dict ``suggest`` returned changed what the searcher kept: the configuration ran twice."""
    searcher = GradedPenaltySearcher(backend, trial_timeout_s=600, seed=0)
    searcher.set_search_properties("score", "max", {"x": tune.choice([1, 2])})
    seen = suggest_and_score(searcher, 4, "x", change=lambda config: config.update(batch=32))  # a constant of its own
    assert sorted(seen) == [1, 2]
