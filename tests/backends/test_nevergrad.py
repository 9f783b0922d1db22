"""Ray's NevergradSearch, wrapped: failures are told to it as errors, as Ray tells them."""

import pytest

from ray_graded_penalty import GradedPenaltySearcher

ng = pytest.importorskip("nevergrad")


def test_a_warm_start_of_nevergrad_is_refused_when_the_searcher_is_built():
    from ray.tune.search.nevergrad import NevergradSearch

    from searcher_helpers import earlier_run

    with pytest.raises(ValueError, match="NevergradSearch has none: wrap OptunaSearch or HyperOptSearch"):
        GradedPenaltySearcher(NevergradSearch(optimizer=ng.optimizers.OnePlusOne), trial_timeout_s=600,
                              warm_start=earlier_run(rows=3))


def test_nevergrad_hears_a_failure_as_an_error_and_every_trial_is_graded():
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.nevergrad import NevergradSearch

    for limited in (False, True):
        optimizer = ng.optimizers.OnePlusOne(parametrization=ng.p.Dict(x=ng.p.Scalar(lower=0, upper=1)), budget=50)
        told = []
        tell = optimizer.tell
        optimizer.tell = lambda candidate, loss, *args, **kwargs: (told.append(loss), tell(candidate, loss, *args,
                                                                                              **kwargs))
        inner = NevergradSearch(optimizer=optimizer, metric="score", mode="max")
        searcher = GradedPenaltySearcher(ConcurrencyLimiter(inner, 2) if limited else inner, trial_timeout_s=600)
        for i, outcome in enumerate(["s", "f", "s", "f"]):
            searcher.suggest(f"t{i}")
            if outcome == "s":
                searcher.on_trial_complete(f"t{i}", result={"score": float(i)})
            else:
                searcher.record_failure(f"t{i}", elapsed_s=10.0, error="CUDA out of memory")
        assert told == [-0.0, -2.0]  # only the successes reached the optimizer (it minimizes)
        assert [o.failed for o in searcher.outcomes.values()] == [False, True, False, True]
        assert searcher.outcomes["t1"].error_class == "oom"
