"""The one place that knows Ray's and Optuna's versions."""

import warnings

import optuna
import pytest
import ray

from ray_graded_penalty import compat


def test_a_version_outside_the_tested_range_warns_once_per_package(monkeypatch):
    monkeypatch.setitem(compat.TESTED, "ray", ("0.1.0", "0.2.0"))
    monkeypatch.setitem(compat.TESTED, "optuna", ("99.0.0", "99.1.0"))
    with pytest.warns(UserWarning) as caught:
        compat.check_versions()
    messages = [str(w.message) for w in caught if "is tested with" in str(w.message)]
    assert len(messages) == 2  # one each, no more
    assert sum(f"ray 0.1.0 to 0.2.0; {ray.__version__} is installed" in m for m in messages) == 1
    assert sum(f"optuna 99.0.0 to 99.1.0; {optuna.__version__} is installed" in m for m in messages) == 1


def test_the_installed_versions_are_inside_the_tested_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_versions()


def test_run_config_and_report_come_from_where_this_ray_has_them():
    from ray import train, tune

    home = tune if compat.RAY >= compat.Version("2.41.0") else train
    assert compat.RunConfig is home.RunConfig and compat.report is home.report


def test_a_searcher_written_for_older_ray_gets_its_search_properties_without_the_spec(caplog):
    """A searcher whose ``set_search_properties`` takes no ``**spec`` (Ray's own before 1.x took
    none): Ray 2.30's helper, which the package called, matched the error's text from its start,
    and Python 3.11 names the class first ("Old.set_search_properties() got ..."): it raised."""
    from ray.tune.search import Searcher

    from ray_graded_penalty import GradedPenaltySearcher

    class Old(Searcher):
        def set_search_properties(self, metric, mode, config):
            self.properties = (metric, mode, config)
            return True

        def suggest(self, trial_id):
            return {"x": 0.5}

        def on_trial_complete(self, trial_id, result=None, error=False):
            pass

    old = Old()
    searcher = GradedPenaltySearcher(old, trial_timeout_s=60)
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        assert searcher.set_search_properties("score", "max", {"x": 1}, num_samples=4, stop=None)
    assert old.properties == ("score", "max", {"x": 1})
    assert any("takes no **spec" in r.getMessage() for r in caplog.records)
