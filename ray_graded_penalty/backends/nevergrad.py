"""Ray's ``NevergradSearch``: told a failure as an error, as Ray tells it.

Nevergrad's default optimizers are evolution strategies that adapt their step size to how
often a new point beats the current one. Told by its graded value, every failure counts as a
point that did not: with 16 trials at once the step size shrank far from the optimum, and
wrapped ``NevergradSearch`` (OnePlusOne) was worse than bare in 7 of 10 problems (one at a
time, level or better in all). Told as an error, Ray's own way, Nevergrad drops the point and
the wrapped searcher is the bare one (benchmarks/RESULTS.md, "Any searcher"); its trials are
still graded, kept in ``outcomes``, timed out, retried and reported.
"""

from __future__ import annotations

from ray.tune.search import Searcher

from ray_graded_penalty.backends.generic import RankKeeper


def is_nevergrad(searcher: Searcher) -> bool:
    """Whether ``searcher`` is Ray's ``NevergradSearch`` (importable only with nevergrad installed)."""
    return type(searcher).__name__ == "NevergradSearch" and type(searcher).__module__.startswith("ray.tune.search")


class NevergradRankKeeper(RankKeeper):
    """Tells a trial below the successes to Nevergrad as an error (see the module's docstring)."""

    tells_failures_as_errors = True
