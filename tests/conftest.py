"""Shared helpers. Ray-backed fixtures start their own local Ray and shut it down.

The suite runs on two xdist workers (``-n 2`` in pyproject.toml): tests that mostly wait (Ray
start-ups, trials that sleep or hang to their timeouts) run while others compute. Each test file
is one unit of work, so that a file's Ray is started once; the multi-node cluster tests are one
unit together, so that no two clusters share the two cores. Each worker keeps one local Ray
(``local_ray``) for every file that needs no other resources, and ends it with the session.
"""

import logging
import os

import pytest
from hypothesis import settings

# No per-example deadline: on two xdist workers beside real Tune runs, an example can wait for
# the CPU longer than Hypothesis's 200 ms, which fails a test that measures no time.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# A ray.init() without an address starts a Ray of its own, in the tests and in the programs they
# start, even while a multi-node test's cluster runs on the other worker (a ray.cluster_utils
# Cluster names itself the machine's current cluster, which ray.init() would join).
os.environ["RAY_ADDRESS"] = "local"
# Ray's workers must import the trainables defined in this folder.
_TESTS = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_TESTS, os.environ.get("PYTHONPATH", "")) if p
)
#: The repository's root, where a user runs the examples from.
ROOT = os.path.dirname(_TESTS)
#: The local Ray ``local_ray`` keeps for the whole session (per xdist worker).
SHARED = {"num_cpus": 2}
_shared = {"running": False}


#: The files that take longest (a minute or more of waiting each), started first so that no
#: worker is left with one of them at the end (longest processing time first).
#: As measured (2026-12-04, seconds a file took on three workers): train 159, tuner 133, report 105,
#: endings 98, all_fail 86, soak 79, ray_searcher_cases 72, cluster 65, benchmarks 63, concurrency 53.
LONGEST = ("test_train.py", "test_tuner.py", "test_report.py", "test_endings.py", "test_all_fail.py", "test_soak.py",
           "test_ray_searcher_cases.py", "test_cluster.py", "test_benchmarks.py", "test_concurrency.py",
           "test_llama_server.py")


def pytest_collection_modifyitems(config, items):
    """One xdist unit of work per test file; the cluster tests one unit together; the longest first."""
    for item in items:
        group = "cluster" if item.get_closest_marker("cluster") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))

    def first(item):
        name = os.path.basename(item.nodeid.split("::")[0])
        return LONGEST.index(name) if name in LONGEST else len(LONGEST)

    items.sort(key=first)  # stable: each file's tests keep their order


@pytest.fixture(autouse=True)
def _exclusive_if_marked(request, tmp_path_factory):
    """A test marked ``exclusive`` (it measures time) runs while no test of the other xdist worker
    does: every test holds a shared lock on one file the workers share, an exclusive test the
    lock alone. (A Ray the other worker starts for its next file may still start meanwhile.)"""
    import fcntl

    root = tmp_path_factory.getbasetemp()
    shared = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # the workers' common folder
    with open(os.path.join(str(shared), "exclusive.lock"), "a+") as lock:
        exclusive = request.node.get_closest_marker("exclusive") is not None
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_runtest_setup(item):
    """A multi-node cluster test connects to a cluster of its own: the shared Ray goes first."""
    if item.get_closest_marker("cluster") and _shared["running"]:
        import ray

        ray.shutdown()
        _shared["running"] = False


def _init(**resources):
    import ray

    if ray.is_initialized():  # left by another file: not ours to keep
        ray.shutdown()
    _shared["running"] = False
    ray.init(include_dashboard=False, logging_level=logging.WARNING, **resources)
    return ray


def own_ray(**resources):
    """Start a local Ray of our own (shutting down one another file left), yield it, stop it."""
    ray = _init(**resources)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_ray():
    """The worker's shared local Ray (2 CPUs): ray.init costs 5-8 s on 2 cores, so files that
    need nothing else share one, started again only after a file with its own Ray."""
    import ray

    if not (_shared["running"] and ray.is_initialized()):
        _init(**SHARED)
        _shared["running"] = True
    yield ray


@pytest.fixture(scope="session", autouse=True)
def _end_the_shared_ray():
    yield
    if _shared["running"]:
        import ray

        ray.shutdown()


def run_python(args, tmp_path=None):
    """Run ``python ARGS`` from the repository's root, as a user would; the finished process."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAY_DEDUP_LOGS": "0"})


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


def overridden_with_other_names(cls, base):
    """The methods of ``base`` that ``cls`` defines again whose leading parameters are not
    ``base``'s names in ``base``'s order (Ray passes some by keyword), and how many it overrides."""
    import inspect

    def names(function):
        return [p.name for p in inspect.signature(function).parameters.values() if p.kind is not p.VAR_KEYWORD]

    overridden = [name for name, member in vars(cls).items()
                  if callable(member) and not name.startswith("__") and callable(getattr(base, name, None))]
    renamed = [n for n in overridden
               if names(getattr(cls, n))[:len(names(getattr(base, n)))] != names(getattr(base, n))]
    return renamed, set(overridden)


def worker_group_error():
    """Ray Train V2's error around its workers' failures (``message, {rank: exception}``):
    ``WorkerGroupError`` from Ray 2.5x, ``TrainingFailedError`` itself before (Ray 2.44). Skips
    the test where Ray has no Train V2 (2.30)."""
    exceptions = pytest.importorskip("ray.train.v2.api.exceptions", reason="Train V2 exists from Ray 2.4x")
    return getattr(exceptions, "WorkerGroupError", exceptions.TrainingFailedError)
