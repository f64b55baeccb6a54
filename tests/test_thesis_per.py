"""The PER toy of thesis ch. 3 (advproof.experiments.thesis_per): a smoke run's shapes and
invariants, the statistics it reports, and argument validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from advproof import bounds
from advproof.experiments import thesis_per as tp
from advproof.symbolic import thesis_verify as tv


@pytest.fixture(scope="module")
def smoke() -> tp.Result:
    return tp.run("smoke")


def test_smoke_run_shapes_and_invariants(smoke):
    cfg = tp.CONFIGS["smoke"]
    assert tuple(smoke.metrics) == tv.TOY_KINDS == cfg.kinds
    Xt, yt = smoke.test_data()
    assert Xt.shape == (cfg.n_test, 2) and smoke.train_data()[0].shape == (cfg.n_train, 2)
    plain = math.ceil(math.log2(cfg.search_hi / cfg.search_tol))
    for kind, m in smoke.metrics.items():
        assert all(0 <= m[k] <= 1 for k in ("clean_err", "pgd_err", "cre_lin", "cre_ibp"))
        assert m["clean_err"] <= m["pgd_err"] <= min(m["cre_lin"], m["cre_ibp"]) + 1e-12
        r = np.asarray(smoke.radii[kind])
        assert r.shape == (cfg.n_test,)
        assert (r >= 0).all() and (r <= cfg.search_hi * cfg.eps).all()
        # misclassified points are certified nowhere: radius 0 after a full bisection
        wrong = (bounds.forward(smoke.layers[kind], Xt).argmax(1) != yt).numpy()
        assert (r[wrong] == 0).all()
        assert all(c == plain for c, bad in zip(smoke.calls[kind], wrong, strict=True) if bad)
        assert max(smoke.calls[kind]) <= plain
    json.dumps(smoke.to_json())  # the artifact is plain JSON


def test_weight_and_radius_statistics(smoke):
    w = smoke.weights("ce")
    assert len(w) == sum(W.numel() for W, _ in smoke.layers["ce"])
    stats = smoke.weight_stats("ce")
    assert stats["l1"] == pytest.approx(float(w.abs().sum()))
    assert stats["small"] == pytest.approx(float((w.abs() < 0.05).double().mean()))
    smoke.radii["fake"] = [0.0, 0.5 * smoke.eps, smoke.eps, 1.2 * smoke.eps, 3 * smoke.eps]
    try:
        s = smoke.radius_shares("fake", 1.5)
    finally:
        del smoke.radii["fake"]
    assert s["right"] == pytest.approx(3 / 5) and s["near"] == pytest.approx(2 / 3)
    assert s["median_right"] == pytest.approx(1.2)
    assert 0 < smoke.bayes_error() < 0.2  # overlapping blobs: a floor above zero


def test_optimal_radii_match_one_point_searches(smoke):
    layers = smoke.layers["per"]
    Xt, yt = smoke.test_data()
    r, calls = tp.optimal_radii(layers, Xt[:4], yt[:4], 2.0, 1e-3)
    for i in range(4):
        one = bounds.search_radius(
            lambda e, i=i: float(bounds.pec_radius(layers, Xt[i:i + 1], yt[i:i + 1], e,
                                                   math.inf)), 2.0, 1e-3)
        assert float(r[i]) == pytest.approx(one[0], rel=1e-12, abs=1e-15)
        assert int(calls[i]) == one[2]


def test_bad_mode_device_and_kind():
    with pytest.raises(ValueError, match="mode"):
        tp.run("huge")
    with pytest.raises(ValueError, match="cpu"):
        tp.run("smoke", device="cuda")
    with pytest.raises(ValueError, match="kind"):
        tv.train_toy("crown", 0.1, n=10, steps=1)


def test_kw_training_uses_the_linear_bounds():
    """A KW step on the same start moves the weights differently from an IBP step (they
    differ in the bound of the worst-case CE only)."""
    kw, _, _ = tv.train_toy("kw", 0.5, n=30, width=8, steps=3)
    ibp, _, _ = tv.train_toy("ibp", 0.5, n=30, width=8, steps=3)
    ce, _, _ = tv.train_toy("ce", 0.5, n=30, width=8, steps=3)
    diff = [float((a[0] - b[0]).abs().max()) for a, b in zip(kw, ibp, strict=True)]
    assert max(diff) > 1e-6
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(kw, ce, strict=True))
