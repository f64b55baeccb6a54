"""advproof.pruning: the capped allocation (5.11), top-k masks with the straight-through
estimator, the masked MLP, and the counting of empty units."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
import torch

from advproof import pruning


def test_allocation_meets_the_budget_and_the_caps():
    ns = [1728, 36864, 36864, 73728, 5120]
    for r, g in itertools.product((0.5, 0.9, 0.99), (0.0, 0.1, 0.5, 1.0)):
        m = pruning.allocate_capped(ns, r, g)
        assert m.sum() == pytest.approx((1 - r) * sum(ns), rel=1e-9)
        assert np.all(m <= np.asarray(ns) + 1e-9)
    # gamma = 1 without an active cap is a fixed rate
    assert pruning.allocate_capped(ns, 0.9, 1.0) / np.asarray(ns) == pytest.approx(0.1)
    # a fixed number per layer (gamma = 0) would give the small layer 500 of its 100 weights:
    # the cap keeps all 100 and the large layer takes the rest
    assert pruning.allocate_capped([100, 100_000], 0.99, 0.0) == pytest.approx([100, 901])


def test_integer_allocation_keeps_at_least_one_weight_per_layer():
    keeps = pruning.allocate([16384, 65536, 2560], 0.99, 1.0)
    assert keeps == [164, 655, 26]
    assert pruning.allocate([10, 100000], 0.9999, 1.0)[0] == 1
    with pytest.raises(ValueError, match="pruning rate"):
        pruning.allocate([10, 10], 1.0, 1.0)


def test_top_k_mask_keeps_the_largest_magnitudes():
    s = torch.tensor([[0.1, -0.9, 0.3], [-0.2, 0.05, 0.8]])
    mask = pruning.top_k_mask(s, 2)
    assert mask.tolist() == [[0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="k must be"):
        pruning.top_k_mask(s, 0)
    with pytest.raises(ValueError, match="k must be"):
        pruning.top_k_mask(s, 7)


def test_masked_linear_forward_and_straight_through_gradient():
    gen = torch.Generator().manual_seed(0)
    layer = pruning.MaskedLinear(5, 4, keep=6, generator=gen).double()
    x = torch.randn(3, 5, dtype=torch.float64, generator=gen)
    mask = layer.mask()
    assert int(mask.sum()) == 6
    assert set(layer.weight.unique().tolist()) <= {-1.0, 1.0}
    out = layer(x)
    torch.testing.assert_close(out, x @ (layer.weight * mask).T)
    # straight-through: dL/ds = dL/dW_eff * w * sign(s), for kept and pruned weights alike
    g_out = torch.randn(3, 4, dtype=torch.float64, generator=gen)
    (out * g_out).sum().backward()
    expected = (g_out.T @ x) * layer.weight * layer.scores.detach().sign()
    torch.testing.assert_close(layer.scores.grad, expected)
    assert bool((layer.scores.grad[mask == 0] != 0).any())  # pruned weights get a gradient too


def test_masked_linear_rejects_bad_arguments():
    with pytest.raises(ValueError, match="init"):
        pruning.MaskedLinear(3, 3, 2, init="kaiming")
    with pytest.raises(ValueError, match="score_scale"):
        pruning.MaskedLinear(3, 3, 2, score_scale=0.0)
    with pytest.raises(ValueError, match="k must be"):
        pruning.MaskedLinear(3, 3, 10)


def test_skc_weights_have_the_signed_kaiming_constant():
    layer = pruning.MaskedLinear(50, 4, keep=20, init="skc", rate=0.9)
    assert layer.weight.abs().unique().tolist() == pytest.approx([math.sqrt(2 / (50 * 0.1))])


def test_subnet_mlp_shapes_counts_and_lbn():
    net = pruning.SubnetMLP(64, (32, 16), 10, rate=0.9, gamma=0.5, seed=1)
    assert len(net.layers) == 3 and net.lbn is not None
    z = net(torch.rand(8, 64))
    assert z.shape == (8, 10)
    assert [int(m.sum()) for m in net.masks()] == net.keeps
    assert [m.shape for m in net.masks()] == [(32, 64), (16, 32), (10, 16)]
    # the LBN normalises every logit over the batch (train mode, no affine parameters)
    torch.testing.assert_close(z.mean(0), torch.zeros(10), atol=1e-5, rtol=0)
    # only the scores are trainable
    assert {n for n, p in net.named_parameters()} == {f"layers.{i}.scores" for i in range(3)}
    with pytest.raises(ValueError, match="width"):
        pruning.SubnetMLP(64, (0,), 10, rate=0.5, gamma=1.0)


def test_empty_units_counts_missing_in_and_out_weights():
    a = torch.tensor([[1, 0], [0, 0], [0, 1]])  # layer 1: 2 -> 3, unit 1 has no incoming weight
    b = torch.tensor([[1, 0, 0], [0, 0, 0]])  # layer 2: 3 -> 2, units 1 and 2 have no outgoing
    units = pruning.empty_units([a, b])
    assert units[0]["no_in"].tolist() == [False, True, False]
    assert units[0]["no_out"].tolist() == [False, True, True]


def test_p_unit_empty_is_the_hypergeometric_probability():
    for n, fan, keep in ((10, 3, 4), (12, 5, 7), (9, 2, 7), (8, 3, 6)):
        exact = sp.binomial(n - fan, keep) / sp.binomial(n, keep)
        assert pruning.p_unit_empty(n, fan, keep) == pytest.approx(float(exact), rel=1e-12)
        # brute force over every keep-subset of range(n)
        subsets = list(itertools.combinations(range(n), keep))
        empty = sum(all(i >= fan for i in sub) for sub in subsets) / len(subsets)
        assert pruning.p_unit_empty(n, fan, keep) == pytest.approx(empty, rel=1e-12)
    assert pruning.p_unit_empty(10, 5, 6) == 0.0  # more kept than outside the unit
    with pytest.raises(ValueError):
        pruning.p_unit_empty(5, 6, 1)
