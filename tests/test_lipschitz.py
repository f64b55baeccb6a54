"""advproof.lipschitz: the two bounds bracket the constant, and agree where they must."""

from __future__ import annotations

import pytest
import torch

from advproof import lipschitz, models


def _mlp(widths: tuple[int, ...], seed: int = 0) -> models.MLP:
    return models.MLP(6, widths, 3, generator=torch.Generator().manual_seed(seed)).double()


def test_an_affine_model_has_both_estimates_equal_to_its_spectral_norm():
    net = _mlp(())
    W = net.linears[0].weight.detach()
    exact = float(torch.linalg.matrix_norm(W, ord=2))
    X = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert lipschitz.spectral_product(net) == pytest.approx(exact, rel=1e-12)
    torch.testing.assert_close(lipschitz.local_jacobian_norm(net, X),
                               torch.full((5,), exact, dtype=torch.float64))


def test_the_product_bounds_every_local_jacobian_and_every_difference_quotient():
    net = _mlp((16, 16))
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(200, 6, dtype=torch.float64, generator=gen)
    upper = lipschitz.spectral_product(net)
    local = lipschitz.local_jacobian_norm(net, X)
    assert local.max() <= upper
    X2 = X + 1e-3 * torch.randn(X.shape, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        quotients = (net(X2) - net(X)).norm(dim=1) / (X2 - X).norm(dim=1)
    assert quotients.max() <= upper
    # the lower estimate is attained: a small step along the top right singular vector of J
    J = torch.func.jacrev(net)(X[:1])[0, :, 0]  # (C, D) at the first point
    v = torch.linalg.svd(J).Vh[0]
    with torch.no_grad():
        q = (net(X[:1] + 1e-6 * v) - net(X[:1])).norm() / 1e-6
    assert float(q) == pytest.approx(float(local[0]), rel=1e-4)


def test_the_product_is_not_the_local_norm_of_a_deep_relu_net():
    net = _mlp((16, 16))
    X = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert float(lipschitz.local_jacobian_norm(net, X).max()) < 0.9 * lipschitz.spectral_product(
        net)  # a loose upper bound: why the thesis's estimator tightens it


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="linears"):
        lipschitz.spectral_product(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        lipschitz.local_jacobian_norm(_mlp(()), torch.zeros(0, 6, dtype=torch.float64))


def test_the_jacobian_leaves_the_training_mode_as_it_was():
    net = _mlp((4,)).train()
    lipschitz.local_jacobian_norm(net, torch.zeros(2, 6, dtype=torch.float64))
    assert net.training
