"""Assertions for claim checks: each raises :class:`CheckFailed` with the measured value.

A property test in :mod:`advproof.symbolic` reads like a sympy test (STYLE §13): it asserts an
identity, or a float64 closeness with a stated tolerance, and returns a short detail string for
the ledger ("max rel. error < 1e-12 (rtol 1e-10), 200 instances"). Numbers in details are
formatted by :func:`fmt` so that stored notebook outputs stay deterministic: values below
``1e-12`` print as ``< 1e-12``, everything else with two significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import sympy as sp
import torch

from advproof.claims import CheckFailed

FLOOR = 1e-12


def fmt(x: float) -> str:
    """Two significant digits, or ``< 1e-12`` for round-off-sized values (deterministic text)."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if abs(x) < FLOOR:
        return "< 1e-12"
    return f"{x:.2g}"


def require(condition: bool, message: str) -> None:
    """``assert`` that survives ``python -O``: raise :class:`CheckFailed` with ``message``."""
    if not condition:
        raise CheckFailed(message)


def sym_zero(expr: sp.Expr | sp.MatrixBase, what: str) -> str:
    """Assert that a sympy expression (or every entry of a matrix) simplifies to zero."""
    entries = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    for entry in entries:
        residual = sp.simplify(entry)
        if residual != 0:
            raise CheckFailed(f"{what}: residual {sp.sstr(residual)[:200]} is not 0")
    return f"{what}: simplifies to 0"


def sym_equal(lhs: sp.Expr | sp.MatrixBase, rhs: sp.Expr | sp.MatrixBase, what: str) -> str:
    """Assert ``lhs - rhs`` simplifies to zero (entrywise for matrices)."""
    if isinstance(lhs, sp.MatrixBase) or isinstance(rhs, sp.MatrixBase):
        lhs, rhs = sp.Matrix(lhs), sp.Matrix(rhs)
        if lhs.shape != rhs.shape:
            raise CheckFailed(f"{what}: shapes {lhs.shape} and {rhs.shape} differ")
    return sym_zero(lhs - rhs, what)


def _as_array(x: object) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def rel_error(actual: object, expected: object) -> float:
    """``max |actual - expected| / max(max |expected|, tiny)``: one number per comparison."""
    a, e = _as_array(actual), _as_array(expected)
    if a.shape != e.shape:
        raise CheckFailed(f"shapes {a.shape} and {e.shape} differ")
    scale = max(float(np.max(np.abs(e))) if e.size else 0.0, np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - e))) / scale if a.size else 0.0


def close(actual: object, expected: object, *, rtol: float, what: str) -> str:
    """Assert ``rel_error(actual, expected) <= rtol``; the detail names the measured error."""
    err = rel_error(actual, expected)
    if not np.isfinite(err) or err > rtol:
        raise CheckFailed(f"{what}: rel. error {fmt(err)} > rtol {rtol:.0e}")
    return f"{what}: rel. error {fmt(err)} (rtol {rtol:.0e})"


def worst_close(pairs: Sequence[tuple[object, object]], *, rtol: float, what: str) -> str:
    """:func:`close` over many instances; reports the worst error and the instance count."""
    errors = [rel_error(a, e) for a, e in pairs]
    bad = [i for i, err in enumerate(errors) if not np.isfinite(err)]
    if bad:  # max() would skip a NaN that is not first: a check must never pass on one
        raise CheckFailed(f"{what}: instance {bad[0]}: rel. error {fmt(errors[bad[0]])} is not "
                          f"finite")
    worst = max(errors) if errors else 0.0
    if worst > rtol:
        i = int(np.argmax(errors))
        raise CheckFailed(f"{what}: instance {i}: rel. error {fmt(worst)} > rtol {rtol:.0e}")
    return f"{what}: worst rel. error {fmt(worst)} over {len(errors)} instances (rtol {rtol:.0e})"
