"""Any other Ray searcher: each failure is told below every success told before it."""

import pytest
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty import GradedPenaltySearcher

from searcher_helpers import HISTORY_SPACE, SPACE, NoHistorySearcher, complete_values, drive, earlier_run


def test_a_searcher_without_add_evaluated_point_says_it_cannot_warm_start():
    searcher = GradedPenaltySearcher(NoHistorySearcher(), trial_timeout_s=600, warm_start=earlier_run(rows=3))
    with pytest.raises(NotImplementedError, match="warm start needs an inner searcher with add_evaluated_point"):
        searcher.set_search_properties("score", "max", HISTORY_SPACE)


def test_a_wrapped_searcher_places_each_failure_below_earlier_successes():
    inner = ConcurrencyLimiter(OptunaSearch(space=SPACE, metric="score", mode="max"), max_concurrent=4)
    searcher = GradedPenaltySearcher(inner, trial_timeout_s=600)
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


class Recording(Searcher):
    """A searcher that keeps what it is told and cannot rewrite it (as NevergradSearch, BayesOptSearch)."""

    def __init__(self):
        super().__init__(metric="score", mode="max")
        self.told = []

    def suggest(self, trial_id):
        return {"x": len(self.told) / 10}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.told.append((trial_id, None if error else result["score"]))


def test_a_searcher_that_keeps_what_it_is_told_hears_failures_as_errors_until_a_success():
    """Told by value before any success, a failure would rank above every later success for good
    (such a searcher cannot be rewritten): until a success, it hears a failure as Ray tells it."""
    inner = Recording()
    searcher = GradedPenaltySearcher(inner, trial_timeout_s=600)
    drive(searcher, [("f", (10.0, "")), ("f", (600.0, "timeout")), ("s", -5000.0), ("f", (10.0, ""))])
    assert [value for _, value in inner.told[:3]] == [None, None, -5000.0]
    assert inner.told[3][1] < -5000.0  # once a success is known: by value, below it
    assert [o.failed for o in searcher.outcomes.values()] == [True, True, False, True]  # every trial graded
