"""Unit tests of chapter 2 (Cheng et al., Theorems 1-2, Corollary 1): the float64 formulas of
``advproof.symbolic.cheng_dynamics`` and the helpers of ``advproof.experiments.cheng_dynamics``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from advproof import attacks, curvature, models
from advproof.experiments import cheng_dynamics as experiment
from advproof.experiments import cheng_setting
from advproof.symbolic import cheng_dynamics as theory

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def psd(n: int = 3, d: int = 5, rank: int | None = None, seed: int = 0) -> torch.Tensor:
    """(n, d, d) symmetric PSD matrices, of the given rank."""
    B = torch.randn(n, d, rank or d, generator=gen(seed), dtype=F64)
    return B @ B.transpose(1, 2) / d


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_thm1_delta_is_chapter_one_first_order_delta():
    H, g = psd(), torch.randn(3, 5, generator=gen(1), dtype=F64)
    for alpha, m in ((0.1, 1), (0.05, 7), (0.01, 40)):
        # chapter 1's ((1 + alpha lambda)^m - 1)/lambda cancels digits; ours uses expm1/log1p
        assert rel(theory.thm1_delta(H, g, alpha, m),
                   cheng_setting.first_order_delta(H, g, alpha, m)) < 1e-10


def test_thm1_delta_is_the_sum_of_the_linearised_steps():
    H, g = psd(rank=2), torch.randn(3, 5, generator=gen(2), dtype=F64)
    alpha, m = torch.tensor([0.1, 0.2, 0.3], dtype=F64), 9
    A = torch.eye(5, dtype=F64) + alpha[:, None, None] * H
    summed, power = torch.zeros_like(g), torch.eye(5, dtype=F64).expand(3, 5, 5)
    for _ in range(m):
        summed = summed + alpha[:, None] * (power @ g[:, :, None])[:, :, 0]
        power = A @ power
    assert rel(theory.thm1_delta(H, g, alpha, m), summed) < 1e-12
    assert rel(theory.thm1_gradient(H, g, alpha, m), (power @ g[:, :, None])[:, :, 0]) < 1e-12


def test_thm2_delta_is_the_matrix_function():
    H, g, beta = psd(), torch.randn(3, 5, generator=gen(3), dtype=F64), 0.7
    for Hi, gi, hat, grad in zip(H, g, theory.thm2_delta(H, g, beta),
                                 theory.thm2_gradient(H, g, beta), strict=True):
        E = torch.from_numpy(scipy.linalg.expm(beta * Hi.numpy()))
        assert rel(hat, torch.linalg.solve(Hi, (E - torch.eye(5, dtype=F64)) @ gi)) < 1e-10
        assert rel(grad, E @ gi) < 1e-12


def test_zero_eigenvalues_give_the_limits_alpha_m_and_beta():
    H, g = torch.zeros(2, 4, 4, dtype=F64), torch.randn(2, 4, generator=gen(4), dtype=F64)
    assert rel(theory.thm1_delta(H, g, 0.1, 30), 3.0 * g) < 1e-12
    assert rel(theory.thm2_delta(H, g, 2.5), 2.5 * g) < 1e-12
    assert rel(theory.naive_delta(H, g, 2.5), 2.5 * g) == 0


def test_thm1_tends_to_thm2_with_gap_A_over_2m():
    H, g, beta = psd(n=1, d=1), torch.ones(1, 1, dtype=F64), 1.0
    A = float(beta * H[0, 0, 0])
    for m in (100, 1000):
        gap = rel(theory.thm1_delta(H, g, beta / m, m), theory.thm2_delta(H, g, beta))
        assert gap == pytest.approx((math.exp(A) - (1 + A / m) ** m) / math.expm1(A), rel=1e-8)
        assert gap * m == pytest.approx(A**2 * math.exp(A) / 2 / math.expm1(A), rel=2 * A / m)


def test_sigmoid_flow_exact_agrees_with_rk4_and_with_many_small_steps():
    betas = np.array([0.1, 1.0, 5.0])
    exact = theory.sigmoid_flow_exact(0.5, betas)
    assert np.abs(theory.sigmoid_flow_rk4(0.5, betas) - exact).max() < 1e-10
    delta, _ = theory.sigmoid_ascent(0.5, betas, 20000)
    assert np.abs(delta - exact).max() / np.abs(exact).max() < 1e-4
    assert (exact < 0).all()  # the attack lowers z = yz toward the decision boundary


def test_sigmoid_path_average_is_between_the_end_curvatures():
    delta, hbar = theory.sigmoid_ascent(2.0, np.array([1.0]), 100)
    ends = theory.sigmoid_curvature(np.array([2.0, 2.0 + delta[0]]))
    assert ends.min() <= hbar[0] <= ends.max()


def test_residual_table_rejects_an_unknown_curvature():
    with pytest.raises(ValueError, match="curvature"):
        theory.residual_table("mean")


def test_kappa_definitions():
    star = torch.tensor([[1.0, 0.0], [100.0, 0.0]], dtype=F64)
    hat = star + torch.tensor([[0.0, 0.5], [0.0, 1.0]], dtype=F64)
    assert experiment.kappa_000(star, hat) == pytest.approx((0.5 + 0.01) / 2)
    assert experiment.kappa_001(star, hat) == pytest.approx(1.5 / 101)
    assert experiment.kappa_000(star, hat, trim=0.5) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="trim"):
        experiment.kappa_000(star, hat, trim=1.0)


def affine(seed: int = 0, d: int = 6, c: int = 3) -> models.MLP:
    return models.MLP(d, (), c, generator=gen(seed)).double()


def test_gradient_flow_of_a_quadratic_loss_is_theorem_2():
    model, X = affine(), torch.randn(4, 6, generator=gen(5), dtype=F64)
    y = torch.arange(4) % 3
    H = curvature.input_hessian(model, X, y, loss="mse")
    g = attacks.input_grad(model, X, y, loss="mse")
    beta = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    flow = experiment.gradient_flow(model, X, y, T=beta, steps=200, loss="mse")
    assert rel(flow.delta, theory.thm2_delta(H, g, beta)) < 1e-9
    assert (flow.arc_length >= flow.delta.norm(dim=1) * (1 - 1e-12)).all()


def test_l2_flow_has_unit_speed_and_linf_effective_flow_is_parallel_to_the_gradient():
    model, X = affine(1), torch.randn(3, 6, generator=gen(6), dtype=F64)
    y = torch.arange(3)
    l2 = experiment.gradient_flow(model, X, y, T=0.5, steps=20, direction="l2")
    assert torch.allclose(l2.arc_length, torch.full((3,), 0.5, dtype=F64))
    eff = experiment.gradient_flow(model, X, y, T=1e-6, steps=1, direction="linf_effective")
    g = attacks.input_grad(model, X, y)
    assert torch.allclose(eff.delta / eff.delta.norm(dim=1, keepdim=True),
                          g / g.norm(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(eff.arc_length, 1e-6 * g.abs().sum(1) / g.norm(dim=1), rtol=1e-4)


@pytest.mark.parametrize(("kwargs", "message"), [({"direction": "sign"}, "direction"),
                                                 ({"steps": 0}, "steps")])
def test_gradient_flow_rejects_bad_arguments(kwargs, message):
    model, X = affine(), torch.zeros(1, 6, dtype=F64)
    with pytest.raises(ValueError, match=message):
        experiment.gradient_flow(model, X, torch.zeros(1, dtype=torch.long), T=1.0, **kwargs)


def test_path_average_hz():
    model, X, y = affine(2), torch.randn(2, 6, generator=gen(7), dtype=F64), torch.tensor([0, 1])
    path = attacks.raw_ascent(model, X, y, alpha=0.1, steps=5, loss="mse", return_path=True).path
    Hbar = experiment.path_average_hz(model, X, y, path, loss="mse")
    assert torch.allclose(Hbar, torch.eye(3, dtype=F64).expand(2, 3, 3))  # H_z = I for MSE
    path = attacks.raw_ascent(model, X, y, alpha=0.1, steps=3, return_path=True).path
    Hbar = experiment.path_average_hz(model, X, y, path)
    H1 = curvature.logit_hessian_of_loss(model(X + path[1]), y)
    H2 = curvature.logit_hessian_of_loss(model(X + path[2]), y)
    w1, w2 = ((path[t] - path[t - 1]).norm(dim=1) for t in (1, 2))
    expected = (w1[:, None, None] * H1 + w2[:, None, None] * H2) / (w1 + w2)[:, None, None]
    assert torch.allclose(Hbar, expected.detach())
    with pytest.raises(ValueError, match="at least 2 steps"):
        experiment.path_average_hz(model, X, y, path[:2])


def test_norm_growth_records_norms_and_the_first_misclassified_step():
    model = affine(3)
    X = torch.randn(5, 6, generator=gen(8), dtype=F64)
    with torch.no_grad():
        y = model(X).argmax(1)
    out = experiment.norm_growth(model, X, y, step="l2", alpha=0.5, steps=30)
    assert out["delta_norm"].shape == out["grad_norm"].shape == (31, 5)
    assert np.allclose(out["delta_norm"][0], 0)
    steps_len = 0.5 * np.arange(31)[:, None]  # unit-length l2 steps: the chord is at most that
    assert (out["delta_norm"] <= steps_len + 1e-12).all() and np.allclose(out["delta_norm"][1], 0.5)
    assert (out["m_success"] >= 1).all()  # correct at t = 0, fooled later (affine model)
    never = experiment.norm_growth(model, X, y, step="raw", alpha=0.0, steps=3)
    assert (never["m_success"] == -1).all()


def test_evaluation_set_and_loglog_slope():
    model, X = affine(4), torch.randn(6, 6, generator=gen(9), dtype=F64)
    with torch.no_grad():
        y = model(X).argmax(1)
    Xe, ye = experiment.evaluation_set(model, X, y, 4)
    assert len(Xe) == 4 and torch.equal(ye, y[:4])
    with pytest.raises(ValueError, match="correctly classified"):
        experiment.evaluation_set(model, X, (y + 1) % 3, 1)
    x = np.array([0.1, 1.0, 10.0])
    assert experiment.loglog_slope(x, 3 * x**2) == pytest.approx(2.0)


def test_effective_linf_is_parallel_to_the_gradient_for_one_step():
    model, X = affine(5), torch.randn(2, 6, generator=gen(10), dtype=F64)
    y = torch.tensor([0, 2])
    path = attacks.perturb(model, X, y, step="linf", alpha=0.01, steps=1, return_path=True).path
    eff = experiment.effective_linf(model, X, y, path, 0.01)
    g = attacks.input_grad(model, X, y)
    expected = 0.01 * g.abs().sum(1, keepdim=True) / g.norm(dim=1, keepdim=True) ** 2 * g
    assert torch.allclose(eff, expected)


def test_configs_state_the_papers_attack_settings():
    for cfg in experiment.CONFIGS.values():
        assert cfg.growth_alpha == 0.02 and cfg.growth_steps == (500, 200, 20)
        assert cfg.hidden == (200, 200)
    assert experiment.CONFIGS["full"].dataset == "fashion-mnist"
    with pytest.raises(ValueError, match="cpu"):
        experiment.run("quick", device="cuda")


def test_progress_curve_and_saturation():
    m_success = np.array([2, 3, -1, 4])
    grad = np.tile(np.r_[1.0, 10.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0][:, None],
                   (1, 4))
    growth = {"raw/free": {"delta_norm": grad, "grad_norm": grad, "m_success": m_success}}
    res = experiment.Result(experiment.CONFIGS["quick"], 0.9, 4, {}, {}, {}, growth, {})
    grid, curve = res.progress_curve("raw/free", grid=np.array([0.0, 1.0, 3.0]))
    assert curve[0] == 1.0 and curve[1] == 100.0
    assert np.isnan(curve[2])  # 3 m_s is past the attack for two of the three fooled images
    sat = res.saturation("raw/free")
    assert sat["n"] == 3 and sat["before"] == pytest.approx(np.log(100.0)) and sat["after"] == 0.0
