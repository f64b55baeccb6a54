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

Verified robustness of MLPs (thesis 003, ch. 3), in the second half of the file:

- :func:`relaxation` and :func:`tangent_points`: the parallel linear relaxations (3.4)-(3.5)
  with Table 3.1 in the stable form ``t2 = -t1``.
- :func:`interval_bounds` (Alg. 3.2, IBP) and :func:`linear_bounds` (Alg. 3.1, Fast-Lin style,
  with the corrected product limit ``k``), both with the last layer elided into a spec matrix
  ``C`` (:func:`margin_spec`, rows ``e_y - e_i``), for l_1 / l_2 / l_inf balls, batched.
- :func:`envelope` (3.12), :func:`hyperplane_distance` (Lemma 3.1), :func:`box_distance`
  (Alg. 3.4 / Theorem 3.1), :func:`pec_radius` and :func:`search_radius` (Alg. 3.5), and the
  exact reference :func:`minimal_linf_distance` (a MILP, for tiny ReLU nets).
- Non-uniform budgets (Sec. 3.2): ``eps`` may be an ``(N, M)`` tensor (the box ``eps (.) v``,
  ``||v||_p <= 1``); :func:`uniform_radius` and :func:`nonuniform_radii` (Alg. 3.3).
- :func:`signed_distances` and :func:`per_loss`: the PER / PER+at regulariser (3.20).

An MLP is a sequence ``layers = [(W_0, b_0), ..., (W_n, b_n)]`` with ``W_j (out, in)``:
``h_1 = W_0 x + b_0``, ``h_{j+1} = W_j phi(h_j) + b_j``; the logits are ``h_{n+1}`` (the
thesis's ``z^(j+1)``, shifted by one). Inputs ``x (N, M)``; bounds ``(N, R)`` for ``R`` spec
rows (``K`` logits without a spec).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch
from scipy.optimize import Bounds as _LPBounds
from scipy.optimize import LinearConstraint, linprog, milp, minimize
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


# --- verified robustness of MLPs (thesis 003, ch. 3) ----------------------------------------

Activation = Literal["relu", "sigmoid", "tanh"]
ACTIVATIONS: tuple[str, ...] = ("relu", "sigmoid", "tanh")
Layers = Sequence[tuple[Tensor, Tensor]]


class Bounds(NamedTuple):
    """Element-wise ``lower <= value <= upper``, each ``(N, R)``."""

    lower: Tensor
    upper: Tensor


class Relaxation(NamedTuple):
    """Parallel lines ``slope x + bias_lo <= phi(x) <= slope x + bias_hi`` on ``[lo, hi]`` (3.3)."""

    slope: Tensor
    bias_lo: Tensor
    bias_hi: Tensor


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def activate(z: Tensor, activation: Activation) -> Tensor:
    """``phi(z)`` for ``phi`` in {relu, sigmoid, tanh}."""
    fn = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    return fn[_check_activation(activation)](z)


def _derivative(z: Tensor, activation: Activation) -> Tensor:
    if activation == "relu":
        return (z > 0).to(z.dtype)
    s = activate(z, activation)
    return s * (1 - s) if activation == "sigmoid" else 1 - s * s


def forward(layers: Layers, x: Tensor, activation: Activation = "relu") -> Tensor:
    """The MLP's logits ``h_{n+1}`` for ``x (N, M)`` (thesis eq. 3.2)."""
    _check_activation(activation)
    h = x
    for j, (W, b) in enumerate(layers):
        h = (activate(h, activation) if j > 0 else h) @ W.T + b
    return h


def tangent_points(d: Tensor, activation: Activation, *, stable: bool = True
                   ) -> tuple[Tensor, Tensor]:
    """The solutions ``t1 < 0 < t2`` of ``phi'(t) = d`` (thesis Table 3.1), sigmoid or tanh.

    With ``u = e^{-t}`` (sigmoid) or ``v = e^{2t}`` (tanh), ``phi'(t) = d`` is a quadratic whose
    two roots multiply to 1, so ``t2 = -t1``. ``stable=True`` computes only the large root,
    which has no cancellation; ``stable=False`` evaluates Table 3.1 as printed, whose small root
    cancels catastrophically for small ``d`` (tanh's ``t1`` is ``-inf`` for ``d < ~2e-8``).
    ``d`` is clamped into ``(0, phi'(0)]``.
    """
    if activation not in ("sigmoid", "tanh"):
        raise ValueError(f"tangent points exist for sigmoid and tanh only, got {activation!r}")
    tiny = torch.finfo(d.dtype).tiny
    if activation == "sigmoid":
        d = d.clamp(tiny, 0.25)
        root = torch.sqrt((1 - 4 * d).clamp_min(0))
        if stable:
            t1 = -torch.log(((1 - 2 * d) + root) / (2 * d))
            return t1, -t1
        return (-torch.log((-(2 * d - 1) + root) / (2 * d)),
                -torch.log((-(2 * d - 1) - root) / (2 * d)))
    d = d.clamp(tiny, 1.0)
    root = torch.sqrt((1 - d).clamp_min(0))
    if stable:
        t2 = 0.5 * torch.log(((2 - d) + 2 * root) / d)
        return -t2, t2
    return (0.5 * torch.log((-(d - 2) - 2 * root) / d),
            0.5 * torch.log((-(d - 2) + 2 * root) / d))


def relaxation(lo: Tensor, hi: Tensor, activation: Activation, *, tight: bool = False
               ) -> Relaxation:
    """The parallel relaxation of ``phi`` on ``[lo, hi]``: ReLU (3.4), sigmoid / tanh (3.5).

    ReLU: slope ``hi / (hi - lo)`` and intercepts ``0`` and ``-lo hi / (hi - lo)`` when the
    interval crosses 0 (the minimum-gap pair with a common slope), the identity or zero
    otherwise. Sigmoid / tanh: the chord slope ``d``; in the convex part (``hi <= 0``) the chord is
    the upper line and the tangent at ``t1`` the lower one, in the concave part (``lo >= 0``) the
    reverse, and across 0 the tangents at ``t1`` (lower) and ``t2`` (upper), as the thesis's prose
    says (the printed case split omits this case). ``tight=True`` replaces each intercept by the
    exact extreme of ``phi(x) - d x`` on ``[lo, hi]`` (endpoints and ``t1, t2`` inside): the
    tightest pair of this slope, against which (3.5)'s looseness is measured.
    Degenerate intervals (``hi - lo <= 1e-12 (1 + |lo|)``) use the tangent at the midpoint.
    """
    _check_activation(activation)
    if not bool((hi >= lo).all()):
        raise ValueError("relaxation needs lo <= hi element-wise")
    if activation == "relu":
        cross = (lo < 0) & (hi > 0)
        width = torch.where(cross, hi - lo, torch.ones_like(lo))
        slope = torch.where(cross, hi / width, (lo >= 0).to(lo.dtype))
        bias_hi = torch.where(cross, -lo * hi / width, torch.zeros_like(lo))
        return Relaxation(slope, torch.zeros_like(lo), bias_hi)
    degenerate = (hi - lo) <= 1e-12 * (1 + lo.abs())
    width = torch.where(degenerate, torch.ones_like(lo), hi - lo)
    f_lo, f_hi = activate(lo, activation), activate(hi, activation)
    mid = 0.5 * (lo + hi)
    d = torch.where(degenerate, _derivative(mid, activation), (f_hi - f_lo) / width)
    t1, t2 = tangent_points(d, activation)

    def g(t: Tensor) -> Tensor:  # the intercept of the line of slope d through (t, phi(t))
        return activate(t, activation) - d * t

    chord = g(lo)
    if tight:
        cands = [g(lo), g(hi)] + [torch.where((t >= lo) & (t <= hi), g(t), g(lo)) for t in (t1, t2)]
        stack = torch.stack(cands)
        bias_lo, bias_hi = stack.min(0).values, stack.max(0).values
    else:
        bias_lo = torch.where(lo >= 0, chord, g(t1))
        bias_hi = torch.where(hi <= 0, chord, g(t2))
    bias_mid = g(mid)
    return Relaxation(d, torch.where(degenerate, bias_mid, bias_lo),
                      torch.where(degenerate, bias_mid, bias_hi))


def margin_spec(y: Tensor, num_classes: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """``C (N, K, K)`` with rows ``e_y - e_i``: ``C h`` are the margins ``z_y - z_i`` (row y is 0).

    Passing it as ``spec`` elides the last layer (thesis Sec. 3.1.2): ``C W`` is merged into the
    last weight matrix, which is tighter than bounding ``z_y`` and ``z_i`` separately.
    """
    eye = torch.eye(num_classes, dtype=dtype, device=y.device)
    return eye[y][:, None, :] - eye[None, :, :]


def _check_net(layers: Layers, x: Tensor, eps: float | Tensor, p: float) -> Tensor:
    _check_p(p)
    if x.dim() != 2 or len(layers) == 0 or layers[0][0].shape[1] != x.shape[1]:
        raise ValueError(f"need x (N, M) and layers [(W (out, M), b), ...], got x "
                         f"{tuple(x.shape)}")
    e = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    shape_ok = (e.dim() == 0 or (e.dim() == 1 and len(e) == len(x))
                or (e.dim() == 2 and e.shape == x.shape))
    if not shape_ok or not bool(torch.isfinite(e).all() & (e >= 0).all()):
        raise ValueError("eps must be a finite float >= 0, an (N,) tensor (per sample) or an "
                         f"(N, M) tensor (per feature, Sec. 3.2), got {eps!r}")
    return e.reshape(-1, 1) if e.dim() == 1 else e


def _radius(A: Tensor, e: Tensor, q: float) -> Tensor:
    """``max_{delta in ball} A delta``: ``e ||A_i||_q``, or ``||A_i diag(e)||_q`` per feature.

    ``A (..., R, M)``; ``e`` a scalar tensor, ``(N, 1)`` or ``(N, M)``. The non-uniform ball
    ``{eps (.) v : ||v||_p <= 1}`` of (3.9) turns ``eps ||A_i||_q`` into ``||A_i (.) eps||_q``.
    """
    if e.dim() == 0:
        return e * torch.linalg.vector_norm(A, ord=q, dim=-1)
    return torch.linalg.vector_norm(A * e[:, None, :], ord=q, dim=-1)


def _last_layer(layers: Layers, spec: Tensor | None, n: int) -> tuple[Tensor, Tensor]:
    """The last layer with the spec merged in: ``(C W (N, R, h), C b (N, R))``."""
    W, b = layers[-1]
    if spec is None:
        return W.expand(n, *W.shape), b.expand(n, *b.shape)
    return spec @ W, spec @ b


def interval_bounds(layers: Layers, x: Tensor, eps: float | Tensor, p: float,
                    activation: Activation = "relu", *, spec: Tensor | None = None,
                    return_hidden: bool = False) -> Bounds | tuple[Bounds, list[Bounds]]:
    """IBP (thesis Alg. 3.2, eq. 3.8) on the l_p ball of radius ``eps`` around ``x``.

    The first layer is exact for the ball (``W x + b +- eps ||W_i||_q``); later layers propagate
    boxes in centre/radius form (``|W| r``), which relies only on ``phi`` being monotone.
    ``spec`` (``C (N, R, K)``) bounds ``C h_{n+1}`` with the last layer elided.
    ``return_hidden`` also returns the pre-activation boxes of the hidden layers.
    """
    e = _check_net(layers, x, eps, p)
    _check_activation(activation)
    q = dual_exponent(p)
    W, b = layers[0]
    if len(layers) == 1:
        Wl, bl = _last_layer(layers, spec, len(x))
        c = (Wl @ x[..., None]).squeeze(-1) + bl
        r = _radius(Wl, e, q)
        out = Bounds(c - r, c + r)
        return (out, []) if return_hidden else out
    c = x @ W.T + b
    r = _radius(W.expand(len(x), *W.shape), e, q)
    hidden = [Bounds(c - r, c + r)]
    for W, b in layers[1:-1]:
        lo, hi = (activate(t, activation) for t in hidden[-1])
        c, r = (0.5 * (lo + hi)) @ W.T + b, (0.5 * (hi - lo)) @ W.abs().T
        hidden.append(Bounds(c - r, c + r))
    Wl, bl = _last_layer(layers, spec, len(x))
    lo, hi = (activate(t, activation) for t in hidden[-1])
    c = (Wl @ (0.5 * (lo + hi))[..., None]).squeeze(-1) + bl
    r = (Wl.abs() @ (0.5 * (hi - lo))[..., None]).squeeze(-1)
    out = Bounds(c - r, c + r)
    return (out, hidden) if return_hidden else out


class LinearForm(NamedTuple):
    """``A x' + lower <= C h(x') <= A x' + upper`` for every ``x'`` of the ball: ``A (N, R, M)``."""

    A: Tensor
    lower: Tensor
    upper: Tensor


def _backward(layers: Sequence[tuple[Tensor, Tensor]], rel: Sequence[Relaxation],
              W_top: Tensor, b_top: Tensor) -> LinearForm:
    """Substitute the relaxations back to the input: Alg. 3.1 / eq. (3.7) for one target layer.

    ``W_top (N, R, h_m), b_top (N, R)`` act on ``phi(h_m)`` (``m = len(rel)``); ``layers`` are
    the ``m`` layers below. The constants accumulate ``(prod_{j=i+1}^{k} W D) b`` with the
    corrected limit ``k`` (the current layer), not the printed ``L - 1``.
    """
    lam, lower, upper = W_top, b_top.clone(), b_top.clone()
    for j in range(len(rel) - 1, -1, -1):
        d, a_lo, a_hi = rel[j]
        pos, neg = lam.clamp(min=0), lam.clamp(max=0)
        lower = lower + (pos @ a_lo[..., None] + neg @ a_hi[..., None]).squeeze(-1)
        upper = upper + (pos @ a_hi[..., None] + neg @ a_lo[..., None]).squeeze(-1)
        lam = lam * d[:, None, :]
        W, b = layers[j]
        lower, upper = lower + lam @ b, upper + lam @ b
        lam = lam @ W
    return LinearForm(lam, lower, upper)


def _concretise(form: LinearForm, x: Tensor, e: Tensor, q: float) -> Bounds:
    centre = (form.A @ x[..., None]).squeeze(-1)
    radius = _radius(form.A, e, q)
    return Bounds(centre + form.lower - radius, centre + form.upper + radius)


def _hidden_relaxations(layers: Layers, x: Tensor, e: Tensor, p: float, activation: Activation,
                        intermediate: str) -> tuple[list[Relaxation], list[Bounds]]:
    """Pre-activation bounds of every hidden layer and their relaxations (Fast-Lin order)."""
    if intermediate not in ("linear", "ibp"):
        raise ValueError(f"intermediate must be 'linear' or 'ibp', got {intermediate!r}")
    if intermediate == "ibp":
        _, hidden = interval_bounds(layers, x, e.reshape(-1) if e.dim() and e.shape[1] == 1
                                    else e, p, activation, return_hidden=True)
        return [relaxation(lo, hi, activation) for lo, hi in hidden], hidden
    q = dual_exponent(p)
    rel: list[Relaxation] = []
    hidden: list[Bounds] = []
    n = len(x)
    for m in range(len(layers) - 1):
        W, b = layers[m]
        if m == 0:
            form = LinearForm(W.expand(n, *W.shape), b.expand(n, *b.shape),
                              b.expand(n, *b.shape))
        else:
            form = _backward(layers[:m], rel, W.expand(n, *W.shape), b.expand(n, *b.shape))
        hidden.append(_concretise(form, x, e, q))
        rel.append(relaxation(*hidden[-1], activation))
    return rel, hidden


def linear_form(layers: Layers, x: Tensor, eps: float | Tensor, p: float,
                activation: Activation = "relu", *, spec: Tensor | None = None,
                intermediate: str = "linear") -> LinearForm:
    """The affine bounds ``A x' + lower <= C h(x') <= A x' + upper`` valid on the ball.

    Hidden pre-activation bounds come from the same linear bounds layer by layer (``"linear"``,
    Fast-Lin, Alg. 3.1) or from IBP (``"ibp"``, the IBP-inspired envelope of Sec. 3.3.1).
    """
    e = _check_net(layers, x, eps, p)
    _check_activation(activation)
    rel, _ = _hidden_relaxations(layers, x, e, p, activation, intermediate)
    Wl, bl = _last_layer(layers, spec, len(x))
    return _backward(layers[:-1], rel, Wl, bl)


def linear_bounds(layers: Layers, x: Tensor, eps: float | Tensor, p: float,
                  activation: Activation = "relu", *, spec: Tensor | None = None,
                  intermediate: str = "linear") -> Bounds:
    """Linear-relaxation output bounds (thesis Alg. 3.1, Fast-Lin with parallel relaxations).

    ``C h(x + delta)`` for ``||delta||_p <= eps`` lies in the returned box: the affine form of
    :func:`linear_form` concretised by Hoelder, ``A x +- eps ||A_i||_q``.
    """
    e = _check_net(layers, x, eps, p)
    form = linear_form(layers, x, eps, p, activation, spec=spec, intermediate=intermediate)
    return _concretise(form, x, e, dual_exponent(p))


def envelope(layers: Layers, x: Tensor, y: Tensor, eps: float | Tensor, p: float,
             activation: Activation = "relu", *, intermediate: str = "linear"
             ) -> tuple[Tensor, Tensor]:
    """The polyhedral envelope (3.12): ``z_y - z_i >= U_i x' + p_i`` on the ball, ``(N, K, M)``,
    ``(N, K)``. Row ``y`` is zero (``U_y = 0``, ``p_y = 0``); callers mask it."""
    K = layers[-1][0].shape[0]
    form = linear_form(layers, x, eps, p, activation, spec=margin_spec(y, K, dtype=x.dtype),
                       intermediate=intermediate)
    return form.A, form.lower


def hyperplane_distance(U: Tensor, c: Tensor, x: Tensor, p: float) -> Tensor:
    """Lemma 3.1: ``max(0, (U_i x + c_i) / ||U_i||_q)``, the l_p distance from ``x`` to the
    half-space ``U_i x' + c_i <= 0`` (``inf`` where ``U_i = 0`` and ``c_i > 0``)."""
    q = dual_exponent(p)
    value = (U @ x[..., None]).squeeze(-1) + c
    norm = torch.linalg.vector_norm(U, ord=q, dim=-1)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    d = torch.where(norm > 0, value / safe,
                    torch.where(value > 0, torch.full_like(value, math.inf), value))
    return d.clamp_min(0)


def box_distance(a: np.ndarray, b: float, lo: np.ndarray, hi: np.ndarray, p: float, *,
                 max_iter: int = 100) -> tuple[float, int]:
    """Alg. 3.4: ``min ||delta||_p`` s.t. ``a delta + b <= 0``, ``lo <= delta <= hi``; (value,
    iterations).

    Needs ``lo <= 0 <= hi``. Writing ``delta_j = -sign(a_j) m_j`` with ``0 <= m_j <= cap_j``
    (``cap_j`` the room in the decreasing direction) the problem is ``min ||m||_p`` s.t.
    ``sum |a_j| m_j >= b``. Each iteration evaluates the unconstrained minimiser (3.15) on the
    free coordinates (``m ~ |a|^{q/p}``), clips the coordinates that leave the box and fixes them
    (Theorem 3.1: they are clipped at the optimum too). p = 1 (``q/p = inf``) puts all the
    remaining mass on the largest free ``|a_j|``. Returns ``inf`` when even the best corner of
    the box keeps ``a delta + b > 0`` (problem (3.14) infeasible: the half-space misses the box),
    ``0`` when ``b <= 0``. Stopped after ``max_iter`` iterations with coordinates still outside
    the box, the value is that of the relaxed problem (free coordinates unboxed), a LOWER bound
    on the optimum (the thesis says upper bound).
    """
    p = _check_p(p)
    a, lo, hi = (np.asarray(v, dtype=np.float64) for v in (a, lo, hi))
    if not (a.shape == lo.shape == hi.shape and a.ndim == 1):
        raise ValueError(f"a, lo, hi must be vectors of one length, got {a.shape}, {lo.shape}, "
                         f"{hi.shape}")
    if (lo > 0).any() or (hi < 0).any():
        raise ValueError("the box must contain delta = 0 (lo <= 0 <= hi)")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if b <= 0:
        return 0.0, 0
    w = np.abs(a)
    cap = np.where(a > 0, -lo, np.where(a < 0, hi, 0.0))
    if b - float(w @ cap) > 1e-12 * max(1.0, abs(b)):
        return math.inf, 0
    free = w > 0
    m = np.zeros_like(a)
    for it in range(1, max_iter + 1):
        rest = b - float(w[~free] @ m[~free])
        if p == 1.0:
            idx = np.flatnonzero(free)
            j = idx[np.argmax(w[idx])]
            trial = np.zeros_like(a)
            trial[j] = rest / w[j]
        elif p == 2.0:
            trial = np.where(free, rest * w / float(w[free] @ w[free]), 0.0)
        else:
            trial = np.where(free, rest / float(w[free].sum()), 0.0)
        over = free & (trial > cap)
        m = np.where(free, trial, m)
        if not over.any():
            break
        if it == max_iter:  # early stop: the relaxed (lower-bound) value
            break
        m = np.where(over, cap, m)
        free = free & ~over
        if not free.any():  # every coordinate at its cap: feasible only at the corner
            break
    return float(np.linalg.norm(m, ord=p)), it


def pec_radius(layers: Layers, x: Tensor, y: Tensor, eps: float, p: float,
               activation: Activation = "relu", *, box: tuple[float, float] | None = None,
               intermediate: str = "linear") -> Tensor:
    """The PEC certified radius ``min(eps, d_y)`` (Lemma 3.1; with ``box``, Theorem 3.1).

    ``d_y = min_{i != y} d_iy``, the distance from ``x`` to the envelope's hyperplanes built for
    budget ``eps``. No input of the open ball of this radius (inside the box, if given) changes
    the prediction. ``0`` where some margin lower bound at ``x`` is not positive.
    """
    U, c = envelope(layers, x, y, eps, p, activation, intermediate=intermediate)
    if box is None:
        d = hyperplane_distance(U, c, x, p)
    else:
        Un, cn, xn = U.detach().cpu().numpy(), c.detach().cpu().numpy(), x.detach().cpu().numpy()
        rows = [[box_distance(Un[n, i], float(Un[n, i] @ xn[n] + cn[n, i]), box[0] - xn[n],
                              box[1] - xn[n], p)[0] for i in range(U.shape[1])]
                for n in range(len(xn))]
        d = torch.tensor(rows, dtype=x.dtype, device=x.device)
    d = d.masked_fill(torch.nn.functional.one_hot(y, U.shape[1]).bool(), math.inf)
    return d.min(1).values.clamp(max=eps)


def search_radius(certify: Callable[[float], float], eps_hi: float, tol: float, *,
                  eps_lo: float = 0.0) -> tuple[float, float, int]:
    """Alg. 3.5: bisection on the budget, jumping the lower end to each certified radius.

    ``certify(eps)`` returns a certified radius ``<= eps`` (PEC's ``min(eps, d_y(eps))``, or
    ``eps``/``0`` for a one-shot certifier, which turns this into plain bisection with
    ``ceil(log2((eps_hi - eps_lo) / tol))`` calls). Returns ``(certified, upper, calls)``:
    ``certified`` is the largest radius actually certified (the thesis outputs the midpoint
    ``(eps_low + eps_up) / 2``, which need not be certified).
    """
    if not (0 <= eps_lo < eps_hi and tol > 0):
        raise ValueError(f"need 0 <= eps_lo < eps_hi and tol > 0, got {eps_lo}, {eps_hi}, {tol}")
    low, up, calls = eps_lo, eps_hi, 0
    while up - low > tol:
        trial = 0.5 * (low + up)
        cert = float(certify(trial))
        calls += 1
        low = max(low, cert)
        if trial > cert:
            up = trial
    return low, up, calls


def search_radii(certify: Callable[[Tensor, Tensor], Tensor], n: int, eps_hi: float, tol: float,
                 *, eps_lo: float = 0.0, dtype: torch.dtype = torch.float64
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Alg. 3.5 for ``n`` points at once: :func:`search_radius` run in lock step.

    ``certify(index, trial)`` gets the indices (``LongTensor``) of the points still searching
    and their trial budgets ``(len(index),)``, and returns certified radii ``<= trial`` (e.g.
    ``pec_radius(layers, X[index], y[index], trial, p)``: one batched bound computation per
    round instead of one per point). Returns ``(certified, upper, calls)``, each ``(n,)``; given the
    same certified radii, every point gets the iterates :func:`search_radius` gives it alone.
    """
    if not (0 <= eps_lo < eps_hi and tol > 0) or n < 0:
        raise ValueError(f"need n >= 0, 0 <= eps_lo < eps_hi and tol > 0, got {n}, {eps_lo}, "
                         f"{eps_hi}, {tol}")
    low = torch.full((n,), float(eps_lo), dtype=dtype)
    up = torch.full((n,), float(eps_hi), dtype=dtype)
    calls = torch.zeros(n, dtype=torch.long)
    while True:
        index = torch.nonzero(up - low > tol).flatten()
        if len(index) == 0:
            return low, up, calls
        trial = 0.5 * (low[index] + up[index])
        cert = torch.as_tensor(certify(index, trial), dtype=dtype).detach()
        if cert.shape != trial.shape:
            raise ValueError(f"certify returned shape {tuple(cert.shape)}, expected "
                             f"{tuple(trial.shape)}")
        calls[index] += 1
        low[index] = torch.maximum(low[index], cert)
        up[index] = torch.where(trial > cert, trial, up[index])


@contextlib.contextmanager
def _quiet_stdout_fd() -> Iterator[None]:
    """Silence file descriptor 1 inside the block: HiGHS's MIP solver prints debug lines
    ("HighsMipSolverData::...") from C++ that no option turns off; restored on exit."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def minimal_linf_distance(layers: Layers, x: Tensor, y: int, *, cap: float = 1.0,
                          target: int | None = None) -> float:
    """Exact ``min ||delta||_inf`` with ``argmax h(x + delta) != y`` for a ReLU MLP (a MILP).

    Big-M formulation with IBP bounds on the box ``||delta||_inf <= cap``, one MILP per target
    class (``z_target >= z_y``), solved by HiGHS (``scipy.optimize.milp``); ``inf`` when no
    adversarial example lies within ``cap``. For tiny nets only: one binary per hidden unit.
    """
    if x.dim() != 1:
        raise ValueError(f"x must be one input (M,), got {tuple(x.shape)}")
    K = layers[-1][0].shape[0]
    targets = [target] if target is not None else [k for k in range(K) if k != y]
    _, hidden = interval_bounds(layers, x[None].double(), cap, math.inf, "relu",
                                return_hidden=True)
    Ws = [(W.detach().double().cpu().numpy(), b.detach().double().cpu().numpy())
          for W, b in layers]
    x0 = x.detach().double().cpu().numpy()
    M = len(x0)
    # variables: t, x' (M), then per hidden layer: z (pre), a (post), s (binary)
    sizes = [W.shape[0] for W, _ in Ws[:-1]]
    n_var = 1 + M + 3 * sum(sizes)
    rows: list[np.ndarray] = []
    lbs: list[float] = []
    ubs: list[float] = []

    def add(row: np.ndarray, lb: float, ub: float) -> None:
        rows.append(row)
        lbs.append(lb)
        ubs.append(ub)

    for j in range(M):  # |x'_j - x_j| <= t
        r = np.zeros(n_var)
        r[1 + j], r[0] = 1.0, -1.0
        add(r, -np.inf, x0[j])
        r = np.zeros(n_var)
        r[1 + j], r[0] = -1.0, -1.0
        add(r, -np.inf, -x0[j])
    prev = list(range(1, 1 + M))
    offset = 1 + M
    lb_var = [0.0] + list(x0 - cap)
    ub_var = [cap] + list(x0 + cap)
    integrality = [0] * (1 + M)
    for (W, b), (lo_t, hi_t) in zip(Ws[:-1], hidden, strict=True):
        lo, hi = lo_t[0].numpy(), hi_t[0].numpy()
        n = W.shape[0]
        zi = list(range(offset, offset + n))
        ai = list(range(offset + n, offset + 2 * n))
        si = list(range(offset + 2 * n, offset + 3 * n))
        for u in range(n):
            r = np.zeros(n_var)  # z = W a_prev + b
            r[zi[u]] = 1.0
            r[prev] -= W[u]
            add(r, b[u], b[u])
            r = np.zeros(n_var)  # a >= z
            r[ai[u]], r[zi[u]] = 1.0, -1.0
            add(r, 0.0, np.inf)
            r = np.zeros(n_var)  # a <= z - lo (1 - s)
            r[ai[u]], r[zi[u]], r[si[u]] = 1.0, -1.0, -lo[u]
            add(r, -np.inf, -lo[u])
            r = np.zeros(n_var)  # a <= hi s
            r[ai[u]], r[si[u]] = 1.0, -hi[u]
            add(r, -np.inf, 0.0)
        lb_var += list(lo) + [0.0] * n + [0.0] * n
        ub_var += list(hi) + list(np.maximum(hi, 0.0)) + [1.0] * n
        integrality += [0] * (2 * n) + [1] * n
        prev, offset = ai, offset + 3 * n
    best = math.inf
    for k in targets:
        W, b = Ws[-1]
        r = np.zeros(n_var)  # z_k - z_y >= 0
        r[prev] = W[k] - W[y]
        cost = np.zeros(n_var)
        cost[0] = 1.0
        with _quiet_stdout_fd():
            res = milp(cost, constraints=LinearConstraint(np.array(rows + [r]),
                                                          lbs + [b[y] - b[k]],
                                                          ubs + [np.inf]),
                       integrality=np.array(integrality),
                       bounds=_LPBounds(np.array(lb_var), np.array(ub_var)),
                       options={"mip_rel_gap": 1e-9})
        if res.status == 0:
            best = min(best, float(res.x[0]))
    return best


def _worst_margin(layers: Layers, x: Tensor, y: Tensor, eps: Tensor, p: float,
                  activation: Activation) -> Tensor:
    """``min_{i != y}`` lower bound of ``z_y - z_i`` (linear bounds), (N, K) with row y = +inf."""
    K = layers[-1][0].shape[0]
    low = linear_bounds(layers, x, eps, p, activation, spec=margin_spec(y, K, dtype=x.dtype)).lower
    return low.masked_fill(torch.nn.functional.one_hot(y, K).bool(), math.inf)


def uniform_radius(layers: Layers, x: Tensor, y: Tensor, p: float,
                   activation: Activation = "relu", *, delta: float = 0.0, hi: float = 1.0,
                   iters: int = 40) -> Tensor:
    """The largest uniform eps (N,) whose linear margin lower bounds all stay ``>= delta``,
    by bisection on ``[0, hi]`` (0 where even eps = 0 fails)."""
    lo_, up = torch.zeros(len(x), dtype=x.dtype), torch.full((len(x),), hi, dtype=x.dtype)
    for _ in range(iters):
        mid = 0.5 * (lo_ + up)
        ok = _worst_margin(layers, x, y, mid, p, activation).min(1).values >= delta
        lo_, up = torch.where(ok, mid, lo_), torch.where(ok, up, mid)
    return lo_


def nonuniform_radii(layers: Layers, x: Tensor, y: Tensor, p: float,
                     activation: Activation = "relu", *, delta: float = 0.0, steps: int = 200,
                     lr: float = 0.05, rho: tuple[float, float] = (0.1, 100.0)) -> Tensor:
    """Alg. 3.3: the largest-volume non-uniform budget ``eps (N, M)`` certified by linear bounds.

    Augmented Lagrangian (3.11) for problem (3.9), ``max sum log eps_i`` s.t. ``d = lower(z_y -
    z_j) - delta >= 0``: Adam (betas 0.9, 0.999) on ``log eps`` (instead of the thesis's
    ``eps = zeta^2``), slacks ``c = max(0, d + lambda / rho)``, multiplier step
    ``lambda += rho (d - c)``, ``rho`` geometric from ``rho[0]`` to ``rho[1]``. Warm-started
    from the uniform solution (:func:`uniform_radius`) and returning the best *feasible* iterate
    per point (the final iterate after the thesis's shrink loop included), so the result is
    certified and never smaller in volume than the uniform box (the thesis's loop only
    guarantees feasibility).
    """
    u = uniform_radius(layers, x, y, p, activation, delta=delta).clamp_min(1e-6)
    log_eps = torch.log(u)[:, None].repeat(1, x.shape[1]).requires_grad_()
    best, best_vol = u[:, None].repeat(1, x.shape[1]), torch.log(u) * x.shape[1]
    lam = torch.zeros(len(x), layers[-1][0].shape[0], dtype=x.dtype)
    # Adam by hand: torch.optim's first use imports torch._dynamo (seconds)
    m1, m2 = torch.zeros_like(log_eps), torch.zeros_like(log_eps)
    rhos = np.geomspace(rho[0], rho[1], steps)
    for t, r in enumerate(rhos, start=1):
        eps = log_eps.exp()
        margin = _worst_margin(layers, x, y, eps, p, activation)
        finite = torch.isfinite(margin)
        d = torch.where(finite, margin - delta, torch.zeros_like(margin))
        with torch.no_grad():
            vol = log_eps.sum(1)
            feasible = (d >= 0).all(1) & (vol > best_vol)
            best = torch.where(feasible[:, None], eps.detach(), best)
            best_vol = torch.where(feasible, vol, best_vol)
        c = torch.clamp(d + lam / r, min=0).detach()
        loss = (-log_eps.sum(1) + (lam * (d - c)).sum(1) + 0.5 * r * ((d - c) ** 2).sum(1)).sum()
        (grad,) = torch.autograd.grad(loss, log_eps)
        with torch.no_grad():
            m1 = 0.9 * m1 + 0.1 * grad
            m2 = 0.999 * m2 + 0.001 * grad * grad
            log_eps -= lr * (m1 / (1 - 0.9 ** t)) / ((m2 / (1 - 0.999 ** t)).sqrt() + 1e-8)
        lam = (lam + r * (d.detach() - c)).clamp_min(0) * finite
    with torch.no_grad():  # the thesis's final loop: shrink by 0.99 until feasible (<= 60x)
        eps = log_eps.exp()
        for _ in range(60):
            ok = (_worst_margin(layers, x, y, eps, p, activation) - delta >= 0).all(1)
            if bool(ok.all()):
                break
            eps = torch.where(ok[:, None], eps, 0.99 * eps)
        better = ok & (torch.log(eps).sum(1) > best_vol)
        best = torch.where(better[:, None], eps, best)
    return best


def signed_distances(layers: Layers, x: Tensor, y: Tensor, eps: float, p: float,
                     activation: Activation = "relu", *, x_eval: Tensor | None = None,
                     intermediate: str = "linear") -> Tensor:
    """Signed l_p distances ``(U_i x' + p_i) / ||U_i||_q`` (N, K) from ``x_eval`` (default ``x``)
    to the envelope's hyperplanes built around ``x`` (Sec. 3.3.3, ``d-hat``); row y is +inf.

    Positive: on the certified side (equal to ``d_iy`` of Lemma 3.1); negative: minus the
    distance to the hyperplane. Differentiable in the weights (almost everywhere).
    """
    U, c = envelope(layers, x, y, eps, p, activation, intermediate=intermediate)
    z = x if x_eval is None else x_eval
    value = (U @ z[..., None]).squeeze(-1) + c
    norm = torch.linalg.vector_norm(U, ord=dual_exponent(p), dim=-1)
    d = value / norm.clamp_min(torch.finfo(norm.dtype).tiny)
    return d.masked_fill(torch.nn.functional.one_hot(y, U.shape[1]).bool(), math.inf)


def per_loss(layers: Layers, x: Tensor, y: Tensor, eps: float, p: float, *, alpha: float,
             beta: float, C: int = 4, x_adv: Tensor | None = None,
             activation: Activation = "relu", intermediate: str = "linear") -> Tensor:
    """PER (3.20): ``beta sum_{i <= C} max(0, 1 - d-hat_{j_i, y} / alpha)`` over the ``C``
    smallest signed distances, averaged over the batch. With ``x_adv`` (PER+at) the distances
    are measured from the adversarial points to the envelope built around the clean ones.
    A hinge: no gradient once every used distance is at least ``alpha``.
    """
    if alpha <= 0 or beta < 0 or C < 1:
        raise ValueError(f"need alpha > 0, beta >= 0, C >= 1, got {alpha}, {beta}, {C}")
    d = signed_distances(layers, x, y, eps, p, activation, x_eval=x_adv,
                         intermediate=intermediate)
    smallest = d.sort(1).values[:, :min(C, d.shape[1] - 1)]
    return beta * torch.clamp(1 - smallest / alpha, min=0).sum(1).mean()
