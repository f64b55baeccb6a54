"""The assertion helpers of the claim checks: a NaN anywhere fails, never passes."""

import math

import pytest

from advproof.asserts import close, worst_close
from advproof.claims import CheckFailed


def test_worst_close_fails_on_a_nan_in_any_position():
    for pairs in ([(1.0, 1.0), (math.nan, 1.0)], [(math.nan, 1.0), (1.0, 1.0)],
                  [(1.0, 1.0), (1.0, math.inf)]):
        with pytest.raises(CheckFailed, match="not finite|rel. error"):
            worst_close(pairs, rtol=1e-9, what="x")


def test_worst_close_reports_the_worst_instance():
    with pytest.raises(CheckFailed, match="instance 1"):
        worst_close([(1.0, 1.0), (1.1, 1.0), (1.05, 1.0)], rtol=1e-3, what="x")
    assert "2 instances" in worst_close([(1.0, 1.0), (2.0, 2.0)], rtol=1e-12, what="x")


def test_close_fails_on_nan():
    with pytest.raises(CheckFailed):
        close(math.nan, 1.0, rtol=1.0, what="x")
