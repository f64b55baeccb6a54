"""Liu et al.: the loss landscape of adversarial training (seed 004; thesis 003, Sec. 4.1-4.2).

The linear models first (004 Sec. 3.1 and App. A.1; 003 Sec. 4.2.1): the closed-form adversarial
loss of binary logistic regression (eq. 6) and its margin-shifted surrogate (eq. 7), Lemma 1 and
Theorem 3 (curvature grows with eps, for the surrogate only), Proposition 1 (the version space
shrinks) and Theorem 1 (collapse to a constant classifier, with the exact threshold). Then the
general models (004 Sec. 3.2 and App. A.3; 003 Sec. 4.2.2): Proposition 2 and Corollary 1 (the
gradient of the adversarial loss jumps by up to ``2 eps L_thetax``) and Theorem 2 / Corollary 2
(SGD's gradients do not vanish; corrected constant ``4/(gamma - 2)^2``).

Each formula is a function, each check a property test that takes the formula as its argument
(STYLE §13): the printed form, the corrected form and a deliberately wrong control go through
the same test. Numbering: "004 Theorem 2; 003 Theorem 4.3" in every claim's ``sources``.

Notation (004 Sec. 2): ``g(x, theta)`` the clean per-sample loss, ``g_eps(x, theta) =
max_{x' in S_eps(x)} g(x', theta)``, ``L_eps`` its average; ``q`` the dual exponent of ``p``;
``K`` classes; ``W = [w_1 .. w_K]`` (m, K) for the bias-free linear model; ``phi(z) =
e^z / (1 + e^z)^2`` the logistic curvature; ``L_thetax`` etc. the constants of Assumption 1.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import sympy as sp
import torch
from scipy.optimize import linprog

from advproof import bounds, data
from advproof.asserts import fmt, require, sym_equal, worst_close
from advproof.claims import ClaimSet, Erratum
from advproof.threads import single_thread

CLAIMS = ClaimSet("liu")
F64 = torch.float64

eps, gamma = sp.symbols("epsilon gamma", positive=True)
z = sp.Symbol("z", real=True)


def phi_sym(z_: sp.Expr) -> sp.Expr:
    """``phi(z) = e^z / (1 + e^z)^2``, the logistic curvature (004 eq. 29)."""
    return sp.exp(z_) / (1 + sp.exp(z_)) ** 2


# ---------------------------------------------------------------------------------------------
# Eq. (6): the closed-form adversarial loss of binary logistic regression


def worst_perturbation_corrected(v: np.ndarray, p: float) -> np.ndarray:
    """The maximiser ``sign(v) |v|^{q/p} / ||v||_q^{q/p}`` of ``v^T d`` on the unit l_p ball.

    ``q/p = q - 1``; p = inf gives ``sign(v)``, p = 1 a signed one-hot at ``argmax |v_j|``.
    """
    if p == 1.0:
        out = np.zeros_like(v)
        j = int(np.argmax(np.abs(v)))
        out[j] = np.sign(v[j])
        return out
    q = bounds.dual_exponent(p)
    power = 0.0 if p == math.inf else q / p
    return np.sign(v) * np.abs(v) ** power / np.linalg.norm(v, ord=q) ** power


def worst_perturbation_printed(v: np.ndarray, p: float) -> np.ndarray:
    """004 App. B.1 (13): ``v^{q/p} / ||v||_q^{q/p}`` entrywise, without sign and absolute value."""
    q = bounds.dual_exponent(p)
    power = 0.0 if p == math.inf else q / p
    with np.errstate(invalid="ignore"):
        return np.power(v, power) / np.linalg.norm(v, ord=q) ** power


def adversarial_loss_wrong_norm(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, eps_: float,
                                p: float, **kw) -> torch.Tensor:
    """Negative control for eq. 6: the primal norm ``eps ||w||_p`` instead of the dual one."""
    margin = y * (X @ w) - eps_ * torch.linalg.vector_norm(w, ord=p)
    return torch.nn.functional.softplus(-margin).mean()


def _lp_inner_max(w: np.ndarray, x: np.ndarray, y: float, eps_: float, p: float) -> float:
    """``max_{||d||_p <= eps} log(1 + exp(-y w^T (x + d)))`` for p in {1, inf} by an LP in d."""
    m = len(w)
    if p == math.inf:  # box: minimise y w^T d over |d_j| <= eps
        res = linprog(y * w, bounds=[(-eps_, eps_)] * m, method="highs")
        best = res.fun
    else:  # l1 ball: d = d+ - d-, sum(d+ + d-) <= eps
        res = linprog(np.concatenate([y * w, -y * w]), A_ub=np.ones((1, 2 * m)), b_ub=[eps_],
                      bounds=[(0, None)] * (2 * m), method="highs")
        best = res.fun
    return float(np.logaddexp(0.0, -y * (w @ x) - best))


eq6 = CLAIMS.claim(
    "liu.eq6",
    title="Closed-form adversarial loss of binary logistic regression (dual norm)",
    sources=("004 eq. (6) (App. A.1)", "003 Sec. 4.2.1 (text before eq. (4.2))"),
    kind="proposition",
    statement=r"""
For binary logistic regression $f(\mathbf w) = [\mathbf w^T\mathbf x, -\mathbf w^T\mathbf x]$ with
labels $y_i \in \{-1, +1\}$ and the budget $\mathcal S^{(p)}_\epsilon$,
$\mathcal L_\epsilon(\mathbf w) = \frac1N \sum_i \log\big(1 + e^{-y_i \mathbf w^T \mathbf x_i +
\epsilon \|\mathbf w\|_q}\big)$, with $\ell_q$ the dual norm of $\ell_p$.""",
)


@eq6.step(1, "Hoelder: the dual maximiser attains eps ||w||_q on the l_p ball",
          numeric=True, subject=worst_perturbation_corrected, control=worst_perturbation_printed,
          control_label="v^{q/p} without sign and |.| (004 (13))", tolerance=1e-12)
@single_thread()
def eq6_step1_hoelder(maximiser: Callable[[np.ndarray, float], np.ndarray]) -> str:
    """For p in {1, 1.5, 2, 3, inf}: ``||d||_p = 1`` and ``v^T d = ||v||_q`` on 200 random v."""
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(200):
        v = rng.normal(size=int(rng.integers(2, 8)))
        for p in (1.0, 2.0, math.inf):
            d = maximiser(v, p)
            pairs.append((np.array([np.linalg.norm(d, ord=p), v @ d]),
                          np.array([1.0, np.linalg.norm(v, ord=bounds.dual_exponent(p))])))
    return worst_close(pairs, rtol=1e-12, what="(||d||_p, v^T d) vs (1, ||v||_q)")


u = sp.Symbol("u", real=True)


@eq6.step(2, "log(1 + e^u) is increasing: the worst point maximises -y w^T x'",
          subject=sp.log(1 + sp.exp(u)), control=sp.log(1 + sp.exp(-u)),
          control_label="log(1 + e^{-u}) (decreasing)")
def eq6_step2_monotone(loss: sp.Expr) -> str:
    """``d/du loss > 0`` for every real u (solveset of ``<= 0`` is empty)."""
    slope = sp.simplify(sp.diff(loss, u))
    bad = sp.solveset(slope <= 0, u, sp.Reals)
    require(bad == sp.EmptySet, f"d/du {loss} = {slope} <= 0 for u in {bad}")
    return f"d/du {loss} = {slope} > 0 on R"


@eq6.check(kind="numeric", subject=bounds.logistic_adversarial_loss,
           control=adversarial_loss_wrong_norm, control_label="eps ||w||_p (primal norm)",
           tolerance=1e-10)
@single_thread()
def eq6_against_lp(loss: Callable) -> str:
    """Eq. 6 equals the inner maximum by an LP (p = 1, inf) on 40 random (w, x, y, eps)."""
    rng = np.random.default_rng(1)
    pairs = []
    for _ in range(40):
        m = int(rng.integers(2, 7))
        w, x = rng.normal(size=m), rng.normal(size=m)
        yv, e = float(rng.choice([-1.0, 1.0])), float(rng.uniform(0.05, 1.0))
        for p in (1.0, math.inf):
            got = loss(torch.tensor(w), torch.tensor(x[None]), torch.tensor([yv]), e, p)
            pairs.append((float(got), _lp_inner_max(w, x, yv, e, p)))
    return worst_close(pairs, rtol=1e-10, what="closed form vs LP inner max")


# ---------------------------------------------------------------------------------------------
# Eq. (7): the surrogate


def _unit(w: torch.Tensor, q: float) -> torch.Tensor:
    return w / torch.linalg.vector_norm(w, ord=q)


def eq6_l2(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, eps_: float) -> torch.Tensor:
    """Eq. 6 for p = q = 2 (the l2 threat model), as a function of w only."""
    return bounds.logistic_adversarial_loss(w, X, y, eps_, 2.0)


def eq7(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, eps_: float) -> torch.Tensor:
    """Eq. 7, the surrogate ``(1/N) sum log(1 + e^{-y w^T x + eps})``."""
    return bounds.logistic_surrogate_loss(w, X, y, eps_)


def clean_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, eps_: float) -> torch.Tensor:
    """Negative control: the clean logistic loss (eps dropped)."""
    return bounds.logistic_surrogate_loss(w, X, y, 0.0)


def _derivatives(loss: Callable, w: torch.Tensor, X, y, eps_: float) -> tuple:
    f = lambda v: loss(v, X, y, eps_)  # noqa: E731
    return (f(w), torch.autograd.functional.jacobian(f, w),
            torch.autograd.functional.hessian(f, w))


eq7_claim = CLAIMS.claim(
    "liu.eq7",
    title="The loss with ||w||_q = 1 'without loss of generality' is a margin-shifted surrogate",
    sources=("004 eq. (7) (App. A.1)", "003 eq. (4.2)"),
    kind="remark",
    statement=r"""
"Since the magnitude of $\mathbf w$ does not change the results of the classifier, we can assume
$\|\mathbf w\|_q = 1$ without loss of generality", so that
$\mathcal L_\epsilon(\mathbf w) = \frac1N\sum_i \log\big(1 + e^{-y_i\mathbf w^T\mathbf x_i +
\epsilon}\big)$.""",
    erratum=Erratum(
        printed=r"\mathcal L_\epsilon(\mathbf w) = \tfrac1N\textstyle\sum_i \log(1 + e^{-y_i"
                r"\mathbf w^T\mathbf x_i + \epsilon})\quad\text{(w.l.o.g. } \|\mathbf w\|_q = 1)",
        problem=(
            "The classifier sign(w^T x) is scale-invariant, but the loss and its derivatives are "
            "not. Eq. 7 equals eq. 6 in value on the sphere ||w||_q = 1 only: off the sphere it "
            "ignores the eps ||w||_q penalty, and on the sphere its gradient and Hessian still "
            "differ from those of eq. 6 (they lack the derivatives of eps ||w||_q). For l2 data "
            "the Hessians differ by a matrix of norm comparable to the Hessian itself (check "
            "eq7_has_the_derivatives_of_eq6). Results about the curvature of eq. 7 (Theorem 3) "
            "are results about a surrogate."
        ),
        corrected=r"\text{eq. 7 is the surrogate } \tfrac1N\textstyle\sum_i \log(1 + e^{-y_i"
                  r"\mathbf w^T \mathbf x_i + \epsilon}) \text{; the adversarial loss is eq. 6,"
                  r" equal to it in value only where } \|\mathbf w\|_q = 1",
    ),
)


@eq7_claim.check(kind="numeric", subject=eq7, control=clean_loss,
                 control_label="the clean loss (eps dropped)", tolerance=1e-13)
@single_thread()
def eq7_value_on_the_sphere(loss: Callable) -> str:
    """On ``||w||_2 = 1`` the surrogate's value equals eq. 6's (20 random instances)."""
    gen = torch.Generator().manual_seed(2)
    pairs = []
    for _ in range(20):
        X = torch.randn(15, 4, generator=gen, dtype=F64)
        y = torch.where(torch.rand(15, generator=gen, dtype=F64) > 0.5, 1.0, -1.0).to(F64)
        w = _unit(torch.randn(4, generator=gen, dtype=F64), 2.0)
        pairs.append((loss(w, X, y, 0.3), eq6_l2(w, X, y, 0.3)))
    return worst_close(pairs, rtol=1e-13, what="surrogate vs eq. 6 at ||w|| = 1")


@eq7_claim.check(kind="numeric", subject=eq7, control=eq6_l2, refutes=True,
                 control_label="eq. 6 itself (must not be refuted)", tolerance=1e-8)
@single_thread()
def eq7_has_the_derivatives_of_eq6(loss: Callable) -> str:
    """Refutation: value, gradient and Hessian at unit-norm w vs eq. 6's (autograd, float64)."""
    gen = torch.Generator().manual_seed(3)
    worst = 0.0
    for _ in range(10):
        X = torch.randn(20, 4, generator=gen, dtype=F64)
        y = torch.where(torch.rand(20, generator=gen, dtype=F64) > 0.5, 1.0, -1.0).to(F64)
        w = _unit(torch.randn(4, generator=gen, dtype=F64), 2.0)
        for got, ref in zip(_derivatives(loss, w, X, y, 0.4), _derivatives(eq6_l2, w, X, y, 0.4),
                            strict=True):
            worst = max(worst, float((got - ref).abs().max() / ref.abs().max()))
    require(worst <= 1e-8, f"value/gradient/Hessian differ from eq. 6: rel. {fmt(worst)}")
    return f"value, gradient and Hessian equal eq. 6's at ||w|| = 1: rel. {fmt(worst)}"


# ---------------------------------------------------------------------------------------------
# Lemma 1 (004 App. B.4; 003 Lemma 4.1)


def _weighted_gram(weights: np.ndarray, X: np.ndarray) -> np.ndarray:
    return (X.T * weights) @ X


def weights_dominated(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` with ``a_i >= b_i`` (the hypothesis of Lemma 1), signs arbitrary."""
    b = rng.normal(size=n)
    return b + rng.exponential(size=n), b


def weights_unordered(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Negative control: ``a_i - b_i`` of random sign (the hypothesis dropped)."""
    b = rng.normal(size=n)
    return b + rng.normal(size=n), b


lemma1 = CLAIMS.claim(
    "liu.lemma1",
    title="Weighted sums of outer products are ordered with their weights",
    sources=("004 Lemma 1 (App. B.4)", "003 Lemma 4.1"),
    kind="lemma",
    statement=r"""
Given vectors $\{\mathbf x_i\}_{i=1}^N$ and scalars $\{a_i\}, \{b_i\}$, let
$\mathbf A = \sum_i a_i \mathbf x_i \mathbf x_i^T$ and $\mathbf B = \sum_i b_i \mathbf x_i
\mathbf x_i^T$. If $a_i \ge b_i$ for all $i$, then $\mathbf m^T\mathbf A\mathbf m \ge
\mathbf m^T\mathbf B\mathbf m$ for all $\mathbf m$, and the largest and the smallest eigenvalues
of $\mathbf A$ are no smaller than those of $\mathbf B$.""",
)

_ms = sp.Matrix(sp.symbols("m1:3", real=True))
_xs = [sp.Matrix(sp.symbols(f"x{i}_1:3", real=True)) for i in range(3)]
_as, _bs = sp.symbols("a1:4", real=True), sp.symbols("b1:4", real=True)


@lemma1.step(1, "Subtract: m^T (A - B) m = sum_i (a_i - b_i) (x_i^T m)^2",
             subject=lambda d, xm: d * xm**2, control=lambda d, xm: d * xm,
             control_label="(x_i^T m) not squared")
def lemma1_step1_difference(term: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> str:
    """Symbolic, N = 3 vectors in R^2: the quadratic form of A - B is the weighted sum."""
    A = sum((a * x * x.T for a, x in zip(_as, _xs, strict=True)), sp.zeros(2, 2))
    B = sum((b * x * x.T for b, x in zip(_bs, _xs, strict=True)), sp.zeros(2, 2))
    lhs = (_ms.T * (A - B) * _ms)[0]
    rhs = sum(term(a - b, (x.T * _ms)[0]) for a, b, x in zip(_as, _bs, _xs, strict=True))
    return sym_equal(sp.expand(lhs), sp.expand(rhs), "m^T(A-B)m - sum (a_i-b_i)(x_i^T m)^2")


def _eigen_pairs(weights: Callable, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, d = int(rng.integers(2, 12)), int(rng.integers(2, 6))
    X = rng.normal(size=(n, d))
    a, b = weights(rng, n)
    return np.linalg.eigvalsh(_weighted_gram(a, X)), np.linalg.eigvalsh(_weighted_gram(b, X))


@lemma1.step(2, "Rayleigh quotients: lambda_max and lambda_min keep the order",
             numeric=True, subject=weights_dominated, control=weights_unordered,
             control_label="a_i >= b_i dropped", tolerance=1e-12)
@single_thread()
def lemma1_step2_extremes(weights: Callable) -> str:
    """On 500 random instances: ``lambda_max(A) >= lambda_max(B)``, same for lambda_min."""
    rng = np.random.default_rng(4)
    for i in range(500):
        la, lb = _eigen_pairs(weights, rng)
        scale = 1e-12 * max(1.0, np.abs(la).max())
        require(la[-1] >= lb[-1] - scale and la[0] >= lb[0] - scale,
                f"instance {i}: extremes ({la[0]:.3g}, {la[-1]:.3g}) vs "
                f"({lb[0]:.3g}, {lb[-1]:.3g})")
    return "lambda_max(A) >= lambda_max(B) and lambda_min(A) >= lambda_min(B) on 500 instances"


@lemma1.check(kind="numeric", subject=weights_dominated, control=weights_unordered,
              control_label="a_i >= b_i dropped", tolerance=1e-12)
@single_thread()
def lemma1_every_eigenvalue(weights: Callable) -> str:
    """Stronger than printed: A - B is PSD (Loewner), so lambda_k(A) >= lambda_k(B) for every k."""
    rng = np.random.default_rng(5)
    for i in range(500):
        la, lb = _eigen_pairs(weights, rng)
        gap = (la - lb).min()
        require(gap >= -1e-12 * max(1.0, np.abs(la).max()),
                f"instance {i}: lambda_k(A) - lambda_k(B) = {gap:.3g} < 0")
    return "every ordered eigenvalue of A dominates B's (Weyl) on 500 instances"


# ---------------------------------------------------------------------------------------------
# Theorem 3 (004 App. A.1, proof B.4; 003 Theorem 4.1)


def separable_problem(seed: int, n: int = 40, d: int = 5, margin: float = 0.5
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(w, X, y)``: unit-l2 ``w`` with ``y_i w^T x_i >= margin`` (data.make_separable)."""
    sep = data.make_separable(n, d, margin, seed=seed)
    return sep.w.to(F64), sep.X.to(F64), (2.0 * sep.y - 1.0).to(F64)


def monotone_failures(loss: Callable, eps_grid: np.ndarray, datasets: int = 20, margin: float = 0.5
                      ) -> tuple[int, float]:
    """How many of ``datasets`` separable sets violate Loewner monotonicity of the Hessian of
    ``loss`` at the unit-norm max-margin ``w`` along ``eps_grid``, and the worst min eigenvalue of
    a consecutive difference (relative to the Hessian's scale)."""
    fails, worst = 0, 0.0
    for seed in range(datasets):
        w, X, y = separable_problem(seed, margin=margin)
        with single_thread():
            H = [torch.autograd.functional.hessian(
                lambda v, e=float(e), X=X, y=y: loss(v, X, y, e), w) for e in eps_grid]
        gaps = [float(torch.linalg.eigvalsh(H[k + 1] - H[k]).min() / H[k].norm())
                for k in range(len(H) - 1)]
        worst = min(worst, min(gaps))
        fails += min(gaps) < -1e-12
    return fails, worst


thm3 = CLAIMS.claim(
    "liu.thm3",
    title="The curvature of the (surrogate) adversarial logistic loss grows with eps",
    sources=("004 Theorem 3 (App. A.1, proof B.4)", "003 Theorem 4.1"),
    kind="theorem",
    uses=("liu.lemma1", "liu.eq7"),
    statement=r"""
If $\{(\mathbf x_i, y_i)\}$ is linearly separable under $\mathcal S_{\hat\epsilon}$, then for any
unit vector $\mathbf m$ and $\epsilon_1 \le \epsilon_2 \le \hat\epsilon$:
$\mathbf m^T \nabla^2_{\mathbf w}\mathcal L_{\epsilon_1}(\mathbf w)\mathbf m \le \mathbf m^T
\nabla^2_{\mathbf w}\mathcal L_{\epsilon_2}(\mathbf w)\mathbf m$; both the largest and the
smallest Hessian eigenvalue at $\epsilon_1$ are no greater than those at $\epsilon_2$.""",
    erratum=Erratum(
        printed=r"\mathbf m^T\nabla^2\mathcal L_{\epsilon_1}(\mathbf w)\mathbf m \le \mathbf m^T"
                r"\nabla^2\mathcal L_{\epsilon_2}(\mathbf w)\mathbf m\ \text{for the adversarial"
                r" loss } \mathcal L_\epsilon",
        problem=(
            "The proof differentiates eq. 7, the surrogate, at a w it never names. It holds for "
            "eq. 7 at a unit-norm w with y_i w^T x_i >= eps_hat (a robust separator). For the "
            "true adversarial loss (eq. 6) the Hessian is not monotone: along w itself the "
            "curvature is mean_i z_i^2 phi(z_i) with z_i = y_i w^T x_i - eps, which decreases in "
            "eps for margins 0 < z_i < z* = 2.40 (z tanh(z/2) = 2). On 20 random separable "
            "datasets (l2, N = 40, m = 5) Loewner monotonicity of eq. 6's Hessian fails in "
            "every one (check thm3_true_loss_is_monotone)."
        ),
        corrected=r"\text{For eq. 7 at } \|\mathbf w\|_q = 1,\ y_i\mathbf w^T\mathbf x_i \ge"
                  r" \hat\epsilon:\ \nabla^2\mathcal L^{(7)}_{\epsilon_1}(\mathbf w) \preceq"
                  r" \nabla^2\mathcal L^{(7)}_{\epsilon_2}(\mathbf w) \text{ (every eigenvalue"
                  r" ordered); not for eq. 6}",
    ),
)

_w2 = sp.Matrix(sp.symbols("w1:3", real=True))
_x2 = sp.Matrix(sp.symbols("x1:3", real=True))
_y = sp.Symbol("y", real=True)


@thm3.step(1, "Differentiate eq. 7 twice: eq. (29)",
           subject=lambda zz: phi_sym(zz), control=lambda zz: sp.exp(zz) / (1 + sp.exp(zz)),
           control_label="square of the denominator dropped")
def thm3_step1_hessian(weight: Callable[[sp.Expr], sp.Expr]) -> str:
    """Hessian of ``log(1 + e^{-y w^T x + eps})`` (m = 2) equals ``weight(y w^T x - eps) x x^T``."""
    a = _y * (_w2.T * _x2)[0]
    H = sp.hessian(sp.log(1 + sp.exp(-a + eps)), list(_w2)).subs(_y**2, 1)
    return sym_equal(H, weight(a - eps) * _x2 * _x2.T, "Hessian of eq. 7 - phi(z) x x^T")


@thm3.step(2, "phi(y w^T x - eps) grows with eps while the margin z stays >= 0",
           subject=sp.Interval(0, sp.oo), control=sp.Reals,
           control_label="eps <= eps_hat dropped (all z)")
def thm3_step2_weight(domain: sp.Set) -> str:
    """``d phi(a - eps)/d eps = e^z (e^z - 1)/(1 + e^z)^3`` is >= 0 for every z in the domain."""
    a_ = sp.Symbol("a", real=True)
    slope = sp.diff(phi_sym(a_ - eps), eps).subs(a_ - eps, z).subs(a_, z + eps)
    closed = sp.exp(z) * (sp.exp(z) - 1) / (1 + sp.exp(z)) ** 3
    sym_equal(slope, closed, "d phi/d eps - e^z(e^z-1)/(1+e^z)^3")
    bad = sp.solveset(sp.exp(z) - 1 < 0, z, domain)
    require(bad == sp.EmptySet, f"phi decreases in eps for margins z in {bad}")
    return f"d phi/d eps = e^z(e^z-1)/(1+e^z)^3 >= 0 for z in {domain}"


@thm3.step(3, "Lemma 1: Loewner order of the Hessians on [0, eps_hat]", numeric=True,
           subject=np.linspace(0.0, 0.5, 9), control=np.linspace(0.0, 1.5, 9),
           control_label="eps up to 3 eps_hat (hypothesis dropped)", tolerance=1e-12,
           uses=("liu.lemma1",))
@single_thread()
def thm3_step3_loewner(eps_grid: np.ndarray) -> str:
    """Eq. 7's Hessian at the unit-norm max-margin w (margin 0.5) on 20 separable sets."""
    fails, worst = monotone_failures(eq7, eps_grid)
    require(fails == 0, f"{fails}/20 datasets not Loewner-monotone (min eig {worst:.2g})")
    return f"Loewner-monotone on all 20 datasets, eps in [0, {eps_grid[-1]:.2g}]"


@thm3.check(kind="numeric", subject=eq6_l2, control=eq7, refutes=True,
            control_label="the surrogate eq. 7 (must not be refuted)", tolerance=1e-12)
@single_thread()
def thm3_true_loss_is_monotone(loss: Callable) -> str:
    """Refutation: is the Hessian of eq. 6 (l2) Loewner-monotone on [0, eps_hat]? (20 sets)."""
    fails, worst = monotone_failures(loss, np.linspace(0.0, 0.5, 9))
    require(fails == 0, f"not Loewner-monotone on {fails}/20 datasets "
                        f"(worst min eigenvalue of a step {worst:.2g} x ||H||)")
    return "Loewner-monotone on all 20 datasets"


Z_STAR = float(sp.nsolve(z * sp.tanh(z / 2) - 2, z, 2.4))


@thm3.check(kind="symbolic", subject=Z_STAR, control=1.0,
            control_label="z* = 1 (wrong root)")
def thm3_flip_region(z_star: float) -> str:
    """Eq. 6 along w (||w|| = 1): curvature ``mean z_i^2 phi(z_i)``, falling in eps iff z < z*."""
    a = _y * (_w2.T * _x2)[0]
    lam, r = sp.Symbol("lambda", positive=True), sp.Symbol("r", positive=True)
    ray = sp.log(1 + sp.exp(-lam * a + eps * lam * r))  # eq. 6 at lambda w, ||lambda w|| = lambda r
    what = sp.diff(ray, lam, 2).subs({lam: 1, r: 1})  # = w^T H w at a unit-norm w
    zz = a - eps
    sym_equal(what, zz**2 * phi_sym(zz), "w^T H w - z^2 phi(z)")
    d = sp.diff(z**2 * phi_sym(z), z)
    sym_equal(d, (phi_sym(z) * z * (2 - z * sp.tanh(z / 2))).rewrite(sp.exp), "d(z^2 phi)/dz")
    root = float(sp.nsolve(2 - z * sp.tanh(z / 2), z, z_star))
    require(abs(root - z_star) < 1e-9, f"the sign change is at z = {root:.4f}, not {z_star:.4f}")
    return (f"w^T H w = z^2 phi(z) at ||w|| = 1; d/dz = phi z (2 - z tanh(z/2)) changes sign at "
            f"z* = {z_star:.4f}: the curvature falls with eps while 0 < z < z*")


# ---------------------------------------------------------------------------------------------
# The bias-free linear softmax model under an l_inf budget, with the inner max done exactly:
# the cross-entropy of W^T x' is convex in x', so its maximum over the box is at a vertex.


def box_vertices(m: int) -> torch.Tensor:
    """The ``2^m`` vertices of ``[-1, 1]^m``, (2^m, m) float64."""
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=m)), dtype=F64)


def linear_adv_ce(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, eps_: float) -> torch.Tensor:
    """``g_eps(x_i, W) = max_{||x' - x_i||_inf <= eps} CE(W^T x', y_i)`` per sample, (N,).

    Exact, by enumerating the box's vertices (m <= 10). ``W`` is (m, K), ``X`` (N, m).
    """
    V = box_vertices(X.shape[1])
    logits = (X @ W)[:, None, :] + eps_ * (V @ W)[None]  # (N, 2^m, K), linear in x'

    ce = torch.logsumexp(logits, -1) - logits.gather(
        -1, y[:, None, None].expand(-1, len(V), 1))[..., 0]
    return ce.amax(1)


def in_version_space_definition(W: np.ndarray, x: np.ndarray, y: int, eps_: float) -> bool:
    """``(w_i - w_y)^T x' <= 0`` for every class i and every vertex x' of the box (exact)."""
    V = box_vertices(len(x)).numpy()
    scores = (x[None] + eps_ * V) @ (W - W[:, [y]])  # (2^m, K)
    return bool(scores.max() <= 1e-12)


def in_version_space_hoelder(W: np.ndarray, x: np.ndarray, y: int, eps_: float) -> bool:
    """Hoelder form: ``(w_i - w_y)^T x + eps ||w_i - w_y||_1 <= 0`` for every class i."""
    D = W - W[:, [y]]
    return bool((x @ D + eps_ * np.abs(D).sum(0)).max() <= 1e-12)


def in_version_space_wrong_sign(W: np.ndarray, x: np.ndarray, y: int, eps_: float) -> bool:
    """Negative control: ``(w_i - w_y)^T x - eps ||w_i - w_y||_1 <= 0`` (the budget helps)."""
    D = W - W[:, [y]]
    return bool((x @ D - eps_ * np.abs(D).sum(0)).max() <= 1e-12)


def in_sublevel_set(W: np.ndarray, x: np.ndarray, y: int, eps_: float) -> bool:
    """What 004's proof of Proposition 1 uses: ``g_eps(x, W) <= log K`` (exact inner max)."""
    g = linear_adv_ce(torch.tensor(W), torch.tensor(x[None]), torch.tensor([y]), eps_)
    return bool(float(g[0]) <= math.log(W.shape[1]) + 1e-12)


def _random_instances(seed: int, count: int, m: int = 2, K: int = 3) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(m, K)), rng.normal(size=m), int(rng.integers(K)),
             float(rng.uniform(0.0, 1.0))) for _ in range(count)]


prop1 = CLAIMS.claim(
    "liu.prop1",
    title="The version space shrinks as the budget grows",
    sources=("004 Proposition 1 (Sec. 3.1)", "003 Proposition 4.1"),
    kind="proposition",
    statement=r"""
With the version space $\mathcal V_\epsilon = \{\mathbf W \mid (\mathbf w_i - \mathbf w_y)^T
\mathbf x' \le 0,\ \forall i \in [K],\ \mathbf x' \in \mathcal S_\epsilon(\mathbf x)\}$:
$\mathcal V_{\epsilon_2} \subseteq \mathcal V_{\epsilon_1}$ when $\epsilon_1 \le \epsilon_2$.""",
    erratum=Erratum(
        printed=r"g_{\epsilon_1}(\mathbf x, \mathbf W) \le g_{\epsilon_2}(\mathbf x, \mathbf W)"
                r"\ \text{and}\ \forall \mathbf W \in \mathcal V_\epsilon,\ g_\epsilon(\mathbf x,"
                r"\mathbf W) \le \log K \ \Rightarrow\ \mathcal V_{\epsilon_2} \subseteq"
                r" \mathcal V_{\epsilon_1}",
        problem=(
            "The statement is true, but the printed argument does not prove it: the two facts "
            "show that the sublevel set {g_eps <= log K} shrinks and contains V_eps, and the "
            "inclusion would follow only if V_eps were that sublevel set. It is not: with K = 3 "
            "a W that misclassifies one vertex of the box slightly, while the third class is far "
            "off, has g_eps < log K but lies outside V_eps (check step2a)."
        ),
        corrected=r"\mathcal S_{\epsilon_1}(\mathbf x) \subseteq \mathcal S_{\epsilon_2}(\mathbf x)"
                  r"\ \Rightarrow\ \mathcal V_{\epsilon_2} \subseteq \mathcal V_{\epsilon_1};"
                  r"\ \text{equivalently } \mathcal V_\epsilon = \{(\mathbf w_i - \mathbf w_y)^T"
                  r"\mathbf x + \epsilon \|\mathbf w_i - \mathbf w_y\|_q \le 0\ \forall i\}",
    ),
)


def _agrees_with_definition(membership: Callable) -> str:
    cases = _random_instances(6, 3000) + _random_instances(7, 1000, m=3, K=4)
    inside = 0
    for i, (W, x, y, e) in enumerate(cases):
        truth = in_version_space_definition(W, x, y, e)
        inside += truth
        require(membership(W, x, y, e) == truth,
                f"instance {i} (eps = {e:.2f}): candidate says {not truth}, definition {truth}")
    return f"agrees with the definition on {len(cases)} random (W, x, y, eps), {inside} inside"


@prop1.step(1, "Hoelder: V_eps = {(w_i - w_y)^T x + eps ||w_i - w_y||_q <= 0}", numeric=True,
            subject=in_version_space_hoelder, control=in_version_space_wrong_sign,
            control_label="-eps ||.||_q (budget on the wrong side)", tolerance=1e-12)
@single_thread()
def prop1_step1_hoelder(membership: Callable) -> str:
    """Membership by the Hoelder form vs the definition (all vertices of the l_inf box)."""
    return _agrees_with_definition(membership)


@prop1.step("2a", "Printed: the sublevel set {g_eps <= log K} characterises V_eps",
            numeric=True, refutes=True, subject=in_sublevel_set,
            control=in_version_space_hoelder,
            control_label="the Hoelder form (must not be refuted)", tolerance=1e-12)
@single_thread()
def prop1_step2a_sublevel(membership: Callable) -> str:
    """Refutation of the printed argument: the sublevel set is strictly larger than V_eps."""
    return _agrees_with_definition(membership)


_nq = sp.Symbol("n_q", nonnegative=True)
_sx = sp.Symbol("s", real=True)


@prop1.step("2b", "More budget, more constraints: each constraint grows with eps",
            subject=lambda s_, e, n: s_ + e * n, control=lambda s_, e, n: s_ - e * n,
            control_label="s - eps ||w_i - w_y||_q")
def prop1_step2b_monotone(constraint: Callable) -> str:
    """``d/d eps [s + eps ||w_i - w_y||_q] = ||.||_q >= 0``: V_eps2's constraints imply V_eps1's."""
    slope = sp.diff(constraint(_sx, eps, _nq), eps)
    bad = sp.solveset(slope < 0, _nq, sp.Interval(0, sp.oo))
    require(bad == sp.EmptySet, f"d/d eps = {slope} < 0 for ||.||_q in {bad}")
    return f"d/d eps = {slope} >= 0: a W feasible at eps_2 is feasible at every eps_1 <= eps_2"


@prop1.check(kind="numeric", subject=in_version_space_hoelder,
             control=in_version_space_wrong_sign, control_label="-eps ||.||_q", tolerance=0.0)
@single_thread()
def prop1_nested(membership: Callable) -> str:
    """On 2000 random (W, x, y): membership at eps_2 implies membership at every eps_1 <= eps_2."""
    grid = np.linspace(0.0, 1.5, 16)
    fractions = np.zeros(len(grid))
    for i, (W, x, y, _) in enumerate(_random_instances(8, 2000)):
        inside = np.array([membership(W, x, y, e) for e in grid])
        fractions += inside
        require(not (np.diff(inside.astype(int)) > 0).any(),
                f"instance {i}: W enters V_eps as eps grows ({inside.astype(int).tolist()})")
    f = fractions / 2000
    return (f"no W enters V_eps as eps grows; fraction inside {f[0]:.3f} (eps = 0) -> "
            f"{f[5]:.3f} (0.5) -> {f[-1]:.3f} (1.5)")


# ---------------------------------------------------------------------------------------------
# Theorem 1 (004 Sec. 3.1, proof B.1; 003 Theorem 4.2)


def eps_bar_printed(W: np.ndarray, x: np.ndarray, y: int, p: float = math.inf) -> float:
    """004 App. B.1: ``(log(K-1) - (w_m - w_y)^T x) / ||w_m - w_y||_q``, ``m`` the argmax of
    ``||w_j - w_y||_q``."""
    q = bounds.dual_exponent(p)
    D = W - W[:, [y]]
    norms = np.linalg.norm(D, ord=q, axis=0)
    m = int(np.argmax(norms))
    return float((math.log(W.shape[1] - 1) - D[:, m] @ x) / norms[m])


def eps_bar_corrected(W: np.ndarray, x: np.ndarray, y: int, p: float = math.inf) -> float:
    """The exact single-point threshold ``||x||_p``: the same for every W."""
    return float(np.linalg.norm(x, ord=p))


def directional_derivative_at_zero(V: np.ndarray, S: np.ndarray, n: np.ndarray, eps_: float,
                                   N: int) -> float:
    """Danskin at W = 0: ``(1/N) sum_k [u_k^T S_k + eps n_k ||u_k||_1]``, u_k = mean_j v_j - v_k."""
    U = V.mean(1, keepdims=True) - V  # (m, K), column k is u_k
    return float((np.einsum("mk,km->", U, S) + eps_ * (n * np.abs(U).sum(0)).sum()) / N)


def derivative_without_budget(V, S, n, eps_, N) -> float:
    """Negative control: the clean directional derivative (the eps term dropped)."""
    return directional_derivative_at_zero(V, S, n, 0.0, N)


def descent_direction(S: np.ndarray, n: np.ndarray, eps_: float) -> tuple[np.ndarray, float]:
    """The LP ``min sum_k (u_k^T S_k + eps n_k ||u_k||_1)`` over ``sum_k u_k = 0``,
    ``sum_k ||u_k||_1 <= 1``.

    Returns ``V`` (m, K) with columns ``v_k = -u_k`` and the optimal value: negative iff
    ``eps < eps*`` (then ``L_eps(t V) < log K`` for small t > 0), 0 otherwise.
    """
    K, m = S.shape
    c = np.concatenate([(S + eps_ * n[:, None]).ravel(), (-S + eps_ * n[:, None]).ravel()])
    eye = np.tile(np.eye(m), K)  # sum_k u_k, with u flattened as (K, m)
    res = linprog(c, A_ub=np.ones((1, 2 * K * m)), b_ub=[1.0], A_eq=np.hstack([eye, -eye]),
                  b_eq=np.zeros(m), bounds=[(0, None)] * (2 * K * m), method="highs")
    Uk = (res.x[: K * m] - res.x[K * m:]).reshape(K, m)
    return -Uk.T, float(res.fun)


def collapse_toy(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three unbalanced Gaussian blobs in 2-D (60 points): the exact-inner-max toy of Theorem 1."""
    X, y = data.make_blobs(60, 2, 3, separation=2.5, std=0.8, seed=seed)
    keep = torch.ones(60, dtype=torch.bool)
    keep[(y == 2).nonzero()[:8, 0]] = False  # unbalance the classes (n = 20, 20, 12)
    return X[keep], y[keep]


thm1 = CLAIMS.claim(
    "liu.thm1",
    title="Large budgets make the constant classifier optimal (exact threshold)",
    sources=("004 Theorem 1 (Sec. 3.1, proof B.1)", "003 Theorem 4.2"),
    kind="theorem",
    statement=r"""
With $\mathcal T_\epsilon = \{\mathbf W \mid 0 \in \arg\min_\gamma g_\epsilon(\mathbf x,
\gamma\mathbf W)\}$: $\mathcal T_{\epsilon_2} \subseteq \mathcal T_{\epsilon_1}$ when
$\epsilon_1 \ge \epsilon_2$. In addition, $\exists\bar\epsilon$ such that $\forall \epsilon \ge
\bar\epsilon$, $\mathcal T_\epsilon = \mathbb R^{m\times K}$; then $\mathbf 0 \in \arg\min_{\mathbf
W} g_\epsilon(\mathbf x, \mathbf W)$. The same holds with $\mathcal L_\epsilon$ in place of
$g_\epsilon$.""",
    erratum=Erratum(
        printed=r"\bar\epsilon = \frac{\log(K-1) - (\mathbf w_m - \mathbf w_y)\mathbf x}"
                r"{\|\mathbf w_m - \mathbf w_y\|_q}\ \text{works}\ \forall \epsilon > \bar\epsilon,"
                r" \mathbf W",
        problem=(
            "The printed eps_bar depends on W: along W -> sW it behaves like log(K-1)/(s ||.||_q)"
            " and tends to infinity as s -> 0 when K >= 3 (for the W of check "
            "thm1_printed_eps_bar_is_uniform: 0.36, 0.68, 3.9, 36, 354 at s = 10, 1, 0.1, 0.01, "
            "0.001). The proof applies it along Delta-gamma W with Delta-gamma -> 0, so no single "
            "eps_bar comes out of it. The perturbation of (13) also needs sign(.)|.|^{q/p} (for "
            "p = inf the printed v^0 is the all-ones vector). The statement is true, with exact "
            "thresholds: ||x||_p for one point and eps* = min_c max_k ||S_k - c||_p / n_k for a "
            "dataset, which does not depend on K."
        ),
        corrected=r"\mathcal T_\epsilon = \{\mathbf W : |(\bar{\mathbf w} - \mathbf w_y)^T"
                  r"\mathbf x| \le \epsilon\|\bar{\mathbf w} - \mathbf w_y\|_q\},\ \bar\epsilon ="
                  r" \|\mathbf x\|_p\ (\text{exact});\ \mathbf 0 \in \arg\min \mathcal L_\epsilon"
                  r" \iff \epsilon \ge \min_{\mathbf c}\max_k \|\mathbf S_k - \mathbf c\|_p / n_k",
    ),
)

_K3 = 3


@thm1.step(1, "The origin's loss is log K whatever x' and eps (so T_eps only grows)",
           subject=sp.log(_K3), control=sp.log(_K3 - 1), control_label="log(K - 1)")
def thm1_step1_origin(value: sp.Expr) -> str:
    """``CE(0^T x', y) = log K`` symbolically (K = 3, any x', any label)."""
    xs = sp.symbols("x1:3", real=True)
    Wz = sp.zeros(2, _K3)
    for label in range(_K3):
        logits = Wz.T * sp.Matrix(xs)
        ce = sp.log(sum(sp.exp(v) for v in logits)) - logits[label]
        sym_equal(ce, value, f"g(x', 0) - value (label {label})")
    return f"g(x', 0) = {value} for every x' and label: g_eps2(x, 0) = g_eps1(x, 0) in (12)"


@thm1.step(2, "Danskin at gamma = 0: T_eps = {|(w_bar - w_y)^T x| <= eps ||w_bar - w_y||_q}",
           subject=lambda W, y_: sum(W) / len(W) - W[y_],
           control=lambda W, y_: W[(y_ + 1) % len(W)] - W[y_],
           control_label="one other class, w_m - w_y, as in the printed proof")
def thm1_step2_danskin(direction: Callable) -> str:
    """``d/d gamma CE(gamma W^T x', y)`` at 0 equals ``(direction)^T x'`` (K = 3, m = 1)."""
    g_, xp = sp.symbols("gamma x", real=True)
    Ws = list(sp.symbols("w1:4", real=True))
    logits = [g_ * w * xp for w in Ws]
    for label in range(_K3):
        ce = sp.log(sum(sp.exp(v) for v in logits)) - logits[label]
        sym_equal(sp.diff(ce, g_).subs(g_, 0), direction(Ws, label) * xp,
                  f"slope at 0 (label {label})")
    return ("slope at gamma = 0 is (w_bar - w_y)^T x'; its max over the ball is (w_bar - w_y)^T x "
            "+ eps ||w_bar - w_y||_q, so 0 is a minimiser along +-W iff |.| <= eps ||.||_q")


_s = sp.Symbol("s", positive=True)


def _bounded_along_scaling(threshold: Callable) -> str:
    rng = np.random.default_rng(9)
    W, x = rng.normal(size=(2, 3)), rng.normal(size=2)
    values = [threshold(s_ * W, x, 0) for s_ in (10.0, 1.0, 0.1, 0.01, 0.001)]
    require(max(values) <= 10 * max(abs(values[1]), float(np.abs(x).max())),
            "eps_bar(sW) for s = 10, 1, 0.1, 0.01, 0.001: "
            + ", ".join(f"{v:.3g}" for v in values) + " (unbounded as s -> 0)")
    return "the same threshold for every scale s: " + ", ".join(f"{v:.3g}" for v in values)


@thm1.step("3a", "Printed: one eps_bar for all W", refutes=True,
           subject=lambda a, b: (sp.log(_K3 - 1) - _s * a) / (_s * b),
           control=lambda a, b: a / b, control_label="a W-free threshold (must not be refuted)")
def thm1_step3a_uniform(formula: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> str:
    """``eps_bar(sW)`` with ``a = (w_m - w_y)^T x``, ``b = ||w_m - w_y||_q``: limit as s -> 0+."""
    a_, b_ = sp.Symbol("a", real=True), sp.Symbol("b", positive=True)
    limit = sp.limit(formula(a_, b_), _s, 0, "+")
    require(limit.is_finite, f"lim_(s -> 0+) eps_bar(sW) = {limit}: no eps_bar works for all W")
    return f"lim_(s -> 0+) eps_bar(sW) = {limit}: bounded"


@thm1.check(kind="numeric", subject=eps_bar_printed, control=eps_bar_corrected, refutes=True,
            control_label="||x||_p (must not be refuted)", tolerance=0.0)
def thm1_printed_eps_bar_is_uniform(threshold: Callable) -> str:
    """Refutation: the printed eps_bar along ``W -> sW`` for one W and x (K = 3, p = inf)."""
    return _bounded_along_scaling(threshold)


@thm1.step("3b", "One point: the exact threshold is ||x||_p (for any K)",
           subject=lambda xv: xv, control=lambda xv: xv / 2, control_label="||x||_p / 2")
def thm1_step3b_point(threshold: Callable[[sp.Expr], sp.Expr]) -> str:
    """1-D, K = 3, y = 0, x > 0: ``W = (0, -c, -c)`` beats log K iff ``eps < x``; at ``eps >= x``
    the adversary reaches x' = 0 where every W has loss log K."""
    xv, c = sp.Symbol("x", positive=True), sp.Symbol("c", positive=True)
    e = sp.Symbol("e", nonnegative=True)
    g = sp.log(1 + 2 * sp.exp(-c * (xv - e)))  # max over |d| <= e of log(1 + 2 e^{-c(x + d)})
    # g < log 3  <=>  e^g - 1 = 2 e^{-c(x - e)} < 2  <=>  -c (x - e) < 0 (exp is increasing)
    sym_equal(sp.exp(g) - 1, 2 * sp.exp(-c * (xv - e)), "e^g - 1 - 2 e^{-c(x - e)}")
    below = sp.solveset(-c * (xv - e) < 0, e, sp.Interval(0, sp.oo))
    for x0 in (sp.Rational(1, 2), sp.Integer(2), sp.Integer(5)):
        got = below.subs(xv, x0)
        require(got == sp.Interval.Ropen(0, threshold(x0)),
                f"x = {x0}: the construction beats log K for eps in {got}, "
                f"not [0, {threshold(x0)})")
    return ("g_eps(x, W) < log K exactly for eps in [0, x) (x = 1/2, 2, 5); x' = 0 is in the ball "
            "iff eps >= |x|")


@thm1.step(4, "Dataset: the slope at W = 0 is (1/N) sum_k u_k^T S_k + eps n_k ||u_k||_q",
           numeric=True, subject=directional_derivative_at_zero,
           control=derivative_without_budget, control_label="eps term dropped", tolerance=1e-5)
@single_thread()
def thm1_step4_slope(slope: Callable) -> str:
    """The formula vs a one-sided finite difference of the exact L_eps at W = 0 (100 directions)."""
    X, y = collapse_toy()
    S, n = bounds.class_sums(X, y, 3)
    rng = np.random.default_rng(10)
    pairs = []
    for _ in range(100):
        V, e, h = rng.normal(size=(2, 3)), float(rng.uniform(0.2, 2.0)), 1e-7
        fd = (float(linear_adv_ce(torch.tensor(h * V), X, y, e).mean()) - math.log(3)) / h
        pairs.append((slope(V, S, n, e, len(X)), fd))
    return worst_close(pairs, rtol=1e-5, what="slope formula vs finite difference")


def per_point_threshold(X: torch.Tensor, y: torch.Tensor, p: float) -> float:
    """Negative control for eps*: ``max_i ||x_i||_p``, sufficient but not exact."""
    return float(torch.linalg.vector_norm(X, ord=p, dim=1).max())


@thm1.check(kind="numeric", subject=bounds.collapse_threshold, control=per_point_threshold,
            control_label="max_i ||x_i||_inf (sufficient, not exact)", tolerance=1e-9)
@single_thread()
def thm1_exact_toy(threshold: Callable) -> str:
    """Exact inner max, 3 unbalanced blobs: min L_eps < log K below eps*, = log K from eps* on."""
    X, y = collapse_toy()
    S, n = bounds.class_sums(X, y, 3)
    e_star = threshold(X, y, math.inf)
    gaps = {}
    for ratio in (0.9, 1.0, 1.1):
        V, value = descent_direction(S, n, ratio * e_star)
        t = np.logspace(-4, 1, 26)
        best = min(float(linear_adv_ce(torch.tensor(s_ * V), X, y, ratio * e_star).mean())
                   for s_ in t) - math.log(3)
        rng = np.random.default_rng(11)
        rand = min(float(linear_adv_ce(torch.tensor(10.0 ** rng.uniform(-4, 1)
                                                    * rng.normal(size=(2, 3))), X, y,
                                       ratio * e_star).mean()) for _ in range(300)) - math.log(3)
        gaps[ratio] = min(best, rand)
    require(gaps[0.9] < -1e-6, f"at 0.9 eps* = {0.9 * e_star:.3f} nothing beats log K "
                               f"(best gap {gaps[0.9]:.2g}): the threshold is too high")
    require(min(gaps[1.0], gaps[1.1]) >= -1e-9,
            f"a W beats log K at eps >= eps* = {e_star:.3f} (gap {min(gaps[1.0], gaps[1.1]):.2g})")
    worst = min(gaps[1.0], gaps[1.1])
    return (f"eps* = {e_star:.3f} (max_i ||x_i|| = {per_point_threshold(X, y, math.inf):.3f}); "
            f"min L_eps - log K: {gaps[0.9]:.2g} at 0.9 eps*, 0 (within {fmt(abs(worst))}) at "
            f"eps* and 1.1 eps*")


# ---------------------------------------------------------------------------------------------
# Proposition 2 and Corollary 1: non-smoothness of the adversarial loss (004 Sec. 3.2, App. A.2,
# A.3, B.2; 003 Proposition 4.2). A tiny net on 2-D inputs; the adversary's set is a 15 x 15 grid
# of the l_inf ball: a compact subset of the ball of diameter 2 eps, which is all that the proof
# of Proposition 2 uses, so every inequality below is exact for it.

TINY = (2, 6, 3)  # input dimension, hidden width, classes
TINY_X = torch.tensor([0.5, -0.3], dtype=F64)
TINY_Y = 1


def tiny_theta(seed: int) -> torch.Tensor:
    """Random parameters (P = 39,) of the tiny net, N(0, 1) entries."""
    d, h, k = TINY
    return torch.randn(d * h + h + h * k + k, generator=torch.Generator().manual_seed(seed),
                       dtype=F64)


def tiny_logits(theta: torch.Tensor, X: torch.Tensor, act: str = "tanh") -> torch.Tensor:
    """Logits (G, K) of ``W2 s(W1 x + b1) + b2`` with ``s`` = tanh or relu; theta flat (P,)."""
    d, h, k = TINY
    W1, b1 = theta[: d * h].view(h, d), theta[d * h: d * h + h]
    W2, b2 = theta[d * h + h: d * h + h + h * k].view(k, h), theta[-k:]
    hidden = torch.tanh(X @ W1.T + b1) if act == "tanh" else torch.relu(X @ W1.T + b1)
    return hidden @ W2.T + b2


def tiny_losses(theta: torch.Tensor, X: torch.Tensor, y: int = TINY_Y, act: str = "tanh"
                ) -> torch.Tensor:
    """Clean cross-entropy ``g(x', theta)`` at each row of X, (G,)."""
    z = tiny_logits(theta, X, act)
    return torch.logsumexp(z, -1) - z[:, y]


def ball_grid(x: torch.Tensor, eps_: float, n: int = 15) -> torch.Tensor:
    """The n x n grid of the l_inf ball around a 2-D x, (n^2, 2)."""
    line = torch.linspace(-eps_, eps_, n, dtype=F64)
    return x + torch.cartesian_prod(line, line)


def tiny_grad(theta: torch.Tensor, x: torch.Tensor, y: int = TINY_Y, act: str = "tanh"
              ) -> torch.Tensor:
    """``nabla_theta g(x, theta)`` (P,) at one input."""
    th = theta.detach().requires_grad_(True)
    return torch.autograd.grad(tiny_losses(th, x[None], y, act)[0], th)[0]


def mixed_norm(theta: torch.Tensor, xs: torch.Tensor, y: int = TINY_Y) -> torch.Tensor:
    """``||d_x nabla_theta g(x, theta)||_{inf -> 2}`` at each row of xs (tanh net), (G,).

    The operator norm from l_inf to l_2 of a (P, 2) matrix is its largest ``||M v||_2`` over the
    four sign vectors v (a convex function peaks at a vertex of the l_inf ball).
    """
    def grad_x(th: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.func.grad(lambda t: tiny_losses(t, x[None], y)[0])(th)

    M = torch.func.vmap(torch.func.jacrev(grad_x, argnums=1), in_dims=(None, 0))(theta, xs)
    return torch.linalg.vector_norm(M @ box_vertices(2).T, dim=1).amax(-1)


def _argmax_index(theta: torch.Tensor, grid: torch.Tensor, act: str) -> int:
    return int(torch.argmax(tiny_losses(theta, grid, act=act)))


class Jump(NamedTuple):
    """A switch of the maximiser: gradient jump ``J``, ``dist = ||x_lo - x_hi||_inf``, the
    parameter gap ``dtheta`` and ``L_seg``, the largest mixed norm on [x_lo, x_hi]."""

    J: float
    dist: float
    dtheta: float
    L_seg: float


def _bisect_switch(theta0, u, grid, lo, hi, i_lo, act) -> tuple[float, float, int]:
    """Shrink [lo, hi] around the first change of the arg-max until ``hi - lo < 1e-13``."""
    i_hi = _argmax_index(theta0 + hi * u, grid, act)
    while hi - lo > 1e-13:
        mid = 0.5 * (lo + hi)
        i_mid = _argmax_index(theta0 + mid * u, grid, act)
        if i_mid == i_lo:
            lo = mid
        else:
            hi, i_hi = mid, i_mid
    return lo, hi, i_hi


@functools.cache
def gradient_jumps(eps_: float, *, seed: int = 0, lines: int = 3, n_grid: int = 15,
                   act: str = "tanh") -> tuple[tuple[Jump, ...], float]:
    """Jumps of ``nabla g_eps`` where the grid maximiser switches along random lines in theta.

    Along ``theta(t) = theta0 + t u`` (|t| <= 1, ||u|| = 0.5) each change of the arg-max over the
    ``n_grid^2`` grid of the ball is bisected to ``|t_hi - t_lo| < 1e-13``; a jump is
    ``J = ||nabla g(x_lo, theta_lo) - nabla g(x_hi, theta_hi)||``. Also returns ``L_hat``, the
    largest mixed norm seen (on the ball at theta0 and on every switch segment): an estimate of
    L_thetax. Cached: a pure function of its arguments.
    """
    gen = torch.Generator().manual_seed(seed + 100)
    theta0, grid = tiny_theta(seed), ball_grid(TINY_X, eps_, n_grid)
    out = []
    with single_thread():
        for _ in range(lines):
            u = torch.randn(len(theta0), generator=gen, dtype=F64)
            u = 0.5 * u / u.norm()
            ts = np.linspace(-1.0, 1.0, 81)
            idx = [_argmax_index(theta0 + t * u, grid, act) for t in ts]
            for k in np.flatnonzero(np.diff(idx)):
                lo, hi, i_hi = _bisect_switch(theta0, u, grid, ts[k], ts[k + 1], idx[k], act)
                g_lo = tiny_grad(theta0 + lo * u, grid[idx[k]], act=act)
                g_hi = tiny_grad(theta0 + hi * u, grid[i_hi], act=act)
                seg = grid[idx[k]] + torch.linspace(0, 1, 11, dtype=F64)[:, None] * (
                    grid[i_hi] - grid[idx[k]])
                out.append(Jump(float((g_lo - g_hi).norm()),
                                float((grid[idx[k]] - grid[i_hi]).abs().max()),
                                float((hi - lo) * u.norm()),
                                float(mixed_norm(theta0 + hi * u, seg).max())))
        L_hat = max([float(mixed_norm(theta0, grid).max())] + [j.L_seg for j in out])
    return tuple(out), L_hat


prop2 = CLAIMS.claim(
    "liu.prop2",
    title="The adversarial loss stays Lipschitz, but its gradient can jump by 2 eps L_thetax",
    sources=("004 Proposition 2 (Sec. 3.2, proof B.2; sketch Fig. 5, App. A.2)",
             "003 Proposition 4.2 (sketch Fig. 4.2)"),
    kind="proposition",
    statement=r"""
Under Assumption 1,
$\|\mathcal L_\epsilon(\theta_1) - \mathcal L_\epsilon(\theta_2)\| \le L_\theta\|\theta_1 -
\theta_2\|$ and $\|\nabla_\theta\mathcal L_\epsilon(\theta_1) - \nabla_\theta\mathcal
L_\epsilon(\theta_2)\| \le L_{\theta\theta}\|\theta_1 - \theta_2\| + 2\epsilon L_{\theta\mathbf
x}$ (for any subgradient where $\mathcal L_\epsilon$ is not differentiable).""",
)


def sandwich_both(g1: np.ndarray, g2: np.ndarray, i1: int, i2: int) -> float:
    """(16)-(17): ``max_{j in {1, 2}} |g(x_j, theta_1) - g(x_j, theta_2)|`` (both maximisers)."""
    return float(max(abs(g1[i1] - g2[i1]), abs(g1[i2] - g2[i2])))


def sandwich_first(g1: np.ndarray, g2: np.ndarray, i1: int, i2: int) -> float:
    """Negative control: only the first maximiser, ``|g(x_1, theta_1) - g(x_1, theta_2)|``."""
    return float(abs(g1[i1] - g2[i1]))


def _random_pairs(count: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Clean losses on the grid (eps = 0.3) at pairs theta_1, theta_2 = theta_1 + small step."""
    gen = torch.Generator().manual_seed(seed)
    grid = ball_grid(TINY_X, 0.3)
    with single_thread():
        for k in range(count):
            th1 = tiny_theta(k)
            th2 = th1 + 0.3 * torch.randn(len(th1), generator=gen, dtype=F64)
            yield (tiny_losses(th1, grid).numpy(), tiny_losses(th2, grid).numpy())


@prop2.step(1, "(16)-(17): optimality of both maximisers sandwiches the value gap",
            numeric=True, subject=sandwich_both, control=sandwich_first,
            control_label="the first maximiser only", tolerance=1e-12)
@single_thread()
def prop2_step1_sandwich(bound: Callable) -> str:
    """``|g_eps(theta_1) - g_eps(theta_2)| <= bound`` on 300 random pairs (eps = 0.3)."""
    worst = 0.0
    for k, (g1, g2) in enumerate(_random_pairs(300, 12)):
        i1, i2 = int(np.argmax(g1)), int(np.argmax(g2))
        gap, b = abs(g1[i1] - g2[i2]), bound(g1, g2, i1, i2)
        require(gap <= b + 1e-12, f"pair {k}: value gap {gap:.3g} > bound {b:.3g}")
        worst = max(worst, gap / max(b, 1e-300))
    return f"300 pairs: value gap / bound <= {worst:.3f}"


@prop2.check(kind="numeric", subject=lambda g1, g2: float(np.abs(g1 - g2).max()),
             control=lambda g1, g2: float(abs(g1[len(g1) // 2] - g2[len(g2) // 2])),
             control_label="the clean point x only", tolerance=1e-12)
@single_thread()
def prop2_value_lipschitz(clean_gap: Callable) -> str:
    """``|L_eps(theta_1) - L_eps(theta_2)| <= sup_{x' in ball} |g(x', theta_1) - g(x', theta_2)|``,
    so any Lipschitz constant of the clean loss over the ball serves (300 random pairs)."""
    for k, (g1, g2) in enumerate(_random_pairs(300, 13)):
        gap, b = abs(g1.max() - g2.max()), clean_gap(g1, g2)
        require(gap <= b + 1e-12, f"pair {k}: adversarial gap {gap:.3g} > clean gap {b:.3g}")
    return "adversarial value gap <= sup of the clean gap over the ball, on 300 pairs"


@prop2.step(2, "(18): triangle inequality and the mean value theorem at a switch", numeric=True,
            subject=lambda j: j.L_seg * j.dist + 1e3 * j.dtheta,
            control=lambda j: 1e3 * j.dtheta,
            control_label="L_thetatheta ||theta_1 - theta_2|| alone (smooth bound)",
            tolerance=1e-9)
def prop2_step2_triangle(bound: Callable[[Jump], float]) -> str:
    """At every switch of the maximiser (tanh net, eps = 0.2): ``J <= bound`` (+1e-9)."""
    jumps, _ = gradient_jumps(0.2)
    require(len(jumps) > 0, "no switch of the maximiser found")
    for k, j in enumerate(jumps):
        require(j.J <= bound(j) + 1e-9, f"switch {k}: jump {j.J:.3g} > bound {bound(j):.3g}")
    return (f"{len(jumps)} switches: J <= L_seg ||x_1 - x_2||_inf + L_tt |dtheta| "
            f"(max J = {max(j.J for j in jumps):.3g})")


th_, xx = sp.symbols("theta x", real=True)


@prop2.step(3, "Fig. 5: the bound is attained, the kink at theta = 0 has jump exactly eps",
            subject=lambda e: e, control=lambda e: 2 * e, control_label="jump 2 eps")
def prop2_step3_kink(jump: Callable[[sp.Expr], sp.Expr]) -> str:
    """``g = log(1 + e^{theta x})``, x = 1: ``g_eps = log(1 + e^{theta + eps|theta|})``; one-sided
    slopes at 0 are (1 -+ eps)/2, and ``d2 g / d theta dx`` at 0 is 1/2: jump = 2 eps (1/2)."""
    right = sp.diff(sp.log(1 + sp.exp(th_ + eps * th_)), th_).subs(th_, 0)
    left = sp.diff(sp.log(1 + sp.exp(th_ - eps * th_)), th_).subs(th_, 0)
    sym_equal(right - left, jump(eps), "slope jump at theta = 0")
    L_loc = sp.diff(sp.log(1 + sp.exp(th_ * xx)), th_, xx).subs({th_: 0, xx: 1})
    sym_equal(2 * eps * L_loc, jump(eps), "2 eps L_thetax(local) - jump")
    return (f"slopes {sp.simplify(left)} and {sp.simplify(right)}: "
            "jump = eps = 2 eps L_thetax(local)")


@prop2.check(kind="numeric", subject=lambda e, L, dth: 2 * e * L + 1e3 * dth,
             control=lambda e, L, dth: 1e3 * dth,
             control_label="L_thetatheta ||theta_1 - theta_2|| alone (smooth bound)",
             tolerance=1e-9)
def prop2_jumps_within_2_eps_L(bound: Callable[[float, float, float], float]) -> str:
    """Tanh net, eps in {0.1, 0.2, 0.4}: every jump <= bound; the largest jump grows with eps."""
    worst, largest = 0.0, {}
    for e in (0.1, 0.2, 0.4):
        jumps, L_hat = gradient_jumps(e)
        largest[e] = max(j.J for j in jumps)
        for j in jumps:
            require(j.J <= bound(e, L_hat, j.dtheta) + 1e-9,
                    f"eps = {e}: jump {j.J:.3g} > bound {bound(e, L_hat, j.dtheta):.3g}")
            worst = max(worst, j.J / (2 * e * L_hat))
    require(largest[0.4] >= 2 * largest[0.1], f"the largest jump does not grow with eps: {largest}")
    return ("largest jump " + ", ".join(f"{v:.3g} (eps = {e})" for e, v in largest.items())
            + f"; J / (2 eps L_hat) <= {worst:.2f}")


cor1 = CLAIMS.claim(
    "liu.cor1",
    title="ReLU networks: the gradient jump bound gains the offsets D",
    sources=("004 Corollary 1 (App. A.3)",),
    kind="corollary",
    uses=("liu.prop2",),
    statement=r"""
Under Assumption 2 (Assumption 1 with offsets $D_{\theta\theta}$, $D_{\theta\mathbf x}$ in the
second and third inequalities):
$\|\nabla_\theta\mathcal L_\epsilon(\theta_1) - \nabla_\theta\mathcal L_\epsilon(\theta_2)\| \le
L_{\theta\theta}\|\theta_1 - \theta_2\| + 2\epsilon L_{\theta\mathbf x} + D_{\theta\theta} +
D_{\theta\mathbf x}$, and the $L_\theta$ bound of Proposition 2 is unchanged.""",
)

_Ltt, _Ltx, _Dtt, _Dtx, _dth = sp.symbols("L_thetatheta L_thetax D_thetatheta D_thetax d",
                                          nonnegative=True)


@cor1.step(1, "(18) with offsets: add the two Assumption-2 bounds at ||x_1 - x_2|| <= 2 eps",
           subject=_Ltt * _dth + 2 * eps * _Ltx + _Dtt + _Dtx,
           control=_Ltt * _dth + 2 * eps * _Ltx + _Dtt, control_label="D_thetax dropped",
           uses=("liu.prop2",))
def cor1_step1_offsets(rhs: sp.Expr) -> str:
    """``(L_tt d + D_tt) + (L_tx ||x_1 - x_2|| + D_tx)`` at ``||x_1 - x_2|| = 2 eps`` is the RHS."""
    return sym_equal((_Ltt * _dth + _Dtt) + (_Ltx * 2 * eps + _Dtx), rhs, "sum of bounds - RHS")


_xp = sp.Symbol("x", positive=True)


@cor1.step(2, "A ReLU kink needs the offset: log(1 + e^{relu(theta) x}) jumps by (x + eps)/2",
           subject=lambda e: _xp / 2 + 2 * e * sp.Rational(1, 2),
           control=lambda e: 2 * e * sp.Rational(1, 2),
           control_label="Proposition 2's bound without D (D_thetatheta = 0)")
def cor1_step2_relu_toy(rhs: Callable[[sp.Expr], sp.Expr]) -> str:
    """Slopes of ``g_eps`` at theta = 0: ``(x + eps)/2`` on the right, 0 on the left (x > 0)."""
    right = sp.diff(sp.log(1 + sp.exp(th_ * (_xp + eps))), th_).subs(th_, 0)
    jump = right - 0  # theta < 0: relu(theta) = 0, g_eps = log 2 is flat
    sym_equal(jump, (_xp + eps) / 2, "jump - (x + eps)/2")
    e0 = sp.Symbol("e0", nonnegative=True)
    bad = sp.solveset(jump.subs(eps, e0) > rhs(e0), e0, sp.Interval(0, sp.oo))
    require(bad == sp.EmptySet, f"the jump (x + eps)/2 exceeds the bound for eps in {bad}")
    return "jump (x + eps)/2 <= D_thetatheta + 2 eps L_thetax with D = x/2, L = 1/2, for all eps"


def clean_jump_after_refinement(act: str, seed: int = 0) -> float:
    """The largest gradient difference of the clean loss (eps = 0) between two parameters
    ``1e-12`` apart, found by zooming into the largest jump along a random line: O(1) for a
    ReLU net at a gate flip (an offset D_thetatheta > 0), O(1e-12) for a tanh net."""
    gen = torch.Generator().manual_seed(seed + 200)
    theta0 = tiny_theta(seed)
    u = torch.randn(len(theta0), generator=gen, dtype=F64)
    grad = lambda t: tiny_grad(theta0 + t * u, TINY_X, act=act)  # noqa: E731
    ts = np.linspace(-1.0, 1.0, 201)
    with single_thread():
        gs = [grad(t) for t in ts]
        k = int(np.argmax([float((gs[i + 1] - gs[i]).norm()) for i in range(len(ts) - 1)]))
        lo, hi = ts[k], ts[k + 1]
        while hi - lo > 1e-12:
            mid = 0.5 * (lo + hi)
            g_lo, g_mid, g_hi = grad(lo), grad(mid), grad(hi)
            if (g_mid - g_lo).norm() >= (g_hi - g_mid).norm():
                hi = mid
            else:
                lo = mid
        return float((grad(hi) - grad(lo)).norm())


@cor1.check(kind="numeric", subject="relu", control="tanh",
            control_label="a tanh net (smooth: no offset needed)", tolerance=1e-6)
def cor1_relu_needs_offsets(act: str) -> str:
    """At eps = 0 the ReLU net's gradient jumps between parameters 1e-12 apart (D > 0)."""
    jumps = [clean_jump_after_refinement(act, seed) for seed in range(3)]
    require(min(jumps) > 1e-6, f"{act} net: gradient difference at 1e-12 apart "
                               f"{', '.join(fmt(j) for j in jumps)}: no jump")
    return f"{act} net: gradient jumps {', '.join(f'{j:.3g}' for j in jumps)} at a gate flip"


# ---------------------------------------------------------------------------------------------
# Theorem 2 (004 Sec. 3.2, proof B.3; 003 Theorem 4.3) and Corollary 2 (004 App. A.3; 003
# Corollary 4.1): SGD's gradients do not vanish. Units: gradient norms in multiples of
# eps L_thetax (E = eps L_thetax + D_thetatheta/2 + D_thetax/2 for the corollary).

P_ = sp.Symbol("P", nonnegative=True)
G_ = sp.Symbol("G", nonnegative=True)
alpha_, Ltt_, Lx_, Ghat, T_, sigma_, Delta_ = sp.symbols(
    "alpha L_thetatheta L_thetax Ghat T sigma Delta", positive=True)


def h_of(G: sp.Expr, scale: sp.Expr = 1) -> sp.Expr:
    """``h = G^2/2 - 2 scale G``, the summand of (24) (scale = eps L_thetax)."""
    return G**2 / 2 - 2 * scale * G


def tail_bound_printed(g: sp.Expr) -> sp.Expr:
    """004 (4) / (26), 003 (4.17): ``P(||grad|| > gamma eps L_tx) < 4/(gamma^2 - 2 gamma + 4)``."""
    return 4 / (g**2 - 2 * g + 4)


def tail_bound_corrected(g: sp.Expr) -> sp.Expr:
    """What (25) gives: ``4 / (gamma - 2)^2`` (non-trivial only for gamma > 4)."""
    return 4 / (g - 2) ** 2


def tail_bound_sigma(g: sp.Expr, r: sp.Expr) -> sp.Expr:
    """Without E||g_hat|| ~ ||g||: ``4 (1 + r) / (gamma - 2)^2`` with ``r = sigma/(eps L)``."""
    return 4 * (1 + r) / (g - 2) ** 2


def _solves_rearrangement(bound: Callable[[sp.Expr], sp.Expr]) -> str:
    """``-2 (1 - P) + h(gamma) P = 0`` (units eps^2 L^2) solved for P equals the bound."""
    h_gamma = h_of(gamma)
    (P_star,) = sp.solve(sp.Eq(-2 * (1 - P_) + h_gamma * P_, 0), P_)
    return sym_equal(P_star, bound(gamma), "solution of (25) = 0 for P - bound")


def _respects_two_point_laws(bound: Callable[[sp.Expr], sp.Expr]) -> str:
    """No law of ||grad|| with ``E[h] <= 0`` puts more than ``bound(gamma)`` mass above gamma.

    Two-point laws: ||grad|| = 2 (where h is minimal, h = -2) with probability 1 - P and just
    above gamma with probability P; P on a grid of 1/200, gamma in {2.5, 3, 4, 5, 6, 8, 10, 20}.
    """
    for g in (6, 8, 10, 20, 2.5, 3, 4, 5):
        high = g * (1 + 1e-9)
        for k in range(1, 201):
            P = k / 200
            mean_h = (1 - P) * float(h_of(sp.Integer(2))) + P * float(h_of(sp.Float(high)))
            b = float(bound(sp.Float(g)))
            require(not (mean_h <= 0 and P > b + 1e-12),
                    f"gamma = {g}: ||grad|| = 2 w.p. {1 - P:.3f}, {high:.6g} w.p. {P:.3f} has "
                    f"E[h] = {mean_h:.3g} <= 0 but P = {P:.3f} > bound {b:.3g}")
    return "no two-point law with E[h] <= 0 exceeds the bound (gamma in 2.5..20, P grid 1/200)"


thm2 = CLAIMS.claim(
    "liu.thm2",
    title="SGD on the adversarial loss: gradients do not vanish (corrected constant)",
    sources=("004 Theorem 2 (Sec. 3.2, proof B.3)", "003 Theorem 4.3 (eq. (4.17))"),
    kind="theorem",
    uses=("liu.prop2",),
    statement=r"""
Under Assumption 1, with unbiased stochastic gradients of bounded variance and SGD with the
constant step $\alpha = \frac{1}{L_{\theta\theta}\sqrt T}$ for $T$ iterations, for $T$ large
enough: $\forall\gamma \ge 2$, $P(\|\nabla_\theta\mathcal L_\epsilon(\theta_t)\| > \gamma\epsilon
L_{\theta\mathbf x}) < \frac{4}{\gamma^2 - 2\gamma + 4}$.""",
    erratum=Erratum(
        printed=r"P(\|\nabla_\theta\mathcal L_\epsilon(\theta_t)\| > \gamma\epsilon L_{\theta"
                r"\mathbf x}) < \frac{4}{\gamma^2 - 2\gamma + 4}",
        problem=(
            "The last step (25) -> (26) is an algebra slip: -2(1 - P) + (gamma^2/2 - 2 gamma) P "
            "<= 0 gives P <= 4/(gamma - 2)^2; the printed constant comes from a tail coefficient "
            "gamma^2/2 - gamma. Counterexample to the printed bound under the proof's premise "
            "E[h] <= 0: ||grad|| = 2 eps L w.p. 0.855 and just above 6 eps L w.p. 0.145 "
            "(E[h] < 0, P = 0.145 > 4/28 = 0.143). The corrected bound is non-trivial only for "
            "gamma > 4. Step (21) also uses E||g_hat|| ~ ||grad|| as an upper bound, the wrong "
            "direction (Jensen); with E||g_hat|| <= ||grad|| + sigma the bound becomes "
            "4 (1 + sigma/(eps L_thetax)) / (gamma - 2)^2."
        ),
        corrected=r"P(\|\nabla_\theta\mathcal L_\epsilon(\theta_t)\| > \gamma\epsilon L_{\theta"
                  r"\mathbf x}) \le \frac{4}{(\gamma - 2)^2}\ (\gamma > 2);\ \text{rigorously "
                  r"} \frac{4(1 + \sigma/(\epsilon L_{\theta\mathbf x}))}{(\gamma - 2)^2}",
    ),
)

_u = sp.Symbol("u", nonnegative=True)


@thm2.step(1, "(20): integrate the gradient bound of Prop. 2 along the step",
           subject=alpha_**2 * Ltt_ * Ghat**2 / 2 + 2 * eps * Lx_ * alpha_ * Ghat,
           control=alpha_**2 * Ltt_ * Ghat**2 + 2 * eps * Lx_ * alpha_ * Ghat,
           control_label="the 1/2 dropped", uses=("liu.prop2",))
def thm2_step1_integral(value: sp.Expr) -> str:
    """``int_0^1 alpha Ghat (L_tt u alpha Ghat + 2 eps L_tx) du``, as
    ``||theta(u) - theta_t|| = u alpha Ghat``."""
    integral = sp.integrate(alpha_ * Ghat * (Ltt_ * _u * alpha_ * Ghat + 2 * eps * Lx_), (_u, 0, 1))
    return sym_equal(integral, value, "integral - value")


def noise_law_upper(g_norm: float, sigma: float) -> float:
    """``||grad|| + sigma``: Jensen and the triangle inequality bound E||g_hat|| by this."""
    return g_norm + sigma


@thm2.step("2a", "(21) as printed: E||g_hat|| ~ ||grad|| used as an upper bound", numeric=True,
           refutes=True, subject=lambda g_norm, sigma: g_norm, control=noise_law_upper,
           control_label="||grad|| + sigma (must not be refuted)", tolerance=1e-12)
def thm2_step2a_approximation(upper: Callable[[float, float], float]) -> str:
    """Unbiased noise ``g_hat = g + sigma xi`` (Rademacher xi, 5-D): is E||g_hat|| <= upper?"""
    rng = np.random.default_rng(14)
    for i in range(200):
        g, sigma = rng.normal(size=5), float(rng.uniform(0.1, 2.0))
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=5)))
        mean_norm = np.linalg.norm(g + sigma * signs / np.sqrt(5), axis=1).mean()  # E||xi|| = 1
        bound = upper(float(np.linalg.norm(g)), sigma)
        require(mean_norm <= bound + 1e-12,
                f"instance {i}: E||g_hat|| = {mean_norm:.4g} > {bound:.4g} (||g|| = "
                f"{np.linalg.norm(g):.4g}, sigma = {sigma:.3g})")
    return "E||g_hat|| <= bound on 200 unbiased noise laws"


@thm2.step("2b", "(21): the coefficient alpha^2 L/2 - alpha <= -alpha/2 iff alpha L <= 1",
           subject=sp.Interval.Lopen(0, 1), control=sp.Interval.Lopen(0, 2),
           control_label="alpha L <= 2")
def thm2_step2b_coefficient(region: sp.Set) -> str:
    """``solveset(alpha^2 L/2 - alpha <= -alpha/2)`` in ``a = alpha L > 0`` is the region."""
    a = sp.Symbol("a", positive=True)
    got = sp.solveset(a**2 / 2 - a <= -a / 2, a, sp.Interval.open(0, sp.oo))
    require(got == region, f"alpha L in {got}, not {region}")
    return (f"alpha^2 L/2 - alpha <= -alpha/2 exactly for alpha L in {got}: "
            "true for alpha = 1/(L sqrt T)")


@thm2.step(3, "(22)-(23): telescope and plug alpha = 1/(L sqrt T)",
           subject=(Ltt_ * Delta_ + sigma_**2 / 2) / sp.sqrt(T_),
           control=(Delta_ + sigma_**2 / 2) / sp.sqrt(T_), control_label="L_thetatheta dropped")
def thm2_step3_telescope(rhs: sp.Expr) -> str:
    """``Delta / (alpha T) + alpha sigma^2 L / 2`` at ``alpha = 1/(L sqrt T)``,
    ``Delta = L_eps(theta_0) - L_eps(theta*)``."""
    a = 1 / (Ltt_ * sp.sqrt(T_))
    return sym_equal(Delta_ / (a * T_) + a * sigma_**2 * Ltt_ / 2, rhs, "(23) right-hand side")


@thm2.step(4, "(25): h >= -2 eps^2 L^2, and h = gamma (gamma - 4)/2 eps^2 L^2 at gamma eps L",
           subject=gamma * (gamma - 4) / 2, control=gamma**2 / 2 - gamma,
           control_label="gamma^2/2 - gamma (the coefficient behind the printed constant)")
def thm2_step4_h(tail: sp.Expr) -> str:
    """``h(G) = G^2/2 - 2 G`` (units eps L): minimum -2 at G = 2, value ``tail`` at G = gamma."""
    crit = sp.solve(sp.diff(h_of(G_), G_), G_)
    require(crit == [2] and h_of(sp.Integer(2)) == -2, f"critical points {crit}")
    sym_equal(h_of(gamma), tail, "h(gamma) - tail coefficient")
    return f"min h = -2 at G = 2 (h increasing beyond); h(gamma) = {sp.factor(tail)}"


@thm2.step("5a", "(26) as printed: rearranging gives 4/(gamma^2 - 2 gamma + 4)", refutes=True,
           subject=tail_bound_printed, control=tail_bound_corrected,
           control_label="4/(gamma - 2)^2 (must not be refuted)")
def thm2_step5a_printed(bound: Callable) -> str:
    """Solve (25) = 0 for P and compare with the printed constant."""
    return _solves_rearrangement(bound)


@thm2.step("5b", "(26) corrected: P <= 4/(gamma - 2)^2", subject=tail_bound_corrected,
           control=tail_bound_printed, control_label="the printed constant")
def thm2_step5b_corrected(bound: Callable) -> str:
    """Solve (25) = 0 for P: ``P* = 4/(gamma - 2)^2``; (25) <= 0 iff P <= P* (slope in P > 0)."""
    return _solves_rearrangement(bound)


@thm2.check(kind="numeric", subject=tail_bound_printed, control=tail_bound_corrected,
            refutes=True, control_label="4/(gamma - 2)^2 (must not be refuted)", tolerance=1e-12)
def thm2_two_point_counterexample(bound: Callable) -> str:
    """Refutation: a law of ||grad|| satisfying the proof's premise E[h] <= 0 but not the bound."""
    return _respects_two_point_laws(bound)


_r = sp.Symbol("r", positive=True)


@thm2.check(kind="symbolic", subject=tail_bound_sigma,
            control=lambda g, r: 4 * (1 + r**2) / (g - 2) ** 2, control_label="(1 + r^2)")
def thm2_sigma_variant(bound: Callable) -> str:
    """With E||g_hat|| <= ||grad|| + sigma, (24) becomes E[h] <= 2 eps L sigma: solve for P."""
    (P_star,) = sp.solve(sp.Eq(-2 * (1 - P_) + h_of(gamma) * P_, 2 * _r), P_)
    return sym_equal(P_star, bound(gamma, _r), "P* - bound (r = sigma/(eps L_thetax))")


@thm2.check(kind="experiment", subject=(0.0, 0.02, 0.05, 0.1, 0.2), control=(0.1,) * 5,
            control_label="the same eps in every run (no trend)", tolerance=0.8)
def thm2_sgd_floor(eps_grid: tuple[float, ...]) -> str:
    """SGD on l_inf logistic regression: the late gradient floor rises with eps (rho >= 0.8)."""
    from advproof.experiments import liu_sgd

    res = liu_sgd.run("quick", seed=0, eps_grid=eps_grid)
    rho = res.spearman()
    require(rho >= 0.8, f"Spearman rho(eps, floor) = {rho:.2f} < 0.8 (floors "
                        f"{', '.join(f'{v:.3g}' for v in res.floor)})")
    return (f"late-phase ||grad L_eps|| floor {', '.join(f'{v:.3g}' for v in res.floor)} for "
            f"eps = {', '.join(map(str, eps_grid))}: Spearman rho = {rho:.2f}")


cor2 = CLAIMS.claim(
    "liu.cor2",
    title="ReLU networks: gradients do not vanish (corrected constant)",
    sources=("004 Corollary 2 (App. A.3, eq. (10))", "003 Corollary 4.1"),
    kind="corollary",
    uses=("liu.cor1", "liu.thm2"),
    statement=r"""
Under Assumption 2 and the SGD setting of Theorem 2, for $T$ large enough: $\forall\gamma \ge 2$,
$P\big(\|\nabla_\theta\mathcal L_\epsilon(\theta_t)\| > \gamma(\epsilon L_{\theta\mathbf x} +
\tfrac12 D_{\theta\theta} + \tfrac12 D_{\theta\mathbf x})\big) < \frac{4}{\gamma^2 - 2\gamma +
4}$.""",
    erratum=Erratum(
        printed=r"P(\|\nabla_\theta\mathcal L_\epsilon(\theta_t)\| > \gamma E) < \frac{4}"
                r"{\gamma^2 - 2\gamma + 4},\ E = \epsilon L_{\theta\mathbf x} + \tfrac12"
                r" D_{\theta\theta} + \tfrac12 D_{\theta\mathbf x}",
        problem=(
            "The proof is Theorem 2's with Corollary 1's defect 2E in place of 2 eps L_thetax, "
            "so it inherits the same algebra slip: the rearrangement gives 4/(gamma - 2)^2, and "
            "the two-point law of Theorem 2 (in units of E) violates the printed constant."
        ),
        corrected=r"P(\|\nabla_\theta\mathcal L_\epsilon(\theta_t)\| > \gamma E) \le"
                  r" \frac{4}{(\gamma - 2)^2}",
    ),
)

E_ = sp.Symbol("E", positive=True)


@cor2.step(1, "Corollary 1's additive defect is 2E, E = eps L + D_tt/2 + D_tx/2",
           subject=eps * _Ltx + _Dtt / 2 + _Dtx / 2, control=eps * _Ltx + _Dtt + _Dtx,
           control_label="E without the halves", uses=("liu.cor1",))
def cor2_step1_defect(E: sp.Expr) -> str:
    """``2 eps L_tx + D_tt + D_tx = 2 E``: (20)-(25) hold with eps L_tx replaced by E."""
    return sym_equal(2 * eps * _Ltx + _Dtt + _Dtx, 2 * E, "Corollary 1 defect - 2E")


@cor2.step("2a", "(10) as printed: 4/(gamma^2 - 2 gamma + 4) with E", refutes=True,
           subject=tail_bound_printed, control=tail_bound_corrected,
           control_label="4/(gamma - 2)^2 (must not be refuted)", uses=("liu.thm2",))
def cor2_step2a_printed(bound: Callable) -> str:
    """Theorem 2's rearrangement in units of E (h = G^2/2 - 2 E G)."""
    return _solves_rearrangement(bound)


@cor2.step("2b", "(10) corrected: P <= 4/(gamma - 2)^2 in units of E",
           subject=tail_bound_corrected, control=tail_bound_printed,
           control_label="the printed constant", uses=("liu.thm2",))
def cor2_step2b_corrected(bound: Callable) -> str:
    """The same rearrangement, with the corrected constant."""
    return _solves_rearrangement(bound)


@cor2.check(kind="numeric", subject=tail_bound_printed, control=tail_bound_corrected,
            refutes=True, control_label="4/(gamma - 2)^2 (must not be refuted)", tolerance=1e-12)
def cor2_two_point_counterexample(bound: Callable) -> str:
    """Refutation: the two-point law of Theorem 2, with gradient norms in units of E."""
    return _respects_two_point_laws(bound)


# ---------------------------------------------------------------------------------------------
# The experiments of 004 Sec. 4-5 (003 Sec. 4.2.3-4.2.5) as trend claims. Each experiment check
# reads one quick-mode run through ``advproof.cache.cached_run`` (computed once per code
# version); its control is derived from the same run (a broken pairing, swapped curves or a
# chance-level series), so a control never costs a second run.

#: The eps series paired with the measurements rotated by one place: the pairing is broken.
ROTATE = np.array([4, 0, 1, 2, 3])
#: The test split of the digits (liu_pas quick mode): its noise level is two standard errors of
#: a difference of two error rates at p = 1/2 (``noise_two_se``), as in the chapter.
N_TEST_DIGITS = 359
CHANCE_ERROR = 0.9  # ten classes


def _landscape():  # noqa: ANN202 (an experiments.liu_landscape.Result)
    from advproof.cache import cached_run

    return cached_run("liu_landscape", "quick", seed=0)


def _pas():  # noqa: ANN202 (an experiments.liu_pas.Result)
    from advproof.cache import cached_run

    return cached_run("liu_pas", "quick", seed=0)


def _pairing(values: np.ndarray, pairing: str) -> np.ndarray:
    """The per-eps series as measured, or rotated by one eps (the control)."""
    return values if pairing == "measured" else values[ROTATE[: len(values)]]


def noise_two_se(n: int) -> float:
    """Two standard errors of the difference of two independent error rates at p = 1/2."""
    return 2 * math.sqrt(2 * 0.25 / n)


def noise_one_se(n: int) -> float:
    """Negative control: one standard error of a single error rate (too small a threshold)."""
    return math.sqrt(0.25 / n)


def _noise_false_alarms(noise: Callable[[int], float]) -> str:
    """Two equal-skill models (binomial test errors, p in {0.3, 0.5, 0.7}, n = 359): the rate at
    which their difference exceeds ``noise(n)`` must be at most 6% (20000 draws each)."""
    rng = np.random.default_rng(8)
    n, thr = N_TEST_DIGITS, noise(N_TEST_DIGITS)
    rates = []
    for p in (0.3, 0.5, 0.7):
        a, b = rng.binomial(n, p, size=(2, 20000)) / n
        rates.append(float((np.abs(a - b) > thr).mean()))
    require(max(rates) <= 0.06, f"threshold {thr:.4f}: equal models differ by more in "
                                f"{', '.join(f'{r:.3f}' for r in rates)} of draws (> 6%)")
    return (f"threshold {thr:.4f}: equal models exceed it in "
            f"{', '.join(f'{r:.3f}' for r in rates)} of draws (p = 0.3, 0.5, 0.7)")


# 004 Figs. 1 and 8 (003 Figs. 4.3-4.4)

fig1 = CLAIMS.claim(
    "liu.fig1",
    title="Gradient norms of PGD-AT: smaller for larger eps early, larger for larger eps late",
    sources=("004 Fig. 1 (CIFAR-10) and Fig. 8 (MNIST), Sec. 4.1 and App. C.2",
             "003 Figs. 4.3-4.4"),
    kind="remark",
    statement=r"""
In the first updates of adversarial training the norm of the stochastic gradient is smaller the
larger $\epsilon$ (the model is stuck on a flat initial region), while in the final phase it is
larger the larger $\epsilon$: the gradients of the adversarial loss do not vanish (Theorem 2).""",
)


class WeightOnlyStepLog:
    """Negative control for the step log: the gradient norm of the first parameter only."""

    def __init__(self, model: torch.nn.Module) -> None:
        from advproof.experiments.liu_landscape import StepLog

        self._log = StepLog(model)
        self.rows = self._log.rows

    def __call__(self, model: torch.nn.Module, step) -> None:  # noqa: ANN001
        self._log(model, step)
        first = next(iter(model.parameters()))
        self.rows["grad_norm"][-1] = float(first.grad.norm())

    def arrays(self) -> dict[str, np.ndarray]:
        return self._log.arrays()


def _step_log_subject() -> type:
    from advproof.experiments.liu_landscape import StepLog

    return StepLog


@fig1.check(kind="numeric", subject="StepLog", control="weight-only",
            control_label="the weight gradient alone (bias gradient dropped)", tolerance=1e-12)
@single_thread()
def fig1_step_log_measures_the_full_gradient(which: str) -> str:
    """The step log records ``||g||`` over every parameter and ``||theta - theta_0||`` (5 steps
    of a linear model, against the gradients and parameters read directly)."""
    from advproof import train

    cls = _step_log_subject() if which == "StepLog" else WeightOnlyStepLog
    gen = torch.Generator().manual_seed(9)
    model = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64))
    theta0 = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    log, pairs = cls(model), []
    for t in range(5):
        X = torch.randn(8, 4, generator=gen, dtype=F64)
        y = torch.randint(0, 3, (8,), generator=gen)
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.3 * p.grad
        theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
        log(model, train.Step(0, t, False, 0.0, 0, 8, 0.0, 0.3))
        pairs += [(log.rows["grad_norm"][-1], float(g.norm())),
                  (log.rows["dist"][-1], float((theta - theta0).norm()))]
    return worst_close(pairs, rtol=1e-12, what="logged (||g||, ||theta - theta_0||) vs direct")


@fig1.check(kind="experiment", subject="measured", control="rotated",
            control_label="eps paired with the series rotated by one place", tolerance=0.8)
def fig1_first_and_last_updates(pairing: str) -> str:
    """Quick run (digits, SmallCNN, eps 0..0.1): Spearman rho(eps, mean ||g|| over the first 20
    updates) <= -0.8 and rho(eps, last 20 updates) >= 0.8."""
    res = _landscape()
    first = _pairing(res.window_mean("grad_norm", "first"), pairing)
    last = _pairing(res.window_mean("grad_norm", "last"), pairing)
    r1, r2 = res.spearman(first), res.spearman(last)
    detail = (f"eps {', '.join(f'{e:g}' for e in res.steps)}: ||g|| first "
              f"{', '.join(f'{v:.3f}' for v in first)} (rho {r1:+.2f}), last "
              f"{', '.join(f'{v:.3f}' for v in last)} (rho {r2:+.2f})")
    require(r1 <= -0.8 and r2 >= 0.8, f"trend missing: {detail}")
    return detail


# 004 Figs. 2 and 9 (003 Fig. 4.5)

fig2 = CLAIMS.claim(
    "liu.fig2",
    title="The top Hessian eigenvalues of the adversarial loss grow with eps",
    sources=("004 Fig. 2 (CIFAR-10) and Fig. 9 (MNIST), Sec. 4.2", "003 Fig. 4.5"),
    kind="remark",
    statement=r"""
The top eigenvalues of the Hessian of the adversarial training loss (at the trained model, on its
own adversarial examples, normalised by the mean loss at random initialisations) are larger for
larger $\epsilon$: adversarial training makes the landscape sharper.""",
)


def _tiny_hvp() -> tuple[Callable, int, np.ndarray]:
    """A float64 tanh net on 12 random points: its parameter HVP and the dense Hessian."""
    from advproof import curvature

    gen = torch.Generator().manual_seed(10)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64))
    X = torch.randn(12, 3, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (12,), generator=gen)
    op = curvature.param_hvp(net, lambda: torch.nn.functional.cross_entropy(net(X), y))
    dense = torch.stack([op.matvec(e) for e in torch.eye(op.dim, dtype=F64)])
    return op.matvec, op.dim, 0.5 * (dense + dense.T).numpy()


def top_k_lanczos(matvec: Callable, dim: int, dense: np.ndarray, k: int) -> np.ndarray:
    """The experiment's instrument: Lanczos on Hessian-vector products."""
    from advproof import curvature

    return curvature.lanczos(matvec, dim, k, iters=dim,
                             generator=torch.Generator().manual_seed(0)).eigenvalues.numpy()


def top_k_diagonal(matvec: Callable, dim: int, dense: np.ndarray, k: int) -> np.ndarray:
    """Negative control: the k largest diagonal entries of the Hessian (a common shortcut)."""
    return np.sort(np.diag(dense))[::-1][:k]


@fig2.check(kind="numeric", subject=top_k_lanczos, control=top_k_diagonal,
            control_label="the k largest diagonal entries", tolerance=1e-8)
@single_thread()
def fig2_lanczos_matches_the_dense_spectrum(method: Callable) -> str:
    """Top-5 eigenvalues of a small net's parameter Hessian (31 parameters) vs eigvalsh."""
    matvec, dim, dense = _tiny_hvp()
    want = np.linalg.eigvalsh(dense)[::-1][:5]
    got = method(matvec, dim, dense, 5)
    return worst_close([(got, want)], rtol=1e-8, what="top-5 eigenvalues vs eigvalsh")


@fig2.check(kind="experiment", subject="measured", control="rotated",
            control_label="eps paired with the series rotated by one place", tolerance=0.8)
def fig2_top_eigenvalue_rises(pairing: str) -> str:
    """Quick run: Spearman rho(eps, lambda_1 / mean loss at 10 random theta) >= 0.8."""
    res = _landscape()
    top = _pairing(res.normalised_top(), pairing)
    rho = res.spearman(top)
    detail = (f"lambda_1 / L(random) {', '.join(f'{v:.2f}' for v in top)} for eps "
              f"{', '.join(f'{e:g}' for e in res.steps)}: rho {rho:+.2f}")
    require(rho >= 0.8, f"no rise: {detail}")
    return detail


# 004 Figs. 3 and 10 (003 Fig. 4.7)

fig3 = CLAIMS.claim(
    "liu.fig3",
    title="Adversarial examples change abruptly along the top Hessian eigenvector",
    sources=("004 Fig. 3 (CIFAR-10) and Fig. 10 (MNIST), Sec. 4.2", "003 Fig. 4.7"),
    kind="remark",
    statement=r"""
For a model trained adversarially, the cosine similarity between the perturbations
$\mathbf x'_{a\mathbf v} - \mathbf x$ and $\mathbf x'_{-a\mathbf v} - \mathbf x$ found at
$\theta \pm a\mathbf v$ falls quickly with $a$ when $\mathbf v$ is the top eigenvector of the
Hessian, and stays high for a random direction: the adversarial examples, hence the gradient,
change abruptly in the directions of high curvature.""",
)


def same_start(seed: int) -> tuple[int, int]:
    """The experiment's choice: one random start for theta + a v and theta - a v."""
    return seed, seed


def different_starts(seed: int) -> tuple[int, int]:
    """Negative control: a fresh random start for each side."""
    return seed, seed + 1


@fig3.check(kind="numeric", subject=same_start, control=different_starts,
            control_label="a fresh PGD random start on each side", tolerance=0.0)
@single_thread()
def fig3_cosine_is_one_at_a_zero(starts: Callable[[int], tuple[int, int]]) -> str:
    """At a = 0 the two PGD perturbations must be identical, so the cosine measures the change
    of theta only (SmallCNN at init, 32 digits, eps 0.05)."""
    from advproof.experiments import liu_landscape as ll

    cfg = ll.CONFIGS["quick"]
    ds = data.load("digits", split="train", n=32)
    net = ll.make_model(cfg, 0).eval()
    s1, s2 = starts(0)
    d1 = ll.pgd_delta(net, ds.X, ds.y, 0.05, cfg.pgd_steps, s1).flatten(1)
    d2 = ll.pgd_delta(net, ds.X, ds.y, 0.05, cfg.pgd_steps, s2).flatten(1)
    gap = float((d1 - d2).abs().max())
    require(gap == 0.0, f"the two perturbations at a = 0 differ by up to {fmt(gap)}")
    return "the perturbations at theta + 0 v and theta - 0 v are identical on 32 images"


@fig3.check(kind="experiment", subject=("top", "random"), control=("random", "top"),
            control_label="the two directions swapped", tolerance=0.6)
def fig3_top_direction_falls_first(names: tuple[str, str]) -> str:
    """Quick run (eps 0.05): for every a > 0 the cosine along the random direction exceeds the
    one along the top eigenvector; random >= 0.9 up to a = 0.2; top < 0.6 at the largest a."""
    res = _landscape()
    a = res.cosine["a"]
    top, rand = res.cosine[names[0]], res.cosine[names[1]]
    detail = (f"a {', '.join(f'{v:g}' for v in a)}: cos top {', '.join(f'{v:.3f}' for v in top)}"
              f"; random {', '.join(f'{v:.3f}' for v in rand)}")
    require(bool((rand[1:] > top[1:]).all() and rand[a <= 0.2].min() > 0.9 and top[-1] < 0.6),
            f"trend missing: {detail}")
    return detail


# 004 eq. (5), Figs. 6-7 (003 eq. (4.29), Figs. 4.12-4.13): the PAS schedules

eq5 = CLAIMS.claim(
    "liu.eq5",
    title="Periodic adversarial scheduling: cosine and linear eps, clipped, reset per period",
    sources=("004 eq. (5) (Sec. 5), App. C.1, Figs. 6-7", "003 eq. (4.29), Figs. 4.12-4.13"),
    kind="definition",
    statement=r"""
With $d$ the epoch within the current period and $D$ the period's length,
$\epsilon_{\cos}(d) = \frac12\big(1 - \cos\frac{d}{D}\pi\big)(\epsilon_{\max} - \epsilon_{\min})
+ \epsilon_{\min}$ and $\epsilon_{\mathrm{lin}}(d) = (\epsilon_{\max} - \epsilon_{\min})\frac dD +
\epsilon_{\min}$, clipped to $[0, \epsilon_{\mathrm{target}}]$; with resets, the schedule (and the
learning rate, Fig. 6) restarts in each period, "scaled proportionally".""",
)

#: (boundaries, v_max, shape, target) of 004 App. C.1 and the epochs at which eps first reaches
#: the target (integer epochs): MNIST one period of 100; CIFAR-10 200 epochs, without and with
#: resets after epochs 100 and 150.
PAS_CASES: tuple[tuple[tuple[int, ...], float, str, float, list[int]], ...] = (
    ((0, 100), 0.6, "cosine", 0.4, [61]),
    ((0, 100), 0.8, "linear", 0.4, [50]),
    ((0, 200), 16 / 255, "cosine", 8 / 255, [100]),
    ((0, 200), 16 / 255, "linear", 8 / 255, [100]),
    ((0, 100, 150, 200), 16 / 255, "cosine", 8 / 255, [50, 125, 175]),
    ((0, 100, 150, 200), 16 / 255, "linear", 8 / 255, [50, 125, 175]),
)


def pas_library(boundaries: tuple[int, ...], v_max: float, shape: str, target: float) -> Callable:
    """``advproof.train.pas``, the schedule every PAS run of the book uses."""
    from advproof import train

    return train.pas(boundaries, v_max, shape, v_target=target)


def pas_without_resets(boundaries: tuple[int, ...], v_max: float, shape: str,
                       target: float) -> Callable:
    """Negative control: one period over the whole run (the resets ignored)."""
    from advproof import train

    return train.pas((boundaries[0], boundaries[-1]), v_max, shape, v_target=target)


@eq5.check(kind="numeric", subject=pas_library, control=pas_without_resets,
           control_label="one period over the whole run (resets ignored)", tolerance=1e-12)
def eq5_hitting_times_and_range(schedule: Callable) -> str:
    """004 App. C.1's six settings at integer epochs: values in [0, target], and the epochs at
    which the target is first reached (61 / 50 on MNIST, 100 or 50, 125, 175 on CIFAR-10)."""
    out = []
    for bounds_, v_max, shape, target, want in PAS_CASES:
        s = schedule(bounds_, v_max, shape, target)
        values = [s(d) for d in range(bounds_[-1])]
        reached = [v >= target - 1e-12 for v in values]
        hits = [d for d in range(bounds_[-1]) if reached[d] and (d == 0 or not reached[d - 1])]
        require(0 <= min(values) and max(values) <= target,
                f"{shape} {bounds_}: values in [{min(values):.4g}, {max(values):.4g}]")
        require(hits == want, f"{shape} {bounds_}: target first reached at {hits}, not {want}")
        out.append(f"{shape} {bounds_[1:]}: {hits}")
    return "target first reached at " + "; ".join(out)


def eq5_printed(shape: str, r: float, v_max: float, v_min: float) -> float:
    """Eq. (5) as printed, unclipped, at position r = d/D."""
    if shape == "cosine":
        return 0.5 * (1 - math.cos(r * math.pi)) * (v_max - v_min) + v_min
    return (v_max - v_min) * r + v_min


def eq5_without_half(shape: str, r: float, v_max: float, v_min: float) -> float:
    """Negative control: the cosine branch without its factor 1/2 (overshoots v_max)."""
    if shape == "cosine":
        return (1 - math.cos(r * math.pi)) * (v_max - v_min) + v_min
    return (v_max - v_min) * r + v_min


@eq5.check(kind="numeric", subject=eq5_printed, control=eq5_without_half,
           control_label="the cosine branch without the 1/2", tolerance=1e-14)
def eq5_formula_matches_the_library(formula: Callable) -> str:
    """``train.pas`` (target above v_max, so no clipping) equals the printed eq. 5 at 200 random
    (r, v_min, v_max) in each of three periods of unequal length."""
    from advproof import train

    rng = np.random.default_rng(11)
    bounds_ = (0.0, 100.0, 150.0, 200.0)
    pairs = []
    for shape in ("cosine", "linear"):
        for _ in range(200):
            v_min, v_max = sorted(rng.uniform(0, 1, size=2))
            s = train.pas(bounds_, v_max, shape, v_target=2.0, v_min=v_min)
            i = int(rng.integers(0, 3))
            r = float(rng.uniform(0, 1))
            t = bounds_[i] + r * (bounds_[i + 1] - bounds_[i])
            pairs.append((s(t), formula(shape, r, v_max, v_min)))
    return worst_close(pairs, rtol=1e-14, what="train.pas vs eq. 5")


def lr_per_period(v0: float) -> Callable[[float], float]:
    """Fig. 6's ResNet18 rule as the book infers it: 0.1, /10 at 1/2 and 3/4 of each period."""
    from advproof import train

    return train.per_period((0, 100, 150, 200), train.step_decay(v0))


def lr_global(v0: float) -> Callable[[float], float]:
    """Negative control: the same rule over the whole run (no reset)."""
    from advproof import train

    return train.per_period((0, 200), train.step_decay(v0))


@eq5.check(kind="numeric", subject=lr_per_period, control=lr_global,
           control_label="the step decay over the whole run (no reset)", tolerance=0.0)
def eq5_learning_rate_resets(lr: Callable[[float], Callable[[float], float]]) -> str:
    """Fig. 6 (inferred): the learning rate is 0.1 at the start of each period [0, 100),
    [100, 150), [150, 200), 0.01 from 1/2 and 0.001 from 3/4 of each."""
    s = lr(0.1)
    want = {0: 0.1, 49: 0.1, 50: 0.01, 75: 0.001, 99: 0.001, 100: 0.1, 125: 0.01, 138: 0.001,
            150: 0.1, 175: 0.01, 188: 0.001, 199: 0.001}
    got = {d: s(d) for d in want}
    bad = {d: v for d, v in got.items() if not math.isclose(v, want[d], rel_tol=1e-12)}
    require(not bad, f"learning rate differs at epochs {bad} (want {want})")
    return "lr 0.1 / 0.01 / 0.001 at 0, 1/2 and 3/4 of each period, reset at 100 and 150"


# 004 Fig. 4, Fig. 13, Table 1 (003 Figs. 4.9-4.11, Table 4.2): the PAS experiments

fig4 = CLAIMS.claim(
    "liu.fig4",
    title="Scheduling eps is no worse than a constant eps over a learning-rate sweep; a "
          "learning-rate warm-up alone does not help",
    sources=("004 Fig. 4 and Fig. 13 (Sec. 5, App. C.2.3)", "003 Figs. 4.9-4.10"),
    kind="remark",
    statement=r"""
With Adam at several learning rates, training with the cosine or linear schedule of eq. (5) gives
a robust test error no worse (004: better) than the constant budget; warming up the learning rate
with a constant budget (Fig. 13) does not give that benefit.""",
)

fig4.check(kind="numeric", subject=noise_two_se, control=noise_one_se,
           control_label="one standard error of one rate", tolerance=0.06,
           name="fig4_noise_level_false_alarm_rate")(_noise_false_alarms)


def _robust(res, name: str) -> np.ndarray:  # noqa: ANN001 (an experiments.liu_pas.Result)
    """Mean robust test error per learning rate: a schedule of the sweep, or "warmup"."""
    if name == "warmup":
        return np.array([np.mean([r["robust"] for r in res.warmup[lr]]) for lr in res.config.lrs])
    return res.robust(name)


@fig4.check(kind="experiment", subject="measured", control="chance",
            control_label="schedules at chance level (robust error 0.9)",
            tolerance=noise_two_se(N_TEST_DIGITS))
def fig4_schedules_no_worse_than_const(series: str) -> str:
    """Quick run (digits, 3 Adam learning rates): robust error of cosine and linear minus
    const <= two standard errors (0.075) at every learning rate."""
    res = _pas()
    noise = noise_two_se(N_TEST_DIGITS)
    const = _robust(res, "const")
    parts = []
    for name in ("cosine", "linear"):
        r = _robust(res, name) if series == "measured" else np.full_like(const, CHANCE_ERROR)
        diff = r - const
        parts.append(f"{name} - const {', '.join(f'{v:+.3f}' for v in diff)}")
        require(bool((diff <= noise).all()), f"{name} worse than const beyond {noise:.3f}: "
                                             f"{', '.join(f'{v:+.3f}' for v in diff)}")
    return (f"lr {', '.join(f'{v:g}' for v in res.config.lrs)}: const "
            f"{', '.join(f'{v:.3f}' for v in const)}; " + "; ".join(parts))


@fig4.check(kind="experiment", subject="measured", control="perfect",
            control_label="a warm-up with zero robust error", tolerance=noise_two_se(N_TEST_DIGITS))
def fig13_warmup_gives_no_gain(series: str) -> str:
    """Quick run: the learning-rate warm-up with constant eps is not better than const by more
    than two standard errors at any learning rate (004 Fig. 13)."""
    res = _pas()
    noise = noise_two_se(N_TEST_DIGITS)
    const = _robust(res, "const")
    warm = _robust(res, "warmup") if series == "measured" else np.zeros_like(const)
    gain = const - warm
    detail = (f"const {', '.join(f'{v:.3f}' for v in const)}; warm-up "
              f"{', '.join(f'{v:.3f}' for v in warm)} "
              f"(gain {', '.join(f'{v:+.3f}' for v in gain)})")
    require(bool((gain <= noise).all()), f"warm-up gains beyond {noise:.3f}: {detail}")
    return detail


table1 = CLAIMS.claim(
    "liu.table1",
    title="PAS with resets: the end-of-period ensemble is no worse than the final model",
    sources=("004 Table 1 (Sec. 5)", "003 Table 4.2, Fig. 4.11"),
    kind="remark",
    statement=r"""
With the budget and the learning rate reset at each period, the ensemble of the end-of-period
models has a robust test error no worse (004: lower) than the final model alone, for each
scheduler (Const, Cosine, Linear).""",
)

table1.check(kind="numeric", subject=noise_two_se, control=noise_one_se,
             control_label="one standard error of one rate", tolerance=0.06,
             name="table1_noise_level_false_alarm_rate")(_noise_false_alarms)


def ensemble_mean_probability(members: list[torch.nn.Module], x: torch.Tensor) -> torch.Tensor:
    """``train.Ensemble``: softmax of its output (the mean of the members' probabilities)."""
    from advproof import train

    return torch.softmax(train.Ensemble(members)(x), dim=-1)


def ensemble_mean_logits(members: list[torch.nn.Module], x: torch.Tensor) -> torch.Tensor:
    """Negative control: softmax of the mean logits."""
    return torch.softmax(torch.stack([m(x) for m in members]).mean(0), dim=-1)


@table1.check(kind="numeric", subject=ensemble_mean_probability, control=ensemble_mean_logits,
              control_label="softmax of the mean logits", tolerance=1e-12)
@single_thread()
def table1_ensemble_is_mean_probability(ensemble: Callable) -> str:
    """Three random linear members on 10 points: the ensemble's class probabilities equal the
    mean of the members' softmax."""
    gen = torch.Generator().manual_seed(12)
    members = []
    for _ in range(3):
        m = torch.nn.Linear(4, 5).double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(3 * torch.randn(p.shape, generator=gen, dtype=F64))
        members.append(m)
    x = torch.randn(10, 4, generator=gen, dtype=F64)
    want = torch.stack([torch.softmax(m(x), dim=-1) for m in members]).mean(0)
    with torch.no_grad():
        got = ensemble(members, x)
    return worst_close([(got, want)], rtol=1e-12, what="ensemble probabilities vs mean softmax")


@table1.check(kind="experiment", subject="measured", control="chance",
              control_label="an ensemble at chance level (robust error 0.9)",
              tolerance=noise_two_se(N_TEST_DIGITS))
def table1_ensemble_no_worse(series: str) -> str:
    """Quick run (three periods of 5, 2, 3 epochs): ensemble robust error <= final model's +
    two standard errors, for const, cosine and linear."""
    res = _pas()
    noise = noise_two_se(N_TEST_DIGITS)
    parts = []
    for name, p in res.periodic.items():
        final = p["final"]["robust"]
        ens = p["ensemble"]["robust"] if series == "measured" else CHANCE_ERROR
        parts.append(f"{name} final {final:.3f}, ensemble {ens:.3f}")
        require(ens <= final + noise, f"{name}: ensemble {ens:.3f} > final {final:.3f} + "
                                      f"{noise:.3f}")
    return "; ".join(parts)


fig11 = CLAIMS.claim(
    "liu.fig11",
    title="Fig. 11: the training losses have the same magnitude across eps, and cover a smaller "
          "range for larger eps",
    sources=("004 App. C.2.2, Fig. 11",),
    kind="remark",
    statement=r"""
The learning curves of the adversarial training loss have similar magnitudes for every
$\epsilon$: each starts at about the loss of a random network, $\log 10$ for ten classes. So
the sharper minima at larger $\epsilon$ (claim liu.fig2) are not a scale effect of the
loss. The range the loss covers during training is smaller for larger $\epsilon$.""",
    uses=("liu.fig2",),
)


@fig11.check(kind="experiment", subject="max", control="last",
             control_label="the loss at the end of training as its magnitude", tolerance=0.02)
def fig11_same_magnitude(which: str) -> str:
    """Quick run: at every eps the largest batch loss of training ("max") and the mean loss at
    10 random parameters are within 2% of log 10."""
    res = _landscape()
    w = res.config.window
    parts = []
    for eps, log in res.steps.items():
        loss = log["loss"]
        value = float(loss.max() if which == "max" else loss[-w:].mean())
        for name, v in ((which, value), ("random", res.random_loss[eps])):
            require(abs(v / math.log(10) - 1) <= 0.02,
                    f"eps {eps}: {name} loss {v:.4f} vs log 10 = {math.log(10):.4f}")
        parts.append(f"{eps}: {value:.3f}")
    return f"{which} training loss by eps: " + ", ".join(parts) + f" (log 10 = {math.log(10):.3f})"


@fig11.check(kind="experiment", subject="measured", control="reversed",
             control_label="the ranges in reverse eps order", tolerance=0.0)
def fig11_range_shrinks(order: str) -> str:
    """Quick run: the drop of the training loss, mean of the first window minus mean of the
    last window of updates, strictly decreases with eps."""
    res = _landscape()
    drop = res.window_mean("loss", "first") - res.window_mean("loss", "last")
    drop = drop if order == "measured" else drop[::-1]
    require(bool(np.all(np.diff(drop) < 0)),
            "not decreasing: " + ", ".join(f"{d:.3f}" for d in drop))
    return "loss drop by eps: " + ", ".join(f"{e}: {d:.3f}" for e, d in
                                             zip(res.steps, drop, strict=True))


# 004 App. C.2.2, Fig. 12 (003 Fig. 4.6): the loss surfaces along the top-2 eigenvectors

fig12 = CLAIMS.claim(
    "liu.fig12",
    title="Fig. 12: the adversarial loss along the top-2 Hessian eigenvectors is sharper for "
          "larger eps",
    sources=("004 App. C.2.2, Fig. 12", "003 Sec. 4.2.3, Fig. 4.6"),
    kind="remark",
    statement=r"""
The adversarial training loss $\mathcal L_\epsilon(\theta + a_1\mathbf v_1 + a_2\mathbf v_2)$
around the trained model, along the top two eigenvectors $\mathbf v_1, \mathbf v_2$ of its
Hessian, is more sharply curved the larger $\epsilon$: the surfaces of Fig. 12 get steeper as the
budget grows, the landscape picture of the rising eigenvalues of claim liu.fig2.""",
    uses=("liu.fig2",),
)


def _reading(values: np.ndarray, order: str) -> np.ndarray:
    """The per-eps series as measured, or read backwards (the control)."""
    return values if order == "measured" else values[::-1]


def _series(res, values: np.ndarray) -> str:  # noqa: ANN001 (an experiments.liu_landscape.Result)
    """``eps: value`` pairs for a check's detail line."""
    return ", ".join(f"{e:g}: {v:.3f}" for e, v in zip(res.steps, values, strict=True))


@fig12.check(kind="experiment", subject="measured", control="reversed",
             control_label="the series in reverse eps order", tolerance=0.8)
def fig12_curvature_along_v1_rises(order: str) -> str:
    """Quick run: Spearman rho(eps, (L_eps(theta + h v1) + L_eps(theta - h v1) - 2 L_eps(theta))
    / h^2 / mean loss at 10 random theta) >= 0.8, h = 0.05, PGD re-run at every point."""
    res = _landscape()
    fd = _reading(res.normalised_fd(0), order)
    rho = res.spearman(fd)
    detail = (f"second difference along v1 / L(random) by eps {_series(res, fd)}: rho "
              f"{rho:+.2f} (Lanczos lambda_1 / L(random) {_series(res, res.normalised_top())})")
    require(rho >= 0.8, f"no rise: {detail}")
    return detail


@fig12.check(kind="experiment", subject="measured", control="reversed",
             control_label="the series in reverse eps order", tolerance=0.8)
def fig12_surface_rises_more(order: str) -> str:
    """Quick run: Spearman rho(eps, mean of the 9 x 9 surface minus its centre, over the mean
    loss at random theta) >= 0.8 (a1, a2 in [-0.25, 0.25])."""
    res = _landscape()
    rise = _reading(res.surface_rise("mean"), order)
    rho = res.spearman(rise)
    detail = f"mean rise of the surface / L(random) by eps {_series(res, rise)}: rho {rho:+.2f}"
    require(rho >= 0.8, f"no rise: {detail}")
    return detail


@fig12.check(kind="experiment", subject="fixed", control="attacked", tolerance=0.03,
             control_label="the attack re-run at theta +- h v (the curvature of L_eps itself)")
def fig12_second_difference_matches_lanczos(which: str) -> str:
    """Quick run, every eps, along v1 and v2: the second difference of the loss at the examples
    of theta held fixed is within 3% of the Lanczos eigenvalue (the same operator)."""
    res = _landscape()
    parts = []
    for i in (0, 1):
        ratio = res.fd_ratio(i, which)
        parts.append(f"v{i + 1}: {_series(res, ratio)}")
        require(bool(np.all(np.abs(ratio - 1) <= 0.03)),
                f"second difference / lambda ({which}) " + "; ".join(parts))
    return f"second difference / lambda ({which}) by eps " + "; ".join(parts)
