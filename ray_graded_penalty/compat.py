"""Every difference between the Ray, Optuna and HyperOpt versions this package supports.

The versions are read here, and the switches that need no library internals live here. What a
version changes inside a library is handled in the module named for that library, the only one
that reads its private attributes: Optuna's in :mod:`ray_graded_penalty.backends.optuna`,
HyperOpt's in :mod:`ray_graded_penalty.backends.hyperopt`, Ray's in
:mod:`ray_graded_penalty._core.ray_internals`; a new release that moves something breaks there,
loudly, and a test names it.

Tested ranges (``constraints-oldest.txt`` and ``constraints.txt``): Ray 2.30 to 2.60, Optuna
3.6 to 5.0, HyperOpt 0.2.7 to 0.3. A version outside them gets one warning at import.

What differs:

- Ray: ``tune.RunConfig``, ``tune.FailureConfig`` and ``tune.report`` exist from Ray 2.41;
  before, they are in ``ray.train``. ``OptunaSearch(storage=..., study_name=...)``
  exists only in the newer Ray.
- Ray Train: from Ray 2.5x trainers run inside a function trainable (Train V2; see
  :func:`ray_graded_penalty._core.ray_internals.train_v2`).
- Optuna: constraints moved into trials in 5.0 (see :mod:`ray_graded_penalty.backends.optuna`).

Example:
    >>> from ray_graded_penalty import compat
    >>> run_config = compat.RunConfig(callbacks=[])
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Dict, Optional

import optuna
import ray
from packaging.version import Version

logger = logging.getLogger("ray_graded_penalty")

RAY = Version(ray.__version__)
OPTUNA = Version(optuna.__version__)

#: (oldest, newest) version tested of each package; CI runs the suite at both ends.
TESTED = {"ray": ("2.30.0", "2.60.0"), "optuna": ("3.6.0", "5.0.0"), "hyperopt": ("0.2.7", "0.3.0")}


def _installed(name: str) -> Optional[Version]:
    try:
        from importlib.metadata import version

        return Version(version(name))
    except Exception:  # not installed (hyperopt is imported lazily)
        return None


def check_versions() -> None:
    """Warn once for each package whose installed version is outside the tested range."""
    for name, (low, high) in TESTED.items():
        installed = _installed(name)
        if installed is None:
            continue
        base = Version(installed.base_version)
        if base < Version(low) or Version(f"{Version(high).major}.{Version(high).minor + 1}") <= base:
            warnings.warn(
                f"ray-graded-penalty is tested with {name} {low} to {high}; {installed} is "
                f"installed. It may work, but nothing here was tested against it.",
                stacklevel=2,
            )


# ----- Ray --------------------------------------------------------------------------------

if RAY >= Version("2.41.0"):
    from ray.tune import FailureConfig, RunConfig, report  # noqa: F401
else:  # pragma: no cover - exercised by the oldest pins
    from ray.train import FailureConfig, RunConfig, report  # type: ignore[assignment]  # noqa: F401


def set_search_properties(searcher: Any, metric: Any, mode: Any, config: Dict, **spec: Any) -> bool:
    """``searcher.set_search_properties`` as Tune's ``SearchGenerator`` calls it: with Tune's spec,
    or, for a searcher written for older Ray (``set_search_properties(metric, mode, config)``),
    without it. Ray 2.30's own helper missed those on Python 3.11, which names the method's
    class in the error ("S.set_search_properties() got an unexpected keyword argument")."""
    try:
        return searcher.set_search_properties(metric, mode, config, **spec)
    except TypeError as e:
        if "set_search_properties() got an unexpected keyword argument" not in str(e):
            raise
        logger.warning("%s.set_search_properties takes no **spec: Tune's spec is not passed to it (Ray asks "
                       "for def set_search_properties(self, metric, mode, config, **spec) -> bool).",
                       type(searcher).__name__)
        return searcher.set_search_properties(metric, mode, config)


def inner_searchers(searcher: Any) -> list:
    """``searcher`` and the searchers it wraps (``ConcurrencyLimiter``, ``Repeater``), outermost first."""
    from ray.tune.search import ConcurrencyLimiter, Repeater

    chain = [searcher]
    while isinstance(chain[-1], (ConcurrencyLimiter, Repeater)):
        chain.append(chain[-1].searcher)
    return chain


def base_searcher(searcher: Any) -> Any:
    """The innermost searcher under Ray's wrappers."""
    return inner_searchers(searcher)[-1]


def optuna_search_accepts_storage() -> bool:
    """Whether Ray's ``OptunaSearch`` takes ``storage=`` and ``study_name=``."""
    import inspect

    from ray.tune.search.optuna import OptunaSearch

    return "storage" in inspect.signature(OptunaSearch.__init__).parameters


def trial_context() -> Optional[Any]:
    """The running Tune trial's context (``get_trial_id()``, ``get_trial_dir()``), or None."""
    try:
        if RAY >= Version("2.41.0"):
            from ray.tune import get_context
        else:  # pragma: no cover - exercised by the oldest pins
            from ray.train import get_context  # type: ignore[assignment]
        context = get_context()
        return context if context.get_trial_id() else None
    except Exception:  # not inside a Tune trial
        return None


def trial_dir() -> str:
    """The running trial's directory (the working directory outside a trial)."""
    context = trial_context()
    return (context.get_trial_dir() if context else None) or os.getcwd()
