"""Liu's thesis, Sec. 4.3: adversarial overfitting and hard training instances (seed 003).

Instance difficulty (eqs. (4.30)-(4.32), :mod:`advproof.difficulty`) and the null value of the
D-distance (1/3, not the printed 0.375); the linear analysis of Sec. 4.3.3: the loss (4.34)
(mistyped as a sigmoid), Lemma 4.2 and Theorem 4.4 (adversarially trained logistic regression
converges, slowly, to the *clean* max-margin direction), Lemmas 4.3-4.4 and Theorem 4.5 (the
robust test error of a model trained on one Gaussian-mixture component, through a 2x2 Woodbury
identity), Lemma 4.5 and Corollary 4.2 (the easy-hard gap grows with eps: with the factor r_i
restored, and only for eps < min_i r_i g(r_l)); and the constants of the Lipschitz *lower* bound
of Sec. 4.3.4 (Lemmas 4.7-4.8, Theorem 4.6, with the fix to (4.71)).

Each formula is a function and each check a property test taking it as argument (STYLE §13); a
printed form that is wrong goes through the same test with ``refutes=True``.

Notation (003 Sec. 4.3.3): labels absorbed into the data (``y_i x_i -> x_i``); the I-mode mixture
``x ~ N(y r_i eta, I_M)`` with ``||eta|| = 1``; ``Psi(x) = P(Z > x)``; for training data of
component l, ``X = r_l y eta^T + Q``, ``U = Q Q^T``, ``d = Q eta``, ``s = y^T U^-1 y``,
``t = d^T U^-1 d``, ``v = y^T U^-1 d`` (4.44); ``g(r_l) = w^T eta / ||w||`` for the min-norm
interpolator ``w``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import sympy as sp
from scipy.optimize import minimize, nnls
from scipy.stats import norm
from sympy.core.function import AppliedUndef
from threadpoolctl import threadpool_limits

from advproof import difficulty as dif
from advproof.asserts import fmt, require, sym_equal, worst_close
from advproof.claims import CheckFailed, ClaimSet, Erratum

CLAIMS = ClaimSet("thesis")


def one_blas_thread(fn: Callable) -> Callable:
    """Run ``fn`` with one BLAS thread: the matrices here are tiny, and on a loaded 2-core machine
    OpenBLAS's thread hand-offs made one SLSQP solve 100 times slower (0.3 s instead of 3 ms)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def sym_same(lhs: sp.Expr, rhs: sp.Expr, what: str) -> str:
    """``lhs == rhs`` as expressions, decided quickly and soundly: a difference at a random
    rational point proves them unequal; else ``cancel`` (exact for rational functions); else
    ``simplify``."""
    residual = lhs - rhs
    # an unknown function g(r) is probed as g(r) = e^r / (1 + r) (a difference for one g is a
    # difference for all g)
    probe = residual.replace(lambda e: isinstance(e, AppliedUndef),
                             lambda e: sp.exp(e.args[0]) / (1 + e.args[0])).doit()
    free = sorted(probe.free_symbols, key=str)
    rng = np.random.default_rng(0)
    for _ in range(3):
        point = {x: sp.Rational(int(rng.integers(11, 29)), 10) for x in free}
        value = complex(sp.N(probe.subs(point), 30))
        if abs(value) > 1e-12:
            raise CheckFailed(f"{what}: residual {sp.sstr(residual)[:120]} = {value.real:.3g} at "
                              f"{ {str(k): str(v) for k, v in point.items()} }")
    if sp.cancel(sp.together(residual)) == 0:
        return f"{what}: simplifies to 0"
    return sym_equal(lhs, rhs, what)

n_sym = sp.Symbol("N", positive=True, integer=True)
u_sym = sp.Symbol("u", real=True)

# ---------------------------------------------------------------------------------------------
# Eq. (4.30): difficulty with ties


def difficulty_ties_ignored(losses: object) -> np.ndarray:
    """Negative control for (4.30): ties weigh 0 instead of 1/2 (``#{g_k > g_j} / N``)."""
    g = np.asarray(losses, dtype=np.float64)
    return (g[None, :] > g[:, None]).sum(axis=1) / g.size


def _difficulty_by_definition(g: list[int]) -> list[Fraction]:
    n = len(g)
    return [Fraction(sum(a < b for b in g), n) + Fraction(sum(a == b for b in g), 2 * n)
            for a in g]


eq4_30 = CLAIMS.claim(
    "thesis.eq4_30",
    title="Instance difficulty: the mid-rank of the epoch-averaged loss",
    sources=("003 eq. (4.30) (Sec. 4.3.1)",),
    kind="definition",
    statement=r"""
With $\widehat g_\epsilon(\mathbf x)$ the loss of $(\mathbf x, y)$ under $\mathcal S^{(p)}_\epsilon$
averaged over the training epochs,
$d_\epsilon(\mathbf x) = \mathbb P\big(\widehat g_\epsilon(\mathbf x) < \widehat
g_\epsilon(\widehat{\mathbf x})\big) + \frac12\mathbb P\big(\widehat g_\epsilon(\mathbf x) =
\widehat g_\epsilon(\widehat{\mathbf x})\big)$, $\widehat{\mathbf x} \sim U(\mathcal D)$: near 0
for the hardest instances and near 1 for the easiest.""",
)


@eq4_30.check(kind="numeric", subject=dif.difficulty, control=difficulty_ties_ignored,
              control_label="ties weigh 0 (strict rank)", tolerance=1e-15)
@one_blas_thread
def eq4_30_definition(fn: Callable[[object], np.ndarray]) -> str:
    """Against the definition in exact fractions on 50 random integer loss vectors with ties."""
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(50):
        g = rng.integers(0, 6, size=int(rng.integers(1, 30))).tolist()
        pairs.append((fn(g), np.array([float(f) for f in _difficulty_by_definition(g)])))
    return worst_close(pairs, rtol=1e-15, what="d vs the definition (4.30)")


# ---------------------------------------------------------------------------------------------
# Eq. (4.31): the D-distance and its null value


def d_null_printed(n: int) -> float:
    """003 Sec. 4.3.1: "the expected D-distance between two random difficulty functions is
    0.375"."""
    return 0.375


d_null = CLAIMS.claim(
    "thesis.d_null",
    title="The D-distance between two random difficulty functions is 1/3, not 0.375",
    sources=("003 eq. (4.31) and the sentence after it (Sec. 4.3.1)",),
    kind="remark",
    statement=r"""
$D(d^{(1)}_\epsilon, d^{(2)}_\epsilon) = \mathbb E_{\mathbf x \sim U(\mathcal D)}
|d^{(1)}_\epsilon(\mathbf x) - d^{(2)}_\epsilon(\mathbf x)|$, and "the expected D-distance between
two random difficulty functions is 0.375".""",
    erratum=Erratum(
        printed=r"\mathbb E\, D(d^{(1)}, d^{(2)}) = 0.375",
        problem=(
            "For two independent uniformly random rankings of N instances (no ties), d takes the "
            "values (k + 1/2)/N and E D = (1/N^3) sum_{a,b<N} |a - b| = (N^2 - 1)/(3 N^2), which "
            "tends to E|U1 - U2| = 1/3 for independent uniforms. Monte Carlo (random "
            "difficulty functions of N = 300 instances, 100 pairs) gives 0.3335 +- 0.0013, 32 "
            "standard errors from 0.375 (check d_null_monte_carlo). The thesis states no null "
            "model that would give 0.375."
        ),
        corrected=r"\mathbb E\, D(d^{(1)}, d^{(2)}) = \frac{N^2 - 1}{3N^2} \to \frac13",
    ),
    uses=("thesis.eq4_30",),
)

_b = sp.Symbol("b", integer=True, nonnegative=True)
_U1, _U2 = sp.symbols("U_1 U_2", positive=True)


@functools.lru_cache(maxsize=1)
def _d_null_references() -> tuple[sp.Expr, sp.Expr]:
    """``(1/N^3) sum_{a,b<N} |a - b|`` in closed form and ``E|U1 - U2|`` (computed once)."""
    # sum_{a,b<N} |a - b| = 2 sum_{b<N} sum_{a<b} (b - a) = 2 sum_{b<N} sum_{k=1}^{b} k
    k = sp.Symbol("k", integer=True, positive=True)
    total = 2 * sp.summation(sp.summation(k, (k, 1, _b)), (_b, 0, n_sym - 1))
    integral = 2 * sp.integrate(sp.integrate(_U1 - _U2, (_U2, 0, _U1)), (_U1, 0, 1))
    return total / n_sym**3, integral


@d_null.check(kind="symbolic", subject=(n_sym**2 - 1) / (3 * n_sym**2),
              control=sp.Rational(3, 8), control_label="the printed 0.375")
def d_null_exact(value: sp.Expr) -> str:
    """``(1/N^3) sum_{a,b<N} |a - b|`` in closed form (sympy sum), and its limit
    ``int int |u - v| du dv``."""
    discrete, integral = _d_null_references()
    sym_same(value, discrete, "E D - (1/N^3) sum |a - b|")
    sym_same(sp.limit(value, n_sym, sp.oo), integral, "lim E D - E|U1 - U2|")
    return f"E D = {sp.factor(value)} -> {integral} = E|U1 - U2|"


def _d_null_within(candidate: Callable[[int], float]) -> str:
    rows = []
    for n, reps in ((20, 400), (300, 100)):
        mean, se = dif.d_null_monte_carlo(n, reps, seed=n)
        z = abs(mean - candidate(n)) / se
        require(z < 4.0, f"N = {n}: Monte Carlo {mean:.4f} +- {se:.4f} vs {candidate(n):.4f} "
                         f"({z:.0f} standard errors)")
        rows.append(f"N = {n}: {mean:.4f} +- {se:.4f} vs {candidate(n):.4f}")
    return "; ".join(rows)


@d_null.check(kind="numeric", subject=d_null_printed, control=dif.d_null, refutes=True,
              control_label="(N^2 - 1)/(3 N^2) (must not be refuted)", tolerance=4.0)
@one_blas_thread
def d_null_monte_carlo(candidate: Callable[[int], float]) -> str:
    """Refutation: D between independent random difficulty functions (random losses) vs the
    candidate, within 4 standard errors (N = 20 and 300)."""
    return _d_null_within(candidate)


# ---------------------------------------------------------------------------------------------
# Eq. (4.32): groups


def group_index_rounded(d: object) -> np.ndarray:
    """Negative control for (4.32): round 10 d to the nearest group instead of flooring it."""
    return np.minimum(np.round(np.asarray(d) * 10), 9).astype(np.int64)


eq4_32 = CLAIMS.claim(
    "thesis.eq4_32",
    title="Difficulty groups G_0 (hardest) .. G_9 (easiest)",
    sources=("003 eq. (4.32) (Sec. 4.3.2)",),
    kind="definition",
    statement=r"""
$\mathcal G_i = \{\mathbf x \in \mathcal D \mid 0.1 \times i \le d_\epsilon(\mathbf x) < 0.1
\times (i + 1)\}$, $i = 0, \dots, 9$.""",
    uses=("thesis.eq4_30",),
)


@eq4_32.check(kind="numeric", subject=dif.group_index, control=group_index_rounded,
              control_label="round(10 d) instead of floor", tolerance=0.0)
@one_blas_thread
def eq4_32_definition(fn: Callable[[object], np.ndarray]) -> str:
    """Group of every instance vs ``i/10 <= d < (i+1)/10`` in exact fractions (20 random sets,
    with ties); every instance lands in exactly one of the ten groups."""
    rng = np.random.default_rng(1)
    count = 0
    for _ in range(20):
        g = rng.integers(0, 25, size=int(rng.integers(5, 120))).tolist()
        got = fn(dif.difficulty(g))
        for j, f in enumerate(_difficulty_by_definition(g)):
            i = int(got[j])
            require(Fraction(i, 10) <= f < Fraction(i + 1, 10),
                    f"d = {f} put in group {i}, not [{i / 10}, {(i + 1) / 10})")
            count += 1
    return f"{count} instances, each in the group of (4.32)"


# ---------------------------------------------------------------------------------------------
# Eq. (4.34): the loss of Sec. 4.3.3


def logistic_loss(u: sp.Expr) -> sp.Expr:
    """The intended loss of the margin ``u = w^T x - eps ||w||``: ``log(1 + e^{-u})``."""
    return sp.log(1 + sp.exp(-u))


def loss_printed_434(u: sp.Expr) -> sp.Expr:
    """003 (4.34): ``l(u) = 1 / (1 + e^{-u})`` ("the logistic function") of the margin."""
    return 1 / (1 + sp.exp(-u))


def loss_printed_instance(u: sp.Expr) -> sp.Expr:
    """003 Sec. 4.3.3's per-instance loss ``1 / (1 + e^{y w^T x'})`` as a function of the margin
    ``u = y w^T x'``: the sigmoid ``sigma(-u)``."""
    return 1 / (1 + sp.exp(u))


eq4_34 = CLAIMS.claim(
    "thesis.eq4_34",
    title="The adversarial logistic loss: a sigmoid is printed where log(1 + e^-u) is meant",
    sources=("003 eq. (4.34) and the text before it (Sec. 4.3.3)",),
    kind="remark",
    statement=r"""
Under the $\ell_2$ budget, with labels absorbed, the adversarial loss of logistic regression is
$g_\epsilon(\mathbf w, \mathbf X) = \sum_i l(\mathbf w^T\mathbf x_i - \epsilon\|\mathbf w\|)$,
$l(x) = \frac1{1 + e^{-x}}$; the per-instance loss is written $\frac1{1 + e^{y_i\mathbf w^T
\mathbf x'_i}}$.""",
    erratum=Erratum(
        printed=r"l(x) = \frac{1}{1 + e^{-x}}\ \ \text{(4.34)},\qquad \frac{1}{1 + e^{y_i\mathbf "
                r"w^T\mathbf x'_i}}",
        problem=(
            "A loss of the margin u = w^T x - eps ||w|| must decrease in u. The printed l(u) = "
            "1/(1 + e^{-u}) increases (l'(0) = 1/4 > 0): minimising (4.34) pushes every margin to "
            "-inf (gradient descent on it turns w against the max-margin direction, cos = -0.98 "
            "in thesis.thm4_4's control). The per-instance form 1/(1 + e^{u}) decreases but is "
            "not convex (its second derivative is negative for u < 0), so the cited implicit-bias "
            "results (Soudry et al., Ji and Telgarsky) do not apply to it."
        ),
        corrected=r"l(u) = \log(1 + e^{-u}),\quad u = \mathbf w^T\mathbf x_i - \epsilon\|\mathbf w"
                  r"\|\ \text{(convex in } \mathbf w\text{: convex decreasing of concave)}",
    ),
)


def _sign_on_reals(expr: sp.Expr, want: str) -> str | None:
    """``None`` if sympy proves ``expr`` is ``want`` ("negative" / "nonnegative") for every real
    u; else a counterexample point (or "undecided")."""
    if getattr(sp.factor(expr), f"is_{want}") is True:
        return None
    for point in (-3, -1, 0, 1, 3):
        value = float(expr.subs(u_sym, point))
        if (want == "negative" and value >= 0) or (want == "nonnegative" and value < 0):
            return f"u = {point}: {value:.3g}"
    return "undecided"


def _convex_decreasing(loss: Callable[[sp.Expr], sp.Expr]) -> str:
    f = loss(u_sym)
    d1, d2 = sp.diff(f, u_sym), sp.diff(f, u_sym, 2)
    bad = _sign_on_reals(d1, "negative")
    require(bad is None, f"l'(u) = {sp.factor(d1)} is not negative ({bad}): not decreasing")
    bad = _sign_on_reals(d2, "nonnegative")
    require(bad is None, f"l''(u) = {sp.factor(d2)} is negative ({bad}): not convex")
    return f"l' = {sp.factor(d1)} < 0 and l'' = {sp.factor(d2)} >= 0 on R"


@eq4_34.check(kind="symbolic", subject=loss_printed_434, control=logistic_loss, refutes=True,
              control_label="log(1 + e^{-u}) (must not be refuted)", name="printed_434")
def eq4_34_printed(loss: Callable[[sp.Expr], sp.Expr]) -> str:
    """Refutation of (4.34): is l convex and decreasing in the margin?"""
    return _convex_decreasing(loss)


@eq4_34.check(kind="symbolic", subject=loss_printed_instance, control=logistic_loss,
              refutes=True, control_label="log(1 + e^{-u}) (must not be refuted)",
              name="printed_instance")
def eq4_34_instance(loss: Callable[[sp.Expr], sp.Expr]) -> str:
    """Refutation of the per-instance ``1/(1 + e^{y w^T x'})``: convex and decreasing?"""
    return _convex_decreasing(loss)


@eq4_34.check(kind="symbolic", subject=logistic_loss, control=loss_printed_434,
              control_label="the printed sigmoid (4.34)", name="corrected")
def eq4_34_corrected(loss: Callable[[sp.Expr], sp.Expr]) -> str:
    """The corrected loss ``log(1 + e^{-u})`` is convex and decreasing in the margin."""
    return _convex_decreasing(loss)


# ---------------------------------------------------------------------------------------------
# Lemma 4.2 and Theorem 4.4: the adversarial max-margin direction is the clean one


def separable_set(rng: np.random.Generator, n: int, m: int, shift: float = 1.5) -> np.ndarray:
    """``n`` points in ``R^m`` (labels absorbed) with ``u^T x_i >= shift`` for a random unit u."""
    u = rng.normal(size=m)
    u /= np.linalg.norm(u)
    X = rng.normal(size=(n, m))
    return X + (shift - np.minimum(X @ u, 0.0))[:, None] * u[None]


def max_margin(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``argmin ||w|| s.t. X w >= 1`` (4.33) and its dual variables, exactly, by NNLS.

    The dual is ``min_{alpha >= 0} 1/2 ||X^T alpha||^2 - 1^T alpha``; with ``b`` solving
    ``X b = 1`` (n < m) it is ``min_{alpha >= 0} ||X^T alpha - b||^2`` up to a constant.
    """
    b = X.T @ np.linalg.solve(X @ X.T, np.ones(len(X)))
    alpha, _ = nnls(X.T, b, maxiter=50 * len(X))
    return X.T @ alpha, alpha


def adversarial_max_margin(X: np.ndarray, eps_: float) -> np.ndarray:
    """``argmin ||w|| s.t. X w - eps ||w|| >= 1`` (4.35) by SLSQP from a feasible multiple of the
    centroid (a convex problem: the constraint function is concave)."""
    w0 = X.mean(axis=0)
    w0 = 2.0 * w0 / ((X @ w0).min() - eps_ * np.linalg.norm(w0))
    res = minimize(lambda v: v @ v, w0, jac=lambda v: 2 * v, method="SLSQP",
                   constraints=[{"type": "ineq",
                                 "fun": lambda v: X @ v - eps_ * np.linalg.norm(v) - 1.0,
                                 "jac": lambda v: X - eps_ * v[None] / np.linalg.norm(v)}],
                   options={"ftol": 1e-12, "maxiter": 1000})
    require(bool(res.success), f"SLSQP did not converge: {res.message}")
    return res.x


def rescale(w_adv: np.ndarray, eps_: float) -> np.ndarray:
    """Lemma 4.2: ``w_hat = w_hat' / (1 + eps ||w_hat'||)``."""
    return w_adv / (1.0 + eps_ * np.linalg.norm(w_adv))


def rescale_proof_typo(w_adv: np.ndarray, eps_: float) -> np.ndarray:
    """Negative control: the proof's ``(1 + ||w_hat'||)`` without eps."""
    return w_adv / (1.0 + np.linalg.norm(w_adv))


lemma4_2 = CLAIMS.claim(
    "thesis.lemma4_2",
    title="The adversarial max-margin vector is the clean one, rescaled",
    sources=("003 Lemma 4.2 (Sec. 4.3.3)",),
    kind="lemma",
    statement=r"""
Let $\widehat{\mathbf w} = \arg\min\|\mathbf w\|$ s.t. $\mathbf w^T\mathbf x_i \ge 1\ \forall i$
(4.33) and $\widehat{\mathbf w}' = \arg\min\|\mathbf w\|$ s.t. $\mathbf w^T\mathbf x_i -
\epsilon\|\mathbf w\| \ge 1\ \forall i$ (4.35). Then $\widehat{\mathbf w}'$ is collinear with
$\widehat{\mathbf w}$ and $\widehat{\mathbf w} = \frac{1}{1 + \epsilon\|\widehat{\mathbf w}'\|}
\widehat{\mathbf w}'$.""",
)

_rho, _c = sp.symbols("rho c", positive=True)
eps = sp.Symbol("epsilon", positive=True)


@lemma4_2.step(1, "On the unit sphere both problems maximise min_i u^T x_i",
               subject=lambda n_adv: n_adv / (1 + eps * n_adv),
               control=lambda n_adv: n_adv / (1 + n_adv),
               control_label="the proof's (1 + ||w'||) without eps")
def lemma4_2_step1(rescaled_norm: Callable[[sp.Expr], sp.Expr]) -> str:
    """``w = c u``: the constraints read ``c >= 1/(min_i u^T x_i - eps)`` and ``c >= 1/min_i
    u^T x_i``, so both optima take the direction maximising ``rho = min_i u^T x_i``, with
    ``||w'|| = 1/(rho - eps)`` and ``||w|| = 1/rho``; the rescaling maps one norm to the other."""
    n_adv = 1 / (_rho - eps)
    return sym_same(rescaled_norm(n_adv), 1 / _rho, "rescaled ||w'|| - ||w||")


@lemma4_2.step(2, "Contradiction: a shorter v scales by (1 + eps ||w'||) into (4.35)",
               subject=lambda n_adv: 1 + eps * n_adv, control=lambda n_adv: 1 + n_adv,
               control_label="the proof's v' = (1 + ||w'||) v, a typo")
def lemma4_2_step2(factor: Callable[[sp.Expr], sp.Expr]) -> str:
    """A v feasible for (4.33) with ``||v|| < ||w'||/(1 + eps ||w'||)`` must scale by
    the candidate factor k to a point shorter than w' and feasible for (4.35): at the boundary
    ``||v|| = ||w'||/(1 + eps ||w'||)`` that needs ``k ||v|| = ||w'||`` and ``k (1 - eps ||v||)
    = 1`` (then ``k v^T x_i - eps k ||v|| > 1`` for every shorter v)."""
    n_adv = sp.Symbol("n", positive=True)  # ||w'||
    n_v = n_adv / (1 + eps * n_adv)
    k = factor(n_adv)
    sym_same(k * n_v, n_adv, "k ||v|| - ||w'||")
    return sym_same(k * (1 - eps * n_v), sp.Integer(1), "k (1 - eps ||v||) - 1")


@lemma4_2.check(kind="numeric", subject=rescale, control=rescale_proof_typo,
                control_label="(1 + ||w'||) without eps", tolerance=1e-6)
@one_blas_thread
def lemma4_2_solvers(fn: Callable[[np.ndarray, float], np.ndarray]) -> str:
    """Solve (4.33) exactly (NNLS dual) and (4.35) by SLSQP on 3 random separable sets
    (N = 15, M = 40, eps in {0.2, 0.5, 1.0}); compare ``fn(w_hat', eps)`` with ``w_hat``."""
    rng = np.random.default_rng(2)
    pairs = []
    for e in (0.2, 0.5, 1.0):
        X = separable_set(rng, 15, 40)
        w_hat, _ = max_margin(X)
        pairs.append((fn(adversarial_max_margin(X, e), e), w_hat))
    return worst_close(pairs, rtol=1e-6, what="rescaled w_hat' vs w_hat")


def gd_direction(X: np.ndarray, eps_: float, loss_grad: Callable[[np.ndarray], np.ndarray],
                 steps: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gradient descent ``w <- w - alpha grad sum_i l(w^T x_i - eps ||w||)`` with
    ``alpha = 1/||X||^2`` from a small random start; ``(1 - cos(w_u, w_hat))`` at the ``steps``,
    and the final w. ``loss_grad(u)`` is ``l'(u)``."""
    w_hat, _ = max_margin(X)
    w = np.random.default_rng(seed).normal(size=X.shape[1]) * 0.1
    lr = 1.0 / np.linalg.norm(X, 2) ** 2
    out, k = [], 0
    for stop in steps:
        while k < stop:
            nw = np.linalg.norm(w)
            dl = loss_grad(X @ w - eps_ * nw)
            w = w - lr * (dl @ X - eps_ * dl.sum() * w / nw)
            k += 1
        out.append(1.0 - w @ w_hat / (np.linalg.norm(w) * np.linalg.norm(w_hat)))
    return np.array(out), w


def logistic_grad(u: np.ndarray) -> np.ndarray:
    """``d/du log(1 + e^{-u}) = -1/(1 + e^u)``."""
    return -0.5 * (1.0 - np.tanh(u / 2.0))


def sigmoid_grad_printed(u: np.ndarray) -> np.ndarray:
    """``d/du 1/(1 + e^{-u})``: the printed loss (4.34)."""
    sig = 0.5 * (1.0 + np.tanh(u / 2.0))
    return sig * (1.0 - sig)


GD_STEPS = (10, 100, 1000, 3000)

thm4_4 = CLAIMS.claim(
    "thesis.thm4_4",
    title="Adversarially trained logistic regression converges to the clean max-margin direction",
    sources=("003 Theorem 4.4 (Sec. 4.3.3)",),
    kind="theorem",
    statement=r"""
For data linearly separable under $\mathcal S^{(2)}(\epsilon)$, any starting point
$\mathbf w_0$ and a step size $\alpha \le 2\|\mathbf X\|^{-2}$, gradient descent on the
adversarial loss (4.34) satisfies $\lim_{u\to\infty}\mathbf w_u/\|\mathbf w_u\| =
\widehat{\mathbf w}/\|\widehat{\mathbf w}\|$ with $\widehat{\mathbf w}$ the clean max-margin
vector (4.33).""",
    uses=("thesis.lemma4_2", "thesis.eq4_34"),
)


@thm4_4.check(kind="numeric", subject=logistic_grad, control=sigmoid_grad_printed,
              control_label="GD on the printed sigmoid loss (4.34)", tolerance=0.03)
@one_blas_thread
def thm4_4_gd(loss_grad: Callable[[np.ndarray], np.ndarray]) -> str:
    """GD (alpha = 1/||X||^2, eps = 0.3, N = 15, M = 40): ``1 - cos(w_u, w_hat)`` falls at
    u = 10, 100, 1000, 3000 and ends below 0.03; the rate is logarithmic, so no tighter target."""
    X = separable_set(np.random.default_rng(3), 15, 40)
    gaps, w = gd_direction(X, 0.3, loss_grad, GD_STEPS)
    require(bool(np.all(np.diff(gaps) < 0)) and gaps[-1] < 0.03,
            f"1 - cos at u = {GD_STEPS}: {', '.join(fmt(g) for g in gaps)} (need falling, < 0.03)")
    return "1 - cos at u = 10, 100, 1000, 3000: " + ", ".join(fmt(g) for g in gaps)


def shift_along(X: np.ndarray, u: np.ndarray, eps_: float) -> np.ndarray:
    """The proof of Theorem 4.4: with the direction frozen at the unit vector u, every point
    moves by ``-eps u``."""
    return X - eps_ * u[None]


def shift_along_points(X: np.ndarray, u: np.ndarray, eps_: float) -> np.ndarray:
    """Negative control: each point moves by ``-eps x_i / ||x_i||`` (towards the origin)."""
    return X - eps_ * X / np.linalg.norm(X, axis=1, keepdims=True)


@thm4_4.step(1, "Frozen direction: the adversarial margins are clean margins of x_i - eps u",
             numeric=True, subject=shift_along, control=shift_along_points,
             control_label="x_i - eps x_i/||x_i||", tolerance=1e-12)
@one_blas_thread
def thm4_4_step1(shift: Callable[[np.ndarray, np.ndarray, float], np.ndarray]) -> str:
    """``w^T x_i - eps ||w|| = w^T x'_i`` for every ``w = c u`` (c > 0), 5 random sets
    (N = 15, M = 40, eps = 0.3, c in [0.5, 5])."""
    rng = np.random.default_rng(9)
    pairs = []
    for _ in range(5):
        X = separable_set(rng, 15, 40)
        u = rng.normal(size=40)
        u /= np.linalg.norm(u)
        w = rng.uniform(0.5, 5.0) * u
        pairs.append((shift(X, u, 0.3) @ w, X @ w - 0.3 * np.linalg.norm(w)))
    return worst_close(pairs, rtol=1e-12, what="clean margins of the shifted set vs adversarial")


def clean_max_margin_direction(X: np.ndarray) -> np.ndarray:
    """The claimed limit: the unit direction of the clean max-margin vector (4.33)."""
    w_hat, _ = max_margin(X)
    return w_hat / np.linalg.norm(w_hat)


def centroid_direction(X: np.ndarray) -> np.ndarray:
    """Negative control: the unit direction of the centroid of the (label-absorbed) points."""
    w = X.mean(axis=0)
    return w / np.linalg.norm(w)


@thm4_4.step(2, "The limit is a fixed point: max-margin of x_i - eps u has direction u",
             numeric=True, subject=clean_max_margin_direction, control=centroid_direction,
             control_label="the centroid direction", tolerance=1e-8)
@one_blas_thread
def thm4_4_step2(direction: Callable[[np.ndarray], np.ndarray]) -> str:
    """GD on the shifted data tends to their max-margin direction (Soudry et al.); a limit u is
    consistent only if the max-margin vector of ``x_i - eps u`` points along u, and then its
    norm is ``||w'|| = 1/(rho - eps)`` of (4.35), ``rho = 1/||w_hat||`` (3 sets, N = 15, M = 40,
    eps = 0.3)."""
    rng = np.random.default_rng(3)
    pairs, norms = [], []
    for _ in range(3):
        X = separable_set(rng, 15, 40)
        u = direction(X)
        w_shift, _ = max_margin(shift_along(X, u, 0.3))
        pairs.append((w_shift / np.linalg.norm(w_shift), u))
        rho = 1.0 / np.linalg.norm(max_margin(X)[0])
        norms.append((np.array([np.linalg.norm(w_shift)]), np.array([1.0 / (rho - 0.3)])))
    worst_close(norms, rtol=1e-8, what="||w'|| vs 1/(rho - eps)")
    return worst_close(pairs, rtol=1e-8, what="max-margin direction of x_i - eps u vs u") + (
        "; ||w'|| = 1/(rho - eps)")


# ---------------------------------------------------------------------------------------------
# The Gaussian mixture: Lemmas 4.3-4.4, Theorem 4.5


def psi(x: np.ndarray | float) -> np.ndarray | float:
    """``Psi(x) = P(Z > x)``, the standard normal tail."""
    return norm.sf(x)


def robust_error_formula(a: float, eps_: float) -> float:
    """Lemma 4.3 (4.39): ``Psi(a - eps)`` with ``a = r w^T eta / ||w||``."""
    return float(psi(a - eps_))


def robust_error_clean(a: float, eps_: float) -> float:
    """Negative control: the clean error ``Psi(a)`` (eps dropped)."""
    return float(psi(a))


lemma4_3 = CLAIMS.claim(
    "thesis.lemma4_3",
    title="Robust error of a linear classifier on one mixture component",
    sources=("003 Lemma 4.3, eqs. (4.39)-(4.42) (Sec. 4.3.3)",),
    kind="lemma",
    statement=r"""
For $\mathbf x \sim \mathcal N(y r_i\boldsymbol\eta, \mathbf I)$ and the classifier
$\mathrm{sign}(\mathbf w^T\mathbf x)$ under the $\ell_2$ budget $\epsilon$, the robust error is
$\widehat{\mathcal R}_i(\epsilon) = \Psi\big(\frac{r_i\mathbf w^T\boldsymbol\eta}{\|\mathbf w\|} -
\epsilon\big)$, and over the mixture $\widehat{\mathcal R}(\epsilon) = \sum_i p_i
\Psi\big(\frac{r_i\mathbf w^T\boldsymbol\eta}{\|\mathbf w\|} - \epsilon\big)$.""",
)


@lemma4_3.check(kind="numeric", subject=robust_error_formula, control=robust_error_clean,
                control_label="Psi(a), eps dropped", tolerance=4.0)
@one_blas_thread
def lemma4_3_monte_carlo(formula: Callable[[float, float], float]) -> str:
    """Monte Carlo with full M = 20 samples (20000 per case) attacked by ``-y eps w/||w||``:
    the error rate is within 4 standard errors of the formula for 4 (r, eps) cases."""
    rng = np.random.default_rng(4)
    M = 20
    eta_ = np.zeros(M)
    eta_[0] = 1.0
    w = rng.normal(size=M) + 2.0 * eta_
    wn = w / np.linalg.norm(w)
    worst = 0.0
    for r, e in ((1.0, 0.3), (2.0, 0.5), (3.0, 1.0), (0.5, 0.2)):
        yv = rng.choice([-1.0, 1.0], size=20000)
        x = yv[:, None] * r * eta_[None] + rng.normal(size=(20000, M))
        x_adv = x - e * yv[:, None] * wn[None]
        rate = float(np.mean(np.sign(x_adv @ w) != yv))
        p = formula(r * wn @ eta_, e)
        z = abs(rate - p) / math.sqrt(max(p * (1 - p), 1e-12) / 20000)
        require(z < 4.0, f"r = {r}, eps = {e}: rate {rate:.4f} vs formula {p:.4f} ({z:.1f} SE)")
        worst = max(worst, z)
    return f"4 cases, worst deviation {worst:.1f} standard errors"


def worst_perturbation(w: np.ndarray, yv: float, eps_: float, eta_: np.ndarray) -> np.ndarray:
    """Lemma 4.3's worst-case l2 perturbation of a linear classifier: ``-y eps w/||w||``."""
    return -yv * eps_ * w / np.linalg.norm(w)


def mean_direction_perturbation(w: np.ndarray, yv: float, eps_: float,
                                eta_: np.ndarray) -> np.ndarray:
    """Negative control: push against the class mean, ``-y eps eta``."""
    return -yv * eps_ * eta_


@lemma4_3.step(1, "The worst l2 perturbation of sign(w^T x) is -y eps w/||w||", numeric=True,
               subject=worst_perturbation, control=mean_direction_perturbation,
               control_label="-y eps eta (against the class mean)", tolerance=1e-12)
@one_blas_thread
def lemma4_3_step1(delta: Callable[[np.ndarray, float, float, np.ndarray], np.ndarray]) -> str:
    """``min_{||D|| <= eps} y w^T (x + D) = y w^T x - eps ||w||`` (Cauchy-Schwarz): the
    candidate has norm eps and attains it (5 random w, x, y; M = 20, eps in [0.1, 2])."""
    rng = np.random.default_rng(10)
    eta_ = np.eye(1, 20)[0]
    pairs = []
    for _ in range(5):
        w, x = rng.normal(size=20) + eta_, rng.normal(size=20)
        yv, e = float(rng.choice([-1.0, 1.0])), float(rng.uniform(0.1, 2.0))
        d = delta(w, yv, e, eta_)
        pairs.append((np.array([yv * w @ (x + d), np.linalg.norm(d)]),
                      np.array([yv * w @ x - e * np.linalg.norm(w), e])))
    return worst_close(pairs, rtol=1e-12, what="attacked margin and ||D|| vs y w^T x - eps ||w||")


def error_normalised(mu: sp.Expr, sigma: sp.Expr) -> sp.Expr:
    """``P(y w^T x' < 0) = Psi(mu / sigma)`` with ``mu = r w^T eta - eps ||w||``, ``sigma =
    ||w||``: (4.39) after dividing by ||w||."""
    return psi_sym(mu / sigma)


def error_unnormalised(mu: sp.Expr, sigma: sp.Expr) -> sp.Expr:
    """Negative control: ``Psi(mu)``, the margin not divided by ||w||."""
    return psi_sym(mu)


@lemma4_3.step(2, "y w^T x' ~ N(r w^T eta - eps ||w||, ||w||^2), so the error is Psi(...)",
               subject=error_normalised, control=error_unnormalised,
               control_label="Psi(r w^T eta - eps ||w||), not divided by ||w||")
def lemma4_3_step2(error: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> str:
    """``y w^T x' = r w^T eta + y w^T z - eps ||w||`` with ``y w^T z ~ N(0, ||w||^2)``: the
    normal CDF at 0 equals the candidate, and the candidate at ``mu = ||w|| (r a - eps)`` is
    ``Psi(r a - eps)``, ``a = w^T eta/||w||`` (4.39)."""
    wn, a, r = sp.symbols("w_n a r", positive=True)
    mu = wn * (r * a - eps)
    cdf0 = (1 + sp.erf((0 - mu) / (sp.sqrt(2) * wn))) / 2
    sym_same(cdf0, error(mu, wn).rewrite(sp.erf), "P(N(mu, ||w||^2) < 0) - candidate")
    return sym_same(error(mu, wn), psi_sym(r * a - eps), "candidate - Psi(r a - eps) (4.39)")


def min_norm_interpolator(X: np.ndarray) -> np.ndarray:
    """``argmin ||w|| s.t. X w = 1`` (labels absorbed): ``X^T (X X^T)^-1 1``."""
    return X.T @ np.linalg.solve(X @ X.T, np.ones(len(X)))


def centroid_classifier(X: np.ndarray) -> np.ndarray:
    """Negative control: the mean of the (label-absorbed) points, scaled to margin 1."""
    w = X.mean(axis=0)
    return w / (X @ w).min()


def mixture_training_set(rng: np.random.Generator, n: int, m: int, r: float) -> np.ndarray:
    """``n`` label-absorbed points of component r: ``y x = r eta + y q`` with eta = e_1."""
    yv = rng.choice([-1.0, 1.0], size=n)
    X = r * yv[:, None] * np.eye(1, m) + rng.normal(size=(n, m))
    return yv[:, None] * X


lemma4_4 = CLAIMS.claim(
    "thesis.lemma4_4",
    title="In high dimension the max-margin vector is the min-norm interpolator",
    sources=("003 Lemma 4.4 (Sec. 4.3.3; Wang and Thrampoulidis, Theorem 1)",),
    kind="lemma",
    statement=r"""
If $M > 10N\log N + N - 1$ and $M > CNr_l\sqrt{\log 2N}\|\boldsymbol\eta\|$, then with
probability $1 - \mathcal O(1/N)$ the max-margin vector equals $\bar{\mathbf w} = \arg\min
\|\mathbf w\|$ s.t. $y_i = \mathbf w^T\mathbf x_i$, i.e. $\bar{\mathbf w} = \mathbf X^T
(\mathbf X\mathbf X^T)^{-1}\mathbf y$.""",
)


@lemma4_4.check(kind="numeric", subject=min_norm_interpolator, control=centroid_classifier,
                control_label="the centroid classifier scaled to margin 1", tolerance=1e-8)
@one_blas_thread
def lemma4_4_dual(candidate: Callable[[np.ndarray], np.ndarray]) -> str:
    """5 draws, N = 10, M = 300 > 10 N log N + N - 1 = 240, r = 1: the candidate equals the
    exact max-margin vector (NNLS dual), whose dual variables are all positive."""
    rng = np.random.default_rng(5)
    pairs, min_alpha = [], math.inf
    for _ in range(5):
        X = mixture_training_set(rng, 10, 300, 1.0)
        w_mm, alpha = max_margin(X)
        min_alpha = min(min_alpha, float(alpha.min()))
        pairs.append((candidate(X), w_mm))
    require(min_alpha > 0, f"a dual variable is {min_alpha:.2g}: not every point is a support "
                           "vector")
    return worst_close(pairs, rtol=1e-8, what="candidate vs max-margin") + (
        f"; smallest dual variable {fmt(min_alpha)} > 0")


@lemma4_4.step(1, "X^T (XX^T)^-1 y interpolates and lies in the row space: min norm",
               numeric=True, subject=min_norm_interpolator, control=centroid_classifier,
               control_label="the centroid classifier scaled to margin 1", tolerance=1e-10)
@one_blas_thread
def lemma4_4_step1(candidate: Callable[[np.ndarray], np.ndarray]) -> str:
    """A w with ``X w = 1`` in the row space of X is the min-norm solution: the candidate equals
    the pseudo-inverse solution ``X^+ 1`` (3 draws, N = 10, M = 300)."""
    rng = np.random.default_rng(11)
    pairs = []
    for _ in range(3):
        X = mixture_training_set(rng, 10, 300, 1.0)
        pairs.append((candidate(X), np.linalg.pinv(X) @ np.ones(10)))
    return worst_close(pairs, rtol=1e-10, what="candidate vs X^+ 1")


def dimension_condition(n: int) -> int:
    """Lemma 4.4's dimension: the least integer M > 10 N log N + N - 1."""
    return math.floor(10 * n * math.log(n) + n - 1) + 1


def dimension_barely(n: int) -> int:
    """Negative control: M = N + 1 (just over-parameterised)."""
    return n + 1


@lemma4_4.step(2, "In high dimension (XX^T)^-1 1 > 0: all points are support vectors",
               numeric=True, subject=dimension_condition, control=dimension_barely,
               control_label="M = N + 1", tolerance=1e-8)
@one_blas_thread
def lemma4_4_step2(dimension: Callable[[int], int]) -> str:
    """KKT: the interpolator ``X^T alpha`` with ``alpha = (XX^T)^-1 1`` solves the max-margin
    problem iff ``alpha >= 0``; at the candidate M (N = 8, r = 1, 20 draws) every alpha is
    positive."""
    rng = np.random.default_rng(12)
    n = 8
    m = dimension(n)
    worst = math.inf
    for k in range(20):
        X = mixture_training_set(rng, n, m, 1.0)
        alpha = np.linalg.solve(X @ X.T, np.ones(n))
        require(bool(alpha.min() > 0), f"M = {m}, draw {k}: dual variable {alpha.min():.3g} "
                                       "<= 0, a point is not a support vector")
        worst = min(worst, float(alpha.min()))
    return f"M = {m}: 20 draws, smallest dual variable {fmt(worst)} > 0"


# Theorem 4.5: the 2x2 Woodbury reduction
s_, t_, v_ = sp.symbols("s t v", real=True)
r_ = sp.Symbol("r_l", positive=True)
n2 = sp.Symbol("n2", positive=True)  # ||eta||^2


@functools.lru_cache(maxsize=1)
def _woodbury() -> tuple[sp.Expr, sp.Expr]:
    """``y^T (XX^T)^-1 y`` and ``y^T (XX^T)^-1 X eta`` from ``XX^T = U + P C P^T``,
    ``P = [y, d]``, ``C = [[r^2 ||eta||^2, r], [r, 0]]``, ``P^T U^-1 P = [[s, v], [v, t]]``."""
    C = sp.Matrix([[r_**2 * n2, r_], [r_, 0]])
    G = sp.Matrix([[s_, v_], [v_, t_]])
    inner = (C.inv() + G).inv()
    row_y, row_d = sp.Matrix([[s_, v_]]), sp.Matrix([[v_, t_]])
    yy = s_ - (row_y * inner * row_y.T)[0]
    yd = v_ - (row_y * inner * row_d.T)[0]
    return sp.cancel(yy), sp.cancel(r_ * n2 * yy + yd)  # X eta = r ||eta||^2 y + d


_DEN = r_**2 * s_ * (n2 - t_) + (r_ * v_ + 1) ** 2
PRINTED_447 = s_ / _DEN
PRINTED_448 = (r_ * s_ * (n2 - t_) + r_ * v_**2 + v_) / _DEN
C1 = (s_ * (n2 - t_) + v_**2) / s_
C2 = (s_ * (n2 - t_) + v_**2) / (n2 - t_)


def c3_corrected(r: sp.Expr) -> sp.Expr:
    """``C_3 = (2 v r_l + 1) / (||eta||^2 - t)``: it depends on r_l."""
    return (2 * v_ * r + 1) / (n2 - t_)


def c3_constant(r: sp.Expr) -> sp.Expr:
    """Negative control: the r_l-free ``C_3 = 1/(||eta||^2 - t)`` that "(C_2 r^2 + o(r^2))"
    suggests."""
    return 1 / (n2 - t_)


def a_squared_closed_form(s: float, t: float, v: float, r: float, nn: float,
                          c3: Callable[[sp.Expr], sp.Expr] = c3_corrected) -> float:
    """``A^2 = C_1 - 1 / (C_2 r^2 + C_3)`` evaluated at numbers."""
    fn = sp.lambdify((s_, t_, v_, r_, n2), C1 - 1 / (C2 * r_**2 + c3(r_)), "math")
    return float(fn(s, t, v, r, nn))


def printed_identity(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """003 proof of Theorem 4.5: ``I - (QQ^T)^-1 = (I - (QQ^T)^-1)^T (I - (QQ^T)^-1)``."""
    B = np.eye(len(Q)) - np.linalg.inv(Q @ Q.T)
    return B, B.T @ B


def projection_identity(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corrected argument: ``P = Q^T (QQ^T)^-1 Q`` is an orthogonal projection,
    ``P = P^T P``, so ``t = eta^T P eta = ||P eta||^2 <= ||eta||^2``."""
    P = Q.T @ np.linalg.solve(Q @ Q.T, Q)
    return P, P.T @ P


thm4_5 = CLAIMS.claim(
    "thesis.thm4_5",
    title="Robust test error of a model trained on one mixture component",
    sources=("003 Theorem 4.5, eqs. (4.43)-(4.50) (Sec. 4.3.3)",),
    kind="theorem",
    statement=r"""
Train logistic regression adversarially on $N$ separable instances of component $l$ of the
mixture. If $\frac{M}{N\log N}$ is large enough, then w.p. $1 - \mathcal O(\frac1N)$,
$\mathcal R(r_l, \epsilon) = \sum_{i=1}^I p_i\Psi(r_i g(r_l) - \epsilon)$ with
$g(r_l) = \big(C_1 - \frac{1}{C_2r_l^2 + o(r_l^2)}\big)^{1/2}$, $C_1, C_2 \ge 0$ independent of
$\epsilon$ and $r_l$; so $\mathcal R$ decreases as $r_l$ grows.""",
    uses=("thesis.thm4_4", "thesis.lemma4_3", "thesis.lemma4_4"),
    erratum=Erratum(
        printed=r"\|\boldsymbol\eta\|^2 - t \ge 0\ \text{because}\ \mathbf I - (\mathbf Q\mathbf "
                r"Q^T)^{-1} = (\mathbf I - (\mathbf Q\mathbf Q^T)^{-1})^T(\mathbf I - (\mathbf Q"
                r"\mathbf Q^T)^{-1});\ C_3\ \text{constant};\ g\ \text{increasing}",
        problem=(
            "The identity is false (it would make I - (QQ^T)^-1 idempotent; relative residual "
            "0.085 on random Q with N = 5, M = 30, check step4) and mixes R^M with R^{N x N}. The"
            " conclusion holds by a projection: t = eta^T Q^T (QQ^T)^-1 Q eta = ||P eta||^2 <= "
            "||eta||^2, and s > 0 since QQ^T is positive definite a.s. for N < M. The exact "
            "formula is A^2 = C_1 - 1/(C_2 r^2 + C_3) with C_3 = (2 v r_l + 1)/(||eta||^2 - t), "
            "which depends on r_l, and g increases in r_l only above r* = -v/(s(||eta||^2 - t) + "
            "v^2) (v can be negative), so 'R decreases as r_l grows' holds for r_l > max(r*, 0)."
        ),
        corrected=r"t = \|\mathbf P_{\mathrm{row}(\mathbf Q)}\boldsymbol\eta\|^2 \le \|\boldsymbol"
                  r"\eta\|^2;\ g(r_l)^2 = C_1 - \frac{1}{C_2r_l^2 + C_3(r_l)},\ C_3 = \frac{2vr_l"
                  r" + 1}{\|\boldsymbol\eta\|^2 - t};\ g\uparrow\ \text{for}\ r_l > -\frac{v}{s("
                  r"\|\boldsymbol\eta\|^2 - t) + v^2}",
    ),
)


@thm4_5.step(1, "Woodbury on XX^T = U + P C P^T gives (4.47)", subject=PRINTED_447,
             control=s_ / (r_**2 * s_ * (n2 - t_) + (r_ * v_ - 1) ** 2),
             control_label="(r v - 1)^2 in the denominator")
def thm4_5_step1(expr: sp.Expr) -> str:
    """``y^T (XX^T)^-1 y`` by the 2x2 Woodbury identity vs (4.47)."""
    return sym_same(_woodbury()[0], expr, "Woodbury y^T(XX^T)^-1 y - (4.47)")


@thm4_5.step(2, "and (4.48)", subject=PRINTED_448,
             control=(r_ * s_ * (n2 - t_) - r_ * v_**2 + v_) / _DEN,
             control_label="- r v^2 in the numerator")
def thm4_5_step2(expr: sp.Expr) -> str:
    """``y^T (XX^T)^-1 X eta`` by the 2x2 Woodbury identity vs (4.48)."""
    return sym_same(_woodbury()[1], expr, "Woodbury y^T(XX^T)^-1 X eta - (4.48)")


@thm4_5.step(3, "A^2 = C1 - 1/(C2 r^2 + C3) with C3 depending on r_l", subject=c3_corrected,
             control=c3_constant, control_label="C_3 = 1/(||eta||^2 - t), free of r_l")
def thm4_5_step3(c3: Callable[[sp.Expr], sp.Expr]) -> str:
    """``A^2 = (4.48)^2 / (4.47)`` (4.45) equals ``C_1 - 1/(C_2 r^2 + C_3(r))``."""
    a2 = PRINTED_448**2 / PRINTED_447
    return sym_same(a2, C1 - 1 / (C2 * r_**2 + c3(r_)), "A^2 - (C1 - 1/(C2 r^2 + C3))")


@thm4_5.step(4, "Printed sign argument: I - U^-1 = (I - U^-1)^T (I - U^-1)", numeric=True,
             refutes=True, subject=printed_identity, control=projection_identity,
             control_label="P = Q^T U^-1 Q is a projection (must not be refuted)",
             tolerance=1e-8)
@one_blas_thread
def thm4_5_step4(identity: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> str:
    """Refutation: lhs = rhs on 5 random Q (N = 5, M = 30)?"""
    rng = np.random.default_rng(6)
    return worst_close([identity(rng.normal(size=(5, 30))) for _ in range(5)], rtol=1e-8,
                       what="lhs vs rhs")


@thm4_5.step(5, "g increases in r_l only above r* = -v/(s(||eta||^2 - t) + v^2)",
             subject=-v_ / (s_ * (n2 - t_) + v_**2), control=sp.Integer(0),
             control_label="r* = 0 (g increasing for every r_l > 0)")
def thm4_5_step5(threshold: sp.Expr) -> str:
    """``A^2 = C_1 - (||eta||^2 - t)/D(r)`` with ``D = r^2 s(||eta||^2 - t) + (r v + 1)^2``:
    ``dA^2/dr`` has the sign of ``D'(r)``, whose only root is the threshold."""
    D = _DEN
    slope = sp.Poly(sp.diff(D, r_), r_)
    require(slope.degree() == 1, f"D'(r) = {slope.as_expr()} is not linear in r")
    root = [-slope.coeff_monomial(1) / slope.coeff_monomial(r_)]
    sym_same(sp.diff(C1 - (n2 - t_) / D, r_), (n2 - t_) * sp.diff(D, r_) / D**2,
              "dA^2/dr - (||eta||^2 - t) D'/D^2")
    return sym_same(root[0], threshold, "root of D'(r) - r*")


def gmm_constants(Q: np.ndarray, yv: np.ndarray, eta_: np.ndarray) -> tuple[float, float, float]:
    """``(s, t, v)`` of (4.44) for noise Q (N, M), labels y and direction eta."""
    U = Q @ Q.T
    d = Q @ eta_
    return (float(yv @ np.linalg.solve(U, yv)), float(d @ np.linalg.solve(U, d)),
            float(yv @ np.linalg.solve(U, d)))


def g_direct(Q: np.ndarray, yv: np.ndarray, eta_: np.ndarray, r: float) -> float:
    """``g(r) = w^T eta / ||w||`` for the min-norm interpolator of ``X = r y eta^T + Q``."""
    X = r * yv[:, None] * eta_[None] + Q
    w = X.T @ np.linalg.solve(X @ X.T, yv)
    return float(w @ eta_ / np.linalg.norm(w))


@thm4_5.check(kind="numeric", subject=c3_corrected, control=c3_constant,
              control_label="C_3 free of r_l", tolerance=1e-8)
@one_blas_thread
def thm4_5_closed_form(c3: Callable[[sp.Expr], sp.Expr]) -> str:
    """Closed-form ``A^2`` vs the direct min-norm interpolator on 3 noise draws (N = 20,
    M = 400) at r_l in {0.5, 1, 2, 4}."""
    rng = np.random.default_rng(7)
    pairs = []
    for _ in range(3):
        Q, yv = rng.normal(size=(20, 400)), rng.choice([-1.0, 1.0], size=20)
        eta_ = np.eye(1, 400)[0]
        s, t, v = gmm_constants(Q, yv, eta_)
        for r in (0.5, 1.0, 2.0, 4.0):
            pairs.append((a_squared_closed_form(s, t, v, r, 1.0, c3),
                          g_direct(Q, yv, eta_, r) ** 2))
    return worst_close(pairs, rtol=1e-8, what="closed-form A^2 vs direct")


# ---------------------------------------------------------------------------------------------
# Lemma 4.5 and Corollary 4.2: the easy-hard gap and where it grows with eps

_p1, _p2, _r1, _r2 = sp.symbols("p_1 p_2 r_1 r_2", positive=True)
_x = sp.Symbol("x", real=True)
_gfun = sp.Function("g")


def psi_sym(x: sp.Expr) -> sp.Expr:
    """``Psi(x) = erfc(x / sqrt 2) / 2``."""
    return sp.erfc(x / sp.sqrt(2)) / 2


def phi_sym(x: sp.Expr) -> sp.Expr:
    """The standard normal density."""
    return sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


def dR_printed(r: sp.Expr) -> sp.Expr:
    """003 (4.51): ``sum_i p_i Psi'(r_i g(r_l) - eps) g'(r_l)`` (two components)."""
    return sum(p * -phi_sym(ri * _gfun(r) - eps) * sp.diff(_gfun(r), r)
               for p, ri in ((_p1, _r1), (_p2, _r2)))


def dR_corrected(r: sp.Expr) -> sp.Expr:
    """(4.51) with the chain-rule factor r_i restored."""
    return sum(p * -phi_sym(ri * _gfun(r) - eps) * ri * sp.diff(_gfun(r), r)
               for p, ri in ((_p1, _r1), (_p2, _r2)))


lemma4_5 = CLAIMS.claim(
    "thesis.lemma4_5",
    title="dR/dr_l is negative and decreases with eps",
    sources=("003 Lemma 4.5, eqs. (4.51)-(4.52) (Sec. 4.3.3)",),
    kind="lemma",
    statement=r"""
$\frac{\partial\mathcal R(r_l, \epsilon)}{\partial r_l}$ is negative and decreases monotonically
with $\epsilon$; its proof writes $\frac{\partial\mathcal R}{\partial r_l} = \sum_i p_i
\Psi'(r_ig(r_l) - \epsilon)\frac{\partial g(r_l)}{\partial r_l}$ (4.51) and uses
$r_ig(r_i) - \epsilon > 0$ (4.52).""",
    uses=("thesis.thm4_5",),
    erratum=Erratum(
        printed=r"\frac{\partial\mathcal R}{\partial r_l} = \sum_i p_i\Psi'(r_ig(r_l) - \epsilon)"
                r"\frac{\partial g(r_l)}{\partial r_l}\ \ (4.51)",
        problem=(
            "The chain rule drops the factor r_i (sympy: the printed form differs from "
            "d/dr_l sum_i p_i Psi(r_i g(r_l) - eps)); the sign is unaffected. The monotonicity "
            "in eps needs r_i g(r_l) - eps > 0 for every evaluation component i and every r_l "
            "in the range integrated over, not (4.52), which training separability does not "
            "imply (see thesis.cor4_2)."
        ),
        corrected=r"\frac{\partial\mathcal R}{\partial r_l} = g'(r_l)\sum_i p_i\,r_i\,\Psi'(r_i"
                  r"g(r_l) - \epsilon),\ \text{decreasing in } \epsilon\ \text{if}\ \epsilon < "
                  r"\min_i r_ig(r_l)",
    ),
)


@lemma4_5.step(1, "Printed chain rule (4.51)", refutes=True, subject=dR_printed,
               control=dR_corrected, control_label="with the factor r_i (must not be refuted)")
def lemma4_5_step1(derivative: Callable[[sp.Expr], sp.Expr]) -> str:
    """Refutation: is the candidate ``d/dr_l sum_i p_i Psi(r_i g(r_l) - eps)`` (I = 2)?"""
    r = sp.Symbol("r", positive=True)
    R = sum(p * psi_sym(ri * _gfun(r) - eps) for p, ri in ((_p1, _r1), (_p2, _r2)))
    return sym_same(sp.diff(R, r), derivative(r), "dR/dr_l - candidate")


@lemma4_5.step(2, "d/deps Psi'(a - eps) = -(a - eps) phi(a - eps): negative iff a > eps",
               subject=lambda a, e: -(a - e) * phi_sym(a - e),
               control=lambda a, e: (a - e) * phi_sym(a - e), control_label="the sign flipped")
def lemma4_5_step2(derivative: Callable[[sp.Expr, sp.Expr], sp.Expr]) -> str:
    """``Psi' = -phi`` and ``phi'(x) = -x phi(x)``: so ``Psi'(a - eps)`` decreases in eps exactly
    while ``a > eps``."""
    a = sp.Symbol("a", real=True)
    sym_same(sp.diff(psi_sym(_x), _x), -phi_sym(_x), "Psi' + phi")
    return sym_same(sp.diff(sp.diff(psi_sym(_x), _x).subs(_x, a - eps), eps),
                     derivative(a, eps), "d/deps Psi'(a - eps) - candidate")


class GapSetting:
    """One noise draw of the mixture and the easy-hard gap of Corollary 4.2 on it."""

    def __init__(self, seed: int, n: int, m: int, radii: tuple[float, ...]) -> None:
        rng = np.random.default_rng(seed)
        self.radii = np.asarray(radii, dtype=np.float64)
        self.Q, self.y = rng.normal(size=(n, m)), rng.choice([-1.0, 1.0], size=n)
        self.eta = np.eye(1, m)[0]
        self.s, self.t, self.v = gmm_constants(self.Q, self.y, self.eta)

    def g(self, r: float | np.ndarray) -> np.ndarray:
        """``g(r)`` from the closed form (same noise draw for every r, as the proof needs)."""
        r = np.asarray(r, dtype=np.float64)
        den = r**2 * self.s * (1 - self.t) + (r * self.v + 1) ** 2
        return np.sqrt((self.s * (1 - self.t) + self.v**2) / self.s - (1 - self.t) / den)

    def g_prime(self, r: float | np.ndarray) -> np.ndarray:
        """``g'(r) = (1 - t) D'(r) / (2 g D^2)``, ``D = r^2 s (1 - t) + (r v + 1)^2``."""
        r = np.asarray(r, dtype=np.float64)
        den = r**2 * self.s * (1 - self.t) + (r * self.v + 1) ** 2
        dden = 2 * r * self.s * (1 - self.t) + 2 * self.v * (r * self.v + 1)
        return (1 - self.t) * dden / (2 * self.g(r) * den**2)

    def train_margin(self, r: float) -> float:
        """Normalised training margin ``1/||w||`` of the min-norm interpolator of component r:
        adversarial training at budget eps is feasible (separable) iff eps < this."""
        X = self.y[:, None] * (r * self.y[:, None] * self.eta[None] + self.Q)
        return 1.0 / float(np.linalg.norm(min_norm_interpolator(X)))

    def risk(self, r_l: float, eps_: np.ndarray) -> np.ndarray:
        """``R(r_l, eps) = mean_i Psi(r_i g(r_l) - eps)`` (equal p_i)."""
        return psi(self.radii[:, None] * self.g(r_l) - np.asarray(eps_)[None]).mean(axis=0)

    def gap(self, i: int, j: int, eps_: np.ndarray) -> np.ndarray:
        """``R(r_i, eps) - R(r_j, eps)``: hard-trained minus easy-trained robust error."""
        return self.risk(self.radii[i], eps_) - self.risk(self.radii[j], eps_)


def region_printed(setting: GapSetting, i: int, j: int) -> float:
    """The printed hypothesis: every eps at which both training sets are separable."""
    return min(setting.train_margin(setting.radii[i]), setting.train_margin(setting.radii[j]))


def region_corrected(setting: GapSetting, i: int, j: int) -> float:
    """``eps < min_k r_k g(r_l)`` for every ``r_l in [r_i, r_j]`` (g on a fine grid)."""
    grid = np.linspace(setting.radii[i], setting.radii[j], 201)
    return float(setting.radii.min() * setting.g(grid).min())


def gap_increasing(setting: GapSetting, region: Callable[[GapSetting, int, int], float]) -> str:
    """For every pair i < j the gap is strictly increasing on ``[0, region)`` (400-point grid)."""
    rows = []
    for i in range(len(setting.radii)):
        for j in range(i + 1, len(setting.radii)):
            top = region(setting, i, j)
            grid = np.linspace(0.0, top, 400, endpoint=False)
            gap = setting.gap(i, j, grid)
            bad = np.flatnonzero(np.diff(gap) <= 0)
            if bad.size:
                require(False, f"pair (r = {setting.radii[i]:g}, {setting.radii[j]:g}): the gap "
                               f"falls at eps = {grid[bad[0]]:.2f} < {top:.2f} (peak "
                               f"{gap.max():.3f} at eps = {grid[gap.argmax()]:.2f})")
            rows.append(top)
    return f"{len(rows)} pairs, gap increasing on [0, eps_max), eps_max in " \
           f"[{min(rows):.3f}, {max(rows):.3f}]"


COUNTEREXAMPLE = dict(seed=0, n=20, m=2000, radii=(3.0, 6.0, 10.0, 20.0))

cor4_2 = CLAIMS.claim(
    "thesis.cor4_2",
    title="The robust-error gap between hard- and easy-trained models grows with eps",
    sources=("003 Corollary 4.2, eq. (4.53) (Sec. 4.3.3)",),
    kind="corollary",
    statement=r"""
Under the assumptions of Theorem 4.5, if $\epsilon_1 < \epsilon_2$ then for all $0 \le i < j
\le I$: $\mathcal R(r_i, \epsilon_1) - \mathcal R(r_j, \epsilon_1) < \mathcal R(r_i,
\epsilon_2) - \mathcal R(r_j, \epsilon_2)$.""",
    uses=("thesis.lemma4_5", "thesis.thm4_5"),
    erratum=Erratum(
        printed=r"\epsilon_1 < \epsilon_2 \Rightarrow \mathcal R(r_i, \epsilon_1) - \mathcal R"
                r"(r_j, \epsilon_1) < \mathcal R(r_i, \epsilon_2) - \mathcal R(r_j, \epsilon_2)"
                r"\ \text{whenever the training data are separable}",
        problem=(
            "Counterexample (N = 20, M = 2000, one noise draw, r in {3, 6, 10, 20}, equal p_i): "
            "the training sets stay separable for every eps < 10.32 (normalised margins 10.32 "
            "for r = 3 up to 22.25 for r = 20), yet every pair (i, j) has a gap that falls with "
            "eps below that: R(3, eps) - R(6, eps) peaks at 0.259 at eps = 3.19 and is 0.155 at "
            "eps = 10; R(3, eps) - R(20, eps) first falls at eps = 4.04 and ends at 0.286 after "
            "a peak of 0.480. Lemma 4.5 needs r_k g(r_l) > eps for every evaluation component k "
            "and every r_l between r_i and r_j; the corollary holds for eps < min_k r_k g(r_l) "
            "(0.862 for the pairs with r_i = 3 here) and can fail beyond it."
        ),
        corrected=r"\text{the same for}\ \epsilon_1 < \epsilon_2 < \min_k r_k \min_{r \in [r_i, "
                  r"r_j]} g(r)",
    ),
)


@cor4_2.check(kind="numeric", subject=region_printed, control=region_corrected, refutes=True,
              control_label="eps < min_k r_k g(r_l) (must not be refuted)", tolerance=0.0)
@one_blas_thread
def cor4_2_counterexample(region: Callable[[GapSetting, int, int], float]) -> str:
    """Refutation: is the gap increasing in eps on the whole candidate region, for all 6 pairs
    (N = 20, M = 2000, r in {3, 6, 10, 20})?"""
    return gap_increasing(GapSetting(**COUNTEREXAMPLE), region)


@cor4_2.check(kind="numeric", subject=region_corrected, control=region_printed,
              control_label="every separable eps (the printed hypothesis)", tolerance=0.0)
@one_blas_thread
def cor4_2_validity_region(region: Callable[[GapSetting, int, int], float]) -> str:
    """On 3 more draws (N = 20, M = 1000 and 2000, other radii) the gap increases on the whole
    candidate region for every pair."""
    out = []
    for seed, m, radii in ((1, 2000, (2.0, 5.0, 12.0)), (2, 1000, (3.0, 8.0, 25.0)),
                           (3, 2000, (4.0, 6.0, 9.0, 15.0))):
        out.append(gap_increasing(GapSetting(seed, 20, m, radii), region))
    return "; ".join(out)


def dR_numeric(setting: GapSetting, r: np.ndarray, eps_: float) -> np.ndarray:
    """Corrected (4.51) at numbers: ``g'(r) mean_k r_k Psi'(r_k g(r) - eps)`` (equal p_k)."""
    a = setting.radii[:, None] * setting.g(r)[None] - eps_
    return setting.g_prime(r) * (setting.radii[:, None] * -norm.pdf(a)).mean(axis=0)


def dR_numeric_printed(setting: GapSetting, r: np.ndarray, eps_: float) -> np.ndarray:
    """Negative control: the printed (4.51) at numbers, without the factor r_k."""
    a = setting.radii[:, None] * setting.g(r)[None] - eps_
    return setting.g_prime(r) * (-norm.pdf(a)).mean(axis=0)


@cor4_2.step(1, "(4.53): the gap is minus the integral of dR/dr_l over [r_i, r_j]",
             numeric=True, subject=dR_numeric, control=dR_numeric_printed,
             control_label="the printed (4.51) without r_k", tolerance=1e-8)
@one_blas_thread
def cor4_2_step1(dR: Callable[[GapSetting, np.ndarray, float], np.ndarray]) -> str:
    """``R(r_i, eps) - R(r_j, eps) = -int_{r_i}^{r_j} dR/dr dr`` (Simpson, 2001 points) on the
    counterexample draw, all 6 pairs, eps in {0, 0.5, 2}."""
    setting = GapSetting(**COUNTEREXAMPLE)
    pairs = []
    for e in (0.0, 0.5, 2.0):
        for i in range(len(setting.radii)):
            for j in range(i + 1, len(setting.radii)):
                grid = np.linspace(setting.radii[i], setting.radii[j], 2001)
                f, h = dR(setting, grid, e), grid[1] - grid[0]
                integral = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
                pairs.append((np.array([-integral]), setting.gap(i, j, np.array([e]))))
    return worst_close(pairs, rtol=1e-8, what="-int dR/dr vs the gap")


@cor4_2.step(2, "The integrand d/deps dR/dr_l < 0 on [r_i, r_j] for eps < min_k r_k g(r_l)",
             numeric=True, subject=region_corrected, control=region_printed,
             control_label="every separable eps (the printed hypothesis)", tolerance=0.0)
@one_blas_thread
def cor4_2_step2(region: Callable[[GapSetting, int, int], float]) -> str:
    """``d/deps dR/dr = g'(r) mean_k r_k (-(a_k - eps)) phi(a_k - eps)``, ``a_k = r_k g(r)``
    (Lemma 4.5, step 2), is negative at every (r, eps) of a 201 x 200 grid of ``[r_i, r_j] x
    [0, region)``, for all 6 pairs of the counterexample draw: so the gap increases there."""
    setting = GapSetting(**COUNTEREXAMPLE)
    worst = -math.inf
    for i in range(len(setting.radii)):
        for j in range(i + 1, len(setting.radii)):
            r = np.linspace(setting.radii[i], setting.radii[j], 201)
            eps_grid = np.linspace(0.0, region(setting, i, j), 200, endpoint=False)
            a = setting.radii[:, None, None] * setting.g(r)[None, :, None] - eps_grid
            mixed = setting.g_prime(r)[:, None] * (
                setting.radii[:, None, None] * -a * norm.pdf(a)).mean(axis=0)
            top = float(mixed.max())
            require(top < 0, f"pair (r = {setting.radii[i]:g}, {setting.radii[j]:g}): d/deps "
                             f"dR/dr = {top:.3g} >= 0 at eps up to {eps_grid[-1]:.2f}")
            worst = max(worst, top)
    return f"6 pairs: d/deps dR/dr <= {worst:.3g} < 0 on the region"


# ---------------------------------------------------------------------------------------------
# Sec. 4.3.4: the Lipschitz lower bound

_N, _M, _b, _c, _L, _W, _J, _delta = sp.symbols("N M b c L W J delta", positive=True)
_gam = sp.Symbol("gamma", positive=True)
_aa = sp.Symbol("a", positive=True)

def tanh_family(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The data and parameters of :func:`h_table`: 20 points x, labels y, and the 286 (theta_1,
    theta_0) of the grid as columns."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=20)
    y = np.where(x + 0.3 * rng.normal(size=20) > 0, 1.0, -1.0)
    t1, t0 = np.meshgrid(np.linspace(0.5, 3, 26), np.linspace(-0.5, 0.5, 11))
    return x, y, t1.ravel()[:, None], t0.ravel()[:, None]


def h_from_range(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Definition 4.1: the largest zeta with ``[f - zeta, f + zeta]`` inside the range
    ``[lo, hi]`` of f over the ball: the distance from ``mid = f(x)`` to the nearer end."""
    return np.minimum(np.abs(hi - mid), np.abs(mid - lo))


def h_half_width(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Negative control: the half-width ``(hi - lo)/2`` of the range (ignores where f(x) is)."""
    return (hi - lo) / 2


def mse_worst(lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The adversarial training MSE of every theta: the worst end of the ball per point."""
    return np.maximum((lo - y) ** 2, (hi - y) ** 2).mean(axis=1)


def mse_one_side(lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Negative control: the MSE under the fixed perturbation ``x + eps`` (not the worst case)."""
    return ((hi - y) ** 2).mean(axis=1)


def h_table(reduce: Callable[[np.ndarray], float], Cs: np.ndarray, epss: np.ndarray,
            seed: int = 0) -> np.ndarray:
    """Definition 4.1 on a 1-D family ``f(theta, x) = tanh(theta_1 x + theta_0)`` (a grid of
    286 theta, 20 points, labels +-1): ``h(C, eps) = reduce_{theta in U(C, eps)} min_i
    h_{i,theta}(eps)``, +inf where ``U`` is empty. f is monotone in x, so the range over the
    ball is ``[f(x - eps), f(x + eps)]``, ``h_{i,theta}`` is the distance from f(x_i) to the
    nearer end, and the worst-case adversarial MSE is attained at an end."""
    x, y, t1, t0 = tanh_family(seed)
    out = np.full((len(Cs), len(epss)), np.inf)
    for j, e in enumerate(epss):
        lo, mid, hi = (np.tanh(t1 * z[None] + t0) for z in (x - e, x, x + e))
        h_theta = h_from_range(lo, mid, hi).min(axis=1)
        mse = mse_worst(lo, hi, y)
        for i, C in enumerate(Cs):
            ok = mse <= C
            if ok.any():
                out[i, j] = reduce(h_theta[ok])
    return out


lemma4_6 = CLAIMS.claim(
    "thesis.lemma4_6",
    title="h(C, eps) grows with eps and shrinks with C",
    sources=("003 Lemma 4.6, Definition 4.1 (Sec. 4.3.4)",),
    kind="lemma",
    statement=r"""
$\forall C$ and $\epsilon_1 < \epsilon_2$: $h(C, \epsilon_1) \le h(C, \epsilon_2)$;
$\forall \epsilon$ and $C_1 < C_2$: $h(C_1, \epsilon) \ge h(C_2, \epsilon)$, where
$h(C, \epsilon) = \min_{\theta \in \mathcal U(C, \epsilon)}\min_i h_{i,\theta}(\epsilon)$
(Definition 4.1).""",
)


@lemma4_6.check(kind="numeric", subject=np.min, control=np.max,
                control_label="max over U(C, eps) instead of min", tolerance=0.0)
@one_blas_thread
def lemma4_6_monotone(reduce: Callable[[np.ndarray], float]) -> str:
    """On the 1-D tanh family of :func:`h_table`, 7 values of C x 7 of eps: h is non-decreasing
    in eps and non-increasing in C (+inf for an empty U counts as largest)."""
    T = h_table(reduce, np.linspace(0.3, 1.5, 7), np.linspace(0.0, 0.6, 7))
    require(bool(np.all(T[:, 1:] >= T[:, :-1])), "h(C, eps) decreases in eps somewhere")
    require(bool(np.all(T[1:] <= T[:-1])), "h(C, eps) increases in C somewhere")
    finite = T[np.isfinite(T)]
    return (f"monotone on the 7 x 7 grid; {finite.size} non-empty U, h up to "
            f"{fmt(finite.max())}")


@lemma4_6.step(1, "h_{i,theta}(eps) is the distance to the nearer end and grows with eps",
               numeric=True, subject=h_from_range, control=h_half_width,
               control_label="the half-width of the range", tolerance=1e-12)
@one_blas_thread
def lemma4_6_step1(h_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> str:
    """On the tanh family (286 theta, 20 points, 7 eps in [0, 0.6]): the candidate equals
    Definition 4.1's largest zeta computed from 41 sampled points of each ball, and is
    non-decreasing in eps for every (theta, i)."""
    x, _, t1, t0 = tanh_family()
    prev, worst = None, 0.0
    for e in np.linspace(0.0, 0.6, 7):
        ball = np.tanh(t1[..., None] * (x[None, :, None] + np.linspace(-e, e, 41)) + t0[..., None])
        mid = np.tanh(t1 * x[None] + t0)
        lo, hi = ball.min(axis=2), ball.max(axis=2)
        ref = np.minimum(hi - mid, mid - lo)
        h = h_fn(np.tanh(t1 * (x - e)[None] + t0), mid, np.tanh(t1 * (x + e)[None] + t0))
        worst = max(worst, float(np.abs(h - ref).max()))
        require(worst <= 1e-12, f"eps = {e:.1f}: h_i,theta differs from the definition by "
                                f"{worst:.3g}")
        require(prev is None or bool(np.all(h >= prev)), f"h_i,theta decreases at eps = {e:.1f}")
        prev = h
    return f"= Definition 4.1 (worst difference {fmt(worst)}), non-decreasing in eps"


@lemma4_6.step(2, "U(C, eps) shrinks as eps grows and grows with C", numeric=True,
               subject=mse_worst, control=mse_one_side,
               control_label="MSE under the fixed shift x + eps", tolerance=0.0)
@one_blas_thread
def lemma4_6_step2(mse_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> str:
    """The adversarial MSE of every theta is non-decreasing in eps (so ``U(C, eps_2) subset
    U(C, eps_1)``), and ``U(C_1, eps) subset U(C_2, eps)`` for C_1 < C_2 (13 eps, 7 C)."""
    x, y, t1, t0 = tanh_family()
    prev, sizes = None, []
    for e in np.linspace(0.0, 0.6, 13):
        mse = mse_fn(np.tanh(t1 * (x - e)[None] + t0), np.tanh(t1 * (x + e)[None] + t0), y)
        require(prev is None or bool(np.all(mse >= prev)),
                f"the adversarial MSE of some theta falls at eps = {e:.2f}")
        prev = mse
        members = [mse <= C for C in np.linspace(0.3, 1.5, 7)]
        require(all(bool(np.all(a <= b)) for a, b in zip(members[:-1], members[1:], strict=True)),
                "U(C, eps) is not nested in C")
        sizes.append(int(members[3].sum()))
    return f"nested in eps and C; |U(0.9, eps)| from {sizes[0]} to {sizes[-1]} of 286"


lemma4_7 = CLAIMS.claim(
    "thesis.lemma4_7",
    title="A model that fits below the noise level must correlate with the noise",
    sources=("003 Lemma 4.7, eqs. (4.58)-(4.65) (Sec. 4.3.4)",),
    kind="lemma",
    statement=r"""
With $g(\mathbf x) = \mathbb E(y|\mathbf x)$, $z(\mathbf x) = y - g(\mathbf x)$ and
$\gamma = \sigma_l^2 + h^2(C, \epsilon) - C$, for all $a \in (0, 1)$:
$\mathbb P\big(\exists f \in \mathcal F: \frac1N\sum_i(y_i - f(\theta, \mathbf x'_i))^2 \le C\big)
\le 2e^{-\frac{Na^2\gamma^2}{8}} + \mathbb P\big(\exists f \in \mathcal F: \frac1N\sum_i f(\theta,
\mathbf x_i)z(\mathbf x_i) \ge \frac12(1 - 3a)\gamma\big)$.""",
)


def attack_away(yv: sp.Expr, f: sp.Expr, zeta: sp.Expr) -> sp.Expr:
    """The proof of Lemma 4.7: the worst-case attack moves f(x) by zeta away from the label."""
    return f - zeta * yv


def attack_towards(yv: sp.Expr, f: sp.Expr, zeta: sp.Expr) -> sp.Expr:
    """Negative control: f(x) moved by zeta towards the label."""
    return f + zeta * yv


@lemma4_7.step(1, "(4.59): (y - f(x'))^2 >= (y - f(x))^2 + (f(x) - f(x'))^2",
               subject=attack_away, control=attack_towards,
               control_label="f(x') moved towards y")
def lemma4_7_step1(attacked: Callable[[sp.Expr, sp.Expr, sp.Expr], sp.Expr]) -> str:
    """With ``y = +-1``, ``f = y (1 - p)``, ``p = 1 - y f in [0, 2]`` and ``f' =
    attacked(y, f, zeta)``, ``zeta >= 0``: the cross term ``(y - f')^2 - (y - f)^2 - (f -
    f')^2`` is provably non-negative (then ``zeta >= h`` gives (4.59))."""
    p, zeta = sp.symbols("p zeta", positive=True)
    rows = []
    for yv in (sp.Integer(1), sp.Integer(-1)):
        f = yv * (1 - p)
        fa = attacked(yv, f, zeta)
        cross = sp.factor(sp.expand((yv - fa) ** 2 - (yv - f) ** 2 - (f - fa) ** 2))
        require(cross.is_nonnegative is True, f"y = {yv}: cross term {cross} is not >= 0")
        rows.append(f"y = {yv}: cross term {cross} >= 0")
    return "; ".join(rows)


@lemma4_7.step(2, "Hoeffding for a mean of [0, 4]-valued terms: exponent N a^2 gamma^2 / 8",
               subject=sp.Integer(4), control=sp.Integer(2),
               control_label="range 2 (as if (y - f)^2 were in [0, 2])")
def lemma4_7_step2(value_range: sp.Expr) -> str:
    """``exp(-2 N t^2 / range^2)`` at ``t = a gamma`` with ``(y - f)^2 in [0, range]`` equals the
    printed ``exp(-N a^2 gamma^2 / 8)``; ``y, f in [-1, 1]`` give range 4."""
    require(value_range == (1 - (-1)) ** 2, f"(y - f)^2 has range {(1 - (-1)) ** 2}, not "
                                             f"{value_range}")
    return sym_same(2 * _N * (_aa * _gam) ** 2 / value_range**2, _N * _aa**2 * _gam**2 / 8,
                     "Hoeffding exponent - N a^2 gamma^2/8")


lemma4_8 = CLAIMS.claim(
    "thesis.lemma4_8",
    title="Isoperimetry bounds the noise correlation of an L-Lipschitz class",
    sources=("003 Lemma 4.8, eqs. (4.66)-(4.73) (Sec. 4.3.4)",),
    kind="lemma",
    statement=r"""
For $a_1 + a_2 = \frac12(1 - 3a)$: $\mathbb P\big(\exists f \in \mathcal F: \frac1N\sum_i
z(\mathbf x_i)f(\theta, \mathbf x_i) \ge \frac12(1 - 3a)\gamma\big) \le 2|\mathcal F|
e^{-\frac{NM}{144cL^2}a_1^2\gamma^2} + 2e^{-\frac N8a_2^2\gamma^2}$; with $a = \frac18$,
$a_1 = \frac3{16}$, $a_2 = \frac18$ this is (4.73): $\le 4e^{-N\gamma^2/2^9} + 2|\mathcal F|
e^{-NM\gamma^2/(2^{12}cL^2)}$.""",
    uses=("thesis.lemma4_7",),
    erratum=Erratum(
        printed=r"\mathbb P\Big(\tfrac1N\textstyle\sum_i |z(\mathbf x_i)| \ge a_2\gamma\Big) \le "
                r"2e^{-\frac N8 a_2^2\gamma^2}\ \ (4.71)",
        problem=(
            "(1/N) sum_i |z_i| has a positive mean E|z|, so no Hoeffding bound that decays in N "
            "holds for it: with z = +-1/2 (label noise) and N = 200, gamma = 1, the event has "
            "probability 1 while the bound is 2e^{-200/512} = 1.35, and with N = 2000 the "
            "bound 0.04 against probability 1. Bubeck and Sellke's argument bounds "
            "E[f] (1/N) sum_i z_i by |(1/N) sum_i z_i|, which has mean 0 and satisfies the bound."
        ),
        corrected=r"\mathbb P\Big(\Big|\tfrac1N\textstyle\sum_i z(\mathbf x_i)\Big| \ge a_2\gamma"
                  r"\Big) \le 2e^{-\frac N8 a_2^2\gamma^2}",
    ),
)


def lemma4_8_exponent(multiplier: int, subgaussian: int) -> sp.Expr:
    """The exponent of (4.70) built from its parts: isoperimetry (4.54), ``M t^2/(2 c L^2)``,
    for the ``multiplier * L``-Lipschitz ``z f``, then a normalised sum of N independent terms
    that is ``subgaussian``-times as subgaussian, at ``t = a_1 gamma``."""
    one = _M * (_aa * _gam) ** 2 / (2 * _c * (multiplier * _L) ** 2)
    return _N * one / subgaussian


@lemma4_8.step(1, "|z| <= 2 and the 18-fold subgaussian sum give NM a_1^2 gamma^2/(144 c L^2)",
               subject=(2, 18), control=(1, 18), control_label="|z| <= 1 (multiplier 1)")
def lemma4_8_step1(parts: tuple[int, int]) -> str:
    """``z = y - E(y|x) in [-2, 2]`` makes ``z f`` 2L-Lipschitz, so (4.54) gives ``2e^{-M t^2/
    (8 c L^2)}``; with Vershynin's factor 18 the exponent is the printed ``NM a_1^2 gamma^2 /
    (144 c L^2)`` (here a stands for a_1)."""
    return sym_same(lemma4_8_exponent(*parts), _N * _M * _aa**2 * _gam**2 / (144 * _c * _L**2),
                    "exponent - NM a_1^2 gamma^2/(144 c L^2)")


@lemma4_8.step(2, "a = 1/8, a_1 = 3/16, a_2 = 1/8 give the exponents 2^9 and 2^12",
               subject=(sp.Rational(3, 16), sp.Rational(1, 8)),
               control=(sp.Rational(1, 8), sp.Rational(1, 8)),
               control_label="a_1 = 1/8 (then a_1 + a_2 != (1 - 3a)/2)")
def lemma4_8_step2(a12: tuple[sp.Expr, sp.Expr]) -> str:
    """``a_1 + a_2 = (1 - 3a)/2`` at a = 1/8, and ``N a_2^2 gamma^2/8 = N gamma^2/2^9``,
    ``NM a_1^2 gamma^2/(144 c L^2) = NM gamma^2/(2^12 c L^2)``, and Hoeffding's ``N a^2
    gamma^2/8`` with a = 1/8 is ``N gamma^2/2^9`` as well (so the two terms merge into 4e^...)."""
    a1, a2 = a12
    a = sp.Rational(1, 8)
    sym_same(a1 + a2, (1 - 3 * a) / 2, "a_1 + a_2 - (1 - 3a)/2")
    sym_same(_N * a2**2 * _gam**2 / 8, _N * _gam**2 / 2**9, "second exponent - N g^2/2^9")
    sym_same(_N * a**2 * _gam**2 / 8, _N * _gam**2 / 2**9, "Hoeffding exponent - N g^2/2^9")
    return sym_same(_N * _M * a1**2 * _gam**2 / (144 * _c * _L**2),
                     _N * _M * _gam**2 / (2**12 * _c * _L**2), "first exponent - NM g^2/2^12cL^2")


def mean_abs(z: np.ndarray) -> np.ndarray:
    """003 (4.71): the statistic ``(1/N) sum_i |z_i|`` (rows of z are draws)."""
    return np.abs(z).mean(axis=1)


def abs_mean(z: np.ndarray) -> np.ndarray:
    """The corrected statistic ``|(1/N) sum_i z_i|``."""
    return np.abs(z.mean(axis=1))


@lemma4_8.check(kind="numeric", subject=mean_abs, control=abs_mean, refutes=True,
                control_label="|(1/N) sum z_i| (must not be refuted)", tolerance=0.0)
@one_blas_thread
def lemma4_8_hoeffding_471(statistic: Callable[[np.ndarray], np.ndarray]) -> str:
    """Refutation of (4.71): Monte Carlo frequency of ``statistic >= a_2 gamma`` (a_2 = 1/8,
    gamma = 1; z = +-1/2 at random, 300 draws) vs ``2 exp(-N a_2^2 gamma^2 / 8)`` at N = 2000
    and 4000."""
    rng = np.random.default_rng(8)
    rows = []
    for n in (2000, 4000):
        z = rng.integers(0, 2, size=(300, n)) - 0.5
        freq = float(np.mean(statistic(z) >= 1 / 8))
        bound = 2 * math.exp(-n / 8 / 64)
        require(freq <= bound, f"N = {n}: frequency {freq:.3f} > bound {bound:.3f}")
        rows.append(f"N = {n}: frequency {freq:.3f} <= bound {bound:.3f}")
    return "; ".join(rows)


LOG_NET = sp.log(4 * _W * _J / _gam)  # log |F_gamma| / b
LOG_DELTA = sp.log(_delta / 2 - 2 * sp.exp(-_N * _gam**2 / 2**11))


def rhs_474(L: sp.Expr) -> sp.Expr:
    """(4.74): ``4 e^{-N gamma^2/2^11} + 2 e^{b log(4WJ/gamma) - NM gamma^2/(2^14 c L^2)}``."""
    return 4 * sp.exp(-_N * _gam**2 / 2**11) + 2 * sp.exp(
        _b * sp.log(4 * _W * _J / _gam) - _N * _M * _gam**2 / (2**14 * _c * L**2))


def lip_456(scale: int = 2**7) -> sp.Expr:
    """(4.56): ``gamma/2^7 sqrt(NM / (c (b log(4WJ/gamma) - log(delta/2 - 2e^{-N gamma^2
    /2^11}))))``; ``scale`` replaces 2^7 (for the negative control)."""
    inner = _b * LOG_NET - LOG_DELTA
    return _gam / sp.Integer(scale) * sp.sqrt(_N * _M / (_c * inner))


thm4_6 = CLAIMS.claim(
    "thesis.thm4_6",
    title="A Lipschitz lower bound that grows with the noise level and the budget",
    sources=("003 Theorem 4.6, eqs. (4.56), (4.74)-(4.75) (Sec. 4.3.4)",),
    kind="theorem",
    statement=r"""
For $N$ training pairs from $\mu_l$, $\mathcal F = \{f(\theta, \cdot): \theta \in \mathcal W\}$,
$\mathrm{diam}(\mathcal W) \le W$, $\|f(\theta_1, \cdot) - f(\theta_2, \cdot)\|_\infty \le J\|
\theta_1 - \theta_2\|_\infty$, training MSE $C$ under attack and $\gamma = \sigma_l^2 +
h^2(C, \epsilon) - C \ge 0$: with probability $\ge 1 - \delta$,
$\mathrm{Lip}(f(\theta, \cdot)) \ge \frac{\gamma}{2^7}\sqrt{\frac{NM}{c(b\log(4WJ\gamma^{-1}) -
\log(\delta/2 - 2e^{-2^{-11}N\gamma^2}))}}$ (4.56). (The text calls it "the Lipschitz upper
bound".)""",
    uses=("thesis.lemma4_7", "thesis.lemma4_8"),
)


@thm4_6.step(1, "gamma -> gamma/2 turns 2^9, 2^12 into 2^11, 2^14",
             subject=(2**11, 2**14), control=(2**10, 2**13),
             control_label="2^10 and 2^13 (gamma halved once)")
def thm4_6_step1(exps: tuple[int, int]) -> str:
    """``N (gamma/2)^2 / 2^9`` and ``NM (gamma/2)^2 / (2^12 c L^2)`` in the printed form."""
    sym_same(_N * (_gam / 2) ** 2 / 2**9, _N * _gam**2 / exps[0], "first exponent")
    return sym_same(_N * _M * (_gam / 2) ** 2 / (2**12 * _c * _L**2),
                     _N * _M * _gam**2 / (exps[1] * _c * _L**2), "second exponent")


@thm4_6.step(2, "Setting (4.74) equal to delta and solving for L gives (4.56)",
             subject=lip_456(), control=lip_456(2**6),
             control_label="gamma/2^6 in front")
def thm4_6_step2(lip: sp.Expr) -> str:
    """``4e^{-N gamma^2/2^11} + 2e^E = delta`` iff ``E = Lambda := log(delta/2 - 2e^{-N
    gamma^2/2^11})``; ``E = b B - NM gamma^2 x/(2^14 c)`` with ``B = log(4WJ/gamma)`` and
    ``x = 1/L^2`` is linear in x, one root; the candidate must satisfy ``1/L^2 = x``."""
    x, B, Lam = sp.symbols("x B Lambda", real=True)
    sym_same(4 * sp.exp(-_N * _gam**2 / 2**11) + 2 * sp.exp(LOG_DELTA), _delta,
             "4e^{-N g^2/2^11} + 2e^Lambda - delta")
    E = _b * B - _N * _M * _gam**2 * x / (2**14 * _c)
    roots = sp.solve(sp.Eq(E, Lam), x)
    require(len(roots) == 1, f"roots {roots}")
    cand = (lip**2).xreplace({LOG_NET: B, LOG_DELTA: Lam})
    require(not cand.has(sp.log), f"candidate has other logarithms: {cand}")
    return sym_same(1 / cand, roots[0], "1/L^2 - x")


@thm4_6.step(3, "It is a lower bound: (4.74) increases with L", subject=rhs_474,
             control=lambda L: 4 * sp.exp(-_N * _gam**2 / 2**11) + 2 * sp.exp(
                 _b * sp.log(4 * _W * _J / _gam) + _N * _M * _gam**2 / (2**14 * _c * L**2)),
             control_label="the L-term's sign flipped (an upper-bound shape)")
def thm4_6_step3(rhs: Callable[[sp.Expr], sp.Expr]) -> str:
    """``d/dL`` of the failure probability of "some f with Lip <= L fits" is positive: every
    L below the solution of rhs = delta has probability <= delta, so Lip >= L w.p. >= 1 - delta
    (the text's "upper bound" is a misnomer)."""
    d = sp.diff(rhs(_L), _L)
    require(bool(d.is_positive), f"d/dL (4.74) = {d} is not positive")
    return "d/dL (4.74) > 0: the bound on Lip is from below"
