"""Helpers of the Liu et al. chapters: the exact linear inner max, the switch finder, and the
experiment modules (liu_collapse, liu_sgd, liu_landscape, liu_pas) on tiny configurations."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from advproof import bounds, models, train
from advproof.experiments import liu_collapse, liu_landscape, liu_pas, liu_sgd
from advproof.symbolic import liu

F64 = torch.float64


def test_linear_adv_ce_is_the_max_over_the_box():
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(3, 4, generator=gen, dtype=F64)
    X = torch.randn(5, 3, generator=gen, dtype=F64)
    y = torch.randint(4, (5,), generator=gen)
    exact = liu.linear_adv_ce(W, X, y, 0.3)
    assert liu.box_vertices(3).shape == (8, 3)
    for _ in range(200):  # random points of the box never beat the vertex maximum
        d = 0.3 * (2 * torch.rand(5, 3, generator=gen, dtype=F64) - 1)
        z = (X + d) @ W
        ce = torch.logsumexp(z, -1) - z.gather(1, y[:, None])[:, 0]
        assert bool((ce <= exact + 1e-12).all())


def test_descent_direction_changes_sign_at_the_threshold():
    X, y = liu.collapse_toy()
    S, n = bounds.class_sums(X, y, 3)
    e_star = bounds.collapse_threshold(X, y, math.inf)
    V, below = liu.descent_direction(S, n, 0.9 * e_star)
    assert below < -1e-6 and V.shape == (2, 3)
    assert liu.descent_direction(S, n, 1.05 * e_star)[1] == pytest.approx(0.0, abs=1e-12)
    slope = liu.directional_derivative_at_zero(V, S, n, 0.9 * e_star, len(X))
    assert slope == pytest.approx(below / len(X), rel=1e-9)


def test_gradient_jumps_are_switches_inside_the_ball():
    jumps, L_hat = liu.gradient_jumps(0.2)
    assert jumps and L_hat > 0
    for j in jumps:
        assert 0 < j.dist <= 0.4 + 1e-12 and j.dtheta < 1e-12 and j.J <= j.L_seg * j.dist + 1e-9


def test_mixed_norm_matches_finite_differences():
    theta, x = liu.tiny_theta(1), liu.TINY_X
    h = 1e-6
    cols = [(liu.tiny_grad(theta, x + h * e) - liu.tiny_grad(theta, x - h * e)) / (2 * h)
            for e in torch.eye(2, dtype=F64)]
    M = torch.stack(cols, 1)
    expected = max(float((M @ v).norm()) for v in liu.box_vertices(2))
    assert float(liu.mixed_norm(theta, x[None])[0]) == pytest.approx(expected, rel=1e-6)


# --- experiments on tiny configurations -----------------------------------------------------


def test_sgd_full_gradient_is_a_gradient_of_eq6():
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(30, 4, generator=gen, dtype=F64)
    y = torch.where(torch.rand(30, generator=gen, dtype=F64) > 0.5, 1.0, -1.0).to(F64)
    w = torch.randn(4, generator=gen, dtype=F64)
    auto = torch.autograd.functional.jacobian(
        lambda v: bounds.logistic_adversarial_loss(v, X, y, 0.1, math.inf), w)
    ours = liu_sgd.full_gradient(w.numpy(), X.numpy(), y.numpy(), 0.1)
    assert np.allclose(ours, auto.numpy(), rtol=1e-12, atol=1e-14)


def test_sgd_run_floor_and_cache(monkeypatch):
    monkeypatch.setitem(liu_sgd.CONFIGS, "tiny", liu_sgd.Config(n=200, d=5, iters=500,
                                                                record_every=5))
    res = liu_sgd.run("tiny", eps_grid=(0.0, 0.1, 0.3))
    assert res.norms.shape == (3, 20) and res.floor.shape == (3,)
    assert liu_sgd.run("tiny", eps_grid=(0.0, 0.1, 0.3)) is res  # cached
    assert set(res.tails()) == set(res.config.gammas)
    assert res.summary()["spearman"] == pytest.approx(res.spearman())
    assert math.isnan(liu_sgd.run("tiny", eps_grid=(0.1, 0.1)).spearman())
    with pytest.raises(ValueError):
        liu_sgd.run("tiny", device="cuda")


def test_collapse_helpers(monkeypatch):
    model = models.MLP(2, [], 3, bias=False).double()
    with torch.no_grad():
        model.linears[0].weight.copy_(torch.tensor([[1.0, 2.0]] * 3))
    assert liu_collapse.spread(model) == 0.0
    monkeypatch.setitem(liu_collapse.CONFIGS, "tiny", liu_collapse.Config(
        ratios=(0.5, 1.5), blobs_n=60, blobs_epochs=30, digits_n=60, digits_epochs=5))
    res = liu_collapse.run("tiny")
    assert set(res.rows) == {"blobs", "digits"} and len(res.rows["blobs"]) == 2
    assert res.relative_spread("blobs")[0] == 1.0 and res.rows["blobs"][1]["spread"] < 0.2
    assert res.summary()["collapsed"]["blobs"] == res.collapsed("blobs")
    with pytest.raises(ValueError):
        liu_collapse.run("tiny", device="cuda")


@pytest.fixture(scope="module")
def landscape_tiny():
    cfg = replace(liu_landscape.CONFIGS["quick"], n_train=96, eps_grid=(0.0, 0.05),
                  num_epochs=1, batch_size=32, n_hessian=32, k_eig=2, lanczos_iters=6,
                  n_random_theta=2, cos_a=(0.0, 0.2), n_cos=16, surface_n=5)
    liu_landscape.CONFIGS["tiny"] = cfg
    yield liu_landscape.run("tiny")
    del liu_landscape.CONFIGS["tiny"]


def test_landscape_logs_every_update(landscape_tiny):
    res = landscape_tiny
    for st in res.steps.values():
        assert {k: len(v) for k, v in st.items()} == {"grad_norm": 3, "robust_err": 3,
                                                      "loss": 3, "dist": 3}
        assert (st["grad_norm"] > 0).all() and st["dist"][0] > 0
        assert (st["loss"] > 0).all()  # cross-entropy of the attacked batch
    assert set(res.eigenvalues) == {0.0, 0.05} and len(res.eigenvalues[0.0]) == 2
    assert res.cosine["top"][0] == pytest.approx(1.0) and res.cosine["random"][0] == 1.0
    assert res.extra["hvp_pitfall"]["same_start"] == 0.0
    assert set(res.summary()) >= {"rho_top", "grad_first", "cos_top", "fd_v1_normalised",
                                  "rho_fd", "surface_mean_rise"}
    for eps, grid in res.surface.items():
        assert grid.shape == (5, 5) and np.isfinite(grid).all()
        assert set(res.fd[eps]) == {"attacked", "fixed"} and res.fd[eps]["fixed"].shape == (2,)
    # eps = 0: no attack, so re-running it changes nothing
    np.testing.assert_array_equal(res.fd[0.0]["attacked"], res.fd[0.0]["fixed"])
    assert res.surface_axis().tolist() == [-0.25, -0.125, 0.0, 0.125, 0.25]
    assert len(res.to_json()["surface"]["0.05"]) == 5


class _Quadratic(torch.nn.Module):
    """A "model" whose loss is ``0.5 w^T A w + b^T w``: its Hessian is A everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())


def test_second_difference_of_a_quadratic_is_its_eigenvalue():
    gen = torch.Generator().manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=F64))
    lams = torch.tensor([7.5, 3.0, 1.0, 0.5, -0.2, -2.0], dtype=F64)
    A, b = Q @ torch.diag(lams) @ Q.T, torch.randn(6, generator=gen, dtype=F64)
    net = _Quadratic(torch.randn(6, generator=gen, dtype=F64))
    theta = net.w.detach().clone()

    def loss(n: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(0.5 * n.w @ A @ n.w + b @ n.w)

    for j in (0, 1, 5):
        for h in (1e-2, 0.05, 0.7):  # exact for a quadratic at any step
            f = liu_landscape.loss_along(net, theta, Q[:, j], loss)
            assert liu_landscape.fd_curvature(f, h) == pytest.approx(float(lams[j]), rel=1e-7)
    mixed = (Q[:, 0] + Q[:, 1]) / math.sqrt(2)  # not an eigenvector: the Rayleigh quotient
    f = liu_landscape.loss_along(net, theta, mixed, loss)
    assert liu_landscape.fd_curvature(f, 0.1) == pytest.approx(5.25, rel=1e-7)
    assert torch.equal(net.w.detach(), theta)  # parameters restored after every evaluation


def test_loss_surface_is_centred_on_the_trained_parameters():
    cfg = replace(liu_landscape.CONFIGS["quick"], surface_n=3, surface_r=0.1, pgd_steps=2)
    model = liu_landscape.make_model(cfg, 0).eval()
    gen = torch.Generator().manual_seed(4)
    X, y = torch.rand(16, 1, 8, 8, generator=gen), torch.arange(16) % 10
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    V, _ = torch.linalg.qr(torch.randn(theta.numel(), 2, generator=gen, dtype=F64))
    grid = liu_landscape.loss_surface(model, X, y, V, 0.1, cfg, seed=1)
    assert grid.shape == (3, 3)
    assert grid[1, 1] == liu_landscape.adversarial_loss(model, X, y, 0.1, cfg, seed=1)
    moved = liu_landscape.make_model(cfg, 0).eval()  # the corner a = (-r, +r), by hand
    torch.nn.utils.vector_to_parameters(theta + (-0.1 * V[:, 0] + 0.1 * V[:, 1]).float(),
                                        moved.parameters())
    assert grid[0, 2] == pytest.approx(liu_landscape.adversarial_loss(moved, X, y, 0.1, cfg, 1),
                                       rel=1e-5)
    assert len(np.unique(grid)) == 9  # every point its own loss
    assert torch.equal(torch.nn.utils.parameters_to_vector(model.parameters()), theta)


def test_pgd_delta_is_deterministic_and_zero_at_eps_zero():
    model = liu_landscape.make_model(liu_landscape.CONFIGS["quick"], 0).eval()
    X, y = torch.rand(4, 1, 8, 8), torch.arange(4)
    a = liu_landscape.pgd_delta(model, X, y, 0.1, 3, seed=5)
    assert torch.equal(a, liu_landscape.pgd_delta(model, X, y, 0.1, 3, seed=5))
    assert a.abs().max() <= 0.1 + 1e-6
    assert torch.equal(liu_landscape.pgd_delta(model, X, y, 0.0, 3, seed=5), torch.zeros_like(X))


def test_pas_schedules_and_periodic_run(monkeypatch):
    cfg = liu_pas.CONFIGS["quick"]
    assert liu_pas.eps_schedule("const", cfg, (0, 10))(7) == cfg.target
    cos = liu_pas.eps_schedule("cosine", cfg, (0, 10))
    assert cos(0) == 0.0 and cos(9) == pytest.approx(cfg.target)
    tiny = replace(cfg, n_train=64, lrs=(3e-3,), num_epochs=4, batch_size=32, eval_steps=2,
                   periodic_dataset="cifar10")
    monkeypatch.setitem(liu_pas.CONFIGS, "tiny", tiny)
    monkeypatch.setattr(liu_pas.data, "available", lambda data_dir=None: {"cifar10": False})
    res = liu_pas.run("tiny")
    assert res.summary()["periodic_dataset"] == "digits"
    assert "cifar10 files not found" in res.summary()["periodic_note"]
    assert set(res.sweep) == {"const", "cosine", "linear"} and list(res.warmup) == [3e-3]
    for p in res.periodic.values():
        assert set(p) == {"final", "ensemble"} and 0 <= p["ensemble"]["robust"] <= 1
    assert len(res.summary()["robust"]["const"]) == 1


def test_checkpoints_of_a_periodic_run_are_the_period_ends():
    X = torch.rand(64, 1, 8, 8)
    y = torch.arange(64) % 10
    ckpt = train.Checkpoints([1, 2, 3])
    cfg = replace(liu_pas.CONFIGS["quick"], num_epochs=4, batch_size=32)
    with liu.single_thread():
        liu_pas.fit(cfg, X, y, eps=train.constant(0.05), lr=1e-3, seed=0, callback=ckpt)
    assert len(ckpt.models) == 3
