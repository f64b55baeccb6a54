"""Cheng et al., chapters 3-4: what adversarial training does to the weights, and oscillation.

Assumption 3, Lemmas 4-5 and Theorems 3-6 of seed 000 (§3.2, §3.3, App. F-H), with 001's
Theorems 3-6 (Eq. 9-12), and the conclusions C.4-C.8 drawn from them. As in
:mod:`advproof.symbolic.cheng`, each formula is a function and each check is a property test that
takes the formula as its argument (STYLE §13).

The setting is the *linearised model* (LM) of the binary case: frozen gates (000 Assumption 1,
001 A2), a sigmoid score ``z`` (Assumption 2), and the gradient of the loss in ``z`` to first
order, ``g_z(z + dz) = g_z + H_z dz`` -- exact for a loss that is quadratic in ``z`` (MSE), the
first-order Taylor step of 000 Eq. 48 for the cross-entropy. The trained weight is the first
layer, ``h = W^T x + b`` with ``W in R^{n x D}``, ``z = g~_h^T h + const``.

Notation (000 App. F; 001 §3.2): ``g~_x = dz/dx = W g~_h``, ``g_h = g_z g~_h``,
``g_x = g_z g~_x``, ``g_W = x g_h^T``, ``lambda_1 = H_z ||g~_x||^2`` (the only non-zero
eigenvalue of ``H_x``), ``A = beta lambda_1``, ``E = e^A`` (infinite-step) or
``(1 + alpha lambda_1)^m`` (m steps), ``phi_ori = g~_x^T dg~_x^(ori) = -eta g~_x^T g_W g~_h``.
Used by: cheng.assump3, cheng.lemma4, cheng.lemma5, cheng.thm3, cheng.thm4, cheng.thm5,
cheng.thm6, cheng.c4 .. cheng.c8, cheng.table2, cheng.fig4, cheng.u1; the experiment
:mod:`advproof.experiments.cheng_training` (whose quick run the experiment checks of
cheng.table2, cheng.fig4 and cheng.u1 read).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import sympy as sp
import torch

from advproof.asserts import fmt, require, worst_close
from advproof.asserts import sym_equal as _sym_equal
from advproof.claims import CheckFailed, ClaimSet, Erratum
from advproof.threads import single_thread

CLAIMS = ClaimSet("cheng")

E, k, C = sp.symbols("E k C", positive=True)  # e^A (or (1 + alpha lambda)^m), C/||delta||, C
g_z = sp.Symbol("g_z", real=True, nonzero=True)
H_z, eta, beta, alpha, lam = sp.symbols("H_z eta beta alpha lambda", positive=True)
s = sp.Symbol("s", positive=True)  # s = z y > 0: the attack has not succeeded
c_delta = sp.Symbol("c", positive=True)  # delta = c g_x
z_ref = sp.Symbol("z_0", real=True)

# ---------------------------------------------------------------------------------------------
# The formulas (000 Eq. 60, 10, 11, 100, 12; 001 Eq. 9-11)


def lemma4_strong(x: sp.Matrix, g_x: sp.Matrix, g_h: sp.Matrix, Hz: sp.Expr, ngx2: sp.Expr,
                  E_: sp.Expr) -> sp.Matrix:
    """Dg_W = (E - 1) x g_h^T + (E^2 - E)/(H_z ||g~_x||^2) g_x g_h^T (000 Eq. 60 without H_x)."""
    return (E_ - 1) * x * g_h.T + (E_**2 - E_) / (Hz * ngx2) * g_x * g_h.T


def lemma4_wrong(x: sp.Matrix, g_x: sp.Matrix, g_h: sp.Matrix, Hz: sp.Expr, ngx2: sp.Expr,
                 E_: sp.Expr) -> sp.Matrix:
    """Negative control: (E - 1) for (E^2 - E) in the second term (the e^A of g_z dropped)."""
    return (E_ - 1) * x * g_h.T + (E_ - 1) / (Hz * ngx2) * g_x * g_h.T


def lemma5_strong(x: sp.Matrix, g_x: sp.Matrix, g_h: sp.Matrix, Hz: sp.Expr, ngx2: sp.Expr,
                  E_: sp.Expr, k_: sp.Expr) -> sp.Matrix:
    """Dg_W^(norm) = k(E-1) x g_h^T + k(E-1)[1 + k(E-1)]/(H_z ||g~_x||^2) g_x g_h^T
    (000 Eq. 100)."""
    return (k_ * (E_ - 1) * x * g_h.T
            + k_ * (E_ - 1) * (1 + k_ * (E_ - 1)) / (Hz * ngx2) * g_x * g_h.T)


def lemma5_no_bracket(x: sp.Matrix, g_x: sp.Matrix, g_h: sp.Matrix, Hz: sp.Expr,
                      ngx2: sp.Expr, E_: sp.Expr, k_: sp.Expr) -> sp.Matrix:
    """Negative control: Lemma 5 with the bracket [1 + k(E - 1)] dropped."""
    return k_ * (E_ - 1) * x * g_h.T + k_ * (E_ - 1) / (Hz * ngx2) * g_x * g_h.T


def thm3(phi_ori: sp.Expr, gz: sp.Expr, ngh2: sp.Expr, Hz: sp.Expr, E_: sp.Expr,
         eta_: sp.Expr) -> sp.Expr:
    """g~_x^T Dg~_x = (E - 1) phi_ori - eta g_z^2 ||g~_h||^2 (E^2 - E) / H_z (000 Eq. 10)."""
    return (E_ - 1) * phi_ori - eta_ * gz**2 * ngh2 / Hz * (E_**2 - E_)


def thm4(phi_ori: sp.Expr, gz: sp.Expr, ngh2: sp.Expr, Hz: sp.Expr, E_: sp.Expr,
         eta_: sp.Expr) -> sp.Expr:
    """g~_x^T Dg~_x^(adv) = E phi_ori - eta g_z^2 (E^2 - E) ||g~_h||^2 / H_z (000 Eq. 11)."""
    return E_ * phi_ori - eta_ * gz**2 * (E_**2 - E_) / Hz * ngh2


def thm5(phi_ori: sp.Expr, gz: sp.Expr, ngh2: sp.Expr, Hz: sp.Expr, E_: sp.Expr,
         eta_: sp.Expr, C_: sp.Expr, ndelta: sp.Expr) -> sp.Expr:
    """000 Eq. 12 / 001 Eq. 11: with q = (E - 1)/||delta||,
    C q phi_ori - C eta g_z^2 ||g~_h||^2 / H_z (q + C q^2)."""
    q = E_ / ndelta - 1 / ndelta
    return C_ * q * phi_ori - C_ * eta_ * gz**2 * ngh2 / Hz * (q + C_ * q**2)


def thm5_eq113(phi_ori: sp.Expr, gz: sp.Expr, ngh2: sp.Expr, Hz: sp.Expr, E_: sp.Expr,
               eta_: sp.Expr, C_: sp.Expr, ndelta: sp.Expr) -> sp.Expr:
    """000 Eq. 113 (and 114): Eq. 12 with the leading C of the second term dropped."""
    q = E_ / ndelta - 1 / ndelta
    return C_ * q * phi_ori - eta_ * gz**2 * ngh2 / Hz * (q + C_ * q**2)


# ---------------------------------------------------------------------------------------------
# The linearised model, built from its definition (ground truth for every symbolic check)


def sym_equal(lhs: sp.Expr | sp.Matrix, rhs: sp.Expr | sp.Matrix, what: str) -> str:
    """``asserts.sym_equal`` after cancelling the rational residual entrywise (fast, exact)."""
    if isinstance(lhs, sp.MatrixBase) or isinstance(rhs, sp.MatrixBase):
        lhs, rhs = sp.Matrix(lhs), sp.Matrix(rhs)
        if lhs.shape != rhs.shape:
            raise CheckFailed(f"{what}: shapes {lhs.shape} and {rhs.shape} differ")
        residual = (lhs - rhs).applyfunc(_numerator)
    else:
        residual = sp.Matrix([_numerator(lhs - rhs)])
    bad = [e for e in residual if e != 0]
    if bad:  # no simplify of a large non-zero residual: report its size and a few terms
        raise CheckFailed(f"{what}: numerator of the residual is not 0 "
                          f"({len(sp.Add.make_args(bad[0]))} terms, e.g. {sp.sstr(bad[0])[:120]})")
    return _sym_equal(sp.Integer(0), sp.Integer(0), what)


def _numerator(expr: sp.Expr) -> sp.Expr:
    """The expanded numerator of ``expr`` over a common denominator: 0 iff ``expr`` is 0."""
    return sp.expand(sp.fraction(sp.together(expr))[0])


def _vec(name: str, n: int) -> sp.Matrix:
    return sp.Matrix(sp.symbols(f"{name}1:{n + 1}", real=True))


def lm_setting(n: int, D: int) -> dict:
    """A symbolic binary LM with ``W: n x D``: gradients differentiated from the loss itself.

    ``z(W; x') = g~_h^T (W^T x' + b)``; the loss around ``z_0 = z(W; x)`` is
    ``g_z (z - z_0) + H_z (z - z_0)^2 / 2`` (first-order gradient). The perturbation is
    ``delta = c g_x`` with ``c = (E - 1)/lambda_1`` (Theorems 1-2 in the rank-one case, checked
    in ``lemma4_step1``), i.e. ``E = 1 + c lambda_1``: written that way every residual is a
    polynomial over ``H_z ||g~_x||^2`` and ``cancel`` decides it exactly and fast.
    """
    x, b, gth = _vec("x", n), _vec("b", D), _vec("gt", D)
    W = sp.Matrix(n, D, sp.symbols(f"w1:{n * D + 1}", real=True))
    gtx = W * gth
    ngx2 = (gtx.T * gtx)[0]
    g_x, g_h = g_z * gtx, g_z * gth
    delta = c_delta * g_x
    z0 = (gth.T * (W.T * x + b))[0]

    xs = _vec("xi", n)  # the input as data: delta is held fixed when differentiating in W

    def grad_W(xp: sp.Matrix) -> sp.Matrix:
        dz = (gth.T * (W.T * xs + b))[0] - z_ref  # z_ref: the expansion point, a constant
        loss = g_z * dz + H_z * dz**2 / 2
        at = {z_ref: z0, **dict(zip(xs, xp, strict=True))}
        return sp.Matrix(n, D, lambda i, j: sp.diff(loss, W[i, j]).subs(at))

    return {"x": x, "W": W, "gth": gth, "gtx": gtx, "ngx2": ngx2, "ngh2": (gth.T * gth)[0],
            "g_x": g_x, "g_h": g_h, "delta": delta, "grad_W": grad_W,
            "E": 1 + c_delta * H_z * ngx2}


SHAPES = ((2, 3), (2, 1))  # (n, D): D > n makes W^T W singular


def _phi(lm: dict, dgW: sp.Matrix) -> sp.Expr:
    """``-eta g~_x^T dg_W g~_h``: a weight-gradient change read along g~_x (000 Eq. 10)."""
    return (-eta * lm["gtx"].T * dgW * lm["gth"])[0]


# =============================================================================================
# Assumption 3 (000 App. F)


def cauchy_binet(W: sp.Matrix) -> sp.Expr:
    """det(W^T W) = sum over D-subsets S of the rows of det(W_S)^2 (0 when D > n)."""
    n, D = W.shape
    return sum((W.extract(list(rows), list(range(D))).det() ** 2
                for rows in itertools.combinations(range(n), D)), sp.Integer(0))


def hadamard_product(W: sp.Matrix) -> sp.Expr:
    """Negative control: prod_j ||W_:j||^2 (equal to det(W^T W) only for orthogonal columns)."""
    return sp.prod([(W[:, j].T * W[:, j])[0] for j in range(W.shape[1])])


def pairwise_independent(W: np.ndarray) -> bool:
    """The printed premise, read as intended: every pair of columns is linearly independent."""
    return all(np.linalg.matrix_rank(W[:, [i, j]]) == 2
               for i, j in itertools.combinations(range(W.shape[1]), 2))


def full_column_rank(W: np.ndarray) -> bool:
    """The corrected premise: the D columns are linearly independent (needs D <= n)."""
    return int(np.linalg.matrix_rank(W)) == W.shape[1]


assump3 = CLAIMS.claim(
    "cheng.assump3",
    title="W^T W is invertible (misworded, false for D > n, and not needed)",
    sources=("000 Assumption 3 (App. F)",),
    kind="assumption",
    statement=r"""
"Given a ReLU network $f$, let $W = W_j^T\Sigma_{j-1}\cdots\Sigma_2W_2^T\Sigma_1W_1^T \in
\mathbb R^{n\times D}$. Because each column of $W^TW$ is a high-dimensional vector, we can roughly
consider that any pair of columns in $W^TW$ is linearly dependent. Thus, $W^TW$ is a full rank
matrix, and there exists $(W^TW)^{-1}$." (000 App. F). Exactly: $\det(W^TW) = \sum_{|S| = D}
\det(W_{S,:})^2$ (Cauchy-Binet), so $W^TW$ is invertible iff $W$ has full column rank, which
needs $D \le n$; Lemma 4 and Theorems 3-5 hold without it.""",
    erratum=Erratum(
        printed=r"\text{any pair of columns of } W^TW \text{ is linearly dependent}"
                r"\;\Rightarrow\; (W^TW)^{-1} \text{ exists}",
        problem=(
            "'Dependent' should read 'independent', and even then pairwise independence does "
            "not give full rank: W = [[1, 0, 1], [0, 1, 1]] (n = 2, D = 3) has pairwise "
            "independent columns and det(W^T W) = 0. W^T W is invertible iff W has full column "
            "rank, impossible when the width D exceeds n, or when a gate of an earlier layer "
            "removes columns. The assumption is not needed: Lemma 4 holds for every W."
        ),
        corrected=r"(W^TW)^{-1} \text{ exists} \iff \operatorname{rank} W = D \;(\Rightarrow D"
                  r" \le n);"
                  r"\ \text{Lemma 4 and Theorems 3--5 do not use it}",
    ),
)


def _implies_invertible(premise: Callable[[np.ndarray], bool]) -> str:
    rng = np.random.default_rng(0)
    cases = [np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])]
    cases += [rng.normal(size=(int(rng.integers(1, 5)), int(rng.integers(1, 5))))
              for _ in range(200)]
    used = 0
    for W in cases:
        if premise(W):
            used += 1
            sv = np.linalg.svd(W.T @ W, compute_uv=False)
            require(sv.min() > 1e-10 * sv.max(),
                    f"W = {np.round(W, 2).tolist()} satisfies the premise, W^T W is singular")
    return f"the premise implies an invertible W^T W on all {used} of {len(cases)} matrices"


@assump3.check(kind="numeric", subject=pairwise_independent, control=full_column_rank,
               refutes=True, tolerance=1e-10,
               control_label="full column rank (must not be refuted)")
def assump3_pairwise_is_not_enough(premise: Callable[[np.ndarray], bool]) -> str:
    """Refutation: pairwise independent columns do not make W^T W invertible (n = 2, D = 3)."""
    return _implies_invertible(premise)


@assump3.check(kind="symbolic", subject=cauchy_binet, control=hadamard_product,
               control_label="Hadamard's product of column norms")
def assump3_cauchy_binet(formula: Callable[[sp.Matrix], sp.Expr]) -> str:
    """det(W^T W) equals the formula for symbolic W of shapes 3x2, 2x2 and 2x3 (then 0)."""
    for n, D in ((3, 2), (2, 2), (2, 3)):
        W = sp.Matrix(n, D, sp.symbols(f"w1:{n * D + 1}", real=True))
        sym_equal((W.T * W).det(), formula(W), f"det(W^T W) - formula, {n}x{D}")
    return "det(W^T W) = sum_S det(W_S)^2 for 3x2, 2x2, 2x3 (identically 0 when D > n)"


# =============================================================================================
# Lemma 4 (000 App. F): the change of the weight gradient, strong form

lemma4 = CLAIMS.claim(
    "cheng.lemma4",
    title="The change of the weight gradient under the perturbation (strong form, any D)",
    sources=("000 Lemma 4 (App. F, Eq. 60)",),
    kind="lemma",
    uses=("cheng.lemma3", "cheng.thm2"),
    statement=r"""
With $\mathcal A = \beta H_z\|\tilde g_x\|^2$,
$H_x\Delta g_W = (e^{\mathcal A}-1)H_x x g_h^T + \frac{e^{2\mathcal A}-e^{\mathcal A}}{H_z\|\tilde
g_x\|^2}H_x g_x g_h^T$ (000 Eq. 60). In the linearised binary model the $H_x$ factor can be
dropped and no assumption on $W$ is needed:
$\Delta g_W = (e^{\mathcal A}-1)\,x g_h^T + \frac{e^{2\mathcal A}-e^{\mathcal A}}{H_z\|\tilde
g_x\|^2}\,g_x g_h^T$ for every $W \in \mathbb R^{n\times D}$; with $m$ steps,
$e^{\mathcal A}$ becomes $(1+\alpha\lambda_1)^m$.""",
    erratum=Erratum(
        printed=r"(W^TW)^{-1} W^TW H_h\Delta h = \ldots \Rightarrow (H_h\Delta h)^T ="
                r" [(1+\alpha\mathcal B)^m - 1]\,g_h^T \quad\text{(Eq. 71-72, by Assumption 3)}",
        problem=(
            "The proof cancels W^T W with its inverse (Assumption 3), which does not exist when "
            "D > n: for a 2 x 3 W the printed route cannot be taken (the check "
            "lemma4.step2a). The conclusion is still right, by a direct route: "
            "H_h dh = H_z g~_h (g~_x^T delta) = (e^A - 1) g_h."
        ),
        corrected=r"H_h\Delta h = H_z\tilde g_h\,\tilde g_x^T\hat\delta = (e^{\mathcal A}-1)g_h,"
                  r"\qquad \Delta g_W = (e^{\mathcal A}-1)xg_h^T + \frac{e^{2\mathcal A}"
                  r"-e^{\mathcal A}}{H_z\|\tilde g_x\|^2}g_xg_h^T",
    ),
)


def delta_coefficient(lam_: sp.Expr, E_: sp.Expr) -> sp.Expr:
    """delta = c g_x with c = (E - 1)/lambda_1 (Theorem 2 in the rank-one case)."""
    return (E_ - 1) / lam_


@lemma4.step(1, "Theorem 2 in the binary case: delta = (e^A - 1)/lambda_1 g_x",
             subject=delta_coefficient, control=lambda lam_, E_: E_ / lam_,
             control_label="e^A/lambda_1 (the -1 dropped)", uses=("cheng.thm2", "cheng.thm1"))
def lemma4_step1(coef: Callable) -> str:
    """H_x g_x = lambda_1 g_x; c(e^{beta lambda}) solves the flow, c((1+alpha lambda)^t) the
    steps."""
    lm = lm_setting(2, 3)
    H_x = H_z * lm["gtx"] * lm["gtx"].T
    lam_ = H_z * lm["ngx2"]
    sym_equal(H_x * lm["g_x"], lam_ * lm["g_x"], "H_x g_x - lambda_1 g_x")
    flow = coef(lam, sp.exp(beta * lam))  # d delta/d beta = g_x + H_x delta, per unit g_x
    sym_equal(sp.diff(flow, beta), 1 + lam * flow, "flow plug-back")
    sym_equal(flow.subs(beta, 0), 0, "delta(0)")
    for t in range(1, 5):  # delta^(t+1) = delta^(t) + alpha (g_x + H_x delta^(t))
        now, nxt = coef(lam, (1 + alpha * lam) ** t), coef(lam, (1 + alpha * lam) ** (t + 1))
        sym_equal(nxt, now + alpha * (1 + lam * now), f"ascent step t = {t}")
    return "H_x g_x = lambda_1 g_x (2x3 W); solves the flow and t = 1..4 ascent steps exactly"


@lemma4.step(2, "The logit moves by dz = g~_x^T delta = (E - 1) g_z / H_z, so g_z -> E g_z",
             subject=lambda gz, E_: E_ * gz, control=lambda gz, E_: (E_ - 1) * gz,
             control_label="(E - 1) g_z")
def lemma4_step2(formula: Callable) -> str:
    """g_z + H_z g~_x^T delta equals formula(g_z, E) for symbolic W of three shapes."""
    for n, D in SHAPES:
        lm = lm_setting(n, D)
        dz = (lm["gtx"].T * lm["delta"])[0]
        sym_equal(g_z + H_z * dz, formula(g_z, lm["E"]), f"g_z(x + delta) - formula, {n}x{D}")
    return "g_z(z + dz) = E g_z for W of shapes 2x3, 2x1"


def route_via_inverse(lm: dict) -> sp.Matrix:
    """000 Eq. 71-72: H_h dh = (W^T W)^{-1} [W^T W H_h dh] (needs Assumption 3)."""
    W, gth = lm["W"], lm["gth"]
    H_h = H_z * gth * gth.T
    G = W.T * W
    if G.det() == 0:
        raise CheckFailed(f"W^T W ({G.shape[0]}x{G.shape[1]}) is singular: no inverse to cancel")
    return G.inv() * (G * H_h * W.T * lm["delta"])


def route_direct(lm: dict) -> sp.Matrix:
    """The direct route: H_h dh = H_z g~_h (g~_x^T delta), no inverse."""
    return H_z * lm["gth"] * (lm["gtx"].T * lm["delta"])


@lemma4.step("2a", "As printed: cancel W^T W by Assumption 3 (000 Eq. 71-72)", refutes=True,
             subject=route_via_inverse, control=route_direct,
             control_label="the direct route (must not be refuted)", uses=("cheng.assump3",))
def lemma4_step2a(route: Callable[[dict], sp.Matrix]) -> str:
    """H_h dh = (E - 1) g_h by the given route, for W of shapes 2x3 (D > n) and 3x2."""
    for n, D in ((2, 3), (3, 2)):
        lm = lm_setting(n, D)
        sym_equal(route(lm), (lm["E"] - 1) * lm["g_h"], f"H_h dh - (E - 1) g_h, {n}x{D}")
    return "H_h dh = (E - 1) g_h for 2x3 and 3x2 W"


@lemma4.step(3, "Assemble: g_W^(adv) = (x + delta)(E g_h)^T, minus g_W = x g_h^T",
             subject=lemma4_strong, control=lemma4_wrong,
             control_label="(E - 1) for (E^2 - E) in the second term")
def lemma4_step3(formula: Callable) -> str:
    """The weight gradient differentiated at x + delta minus at x equals the strong form."""
    for n, D in SHAPES:
        lm = lm_setting(n, D)
        dgW = lm["grad_W"](lm["x"] + lm["delta"]) - lm["grad_W"](lm["x"])
        sym_equal(dgW, formula(lm["x"], lm["g_x"], lm["g_h"], H_z, lm["ngx2"], lm["E"]),
                  f"Dg_W - strong form, {n}x{D}")
    return "Dg_W = strong form for W of shapes 2x3 (W^T W singular), 2x1"


def lemma4_printed(x, g_x, g_h, Hz, ngx2, E_, H_x):
    """000 Eq. 60: H_x Dg_W = (E - 1) H_x x g_h^T + (E^2 - E)/(H_z||g~_x||^2) H_x g_x g_h^T."""
    return H_x * lemma4_strong(x, g_x, g_h, Hz, ngx2, E_)


@lemma4.check(kind="symbolic", subject=lemma4_printed,
              control=lambda x, g_x, g_h, Hz, ngx2, E_, H_x: H_x * lemma4_wrong(
                  x, g_x, g_h, Hz, ngx2, E_), control_label="(E - 1) for (E^2 - E)")
def lemma4_printed_form(formula: Callable) -> str:
    """The printed form (with the H_x factor, Eq. 60) holds in the LM for a 1x3 W."""
    lm = lm_setting(1, 3)
    H_x = H_z * lm["gtx"] * lm["gtx"].T
    dgW = lm["grad_W"](lm["x"] + lm["delta"]) - lm["grad_W"](lm["x"])
    return sym_equal(H_x * dgW,
                     formula(lm["x"], lm["g_x"], lm["g_h"], H_z, lm["ngx2"], lm["E"], H_x),
                     "H_x Dg_W - Eq. 60")


# ---------------------------------------------------------------------------------------------
# Numeric form on nets: the first layer of a frozen-gate MLP, MSE (quadratic in z) and m steps


def _net_case(seed: int, depth: int = 2, n: int = 7, width: int = 9):
    """A binary frozen-gate MLP (float64), its input x (1, n) and label, from ``seed``."""
    from advproof import models

    gen = torch.Generator().manual_seed(seed)
    net = models.MLP(n, (width,) * depth, 1, generator=gen).double()
    x = torch.randn(1, n, generator=gen, dtype=torch.float64)
    return models.frozen_gate(net, x), net, x, torch.tensor([1.0], dtype=torch.float64)


def first_layer_quantities(model, x: torch.Tensor, y: torch.Tensor, loss: str) -> dict:
    """g_W = dL/dW_1 (n x D), g~_x, g~_h, g_z, H_z at x for a single-output model (frozen gates).

    ``W = W_1 = fc1.weight^T``; ``g~_h = dz/dh`` with h the first-layer pre-activation.
    """
    from advproof import attacks, curvature

    first = model.linears[0]
    x = x.detach()
    with torch.enable_grad():
        h = first(x).detach().requires_grad_(True)
        z = _from_first(model, h)
        gt_h = torch.autograd.grad(z.sum(), h)[0][0]
    zv = z.detach()
    lf = attacks.loss_fn(loss)
    zl = zv.detach().requires_grad_(True)
    with torch.enable_grad():
        g_zv = torch.autograd.grad(lf(zl, y).sum(), zl)[0].reshape(())
    H_zv = curvature.logit_hessian_of_loss(zv, y, loss=loss).reshape(())
    return {"gt_x": first.weight.detach().T @ gt_h, "gt_h": gt_h, "g_z": g_zv, "H_z": H_zv,
            "g_W": weight_grad(model, x, y, loss)}


def _from_first(model, h: torch.Tensor) -> torch.Tensor:
    """Logits of a (frozen-gate) MLP from its first pre-activation h."""
    masks = getattr(model, "masks", None)
    layers = model.linears
    for i, linear in enumerate(layers[1:]):
        act = h * masks[i].to(h.dtype) if masks is not None else torch.relu(h)
        h = linear(act)
    return h


def weight_grad(model, x: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """dL(f(x), y)/dW_1 as an (n, D) matrix (W_1 = fc1.weight^T), summed over the batch."""
    from advproof import attacks

    first = model.linears[0].weight
    with torch.enable_grad():
        value = attacks.loss_fn(loss)(model(x), y).sum()
        return torch.autograd.grad(value, first)[0].T


def _thm_on_net(formula: Callable, seeds: range, steps: int, total: bool) -> list[tuple]:
    """(real, predicted) phi for raw ascent of ``steps`` steps on frozen MSE nets."""
    from advproof import attacks

    pairs, eta_ = [], 0.1
    for seed in seeds:
        frozen, _, x, y = _net_case(seed)
        q = first_layer_quantities(frozen, x, y, "mse")
        lam1 = float(q["H_z"] * q["gt_x"] @ q["gt_x"])
        a = 0.8 / lam1 / steps  # A = beta lambda_1 = 0.8
        delta = attacks.raw_ascent(frozen, x, y, alpha=a, steps=steps, loss="mse")
        g_adv = weight_grad(frozen, x + delta, y, "mse")
        change = g_adv if total else g_adv - q["g_W"]
        real = float(-eta_ * q["gt_x"] @ change @ q["gt_h"])
        phi_ori = float(-eta_ * q["gt_x"] @ q["g_W"] @ q["gt_h"])
        pred = formula(phi_ori, float(q["g_z"]), float(q["gt_h"] @ q["gt_h"]), float(q["H_z"]),
                       (1 + a * lam1) ** steps, eta_)
        pairs.append((real, pred))
    return pairs


def _exp_form(formula: Callable, steps: int = 4) -> Callable:
    """The infinite-step form at the same beta: E = e^A instead of (1 + alpha lambda)^m."""
    def wrapped(phi, gz, ngh2, Hz, E_, eta_):
        return formula(phi, gz, ngh2, Hz, math.exp(_A_from(E_, steps)), eta_)
    return wrapped


def _A_from(E_: float, steps: int) -> float:
    """A = m alpha lambda from E = (1 + alpha lambda)^m."""
    return steps * (E_ ** (1 / steps) - 1)


@lemma4.check(kind="numeric", subject="frozen", control="free", tolerance=1e-10,
              control_label="free gates on a net whose attack flips a gate")
def lemma4_on_nets(gates: str) -> str:
    """First layer of 2-hidden-layer MLPs, MSE loss, 4 raw-ascent steps: Dg_W = finite-m form."""
    from advproof import attacks

    pairs = []
    for seed in range(10):
        frozen, net, x, y = _net_case(seed)
        q = first_layer_quantities(frozen, x, y, "mse")
        lam1 = float(q["H_z"] * q["gt_x"] @ q["gt_x"])
        a = 3.0 / lam1 / 4
        model = frozen if gates == "frozen" else net
        delta = attacks.raw_ascent(model, x, y, alpha=a, steps=4, loss="mse")
        dgW = weight_grad(model, x + delta, y, "mse") - q["g_W"]
        g_h, g_x = q["g_z"] * q["gt_h"], q["g_z"] * q["gt_x"]
        Em = (1 + a * lam1) ** 4
        pred = ((Em - 1) * torch.outer(x[0], g_h)
                + (Em**2 - Em) / lam1 * torch.outer(g_x, g_h))
        pairs.append((dgW, pred))
    return worst_close(pairs, rtol=1e-10, what=f"Dg_W vs finite-m Lemma 4 ({gates} gates)")


# =============================================================================================
# Theorem 3 (000 Eq. 10, App. F.1; 001 Eq. 9, App. G)


def effective_update(layer: int, seed: int = 0) -> float:
    """Rel. gap between the change of W_eff = W_1 S_1 ... W_layer under SGD on W_layer and -eta g_W.

    3-layer frozen-gate net ``z = u^T S_2 (W_2^T S_1 (W_1^T x + b_1) + b_2)``; ``W_eff`` is 000
    App. F's ``W`` for ``layer`` (so ``h = W_eff^T x + ...`` is layer ``layer``'s pre-activation);
    ``g_W = x g_h^T`` is the gradient the theorems use. 0 means the theorems' update is exact.
    """
    rng = np.random.default_rng(seed)
    n, D1, D2 = 4, 5, 3
    W1, W2 = rng.normal(size=(n, D1)), rng.normal(size=(D1, D2))
    b1, b2, u = rng.normal(size=D1), rng.normal(size=D2), rng.normal(size=D2)
    x = rng.normal(size=n)
    S1 = np.diag((W1.T @ x + b1 > 0).astype(float))
    S2 = np.diag((W2.T @ S1 @ (W1.T @ x + b1) + b2 > 0).astype(float))
    g_z, eta_ = -0.3, 0.1
    if layer == 1:
        g_h = g_z * S1 @ W2 @ S2 @ u  # dL/dh_1 through the frozen gates
        W_eff_change = -eta_ * np.outer(x, g_h)
    elif layer == 2:
        g_h = g_z * S2 @ u
        x2 = S1 @ (W1.T @ x + b1)  # input of layer 2
        W_eff_change = W1 @ S1 @ (-eta_ * np.outer(x2, g_h))
    else:
        raise ValueError(f"layer must be 1 or 2, got {layer!r}")
    target = -eta_ * np.outer(x, g_h)
    return float(np.linalg.norm(W_eff_change - target) / np.linalg.norm(target))


thm3_claim = CLAIMS.claim(
    "cheng.thm3",
    title="The additional effect of adversarial training on g~_x",
    sources=("000 Theorem 3 (Eq. 10; App. F.1)", "001 Theorem 3 (Eq. 9; App. G, not in the seed)"),
    kind="theorem",
    uses=("cheng.lemma4", "cheng.lemma3", "cheng.lemma1"),
    statement=r"""
Under Assumptions 1-2 (001: Lemma 1, A2, binary sigmoid), with
$\Delta\tilde g_x = -\eta\Delta g_W\tilde g_h$ and $\Delta\tilde g_x^{(ori)} = -\eta g_W\tilde g_h$,
$\tilde g_x^T\Delta\tilde g_x = -\eta\tilde g_x^T\Delta g_W\tilde g_h = (e^{\mathcal A}-1)\,
\tilde g_x^T\Delta\tilde g_x^{(ori)} - \frac{\eta g_z^2\|\tilde g_h\|^2}{H_z}(e^{2\mathcal A}
-e^{\mathcal A})$, $\mathcal A = \beta H_z\|\tilde g_x\|^2$ (001: $\bar H_z$ in place of $H_z$).
Exact in the linearised model for $W = W_1$ (001's choice); with $m$ steps
$e^{\mathcal A} \to (1+\alpha\lambda_1)^m$ exactly for a loss quadratic in $z$.""",
    erratum=Erratum(
        printed=r"W = W_j^T\Sigma_{j-1}\cdots\Sigma_1W_1^T \in \mathbb R^{n\times D},\ "
                r"\text{adversarial"
                r" training changes } W \text{ by } -\eta g_W^{(adv)} "
                r"\text{ (000 App. F, footnote 1)}",
        problem=(
            "The product printed for W is D x n, not n x D, and for a deeper layer j > 1 the SGD "
            "update of W_j does not move the effective W = W_1 S_1 ... W_j by -eta g_W: it moves "
            "it by W_1 S_1 (-eta g_{W_j}), which differs (relative gap about 1 on a random "
            "3-layer net; check thm3.step3). The theorems are exact for the first layer only."
        ),
        corrected=r"W = W_1 \in \mathbb R^{n\times D},\ h = W^Tx + b_1"
                  r"\ \text{(001's choice); for } j>1 \text{ the update of } W_j \text{ is not } "
                  r"-\eta g_W",
    ),
)


@thm3_claim.check(kind="symbolic", subject=thm3, control=thm4,
            control_label="the total effect (Theorem 4) for the additional one")
def thm3_linearised_model(formula: Callable) -> str:
    """-eta g~_x^T Dg_W g~_h from the LM's own gradients equals the formula (2 shapes of W)."""
    for n, D in SHAPES:
        lm = lm_setting(n, D)
        dgW = lm["grad_W"](lm["x"] + lm["delta"]) - lm["grad_W"](lm["x"])
        phi_ori = _phi(lm, lm["grad_W"](lm["x"]))
        sym_equal(_phi(lm, dgW), formula(phi_ori, g_z, lm["ngh2"], H_z, lm["E"], eta),
                  f"phi - formula, {n}x{D}")
    return "exact for W of shapes 2x3, 2x1, E = e^A or (1 + alpha lambda)^m"


@thm3_claim.step(1, "Contract Lemma 4 with -eta g~_x^T (.) g~_h", subject=thm3, control=thm4,
           control_label="the total effect (Theorem 4)", uses=("cheng.lemma4",))
def thm3_step1(formula: Callable) -> str:
    """-eta g~_x^T [strong Lemma 4] g~_h, with g_x = g_z g~_x and g_h = g_z g~_h, is the formula."""
    lm = lm_setting(2, 3)
    dgW = lemma4_strong(lm["x"], lm["g_x"], lm["g_h"], H_z, lm["ngx2"], E)
    phi_ori = _phi(lm, lm["x"] * lm["g_h"].T)
    return sym_equal(_phi(lm, dgW), formula(phi_ori, g_z, lm["ngh2"], H_z, E, eta),
                     "contracted Lemma 4 - formula")


@thm3_claim.step(2, "m steps on a quadratic loss: E = (1 + alpha lambda_1)^m is exact",
                 numeric=True,
           subject=thm3, control=_exp_form(thm3),
           control_label="e^A at the same beta (the infinite-step form)", tolerance=1e-10,
           uses=("cheng.thm1",))
def thm3_step2(formula: Callable) -> str:
    """Real phi on frozen-gate MSE nets (first layer, 4 steps, A = 0.8) vs the formula."""
    return worst_close(_thm_on_net(formula, range(8), 4, total=False), rtol=1e-10,
                       what="phi real vs formula")


@thm3_claim.step(3, "As printed (000 App. F): a deeper layer's update moves W by -eta g_W",
           refutes=True, numeric=True, subject=2, control=1, tolerance=1e-12,
           control_label="the first layer, W = W_1 (must not be refuted)")
def thm3_step3(layer: int) -> str:
    """The SGD update of W_layer changes W_eff = W_1 S_1 ... W_layer by exactly -eta x g_h^T."""
    gaps = [effective_update(layer, seed) for seed in range(5)]
    require(max(gaps) <= 1e-12, f"layer {layer}: rel. gap up to {fmt(max(gaps))} (5 nets)")
    return f"layer {layer}: the update is -eta g_W exactly (max rel. gap {fmt(max(gaps))})"


# =============================================================================================
# Theorem 4

thm4_claim = CLAIMS.claim(
    "cheng.thm4",
    title="The total effect of adversarial training on g~_x",
    sources=("000 Theorem 4 (Eq. 11; App. G)", "001 Theorem 4 (Eq. 10; App. H, not in the seed)"),
    kind="theorem",
    uses=("cheng.thm3",),
    statement=r"""
With $\Delta\tilde g_x^{(adv)} = -\eta g_W^{(adv)}\tilde g_h$:
$\tilde g_x^T\Delta\tilde g_x^{(adv)} = -\eta\tilde g_x^Tg_W^{(adv)}\tilde g_h = e^{\mathcal A}\,
\tilde g_x^T\Delta\tilde g_x^{(ori)} - \frac{\eta g_z^2(e^{2\mathcal A}-e^{\mathcal A})}{H_z}
\|\tilde g_h\|^2$ (001 prints $\tilde H_z$ for $\bar H_z$ in the denominator). Exact in the
linearised model; with $m$ steps $e^{\mathcal A} \to (1+\alpha\lambda_1)^m$.""",
)


@thm4_claim.check(kind="symbolic", subject=thm4, control=thm3,
                  control_label="the additional effect (Theorem 3)")
def thm4_linearised_model(formula: Callable) -> str:
    """-eta g~_x^T g_W^(adv) g~_h from the LM's gradients equals the formula (2 shapes of W)."""
    for n, D in SHAPES:
        lm = lm_setting(n, D)
        phi_ori = _phi(lm, lm["grad_W"](lm["x"]))
        sym_equal(_phi(lm, lm["grad_W"](lm["x"] + lm["delta"])),
                  formula(phi_ori, g_z, lm["ngh2"], H_z, lm["E"], eta),
                  f"phi_adv - formula, {n}x{D}")
    return "exact for W of shapes 2x3, 2x1"


@thm4_claim.step(1, "Add the vanilla effect to Theorem 3 (000 Eq. 93-94)", subject=thm4,
                 control=lambda *a: thm4(*a) - a[0], control_label="vanilla effect not added",
                 uses=("cheng.thm3",))
def thm4_step1(formula: Callable) -> str:
    """Theorem 3 + phi_ori equals the formula."""
    phi = sp.Symbol("phi_ori", real=True)
    ngh2 = sp.Symbol("n_h", positive=True)
    return sym_equal(thm3(phi, g_z, ngh2, H_z, E, eta) + phi,
                     formula(phi, g_z, ngh2, H_z, E, eta), "Thm 3 + phi_ori - formula")


@thm4_claim.step(2, "One line: g_z(z + dz) = e^A g_z, so g_W^(adv) = e^A (x + delta) g_h^T",
                 subject=thm4, control=thm3, control_label="Theorem 3's form",
                 uses=("cheng.lemma4",))
def thm4_step2(formula: Callable) -> str:
    """-eta g~_x^T [E (x + delta) g_h^T] g~_h equals the formula (W: 2 x 3)."""
    lm = lm_setting(2, 3)
    g_adv = lm["E"] * (lm["x"] + lm["delta"]) * lm["g_h"].T
    phi_ori = _phi(lm, lm["x"] * lm["g_h"].T)
    return sym_equal(_phi(lm, g_adv), formula(phi_ori, g_z, lm["ngh2"], H_z, lm["E"], eta),
                     "one-line form - formula")


@thm4_claim.step(3, "m steps on a quadratic loss: E = (1 + alpha lambda_1)^m is exact",
                 numeric=True, subject=thm4, control=_exp_form(thm4), tolerance=1e-10,
                 control_label="e^A at the same beta", uses=("cheng.thm1",))
def thm4_step3(formula: Callable) -> str:
    """Real total effect on frozen-gate MSE nets (first layer, 4 steps, A = 0.8) vs the formula."""
    return worst_close(_thm_on_net(formula, range(8), 4, total=True), rtol=1e-10,
                       what="phi_adv real vs formula")


# =============================================================================================
# Lemma 5 and Theorem 5: normalised perturbations delta^(norm) = C delta / ||delta||

lemma5 = CLAIMS.claim(
    "cheng.lemma5",
    title="The change of the weight gradient under a normalised perturbation",
    sources=("000 Lemma 5 (App. H, Eq. 100)",),
    kind="lemma",
    uses=("cheng.lemma4", "cheng.cor1"),
    statement=r"""
For $\hat\delta^{(norm)} = C\hat\delta/\|\hat\delta\|$ (Corollary 1), with $k = C/\|\hat\delta\|$:
$H_x\Delta g_W^{(norm)} = k(e^{\mathcal A}-1)H_xxg_h^T + \frac{k(e^{\mathcal A}-1)}{H_z\|\tilde
g_x\|^2}\big[1 + k(e^{\mathcal A}-1)\big]H_xg_xg_h^T$ (000 Eq. 100). In the linearised model
the identity holds without the factor $H_x$ and without Assumption 3.""",
)


@lemma5.step(1, "The normalised perturbation moves z by k dz, so g_z -> [1 + k(E - 1)] g_z",
             subject=lambda gz, E_, k_: (1 + k_ * (E_ - 1)) * gz,
             control=lambda gz, E_, k_: k_ * E_ * gz, control_label="k E g_z",
             uses=("cheng.cor1",))
def lemma5_step1(formula: Callable) -> str:
    """g_z + H_z g~_x^T (k delta) equals formula(g_z, E, k) (W: 2 x 3 and 3 x 2)."""
    for n, D in ((2, 3), (3, 2)):
        lm = lm_setting(n, D)
        dz = (lm["gtx"].T * k * lm["delta"])[0]
        sym_equal(g_z + H_z * dz, formula(g_z, lm["E"], k), f"g_z(x + k delta) - formula, {n}x{D}")
    return "g_z(z + k dz) = [1 + k(E - 1)] g_z for 2x3 and 3x2 W"


@lemma5.step(2, "Assemble: (x + k delta)[1 + k(E - 1)] g_h^T - x g_h^T",
             subject=lemma5_strong, control=lemma5_no_bracket,
             control_label="bracket [1 + k(E - 1)] dropped", uses=("cheng.lemma4",))
def lemma5_step2(formula: Callable) -> str:
    """The weight gradient at x + k delta minus at x equals the strong form (2 shapes of W)."""
    for n, D in SHAPES:
        lm = lm_setting(n, D)
        dgW = lm["grad_W"](lm["x"] + k * lm["delta"]) - lm["grad_W"](lm["x"])
        sym_equal(dgW, formula(lm["x"], lm["g_x"], lm["g_h"], H_z, lm["ngx2"], lm["E"], k),
                  f"Dg_W^(norm) - strong form, {n}x{D}")
    return "Dg_W^(norm) = strong form for W of shapes 2x3, 2x1"


def _norm_delta(lm: dict) -> sp.Expr:
    """||delta|| = c |g_z| ||g~_x|| = (E - 1)/lambda_1 |g_z| ||g~_x|| (Theorem 2, rank one)."""
    return c_delta * sp.Abs(g_z) * sp.sqrt(lm["ngx2"])


thm5_claim = CLAIMS.claim(
    "cheng.thm5",
    title="The effect of adversarial training on normalised perturbations",
    sources=("000 Theorem 5 (Eq. 12; 'Theorem 7' in App. H.1, Eq. 110; App. H.2)",
             "001 Theorem 5 (Eq. 11; App. I, not in the seed)"),
    kind="theorem",
    uses=("cheng.lemma5", "cheng.thm3", "cheng.thm2"),
    statement=r"""
$\tilde g_x^T\Delta\tilde g_x^{(norm)} = C\big(\frac{e^{\mathcal A}}{\|\hat\delta\|} -
\frac{1}{\|\hat\delta\|}\big)\tilde g_x^T\Delta\tilde g_x^{(ori)} - C\frac{\eta g_z^2\|\tilde g_h
\|^2}{H_z}\Big(\frac{e^{\mathcal A}}{\|\hat\delta\|} - \frac{1}{\|\hat\delta\|} + C\big(
\frac{e^{\mathcal A}}{\|\hat\delta\|} - \frac{1}{\|\hat\delta\|}\big)^2\Big)$ (exact in the
linearised model). 000 App. H.2 and 001 add: for a strong attack the effect "is mainly determined
by" $e^{\mathcal A}/\|\hat\delta\| \approx \|g_x\|\exp(\beta\|\tilde g_x\|^2(H_z - g_z^2))$.
Exactly, $(e^{\mathcal A}-1)/\|\hat\delta\| = p\,\|\tilde g_x\|$ with $p = \sigma(zy)$, for every
$\beta$.""",
    erratum=Erratum(
        printed=r"\|\hat\delta\| \xrightarrow{\beta\to0} \|g_x\|,\quad \frac{e^{\mathcal A}}"
                r"{\|\hat\delta\|} \approx \|g_x\|\exp\big(\beta\|\tilde g_x\|^2(H_z - g_z^2)\big)"
                r"\quad\text{(000 §3.2, App. H.2, Eq. 115; 001 §3.2)}",
        problem=(
            "Theorem 2 gives ||delta|| = (e^A - 1)/(H_z ||g~_x||^2) ||g_x|| exactly in the binary "
            "model, so ||delta|| -> 0 (about beta ||g_x||) as beta -> 0, and "
            "(e^A - 1)/||delta|| = H_z ||g~_x|| / |g_z| = p ||g~_x||, independent of beta: the "
            "exponential cancels. At zy = 1, ||g~_x|| = 1, beta = 50, the printed approximation "
            "gives 134 where the exact value is 0.73 (table in thm5.step4). Separately, Eq. "
            "113-114 drop the leading C of the second term."
        ),
        corrected=r"\frac{e^{\mathcal A}-1}{\|\hat\delta\|} = p\|\tilde g_x\|,\ p = \sigma(zy):"
                  r"\ \tilde g_x^T\Delta\tilde g_x^{(norm)} = Cp\|\tilde g_x\|\,\tilde g_x^T\Delta"
                  r"\tilde g_x^{(ori)} - \eta\|\tilde g_h\|^2\big(C|g_z|\|\tilde g_x\| + C^2H_z"
                  r"\|\tilde g_x\|^2\big)",
    ),
)


def _thm5_truth(lm: dict, C_: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(phi^(norm) from the LM's gradients at x + C delta/||delta||, phi_ori)."""
    kk = C_ / _norm_delta(lm)
    dgW = lm["grad_W"](lm["x"] + kk * lm["delta"]) - lm["grad_W"](lm["x"])
    return _phi(lm, dgW), _phi(lm, lm["grad_W"](lm["x"]))


@thm5_claim.check(kind="symbolic", subject=thm5, control=thm5_eq113,
                  control_label="Eq. 113 (leading C of the second term dropped)")
def thm5_linearised_model(formula: Callable) -> str:
    """The LM's phi^(norm) equals the formula (W: 1 x 3, symbolic C)."""
    for n, D in ((1, 3),):
        lm = lm_setting(n, D)
        phi, phi_ori = _thm5_truth(lm, C)
        sym_equal(phi, formula(phi_ori, g_z, lm["ngh2"], H_z, lm["E"], eta, C, _norm_delta(lm)),
                  f"phi^(norm) - Eq. 12, {n}x{D}")
    return "Eq. 12 exact for a 1x3 W (W^T W singular) with symbolic C"


@thm5_claim.step(1, "Contract Lemma 5 with -eta g~_x^T (.) g~_h", subject=thm5,
                 control=thm5_eq113, control_label="Eq. 113's form", uses=("cheng.lemma5",))
def thm5_step1(formula: Callable) -> str:
    """-eta g~_x^T [Lemma 5] g~_h with k = C/||delta|| is the formula (W: 2 x 3)."""
    lm = lm_setting(2, 3)
    nd = sp.Symbol("n_delta", positive=True)
    dgW = lemma5_strong(lm["x"], lm["g_x"], lm["g_h"], H_z, lm["ngx2"], E, C / nd)
    phi_ori = _phi(lm, lm["x"] * lm["g_h"].T)
    return sym_equal(_phi(lm, dgW), formula(phi_ori, g_z, lm["ngh2"], H_z, E, eta, C, nd),
                     "contracted Lemma 5 - Eq. 12")


@thm5_claim.step("2a", "As printed: multiply by -eta (000 Eq. 113)", refutes=True,
                 subject=thm5_eq113, control=thm5, control_label="Eq. 12 (must not be refuted)")
def thm5_step2a(formula: Callable) -> str:
    """Eq. 113 against the contracted Lemma 5 (symbolic C)."""
    return thm5_step1(formula)


def p_norm_gx(s_: sp.Expr, ngx: sp.Expr) -> sp.Expr:
    """(e^A - 1)/||delta|| = p ||g~_x||, with p = sigma(s) = H_z/|g_z| (s = zy)."""
    return ngx / (1 + sp.exp(-s_))


@thm5_claim.step(2, "(e^A - 1)/||delta|| = H_z ||g~_x||/|g_z| = p ||g~_x||, for every beta",
                 subject=p_norm_gx, control=lambda s_, ngx: ngx**2 / (1 + sp.exp(-s_)),
                 control_label="p ||g~_x||^2", uses=("cheng.thm2", "cheng.lemma1"))
def thm5_step2(formula: Callable) -> str:
    """With Theorem 2's ||delta|| and the sigmoid's g_z, H_z (y = +1, s = z): beta drops out."""
    ngx = sp.Symbol("n_x", positive=True)
    gz = -1 / (1 + sp.exp(s))  # 000 App. E, y = +1
    Hz = sp.exp(s) / (1 + sp.exp(s)) ** 2
    A = beta * Hz * ngx**2
    norm_delta = (sp.exp(A) - 1) / (Hz * ngx**2) * (-gz) * ngx
    ratio = (sp.exp(A) - 1) / norm_delta
    sym_equal(sp.diff(ratio, beta), 0, "d/dbeta")
    return sym_equal(ratio, formula(s, ngx), "(e^A - 1)/||delta|| - formula") + ", beta-free"


def h2_printed(zy: float, b: float, ngx: float) -> float:
    """000 Eq. 115: e^A/||delta|| ~ ||g_x|| exp(beta ||g~_x||^2 (H_z - g_z^2))."""
    p = 1 / (1 + math.exp(-zy))
    gz, Hz = 1 - p, p * (1 - p)
    return gz * ngx * math.exp(b * ngx**2 * (Hz - gz**2))


def h2_limit(zy: float, b: float, ngx: float) -> float:
    """The corrected strong-attack limit: e^A/||delta|| -> p ||g~_x||."""
    return ngx / (1 + math.exp(-zy))


def h2_exact(zy: float, b: float, ngx: float) -> float:
    """e^A/||delta|| from Theorem 2: e^A lambda_1 / ((e^A - 1) ||g_x||)."""
    p = 1 / (1 + math.exp(-zy))
    gz, Hz = 1 - p, p * (1 - p)
    A = b * Hz * ngx**2
    return math.exp(A) * Hz * ngx**2 / (math.expm1(A) * gz * ngx)


H2_CASES = ((1.0, 0.5, 1.0), (1.0, 5.0, 1.0), (1.0, 50.0, 1.0), (5.0, 50.0, 1.0),
            (0.5, 40.0, 2.0), (2.0, 400.0, 1.0))


def h2_table() -> list[tuple[float, float, float, float, float, float]]:
    """(zy, beta, ||g~_x||, A, exact e^A/||delta||, printed Eq. 115) for the refutation table."""
    out = []
    for zy, b, ngx in H2_CASES:
        p = 1 / (1 + math.exp(-zy))
        out.append((zy, b, ngx, b * p * (1 - p) * ngx**2, h2_exact(zy, b, ngx),
                    h2_printed(zy, b, ngx)))
    return out


@thm5_claim.step(3, "As printed (App. H.2): strong attack, e^A/||delta|| ~ ||g_x|| "
                 "exp(beta ||g~_x||^2 (H_z - g_z^2))", refutes=True, numeric=True,
                 subject=h2_printed, control=h2_limit, tolerance=0.1,
                 control_label="the limit p ||g~_x|| (must not be refuted)")
def thm5_step3(approx: Callable[[float, float, float], float]) -> str:
    """Within 10% of Theorem 2's exact value on every case of the table with A >= 3."""
    worst = 0.0
    for zy, b, ngx, A, exact, _ in h2_table():
        if A >= 3:
            err = abs(approx(zy, b, ngx) / exact - 1)
            worst = max(worst, err)
            require(err <= 0.1, f"zy = {zy}, beta = {b}: {approx(zy, b, ngx):.3g} vs exact "
                                f"{exact:.3g}")
    return f"within {worst:.2g} of the exact value where A >= 3"


@thm5_claim.step(4, "As printed (§3.2): beta -> 0 gives ||delta|| -> ||g_x||", refutes=True,
                 subject=sp.Symbol("n_g", positive=True), control=sp.Integer(0),
                 control_label="the limit 0 (must not be refuted)", uses=("cheng.thm2",))
def thm5_step4(limit: sp.Expr) -> str:
    """lim_{beta -> 0} ||delta|| from Theorem 2 (rank one) equals the candidate."""
    n_g = sp.Symbol("n_g", positive=True)
    norm_delta = (sp.exp(beta * lam) - 1) / lam * n_g
    got = sp.limit(norm_delta, beta, 0)
    require(sp.simplify(got - limit) == 0, f"lim ||delta|| = {got}, not {limit}")
    return f"lim_(beta->0) ||delta|| = {got}"


@thm5_claim.check(kind="symbolic", subject=sp.Symbol("C_001"), control=beta * 3,
                  control_label="C proportional to the step budget (000), not ||delta||")
def thm5_collapses_at_001_C(choice: sp.Expr) -> str:
    """With 001's C = ||delta|| (l2), Theorem 5 equals Theorem 3 (W: 2 x 3)."""
    lm = lm_setting(2, 3)
    nd = _norm_delta(lm)
    C_ = nd if choice == sp.Symbol("C_001") else choice
    phi_ori = _phi(lm, lm["x"] * lm["g_h"].T)
    return sym_equal(thm5(phi_ori, g_z, lm["ngh2"], H_z, lm["E"], eta, C_, nd),
                     thm3(phi_ori, g_z, lm["ngh2"], H_z, lm["E"], eta), "Thm 5 - Thm 3 at this C")


# =============================================================================================
# Theorem 6 (000 Eq. 13; 001 Eq. 12): the loss as a function of a weight row

thm6 = CLAIMS.claim(
    "cheng.thm6",
    title="The loss on x + delta as a function of a row W_i of W",
    sources=("000 Theorem 6 (Eq. 13; no proof)", "001 Theorem 6 (Eq. 12; no proof)"),
    kind="theorem",
    statement=r"""
With $\Delta h = W^T\hat\delta$ and $Loss(h + \Delta h) = L(f(x+\hat\delta), y)$, the second-order
Taylor expansion gives, for the $i$-th row $W_i$ of $W$ and $\tau$ "constant w.r.t. $W_i$",
$Loss(h+\Delta h) = \tau + [\hat\delta_i g_{h,i}^T]W_i^T + W_i[\frac{1}{2!}\hat\delta_i^2H_h]W_i^T$.
Corrected: the coefficient of $W_i$ has a cross term, $\hat\delta_i(g_h + H_h\sum_{k\ne i}
\hat\delta_kW_k^T)$, and $h$ itself depends on $W_i$; the Hessian of the adversarial loss in
$W_i$ is $\partial^2 L(f(x+\hat\delta))/\partial W_i\partial W_i^T = (x_i+\hat\delta_i)^2
H_h|_{x+\hat\delta}$ (frozen gates, exactly; a ReLU net a.e.).""",
    erratum=Erratum(
        printed=r"Loss(h+\Delta h) = \tau + [\hat\delta_i g_{h,i}^T]W_i^T + W_i[\tfrac{1}{2!}"
                r"\hat\delta_i^2H_h]W_i^T,\quad \tau \text{ constant in } W_i",
        problem=(
            "Expanding (1/2) dh^T H_h dh with dh = sum_k delta_k W_k^T leaves a term linear in "
            "W_i, delta_i W_i H_h sum_{k != i} delta_k W_k^T, that Eq. 13 drops (thm6.step1), "
            "and Loss(h) depends on W_i through h = W^T x + b, so tau is not constant. The "
            "Hessian in W_i is (x_i + delta_i)^2 H_h at x + delta, not delta_i^2 H_h; the "
            "vanilla one is x_i^2 H_h at x."
        ),
        corrected=r"\frac{\partial^2 L(f(x+\hat\delta),y)}{\partial W_i\partial W_i^T} = (x_i +"
                  r" \hat\delta_i)^2\, H_h\big|_{x+\hat\delta}",
    ),
)


def _thm6_setting():
    """n = D = 2: rows W_1, W_2 of W, a quadratic loss in h around h_0 (H_h symmetric)."""
    W = sp.Matrix(2, 2, sp.symbols("w11 w12 w21 w22", real=True))
    x, d, b = _vec("x", 2), _vec("d", 2), _vec("b", 2)
    g = _vec("g", 2)
    h11, h12, h22 = sp.symbols("H11 H12 H22", real=True)
    Hh = sp.Matrix([[h11, h12], [h12, h22]])
    return W, x, d, b, g, Hh


def eq13_printed(W: sp.Matrix, d: sp.Matrix, g: sp.Matrix, Hh: sp.Matrix, i: int) -> sp.Expr:
    """Eq. 13's terms in W_i: delta_i g_h^T W_i^T + W_i (delta_i^2 H_h / 2) W_i^T."""
    Wi = W[i, :].T
    return d[i] * (g.T * Wi)[0] + (Wi.T * Hh * Wi)[0] * d[i] ** 2 / 2


def eq13_corrected(W: sp.Matrix, d: sp.Matrix, g: sp.Matrix, Hh: sp.Matrix, i: int) -> sp.Expr:
    """With the cross term: delta_i (g_h + H_h sum_{k != i} delta_k W_k^T)^T W_i^T + quadratic."""
    Wi = W[i, :].T
    rest = sum((d[k] * W[k, :].T for k in range(W.rows) if k != i), sp.zeros(W.cols, 1))
    return eq13_printed(W, d, g, Hh, i) + d[i] * (rest.T * Hh * Wi)[0]


@thm6.step(1, "As printed: collect the terms of the expansion that depend on W_i (Eq. 13)",
           refutes=True, subject=eq13_printed, control=eq13_corrected,
           control_label="with the cross term (must not be refuted)")
def thm6_step1(terms: Callable) -> str:
    """g_h^T dh + dh^T H_h dh / 2 minus the W_i terms no longer depends on W_i (h held fixed)."""
    W, _, d, _, g, Hh = _thm6_setting()
    dh = W.T * d
    quad = (g.T * dh)[0] + (dh.T * Hh * dh)[0] / 2
    for i in range(2):
        rest = sp.expand(quad - terms(W, d, g, Hh, i))
        for w in W[i, :]:
            require(sp.diff(rest, w) == 0,
                    f"i = {i}: the rest depends on {w}: d/dw = {sp.factor(sp.diff(rest, w))}")
    return "Taylor terms in W_i = the candidate, for i = 1, 2"


def hessian_row_corrected(x, d, Hh_adv, Hh_clean, i):
    """(x_i + delta_i)^2 H_h at x + delta."""
    return (x[i] + d[i]) ** 2 * Hh_adv


def hessian_row_printed(x, d, Hh_adv, Hh_clean, i):
    """000 Eq. 13 / C.8: delta_i^2 H_h (H_h at x)."""
    return d[i] ** 2 * Hh_clean


@thm6.step(2, "h = W^T x + b depends on W_i too: differentiate L(f(x + delta)) in W_i",
           subject=hessian_row_corrected, control=hessian_row_printed,
           control_label="delta_i^2 H_h at x (000 Eq. 13, C.8)", uses=("cheng.lemma3",))
def thm6_step2(formula: Callable) -> str:
    """Sigmoid CE of a frozen-gate net (n = D = 2): the Hessian in W_i is the formula."""
    W, x, d, b, _, _ = _thm6_setting()
    gt = _vec("gt", 2)
    z_of = lambda xp: (gt.T * (W.T * xp + b))[0]  # noqa: E731
    loss = sp.log(1 + sp.exp(-z_of(x + d)))  # y = +1
    Hh = lambda xp: sp.exp(z_of(xp)) / (1 + sp.exp(z_of(xp))) ** 2 * gt * gt.T  # noqa: E731
    for i in range(2):
        row = list(W[i, :])
        sym_equal(sp.hessian(loss, row), formula(x, d, Hh(x + d), Hh(x), i),
                  f"Hessian in W_{i + 1} - formula")
    return "d2 L(f(x + delta))/dW_i dW_i^T = (x_i + delta_i)^2 H_h(x + delta), i = 1, 2"


def _row_hessians(formula: Callable) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(autograd Hessian in W_i, formula) on one-hidden-layer ReLU nets, BCE, free gates."""
    from advproof import attacks

    pairs = []
    for seed in range(6):
        frozen, net, x, y = _net_case(seed, depth=1)
        q0 = first_layer_quantities(frozen, x, y, "bce")
        d = 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed),
                              dtype=x.dtype)
        q1 = first_layer_quantities(models_frozen(net, x + d), x + d, y, "bce")
        Hh = [q["H_z"] * torch.outer(q["gt_h"], q["gt_h"]) for q in (q1, q0)]
        weight = net.linears[0].weight
        for i in (0, 3):
            def loss_of(col, i=i, weight=weight, net=net, x=x, d=d, y=y):
                Wt = weight.detach().clone()
                Wt[:, i] = col
                z = net.linears[1](torch.relu((x + d) @ Wt.T + net.linears[0].bias))
                return attacks.loss_fn("bce")(z, y).sum()
            H = torch.autograd.functional.hessian(loss_of, weight[:, i].detach().clone())
            pairs.append((H, formula(x[0], d[0], Hh[0], Hh[1], i)))
    return pairs


@thm6.check(kind="numeric", subject=hessian_row_corrected, control=hessian_row_printed,
            control_label="delta_i^2 H_h at x (printed)", tolerance=1e-10)
def thm6_relu_nets(formula: Callable) -> str:
    """Autograd Hessian of the BCE of ReLU MLPs (free gates) in a column of fc1.weight (= W_i)."""
    return worst_close(_row_hessians(formula), rtol=1e-10, what="Hessian in W_i vs formula")


def models_frozen(net, x):
    """The frozen-gate version of ``net`` at ``x`` (a thin alias used by the checks)."""
    from advproof import models

    return models.frozen_gate(net, x)


# =============================================================================================
# The conclusions C.4-C.8

c4 = CLAIMS.claim(
    "cheng.c4",
    title="C.4: adversarial training tends to reduce the current gradient",
    sources=("000 §3.2 (C. 4)", "001 §3.2 (C. 4)"),
    kind="remark",
    uses=("cheng.thm3", "cheng.thm4", "cheng.lemma1"),
    statement=r"""
"A common understanding of adversarial training is to alleviate the current gradient $g_x$,
i.e., having a trend towards $g_x^T\Delta\tilde g_x < 0$ [...]. (C. 4) Adversarial training
usually has a potential of decreasing the significance of the current gradient, i.e., pushing
$\tilde g_x^T\Delta\tilde g_x$ and $\tilde g_x^T\Delta\tilde g_x^{(adv)}$ towards negative values
[...] because the second term in Eq. (10) and Eq. (11) is non-positive [...]. If vanilla training
has already alleviated the current gradient ($\tilde g_x^T\Delta\tilde g_x^{(ori)} < 0$), then
adversarial training will further strengthen such an alleviation in an exponential manner."
(000 §3.2)""",
    erratum=Erratum(
        printed=r"g_x^T\Delta\tilde g_x < 0 \ \text{(the 'common understanding')}",
        problem=(
            "g_x = g_z g~_x with g_z = -y sigma(-yz): for y = +1, g_z < 0, so g_x^T dg~_x and "
            "g~_x^T dg~_x have opposite signs. Also the premise of the second sentence is the "
            "atypical case: g~_x^T dg~_x^(ori) = eta sigma(-yz) ||g~_h||^2 y (g~_x^T x) depends "
            "on the origin of x and is positive for a correct sample with small bias."
        ),
        corrected=r"-y\,g_x^T\Delta\tilde g_x < 0 \iff \tilde g_x^T\Delta\tilde g_x < 0,\qquad"
                  r"\tilde g_x^T\Delta\tilde g_x^{(ori)} = \eta\,\sigma(-yz)\|\tilde g_h\|^2\,"
                  r"y\,\tilde g_x^Tx",
    ),
)


@c4.check(kind="symbolic", subject=lambda E_: -(E_**2 - E_), control=lambda E_: E_**2 - E_,
          control_label="sign of the second term flipped")
def c4_second_term(term: Callable) -> str:
    """The second term of Eq. 10/11 per unit eta g_z^2 ||g~_h||^2/H_z is <= 0 for E = e^A >= 1."""
    Ev = sp.Symbol("E", real=True)
    positive = sp.solveset(term(Ev) > 0, Ev, sp.Interval(1, sp.oo))
    require(positive == sp.EmptySet, f"second term > 0 for E in {positive}")
    return "-(E^2 - E) <= 0 for all E = e^A >= 1 (A >= 0)"


@c4.check(kind="numeric", subject=lambda gz, yv, gtx: gz * gtx,
          control=lambda gz, yv, gtx: -yv * gz * gtx, refutes=True, tolerance=0.0,
          control_label="-y g_x (must not be refuted)")
def c4_common_understanding_sign(direction: Callable) -> str:
    """Refutation: sign(d^T v) = sign(g~_x^T v) for d = the candidate, y = +-1, random z, v."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        yv, zv = float(rng.choice([-1.0, 1.0])), float(rng.normal())
        gtx, v = rng.normal(size=4), rng.normal(size=4)
        gz = -yv / (1 + math.exp(yv * zv))
        lhs, rhs = direction(gz, yv, gtx) @ v, gtx @ v
        require(np.sign(lhs) == np.sign(rhs), f"y = {yv:+.0f}: signs {np.sign(lhs):+.0f} vs "
                                              f"{np.sign(rhs):+.0f}")
    return "same sign as g~_x^T v on 200 random cases (y = +-1)"


@c4.check(kind="symbolic",
          subject=lambda y_, n_h, gx_x, zz: y_ * n_h * gx_x / (1 + sp.exp(y_ * zz)),
          control=lambda y_, n_h, gx_x, zz: -n_h * gx_x / (1 + sp.exp(y_ * zz)),
          control_label="the label y dropped (always negative for g~_x^T x > 0)")
def c4_vanilla_effect(formula: Callable) -> str:
    """phi_ori / eta = sigma(-yz) ||g~_h||^2 y g~_x^T x for y = +-1 (W: 2 x 3, sigmoid CE)."""
    lm = lm_setting(2, 3)
    zz = sp.Symbol("z", real=True)
    for yv in (1, -1):
        gz = -yv / (1 + sp.exp(yv * zz))
        phi = (-lm["gtx"].T * lm["x"] * (gz * lm["gth"]).T * lm["gth"])[0]
        sym_equal(phi, formula(yv, lm["ngh2"], (lm["gtx"].T * lm["x"])[0], zz),
                  f"phi_ori/eta - formula, y = {yv}")
    return "g~_x^T dg~_x^(ori)/eta = sigma(-yz) ||g~_h||^2 y (g~_x^T x), y = +-1"


c5 = CLAIMS.claim(
    "cheng.c5",
    title="C.5: adversarial training exponentially boosts a few unconfident samples",
    sources=("000 §3.2 (C. 5)", "001 §3.2 (C. 5)"),
    kind="remark",
    uses=("cheng.thm3", "cheng.thm4"),
    statement=r"""
"Adversarial training exponentially strengthens the influence of a few unconfident input samples
with large values of $H_z$ and large gradient norms $\|\tilde g_x\|$" (000); "these samples in
adversarial training have about $\exp(\mathcal A)$ times larger influence than vanilla training"
(001, with $\bar H_z$). In the linearised model the factor on the vanilla effect is exactly
$e^{\mathcal A}$ (Theorem 4), increasing in $H_z$ and $\|\tilde g_x\|$; on real nets the formula
is accurate only while $\mathcal A \lesssim 0.2$ (chapter 2), where $e^{\mathcal A}\approx
1+\mathcal A$.""",
)


@c5.check(kind="symbolic", subject=lambda A: sp.exp(A), control=lambda A: sp.exp(-A),
          control_label="e^{-A}")
def c5_monotone(factor: Callable) -> str:
    """The factor is increasing in H_z and in ||g~_x|| (A = beta H_z ||g~_x||^2) and is e^A."""
    ngx = sp.Symbol("n_x", positive=True)
    A = beta * H_z * ngx**2
    sym_equal(factor(A), thm4(1, 0, 1, H_z, sp.exp(A), eta), "factor - Thm 4's e^A")
    for v in (H_z, ngx):
        d = sp.simplify(sp.diff(factor(A), v))
        require(d.is_positive is True, f"d factor/d {v} = {d} is not positive")
    return "factor = e^A (Theorem 4), increasing in H_z and ||g~_x||"


c6 = CLAIMS.claim(
    "cheng.c6",
    title="C.6: normalised perturbations boost large-||g~_x|| samples, neither too (un)confident",
    sources=("000 §3.2 (C. 6)", "001 §3.2 (C. 6)"),
    kind="remark",
    uses=("cheng.thm5",),
    statement=r"""
"Adversarial training on the normalized perturbations strengthens the influence of a few input
samples with large gradient norms $\|\tilde g_x\|$, which are neither too confident nor too
unconfident" (000); 001: "neither $z(x)y\to\infty$ nor $z(x)y\to0$ [...] about
$[\exp(\mathcal A)-1]/\|\hat\delta\|$ times larger influence than vanilla training". Corrected:
the factor is $C(e^{\mathcal A}-1)/\|\hat\delta\| = Cp\|\tilde g_x\|$ with $p = \sigma(zy)$; the
additional effect vanishes as $zy\to\infty$ but not as $zy \to 0$.""",
    erratum=Erratum(
        printed=r"\text{influence} \propto \|g_x\|\exp\big(\beta\|\tilde g_x\|^2(H_z - g_z^2)\big)"
                r"\to 0 \text{ for } zy\to0 \text{ and } zy\to\infty",
        problem=(
            "The clause rests on the App. H.2 asymptotic, which contradicts Theorem 2 (see "
            "cheng.thm5). With the exact factor C p ||g~_x||, the additional effect per unit "
            "eta ||g~_h||^2 is C |g_z| ||g~_x|| + C^2 H_z ||g~_x||^2 (plus the vanilla part), "
            "which tends to C ||g~_x||/2 + C^2 ||g~_x||^2/4 > 0 as zy -> 0."
        ),
        corrected=r"\text{factor } Cp\|\tilde g_x\|,\ p=\sigma(zy);\ \text{additional effect}"
                  r" \to 0 \text{ only as } zy\to\infty",
    ),
)


def c6_effect(s_: sp.Expr) -> sp.Expr:
    """Thm 5's second term per unit eta ||g~_h||^2 at C = ||g~_x|| = 1 (y = +1, z = s)."""
    gz = 1 / (1 + sp.exp(s_))
    return gz + sp.exp(s_) / (1 + sp.exp(s_)) ** 2


@c6.check(kind="symbolic", subject=(0, sp.oo), control=(sp.oo,), refutes=True,
          control_label="vanishes only as zy -> oo (must not be refuted)")
def c6_vanishing_points(points: tuple) -> str:
    """Refutation: the corrected additional effect tends to 0 at each of the candidate points."""
    for point in points:
        lim = sp.limit(c6_effect(s), s, point, "+" if point == 0 else "-")
        require(lim == 0, f"lim_(zy -> {point}) = {lim}, not 0")
    return f"vanishes at zy -> {points}"


@c6.check(kind="symbolic", subject=lambda s_, ngx: ngx / (1 + sp.exp(-s_)),
          control=lambda s_, ngx: ngx * sp.exp(-s_) / (1 + sp.exp(-s_)),
          control_label="1 - p for p")
def c6_factor(formula: Callable) -> str:
    """The corrected factor (e^A - 1)/||delta|| is p ||g~_x||, increasing in zy and ||g~_x||."""
    ngx = sp.Symbol("n_x", positive=True)
    thm5_step2(formula)
    for v in (s, ngx):
        require(sp.simplify(sp.diff(formula(s, ngx), v)).is_positive is True,
                f"factor not increasing in {v}")
    return "factor = p ||g~_x||, increasing in zy and ||g~_x|| (no exponential)"


c7 = CLAIMS.claim(
    "cheng.c7",
    title="C.7: normalisation alleviates the imbalance between samples",
    sources=("000 §3.2 (C. 7)", "001 §3.2 (C. 7)"),
    kind="remark",
    uses=("cheng.thm5", "cheng.thm3"),
    statement=r"""
"Compared to Theorems 3 and 4, the normalized perturbation $\hat\delta^{(norm)}$ alleviates the
imbalance between different samples" (000); 001 adds "but such an imbalance is still larger than
vanilla training". Holds in the linearised model at a fixed step budget ($C$ the same for every
sample, 000's $C\propto m$): the factor $Cp\|\tilde g_x\|$ varies across samples polynomially,
Theorem 3's $e^{\mathcal A}-1$ exponentially. It fails for 001's $\ell_2$ choice
$C = \|\hat\delta\|$, which makes Theorem 5 identical to Theorem 3.""",
    erratum=Erratum(
        printed=r"C = \|\hat\delta\| \text{ for the } \ell_2 \text{ attack (001 §3.2)}",
        problem=(
            "With C = ||delta||, delta^(norm) = delta and Theorem 5 collapses into Theorem 3 "
            "(check thm5_collapses_at_001_C), so the imbalance is exactly that of Theorem 3 and "
            "C.7 cannot hold for l2 as 001 parametrises it."
        ),
        corrected=r"C \text{ fixed across samples (the step budget, 000): spread } \max_x"
                  r" p\|\tilde g_x\| / \min_x p\|\tilde g_x\| \ll \max_x (e^{\mathcal A}-1)/"
                  r"\min_x(e^{\mathcal A}-1)",
    ),
)


C7_SAMPLES = ((0.3, 0.5), (1.0, 1.0), (2.0, 2.0), (0.5, 3.0), (4.0, 1.5))  # (zy, ||g~_x||)


def _factors(choice: str, b: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """(normalised factor, Theorem 3 factor e^A - 1) over C7_SAMPLES at strength beta = b."""
    norm, raw = [], []
    for zy, ngx in C7_SAMPLES:
        p = 1 / (1 + math.exp(-zy))
        A = b * p * (1 - p) * ngx**2
        nd = math.expm1(A) / (p * (1 - p) * ngx**2) * (1 - p) * ngx
        Cv = 1.0 if choice == "fixed" else nd
        norm.append(Cv * math.expm1(A) / nd)
        raw.append(math.expm1(A))
    return np.array(norm), np.array(raw)


def _spread(v: np.ndarray) -> float:
    return float(np.log(v.max() / v.min()))


def _alleviates(choice: str) -> str:
    norm, raw = _factors(choice)
    sn, sr = _spread(norm), _spread(raw)
    require(0 < sn < sr - 1e-9, f"C {choice}: log-spread {sn:.3g} vs Theorem 3's {sr:.3g}")
    return f"C {choice}: log-spread {sn:.2g} (vanilla 0) < Theorem 3's {sr:.2g}"


@c7.check(kind="numeric", subject="fixed", control="||delta||", tolerance=1e-9,
          control_label="001's C = ||delta||")
def c7_fixed_budget(choice: str) -> str:
    """Across 5 samples at beta = 20: 0 < spread of the normalised factor < Theorem 3's."""
    return _alleviates(choice)


@c7.check(kind="numeric", subject="||delta||", control="fixed", refutes=True, tolerance=1e-9,
          control_label="C fixed across samples (must not be refuted)")
def c7_001_choice(choice: str) -> str:
    """Refutation: with 001's C = ||delta|| the spread equals Theorem 3's (no alleviation)."""
    return _alleviates(choice)


c8 = CLAIMS.claim(
    "cheng.c8",
    title="C.8: adversarial training scales the weight Hessian by delta_i^2 and oscillates",
    sources=("000 §3.3 (C. 8)", "001 §3.3 (C. 8)"),
    kind="remark",
    uses=("cheng.thm6", "cheng.thm2"),
    statement=r"""
"Adversarial training can be roughly considered to boost the influence of the Hessian matrix
w.r.t. network parameters $W_i$, i.e., proportional to $\hat\delta_i^2H_h$, because the
perturbation $\hat\delta$ increases exponentially [...]. Adversarial training is more likely to
make network parameters oscillate than vanilla training." Corrected: the Hessian is $(x_i +
\hat\delta_i)^2H_h|_{x+\hat\delta}$ (Theorem 6), and the paper's $\Delta$ metric equals
$\|x+\delta\|^2H_z(x+\delta)\|\tilde g_h\|^2/D$ to first order, so it must be compared with a
random perturbation of the same norm.""",
    erratum=Erratum(
        printed=r"\frac{\partial^2 L}{\partial W_i\partial W_i^T} \propto \hat\delta_i^2H_h",
        problem=(
            "The proportionality drops x_i^2 + 2 x_i delta_i and the change of H_h from x to "
            "x + delta (H_z peaks at z = 0, so reaching the boundary can matter more than the "
            "size of delta). The Delta metric of Fig. 4/5 grows with ||x + delta||^2 for any "
            "delta, adversarial or not."
        ),
        corrected=r"\frac{\partial^2 L(f(x+\hat\delta))}{\partial W_i\partial W_i^T} = (x_i+"
                  r"\hat\delta_i)^2H_h|_{x+\hat\delta};\ \Delta = \|x+\delta\|^2H_z(x+\delta)"
                  r"\|\tilde g_h\|^2/D + O(\|\Delta W\|)",
    ),
)


def delta_metric_closed_form(x: torch.Tensor, q: dict, D: int) -> float:
    """Delta = ||x||^2 H_z ||g~_h||^2 / D (first layer, dW = -eps g_W/||g_W||, quadratic in z)."""
    return float(x.pow(2).sum() * q["H_z"] * q["gt_h"].pow(2).sum() / D)


def delta_metric(model, x: torch.Tensor, y: torch.Tensor, loss: str, step: float) -> float:
    """000 §3.3's Delta: ||g_W(W + dW) - g_W(W)|| / (D ||dW||), dW = -step g_W/||g_W||
    (layer 1)."""
    weight = model.linears[0].weight
    g0 = weight_grad(model, x, y, loss)
    dW = -step * g0 / g0.norm()
    with torch.no_grad():
        weight += dW.T
    try:
        g1 = weight_grad(model, x, y, loss)
    finally:
        with torch.no_grad():
            weight -= dW.T
    return float((g1 - g0).norm() / (weight.shape[0] * step))


@c8.check(kind="numeric", subject=delta_metric_closed_form,
          control=lambda x, q, D: float(q["H_z"] * q["gt_h"].pow(2).sum() / D),
          control_label="without the ||x||^2 factor", tolerance=1e-9)
def c8_delta_metric(formula: Callable) -> str:
    """Frozen-gate MSE nets: the Delta metric equals the closed form at x and at x + delta."""
    pairs = []
    for seed in range(6):
        frozen, _, x, y = _net_case(seed)
        for xp in (x, 3.0 * x):
            fz = models_frozen(frozen._model, xp)
            q = first_layer_quantities(fz, xp, y, "mse")
            pairs.append((delta_metric(fz, xp, y, "mse", 1e-3),
                          formula(xp[0], q, fz.linears[0].weight.shape[0])))
    return worst_close(pairs, rtol=1e-9, what="Delta vs closed form")


@c8.check(kind="numeric", subject=hessian_row_printed, control=hessian_row_corrected,
          refutes=True, tolerance=1e-10, control_label="(x_i + delta_i)^2 H_h(x + delta)")
def c8_printed_proportionality(formula: Callable) -> str:
    """Refutation: the Hessian in W_i is proportional to the candidate (best scale per instance)."""
    pairs = []
    for H, F in _row_hessians(formula):
        scale = float((H * F).sum() / (F * F).sum().clamp_min(1e-300))
        pairs.append((H, scale * F))
    return worst_close(pairs, rtol=1e-10, what="Hessian in W_i vs scaled candidate")


# =============================================================================================
# The papers' measurements (000 App. J Table 2 / 001 Table 2; 000 Fig. 4 / 001 Fig. 5),
# reproduced by the quick-mode experiment ``advproof.experiments.cheng_training`` (read once per
# code version through ``advproof.cache.cached_run``).


def _training_run():  # noqa: ANN202 (an experiments.cheng_training.Result)
    from advproof.cache import cached_run

    return cached_run("cheng_training", "quick", seed=0)


table2 = CLAIMS.claim(
    "cheng.table2",
    title="Table 2: the error kappa' between phi_hat (Theorem 3) and the real effect phi*",
    sources=("000 App. J, Table 2", "001 Table 2"),
    kind="remark",
    statement=r"""
The effect $\hat\phi$ of Theorem 3 matches the effect $\phi^*$ measured on adversarially trained
ReLU nets: with gates frozen during the attack, $\kappa' = 2.3\cdot10^{-9}$ to
$6.9\cdot10^{-5}$ (000, MLPs and CNNs of 2-5 layers; $\kappa$ with free gates $2\cdot10^{-2}$ to
$0.27$) and $1.2\cdot10^{-7}$ to $3.9\cdot10^{-5}$ (001). 000 averages
$|\phi^* - \hat\phi|/|\phi^*|$ over the 90% of samples with the smallest error; 001 takes
$\mathbb E_x|\phi^* - \hat\phi|\,/\,\mathbb E_x|\phi^*|$.""",
)


def _tiny_first_layer_cases():
    """Frozen-gate binary MLP, CNN and residual CNN (float64), the inputs of 6 that reach a live
    unit, MSE, 4 raw-ascent steps."""
    from advproof import attacks, models
    from advproof.experiments import cheng_training as ct

    cases = []
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        nets = (models.MLP(16, (6, 5), 1, generator=gen).double(),
                models.SmallCNN(1, 1, 4, channels=(2, 3), generator=gen).double(),
                models.SmallResCNN(1, 1, 4, channels=(2, 3),
                                   generator=torch.Generator().manual_seed(100 + seed)).double())
        x0 = torch.randn(6, 16, generator=gen, dtype=torch.float64)
        y0 = torch.tensor([1.0, -1.0] * 3, dtype=torch.float64)
        for net in nets:
            live = ct.local(net, x0, y0, "mse").gt_x.norm(dim=1) > 0  # no input on dead units
            x, y = x0[live], y0[live]
            fz = ct.frozen(net, x)
            q = ct.local(fz, x, y, "mse")
            lam1 = q.H_z * q.gt_x.pow(2).sum(1)
            a = 0.8 / lam1 / 4  # A = 0.8 for every input
            delta = attacks.raw_ascent(fz, x, y, alpha=a, steps=4, loss="mse")
            cases.append(ct.phi_measurements(fz, fz, x, y, delta, "mse",
                                             {"m": (1 + a * lam1) ** 4}))
    return cases


@table2.check(kind="numeric", subject="phi_m", control="phi_printed_m", tolerance=1e-10,
              control_label="Theorem 3 as printed (||g~_h||^2, a dense layer)")
@single_thread()
def table2_first_layer_prediction_is_exact(key: str) -> str:
    """The experiment's prediction of phi (Lemma 4's strong form contracted, first layer) equals
    the real phi on frozen-gate MSE nets, MLP, CNN and residual CNN (first layer a convolution),
    4 steps with E = (1 + alpha lambda_1)^4: the case in which the theory is exact."""
    pairs = [(c["phi_real"], c[key]) for c in _tiny_first_layer_cases()]
    return worst_close(pairs, rtol=1e-10, what="phi real vs predicted (MLP, CNN, ResCNN)")


@table2.check(kind="experiment", subject=(0.01, 1.0), control=(1.0, 0.01),
              control_label="the two attack strengths swapped", tolerance=1e-3)
def table2_small_only_for_a_weak_attack(strengths: tuple[float, float]) -> str:
    """Quick run (digits 3 vs 8, PGD-trained MLP 200-200, CNN and residual CNN, 40 images,
    m = 100, fixed beta with max A = 0.01 and 1): kappa' (000, CE, frozen gates, e^A form) < 1e-3
    at the weak strength and at least 10 times larger at the strong one, for every net."""
    res = _training_run()
    parts = []
    for arch in res.table:
        weak, strong = (res.kappa_table(arch, A)["CE, frozen gates"]["kappa_000"]
                        for A in strengths)
        parts.append(f"{arch}: {fmt(weak)} -> {fmt(strong)}")
        require(weak < 1e-3 and strong >= 10 * weak,
                f"{arch}: kappa' {fmt(weak)} (max A = {strengths[0]:g}), {fmt(strong)} "
                f"(max A = {strengths[1]:g})")
    return f"kappa' at max A = {strengths[0]:g} -> {strengths[1]:g}: " + "; ".join(parts)


fig4 = CLAIMS.claim(
    "cheng.fig4",
    title="Fig. 4 (000) / Fig. 5 (001): weight gradients are less stable at x + delta",
    sources=("000 Fig. 4 (§3.3)", "001 Fig. 5 (§3.3)"),
    kind="remark",
    statement=r"""
Updating a layer $W_j$ by a step of fixed strength changes the weight gradient more at an
adversarial input than at the clean one: $\Delta^{(adv)} > \Delta^{(ori)}$ ("much higher
instability"), with $\Delta^{(ori)} = \|\partial_{W}L(f(x|W_j+\Delta W_j),y) -
\partial_WL(f(x|W_j),y)\|/(D\|\Delta W_j\|)$ and $\Delta^{(adv)}$ the same at $x+\delta$ with
$\Delta W_j^{(adv)}$. The book adds the control asked for by C.8's closed form: the same metric at
$x$ plus a random $\delta$ of the same norm.""",
)


@fig4.check(kind="numeric", subject="experiment", control="no_x_norm", tolerance=1e-9,
            control_label="the closed form without the ||x||^2 factor")
@single_thread()
def fig4_delta_metric_closed_form(which: str) -> str:
    """The experiment's Delta metric (first layer of frozen-gate MSE MLPs, at x and at 3x)
    equals the closed form ||x||^2 H_z ||g~_h||^2 / D (cheng.c8)."""
    from advproof.experiments import cheng_training as ct

    pairs = []
    for seed in range(4):
        fz, _, x, y = _net_case(seed)
        for xp in (x, 3.0 * x):
            fzp = models_frozen(fz._model, xp)
            q = first_layer_quantities(fzp, xp, y, "mse")
            D = fzp.linears[0].weight.shape[0]
            closed = delta_metric_closed_form(xp[0], q, D)
            if which == "no_x_norm":
                closed = closed / float(xp.pow(2).sum())
            pairs.append((ct.delta_metric(fzp, fzp.linears[0].weight, xp, y, "mse", 1e-3),
                          closed))
    return worst_close(pairs, rtol=1e-9, what="Delta vs closed form")


@fig4.check(kind="experiment", subject="adv", control="rand", tolerance=2.0,
            control_label="x + a random delta of the same l2 norm")
def fig4_adversarial_boost(perturbation: str) -> str:
    """Quick run (digits 3 vs 8; MLP 200-200, CNN and residual CNN, standard and PGD-trained;
    40 images, PGD of training): the median Delta at x + delta is more than twice the median at
    x, in every weight layer of the six nets."""
    res = _training_run()
    ratios = []
    for key in res.oscillation:
        for layer, med in res.delta_medians(key).items():
            ratio = med[perturbation] / med["ori"]
            ratios.append(ratio)
            require(ratio > 2.0, f"{key} {layer}: Delta({perturbation})/Delta(ori) = "
                                 f"{fmt(ratio)} <= 2")
    return (f"Delta({perturbation})/Delta(ori) between {fmt(min(ratios))} and "
            f"{fmt(max(ratios))} over {len(ratios)} layers")


u1 = CLAIMS.claim(
    "cheng.u1",
    title="U.1: adversarial training sharpens the loss landscape",
    sources=("000 §4, unified analysis item 1 (sharp loss landscape)",),
    kind="remark",
    statement=r"""
Theorem 6 explains the sharp loss landscape of adversarial training: the perturbation boosts the
weight Hessian (by $(x_i + \hat\delta_i)^2H_h$ for row $W_i$, cheng.c8), so the adversarial loss
is sharper in the weights than the clean one. The book adds the control: the same loss at
$x$ plus a random $\delta$ of the same norm.""",
)


@u1.check(
    kind="experiment",
    subject="adv",
    control="rand",
    tolerance=2.0,
    control_label="x + a random delta of the same l2 norm",
)
def u1_sharper_adversarial_loss(perturbation: str) -> str:
    """Quick run (the six nets of Fig. 4, 200 training images, Lanczos): the top weight-Hessian
    eigenvalue of the loss at x + delta is at least twice that of the loss at x, for every net."""
    res = _training_run()
    ratios = {key: h[perturbation] / h["clean"] for key, h in res.hessian.items()}
    for key, ratio in ratios.items():
        require(
            ratio >= 2.0,
            f"{key}: lambda_max({perturbation}) / lambda_max(clean) = {fmt(ratio)} < 2",
        )
    return ", ".join(f"{key} {fmt(r)}" for key, r in ratios.items())
