"""advproof.margins against closed forms, brute force and scipy's generic solvers (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from advproof import attacks, margins, models
from advproof.symbolic.lyu_zhu import SquareNet


def _relu(seed: int = 0, widths: tuple[int, ...] = (12, 8), n_out: int = 1) -> torch.nn.Module:
    return models.HomogeneousMLP(4, widths, n_out,
                                 generator=torch.Generator().manual_seed(seed)).double()


def _data(n: int = 16, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
    return X, y


def _separable(n: int = 20, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(d)
    X = rng.standard_normal((n, d))
    X += 0.5 * np.sign(X @ w0)[:, None] * w0 / np.linalg.norm(w0)
    return X / np.linalg.norm(X, axis=1).max(), np.sign(X @ w0)


# --- margins and losses ------------------------------------------------------------------------


def test_margins_binary_and_multiclass():
    z = torch.tensor([[2.0], [-1.0]])
    assert torch.equal(margins.margins(z, torch.tensor([1.0, 1.0])), torch.tensor([2.0, -1.0]))
    zc = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
    assert torch.equal(margins.margins(zc, torch.tensor([1, 0])), torch.tensor([1.0, -5.0]))
    with pytest.raises(ValueError, match="labels in"):
        margins.margins(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="integer labels"):
        margins.margins(zc, torch.tensor([1.0, 0.0]))


def test_log_losses_match_direct_forms_and_stay_finite():
    q = torch.tensor([0.3, -1.0, 2.0, 5.0], dtype=torch.float64)
    assert torch.isclose(margins.log_exp_loss(q), torch.log(torch.exp(-q).mean()))
    direct = torch.log(torch.log1p(torch.exp(-q)).mean())
    assert torch.isclose(margins.log_logistic_loss(q), direct, rtol=1e-12)
    big = torch.tensor([800.0, 900.0], dtype=torch.float64)
    expected = -800 + math.log(1 + math.exp(-100)) - math.log(2)
    assert float(margins.log_exp_loss(big)) == pytest.approx(expected, rel=1e-12)
    assert torch.isfinite(margins.log_logistic_loss(big))
    assert abs(float(margins.log_logistic_loss(big)) - float(margins.log_exp_loss(big))) < 1e-12


# --- layers, norms, homogeneity ----------------------------------------------------------------


def test_layer_weights_rho_and_scaled():
    net = _relu()
    norms = margins.layer_norms(net)
    assert torch.isclose(margins.rho(net), norms.prod())
    assert torch.isclose(margins.rho(net, (2, 1, 1)), norms[0] ** 2 * norms[1] * norms[2])
    big = margins.scaled(net, (2.0, 3.0, 0.5))
    assert torch.allclose(margins.layer_norms(big), norms * torch.tensor([2.0, 3.0, 0.5],
                                                                          dtype=torch.float64))
    with pytest.raises(ValueError, match="positive scales"):
        margins.scaled(net, (1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="one degree per layer"):
        margins.rho(net, (1, 1))
    with pytest.raises(ValueError, match="biases"):
        margins.layer_weights(models.MLP(4, (3,), 1))
    with pytest.raises(ValueError, match="linears"):
        margins.layer_weights(torch.nn.Linear(3, 1))


def test_homogeneity_checks_on_relu_and_square_nets():
    X, _ = _data()
    net = _relu()
    res = margins.homogeneity_residual(lambda m: m(X), net, (0.5, 3.0, 2.0), (1, 1, 1))
    assert res < 1e-13
    assert torch.allclose(margins.estimate_degrees(lambda m: m(X), net),
                          torch.ones(3, dtype=torch.float64), atol=1e-10)
    sq = SquareNet(4, 5, 0)
    assert torch.allclose(margins.estimate_degrees(lambda m: m(X), sq),
                          torch.tensor([2.0, 1.0], dtype=torch.float64), atol=1e-10)


# --- adversaries and margins ------------------------------------------------------------------


def test_fgm_delta_is_attacks_fgm_and_differentiates_through_delta():
    X, y = _data()
    net = SquareNet(4, 5, 1)
    d = margins.fgm_delta(net, X, y, 0.3)
    assert torch.allclose(d.detach(), attacks.fgm(net, X, y, 0.3, loss="margin"), atol=1e-15)
    adv = margins.Adversary("fgm", eps=0.3)
    weights = margins.layer_weights(net)
    q = margins.adversarial_margins(net, X, y, adv, "total")
    grads = torch.autograd.grad(torch.exp(-q).mean(), weights)
    D = [torch.randn(w.shape, generator=torch.Generator().manual_seed(k), dtype=w.dtype)
         for k, w in enumerate(weights)]

    def loss_at(s: float) -> float:
        moved = margins.scaled(net, (1.0, 1.0))
        with torch.no_grad():
            for w, dk in zip(margins.layer_weights(moved), D, strict=True):
                w.add_(s * dk)
            return float(torch.exp(-margins.adversarial_margins(moved, X, y, adv)).mean())

    fd = (loss_at(1e-6) - loss_at(-1e-6)) / 2e-6
    auto = float(sum((g * dk).sum() for g, dk in zip(grads, D, strict=True)))
    assert abs(fd - auto) <= 1e-7 * abs(auto)


def test_adversary_validation_and_kinds():
    with pytest.raises(ValueError, match="kind must be one of"):
        margins.Adversary("cw")
    with pytest.raises(ValueError, match="eps"):
        margins.Adversary("fgm", eps=-1.0)
    with pytest.raises(ValueError, match="steps"):
        margins.Adversary("pgd_l2", eps=1.0, steps=0)
    X, y = _data()
    net = _relu()
    with pytest.raises(ValueError, match="no differentiable form"):
        margins.Adversary("pgd_l2", eps=0.1).delta(net, X, y, differentiable=True)
    assert torch.equal(margins.Adversary("fgm", eps=0.0).delta(net, X, y), torch.zeros_like(X))
    adv = margins.Adversary("pgd_l2", eps=0.5, steps=4)
    assert adv.step_size == pytest.approx(2.5 * 0.5 / 4)
    assert torch.allclose(adv.delta(net, X, y),
                          attacks.pgd(net, X, y, eps=0.5, alpha=adv.step_size, steps=4, p=2.0,
                                      loss="margin"))
    with pytest.raises(ValueError, match="mode"):
        margins.adversarial_margins(net, X, y, adv, "both")


def test_exact_linear_deltas_match_the_numpy_worst_case():
    X, y = _data(d=3)
    net = models.DeepLinear(3, (4,), 1, generator=torch.Generator().manual_seed(0)).double()
    w = net.end_to_end_matrix()[0].detach().numpy()
    for kind, p in (("exact_l2", 2.0), ("exact_linf", math.inf)):
        q = margins.adversarial_margins(net, X, y, margins.Adversary(kind, eps=0.2))
        worst = margins.linear_worst_case(w, X.numpy(), y.numpy(), 0.2, p)
        assert np.allclose(q.detach().numpy(), worst.margin, atol=1e-13)
    with pytest.raises(ValueError, match="deep linear"):
        margins.exact_linear_delta(_relu(), y, 0.1)
    with pytest.raises(ValueError, match="p must be"):
        margins.linear_worst_case(w, X.numpy(), y.numpy(), 0.2, 0.5)


def test_linear_worst_case_beats_random_points_of_the_ball():
    rng = np.random.default_rng(0)
    w, X, y = rng.standard_normal(3), rng.standard_normal((5, 3)), rng.choice([-1.0, 1.0], 5)
    for p in (1.0, 2.0, 3.0, math.inf):
        worst = margins.linear_worst_case(w, X, y, 0.4, p)
        assert np.allclose(y * ((X + worst.delta) @ w), worst.margin)
        u = rng.standard_normal((2000, 3))
        u = u / np.linalg.norm(u, ord=p, axis=1, keepdims=True) * 0.4
        sampled = np.min(y[:, None] * ((X[:, None, :] + u[None]) @ w), axis=1)
        assert np.all(sampled >= worst.margin - 1e-12)


def test_normalized_margins_and_jacobian():
    X, y = _data()
    net = _relu()
    adv = margins.Adversary("fgm", eps=0.2)
    q = margins.adversarial_margins(net, X, y, adv).detach()
    assert torch.allclose(margins.normalized_margins(net, X, y, adv), q / margins.rho(net))
    q2, G = margins.margin_jacobian(net, X, y, adv, "detached")
    assert torch.allclose(q2, q) and G.shape == (len(X), margins.flat_weights(net).numel())
    # Euler: <grad q_i, W> = L q_i
    assert torch.allclose(G @ margins.flat_weights(net), 3 * q, rtol=1e-12)
    grads = [np.asarray(w.detach()) for w in margins.layer_weights(net)]
    norms = margins.layer_norms(net)
    rho_grad = torch.autograd.grad(norms.prod(), margins.layer_weights(net))
    assert np.allclose(margins.rho_gradient(grads),
                       torch.cat([g.reshape(-1) for g in rho_grad]).numpy())


# --- SVM, mixed norms, LP ----------------------------------------------------------------------


def test_least_distance_matches_slsqp_and_detects_infeasibility():
    rng = np.random.default_rng(1)
    G = rng.standard_normal((6, 3))
    h = G @ rng.standard_normal(3) - rng.uniform(0, 1, 6)  # feasible by construction
    z, lam = margins.least_distance(G, h)
    assert np.all(G @ z >= h - 1e-10) and np.all(lam >= 0)
    assert np.allclose(G.T @ lam, z, atol=1e-10)
    assert abs(lam @ (G @ z - h)) < 1e-10
    with pytest.raises(ValueError, match="infeasible"):
        margins.least_distance(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0]))


def test_hard_margin_svm_and_the_robust_l2_closed_form():
    X, y = _separable()
    svm = margins.hard_margin_svm(X, y)
    w_slsqp = margins.margin_problem_slsqp(X, y, 0.0, 2.0, 2 * svm.w)
    assert np.allclose(w_slsqp, svm.w, atol=1e-7)
    assert np.isclose(np.min(y * (X @ svm.u_bar)), svm.gamma)
    assert np.isclose(svm.alpha.sum(), svm.w @ svm.w)
    eps = 0.5 * svm.gamma
    w, lam = margins.robust_l2_svm(svm, eps)
    assert np.allclose(margins.margin_problem_slsqp(X, y, eps, 2.0, 1.3 * w), w, atol=1e-7)
    Z = y[:, None] * X
    assert np.allclose(w, (lam[:, None] * (Z - eps * w / np.linalg.norm(w))).sum(0))
    with pytest.raises(ValueError, match="eps < gamma_m"):
        margins.robust_l2_svm(svm, svm.gamma)


def test_robust_linf_svm_and_linf_margin_against_brute_force():
    from advproof.experiments.lyuzhu_deep_linear import one_support_vector_data

    X, y = one_support_vector_data(0)
    u1, g1 = margins.linf_robust_margin(X, y)
    phi = np.linspace(0, 2 * np.pi, 100_001)
    U = np.stack([np.cos(phi), np.sin(phi)], 1)
    U1 = U / np.abs(U).sum(1, keepdims=True)
    assert abs(np.max(np.min(y[None, :] * (U1 @ X.T), axis=1)) - g1) < 1e-6
    assert abs(np.abs(u1).sum() - 1) < 1e-9
    for frac in (0.2, 0.6):
        w, lam = margins.robust_linf_svm(X, y, frac * g1)
        assert np.allclose(margins.margin_problem_slsqp(X, y, frac * g1, math.inf, 1.2 * w), w,
                           atol=1e-6)
        values = np.min(y[None, :] * (U @ X.T), axis=1) - frac * g1 * np.abs(U).sum(1)
        assert margins.angle_degrees(w, U[np.argmax(values)]) < 1e-2
    with pytest.raises(ValueError, match="p must be"):
        margins.margin_problem_slsqp(X, y, 0.1, 3.0, np.ones(2))


# --- KKT ---------------------------------------------------------------------------------------


def test_kkt_residual_is_zero_at_the_svm_and_positive_elsewhere():
    X, y = _separable()
    svm = margins.hard_margin_svm(X, y)
    Z = y[:, None] * X
    kkt = margins.kkt_residual(svm.w, Z, Z @ svm.w)
    assert kkt.rel_residual < 1e-10 and kkt.slackness < 1e-10
    other = svm.w + 0.3 * np.linalg.norm(svm.w) * np.array([1.0, -1.0, 0.5])
    other = other / np.min(Z @ other)
    assert margins.kkt_residual(other, Z, Z @ other).rel_residual > 1e-2
    with pytest.raises(ValueError, match="not feasible"):
        margins.kkt_residual(0.5 * svm.w, Z, Z @ (0.5 * svm.w))
    with pytest.raises(ValueError, match="shape"):
        margins.kkt_residual(svm.w, Z[:, :2], Z @ svm.w)


def test_kkt_of_model_and_the_certificate():
    X, y = _separable(d=2, seed=3)
    svm = margins.hard_margin_svm(X, y)
    net = models.DeepLinear(2, (), 1).double()
    with torch.no_grad():
        net.linears[0].weight.copy_(torch.from_numpy(svm.w)[None])
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    assert margins.kkt_of_model(net, Xt, yt, margins.Adversary("none")).rel_residual < 1e-10
    Z = y[:, None] * X
    q = Z @ svm.w
    cert = margins.kkt_certificate(svm.w, q, Z, 1)
    grad = -(np.exp(-q) @ Z)
    cos = svm.w @ grad / (np.linalg.norm(svm.w) * np.linalg.norm(grad))
    assert np.isclose(cert.chi, np.sqrt(2 * (1 + cos)), atol=1e-10)
    with pytest.raises(ValueError, match="separated"):
        margins.kkt_certificate(svm.w, -q, Z, 1)
    with torch.no_grad():
        net.linears[0].weight.mul_(-1)
    with pytest.raises(ValueError, match="separated"):
        margins.kkt_of_model(net, Xt, yt, margins.Adversary("none"))


def test_angle_degrees():
    assert margins.angle_degrees(np.array([1.0, 0.0]), torch.tensor([1.0, 1.0])) == \
        pytest.approx(45.0)
