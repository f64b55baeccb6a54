"""Cheng et al.: why adversarial training of ReLU networks is difficult (seeds 000 and 001).

Chapter 1, the setting and the binary reduction: Lemma 1 (the logit Hessian ``H_z``),
Assumption 2 (softmax reduced to a sigmoid), Lemma 3 (``H_x = J^T H_z J``) and Lemma 2 (the
residual of one gradient-ascent step). Each formula is a function, and each check is a property
test that takes the formula as its argument, so the printed form, the corrected form and the
negative control go through the same test (STYLE §13).

Notation (book/notation.md): ``z`` logits, ``y`` label (``y in {-1, +1}`` for the sigmoid),
``s = z y``, ``g_z = dL/dz``, ``H_z = d^2L/dz^2``, ``g_x``, ``H_x`` the input gradient and Hessian,
``J = dz/dx``, ``alpha`` the step size, ``r_s = g_{x+delta^(s)} - g_x - H_x delta^(s)`` the
Taylor residual of the gradient after ``s`` steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp
import torch

from advproof.asserts import fmt, require, sym_equal, sym_zero, worst_close
from advproof.claims import ClaimSet, Erratum

CLAIMS = ClaimSet("cheng")

z, y = sp.symbols("z y", real=True)
s = sp.Symbol("s", real=True)  # s = z*y, the signed confidence
alpha = sp.Symbol("alpha", positive=True)

# ---------------------------------------------------------------------------------------------
# The losses, as the papers define them (000 App. E; 001 App. F).


def sigmoid_ce(z_: sp.Expr, y_: sp.Expr) -> sp.Expr:
    """Binary cross-entropy of a sigmoid, ``L = -log(e^{zy} / (1 + e^{zy}))``, y in {-1, +1}."""
    return -sp.log(sp.exp(z_ * y_) / (1 + sp.exp(z_ * y_)))


def softmax_ce(zs: sp.Matrix, label: int) -> sp.Expr:
    """Softmax cross-entropy ``L = -z_y + log sum_j e^{z_j}`` of a logit vector."""
    return -zs[label] + sp.log(sum(sp.exp(zj) for zj in zs))


def softmax(zs: sp.Matrix) -> sp.Matrix:
    """The softmax probabilities of a logit vector."""
    total = sum(sp.exp(zj) for zj in zs)
    return sp.Matrix([sp.exp(zj) / total for zj in zs])


# The printed derivatives of the sigmoid loss (000 Eq. in App. E): g_z and H_z as functions.
def g_z_printed(z_: sp.Expr, y_: sp.Expr) -> sp.Expr:
    """``g_z = -y / (1 + e^{zy})`` (000 App. E)."""
    return -y_ / (1 + sp.exp(z_ * y_))


def H_z_printed(z_: sp.Expr, y_: sp.Expr) -> sp.Expr:
    """``H_z = y^2 e^{zy} / (1 + e^{zy})^2`` (000 App. E)."""
    return y_**2 * sp.exp(z_ * y_) / (1 + sp.exp(z_ * y_)) ** 2


def softmax_hessian(p: sp.Matrix) -> sp.Matrix:
    """``H_z = diag(p) - p p^T`` for softmax cross-entropy (000 Lemma 1)."""
    return sp.diag(*p) - p * p.T


# ---------------------------------------------------------------------------------------------
# Lemma 1

lemma1 = CLAIMS.claim(
    "cheng.lemma1",
    title="The logit Hessian of cross-entropy is PSD, and H_z >= g_z^2 >= 0 while zy > 0",
    sources=("000 Lemma 1 (App. E)", "001 Lemma 1 (App. F)"),
    kind="lemma",
    statement=r"""
For softmax cross-entropy, $H_z = \partial^2 L/\partial z\,\partial z^T = \mathrm{diag}(p) - pp^T
\succeq 0$. For the sigmoid loss $L = -\log\frac{e^{zy}}{1+e^{zy}}$, $y \in \{-1,+1\}$:
$g_z = -\frac{y}{1+e^{zy}}$, $H_z = \frac{y^2 e^{zy}}{(1+e^{zy})^2}$, so $H_z/g_z^2 = e^{zy}$ and
$H_z \ge g_z^2 \ge 0$ as long as $zy > 0$.""",
)


@lemma1.step(1, "Differentiate the sigmoid loss twice", subject=(g_z_printed, H_z_printed),
              control=(g_z_printed, lambda z_, y_: y_**2 * sp.exp(z_ * y_) / (1 + sp.exp(z_ * y_))),
              control_label="H_z with the square of the denominator dropped")
def lemma1_sigmoid_derivatives(formulas: tuple[Callable, Callable]) -> str:
    """The printed g_z and H_z are the first two z-derivatives of the sigmoid loss."""
    g, H = formulas
    L = sigmoid_ce(z, y)
    first = sym_equal(sp.diff(L, z), g(z, y), "dL/dz = g_z")
    sym_equal(sp.diff(L, z, 2), H(z, y), "d2L/dz2 = H_z")
    return first + "; d2L/dz2 = H_z: simplifies to 0"


@lemma1.step(2, "Divide: H_z / g_z^2 = e^{zy}", subject=sp.exp(s), control=sp.exp(-s),
             control_label="e^{-zy} instead of e^{zy}")
def lemma1_ratio(ratio: sp.Expr) -> str:
    """``H_z / g_z^2 = e^{zy}`` for y in {-1, +1} (y^2 = 1), written with s = zy."""
    H = H_z_printed(z, y).subs(y**2, 1)
    g2 = (g_z_printed(z, y) ** 2).subs(y**2, 1)
    return sym_equal((H / g2).subs(z * y, s), ratio, "H_z/g_z^2 - e^{zy}")


@lemma1.check(kind="symbolic", subject=sp.Interval(0, sp.oo), control=sp.Reals,
              control_label="hypothesis zy > 0 dropped (all zy)")
def lemma1_inequality(domain: sp.Set) -> str:
    """``H_z - g_z^2 = (e^s - 1)/(1 + e^s)^2`` and it is never negative on the domain of s."""
    gap = (H_z_printed(z, y) - g_z_printed(z, y) ** 2).subs(y**2, 1).subs(z * y, s)
    closed = (sp.exp(s) - 1) / (1 + sp.exp(s)) ** 2
    sym_equal(gap, closed, "H_z - g_z^2 - (e^s-1)/(1+e^s)^2")
    negative = sp.solveset(sp.exp(s) - 1 < 0, s, domain=domain)  # denominator > 0
    require(negative == sp.EmptySet, f"H_z < g_z^2 for zy in {negative}")
    return f"H_z - g_z^2 = (e^s-1)/(1+e^s)^2 >= 0 for all zy in {domain}"


@lemma1.check(kind="symbolic", subject=(sp.log(3), sp.Rational(1, 8)),
              control=(sp.log(2), sp.Rational(1, 8)), control_label="argmax log 2 for log 3")
def lemma1_profile(argmax_value: tuple[sp.Expr, sp.Expr]) -> str:
    """The profile of ``H_z - g_z^2``: zero at zy = 0 and zy -> oo, maximal (1/8) at zy = log 3."""
    s_star, v_star = argmax_value
    gap = (sp.exp(s) - 1) / (1 + sp.exp(s)) ** 2
    sym_zero(gap.subs(s, 0), "gap at zy = 0")
    require(sp.limit(gap, s, sp.oo) == 0, "gap does not vanish as zy -> oo")
    sym_zero(sp.diff(gap, s).subs(s, s_star), f"d gap/ds at zy = {s_star}")
    sym_equal(gap.subs(s, s_star), v_star, f"gap at zy = {s_star}")
    require(sp.diff(gap, s, 2).subs(s, s_star).evalf() < 0, f"zy = {s_star} is not a maximum")
    return f"max of H_z - g_z^2 is {v_star} at zy = {s_star}; 0 at zy = 0 and zy -> oo"


@lemma1.step(3, "Differentiate softmax cross-entropy twice", subject=softmax_hessian,
             control=lambda p: sp.diag(*p) + p * p.T, control_label="+pp^T for -pp^T")
def lemma1_softmax_hessian(formula: Callable[[sp.Matrix], sp.Matrix]) -> str:
    """The Hessian of softmax cross-entropy in z equals the formula (c = 3, every label)."""
    zs = sp.Matrix(sp.symbols("z1:4", real=True))
    for label in range(3):
        sym_equal(sp.hessian(softmax_ce(zs, label), list(zs)), formula(softmax(zs)),
                  f"Hessian of CE (label {label}) - formula")
    return "d2L/dz dz^T = diag(p) - pp^T for c = 3, all labels: simplifies to 0"


@lemma1.step(4, "Gershgorin: rows of H_z sum to zero, off-diagonal entries are <= 0",
             subject=softmax_hessian, control=lambda p: sp.diag(*p) + p * p.T,
             control_label="+pp^T for -pp^T")
def lemma1_gershgorin(formula: Callable[[sp.Matrix], sp.Matrix]) -> str:
    """With sum_k p_k = 1, H_z 1 = 0 and H_kj = -p_k p_j <= 0: diagonally dominant, so PSD."""
    p1, p2 = sp.symbols("p1 p2", positive=True)
    p = sp.Matrix([p1, p2, 1 - p1 - p2])
    H = formula(p)
    sym_zero(H * sp.ones(3, 1), "H_z 1")
    for i in range(3):
        for j in range(3):
            if i != j:
                sym_equal(H[i, j], -p[i] * p[j], f"H_z[{i},{j}] + p_i p_j")
    return "H_z 1 = 0 and H_kj = -p_k p_j <= 0: H_kk = sum_j |H_kj|, Gershgorin discs in [0, oo)"


def _softmax_hessian_np(p: np.ndarray) -> np.ndarray:
    return np.diag(p) - np.outer(p, p)


@lemma1.check(kind="numeric", subject=_softmax_hessian_np,
              control=lambda p: np.diag(p) - 2 * np.outer(p, p),
              control_label="outer product doubled", tolerance=1e-12)
def lemma1_softmax_psd(formula: Callable[[np.ndarray], np.ndarray]) -> str:
    """PSD and Gershgorin's bound lambda_max <= max_k 2 p_k (1 - p_k) on 2000 random logits."""
    rng = np.random.default_rng(0)
    worst = np.inf
    for i in range(2000):
        c = int(rng.integers(2, 11))
        p = np.exp(zv := rng.normal(scale=3.0, size=c) - 0) / np.exp(zv).sum()
        eig = np.linalg.eigvalsh(formula(p))
        worst = min(worst, eig.min())
        require(eig.min() >= -1e-12, f"instance {i}: min eigenvalue {eig.min():.3g} < 0")
        require(eig.max() <= (2 * p * (1 - p)).max() + 1e-12, f"instance {i}: Gershgorin fails")
    return f"2000 random logit vectors (c = 2..10): min eigenvalue {fmt(max(-worst, 0))} below 0"


# ---------------------------------------------------------------------------------------------
# Assumption 2: the softmax-to-sigmoid reduction (000 §3.2 and App. D)


def p_best_printed(zv: np.ndarray) -> float:
    """000 Assumption 2: ``p_1 = 1/(1 + exp(-(z'_1 - z'_2)))``, best minus second-best logit."""
    top = np.sort(zv)[::-1]
    return float(1.0 / (1.0 + np.exp(-(top[0] - top[1]))))


def p_best_exact(zv: np.ndarray) -> float:
    """``p_1 = sigmoid(z'_1 - z'_2 - log(1 + eps))`` with ``eps = sum_{i>=3} e^{z'_i - z'_2}``."""
    top = np.sort(zv)[::-1]
    eps = np.exp(top[2:] - top[1]).sum()
    return float(1.0 / (1.0 + np.exp(-(top[0] - top[1] - np.log1p(eps)))))


def _softmax_max(zv: np.ndarray) -> float:
    e = np.exp(zv - zv.max())
    return float(e.max() / e.sum())


assump2 = CLAIMS.claim(
    "cheng.assump2",
    title="Softmax classification reduces to a sigmoid of best minus second-best logit",
    sources=("000 Assumption 2 (§3.2; 'proven' in App. D)",
             "001 §3 (absorbed into Theorems 3-5: binary sigmoid)"),
    kind="assumption",
    statement=r"""
If the second-best class is much stronger than the others, the softmax probability of the best
class is approximately a sigmoid: $p_1 \approx 1/(1+e^{-z})$ with $z = z'_1 - z'_2$. Exactly,
$p_1 = \sigma\big(z'_1 - z'_2 - \log(1+\varepsilon)\big)$ with
$\varepsilon = \sum_{i\ge 3} e^{z'_i - z'_2}$, and
$0 \le \sigma(z'_1-z'_2) - p_1 \le \varepsilon/4$.""",
    erratum=Erratum(
        printed=r"p_1 = \frac{1}{1+\exp(-(z'_1 - z'_2))}\quad\text{(labelled proven)}",
        problem=(
            "000 calls Assumption 2 'proven' (App. D), but the proof only drops the other classes: "
            "the equality is false whenever a third class has non-zero probability. For logits "
            "(2, 1, 1), p_1 = e/(e+2) = 0.576 while the sigmoid gives 0.731. What holds is an "
            "exact identity with an explicit error term, and an error bound of eps/4."
        ),
        corrected=r"p_1 = \sigma\Big(z'_1 - z'_2 - \log\big(1 + \textstyle\sum_{i\ge3}"
                  r" e^{z'_i - z'_2}\big)\Big),\qquad 0 \le \sigma(z'_1 - z'_2) - p_1 \le"
                  r" \tfrac14 \textstyle\sum_{i\ge3} e^{z'_i - z'_2}",
    ),
)


def _equals_softmax_on_random_logits(formula: Callable[[np.ndarray], float]) -> str:
    rng = np.random.default_rng(1)
    cases = [np.array([2.0, 1.0, 1.0])] + [rng.normal(scale=2.0, size=int(rng.integers(3, 11)))
                                            for _ in range(500)]
    for zv in cases:
        exact, claimed = _softmax_max(zv), formula(zv)
        require(abs(claimed - exact) <= 1e-12 * max(exact, 1e-300),
                f"logits {np.round(zv, 3).tolist()[:4]}: p_1 = {exact:.3f}, formula {claimed:.3f}")
    return f"equals the softmax maximum on {len(cases)} logit vectors (c = 3..10) to 1e-12"


@assump2.check(kind="numeric", subject=p_best_printed, control=p_best_exact, refutes=True,
               control_label="the exact identity (must not be refuted)", tolerance=1e-12)
def assump2_printed_is_not_exact(formula: Callable[[np.ndarray], float]) -> str:
    """Refutation: the printed sigmoid is not the softmax probability (counterexample (2,1,1))."""
    return _equals_softmax_on_random_logits(formula)


def p_best_wrong_reference(zv: np.ndarray) -> float:
    """Negative control: the exact identity with ``eps`` measured against the best logit."""
    top = np.sort(zv)[::-1]
    eps = np.exp(top[2:] - top[0]).sum()
    return float(1.0 / (1.0 + np.exp(-(top[0] - top[1] - np.log1p(eps)))))


@assump2.check(kind="numeric", subject=p_best_exact, control=p_best_wrong_reference,
               control_label="eps measured against z'_1 instead of z'_2", tolerance=1e-12)
def assump2_exact_identity(formula: Callable[[np.ndarray], float]) -> str:
    """The corrected identity equals the softmax maximum to 1e-12 (float64)."""
    return _equals_softmax_on_random_logits(formula)


eps_sym = sp.Symbol("varepsilon", positive=True)


@assump2.step(1, "Divide numerator and denominator by e^{z'_1}",
              subject=lambda d, e: 1 / (1 + sp.exp(-(d - sp.log(1 + e)))),
              control=lambda d, e: 1 / (1 + sp.exp(-(d + sp.log(1 + e)))),
              control_label="+log(1+eps) for -log(1+eps)")
def assump2_identity_symbolic(formula: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> str:
    """``softmax_1 = formula(z_1 - z_2, eps)`` symbolically for c = 4 logits."""
    zs = sp.symbols("z1:5", real=True)
    eps = sum(sp.exp(zs[i] - zs[1]) for i in range(2, 4))
    p1 = softmax(sp.Matrix(zs))[0]
    return sym_equal(p1, formula(zs[0] - zs[1], eps), "p_1 - sigmoid(z1 - z2 - log(1+eps))")


@assump2.step("2a", "Drop the other classes (000 App. D)", refutes=True,
              subject=lambda d, e: 1 / (1 + sp.exp(-d)),
              control=lambda d, e: 1 / (1 + sp.exp(-(d - sp.log(1 + e)))),
              control_label="the exact identity (must not be refuted)")
def assump2_drop_eps(formula: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> str:
    """Printed step: ``p_1 = 1/(1 + e^{-(z_1 - z_2)})``, exact only if the other classes vanish."""
    return assump2_identity_symbolic(formula)


u = sp.Symbol("u", real=True)


@assump2.step("2b", "The sigmoid is increasing and 1/4-Lipschitz, and log(1+eps) <= eps",
              subject=sp.Rational(1, 4), control=sp.Rational(1, 8),
              control_label="Lipschitz constant 1/8")
def assump2_lipschitz(L: sp.Expr) -> str:
    """``sigma' = sigma (1 - sigma) <= L`` for every value u = sigma in R, and log(1+e) <= e."""
    above = sp.solveset(u * (1 - u) - L > 0, u, sp.Reals)
    require(above == sp.EmptySet, f"sigma'(t) = u(1-u) exceeds {L} for u in {above}")
    e = sp.Symbol("e", nonnegative=True)
    gap = e - sp.log(1 + e)  # zero at 0, non-decreasing: derivative e/(1+e) >= 0
    require(gap.subs(e, 0) == 0 and sp.solveset(sp.simplify(sp.diff(gap, e)) < 0, e,
                                                sp.Interval(0, sp.oo)) == sp.EmptySet,
            "log(1 + eps) > eps somewhere")
    return f"u(1-u) <= {L} on R (max at u = 1/2), log(1+eps) <= eps: error <= eps/4"


@assump2.check(kind="numeric", subject=lambda eps: eps / 4, control=lambda eps: eps / 40,
               control_label="bound eps/40 for eps/4", tolerance=1e-12)
def assump2_error_bound(bound: Callable[[float], float]) -> str:
    """``0 <= sigmoid(z_1 - z_2) - p_1 <= bound(eps)`` on random logits, near-equality included."""
    rng = np.random.default_rng(2)
    worst = 0.0
    for _ in range(2000):
        zv = rng.normal(scale=rng.choice([0.1, 1.0, 4.0]), size=int(rng.integers(3, 11)))
        top = np.sort(zv)[::-1]
        eps = float(np.exp(top[2:] - top[1]).sum())
        err = p_best_printed(zv) - _softmax_max(zv)
        require(-1e-15 <= err <= bound(eps) + 1e-15,
                f"error {err:.3g} outside [0, bound(eps) = {bound(eps):.3g}] at eps = {eps:.3g}")
        worst = max(worst, err / eps)
    return f"2000 random logit vectors: 0 <= error <= eps/4 (largest error/eps {worst:.2f})"


# ---------------------------------------------------------------------------------------------
# Lemma 3: H_x = J^T H_z J (000 Lemma 3, App. F), binary and multi-class


def gauss_newton(H_z: sp.Matrix, J: sp.Matrix) -> sp.Matrix:
    """``J^T H_z J``: the input Hessian of a model that is linear in x (frozen gates)."""
    return J.T * H_z * J


lemma3 = CLAIMS.claim(
    "cheng.lemma3",
    uses=("cheng.assump2",),
    title="For a ReLU net the input Hessian is J^T H_z J, of rank at most c - 1",
    sources=("000 Lemma 3 (App. F)",),
    kind="lemma",
    statement=r"""
With the gates frozen (000 Assumption 1; 001 A2) the logits are affine in $x$,
$z = \widetilde W^T x + \tilde b$, so $H_x = J^T H_z J$ with $J = \partial z/\partial x^T$.
In the binary case (Assumption 2) $H_h = H_z \tilde g_h \tilde g_h^T$ and
$H_x = H_z \tilde g_x \tilde g_x^T = W H_h W^T$: rank one. For softmax,
$\mathrm{rank}\, H_x \le c-1$. For a ReLU net this holds almost everywhere
even without freezing the gates, because $\partial^2 z/\partial x^2 = 0$ a.e.""",
)


@lemma3.check(kind="symbolic", subject=lambda Hz, gx, gz: Hz * gx * gx.T,
              control=lambda Hz, gx, gz: -gz * gx * gx.T,
              control_label="|g_z| in place of H_z")
def lemma3_binary_two_layer(formula: Callable) -> str:
    """Two-layer frozen-gate net (n = 2, D = 2): H_x = H_z g~_x g~_x^T and H_h = H_z g~_h g~_h^T."""
    x = sp.Matrix(sp.symbols("x1:3", real=True))
    W1 = sp.Matrix(2, 2, sp.symbols("w1:5", real=True))
    b1 = sp.Matrix(sp.symbols("b1:3", real=True))
    u = sp.Matrix(sp.symbols("u1:3", real=True))
    gates = sp.diag(*sp.symbols("sigma1:3", nonnegative=True))  # frozen gating states
    hvar = sp.Matrix(sp.symbols("h1:3", real=True))
    z_of_h = (u.T * gates * hvar)[0]
    zx = z_of_h.subs(dict(zip(hvar, W1.T * x + b1, strict=True)))
    L = sp.log(1 + sp.exp(-zx))  # y = +1; the y = -1 case is the same with u -> -u
    Hz = H_z_printed(zx, 1)
    gz = g_z_printed(zx, 1)
    g_tilde_x = sp.Matrix([sp.diff(zx, xi) for xi in x])
    g_tilde_h = sp.Matrix([sp.diff(z_of_h, hi) for hi in hvar])
    sym_equal(sp.hessian(L, list(x)), formula(Hz, g_tilde_x, gz), "H_x - formula")
    Lh = sp.log(1 + sp.exp(-z_of_h))
    sym_equal(sp.hessian(Lh, list(hvar)), formula(H_z_printed(z_of_h, 1), g_tilde_h,
                                                   g_z_printed(z_of_h, 1)), "H_h - formula")
    sym_equal(g_tilde_x, W1 * g_tilde_h, "g~_x - W g~_h")
    return "H_x = H_z g~x g~x^T, H_h = H_z g~h g~h^T, g~x = W g~h: simplify to 0"


@lemma3.check(kind="symbolic", subject=gauss_newton,
              control=lambda Hz, J: J.T * sp.diag(*[Hz[i, i] for i in range(Hz.rows)]) * J,
              control_label="off-diagonal -pp^T of H_z dropped")
def lemma3_softmax_linear(formula: Callable[[sp.Matrix, sp.Matrix], sp.Matrix]) -> str:
    """Softmax CE of an affine model (n = 2, c = 3): the input Hessian is J^T H_z J."""
    x = sp.Matrix(sp.symbols("x1:3", real=True))
    W = sp.Matrix(2, 3, sp.symbols("w1:7", real=True))
    b = sp.Matrix(sp.symbols("b1:4", real=True))
    zs = W.T * x + b
    L = softmax_ce(zs, 0)
    J = zs.jacobian(x)
    return sym_equal(sp.hessian(L, list(x)), formula(softmax_hessian(softmax(zs)), J),
                     "Hessian - formula")


def chain_rule_hessian(zs: sp.Matrix, x: sp.Matrix, label: int) -> sp.Matrix:
    """``J^T H_z J + sum_k g_{z_k} d^2 z_k / dx^2`` for softmax CE of logits ``zs(x)``."""
    p = softmax(zs)
    g = p - sp.Matrix([int(k == label) for k in range(len(zs))])
    J = zs.jacobian(x)
    curvature = sp.zeros(len(x), len(x))
    for k in range(len(zs)):
        curvature += g[k] * sp.hessian(zs[k], list(x))
    return J.T * softmax_hessian(p) * J + curvature


def chain_rule_without_curvature(zs: sp.Matrix, x: sp.Matrix, label: int) -> sp.Matrix:
    """Negative control: the chain rule with the curvature of the logits dropped."""
    J = zs.jacobian(x)
    return J.T * softmax_hessian(softmax(zs)) * J


@lemma3.step(1, "Chain rule: H_x = J^T H_z J + sum_k g_{z_k} d2 z_k/dx2",
             subject=chain_rule_hessian, control=chain_rule_without_curvature,
             control_label="curvature of z dropped")
def lemma3_chain_rule(formula: Callable) -> str:
    """Softmax CE of non-linear logits (n = 2, c = 3): the Hessian equals the chain rule."""
    x = sp.Matrix(sp.symbols("x1:3", real=True))
    zs = sp.Matrix([x[0] ** 2 + x[1], x[0] * x[1], 2 * x[0] - x[1] ** 2])
    return sym_equal(sp.hessian(softmax_ce(zs, 1), list(x)), formula(zs, x, 1),
                     "Hessian - chain rule")


def _relu_net(n: int, width: int, c: int, act: Callable[[torch.Tensor], torch.Tensor],
              gen: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    W1 = torch.randn(n, width, generator=gen, dtype=torch.float64) / n**0.5
    b1 = torch.randn(width, generator=gen, dtype=torch.float64) * 0.1
    W2 = torch.randn(width, width, generator=gen, dtype=torch.float64) / width**0.5
    W3 = torch.randn(width, c, generator=gen, dtype=torch.float64) / width**0.5
    return lambda x: act(act(x @ W1 + b1) @ W2) @ W3


def _ce(logits: torch.Tensor, label: int) -> torch.Tensor:
    return torch.logsumexp(logits, -1) - logits[label]


@lemma3.step(2, "ReLU logits have zero input Hessian almost everywhere", numeric=True,
             subject=torch.relu, control=torch.nn.functional.softplus,
             control_label="softplus net", tolerance=0.0)
def lemma3_relu_logits_flat(act: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """Autograd Hessian of every logit of random 3-layer nets at random inputs is exactly 0."""
    gen = torch.Generator().manual_seed(5)
    worst = 0.0
    for _ in range(10):
        f = _relu_net(6, 8, 3, act, gen)
        x = torch.randn(6, generator=gen, dtype=torch.float64)
        for k in range(3):
            hess = torch.autograd.functional.hessian(lambda v, f=f, k=k: f(v)[k], x)
            worst = max(worst, float(hess.abs().max()))
    require(worst == 0.0, f"max |d2 z_k/dx2| = {worst:.2g} != 0")
    return "d2 z_k / dx2 = 0 exactly at 10 random inputs of random ReLU nets (c = 3)"


@lemma3.step(3, "rank J^T H_z J <= rank H_z = c - 1, since H_z 1 = 0", subject=softmax_hessian,
             control=lambda p: sp.diag(*p), control_label="diag(p) (pp^T dropped)")
def lemma3_rank(formula: Callable[[sp.Matrix], sp.Matrix]) -> str:
    """For c = 3 with p on the simplex, H_z has rank 2 = c - 1 (its kernel is spanned by 1)."""
    p1, p2 = sp.symbols("p1 p2", positive=True)
    H = formula(sp.Matrix([p1, p2, 1 - p1 - p2]))
    require(H.rank() == 2, f"rank H_z = {H.rank()} != c - 1 = 2")
    return "rank H_z = 2 = c - 1 for symbolic p (p3 = 1 - p1 - p2)"


@lemma3.check(kind="numeric", subject=torch.relu, control=torch.nn.functional.softplus,
              control_label="softplus net (curvature of z dropped from the hypothesis)",
              tolerance=1e-10)
def lemma3_relu_double_backprop(act: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """Double-backprop H_x of a 3-layer net (free gates) equals J^T H_z J; rank <= c - 1."""
    gen = torch.Generator().manual_seed(3)
    pairs, ranks = [], []
    for c in (2, 3, 10):
        f = _relu_net(12, 16, c, act, gen)
        for _ in range(10):
            x = torch.randn(12, generator=gen, dtype=torch.float64)
            label = int(torch.randint(c, (1,), generator=gen))
            H_x = torch.autograd.functional.hessian(lambda v, f=f, k=label: _ce(f(v), k), x)
            J = torch.autograd.functional.jacobian(f, x)
            p = torch.softmax(f(x), -1)
            pairs.append((H_x, J.T @ (torch.diag(p) - torch.outer(p, p)) @ J))
            eig = torch.linalg.eigvalsh(H_x)
            ranks.append((int((eig.abs() > 1e-10 * eig.abs().max()).sum()), c))
    detail = worst_close(pairs, rtol=1e-10, what="H_x vs J^T H_z J")
    bad = [(r, c) for r, c in ranks if r > c - 1]
    require(not bad, f"rank of H_x exceeds c - 1: (rank, c) = {bad[:3]}")
    return detail + f"; rank H_x <= c - 1 in all {len(ranks)} (c = 2, 3, 10)"


# ---------------------------------------------------------------------------------------------
# Lemma 2: one step of gradient ascent, with its residual (000 Lemma 2, App. A)


def step_exact(t: int, A: sp.Matrix, g: sp.Matrix, r: list, a: sp.Expr, H: sp.Matrix) -> sp.Matrix:
    """Exact step: ``Dx^(t) = a A^{t-1} g + a r_{t-1} + a^2 H sum_{s=1}^{t-2} A^{t-2-s} r_s``.

    ``A = I + a H``, ``r[s]`` is the gradient's Taylor residual after ``s`` steps (``r[0] = 0``).
    """
    tail = sp.zeros(*g.shape)
    for s_ in range(1, t - 1):
        tail += A ** (t - 2 - s_) * r[s_]
    return a * A ** (t - 1) * g + a * r[t - 1] + a**2 * H * tail


def step_printed(t: int, A: sp.Matrix, g: sp.Matrix, r: list, a: sp.Expr,
                 H: sp.Matrix) -> sp.Matrix:
    """000 Lemma 2: ``Dx^(t) = a (I + a H)^{t-1} g + a R_2(delta^(t-1))``, read literally.

    ``R_2(delta^(t-1))`` is the gradient's Taylor residual at ``delta^(t-1)``, i.e. ``r_{t-1}``.
    """
    return a * A ** (t - 1) * g + a * r[t - 1]


def step_wrong_power(t: int, A: sp.Matrix, g: sp.Matrix, r: list, a: sp.Expr,
                     H: sp.Matrix) -> sp.Matrix:
    """Negative control: the exact step with ``A^t`` in place of ``A^{t-1}``."""
    return step_exact(t, A, g, r, a, H) + a * (A**t - A ** (t - 1)) * g


lemma2 = CLAIMS.claim(
    "cheng.lemma2",
    title="One step of gradient ascent: first-order term plus residual",
    sources=("000 Lemma 2 (App. A)", "001 App. B (not in the seed)"),
    kind="lemma",
    statement=r"""
The $t$-th step of the multi-step attack $\Delta x^{(t)} = \alpha\, g_{x+\delta^{(t-1)}}$ is
$\Delta x^{(t)} = \alpha (I+\alpha H_x)^{t-1} g_x + \alpha R_2(\delta^{(t-1)})$, where $R_2$
collects the Taylor terms of order $\ge 2$. Exactly, with
$r_s = g_{x+\delta^{(s)}} - g_x - H_x\delta^{(s)}$:
$\Delta x^{(t)} = \alpha(I+\alpha H_x)^{t-1}g_x + \alpha r_{t-1} +
\alpha^2 H_x \sum_{s=1}^{t-2}(I+\alpha H_x)^{t-2-s} r_s$, and
$\delta^{(m)} = \alpha\sum_{k=0}^{m-1}(I+\alpha H_x)^k g_x
+ \alpha\sum_{s=1}^{m-1}(I+\alpha H_x)^{m-1-s} r_s$.""",
    erratum=Erratum(
        printed=r"\Delta x^{(t)} = \alpha (I+\alpha H_x)^{t-1} g_x + \alpha R_2(\delta^{(t-1)})",
        problem=(
            "The proof writes R_2(delta^(t-1)) = R_2(delta^(t-2)) + R_2(Dx^(t-1)), but a Taylor "
            "remainder is not additive. Read literally (R_2 the gradient's remainder at "
            "delta^(t-1)), the identity fails from the third step on: it misses "
            "alpha^2 H_x sum_s (I + alpha H_x)^(t-2-s) r_s, a term of relative size about "
            "beta*lambda_1 against the residual it keeps, so it matters exactly where the "
            "exponential regime of Theorems 1-2 starts. As an order-of-magnitude statement "
            "(residual of second order in delta) the lemma stands."
        ),
        corrected=r"\Delta x^{(t)} = \alpha(I+\alpha H_x)^{t-1}g_x + \alpha r_{t-1} + \alpha^2 H_x"
                  r" \sum_{s=1}^{t-2}(I+\alpha H_x)^{t-2-s} r_s,\quad r_s = g_{x+\delta^{(s)}} -"
                  r" g_x - H_x\delta^{(s)}",
    ),
)


def _steps_match_recursion(formula: Callable, t_max: int = 5) -> str:
    """Iterate ``delta^(t) = delta^(t-1) + alpha (g + H delta^(t-1) + r_{t-1})`` symbolically."""
    g = sp.Matrix(sp.symbols("g1:3", real=True))
    h11, h12, h22 = sp.symbols("h11 h12 h22", real=True)
    H = sp.Matrix([[h11, h12], [h12, h22]])
    A = sp.eye(2) + alpha * H
    r = [sp.zeros(2, 1)] + [sp.Matrix(sp.symbols(f"r{k}_1:3", real=True)) for k in range(1, t_max)]
    delta = sp.zeros(2, 1)
    for t in range(1, t_max + 1):
        step = alpha * (g + H * delta + r[t - 1])  # definition of r_{t-1}
        sym_equal(step, formula(t, A, g, r, alpha, H), f"step t = {t}")
        delta += step
    return f"Dx^(t) for t = 1..{t_max}, symbolic 2x2 H_x, free residuals r_s: simplifies to 0"


def increment_recursion(t: int, A: sp.Matrix, prev: sp.Matrix, r: list, a: sp.Expr) -> sp.Matrix:
    """``Dx^(t) = (I + a H) Dx^(t-1) + a (r_{t-1} - r_{t-2})`` for ``t >= 2``."""
    return A * prev + a * (r[t - 1] - r[t - 2])


@lemma2.step(1, "Subtract consecutive steps: "
             "Dx^(t) = (I + alpha H) Dx^(t-1) + alpha (r_(t-1) - r_(t-2))",
             subject=increment_recursion,
             control=lambda t, A, prev, r, a: A * prev, control_label="residual difference dropped")
def lemma2_increment(formula: Callable) -> str:
    """Against the attack recursion with free residuals, for t = 2..5 (symbolic 2x2 H_x)."""
    g = sp.Matrix(sp.symbols("g1:3", real=True))
    h11, h12, h22 = sp.symbols("h11 h12 h22", real=True)
    H = sp.Matrix([[h11, h12], [h12, h22]])
    A = sp.eye(2) + alpha * H
    r = [sp.zeros(2, 1)] + [sp.Matrix(sp.symbols(f"r{k}_1:3", real=True)) for k in range(1, 5)]
    delta, prev = sp.zeros(2, 1), None
    for t in range(1, 6):
        step = alpha * (g + H * delta + r[t - 1])
        if prev is not None:
            sym_equal(step, formula(t, A, prev, r, alpha), f"increment t = {t}")
        delta, prev = delta + step, step
    return "Dx^(t) - (I + alpha H) Dx^(t-1) - alpha (r_(t-1) - r_(t-2)), t = 2..5: simplifies to 0"


def taylor_remainder(grad: Callable[[sp.Expr], sp.Expr]) -> Callable[[sp.Expr], sp.Expr]:
    """``R_2(d) = g(d) - g(0) - g'(0) d``: the gradient's Taylor remainder around x = 0 (1-D)."""
    v = sp.Symbol("v")
    slope = sp.diff(grad(v), v).subs(v, 0)
    return lambda d: grad(d) - grad(sp.Integer(0)) - slope * d


@lemma2.step("2a", "R_2 is additive: "
             "R_2(delta^(t-1)) = R_2(delta^(t-2)) + R_2(Dx^(t-1)) (000 App. A)",
             refutes=True, subject=taylor_remainder(lambda v: v**3 / 3 + v),
             control=taylor_remainder(lambda v: 2 * v + 1),
             control_label="a quadratic loss (R_2 = 0), must not be refuted")
def lemma2_additive(remainder: Callable[[sp.Expr], sp.Expr]) -> str:
    """Printed step: a Taylor remainder split over a sum. Counterexample: L = x^4/12 + x^2/2."""
    a, b = sp.symbols("a b", real=True)
    return sym_zero(sp.expand(remainder(a + b) - remainder(a) - remainder(b)),
                    "R_2(a + b) - R_2(a) - R_2(b)")


@lemma2.check(kind="symbolic", subject=step_printed, control=step_exact, refutes=True,
              control_label="the exact step (must not be refuted)")
def lemma2_printed_step(formula: Callable) -> str:
    """Refutation: the printed step differs from the recursion at t = 3 by alpha^2 H_x r_1."""
    return _steps_match_recursion(formula)


@lemma2.step("2b", "Unroll the increment recursion (corrected)", subject=step_exact,
             control=step_wrong_power, control_label="(I + alpha H)^t for (I + alpha H)^(t-1)",
             )
def lemma2_exact_step(formula: Callable) -> str:
    """The exact step formula solves the recursion for t = 1..5 (symbolic H, g, residuals)."""
    return _steps_match_recursion(formula)


def delta_exact(m: int, H: torch.Tensor, g: torch.Tensor, r: list[torch.Tensor],
                a: float) -> torch.Tensor:
    """``delta^(m) = a sum_k A^k g + a sum_{s=1}^{m-1} A^{m-1-s} r_s`` with ``A = I + a H``."""
    A = torch.eye(len(g), dtype=g.dtype) + a * H
    out, power = torch.zeros_like(g), torch.eye(len(g), dtype=g.dtype)
    for k in range(m):  # power = A^k
        out += a * power @ g + (a * power @ r[m - 1 - k] if m - 1 - k >= 1 else 0)
        power = A @ power
    return out


def delta_first_order(m: int, H: torch.Tensor, g: torch.Tensor, r: list[torch.Tensor],
                      a: float) -> torch.Tensor:
    """Negative control: the exact formula with every residual dropped (first-order form)."""
    return delta_exact(m, H, g, [torch.zeros_like(g)] * len(r), a)


@lemma2.check(kind="numeric", subject=delta_exact, control=delta_first_order,
              control_label="residuals dropped (first-order form)", tolerance=1e-10)
def lemma2_ce_attack(formula: Callable) -> str:
    """The summed identity on softmax-CE affine models (n = 6, c = 3), 25 raw ascent steps."""
    gen = torch.Generator().manual_seed(4)
    pairs = []
    for _ in range(20):
        W = torch.randn(6, 3, generator=gen, dtype=torch.float64) / 6**0.5
        x = torch.randn(6, generator=gen, dtype=torch.float64)
        label = int(torch.randint(3, (1,), generator=gen))

        def loss(v: torch.Tensor, W: torch.Tensor = W, label: int = label) -> torch.Tensor:
            return _ce(v @ W, label)

        def grad(v: torch.Tensor, loss: Callable = loss) -> torch.Tensor:
            return torch.autograd.functional.jacobian(loss, v)

        g, H = grad(x), torch.autograd.functional.hessian(loss, x)
        a, m, delta, r = 0.3, 25, torch.zeros_like(x), [torch.zeros_like(x)]
        for _ in range(m):
            delta = delta + a * grad(x + delta)
            r.append(grad(x + delta) - g - H @ delta)
        pairs.append((formula(m, H, g, r, a), delta))
    return worst_close(pairs, rtol=1e-10, what="delta^(25) vs the attack")




@lemma3.check(kind="experiment", subject="relu", control="softplus",
              control_label="softplus MLP trained the same way", tolerance=1e-12)
def lemma3_trained_on_digits(activation: str) -> str:
    """On an MLP trained on digits, H_x = J^T H_z J to round-off and rank H_x <= c - 1 = 9."""
    from advproof import curvature, data, models, train

    tr = data.load("digits", split="train", flatten=True, n=600)
    te = data.load("digits", split="test", flatten=True, n=20, dtype=torch.float64)
    net = models.MLP(64, (32,), 10, activation=activation,
                     generator=torch.Generator().manual_seed(0))
    train.train(net, tr.X, tr.y, num_epochs=15, lr=0.05, batch_size=32, seed=0, progress=False)
    net = net.double().eval()
    H = curvature.input_hessian(net, te.X, te.y)
    GN = curvature.gauss_newton_input_hessian(net, te.X, te.y)
    scale = torch.linalg.matrix_norm(curvature.logit_jacobian(net, te.X), ord=2) ** 2
    err = float(((H - GN).abs().amax(dim=(1, 2)) / scale).max())
    require(err <= 1e-12, f"max |H_x - J^T H_z J| / ||J||^2 = {fmt(err)} > 1e-12")
    rank = int((torch.linalg.eigvalsh(H).abs() > 1e-10 * scale[:, None]).sum(-1).max())
    require(rank <= 9, f"rank H_x = {rank} > c - 1 = 9")
    return f"20 digits test images: error/||J||^2 {fmt(err)}, max rank {rank} <= 9"
