"""Dual norms and maximisers against linprog (p = 1, inf) and a constrained optimiser (p = 3)."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize

from advproof import norms

F64 = torch.float64


@pytest.mark.parametrize(("p", "q"), [(1, math.inf), (2, 2), (math.inf, 1), (3, 1.5), (1.5, 3)])
def test_dual_exponent(p, q):
    assert norms.dual_exponent(p) == pytest.approx(q)


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, math.inf])
def test_maximiser_attains_the_dual_norm_on_the_unit_sphere(p):
    v = torch.randn(50, 7, generator=torch.Generator().manual_seed(0), dtype=F64)
    d = norms.dual_maximiser(v, p)
    assert torch.allclose(torch.linalg.vector_norm(d, ord=p, dim=-1), torch.ones(50, dtype=F64))
    assert torch.allclose((v * d).sum(-1), norms.dual_norm(v, p))


@pytest.mark.parametrize("p", [1.0, math.inf])
def test_maximum_agrees_with_linprog(p):
    rng = np.random.default_rng(1)
    for _ in range(5):
        v = rng.standard_normal(6)
        if p == math.inf:  # max v.d s.t. -1 <= d <= 1
            res = linprog(-v, bounds=[(-1, 1)] * 6)
        else:  # d = a - b, a, b >= 0, sum(a + b) <= 1
            res = linprog(-np.concatenate([v, -v]), A_ub=np.ones((1, 12)), b_ub=[1],
                          bounds=[(0, None)] * 12)
        assert -res.fun == pytest.approx(float(norms.dual_norm(torch.from_numpy(v), p)),
                                         rel=1e-9)


def test_maximum_agrees_with_slsqp_for_p_3():
    v = np.random.default_rng(2).standard_normal(5)
    res = minimize(lambda d: -v @ d, np.zeros(5) + 0.1, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda d: 1 - np.sum(np.abs(d) ** 3)}],
                   options={"ftol": 1e-12, "maxiter": 500})
    assert -res.fun == pytest.approx(float(norms.dual_norm(torch.from_numpy(v), 3.0)), rel=1e-6)


def test_zero_vector_and_bad_p():
    assert torch.equal(norms.dual_maximiser(torch.zeros(3, dtype=F64), 2.0),
                       torch.zeros(3, dtype=F64))
    for bad in (0.5, "inf", True):
        with pytest.raises(ValueError, match="p must be"):
            norms.dual_exponent(bad)
