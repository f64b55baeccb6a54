"""Unit tests for advproof.curvature: HVPs, Lanczos against eigh, exact per-sample input
Hessians against autograd oracles, H_x = J^T H_z J for ReLU nets (and not for smooth ones)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from advproof import attacks, curvature, models

F64 = torch.float64
# torch.func.hessian (the oracle) trips torch's own torch.jit.script deprecation internally.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=F64)


def relu_mlp(seed: int = 0, n_out: int = 3) -> models.MLP:
    return models.MLP(6, [8, 7], n_out, generator=gen(seed)).double()


def labels(loss: str, n: int = 4) -> torch.Tensor:
    if loss in ("exp", "bce"):
        return torch.tensor([1.0, -1.0] * (n // 2), dtype=F64)
    return torch.arange(n) % 3


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def numerical_rank(sym: torch.Tensor, rel: float = 1e-10) -> int:
    """Rank of a symmetric matrix: eigenvalues above rel * the largest |eigenvalue|."""
    ev = torch.linalg.eigvalsh(sym).abs()
    return int((ev > rel * ev.max()).sum())


# --- precision context -----------------------------------------------------------------------


@pytest.mark.parametrize("start", [(True, True), (False, True), (True, False)])
def test_no_tf32_turns_flags_off_and_restores_them(start):
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = start
        with pytest.raises(RuntimeError, match="inside"):
            with curvature.no_tf32():
                assert not torch.backends.cuda.matmul.allow_tf32
                assert not torch.backends.cudnn.allow_tf32
                raise RuntimeError("inside")  # restored even on an exception
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == start
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def test_pitfall_warnings_batchnorm_train_mode_and_tf32_on_cuda():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.Linear(4, 2)).double()
    x, y = randn(5, 3), torch.arange(5) % 2
    with pytest.warns(curvature.TrainModeBatchNormWarning):
        curvature.input_hvp(model, x, y, randn(5, 3, seed=1))
    cudnn = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        with pytest.warns(curvature.TF32Warning):
            curvature._warn_pitfalls(model.eval(), torch.device("cuda"))
        with curvature.no_tf32(), warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning once TF32 is off and in eval mode
            curvature._warn_pitfalls(model.eval(), torch.device("cuda"))
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn


# --- Hessian-vector products -----------------------------------------------------------------


def test_hvp_of_a_quadratic_is_the_matrix_product():
    A = randn(5, 5, seed=1)
    A = A + A.T
    theta = randn(5, seed=2).requires_grad_(True)
    b = randn(3, seed=3).requires_grad_(True)  # enters linearly: its Hessian block is zero
    v = [randn(5, seed=4), randn(3, seed=5)]
    closure = lambda: 0.5 * theta @ A @ theta + b.sum() * 2.0  # noqa: E731
    hv_theta, hv_b = curvature.hvp(closure, [theta, b], v)
    torch.testing.assert_close(hv_theta, A @ v[0], rtol=1e-14, atol=1e-14)
    assert not hv_b.any()
    (only_b,) = curvature.hvp(b.sum() * 2.0, [b], [v[1]])  # loss linear in params: H = 0
    assert not only_b.any()
    assert theta.grad is None and b.grad is None


def flat_param_hessian(model, x, y, loss="ce"):
    """The full parameter Hessian by torch.func.hessian of a flattened-parameter function."""
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(theta):
        chunks = torch.split(theta, [math.prod(s) for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes, strict=True)}
        return attacks.loss_fn(loss)(functional_call(model, params, (x,)), y).sum()

    return torch.func.hessian(f)(theta0)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_param_hvp_and_lanczos_match_the_full_parameter_hessian(activation):
    model = models.MLP(3, [4], 3, activation=activation, generator=gen()).double()
    x, y = randn(7, 3, seed=1), torch.arange(7) % 3
    H = flat_param_hessian(model, x, y)
    op = curvature.param_hvp(model, lambda: F.cross_entropy(model(x), y, reduction="sum"))
    assert op.dim == H.shape[0] == 31
    v = randn(op.dim, seed=2)
    torch.testing.assert_close(op.matvec(v), H @ v, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(op.matvec(v), H @ v, rtol=1e-12, atol=1e-13)  # graph reused
    res = curvature.lanczos(op.matvec, op.dim, k=3, iters=op.dim, generator=gen(3))
    expected = torch.linalg.eigvalsh(H).flip(0)[:3]
    assert rel_err(res.eigenvalues, expected) < 1e-10
    assert all(p.grad is None for p in model.parameters())


def test_param_hvp_is_zero_for_a_loss_linear_in_the_parameters():
    model = torch.nn.Linear(3, 1, bias=False).double()
    x = randn(4, 3)
    op = curvature.param_hvp(model, lambda: model(x).sum())
    assert not op.matvec(randn(3, seed=1)).any()
    with pytest.raises(ValueError, match="requires grad"):
        curvature.param_hvp(model.requires_grad_(False), lambda: model(x).sum())


# --- Lanczos and power iteration -------------------------------------------------------------


def random_symmetric(dim: int, seed: int, spectrum: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if spectrum is None:
        A = rng.standard_normal((dim, dim))
        return (A + A.T) / 2
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (Q * spectrum) @ Q.T


def check_top3(A: np.ndarray, res: curvature.Lanczos) -> None:
    w, V = np.linalg.eigh(A)
    top, vecs = w[::-1][:3], V[:, ::-1][:, :3]
    got = res.eigenvalues.numpy()
    assert np.max(np.abs(got - top) / np.abs(top)) < 1e-10, (got, top)
    overlaps = np.abs(np.sum(vecs * res.eigenvectors.numpy(), axis=0))  # up to sign
    assert np.max(np.abs(overlaps - 1)) < 1e-8, overlaps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lanczos_matches_eigh_on_random_symmetric_matrices(seed):
    A = random_symmetric(40, seed)
    At = torch.from_numpy(A)
    res = curvature.lanczos(lambda v: At @ v, 40, k=3, iters=40, generator=gen(seed))
    assert res.eigenvalues.shape == (3,) and res.eigenvectors.shape == (40, 3)
    assert bool((res.eigenvalues[:-1] >= res.eigenvalues[1:]).all())
    check_top3(A, res)
    assert res.n_matvec == 40


def test_lanczos_converges_before_dim_on_a_gapped_spectrum():
    spectrum = np.concatenate([[10.0, 7.0, 5.0], np.linspace(-1.0, 1.0, 197)])
    A = random_symmetric(200, 4, spectrum)
    At = torch.from_numpy(A)
    res = curvature.lanczos(lambda v: At @ v, 200, k=3, iters=40, generator=gen(1))
    assert res.n_matvec == 40
    check_top3(A, res)
    # Control: five steps are not enough for 1e-10, so the check can fail.
    short = curvature.lanczos(lambda v: At @ v, 200, k=3, iters=5, generator=gen(1))
    with pytest.raises(AssertionError):
        check_top3(A, short)


def test_lanczos_breakdown_stops_early_or_restarts_for_low_rank():
    u = torch.from_numpy(np.linalg.qr(np.random.default_rng(0).standard_normal((30, 2)))[0])
    A = 4.0 * torch.outer(u[:, 0], u[:, 0]) + 2.0 * torch.outer(u[:, 1], u[:, 1])  # rank 2
    res = curvature.lanczos(lambda v: A @ v, 30, k=1, iters=30, generator=gen(0))
    assert res.n_matvec <= 4  # three distinct eigenvalues: breakdown after 3 steps
    assert abs(float(res.eigenvalues[0]) - 4.0) < 1e-12
    res4 = curvature.lanczos(lambda v: A @ v, 30, k=5, iters=30, generator=gen(0))
    torch.testing.assert_close(res4.eigenvalues, torch.tensor([4.0, 2.0, 0, 0, 0], dtype=F64),
                               rtol=0, atol=1e-12)
    gram = res4.eigenvectors.T @ res4.eigenvectors
    torch.testing.assert_close(gram, torch.eye(5, dtype=F64), rtol=0, atol=1e-10)


def test_lanczos_on_a_one_dimensional_operator():
    res = curvature.lanczos(lambda v: 3.0 * v, 1)
    assert res.n_matvec == 1 and float(res.eigenvalues[0]) == pytest.approx(3.0, rel=1e-15)
    assert abs(float(res.eigenvectors[0, 0])) == pytest.approx(1.0, rel=1e-15)


def test_power_iteration_baseline_finds_the_dominant_pair():
    A = torch.from_numpy(random_symmetric(30, 5, np.concatenate([[5.0], np.linspace(-1, 1, 29)])))
    res = curvature.power_iteration(lambda v: A @ v, 30, iters=500, tol=1e-12, generator=gen(0))
    assert abs(float(res.eigenvalue) - 5.0) < 1e-9 and res.n_matvec < 500
    capped = curvature.power_iteration(lambda v: A @ v, 30, iters=3, tol=1e-12, generator=gen(0))
    assert capped.n_matvec == 3 and abs(float(capped.eigenvalue) - 5.0) > 1e-9


@pytest.mark.parametrize("kw", [dict(dim=0), dict(k=0), dict(k=11), dict(iters=2, k=3),
                                dict(tol=0.0)])
def test_eigen_solvers_validate_arguments(kw):
    args = dict(dim=10, k=1, iters=10, tol=1e-10) | kw
    with pytest.raises(ValueError):
        curvature.lanczos(lambda v: v, args.pop("dim"), **args)


# --- per-sample input curvature ----------------------------------------------------------------


@pytest.mark.parametrize("loss", ["ce", "mse", "margin"])
def test_input_hessian_matches_autograd_on_single_samples(loss):
    model = models.MLP(6, [8], 3, activation="tanh", generator=gen()).double()
    x, y = randn(4, 6, seed=1), labels(loss)
    H = curvature.input_hessian(model, x, y, loss=loss)
    assert H.shape == (4, 6, 6)
    lf = attacks.loss_fn(loss)
    for i in range(4):
        oracle = torch.autograd.functional.hessian(
            lambda v, i=i: lf(model(v[None]), y[i:i + 1]).sum(), x[i])
        torch.testing.assert_close(H[i], oracle, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["ce", "bce", "exp"])
def test_input_hvp_batched_equals_a_per_sample_loop(loss):
    n_out = 3 if loss == "ce" else 1
    model = models.MLP(6, [8], n_out, activation="softplus", generator=gen()).double()
    x, y, v = randn(4, 6, seed=1), labels(loss), randn(4, 6, seed=2)
    batched = curvature.input_hvp(model, x, y, v, loss=loss)
    lf = attacks.loss_fn(loss)
    for i in range(4):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(lf(model(xi), y[i:i + 1]).sum(), xi, create_graph=True)
        (hv,) = torch.autograd.grad(g, xi, grad_outputs=v[i:i + 1])
        torch.testing.assert_close(batched[i], hv[0], rtol=1e-12, atol=1e-14)
    full = curvature.input_hessian(model, x, y, loss=loss)
    torch.testing.assert_close(batched, torch.einsum("nij,nj->ni", full, v), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("frozen", [False, True])
def test_relu_input_hessian_is_gauss_newton_with_rank_at_most_c_minus_1(loss, frozen):
    model = relu_mlp(n_out=4)
    x, y = randn(5, 6, seed=1), torch.arange(5) % 4
    net = models.frozen_gate(model, randn(5, 6, seed=2)) if frozen else model
    H_x = curvature.input_hessian(net, x, y, loss=loss)
    GN = curvature.gauss_newton_input_hessian(net, x, y, loss=loss)
    assert rel_err(H_x, GN) < 1e-10
    ranks = [numerical_rank(H_x[i]) for i in range(5)]
    assert max(ranks) <= (3 if loss == "ce" else 4)  # rank H_z: C - 1 for softmax CE, C for mse
    assert min(ranks) >= 2  # and not trivially zero


def test_binary_relu_input_hessian_is_rank_one():
    model = relu_mlp(n_out=1)
    x, y = randn(5, 6, seed=1), labels("bce", 6)[:5]
    H_x = curvature.input_hessian(model, x, y, loss="bce")
    assert rel_err(H_x, curvature.gauss_newton_input_hessian(model, x, y, loss="bce")) < 1e-10
    assert [numerical_rank(H_x[i]) for i in range(5)] == [1] * 5


def test_control_smooth_net_input_hessian_is_not_gauss_newton():
    model = models.MLP(6, [8, 7], 3, activation="tanh", generator=gen()).double()
    x, y = randn(5, 6, seed=1), torch.arange(5) % 3
    H_x = curvature.input_hessian(model, x, y)
    GN = curvature.gauss_newton_input_hessian(model, x, y)
    assert rel_err(H_x, GN) > 1e-3  # the same comparison rejects a net with curved logits
    assert numerical_rank(H_x[0]) > 2


def test_piecewise_linear_loss_of_a_linear_net_has_zero_input_hessian():
    model = models.DeepLinear(6, [5], 3, generator=gen()).double()
    x, y = randn(4, 6, seed=1), torch.arange(4) % 3
    assert not curvature.input_hessian(model, x, y, loss="margin").any()
    assert not curvature.input_hvp(model, x, y, randn(4, 6, seed=2), loss="margin").any()
    fixed = torch.nn.Linear(6, 3).double().requires_grad_(False)
    assert not curvature.input_hvp(fixed, x, y, randn(4, 6, seed=2), loss="margin").any()


def test_logit_jacobian_and_image_inputs():
    model = models.SmallCNN(generator=gen()).double()
    x = torch.rand(2, 1, 8, 8, generator=gen(1), dtype=F64)
    J = curvature.logit_jacobian(model, x)
    assert J.shape == (2, 10, 64)
    for i in range(2):
        oracle = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], x[i])
        torch.testing.assert_close(J[i], oracle.reshape(10, 64), rtol=1e-12, atol=1e-14)
    v = randn(2, 64, seed=2)
    hv = curvature.input_hvp(model, x, torch.tensor([1, 2]), v)
    full = curvature.input_hessian(model, x, torch.tensor([1, 2]))
    torch.testing.assert_close(hv, torch.einsum("nij,nj->ni", full, v), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("loss", ["ce", "mse", "margin", "exp", "bce"])
def test_logit_hessian_of_loss_closed_forms(loss):
    n_out = 1 if loss in ("exp", "bce") else 4
    z, y = randn(3, n_out, seed=1), labels(loss, 4)[:3]
    H_z = curvature.logit_hessian_of_loss(z, y, loss=loss)
    assert H_z.shape == (3, n_out, n_out)
    lf = attacks.loss_fn(loss)
    for i in range(3):
        oracle = torch.func.hessian(lambda zi, i=i: lf(zi[None], y[i:i + 1]).sum())(z[i])
        torch.testing.assert_close(H_z[i], oracle, rtol=1e-13, atol=1e-15)
    if loss == "ce":
        assert float(H_z.sum(dim=2).abs().max()) < 1e-15  # H_z 1 = 0: rank C - 1
    if loss == "bce":  # Lemma 1 (000): H_z / g_z^2 = e^{zy}, so H_z >= g_z^2 iff zy >= 0
        g_z = -y * torch.sigmoid(-y * z[:, 0])
        torch.testing.assert_close(H_z[:, 0, 0] / g_z**2, torch.exp(y * z[:, 0]))


def test_curvature_validates_loss_and_labels():
    model, x = relu_mlp(), randn(2, 6)
    with pytest.raises(ValueError, match="loss must be one of"):
        curvature.input_hessian(model, x, torch.tensor([0, 1]), loss="hinge")
    with pytest.raises(ValueError, match="-1, \\+1"):
        curvature.logit_hessian_of_loss(randn(2, 1), torch.tensor([0.0, 1.0]), loss="bce")
