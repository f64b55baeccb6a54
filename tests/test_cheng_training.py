"""The chapter-4 experiment (advproof.experiments.cheng_training) and the numeric helpers of
advproof.symbolic.cheng_training, against independent references."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from advproof import attacks, curvature, experiments, models
from advproof.experiments import cheng_training as ct
from advproof.symbolic import cheng_training as theory
from advproof.threads import single_thread

F64 = torch.float64


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


def _nets(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return (models.MLP(16, (7, 5), 1, generator=gen).double(),
            models.SmallCNN(1, 1, 4, channels=(2, 3), generator=gen).double(),
            models.SmallResCNN(1, 1, 4, channels=(2, 3), generator=gen).double())


def _inputs(net, n: int = 12, seed: int = 0):
    """Inputs that reach a live unit (lambda_1 > 0), labels +-1."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=gen, dtype=F64)
    y = torch.tensor([1.0, -1.0] * (n // 2), dtype=F64)
    live = ct.local(net, x, y, "mse").gt_x.norm(dim=1) > 0
    assert live.sum() >= 2
    return x[live], y[live]


@pytest.fixture(scope="module")
def smoke():
    with warnings.catch_warnings():  # the smoke nets are tiny: some images sit on dead units
        warnings.simplefilter("ignore", attacks.ZeroInputGradientWarning)
        return experiments.module("cheng_training").run("smoke", seed=0)


# --- the experiment's building blocks ----------------------------------------------------------


@pytest.mark.parametrize("arch", [0, 1, 2], ids=["mlp", "cnn", "rescnn"])
def test_weight_bilinear_is_the_per_image_weight_gradient(arch):
    net = _nets(1)[arch]
    x, y = _inputs(net, seed=1)
    fl = ct.first_layer(net)
    B = ct.weight_bilinear(fl.layer, fl.shape(x), ct.local(net, x, y, "bce").g_h)
    for i in range(len(x)):  # reference: autograd of image i's loss alone
        value = attacks.loss_fn("bce")(net(x[i:i + 1]), y[i:i + 1]).sum()
        (ref,) = torch.autograd.grad(value, fl.layer.weight)
        torch.testing.assert_close(B[i], ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("arch", [0, 1, 2], ids=["mlp", "cnn", "rescnn"])
def test_local_quantities_match_curvature(arch):
    net = _nets(2)[arch]
    x, y = _inputs(net, seed=2)
    fz = ct.frozen(net, x)
    q = ct.local(fz, x, y, "bce")
    torch.testing.assert_close(q.gt_x, curvature.logit_jacobian(fz, x)[:, 0], rtol=1e-12,
                               atol=1e-14)
    p = torch.sigmoid(y * q.z)
    torch.testing.assert_close(q.H_z, p * (1 - p))
    torch.testing.assert_close(q.g_z, -y * (1 - p))
    lam1 = torch.linalg.eigvalsh(curvature.input_hessian(fz, x, y, "bce"))[:, -1]
    torch.testing.assert_close(q.H_z * q.gt_x.pow(2).sum(1), lam1, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("arch", [1, 2], ids=["cnn", "rescnn"])
def test_frozen_cnn_is_the_cnn_at_the_reference_and_affine(arch):
    net = _nets(3)[arch]
    x, _ = _inputs(net, seed=3)
    fz = ct.frozen(net, x)
    assert fz.n_gates == (2 if arch == 1 else 3)
    torch.testing.assert_close(fz(x), net(x))
    d = torch.randn_like(x)
    mid = fz(x + d) - fz(x)
    torch.testing.assert_close(fz(x + 2 * d) - fz(x), 2 * mid)  # affine along any line


@pytest.mark.parametrize("arch", [0, 1, 2], ids=["mlp", "cnn", "rescnn"])
def test_prediction_is_exact_for_the_first_layer_of_a_quadratic_model(arch):
    """Frozen gates + MSE + m steps: Lemma 4's strong form with E = (1 + alpha lambda)^m is the
    real change of the weight gradient; the e^A form misses it by the discretisation gap."""
    net = _nets(4)[arch]
    x, y = _inputs(net, seed=4)
    fz = ct.frozen(net, x)
    q = ct.local(fz, x, y, "mse")
    lam1 = q.H_z * q.gt_x.pow(2).sum(1)
    a, m = 0.5 / lam1 / 5, 5
    delta = attacks.raw_ascent(fz, x, y, alpha=a, steps=m, loss="mse")
    meas = ct.phi_measurements(fz, fz, x, y, delta, "mse",
                               {"m": (1 + a * lam1) ** m, "exp": torch.exp(a * m * lam1)})
    torch.testing.assert_close(meas["phi_m"], meas["phi_real"], rtol=1e-10, atol=0)
    assert (meas["cos_m"] > 1 - 1e-12).all()
    gap = ct.phi_errors(meas["phi_real"], meas["phi_exp"])
    assert (gap > 1e-6).all() and (gap < 0.2).all(), gap


def test_printed_theorem3_needs_a_dense_first_layer():
    """Theorem 3's ||g~_h||^2 is the dense layer's ||B(g~_x, g~_h)||^2/||g~_x||^2: equal for
    the MLP, not for the CNN."""
    out = {}
    for name, net in zip(("mlp", "cnn", "rescnn"), _nets(5), strict=True):
        x, y = _inputs(net, seed=5)
        fz = ct.frozen(net, x)
        delta = 0.01 * torch.randn_like(x)
        E = {"e": torch.full((len(x),), 1.7, dtype=F64)}
        meas = ct.phi_measurements(fz, fz, x, y, delta, "bce", E)
        out[name] = ct.phi_errors(meas["phi_e"], meas["phi_printed_e"]).max()
    assert out["mlp"] < 1e-12 and out["cnn"] > 1e-3 and out["rescnn"] > 1e-3, out


def test_delta_metric_against_a_direct_computation():
    net = _nets(6)[0]
    x, y = _inputs(net, seed=6)
    x, y = x[:1], y[:1]
    weight = net.linears[1].weight
    before = weight.detach().clone()
    got = ct.delta_metric(net, weight, x, y, "bce", step=1e-4)
    torch.testing.assert_close(weight.detach(), before, rtol=0, atol=0)  # restored

    def grad_at(w):
        layer = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        layer.weight, layer.bias = torch.nn.Parameter(w), net.linears[1].bias
        h = torch.relu(net.linears[0](x))
        z = net.linears[2](torch.relu(layer(h)))
        return torch.autograd.grad(torch.nn.functional.softplus(-y * z[:, 0]).sum(),
                                   layer.weight)[0]

    g0 = grad_at(before.clone())
    dW = -1e-4 * g0 / g0.norm()
    g1 = grad_at(before.clone() + dW)
    ref = float((g1 - g0).norm() / (weight.shape[0] * dW.norm()))
    assert math.isclose(got, ref, rel_tol=1e-9), (got, ref)


def test_delta_metric_closed_form_on_a_frozen_quadratic_first_layer():
    fz, _, x, y = theory._net_case(3)
    q = theory.first_layer_quantities(fz, x, y, "mse")
    D = fz.linears[0].weight.shape[0]
    got = ct.delta_metric(fz, fz.linears[0].weight, x, y, "mse", 1e-3)
    assert math.isclose(got, theory.delta_metric_closed_form(x[0], q, D), rel_tol=1e-9)


def test_random_like_norm_keeps_each_row_norm():
    d = torch.randn(5, 7, dtype=F64)
    r = ct.random_like_norm(d, torch.Generator().manual_seed(0))
    torch.testing.assert_close(r.norm(dim=1), d.norm(dim=1))
    assert float((torch.nn.functional.cosine_similarity(r, d)).abs().max()) < 0.999


def test_trimmed_mean_keeps_the_smallest_values():
    v = np.array([5.0, 1.0, 2.0, 3.0, 100.0, 4.0, 6.0, 7.0, 8.0, 9.0])
    assert ct.trimmed_mean(v, 0.1) == pytest.approx(np.mean(np.sort(v)[:9]))
    assert ct.trimmed_mean(v, 0.0) == pytest.approx(v.mean())


def test_top_hessian_eigenvalue_against_the_dense_hessian():
    gen = torch.Generator().manual_seed(7)
    net = models.MLP(3, (4,), 1, generator=gen).double()
    X = torch.randn(10, 3, generator=gen, dtype=F64)
    y = torch.tensor([1.0, -1.0] * 5, dtype=F64)
    params = list(net.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(v):
        chunks, i = [], 0
        for p in params:
            chunks.append(v[i:i + p.numel()].reshape(p.shape))
            i += p.numel()
        h = torch.relu(X @ chunks[0].T + chunks[1])
        z = h @ chunks[2].T + chunks[3]
        return torch.nn.functional.softplus(-y * z[:, 0]).mean()

    H = torch.autograd.functional.hessian(loss_of, flat)
    ref = float(torch.linalg.eigvalsh(H)[-1])
    got = ct.top_hessian_eigenvalue(net, X, y, iters=flat.numel())
    assert math.isclose(got, ref, rel_tol=1e-9), (got, ref)


# --- bad input -----------------------------------------------------------------------------


def test_bad_input_raises_value_error():
    net = _nets(0)[0]
    x, y = _inputs(net)
    with pytest.raises(ValueError, match="step"):
        ct.delta_metric(net, net.linears[0].weight, x, y, step=0.0)
    with pytest.raises(ValueError, match="mode"):
        ct.run("huge")
    with pytest.raises(ValueError, match="cpu"):
        ct.run("smoke", device="cuda")
    with pytest.raises(ValueError, match="arch"):
        ct.build("resnet", 64, ct.CONFIGS["smoke"], 0)
    with pytest.raises(ValueError, match="training"):
        ct.train_net("mlp", "robust", x.float(), y, ct.CONFIGS["smoke"], 0)
    with pytest.raises(ValueError, match="trim"):
        ct.trimmed_mean(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="unsupported"):
        ct.first_layer(torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="frozen"):
        ct.frozen(torch.nn.Linear(3, 1), x)
    with pytest.raises(ValueError, match="single-output"):
        ct.local(models.MLP(16, (4,), 3).double(), x, torch.zeros(len(x), dtype=torch.long),
                 "ce")
    dead = models.MLP(16, (3,), 1).double()
    with torch.no_grad():
        dead.linears[0].bias.fill_(-1e3)  # every unit off: no gradient in the first layer
    with pytest.raises(ValueError, match="zero"):
        ct.delta_metric(dead, dead.linears[0].weight, x, y)


# --- the smoke run -------------------------------------------------------------------------


def test_smoke_run_is_well_formed(smoke):
    json.dumps(smoke.to_json())  # plain types only
    for arch in ct.ARCHS:
        for A in smoke.config.table_A:
            for form in ("exp", "m", "printed_exp"):
                for row in smoke.kappa_table(arch, A, form).values():
                    assert -1.0 <= row["cos_dgW"] <= 1.0
                    assert 0.0 <= row["kappa_000"] <= row["mean"] + 1e-15  # trimming lowers it
                    assert row["kappa_001"] >= 0.0 and math.isfinite(row["kappa_001"])
        for gates in ("frozen", "free"):
            cos = smoke.regime[arch][gates]["cos"]
            assert ((cos >= -1 - 1e-12) & (cos <= 1 + 1e-12)).all()
            stats = smoke.regime_stats(arch, gates)
            assert (stats["trimmed"] <= stats["mean"] + 1e-15).all()
    assert set(smoke.hessian) == {f"{a}/{t}" for a in ct.ARCHS for t in ct.TRAININGS}
    assert all(
        set(h) == {"clean", "adv", "rand"} and min(h.values()) > 0 for h in smoke.hessian.values()
    )
    for key in smoke.oscillation:
        assert set(next(iter(smoke.delta_medians(key).values()))) == set(ct.PERTURBATIONS)


def test_smoke_mse_frozen_finite_m_is_exact(smoke):
    for arch in ct.ARCHS:
        for A in smoke.config.table_A:
            row = smoke.kappa_table(arch, A, "m")["MSE, frozen gates"]
            assert row["mean"] < 1e-9, (arch, A, row)


# --- numeric helpers of advproof.symbolic.cheng_training -----------------------------------


def test_theorem_forms_agree_numerically():
    rng = np.random.default_rng(0)
    for _ in range(50):
        phi, gz, ngh2, Hz, eta = rng.normal(), rng.normal(), rng.random() + 0.1, \
            rng.random() + 0.1, rng.random() + 0.1
        E = math.exp(rng.random() * 3)
        t3, t4 = theory.thm3(phi, gz, ngh2, Hz, E, eta), theory.thm4(phi, gz, ngh2, Hz, E, eta)
        assert t4 == pytest.approx(t3 + phi, rel=1e-12, abs=1e-12)
        nd = rng.random() + 0.1  # C = ||delta||: Theorem 5 is Theorem 3 (001's choice)
        assert theory.thm5(phi, gz, ngh2, Hz, E, eta, nd, nd) == pytest.approx(t3, rel=1e-12)
        assert theory.thm5(phi, gz, ngh2, Hz, E, eta, 2 * nd, nd) != pytest.approx(t3)


def test_h2_exact_tends_to_the_corrected_limit_not_the_printed_form():
    for zy, ngx in ((1.0, 1.0), (3.0, 0.5)):
        big = theory.h2_exact(zy, 2000.0, ngx)  # A = 22 to 390
        assert big == pytest.approx(theory.h2_limit(zy, 2000.0, ngx), rel=1e-9)
        assert abs(theory.h2_printed(zy, 2000.0, ngx) / big - 1) > 0.5


def test_effective_update_is_exact_for_the_first_layer_only():
    assert max(theory.effective_update(1, s) for s in range(3)) < 1e-12
    assert min(theory.effective_update(2, s) for s in range(3)) > 1e-3
    with pytest.raises(ValueError):
        theory.effective_update(3)


def test_assumption3_helpers():
    W = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    assert theory.pairwise_independent(W) and not theory.full_column_rank(W)
    assert abs(np.linalg.det(W.T @ W)) < 1e-12
    rng = np.random.default_rng(1)
    V = rng.normal(size=(4, 2))
    assert theory.full_column_rank(V) and theory.pairwise_independent(V)
