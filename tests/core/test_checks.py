"""Checks of the numbers and modes users give: each error names the bad value."""

import math

import numpy as np
import pytest

from ray_graded_penalty._core.checks import (
    check_elapsed,
    check_failure,
    check_mode,
    check_timeout,
    finite_number,
    real_number,
)


def test_a_mode_is_max_or_min():
    assert check_mode("min") == "min"
    with pytest.raises(ValueError, match="mode must be 'max' or 'min', got 'MAX'"):
        check_mode("MAX")


@pytest.mark.parametrize("value, error, message", [
    (True, TypeError, "x must be a number, got True"),
    ("3", TypeError, "x must be a number, got '3'"),
    (math.inf, ValueError, "x must be finite, got inf"),
    (math.nan, ValueError, "x must be finite, got nan"),
])
def test_a_finite_number_and_nothing_else(value, error, message):
    with pytest.raises(error, match=message):
        finite_number("x", value)


def test_numpy_s_numbers_are_numbers_and_its_bools_and_arrays_are_not():
    assert finite_number("x", np.float32(0.5)) == 0.5 and check_timeout("t", np.int64(600)) == 600.0
    assert [real_number(v) for v in (np.float16(2), np.uint8(3), 4, 0.25)] == [2.0, 3.0, 4.0, 0.25]
    assert [real_number(v) for v in (np.bool_(True), True, np.array([0.5]), "1", None)] == [None] * 5


def test_a_0_d_array_or_tensor_of_a_number_is_that_number():
    """``tune.report({"score": np.asarray(x)})`` (or a tensor without ``.item()``): bare
    ``OptunaSearch`` tells it as the number; the searcher graded every such trial a crash
    ("non-finite objective score=array(0.5488135)")."""
    import torch

    assert [real_number(v) for v in (np.asarray(0.5), np.asarray(3, dtype=np.int64), torch.tensor(0.25))] == [
        0.5, 3.0, 0.25]
    assert [real_number(v) for v in (np.asarray(True), torch.tensor([0.5]), np.zeros((1, 1)))] == [None] * 3


def test_seconds_are_positive_timeouts_and_non_negative_elapsed_times():
    assert check_timeout("trial_timeout_s", 2) == 2.0 and check_elapsed(0) == 0.0
    with pytest.raises(ValueError, match="trial_timeout_s must be a positive number of seconds, got 0"):
        check_timeout("trial_timeout_s", 0)
    with pytest.raises(ValueError, match="elapsed_s must not be negative, got -1"):
        check_elapsed(-1)


def test_a_failure_s_details_are_checked_against_the_classes_known():
    assert check_failure(1.0, "boom", None, "oom", ["oom", "crash"]) == (1.0, "boom", None, "oom")
    with pytest.raises(ValueError, match=r"error_class must be one of \['oom', 'crash'\] or None, got 'xid'"):
        check_failure(1.0, "boom", None, "xid", ["oom", "crash"])
    with pytest.raises(TypeError, match="error must be a string, got int: 3"):
        check_failure(1.0, 3, None, None, [])


def test_an_integer_beyond_a_floats_range_is_infinite_not_an_error():
    """``float(10**400)`` raises OverflowError: a metric that large ended the experiment from
    ``on_trial_result`` and, at the trial's end, lost the trial (its record gone, nothing told)."""
    assert real_number(10**400) == math.inf and real_number(-(10**400)) == -math.inf
    with pytest.raises(ValueError, match="must be finite"):
        finite_number("x", 10**400)
