"""Vanilla vs robust nets on the 8x8 digits (advproof.experiments.thesis_nonuniform): a smoke
run's shapes and invariants, the statistics, and argument validation."""

from __future__ import annotations

import json
import math

import pytest
import torch

from advproof import bounds
from advproof.experiments import thesis_nonuniform as tn


@pytest.fixture(scope="module")
def smoke() -> tn.Result:
    return tn.run("smoke")


def test_smoke_run_shapes_and_certified_budgets(smoke):
    cfg = tn.CONFIGS["smoke"]
    assert set(smoke.eps) == set(smoke.maps) == set(tn.KINDS)
    Xte, yte = tn.load("test")
    for kind in tn.KINDS:
        eps, u = smoke.eps[kind], smoke.uniform[kind]
        assert eps.shape == (len(u), 64) and len(u) <= cfg.n_test
        assert bool((eps > 0).all()) and bool((u >= 0).all())
        # Alg. 3.3 keeps the best feasible box, never smaller in volume than the uniform one
        assert bool((torch.log(eps).mean(1) >= torch.log(u.clamp_min(1e-6)) - 1e-12).all())
        assert smoke.ratio(kind) >= 1 - 1e-12
        # the budgets are certified: every margin lower bound on the box is >= 0
        layers, idx = smoke.layers[kind], smoke.index[kind]
        assert bool((bounds.forward(layers, Xte[idx]).argmax(1) == yte[idx]).all())
        spec = bounds.margin_spec(yte[idx], 10)
        low = bounds.linear_bounds(layers, Xte[idx], eps, math.inf, spec=spec).lower
        mask = torch.nn.functional.one_hot(yte[idx], 10).bool()
        assert bool((low.masked_fill(mask, 1.0) >= -1e-9).all())
        assert smoke.maps[kind].shape[1] == 64 and set(smoke.map_labels[kind].tolist()) <= {0, 1}
        Pte, pte = tn.load("test", cfg.pair)
        assert torch.equal(pte[smoke.map_index[kind]], smoke.map_labels[kind])
    assert smoke.discriminative.shape == (64,) and float(smoke.discriminative.min()) >= 0
    json.dumps(smoke.to_json())


def test_cosines_and_shares():
    v = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    assert tn.unit_cosines(v).tolist() == pytest.approx([1.0, 0.0, 0.0])
    res = tn.Result(config={"eps": 0.1}, eps={"a": torch.tensor([[0.05, 0.3], [0.25, 0.1]])},
                    uniform={"a": torch.tensor([0.05, 0.1])})
    assert res.large_share("a", 2.0) == pytest.approx(0.5)
    u, nu = res.eps_avg("a")
    assert u == pytest.approx(0.075)
    assert nu == pytest.approx((math.sqrt(0.05 * 0.3) + math.sqrt(0.25 * 0.1)) / 2)
    # shuffling keeps every vector's values (same marginals)
    sh = res.shuffled_cosines("a", seed=3)
    assert len(sh) == 1 and 0 < float(sh[0]) <= 1


def test_bad_mode_and_device():
    with pytest.raises(ValueError, match="mode"):
        tn.run("huge")
    with pytest.raises(ValueError, match="cpu"):
        tn.run("smoke", device="cuda")
