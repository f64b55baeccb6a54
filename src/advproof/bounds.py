"""Closed-form robustness quantities of linear models: collapse thresholds and adversarial losses.

Shape legend:

- ``N``: number of samples; ``D``: flattened input dimension, prod(input_shape); ``K``: number
  of classes (outputs of the model).
- ``X: (N, *input_shape)`` (flattened to ``(N, D)`` inside), ``y: (N,)``: int64 class indices
  for the multi-class functions, ``+-1`` floats for the binary logistic ones; ``w: (D,)``.
- Per sample: losses ``(N,)`` (``reduction="none"``) and worst-case perturbations ``(N, D)``.

Norms: the threat model is the l_p ball ``{delta : ||delta||_p <= eps}`` with ``p`` in
{1, 2, inf}; ``q`` is the dual exponent, ``1/p + 1/q = 1`` (Hoelder:
``max_{||delta||_p <= eps} a^T delta = eps ||a||_q``), as in ``attacks.Ball.dual_exponent``.

What is here (Liu et al. 004, Sec. 3.1 and App. A.1; thesis 003, Sec. 4.2.1):

- :func:`collapse_threshold`: the exact budget eps* from which the bias-free linear softmax
  model's adversarial loss is minimised by ``W = 0`` (a constant classifier), the corrected
  threshold of 004 Theorem 1 / 003 Theorem 4.2 (claim ``liu.thm1``).
- :func:`logistic_adversarial_loss` (004 eq. 6, 003 text before eq. 4.2), its maximiser
  :func:`logistic_worst_perturbation`, and the margin-shifted surrogate
  :func:`logistic_surrogate_loss` (004 eq. 7, 003 eq. 4.2). Used by ``liu.eq6``, ``liu.eq7``,
  ``liu.thm3`` and ``liu.thm2``.

Room is left for the interval and linear bounds of deep nets (IBP, CROWN) of a later chapter:
they will concretise with the same dual norms (``centre +- eps ||A_i||_q``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.optimize import linprog, minimize
from torch import Tensor

NORMS: tuple[float, ...] = (1.0, 2.0, math.inf)
Reduction = Literal["mean", "none"]


def _check_p(p: float) -> float:
    """``p`` as a float if it is 1, 2 or inf (ValueError naming the allowed values otherwise)."""
    if not isinstance(p, int | float) or float(p) not in NORMS:
        raise ValueError(f"p must be one of 1, 2, math.inf, got {p!r}")
    return float(p)


def dual_exponent(p: float) -> float:
    """q with ``1/p + 1/q = 1``: inf for p = 1, 2 for p = 2, 1 for p = inf."""
    p = _check_p(p)
    return {1.0: math.inf, 2.0: 2.0, math.inf: 1.0}[p]


# --- the collapse threshold of the bias-free linear softmax model ------------------------------


def class_sums(X: Tensor, y: Tensor, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``S_k = sum_{i: y_i = k} x_i`` (K, D) and ``n_k = |{i : y_i = k}|`` (K,), in float64."""
    Xn = X.detach().reshape(len(X), -1).cpu().double().numpy()
    yn = y.detach().cpu().numpy().astype(np.int64)
    S = np.zeros((num_classes, Xn.shape[1]))
    np.add.at(S, yn, Xn)
    return S, np.bincount(yn, minlength=num_classes).astype(np.float64)


def _threshold_inf(S: np.ndarray, n: np.ndarray) -> float:
    """p = inf, per coordinate: ``min_c max_k |S_kj - c|/n_k = max_{k,l} |S_kj - S_lj|/(n_k + n_l)``

    The objective separates over coordinates (the l_inf ball is a box), and in one dimension the
    min-max of V-shaped functions is attained by a pair (Helly's theorem on the line).
    An absent class (n_k = 0, S_k = 0) pins c to 0, which the pair formula reproduces.
    """
    present = np.flatnonzero(n > 0)
    best = 0.0
    for k in present:
        for l_ in range(len(n)):
            if l_ != k:
                gap = np.abs(S[k] - S[l_]).max() / (n[k] + n[l_])
                best = max(best, float(gap))
    return best


def _threshold_l1(S: np.ndarray, n: np.ndarray) -> float:
    """p = 1: the LP ``min t`` s.t. ``sum_j e_kj <= n_k t``, ``e_kj >= |S_kj - c_j|`` (HiGHS)."""
    K, D = S.shape
    # variables: c (D), t (1), e (K * D)
    n_var = D + 1 + K * D
    cost = np.zeros(n_var)
    cost[D] = 1.0
    rows, rhs = [], []
    for k in range(K):
        for j in range(D):
            e = D + 1 + k * D + j
            for sign in (1.0, -1.0):  # sign * (S_kj - c_j) <= e_kj
                row = np.zeros(n_var)
                row[j], row[e] = sign, -1.0
                rows.append(row)
                rhs.append(sign * S[k, j])
        row = np.zeros(n_var)
        row[D + 1 + k * D: D + 1 + (k + 1) * D] = 1.0
        row[D] = -n[k]
        rows.append(row)
        rhs.append(0.0)
    bounds = [(None, None)] * D + [(0, None)] + [(0, None)] * (K * D)
    res = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"the l1 threshold LP failed: {res.message}")
    return float(res.x[D])


def _threshold_l2(S: np.ndarray, n: np.ndarray) -> float:
    """p = 2: the weighted Chebyshev centre, ``min_c max_k ||S_k - c||_2 / n_k`` (SLSQP).

    Absent classes pin ``c = 0``; with all classes present the epigraph problem is solved from
    the pooled mean, to about 1e-9 relative (convex, so the local solution is global).
    """
    if (n == 0).any():
        return float(max(np.linalg.norm(S[k]) / n[k] for k in np.flatnonzero(n > 0)))
    start = S.sum(0) / n.sum()
    t0 = max(np.linalg.norm(S[k] - start) / n[k] for k in range(len(n)))
    cons = [{"type": "ineq", "fun": (lambda z, k=k: (n[k] * z[-1]) ** 2
                                     - np.sum((S[k] - z[:-1]) ** 2))} for k in range(len(n))]
    res = minimize(lambda z: z[-1], np.append(start, t0), constraints=cons, method="SLSQP",
                   options={"ftol": 1e-15, "maxiter": 1000})
    c = res.x[:-1]
    return float(max(np.linalg.norm(S[k] - c) / n[k] for k in range(len(n))))


def collapse_threshold(X: Tensor, y: Tensor, p: float, *, num_classes: int | None = None
                       ) -> float:
    """eps* = min_c max_k ||S_k - c||_p / n_k: from this budget on, W = 0 minimises L_eps.

    The model is the bias-free linear softmax classifier ``f(x) = W^T x`` with ``K`` classes and
    the loss is the average adversarial cross-entropy ``L_eps(W)`` under the l_p ball (004
    Sec. 3.1; 003 Sec. 4.2.1). ``L_eps`` is convex; by Danskin its directional derivative at
    ``W = 0`` along ``V`` is ``(1/N) sum_k [u_k^T S_k + eps n_k ||u_k||_q]`` with
    ``u_k = mean_j v_j - v_k`` (``sum_k u_k = 0``), and it is non-negative for every ``V`` iff
    some ``c`` has ``||S_k - c||_p <= eps n_k`` for all ``k`` (duality). So ``0`` is a minimiser
    iff ``eps >= eps*``: the corrected threshold of 004 Theorem 1 / 003 Theorem 4.2.

    For balanced classes this is the l_p Chebyshev radius of the class means; a class absent from
    the data (``n_k = 0``) pins ``c = 0``, so for one point ``x`` it is ``||x||_p``.
    ``num_classes`` is the model's K (default ``max(y) + 1``, at least 2). Exact for p = inf (a
    per-coordinate pair formula) and p = 1 (an LP); p = 2 by SLSQP to about 1e-9.
    """
    p = _check_p(p)
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must be non-empty and of equal length, got {len(X)}, {len(y)}")
    K = num_classes if num_classes is not None else max(int(y.max()) + 1, 2)
    if not isinstance(K, int) or K < 2 or int(y.max()) >= K or int(y.min()) < 0:
        raise ValueError(f"num_classes must be an int >= 2 covering the labels, got {K!r}")
    S, n = class_sums(X, y, K)
    if p == math.inf:
        return _threshold_inf(S, n)
    return _threshold_l1(S, n) if p == 1.0 else _threshold_l2(S, n)


def point_threshold(x: Tensor, p: float) -> float:
    """``||x||_p``: the collapse threshold of a single point (004 Theorem 1, corrected).

    For ``eps >= ||x||_p`` the adversary can move ``x`` to ``0``, where every ``W`` has loss
    ``log K``; for ``eps < ||x||_p`` some ``W`` does better (claim ``liu.thm1``).
    """
    p = _check_p(p)
    return float(torch.linalg.vector_norm(x.detach().reshape(-1).double(), ord=p))


# --- binary logistic regression ------------------------------------------------------------


def _check_binary(w: Tensor, X: Tensor, y: Tensor, eps: float) -> Tensor:
    """X flattened to (N, D); ValueError on shape mismatch, labels outside {-1, +1}, eps < 0."""
    Xf = X.reshape(len(X), -1)
    if w.dim() != 1 or Xf.shape[1] != w.shape[0] or len(y) != len(Xf):
        raise ValueError(f"need w (D,), X (N, D), y (N,); got {tuple(w.shape)}, "
                         f"{tuple(X.shape)}, {tuple(y.shape)}")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError(f"labels must be in {{-1, +1}}, got {y.unique().tolist()}")
    if not (isinstance(eps, int | float) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite float >= 0, got {eps!r}")
    return Xf


def _reduce(losses: Tensor, reduction: Reduction) -> Tensor:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return losses.mean() if reduction == "mean" else losses


def logistic_adversarial_loss(w: Tensor, X: Tensor, y: Tensor, eps: float, p: float, *,
                              reduction: Reduction = "mean") -> Tensor:
    """``L_eps(w) = (1/N) sum_i log(1 + exp(-y_i w^T x_i + eps ||w||_q))`` (004 eq. 6).

    The exact inner maximum of the logistic loss over the l_p ball: the loss is increasing in
    ``-y w^T x'``, and Hoelder gives ``max_{||delta||_p <= eps} -y w^T delta = eps ||w||_q``.
    Differentiable in ``w`` (autograd) except where ``||w||_q`` is not (``w = 0``; for q = 1 the
    hyperplanes ``w_j = 0``). Labels ``y`` in {-1, +1}.
    """
    Xf = _check_binary(w, X, y, eps)
    q = dual_exponent(p)
    margin = y.to(w.dtype) * (Xf @ w) - eps * torch.linalg.vector_norm(w, ord=q)
    return _reduce(torch.nn.functional.softplus(-margin), reduction)


def logistic_surrogate_loss(w: Tensor, X: Tensor, y: Tensor, eps: float, *,
                            reduction: Reduction = "mean") -> Tensor:
    """``(1/N) sum_i log(1 + exp(-y_i w^T x_i + eps))``: 004 eq. 7 / 003 eq. 4.2.

    Equal to eq. 6 only where ``||w||_q = 1``; its gradient and Hessian differ from eq. 6's even
    there (the ``eps ||w||_q`` term is replaced by a constant). A margin-shifted surrogate.
    """
    Xf = _check_binary(w, X, y, eps)
    return _reduce(torch.nn.functional.softplus(-(y.to(w.dtype) * (Xf @ w)) + eps), reduction)


def logistic_worst_perturbation(w: Tensor, y: Tensor, eps: float, p: float) -> Tensor:
    """The maximiser ``delta_i = -y_i eps sign(w) |w|^{q-1} / ||w||_q^{q-1}`` (N, D).

    p = 2: ``-y eps w/||w||_2``; p = inf: ``-y eps sign(w)``; p = 1: ``-y eps sign(w_j) e_j`` at
    ``j = argmax |w_j|``. Its l_p norm is eps and ``-y w^T delta = eps ||w||_q``.
    """
    p = _check_p(p)
    if not (isinstance(eps, int | float) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite float >= 0, got {eps!r}")
    if p == math.inf:
        direction = torch.sign(w)
    elif p == 2.0:
        direction = w / torch.linalg.vector_norm(w).clamp_min(torch.finfo(w.dtype).tiny)
    else:
        direction = torch.zeros_like(w)
        j = int(torch.argmax(w.abs()))
        direction[j] = torch.sign(w[j])
    return -y.to(w.dtype)[:, None] * eps * direction[None, :]
