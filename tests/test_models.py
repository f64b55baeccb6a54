"""Unit tests for advproof.models: shapes, float64, frozen gates, homogeneity, deep linear nets."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from advproof import models

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=F64)


def mlp(seed: int = 0, **kw) -> models.MLP:
    return models.MLP(5, [7, 6], 3, generator=gen(seed), **kw).double()


# --- construction, shapes, dtypes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "x_shape", "n_out"),
    [
        (lambda g: models.TwoLayerReLU(5, 8, 2, generator=g), (4, 5), 2),
        (lambda g: models.MLP(5, [8, 8], 3, generator=g), (4, 5), 3),
        (lambda g: models.MLP(5, [], 3, generator=g), (4, 5), 3),
        (lambda g: models.HomogeneousMLP(5, [8], 2, generator=g), (4, 5), 2),
        (lambda g: models.DeepLinear(5, [4, 4], 2, generator=g), (4, 5), 2),
        (lambda g: models.SmallCNN(generator=g), (4, 1, 8, 8), 10),
        (lambda g: models.SmallCNN(generator=g), (4, 64), 10),
        (lambda g: models.SmallCNN(3, 4, side=7, generator=g), (2, 3, 7, 7), 4),
        (lambda g: models.SmallResCNN(generator=g), (4, 64), 10),
        (lambda g: models.SmallResCNN(3, 1, side=7, generator=g), (2, 3, 7, 7), 1),
    ],
)
def test_models_map_batches_to_logits_in_float64(build, x_shape, n_out):
    model = build(gen()).double()
    z = model(torch.randn(*x_shape, generator=gen(1), dtype=F64))
    assert z.shape == (x_shape[0], n_out)
    assert z.dtype == F64


def test_generator_makes_init_reproducible_and_independent_of_global_rng():
    torch.manual_seed(123)
    a = models.MLP(4, [5], 2, generator=gen(7))
    torch.manual_seed(456)
    b = models.MLP(4, [5], 2, generator=gen(7))
    c = models.MLP(4, [5], 2, generator=gen(8))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
    default = models.MLP(4, [5], 2), models.TwoLayerReLU(4, 5, 2), models.SmallCNN()
    assert all(m(torch.zeros(1, 4 if i < 2 else 64)).shape[0] == 1 for i, m in enumerate(default))
    bound = 1 / 4**0.5  # PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert a.linears[0].weight.abs().max() <= bound


def test_small_res_cnn_adds_the_skip_connection():
    model = models.SmallResCNN(1, 2, 4, channels=(2, 3), generator=gen()).double()
    x = randn(3, 16, seed=2)
    a = torch.relu(model.conv1(x.view(-1, 1, 4, 4)))
    a = torch.relu(a + model.block(a))  # the block's output is added to its input
    expected = model.fc(torch.relu(model.conv2(a)).flatten(1))
    torch.testing.assert_close(model(x), expected, rtol=1e-14, atol=1e-14)
    with torch.no_grad():
        model.block.weight.zero_()
        model.block.bias.zero_()  # an empty block leaves relu(a + 0) = a: a plain CNN remains
    h = torch.relu(model.conv1(x.view(-1, 1, 4, 4)))
    plain = model.fc(torch.relu(model.conv2(h)).flatten(1))
    torch.testing.assert_close(model(x), plain, rtol=1e-14, atol=1e-14)


def test_two_layer_relu_is_the_papers_formula():
    model = models.TwoLayerReLU(5, 8, 3, generator=gen()).double()
    x = randn(4, 5, seed=1)
    W1, b1 = model.fc1.weight.T, model.fc1.bias
    W2, b2 = model.fc2.weight.T, model.fc2.bias
    expected = torch.relu(x @ W1 + b1) @ W2 + b2  # h = W1^T x + b1, z = W2^T relu(h) + b2
    torch.testing.assert_close(model(x), expected, rtol=1e-14, atol=1e-14)
    assert [lin.out_features for lin in model.linears] == [8, 3]


def test_mlp_activations_and_linears():
    x = randn(3, 5, seed=1)
    relu, tanh = mlp(activation="relu"), mlp(activation="tanh")
    assert len(relu.linears) == 3 and all(isinstance(m, torch.nn.Linear) for m in relu.linears)
    h = x
    for linear in tanh.linears[:-1]:
        h = torch.tanh(linear(h))
    torch.testing.assert_close(tanh(x), tanh.linears[-1](h), rtol=1e-14, atol=1e-14)
    assert not torch.allclose(relu(x), tanh(x))
    assert mlp(bias=False).linears[0].bias is None


@pytest.mark.parametrize(
    "build",
    [
        lambda: models.MLP(5, [4], 2, activation="sigmoid"),
        lambda: models.MLP(0, [4], 2),
        lambda: models.MLP(5, [0], 2),
        lambda: models.TwoLayerReLU(5, 4, 0),
        lambda: models.SmallCNN(side=0),
        lambda: models.SmallResCNN(channels=(0, 4)),
    ],
)
def test_bad_constructor_arguments_raise(build):
    with pytest.raises(ValueError):
        build()


# --- frozen gates ----------------------------------------------------------------------------


@pytest.mark.parametrize("build", [lambda: mlp(), lambda: models.TwoLayerReLU(5, 9, 3,
                                                                              generator=gen())])
def test_frozen_gate_model_is_the_linearisation_at_x_ref(build):
    model = build().double()
    x_ref = randn(6, 5, seed=1)
    frozen = models.frozen_gate(model, x_ref)
    assert isinstance(frozen, models.FrozenGateReLU)
    torch.testing.assert_close(frozen(x_ref), model(x_ref), rtol=0, atol=0)  # exact at x_ref
    near = x_ref + 1e-7 * randn(6, 5, seed=2)
    same_gates = all(torch.equal(a, b) for a, b in
                     zip(models.gates(model, near), models.gates(model, x_ref), strict=True))
    assert same_gates  # so the ReLU net is affine on the segment: the two models agree
    torch.testing.assert_close(frozen(near), model(near), rtol=1e-13, atol=1e-13)
    far = x_ref + 3.0 * randn(6, 5, seed=3)  # gates flip: the models must now differ
    assert not torch.allclose(frozen(far), model(far))


def test_frozen_gate_model_is_affine_with_constant_jacobian():
    model = mlp()
    frozen = models.frozen_gate(model, randn(4, 5, seed=1))
    x1, x2 = 2 * randn(4, 5, seed=2), 2 * randn(4, 5, seed=3)
    for a in (0.3, -1.5, 2.0):
        lhs = frozen(a * x1 + (1 - a) * x2)
        torch.testing.assert_close(lhs, a * frozen(x1) + (1 - a) * frozen(x2),
                                   rtol=1e-12, atol=1e-12)
    # Input Jacobian of row 0 (sample 0's mask) at two far-apart points is the same matrix.
    jac = [torch.autograd.functional.jacobian(lambda v: frozen(v)[0], x) for x in (x1, x2)]
    torch.testing.assert_close(jac[0], jac[1], rtol=0, atol=1e-14)
    # Control: the ReLU net's own Jacobian changes between the same two points.
    relu_jac = [torch.autograd.functional.jacobian(lambda v: model(v)[0], x) for x in (x1, x2)]
    assert not torch.allclose(relu_jac[0], relu_jac[1])


def test_frozen_gate_uses_each_samples_own_mask_and_shares_parameters():
    model = mlp()
    x_ref = randn(3, 5, seed=1)
    frozen = models.frozen_gate(model, x_ref)
    x = randn(3, 5, seed=2)
    rows = torch.cat([models.frozen_gate(model, x_ref[i:i + 1])(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(frozen(x), rows, rtol=1e-14, atol=1e-15)
    single = models.frozen_gate(model, x_ref[:1])  # one reference broadcasts over rows
    assert single(x).shape == (3, 3)
    assert {id(p) for p in frozen.parameters()} == {id(p) for p in model.parameters()}
    assert sorted(dict(frozen.named_buffers())) == ["mask_0", "mask_1"]  # follow .to(device)
    with pytest.raises(ValueError, match="frozen at 3"):
        frozen(randn(2, 5))
    with pytest.raises(ValueError, match="tanh"):
        models.frozen_gate(mlp(activation="tanh"), x_ref)


# --- homogeneity and deep linear nets -----------------------------------------------------


def scaled(model: torch.nn.Module, c: float, x: torch.Tensor) -> torch.Tensor:
    params = {k: c * v for k, v in model.named_parameters()}
    return functional_call(model, params, (x,))


@pytest.mark.parametrize("c", [0.5, 2.0, 3.0])
@pytest.mark.parametrize("build", [lambda: models.HomogeneousMLP(4, [6, 5], 3, generator=gen()),
                                   lambda: models.DeepLinear(4, [3, 3, 3], 2, generator=gen())])
def test_homogeneity_in_parameters_and_input(build, c):
    model = build().double()
    x = randn(5, 4, seed=1)
    L = models.homogeneity_degree(model)
    assert L == len(model.linears)
    torch.testing.assert_close(scaled(model, c, x), c**L * model(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model(c * x), c * model(x), rtol=1e-12, atol=1e-12)
    # Control: a wrong degree is detected by the same identity.
    assert not torch.allclose(scaled(model, c, x), c ** (L - 1) * model(x))


def test_homogeneity_degree_rejects_non_homogeneous_models():
    with pytest.raises(ValueError, match="biases"):
        models.homogeneity_degree(mlp())
    with pytest.raises(ValueError, match="tanh"):
        models.homogeneity_degree(mlp(bias=False, activation="tanh"))
    with pytest.raises(ValueError, match="linears"):
        models.homogeneity_degree(models.SmallCNN())
    # A biased ReLU net really is not homogeneous: the identity fails.
    model, x = mlp(), randn(4, 5, seed=1)
    assert not torch.allclose(scaled(model, 2.0, x), 2.0**3 * model(x))


def test_deep_linear_end_to_end_matrix():
    model = models.DeepLinear(4, [3, 5], 2, generator=gen()).double()
    W = model.end_to_end_matrix()
    assert W.shape == (2, 4)
    x = randn(6, 4, seed=1)
    torch.testing.assert_close(model(x), x @ W.T, rtol=1e-13, atol=1e-13)
    W_manual = model.linears[2].weight @ model.linears[1].weight @ model.linears[0].weight
    torch.testing.assert_close(W, W_manual, rtol=1e-14, atol=1e-14)


def test_preact_resnet18_shapes_and_parameter_count():
    model = models.PreActResNet18(generator=torch.Generator().manual_seed(0))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    # Counted by hand: convs 3*64*9 + stage convs + 1x1 shortcuts, BN (weight, bias) on
    # 3,904 channels (block inputs and outputs plus the final BN), linear 512*10 + 10.
    convs = 3 * 64 * 9 + sum(9 * c_in * c_out + 9 * c_out * c_out for c_in, c_out in
                             [(64, 64), (64, 64), (64, 128), (128, 128), (128, 256),
                              (256, 256), (256, 512), (512, 512)])
    shortcuts = 64 * 128 + 128 * 256 + 256 * 512
    assert sum(p.numel() for p in model.parameters()) == \
        convs + shortcuts + 2 * 3904 + 512 * 10 + 10 == 11_172_170
    small = models.PreActResNet18(width=4)
    assert small(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="width"):
        models.PreActResNet18(width=0)
