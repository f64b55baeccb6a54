"""The influence experiment (Cheng Figs. 2-3): the attack path's A_hat against a hand-written
loop on a linear score, the grouping, and a smoke run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from advproof import models
from advproof.experiments import cheng_influence as ci

F64 = torch.float64


def test_raw_attack_path_matches_a_direct_loop_on_a_linear_score():
    # z = w.x + b: g~_x = w, H_z = s(z)(1 - s(z)), g_x = -y s(-y z) w for the logistic loss.
    net = models.MLP(5, (), 1, generator=torch.Generator().manual_seed(0)).double()
    X = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=F64)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=F64)
    w = net.linears[0].weight[0].detach().numpy()
    b = float(net.linears[0].bias[0].detach())
    alpha, m = 0.3, 7
    out = ci.raw_attack_path(net, X, y, alpha, (3, m))
    for i in range(4):
        x, yi = X[i].numpy(), float(y[i])
        d, a_hat, hz = np.zeros(5), 0.0, []
        for t in range(m):
            z = w @ (x + d) + b
            s = 1 / (1 + np.exp(-z))
            hz.append(s * (1 - s))
            a_hat += alpha * s * (1 - s) * (w @ w)
            d = d + alpha * (-yi / (1 + np.exp(yi * z))) * w
            if t + 1 == 3:
                np.testing.assert_allclose(out[3][0][i].numpy(), d, rtol=1e-12, atol=1e-14)
        delta, a, a_bar = (v[i].numpy() for v in out[m])
        np.testing.assert_allclose(delta, d, rtol=1e-12, atol=1e-14)
        assert a == pytest.approx(a_hat, rel=1e-12)
        assert a_bar == pytest.approx(np.mean(hz) * m * alpha * (w @ w), rel=1e-12)
        assert np.linalg.norm(delta) > 0  # the attack moved


def test_raw_attack_path_refuses_empty_or_zero_steps():
    net = models.MLP(2, (), 1).double()
    X, y = torch.zeros(1, 2, dtype=F64), torch.ones(1, dtype=F64)
    for steps in ((), (0, 3)):
        with pytest.raises(ValueError, match="steps"):
            ci.raw_attack_path(net, X, y, 0.1, steps)


def test_decile_groups_are_equal_sized_and_ordered():
    a = np.random.default_rng(0).permutation(25).astype(float)
    groups = ci.decile_groups(a, 10)
    assert sorted(np.concatenate(groups).tolist()) == list(range(25))
    assert {len(g) for g in groups} == {2, 3}
    assert all(a[g1].max() < a[g2].min() for g1, g2 in itertools.pairwise(groups))


@pytest.fixture(scope="module")
def smoke() -> ci.Result:
    return ci.run("smoke")


def test_smoke_run_shapes_and_invariants(smoke):
    cfg = ci.CONFIGS["smoke"]
    n = len(smoke.p_y)
    assert n == cfg.n_images
    assert set(smoke.x) == {*ci.X_AXES, ci.CONTROL_AXIS} and set(smoke.y) == set(ci.Y_AXES)
    assert all(len(v) == n for v in (*smoke.x.values(), *smoke.y.values()))
    assert set(smoke.cos) == set(cfg.cos_steps)
    for m in cfg.cos_steps:
        g = smoke.group_means(m)
        assert len(g["cos"]) == cfg.groups
        assert sum(g["share"]) == pytest.approx(1.0)  # the groups partition the mean update
        assert all(-1 - 1e-12 <= c <= 1 + 1e-12 for c in smoke.cos[m])
        assert g["key"] == sorted(g["key"])
    # A_hat grows along the path: the longer attack has the larger imbalance for every image
    m0, m1 = sorted(cfg.cos_steps)
    assert all(b >= a for a, b in zip(smoke.a_path[m0], smoke.a_path[m1], strict=True))
    rho = smoke.correlations()
    assert all(-1 <= r <= 1 for row in rho.values() for r in row.values())


def test_bad_mode_and_device():
    with pytest.raises(ValueError, match="mode"):
        ci.run("huge")
    with pytest.raises(ValueError, match="cpu"):
        ci.run("smoke", device="cuda")
