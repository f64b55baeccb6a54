"""The Lyu & Zhu experiment modules: data, engines, configs and results, on small settings."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from advproof import experiments, margins, models
from advproof.experiments import lyuzhu_deep_linear as dl
from advproof.experiments import lyuzhu_kkt as kkt
from advproof.experiments import lyuzhu_margins as mar


def test_experiments_are_registered():
    for name in ("lyuzhu_margins", "lyuzhu_deep_linear", "lyuzhu_kkt"):
        assert name in experiments.EXPERIMENTS
        assert set(experiments.module(name).CONFIGS) == {"quick", "full"}


# --- deep linear -------------------------------------------------------------------------------


def test_separable_data_has_the_gap_and_unit_norms():
    X, y = dl.separable_data(30, 3, 0.1, 0)
    assert X.shape == (30, 3) and np.all(np.linalg.norm(X, axis=1) <= 1)
    assert margins.hard_margin_svm(X, y).gamma >= 0.1
    with pytest.raises(ValueError, match="gap"):
        dl.separable_data(30, 3, 1.5, 0)


def test_one_support_vector_data():
    X, y = dl.one_support_vector_data(0)
    svm = margins.hard_margin_svm(X, y)
    assert np.isclose(svm.gamma, 0.6) and margins.angle_degrees(svm.u_bar, [1.0, 0.0]) == \
        pytest.approx(25.0, abs=1e-8)
    assert (svm.alpha > 1e-9).sum() <= 2  # the pair +-x_s, one direction


def test_gd_step_is_the_autograd_gradient_of_the_exact_adversarial_loss():
    X, y = dl.separable_data(10, 3, 0.1, 1)
    net = models.DeepLinear(3, (4, 4), 1, generator=torch.Generator().manual_seed(0)).double()
    W = [w.detach().numpy().copy() for w in margins.layer_weights(net)]
    for p, kind in ((2.0, "exact_l2"), (math.inf, "exact_linf")):
        q = margins.adversarial_margins(net, torch.from_numpy(X), torch.from_numpy(y),
                                        margins.Adversary(kind, eps=0.05), "total")
        grads = torch.autograd.grad(torch.nn.functional.softplus(-q).mean(),
                                    margins.layer_weights(net))
        prefix, suffix, w_pi = dl._products(W)
        dual = w_pi / np.linalg.norm(w_pi) if p == 2.0 else np.sign(w_pi)
        qn = (y[:, None] * X) @ w_pi - 0.05 * (np.linalg.norm(w_pi) if p == 2.0
                                              else np.abs(w_pi).sum())
        g = -(np.exp(-np.logaddexp(0.0, qn))[:, None] * (y[:, None] * X - 0.05 * dual)).mean(0)
        for k, gk in enumerate(grads):
            assert np.allclose(suffix[k].T @ g[None, :] @ prefix[k].T, gk.numpy(), atol=1e-14)


def test_gd_deep_linear_trajectory_and_validation():
    X, y = dl.separable_data(12, 3, 0.15, 0)
    tr = dl.gd_deep_linear(X, y, depth=2, eps=0.05, steps=200, checkpoints=6)
    assert tr.steps[0] == 0 and tr.steps[-1] == 200
    assert tr.rank_ratio.shape == (len(tr.steps), 2) and tr.norms.shape == tr.rank_ratio.shape
    assert tr.angle[-1] < tr.angle[0] and tr.loss[-1] < tr.loss0
    with pytest.raises(ValueError, match="p must be"):
        dl.gd_deep_linear(X, y, depth=2, eps=0.05, p=1.0, steps=1)


def test_deep_linear_run_small(monkeypatch):
    small = dataclasses.replace(dl.CONFIGS["quick"], depths=(1, 2), steps=300,
                                linf_depths=(2,), linf_steps=300, checkpoints=8)
    monkeypatch.setitem(dl.CONFIGS, "quick", small)
    res = dl.run("quick")
    summary = res.summary()
    assert set(summary["l2_final"]) == {1, 2} and summary["n_support"] >= 1
    assert summary["linf_angles_robust_vs_ubar"]["0.6"] == pytest.approx(25.0, abs=1e-6)
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="mode"):
        dl.run("huge")
    with pytest.raises(ValueError, match="cpu"):
        dl.run("quick", device="cuda")


# --- KKT flow ----------------------------------------------------------------------------------


def test_circle_data():
    X, y = kkt.circle_data(12, 1)
    assert torch.allclose(X.norm(dim=1), torch.ones(12, dtype=torch.float64))
    theta = torch.atan2(X[:, 1], X[:, 0])
    assert torch.equal(y, torch.sign(torch.cos(2 * theta)))
    with pytest.raises(ValueError, match="n >= 4"):
        kkt.circle_data(3)


def test_train_flow_small_and_validation():
    X, y = kkt.circle_data()
    f = kkt.train_flow(X, y, eps=0.1, variant="total", steps=150, checkpoints=8)
    assert len({len(a) for a in f if isinstance(a, np.ndarray)}) == 1
    assert f.separated_at >= 0 and np.isfinite(f.kkt[-1]) and f.log_loss[-1] < f.log_loss[0]
    ok = ~np.isnan(f.thm4)
    assert np.all(f.thm4[ok] >= 0)
    with pytest.raises(ValueError, match="variant"):
        kkt.train_flow(X, y, eps=0.1, variant="pgd", steps=1)


def test_kkt_run_small(monkeypatch):
    small = dataclasses.replace(kkt.CONFIGS["quick"], steps=120, checkpoints=6,
                                variants=("total", "standard"))
    monkeypatch.setitem(kkt.CONFIGS, "quick", small)
    res = kkt.run("quick")
    assert set(res.summary()) == {"eps=0.1/total", "eps=0.1/standard"}
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="cpu"):
        kkt.run("quick", device="cuda")


# --- digits margins ----------------------------------------------------------------------------


def test_margins_run_small(monkeypatch):
    small = dataclasses.replace(mar.CONFIGS["quick"], epochs=(1, 3), n_train=60, hidden=(16,))
    monkeypatch.setitem(mar.CONFIGS, "quick", small)
    res = mar.run("quick")
    assert set(res.runs) == {"standard", "fgsm", "pgd", "fgm"}
    for run in res.runs.values():
        assert run["epochs"].tolist() == [1, 3]
        assert all(run[f"{a}_acc"].max() <= 1 for a in mar.ATTACKS)
    summary = res.summary()
    assert summary["n_train"] == 60 and "separated_at" in summary["fgsm"]
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="mode"):
        mar.run("huge")


def test_adversaries_follow_the_config():
    advs = mar.adversaries(mar.CONFIGS["quick"])
    assert advs["pgd"].alpha == pytest.approx(0.375 * advs["pgd"].eps)
    assert advs["fgm"].kind == "fgm" and advs["fgsm"].eps == mar.CONFIGS["quick"].eps_inf
