"""Shared helpers. Ray-backed fixtures start their own local Ray and shut it down."""

import logging
import os

import pytest

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# Ray's workers must import the trainables defined in this folder.
_TESTS = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_TESTS, os.environ.get("PYTHONPATH", "")) if p
)


def own_ray(**resources):
    """Start a local Ray of our own (shutting down one another module left), yield it, stop it."""
    import ray

    if ray.is_initialized():  # left by another module: not ours to keep
        ray.shutdown()
    ray.init(include_dashboard=False, logging_level=logging.WARNING, **resources)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray per test module: ray.init costs 5-8 s on 2 cores."""
    yield from own_ray(num_cpus=2)


def optuna_study(searcher):
    """The Optuna study inside a GradedPenaltySearcher's (possibly wrapped) OptunaSearch."""
    from ray_graded_penalty.backends.optuna import OptunaView
    from ray_graded_penalty.compat import base_searcher

    return OptunaView(base_searcher(searcher.searcher)).study


def hyperopt_done_trials(searcher):
    """HyperOpt's trial documents that finished with a loss."""
    from ray_graded_penalty.backends.hyperopt import HyperOptView
    from ray_graded_penalty.compat import base_searcher

    return HyperOptView(base_searcher(searcher.searcher)).done_documents()
