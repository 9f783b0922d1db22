"""Checks of the numbers and modes users give, each raising an error that names the bad value.

Pure logic, no import.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Collection, Dict, Optional, Sequence, Tuple

MODES: Tuple[str, ...] = ("max", "min")


def check_mode(mode: object) -> str:
    """Return ``mode`` if it is "max" or "min", else raise a ValueError naming it."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    return str(mode)


def real_number(value: object) -> Optional[float]:
    """``value`` as a float if it is a real number, numpy's scalars included (``np.float32``,
    ``np.int64``: what a trainable's ``np.mean`` reports) and a 0-d array or tensor of one
    (``np.asarray(x)``, a tensor reported without ``.item()``: Optuna takes it), but not a bool;
    else None. An integer beyond a float's range is infinite."""
    item = getattr(value, "item", None)
    if getattr(value, "ndim", None) == 0 and callable(item):
        value = item()  # a 0-d array: the number it holds (a bool stays a bool)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:  # 10**400: an int (or a Fraction) beyond a float's range
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]


def finite_number(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number (not a bool), else a TypeError or ValueError naming it."""
    number = real_number(value)
    if number is None:
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def check_timeout(name: str, timeout_s: object) -> float:
    """Return ``timeout_s`` as a float if it is a positive, finite number of seconds."""
    value = finite_number(name, timeout_s)
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {timeout_s!r}")
    return value


def check_elapsed(elapsed_s: object) -> float:
    """Return ``elapsed_s`` as a float if it is a finite, non-negative number of seconds."""
    value = finite_number("elapsed_s", elapsed_s)
    if value < 0:
        raise ValueError(f"elapsed_s must not be negative, got {elapsed_s!r}")
    return value


def check_failure(elapsed_s: object, error: object, timeout_s: object, error_class: object,
                  classes: Sequence[str]) -> Tuple[float, str, Optional[float], Optional[str]]:
    """A failure's details as given to ``record_failure``: its elapsed seconds, its error text,
    its own timeout (or None) and its error class (one of ``classes``, or None)."""
    elapsed = check_elapsed(elapsed_s)
    timeout = None if timeout_s is None else check_timeout("timeout_s", timeout_s)
    if not isinstance(error, str):
        raise TypeError(f"error must be a string, got {type(error).__name__}: {error!r}")
    if error_class is not None and error_class not in classes:
        raise ValueError(f"error_class must be one of {list(classes)} or None, got {error_class!r}")
    return elapsed, error, timeout, error_class  # type: ignore[return-value]


def check_retries(retries: object, transient: object, classes: Sequence[str]) -> Tuple[int, Tuple[str, ...]]:
    """``retries`` (a non-negative int) and ``transient`` (classes among ``classes``) as a searcher takes them."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative int (how many times a configuration runs again after "
                         f"a failure of a transient class; 0: never), got {retries!r}")
    if isinstance(transient, str) or not isinstance(transient, (list, tuple, set, frozenset)):
        raise TypeError(f"transient must be a list or tuple of error classes, e.g. ('lost',), got {transient!r}")
    names = tuple(transient)
    unknown = [name for name in names if name not in classes]
    if unknown:
        raise ValueError(f"transient names error classes the policy does not know: {unknown}; the classes a "
                         f"failure can have are {list(classes)}")
    return retries, names


def check_backend_args(seed: object, points_to_evaluate: object) -> None:
    """A built-in backend's ``seed`` (an int or None) and ``points_to_evaluate`` (a list of
    configurations, each a dict, or None)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    if seed is not None and not 0 <= seed < 2**32:  # what numpy's and Optuna's generators take
        raise ValueError(f"seed must be between 0 and 2**32 - 1, got {seed!r}")
    configs = points_to_evaluate if isinstance(points_to_evaluate, (list, tuple)) else None
    if points_to_evaluate is not None and (configs is None or not all(isinstance(p, dict) for p in configs)):
        raise TypeError(f"points_to_evaluate must be a list of configurations, each a dict such as "
                        f"[{{'x': 0.5}}], got {points_to_evaluate!r}")


#: Why Ray's ``Repeater`` is refused, inside the searcher or around it, and what to do instead.
REPEATER_REFUSED = (
    "Ray's Repeater averages the repeats of a configuration into one result for one trial, a failed repeat "
    "with the successes of its group, and passes on only its last repeat's error flag: a failure can be told "
    "as a success, or ranked above one. Repeat inside your trainable instead (report the mean of its runs; "
    "a run that fails fails the trial), or give noisy configurations more samples")


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is True or False, else a TypeError naming it."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_past_parameters(config: Dict[str, Any], space: Collection[str]) -> None:
    """An earlier trial of a warm start names exactly the search space's parameters (a nested
    space's as Tune flattens them, ``outer/inner``)."""
    if set(config) != set(space):
        raise ValueError(f"an earlier trial's parameters {sorted(config)} do not match the search space's "
                         f"{sorted(space)}: a warm start needs every parameter, and no other (a nested "
                         f"space's as Tune flattens them, 'outer/inner')")
