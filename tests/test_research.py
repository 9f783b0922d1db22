"""The research side of the benchmarks: its prototypes change nothing one trial at a time
(its quick run is checked in test_benchmarks.py, on the benchmark's own quick results)."""

import pytest

from ray_graded_penalty.backends.optuna import HAS_TRIAL_CONSTRAINTS
from ray_graded_penalty.compat import OPTUNA


def _change_only_while_trials_run(problem, backend, variants, changed):
    """Each of ``variants`` suggests as ``backend`` one trial at a time; each of ``changed``
    suggests otherwise with 4 trials at once."""
    from benchmarks.asynchronous import simulate
    from benchmarks.research.variants import ALL_METHODS

    methods = {**ALL_METHODS, **variants}

    def values(method, workers):
        run = simulate(problem, method, 0, workers, gpu_budget=15.0 * workers, methods=methods)
        return [t["value"] for t in run["trials"]]

    one_at_a_time = values(backend, 1)
    for name in variants:  # one trial at a time each is the backend as it ships
        assert values(name, 1) == one_at_a_time, name
    while_running = values(backend, 4)
    for name in changed:
        assert values(name, 4) != while_running, name


def test_hyperopt_prototypes_change_the_split_only_while_trials_run():
    from benchmarks.research.hyperopt_variants import HYPEROPT_VARIANTS

    _change_only_while_trials_run("spring", "graded_hyperopt", HYPEROPT_VARIANTS,
                                  ("ho_failures_out", "ho_joint_veto"))


@pytest.mark.skipif(not HAS_TRIAL_CONSTRAINTS,
                    reason=f"the Optuna prototypes read a failure's violation from Optuna 5's trial "
                    f"constraints, as at the benchmarks' pins (here Optuna {OPTUNA})")
def test_optuna_prototypes_change_the_model_only_while_trials_run():
    from benchmarks.research.optuna_variants import OPTUNA_VARIANTS

    _change_only_while_trials_run("pressure_vessel", "graded_optuna", OPTUNA_VARIANTS, OPTUNA_VARIANTS)
