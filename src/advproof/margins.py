"""Margins, homogeneity checks, and the max-margin / KKT tools of the implicit-bias chapters.

Shape legend:

- ``N``: number of samples; ``D``: flattened input dimension; ``C``: number of outputs (``C = 1``
  for a binary score with labels ``y`` in {-1, +1}); ``P``: number of parameters, flattened in
  layer order; ``L``: number of linear layers; ``K``: the homogeneity degree.
- ``z: (N, C)`` logits; ``q: (N,)`` margins; ``G: (N, P)`` the per-sample margin gradients.

Notation (Lyu & Zhu 002, Sec. 2 and 3.2; Lyu & Li 2020): the network ``f(x; W)`` is bias-free and
multi-``c_k``-homogeneous, ``f(x; a_1 W_1, ..., a_L W_L) = prod_k a_k^{c_k} f(x; W)`` (eqs. 3, 74),
``rho_k = ||W_k||_F`` and ``rho = prod_k rho_k^{c_k}`` (eq. 4). The adversarial margin of sample i
is ``gamma~_i = y_i f(x_i + delta_i(W); W)``, its normalised version ``gamma^_i = gamma~_i / rho``
(eq. 100, valid for scale-invariant ``delta``), ``gamma~_m = min_i gamma~_i``. For ``C > 1`` the
margin is ``z_y - max_{j != y} z_j`` (002 App. C.1).

Two gradients of the adversarial loss appear in this book (002 notes §1.6): the *total* one,
which differentiates through ``delta_i(W)`` as the theory's gradient flow (16) does, and the
*detached* one, which freezes ``delta`` as adversarial-training code (and 002's Algorithm 1) does.
``attacks.perturb`` is the attack engine and always detaches; :func:`fgm_delta` keeps the one-step
formula (87) differentiable in ``W`` for the total derivative, and is tested equal to
``attacks.fgm``. Everything here is float64-ready: losses in log space (``logsumexp``), linear
programs and quadratic programs in numpy float64 through scipy (``nnls``, ``linprog``, ``SLSQP``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from scipy.optimize import linprog, minimize, nnls
from torch import Tensor, nn

from advproof import attacks, norms

AdversaryKind = Literal["none", "fgm", "fgsm", "pgd_l2", "pgd_linf", "raw_l2", "exact_l2",
                        "exact_linf"]
ADVERSARIES: tuple[str, ...] = ("none", "fgm", "fgsm", "pgd_l2", "pgd_linf", "raw_l2",
                                "exact_l2", "exact_linf")
GradMode = Literal["total", "detached"]



# ---------------------------------------------------------------------------------------------
# Margins and log-space losses


def margins(z: Tensor, y: Tensor) -> Tensor:
    """q_i = y_i z_i for a single output (y in {-1, +1}), else z_{y_i} - max_{j != y_i} z_j.

    Shape: z (N, C) or (N,), y (N,) -> q (N,) (002 Sec. 3.2 and App. C.1).
    """
    if z.dim() == 1 or z.shape[1] == 1:
        score = z.reshape(-1)
        if not bool(((y == 1) | (y == -1)).all()):
            raise ValueError(f"binary margins need labels in {{-1, +1}}, got {y.unique().tolist()}")
        return y.to(z.dtype) * score
    if y.is_floating_point():
        raise ValueError(f"multi-class margins need integer labels, got dtype {y.dtype}")
    z_y = z.gather(1, y[:, None])[:, 0]
    others = z.scatter(1, y[:, None], -math.inf)
    return z_y - others.amax(dim=1)


def log_exp_loss(q: Tensor) -> Tensor:
    """log L~ with L~ = (1/n) sum_i exp(-q_i), the exponential loss (002 eq. 6), via logsumexp."""
    return torch.logsumexp(-q, dim=0) - math.log(q.shape[0])


def log_logistic_loss(q: Tensor) -> Tensor:
    """log of (1/n) sum_i log(1 + e^{-q_i}), stable for large margins (log softplus(-q) ~ -q)."""
    big = q > 30.0
    safe = torch.where(big, torch.zeros_like(q), q)
    log_sp = torch.where(big, -q - 0.5 * torch.exp(-q), torch.log(nn.functional.softplus(-safe)))
    return torch.logsumexp(log_sp, dim=0) - math.log(q.shape[0])


# ---------------------------------------------------------------------------------------------
# Layers, norms and homogeneity


def layer_weights(model: nn.Module) -> list[Tensor]:
    """The weight matrices W_1, ..., W_L of a bias-free net (``nn.Linear`` layout (out, in)).

    Raises ValueError for a model without ``.linears`` or with a bias (not homogeneous).
    """
    linears = getattr(model, "linears", None)
    if linears is None:
        raise ValueError(f"{type(model).__name__} exposes no .linears")
    if any(linear.bias is not None for linear in linears):
        raise ValueError(f"{type(model).__name__} has biases: it is not homogeneous (002 eq. 3)")
    return [linear.weight for linear in linears]


def layer_norms(model: nn.Module) -> Tensor:
    """rho_k = ||W_k||_F for k = 1..L, shape (L,) (002 eq. 4)."""
    return torch.stack([torch.linalg.matrix_norm(w) for w in layer_weights(model)])


def rho(model: nn.Module, degrees: Sequence[float] | None = None) -> Tensor:
    """rho = prod_k ||W_k||_F^{c_k} (002 eqs. 4, 99); the degrees c_k default to 1 (ReLU)."""
    norms = layer_norms(model)
    c = norms.new_ones(len(norms)) if degrees is None else norms.new_tensor(list(degrees))
    if c.shape != norms.shape:
        raise ValueError(f"need one degree per layer ({len(norms)}), got {list(degrees or [])}")
    return torch.prod(norms**c)


def scaled(model: nn.Module, scales: Sequence[float]) -> nn.Module:
    """A copy of ``model`` with W_k replaced by a_k W_k (the scaling of Def. 1, 002 eq. 5)."""
    weights = layer_weights(model)
    if len(scales) != len(weights) or any(not a > 0 for a in scales):
        raise ValueError(f"need {len(weights)} positive scales, got {list(scales)}")
    out = copy.deepcopy(model)
    with torch.no_grad():
        for w, a in zip(layer_weights(out), scales, strict=True):
            w.mul_(a)
    return out


def homogeneity_residual(fn: Callable[[nn.Module], Tensor], model: nn.Module,
                         scales: Sequence[float], degrees: Sequence[float]) -> float:
    """max |fn(a W) - prod_k a_k^{c_k} fn(W)| / max |fn(W)|: multi-c_k-homogeneity (002 eq. 74).

    ``fn`` maps a model to a tensor (margins, logits, an input gradient ...).
    """
    factor = math.prod(a**c for a, c in zip(scales, degrees, strict=True))
    ref = fn(model).detach()
    err = (fn(scaled(model, scales)).detach() - factor * ref).abs().max()
    return float(err / ref.abs().max().clamp_min(torch.finfo(ref.dtype).tiny))


def estimate_degrees(fn: Callable[[nn.Module], Tensor], model: nn.Module, a: float = 2.0
                     ) -> Tensor:
    """c_k estimated per layer as log(|fn(.., a W_k, ..)| / |fn(W)|) / log a, median over outputs.

    A numeric homogeneity-degree check (STYLE §19): 1 per layer for a bias-free ReLU net,
    nothing clean with biases.
    """
    ref = fn(model).detach().abs().reshape(-1)
    keep = ref > 1e-12 * ref.max()
    out = []
    for k in range(len(layer_weights(model))):
        scales = [a if j == k else 1.0 for j in range(len(layer_weights(model)))]
        val = fn(scaled(model, scales)).detach().abs().reshape(-1)
        out.append(torch.median(torch.log(val[keep] / ref[keep]) / math.log(a)))
    return torch.stack(out)


# ---------------------------------------------------------------------------------------------
# The adversary and the adversarial margins


@dataclass(frozen=True)
class Adversary:
    """The adversary A(x, y; W) of 002 Algorithm 1, for binary margins (y in {-1, +1}).

    ``kind``: "none"; "fgm" (l2, eq. 87); "fgsm" (eq. 89); "pgd_l2" / "pgd_linf" (eq. 91, with the
    gradient at x + delta^j) of ``steps`` steps of size ``alpha`` (default 2.5 eps / steps);
    "raw_l2": PGD with raw (unnormalised) gradient steps in the l2 ball, a variant that is *not*
    scale invariant; "exact_l2" / "exact_linf": the exact worst cases of a deep linear net,
    eqs. (10) and (139). The attack loss is the margin loss -y f: under Assumption 1 every loss
    with l' < 0 gives the same normalised or signed direction, and the margin loss never
    underflows. ``random_start`` draws delta^0 from a generator seeded with ``seed``, so the draw
    does not depend on W (002 notes §2.2.1).
    """

    kind: AdversaryKind
    eps: float = 0.0
    steps: int = 1
    alpha: float | None = None
    random_start: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ADVERSARIES:
            raise ValueError(f"kind must be one of {ADVERSARIES}, got {self.kind!r}")
        if not (math.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps must be a finite float >= 0, got {self.eps!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive int, got {self.steps!r}")

    @property
    def step_size(self) -> float:
        """alpha, or Madry's 2.5 eps / steps when not given."""
        return self.alpha if self.alpha is not None else 2.5 * self.eps / self.steps

    def delta(self, model: nn.Module, X: Tensor, y: Tensor, *, differentiable: bool = False
              ) -> Tensor:
        """delta_i(W): (N, D). ``differentiable`` keeps the graph to W (the total derivative).

        Sign-based attacks have a zero derivative in W almost everywhere, so their differentiable
        delta is the detached one; "pgd_l2" and "raw_l2" have no differentiable form here.
        """
        if self.kind == "none" or self.eps == 0.0:
            return torch.zeros_like(X)
        if self.kind in ("exact_l2", "exact_linf"):
            d = exact_linear_delta(model, y, self.eps, p=2.0 if self.kind == "exact_l2"
                                   else math.inf)
            return d if differentiable else d.detach()
        if differentiable and self.kind == "fgm":
            return fgm_delta(model, X, y, self.eps)
        if differentiable and self.kind in ("pgd_l2", "raw_l2"):
            raise ValueError(f"no differentiable form of {self.kind!r}; use 'fgm' or detach")
        return self._engine(model, X, y)

    def _engine(self, model: nn.Module, X: Tensor, y: Tensor) -> Tensor:
        """delta from ``attacks.perturb`` (the one attack engine), margin loss, detached."""
        gen = torch.Generator(X.device).manual_seed(self.seed) if self.random_start else None
        common = {"eps": self.eps, "loss": "margin", "random_start": self.random_start,
                  "generator": gen}
        if self.kind == "fgm":
            return attacks.fgm(model, X, y, **common)
        if self.kind == "fgsm":
            return attacks.fgsm(model, X, y, **common)
        step = {"pgd_l2": "l2", "pgd_linf": "linf", "raw_l2": "raw"}[self.kind]
        p = math.inf if self.kind == "pgd_linf" else 2.0
        return attacks.perturb(model, X, y, step=step, alpha=self.step_size, steps=self.steps,
                               p=p, **common)


def fgm_delta(model: nn.Module, X: Tensor, y: Tensor, eps: float) -> Tensor:
    """delta_FGM(W) = -eps y grad_x f(x; W) / ||grad_x f(x; W)||, differentiable in W (002 eq. 87).

    The same perturbation as ``attacks.fgm(..., loss="margin")`` (a test pins this), built with
    ``create_graph=True`` so that the adversarial margin can be differentiated *through* delta.
    Shape: X (N, D), y (N,) in {-1, +1} -> (N, D).
    """
    x = X.detach().requires_grad_(True)
    score = model(x).reshape(-1)
    (g,) = torch.autograd.grad(score.sum(), x, create_graph=True)
    norms = torch.linalg.vector_norm(g.flatten(1), dim=1).clamp_min(torch.finfo(g.dtype).tiny)
    return -eps * y.to(X.dtype).view(-1, *[1] * (X.dim() - 1)) * g / norms.view(
        -1, *[1] * (X.dim() - 1))


def exact_linear_delta(model: nn.Module, y: Tensor, eps: float, p: float = 2.0) -> Tensor:
    """The exact worst case of a deep linear net: -y eps W_Pi/||W_Pi|| (p=2, 002 eq. 10) or
    -y eps sgn(W_Pi) (p=inf, eq. 139), differentiable in W. Shape: y (N,) -> (N, D)."""
    if not hasattr(model, "end_to_end_matrix"):
        raise ValueError(f"exact deltas need a deep linear net, got {type(model).__name__}")
    w = model.end_to_end_matrix()
    if w.shape[0] != 1:
        raise ValueError(f"exact deltas need a single output, W_Pi has shape {tuple(w.shape)}")
    w = w[0]
    direction = w / torch.linalg.vector_norm(w) if p == 2.0 else torch.sign(w)
    return -eps * y.to(w.dtype)[:, None] * direction[None, :]


def adversarial_margins(model: nn.Module, X: Tensor, y: Tensor, adversary: Adversary,
                        mode: GradMode = "detached") -> Tensor:
    """gamma~_i = y_i f(x_i + delta_i(W); W), (N,), with a graph to the parameters (002 Sec. 3.2).

    ``mode="total"`` differentiates through delta_i(W) (the theory's flow, eq. 16);
    ``"detached"`` freezes delta (Algorithm 1, and standard adversarial-training code).
    """
    if mode not in ("total", "detached"):
        raise ValueError(f"mode must be 'total' or 'detached', got {mode!r}")
    delta = adversary.delta(model, X, y, differentiable=mode == "total")
    return margins(model(X + delta), y)


def normalized_margins(model: nn.Module, X: Tensor, y: Tensor, adversary: Adversary,
                       degrees: Sequence[float] | None = None) -> Tensor:
    """gamma^_i = gamma~_i / rho (002 eq. 100), detached, (N,)."""
    with torch.no_grad():
        r = rho(model, degrees)
    return adversarial_margins(model, X, y, adversary).detach() / r


def margin_jacobian(model: nn.Module, X: Tensor, y: Tensor, adversary: Adversary,
                    mode: GradMode = "total") -> tuple[Tensor, Tensor]:
    """(q, G): the margins (N,) and their gradients G (N, P) in the parameters, layer order.

    G's rows are the constraint gradients of problem (19) (002 eq. 122), total derivatives by
    default. One backward per sample (N is small in the KKT checks).
    """
    params = layer_weights(model)
    q = adversarial_margins(model, X, y, adversary, mode)
    rows = []
    for i in range(len(q)):
        grads = torch.autograd.grad(q[i], params, retain_graph=i + 1 < len(q))
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return q.detach(), torch.stack(rows)


def flat_weights(model: nn.Module) -> Tensor:
    """W as one vector (P,), layer order (the ``v(W)`` of 002 eq. 72, row-major here)."""
    return torch.cat([w.detach().reshape(-1) for w in layer_weights(model)])


# ---------------------------------------------------------------------------------------------
# Linear models: exact worst cases, max-margin problems


class Worst(NamedTuple):
    """The exact worst case of a linear score: ``delta`` (N, D) and the ``margin`` (N,)."""

    delta: np.ndarray
    margin: np.ndarray


def linear_worst_case(w: np.ndarray, X: np.ndarray, y: np.ndarray, eps: float, p: float
                      ) -> Worst:
    """argmin over ||delta||_p <= eps of y w^T (x + delta): -y eps d*(w), d* the dual-norm
    maximiser (``norms.dual_maximiser``: w/||w||_2 for p = 2, sgn(w) for p = inf, any p >= 1);
    the margin is y w^T x - eps ||w||_q, q the dual exponent (002 eqs. 10, 139)."""
    w, X, y = (np.asarray(a, dtype=np.float64) for a in (w, X, y))
    w_t = torch.from_numpy(w)
    direction = norms.dual_maximiser(w_t, p).numpy()
    dual = float(norms.dual_norm(w_t, p))
    delta = -eps * y[:, None] * direction[None, :]
    return Worst(delta, y * (X @ w) - eps * dual)


def least_distance(G: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min ||z||_2 s.t. G z >= h, by Lawson & Hanson's reduction to NNLS (LDP, ch. 23).

    Returns (z, lam) with lam >= 0 the multipliers: z = G^T lam, lam_i (G_i z - h_i) = 0.
    Raises ValueError if the constraints are infeasible.
    """
    G, h = np.asarray(G, dtype=np.float64), np.asarray(h, dtype=np.float64)
    m, n = G.shape
    E = np.vstack([G.T, h[None, :]])
    target = np.zeros(n + 1)
    target[-1] = 1.0
    u, _ = nnls(E, target, maxiter=100 * max(m, n))
    r = E @ u - target
    if abs(r[-1]) < 1e-14:
        raise ValueError("least_distance: the constraints G z >= h are infeasible")
    return -r[:n] / r[n], u / (-r[n])


class SVM(NamedTuple):
    """Hard-margin SVM through the origin: ``w`` (min-norm, margins >= 1), ``u_bar = w/||w||``,
    ``gamma`` = 1/||w|| the max margin gamma_m, ``alpha`` the dual multipliers (002 eq. 7)."""

    w: np.ndarray
    u_bar: np.ndarray
    gamma: float
    alpha: np.ndarray


def hard_margin_svm(X: np.ndarray, y: np.ndarray) -> SVM:
    """u_bar = argmax_{||u||=1} min_i y_i <x_i, u> and gamma_m (002 eq. 7), exactly via NNLS."""
    Z = np.asarray(y, dtype=np.float64)[:, None] * np.asarray(X, dtype=np.float64)
    w, alpha = least_distance(Z, np.ones(len(Z)))
    norm = float(np.linalg.norm(w))
    return SVM(w, w / norm, 1.0 / norm, alpha)


def robust_l2_svm(svm: SVM, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """min 1/2 ||w||^2 s.t. y_i w^T x_i - eps ||w|| >= 1 in closed form, 0 <= eps < gamma_m:
    w* = u_bar / (gamma_m - eps), lambda_i = alpha_i gamma_m^2 / (gamma_m - eps)^2."""
    if not 0 <= eps < svm.gamma:
        raise ValueError(f"need 0 <= eps < gamma_m = {svm.gamma:.4g}, got eps = {eps!r}")
    g = svm.gamma
    return svm.u_bar / (g - eps), svm.alpha * g**2 / (g - eps) ** 2


def robust_linf_svm(X: np.ndarray, y: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The mixed-norm problem of 002 B.5 (eqs. 140-141, with min for the printed max):
    min 1/2 ||w||^2 s.t. y_i w^T x_i - eps ||w||_1 >= 1.

    Exactly, by splitting w = w+ - w- (w+- >= 0), which turns the constraints linear and keeps
    the objective: at the optimum w+ and w- have disjoint supports. Returns (w, lambda).
    """
    Z = np.asarray(y, dtype=np.float64)[:, None] * np.asarray(X, dtype=np.float64)
    n, d = Z.shape
    G = np.vstack([np.hstack([Z - eps, -Z - eps]), np.eye(2 * d)])
    h = np.concatenate([np.ones(n), np.zeros(2 * d)])
    z, lam = least_distance(G, h)
    return z[:d] - z[d:], lam[:n]


def linf_robust_margin(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """gamma_{m,1} = max_{||u||_1 = 1} min_i y_i u^T x_i (002 eq. 143) and its u, by linprog.

    It is the largest eps for which the l_inf-perturbed data stay linearly separable (eq. 142,
    with < for the printed <=).
    """
    Z = np.asarray(y, dtype=np.float64)[:, None] * np.asarray(X, dtype=np.float64)
    n, d = Z.shape
    cost = np.zeros(2 * d + 1)
    cost[-1] = -1.0  # maximise t
    A = np.vstack([np.hstack([-Z, Z, np.ones((n, 1))]),
                   np.concatenate([np.ones(2 * d), [0.0]])[None, :]])
    b = np.concatenate([np.zeros(n), [1.0]])
    res = linprog(cost, A_ub=A, b_ub=b, bounds=[(0, None)] * (2 * d) + [(None, None)],
                  method="highs")
    if res.status != 0:
        raise ValueError(f"linprog failed: {res.message}")
    return res.x[:d] - res.x[d:2 * d], float(-res.fun)


def margin_problem_slsqp(X: np.ndarray, y: np.ndarray, eps: float, p: float,
                         w0: np.ndarray) -> np.ndarray:
    """min 1/2 ||w||^2 s.t. y_i w^T x_i - eps ||w||_q >= 1 by SLSQP from ``w0``: a generic
    solver used to cross-check the exact ones above (q the dual exponent of p).

    For p = inf the l1 norm is made smooth by the split w = w+ - w- (w+- >= 0), as in
    :func:`robust_linf_svm`; SLSQP is then a second, independent solver of the same problem.
    """
    Z = np.asarray(y, dtype=np.float64)[:, None] * np.asarray(X, dtype=np.float64)
    w0 = np.asarray(w0, dtype=np.float64)
    d = Z.shape[1]
    opts = {"ftol": 1e-14, "maxiter": 2000}
    if p == 2.0:
        res = minimize(lambda w: 0.5 * w @ w, w0, jac=lambda w: w, method="SLSQP", options=opts,
                       constraints=[{"type": "ineq",
                                     "fun": lambda w: Z @ w - eps * np.linalg.norm(w) - 1}])
        x = res.x
    elif p == math.inf:
        G = np.hstack([Z - eps, -Z - eps])
        start = np.concatenate([np.maximum(w0, 0), np.maximum(-w0, 0)])
        res = minimize(lambda z: 0.5 * z @ z, start, jac=lambda z: z, method="SLSQP",
                       options=opts, bounds=[(0, None)] * (2 * d),
                       constraints=[{"type": "ineq", "fun": lambda z: G @ z - 1,
                                     "jac": lambda z: G}])
        x = res.x[:d] - res.x[d:]
    else:
        raise ValueError(f"p must be 2 or inf, got {p!r}")
    if res.status not in (0, 8):  # 8: the line search stalls at a converged optimum
        raise ValueError(f"SLSQP failed: {res.message}")
    return x


def angle_degrees(u: np.ndarray | Tensor, v: np.ndarray | Tensor) -> float:
    """The angle between two vectors, in degrees (clipped cosine)."""
    u = np.asarray(u.detach().cpu() if isinstance(u, Tensor) else u, dtype=np.float64).ravel()
    v = np.asarray(v.detach().cpu() if isinstance(v, Tensor) else v, dtype=np.float64).ravel()
    cos = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


# ---------------------------------------------------------------------------------------------
# KKT points of the adversarial max-margin problem (002 eq. 19)


class KKT(NamedTuple):
    """How far V is from a KKT point of min 1/2||V||^2 s.t. q_i(V) >= 1 (002 eqs. 122-123).

    ``lam`` (N,) >= 0, ``stationarity`` = ||V - sum_i lam_i grad q_i(V)||, ``slackness`` =
    sum_i lam_i (q_i(V) - 1) >= 0, and ``rel_residual`` = sqrt(stationarity^2 + slackness^2)
    / ||V||: zero exactly at a KKT point.
    """

    lam: np.ndarray
    stationarity: float
    slackness: float
    rel_residual: float


def kkt_residual(V: np.ndarray, G: np.ndarray, q: np.ndarray) -> KKT:
    """The best multipliers lam >= 0 for both KKT conditions at once, by one NNLS:
    min_lam ||V - G^T lam||^2 + (lam^T (q - 1))^2 (the slackness row keeps lam off the inactive
    constraints; stationarity alone can be met by many directions when n is large).

    Shapes: V (P,), G (N, P) the constraint gradients at V, q (N,) = q(V) >= 1.
    """
    V, G, q = (np.asarray(a, dtype=np.float64) for a in (V, G, q))
    if G.shape != (len(q), len(V)):
        raise ValueError(f"G must have shape ({len(q)}, {len(V)}), got {G.shape}")
    if q.min() < 1 - 1e-9:
        raise ValueError(f"V is not feasible: min_i q_i(V) = {q.min():.6g} < 1")
    A = np.vstack([G.T, (q - 1.0)[None, :]])
    lam, _ = nnls(A, np.concatenate([V, [0.0]]), maxiter=100 * len(q))
    stat = float(np.linalg.norm(V - G.T @ lam))
    slack = float(lam @ (q - 1.0))
    return KKT(lam, stat, slack, math.hypot(stat, slack) / float(np.linalg.norm(V)))


def kkt_of_model(model: nn.Module, X: Tensor, y: Tensor, adversary: Adversary, *,
                 mode: GradMode = "total") -> KKT:
    """The KKT measure of V = W / gamma~_m^{1/K} (002 eq. 125), K = L the homogeneity degree.

    V is feasible (q_i(V) = gamma~_i / gamma~_m >= 1) and its constraint gradients are
    gamma~_m^{-(K-1)/K} grad gamma~_i(W) (eq. 128), so nothing is recomputed at V. Needs all
    adversarial margins positive (Assumption 4).
    """
    K = len(layer_weights(model))
    q, G = margin_jacobian(model, X, y, adversary, mode)
    q_m = float(q.min())
    if q_m <= 0:
        raise ValueError(f"KKT needs separated adversarial data, min margin = {q_m:.4g}")
    V = flat_weights(model) / q_m ** (1.0 / K)
    return kkt_residual(V.numpy(), (G / q_m ** ((K - 1.0) / K)).numpy(), (q / q_m).numpy())


def rho_gradient(weights: Sequence[np.ndarray]) -> np.ndarray:
    """d rho / dW for rho = prod_k ||W_k||_F (c_k = 1): rho W_k / ||W_k||_F^2, flattened (P,)."""
    norms = [float(np.linalg.norm(w)) for w in weights]
    r = math.prod(norms)
    return np.concatenate([r * np.ravel(w) / n**2 for w, n in zip(weights, norms, strict=True)])


class Certificate(NamedTuple):
    """002's approximate-KKT certificate of V = W / gamma~_m^{1/K} with the multipliers of
    eq. (130), corrected by the factor 1/n: ``chi`` = ||V - sum lam_i grad q_i(V)|| / ||V||
    = sqrt(2 (1 + cos(W, grad L~))) (eq. 131, corrected), ``xi`` = sum_i lam_i (q_i(V) - 1)
    (eq. 134), ``cos`` = cos(W, -grad L~) (Lemma 12's alignment)."""

    chi: float
    xi: float
    cos: float


def kkt_certificate(w: np.ndarray, q: np.ndarray, G: np.ndarray, K: int) -> Certificate:
    """The certificate of :class:`Certificate` from W (P,), margins q (N,) > 0 and their
    gradients G (N, P) at W, for the exponential loss; all in log-safe form (weights
    exp(-(q_i - q_m)), which changes no ratio)."""
    w, q, G = (np.asarray(a, dtype=np.float64) for a in (w, q, G))
    q_m = float(q.min())
    if q_m <= 0:
        raise ValueError(f"the certificate needs separated data, min margin = {q_m:.4g}")
    weights = np.exp(-(q - q_m))
    minus_grad = weights @ G  # proportional to -grad L~ (positive factor e^{-q_m} / n)
    scale = float(np.linalg.norm(w)) * q_m ** ((K - 2) / K) / float(np.linalg.norm(minus_grad))
    lam = scale * weights  # eq. (130) with 1/n: the positive factors cancel
    V = w / q_m ** (1 / K)
    residual = V - lam @ (G / q_m ** ((K - 1) / K))
    cos = float(w @ minus_grad / (np.linalg.norm(w) * np.linalg.norm(minus_grad)))
    return Certificate(float(np.linalg.norm(residual) / np.linalg.norm(V)),
                       float(lam @ (q / q_m - 1.0)), cos)
