"""Any other Ray searcher: each failure is told below every success told before it."""

import pytest
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.backends import OptunaRankKeeper, keeper_for

from searcher_helpers import HISTORY_SPACE, SPACE, NoHistorySearcher, Recording, complete_values, drive, earlier_run


@pytest.mark.parametrize("wrap", [lambda s: s, lambda s: ConcurrencyLimiter(s, max_concurrent=2)])
def test_a_searcher_without_add_evaluated_point_refuses_a_warm_start_when_built(wrap):
    with pytest.raises(ValueError, match="warm start needs an inner searcher with Ray's add_evaluated_point; "
                                         "(NoHistorySearcher|ConcurrencyLimiter) has none"):
        GradedPenaltySearcher(wrap(NoHistorySearcher()), trial_timeout_s=600, warm_start=earlier_run(rows=3))


def test_add_history_without_add_evaluated_point_says_it_cannot_warm_start():
    searcher = GradedPenaltySearcher(NoHistorySearcher(), trial_timeout_s=600)
    searcher.set_search_properties("score", "max", HISTORY_SPACE)
    with pytest.raises(NotImplementedError, match="warm start needs an inner searcher with Ray's add_evaluated_point"):
        searcher.add_history(earlier_run(rows=3))


def test_a_searcher_under_a_concurrency_limiter_gets_its_backend_and_each_failure_below_earlier_successes():
    inner = ConcurrencyLimiter(OptunaSearch(space=SPACE, metric="score", mode="max"), max_concurrent=4)
    searcher = GradedPenaltySearcher(inner, trial_timeout_s=600)
    assert isinstance(keeper_for(inner), OptunaRankKeeper)  # the limiter's base gets its backend
    drive(searcher, [("s", -3000.0), ("f", (10.0, "")), ("s", -2500.0), ("f", (600.0, "timeout"))])
    values = complete_values(searcher)
    assert len(values) == 4 and max(values[1], values[3]) < -3000.0
    assert values[1] < values[3]  # the earlier failure ranks lower


def test_a_repeater_is_refused_saying_what_to_do_instead():
    from ray.tune.search import ConcurrencyLimiter, Repeater
    from ray.tune.search.optuna import OptunaSearch

    for inner in (Repeater(OptunaSearch(), repeat=3), ConcurrencyLimiter(Repeater(OptunaSearch(), repeat=2), 2)):
        with pytest.raises(ValueError, match="does not wrap a Repeater.*Repeat inside your trainable instead"):
            GradedPenaltySearcher(inner, trial_timeout_s=60)


def test_a_searcher_that_keeps_what_it_is_told_hears_every_failure_by_its_value():
    """Without a backend, every failure is told by its graded value, also before any success.
    Told as errors instead, a searcher that skips what it has seen (BayesOptSearch's
    ``skip_duplicate``) learned nothing from its failures, kept proposing the one point it had
    seen, answered None for good, and Tune waited for ever."""
    inner = Recording()
    searcher = GradedPenaltySearcher(inner, trial_timeout_s=600)
    drive(searcher, [("f", (10.0, "")), ("f", (600.0, "timeout")), ("s", -5000.0), ("f", (10.0, ""))])
    values = [value for _, value in inner.told]
    assert None not in values and values[2] == -5000.0
    assert values[3] < -5000.0  # below the success told before it
    assert [o.failed for o in searcher.outcomes.values()] == [True, True, False, True]  # every trial graded


@pytest.mark.parametrize("inner", ["hyperopt", "bayesopt"])
def test_an_inner_searcher_built_for_the_other_mode_is_refused(inner):
    """``HyperOptSearch(space, metric="score", mode="min")`` inside a search that maximizes keeps its
    own mode (``set_search_properties`` returns False): a failure told -1500 was its best trial."""
    from ray import tune

    space = {"x": tune.uniform(0, 1)}
    if inner == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        built = HyperOptSearch(space=space, metric="score", mode="min")
    else:
        pytest.importorskip("bayes_opt")
        from ray.tune.search.bayesopt import BayesOptSearch

        built = BayesOptSearch(space=space, metric="score", mode="min")
    searcher = GradedPenaltySearcher(built, trial_timeout_s=60, metric="score", mode="max")
    with pytest.raises(ValueError, match=r"built with mode='min'; this search's mode is 'max'"):
        searcher.set_search_properties(None, None, space)
    same = GradedPenaltySearcher(HyperOptSearch(space=space, metric="score", mode="min") if inner == "hyperopt"
                                 else BayesOptSearch(space=space, metric="score", mode="min"), trial_timeout_s=60)
    same.set_search_properties(None, None, space)  # the mode taken from the inner searcher: no error
