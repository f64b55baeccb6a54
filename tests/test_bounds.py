"""Unit tests for advproof.bounds: collapse thresholds (closed forms, brute force, exactness) and
the closed-form adversarial loss of binary logistic regression (against attacks and an LP)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize

from advproof import attacks, bounds

F64 = torch.float64
NORMS = (1.0, 2.0, math.inf)


def dataset(n: int = 30, d: int = 3, k: int = 4, seed: int = 0
            ) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=F64), torch.randint(k, (n,), generator=gen)


def test_dual_exponents_and_bad_norms():
    assert [bounds.dual_exponent(p) for p in NORMS] == [math.inf, 2.0, 1.0]
    for bad in (3, 0.5, "inf"):
        with pytest.raises(ValueError):
            bounds.dual_exponent(bad)


@pytest.mark.parametrize("p", NORMS)
def test_two_classes_give_the_segment_formula(p):
    """K = 2: by the triangle inequality eps* = ||S_0 - S_1||_p / (n_0 + n_1), for every norm."""
    X, y = dataset(k=2)
    S, n = bounds.class_sums(X, y, 2)
    expected = np.linalg.norm(S[0] - S[1], ord=p) / n.sum()
    assert bounds.collapse_threshold(X, y, p) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("p", NORMS)
def test_one_point_threshold_is_its_norm(p):
    x = torch.tensor([[0.3, -1.2, 0.5]], dtype=F64)
    expected = float(torch.linalg.vector_norm(x, ord=p))
    assert bounds.point_threshold(x[0], p) == pytest.approx(expected)
    # other classes are absent: c is pinned to 0 whatever the label
    for label in (0, 2):
        got = bounds.collapse_threshold(x, torch.tensor([label]), p, num_classes=3)
        assert got == pytest.approx(expected, rel=1e-9)


def test_balanced_linf_is_half_the_widest_coordinate_range_of_the_means():
    X, y = dataset(n=40, k=4)
    y = torch.arange(40) % 4  # balanced
    means = torch.stack([X[y == k].mean(0) for k in range(4)])
    expected = 0.5 * float((means.max(0).values - means.min(0).values).max())
    assert bounds.collapse_threshold(X, y, math.inf) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("p", NORMS)
def test_threshold_matches_brute_force_minimax(p):
    X, y = dataset(d=2, seed=3)
    S, n = bounds.class_sums(X, y, 4)
    rng = np.random.default_rng(0)

    def f(c):
        return max(np.linalg.norm(S[k] - c, ord=p) / n[k] for k in range(4))

    best = min(minimize(f, rng.normal(size=2), method="Nelder-Mead",
                        options=dict(xatol=1e-12, fatol=1e-14, maxiter=20000)).fun
               for _ in range(10))
    assert bounds.collapse_threshold(X, y, p) == pytest.approx(best, rel=1e-8)


def test_absent_class_pins_the_centre_to_zero():
    X, y = dataset(k=2)
    S, n = bounds.class_sums(X, y, 2)
    free = bounds.collapse_threshold(X, y, math.inf)
    pinned = bounds.collapse_threshold(X, y, math.inf, num_classes=3)
    assert pinned == pytest.approx(max(np.abs(S[k]).max() / n[k] for k in range(2)))
    assert pinned >= free


def test_threshold_arguments_are_validated():
    X, y = dataset()
    with pytest.raises(ValueError):
        bounds.collapse_threshold(X, y, 3)
    with pytest.raises(ValueError):
        bounds.collapse_threshold(X, y[:-1], 2)
    with pytest.raises(ValueError):
        bounds.collapse_threshold(X, y, 2, num_classes=2)  # labels go up to 3


# --- binary logistic regression -----------------------------------------------------------


def binary(n: int = 12, d: int = 5, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=F64)
    y = torch.where(torch.rand(n, generator=gen, dtype=F64) > 0.5, 1.0, -1.0).to(F64)
    w = torch.randn(d, generator=gen, dtype=F64)
    return w, X, y


@pytest.mark.parametrize("p", NORMS)
def test_worst_perturbation_is_feasible_and_attains_hoelder(p):
    w, X, y = binary()
    delta = bounds.logistic_worst_perturbation(w, y, 0.3, p)
    norms = torch.linalg.vector_norm(delta, ord=p, dim=1)
    assert torch.allclose(norms, torch.full_like(norms, 0.3), rtol=1e-12)
    gain = -y * (delta @ w)
    q = bounds.dual_exponent(p)
    assert torch.allclose(gain, 0.3 * torch.linalg.vector_norm(w, ord=q).expand(len(y)),
                          rtol=1e-12)
    clean = torch.nn.functional.softplus(-y * ((X + delta) @ w))
    loss = bounds.logistic_adversarial_loss(w, X, y, 0.3, p, reduction="none")
    assert torch.allclose(loss, clean, rtol=1e-12)


@pytest.mark.parametrize("p", [2.0, math.inf])
def test_closed_form_bounds_pgd_from_above_and_is_reached(p):
    w, X, y = binary()

    def model(x):
        return (x @ w)[:, None]

    delta = attacks.pgd(model, X, y, eps=0.3, alpha=0.05, steps=60, p=p, loss="bce")
    pgd_loss = torch.nn.functional.softplus(-y * ((X + delta) @ w))
    exact = bounds.logistic_adversarial_loss(w, X, y, 0.3, p, reduction="none")
    assert bool((pgd_loss <= exact + 1e-12).all())
    assert torch.allclose(pgd_loss, exact, rtol=1e-10)


def test_l1_closed_form_matches_an_lp():
    """max_{||d||_1 <= eps} -y w^T d as an LP in (d+, d-) equals eps ||w||_inf."""
    w, _, _ = binary(d=6)
    wn = w.numpy()
    c = np.concatenate([wn, -wn])  # minimise w^T d = -(gain) for y = +1
    res = linprog(c, A_ub=np.ones((1, 12)), b_ub=[0.3], bounds=[(0, None)] * 12, method="highs")
    assert -res.fun == pytest.approx(0.3 * float(w.abs().max()), rel=1e-12)


def test_surrogate_equals_eq6_only_at_unit_dual_norm():
    w, X, y = binary()
    for p in NORMS:
        unit = w / torch.linalg.vector_norm(w, ord=bounds.dual_exponent(p))
        assert torch.allclose(bounds.logistic_surrogate_loss(unit, X, y, 0.4),
                              bounds.logistic_adversarial_loss(unit, X, y, 0.4, p), rtol=1e-14)
        assert not torch.allclose(bounds.logistic_surrogate_loss(3 * unit, X, y, 0.4),
                                  bounds.logistic_adversarial_loss(3 * unit, X, y, 0.4, p))


def test_logistic_arguments_are_validated():
    w, X, y = binary()
    with pytest.raises(ValueError):
        bounds.logistic_adversarial_loss(w, X, (y > 0).to(F64), 0.1, 2)
    with pytest.raises(ValueError):
        bounds.logistic_adversarial_loss(w[:-1], X, y, 0.1, 2)
    with pytest.raises(ValueError):
        bounds.logistic_adversarial_loss(w, X, y, -0.1, 2)
    with pytest.raises(ValueError):
        bounds.logistic_surrogate_loss(w, X, y, 0.1, reduction="sum")
    with pytest.raises(ValueError):
        bounds.logistic_worst_perturbation(w, y, 0.1, 4)
