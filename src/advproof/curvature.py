"""Second-order objects: Hessian-vector products, Lanczos, per-sample input Hessians.

Shape legend:

- ``N``: batch size; ``D``: flattened input dimension; ``C``: number of logits (1 for a binary
  score); ``P``: number of (flattened) parameters; ``K``: Lanczos steps; ``k``: eigenpairs.
- Per sample: the input gradient ``g_x (N, D)``, the input Hessian ``H_x (N, D, D)``, the logit
  Jacobian ``J = dz/dx (N, C, D)`` (001 writes W~^T), the logit Hessian of the loss
  ``H_z (N, C, C)`` and input HVPs ``H_x v (N, D)``.
- Shared by the whole batch: parameter HVPs ``(P,)`` and Lanczos vectors ``(dim,)``.

The losses are ``attacks.loss_fn``'s (one definition). Per-sample quantities come from one
double backward of the *summed* loss: rows of a batch do not interact (eval mode, no
BatchNorm statistics), so row i of the result belongs to sample i alone.

Precision policy (STYLE §7): theory checks run in float64; on a GPU, wrap second-order work in
``no_tf32()`` (TF32 made input HVPs 2e-2 wrong, notes/anchors-libs.md §3.2).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor, nn

from advproof.attacks import LOSSES, LossName, Model, _check_choice, _check_labels, _score, loss_fn


class Lanczos(NamedTuple):
    """Top-k Ritz pairs: ``eigenvalues (k,)`` descending, ``eigenvectors (dim, k)``."""

    eigenvalues: Tensor
    eigenvectors: Tensor
    n_matvec: int


class PowerIteration(NamedTuple):
    """The dominant (largest-|lambda|) Ritz pair of power iteration: a scalar and (dim,)."""

    eigenvalue: Tensor
    eigenvector: Tensor
    n_matvec: int


class HessianOperator(NamedTuple):
    """A symmetric linear operator ``matvec: (dim,) -> (dim,)`` and its dimension."""

    matvec: Callable[[Tensor], Tensor]
    dim: int


class TrainModeBatchNormWarning(UserWarning):
    """A curvature computation on a model in train mode with BatchNorm: rows interact."""


class TF32Warning(UserWarning):
    """A second-order computation on a CUDA device with TF32 enabled (use ``no_tf32()``)."""


# --- precision and pitfalls ----------------------------------------------------------------


@contextmanager
def no_tf32() -> Iterator[None]:
    """Turn TF32 off for CUDA matmuls and cuDNN inside the block; restore the flags on exit.

    The only place in advproof that touches these process-wide flags (STYLE §7-§8).
    """
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


def _warn_pitfalls(model: object, device: torch.device) -> None:
    """Warn on BatchNorm in train mode and on TF32 enabled for a CUDA computation."""
    if isinstance(model, nn.Module) and model.training and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()
    ):
        warnings.warn("curvature of a model in train mode with BatchNorm: batch statistics "
                      "couple the samples; call model.eval() first", TrainModeBatchNormWarning,
                      stacklevel=3)
    tf32 = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
    if torch.device(device).type == "cuda" and tf32:
        warnings.warn("second-order work with TF32 on; wrap it in curvature.no_tf32()",
                      TF32Warning, stacklevel=3)


# --- Hessian-vector products ----------------------------------------------------------------


def hvp(
    loss: Tensor | Callable[[], Tensor], params: Sequence[Tensor], v: Sequence[Tensor]
) -> tuple[Tensor, ...]:
    """H v for the Hessian H of ``loss`` w.r.t. ``params``, by double backward.

    ``g = grad(loss, params, create_graph=True)``, then ``grad(g, params, grad_outputs=v)``
    (torch.autograd.functional's note: the fast route for C^2 functions). ``loss`` is a scalar
    with its graph, or a closure that builds it. ``v`` has one tensor per parameter.
    """
    params = list(params)
    with torch.enable_grad():
        value = loss() if callable(loss) else loss
        g = torch.autograd.grad(value, params, create_graph=True)
        pairs = [(gi, vi) for gi, vi in zip(g, v, strict=True) if gi.requires_grad]
        if not pairs:  # loss linear in params: H = 0
            return tuple(torch.zeros_like(p) for p in params)
        return torch.autograd.grad([gi for gi, _ in pairs], params,
                                   grad_outputs=[vi for _, vi in pairs],
                                   allow_unused=True, materialize_grads=True)


def param_hvp(
    model: nn.Module,
    loss_closure: Callable[[], Tensor],
    *,
    params: Sequence[Tensor] | None = None,
) -> HessianOperator:
    """The parameter Hessian of ``loss_closure()`` as a flat operator (P,) -> (P,).

    The gradient graph is built once, here, and reused by every matvec: the Hessian of the loss
    at *fixed* data (Liu et al.'s semantics: adversarial examples generated once). ``params``
    defaults to the model's parameters that require grad. The model's mode is not touched.
    """
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no parameter that requires grad")
    _warn_pitfalls(model, params[0].device)
    with torch.enable_grad():
        g = torch.autograd.grad(loss_closure(), params, create_graph=True)
    flat_g = torch.cat([gi.reshape(-1) for gi in g])

    def matvec(v: Tensor) -> Tensor:
        if not flat_g.requires_grad:
            return torch.zeros_like(flat_g)
        hv = torch.autograd.grad(flat_g, params, grad_outputs=v.to(flat_g).reshape(-1),
                                 retain_graph=True, allow_unused=True, materialize_grads=True)
        return torch.cat([h.reshape(-1) for h in hv])

    return HessianOperator(matvec, flat_g.numel())


# --- eigenvalues ------------------------------------------------------------------------------


def _orthonormal_start(
    basis: Tensor, dim: int, generator: torch.Generator | None, dtype: torch.dtype, device
) -> Tensor:
    """A random unit vector orthogonal to the rows of ``basis`` (two Gram-Schmidt passes)."""
    q = torch.randn(dim, generator=generator, dtype=dtype, device=device)
    for _ in range(2):
        q = q - basis.T @ (basis @ q)
    return q / torch.linalg.vector_norm(q)


def _check_eig_args(dim: int, k: int, iters: int, tol: float) -> None:
    """ValueError unless 1 <= k <= dim, iters >= k and tol > 0."""
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    if not isinstance(k, int) or not 1 <= k <= dim:
        raise ValueError(f"k must be an int in [1, dim={dim}], got {k!r}")
    if not isinstance(iters, int) or iters < k:
        raise ValueError(f"iters must be an int >= k={k}, got {iters!r}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")


def _tridiagonal_ritz(
    alphas: list[Tensor], betas: list[Tensor], basis: Tensor, k: int
) -> tuple[Tensor, Tensor]:
    """Top-k eigenpairs of T = tridiag(betas, alphas, betas), lifted by the Lanczos basis."""
    T = torch.diag(torch.stack(alphas))
    if betas:
        off = torch.stack(betas)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    theta, S = torch.linalg.eigh(T)
    order = torch.argsort(theta, descending=True)[:k]
    return theta[order], basis.T @ S[:, order]


def lanczos(
    matvec: Callable[[Tensor], Tensor],
    dim: int,
    k: int = 1,
    *,
    iters: int = 30,
    tol: float = 1e-10,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Lanczos:
    """The k algebraically largest eigenpairs of a symmetric operator, by Lanczos.

    Full reorthogonalisation (two passes against every previous vector) in ``dtype``, then
    ``torch.linalg.eigh`` on the tridiagonal T_K, K = min(iters, dim). On breakdown (beta_j <
    tol * ||T||, an invariant subspace found) it stops early once it holds at least k vectors;
    before that it restarts from a random vector orthogonal to the basis (a zero off-diagonal
    in T), so a low-rank operator still yields k pairs. Exact when K = dim.
    """
    _check_eig_args(dim, k, iters, tol)
    n_max = min(iters, dim)
    basis = torch.zeros(n_max, dim, dtype=dtype, device=device)
    alphas: list[Tensor] = []
    betas: list[Tensor] = []
    q, scale = _orthonormal_start(basis[:0], dim, generator, dtype, device), 0.0
    for j in range(n_max):
        basis[j] = q
        w = matvec(q).to(dtype=dtype, device=basis.device).reshape(dim)
        alphas.append(w @ q)
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = torch.linalg.vector_norm(w)
        scale = max(scale, float(alphas[-1].abs() + beta))
        if float(beta) > tol * scale:
            betas.append(beta)
            q = w / beta
        elif j + 1 >= k:
            break
        else:
            betas.append(torch.zeros_like(beta))
            q = _orthonormal_start(basis[: j + 1], dim, generator, dtype, device)
    m = len(alphas)
    eigenvalues, eigenvectors = _tridiagonal_ritz(alphas, betas[: m - 1], basis[:m], k)
    return Lanczos(eigenvalues, eigenvectors, m)


def power_iteration(
    matvec: Callable[[Tensor], Tensor],
    dim: int,
    iters: int = 100,
    *,
    tol: float = 1e-3,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> PowerIteration:
    """PyHessian-style power iteration: the largest-|lambda| pair. A benchmark baseline only.

    Stops when the Rayleigh quotient changes by less than tol relative (PyHessian's rule).
    """
    _check_eig_args(dim, 1, iters, tol)
    v = _orthonormal_start(torch.zeros(0, dim, dtype=dtype, device=device), dim, generator,
                           dtype, device)
    eigenvalue = torch.zeros((), dtype=dtype, device=device)
    for i in range(iters):
        hv = matvec(v).to(dtype=dtype, device=v.device).reshape(dim)
        new, v = hv @ v, hv / torch.linalg.vector_norm(hv)
        if abs(float(new - eigenvalue)) < tol * (abs(float(eigenvalue)) + 1e-6):
            return PowerIteration(new, v, i + 1)
        eigenvalue = new
    return PowerIteration(eigenvalue, v, iters)


# --- per-sample input curvature -------------------------------------------------------------


def _input_grad_graph(model: Model, x: Tensor, y: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """(x_leaf, g_x) with g_x = d(sum_i L_i)/dx carrying its graph (create_graph=True)."""
    _check_choice("loss", loss, LOSSES)
    _check_labels(loss, y)
    _warn_pitfalls(model, x.device)
    x_leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        total = loss_fn(loss)(model(x_leaf), y).sum()
        (g,) = torch.autograd.grad(total, x_leaf, create_graph=True, allow_unused=True,
                                   materialize_grads=True)
    return x_leaf, g


def _grad_of(output: Tensor, x_leaf: Tensor, grad_output: Tensor | None = None) -> Tensor:
    """d(output . grad_output)/dx, flattened to (N, D); zeros where output has no graph."""
    if not output.requires_grad:
        return torch.zeros_like(x_leaf).flatten(1)
    (h,) = torch.autograd.grad(output, x_leaf, grad_outputs=grad_output, retain_graph=True,
                               allow_unused=True, materialize_grads=True)
    return h.flatten(1)


def input_hvp(model: Model, x: Tensor, y: Tensor, v: Tensor, loss: LossName = "ce") -> Tensor:
    """H_x v per sample, (N, D): ``v`` is (N, D) or x's shape, row i multiplied by H_x(x_i).

    H_x is the Hessian of the loss w.r.t. the input (Cheng et al. 000, Thm 1). One double
    backward of the summed loss serves the whole batch (STYLE §6).
    """
    x_leaf, g = _input_grad_graph(model, x, y, loss)
    return _grad_of(g, x_leaf, v.reshape(x.shape).to(g))


def input_hessian(model: Model, x: Tensor, y: Tensor, loss: LossName = "ce") -> Tensor:
    """H_x = d^2 L(f(x_i), y_i) / dx_i dx_i^T per sample, (N, D, D), exact.

    The input Hessian of Cheng et al. (000, Thm 1; 001 Eq. 5): one double backward of the summed
    loss per input coordinate (D of them), each serving the whole batch.
    """
    x_leaf, g = _input_grad_graph(model, x, y, loss)
    g = g.flatten(1)
    rows = [_grad_of(g[:, j].sum(), x_leaf) for j in range(g.shape[1])]
    return torch.stack(rows, dim=1)


def _logits_and_jacobian(model: Model, x: Tensor) -> tuple[Tensor, Tensor]:
    """(z (N, C), J (N, C, D)) by one backward per logit."""
    x_leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        z = model(x_leaf)
        z2 = z.reshape(z.shape[0], -1)
        rows = [_grad_of(z2[:, c].sum(), x_leaf) for c in range(z2.shape[1])]
    return z.detach(), torch.stack(rows, dim=1)


def logit_jacobian(model: Model, x: Tensor) -> Tensor:
    """J = dz/dx per sample, (N, C, D): Cheng's ~g_x (binary) or W~^T (multi-class, 001)."""
    return _logits_and_jacobian(model, x)[1]


def logit_hessian_of_loss(z: Tensor, y: Tensor, loss: LossName = "ce") -> Tensor:
    """H_z = d^2 L / dz dz^T per sample, (N, C, C), in closed form (000, Lemma 1).

    "ce": diag(p) - p p^T with p = softmax(z) (rank C - 1); "bce": s(yz)(1 - s(yz)) with s the
    sigmoid, (N, 1, 1); "exp": exp(-yz); "mse": the identity; "margin": 0 (piecewise linear).
    """
    _check_choice("loss", loss, LOSSES)
    _check_labels(loss, y)
    if loss in ("exp", "bce"):
        yz = y.to(z.dtype) * _score(z)
        h = torch.exp(-yz) if loss == "exp" else torch.sigmoid(yz) * torch.sigmoid(-yz)
        return h.view(-1, 1, 1)
    z = z.reshape(z.shape[0], -1)
    n, c = z.shape
    if loss == "ce":
        p = torch.softmax(z, dim=1)
        return torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    eye = torch.eye(c, dtype=z.dtype, device=z.device).expand(n, c, c)
    return eye.clone() if loss == "mse" else torch.zeros_like(eye)


def gauss_newton_input_hessian(
    model: Model, x: Tensor, y: Tensor, loss: LossName = "ce"
) -> Tensor:
    """J^T H_z J per sample, (N, D, D): the Gauss-Newton part of H_x.

    For a piecewise-linear (ReLU) net the logits have zero input Hessian almost everywhere, so
    H_x = J^T H_z J exactly there (001, discussion of Eq. 5: H_x = W~ H_z W~^T); its rank is at
    most rank(H_z) (C - 1 for softmax cross-entropy, 1 for a binary score).
    """
    z, J = _logits_and_jacobian(model, x)
    H_z = logit_hessian_of_loss(z, y, loss)
    return torch.einsum("ncd,nce,nef->ndf", J, H_z, J)

