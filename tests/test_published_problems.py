"""The benchmarks' published problems: their reference optima match the published best values."""

import pytest

from benchmarks.published import PUBLISHED, SPECS, reference_optimum


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_reference_optimum_is_the_best_known_value(name):
    best_known = SPECS[name][2]
    assert reference_optimum(name, starts=60) == pytest.approx(best_known, rel=1e-4)


def test_gramacy_published_optimum_is_feasible_and_worse_configs_fail():
    problem = PUBLISHED["gramacy"]
    assert not problem.evaluate({"x1": 0.1954, "x2": 0.4044}).failed  # Gramacy et al.'s x*
    outcome = problem.evaluate({"x1": 0.1, "x2": 0.1})
    assert outcome.failed and "constraint g1" in outcome.error and 0.05 <= outcome.fraction < 0.95
