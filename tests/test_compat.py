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
    messages = [str(w.message) for w in caught]
    assert any(f"ray 0.1.0 to 0.2.0; {ray.__version__} is installed" in m for m in messages)
    assert any(f"optuna 99.0.0 to 99.1.0; {optuna.__version__} is installed" in m for m in messages)


def test_the_installed_versions_are_inside_the_tested_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compat.check_versions()


def test_run_config_and_report_come_from_where_this_ray_has_them():
    from ray import train, tune

    home = tune if compat.RAY >= compat.Version("2.41.0") else train
    assert compat.RunConfig is home.RunConfig and compat.report is home.report
