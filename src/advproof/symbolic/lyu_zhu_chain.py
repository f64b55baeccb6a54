"""Lyu & Zhu: the lemmas Theorem 2's proof rests on (seed 002, App. A.1-A.2, B.4).

Theorem 2 (deep linear nets, exact l2 perturbation, logistic loss) is checked in
:mod:`advproof.symbolic.lyu_zhu`. Its proof uses: Assumption 3 for the logistic loss; Lemma 1
(the adversarial objective is beta(r, r_bar, eps)-smooth on the set S(r) of eq. (11)); Lemma 2
(the step size and the r(t) schedule); Lemma 5 (cited from Ji & Telgarsky 2019: a constant step
leaves S(r)); Lemma 7 (kappa > 0 from the support vectors). Appendix B.4 uses Lemma 13 (Euler's
identity for Clarke subgradients). Each is a claim here, with the printed steps that break
registered as refuted steps next to their repaired forms.

Setting (002 Sec. 3.1): f(x; W) = W_L ... W_1 x =: W_Pi x with W_Pi a (1, d) row, labels
y in {-1, +1}, ||x_i|| <= 1, the exact l2 perturbation (10) delta_i = -y_i eps W_Pi^T/||W_Pi||,
so the adversarial margin is q_i(W) = y_i W_Pi x_i - eps ||W_Pi|| and the objective
L~(W) = (1/n) sum_i l(q_i(W)). alpha and beta are the bounds of Assumption 3: |l'| <= alpha and
l' beta-Lipschitz.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp
import torch
from torch import Tensor

from advproof import margins
from advproof.asserts import fmt, require, sym_equal
from advproof.claims import ClaimSet, Erratum
from advproof.threads import single_thread

CLAIMS = ClaimSet("lyuzhu")
F64 = torch.float64

q = sp.Symbol("q", real=True)
LOGISTIC = sp.log(1 + sp.exp(-q))


# ---------------------------------------------------------------------------------------------
# Deep linear nets under the exact l2 perturbation


def logistic_prime(t: Tensor) -> Tensor:
    """l'(q) = -1 / (1 + e^q) for the logistic loss l(q) = log(1 + e^{-q})."""
    return -torch.sigmoid(-t)


def adversarial_objective(weights: Sequence[Tensor], X: Tensor, y: Tensor, eps: float) -> Tensor:
    """L~(W) = mean_i log(1 + exp(-(y_i W_Pi x_i - eps ||W_Pi||))) (002 eqs. 8 and 10)."""
    w_pi = weights[0]
    for w in weights[1:]:
        w_pi = w @ w_pi
    margin = y * (X @ w_pi[0]) - eps * torch.linalg.vector_norm(w_pi)
    return torch.nn.functional.softplus(-margin).mean()


def objective_grad(weights: Sequence[Tensor], X: Tensor, y: Tensor, eps: float) -> list[Tensor]:
    """The total gradient of :func:`adversarial_objective` w.r.t. every layer (through delta)."""
    ws = [w.detach().clone().requires_grad_(True) for w in weights]
    return list(torch.autograd.grad(adversarial_objective(ws, X, y, eps), ws))


def beta_bound(r: float, r_bar: float, eps: float, L: int, alpha: float = 1.0,
               beta: float = 0.25) -> float:
    """beta(r, r_bar, eps) = r^{3L} L^2 [alpha + beta + eps/r_bar^L (2 alpha + beta +
    alpha beta / r_bar^L)], 002 eq. (12) = (28)."""
    return r ** (3 * L) * L**2 * (alpha + beta + eps / r_bar**L * (2 * alpha + beta
                                                                   + alpha * beta / r_bar**L))


def _flat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.flatten() for t in tensors])


def near_zero_margin_net(r: float, L: int, eps: float, width: int = 3, d: int = 3
                         ) -> tuple[list[Tensor], Tensor, Tensor]:
    """A net in S(r) (every ||W_k||_F = r) and one point x (||x|| = 1, y = 1) whose adversarial
    margin is exactly 0, where l'' = 1/4 is largest: the objective is as curved as it gets.

    Layers are rank one, W_k = r a_{k+1} a_k^T with unit a_k, so W_Pi = r^L a_1^T; x is chosen
    with <a_1, x> = eps, so q = r^L eps - eps r^L = 0.
    """
    gen = torch.Generator().manual_seed(7)
    dims = [d] + [width] * (L - 1) + [1]
    units = [torch.nn.functional.normalize(torch.randn(k, generator=gen, dtype=F64), dim=0)
             for k in dims[:-1]] + [torch.ones(1, dtype=F64)]  # the output unit: +1, not -1
    weights = [r * torch.outer(units[k + 1], units[k]) for k in range(L)]
    a1 = units[0]
    orth = torch.randn(d, generator=gen, dtype=F64)
    orth = torch.nn.functional.normalize(orth - (orth @ a1) * a1, dim=0)
    x = eps * a1 + math.sqrt(1 - eps**2) * orth
    return weights, x[None, :], torch.ones(1, dtype=F64)


def hessian_norm(weights: Sequence[Tensor], X: Tensor, y: Tensor, eps: float) -> float:
    """||Hessian of L~||_2 at W: the local Lipschitz constant of its gradient (exact, dense)."""
    shapes = [w.shape for w in weights]
    sizes = [w.numel() for w in weights]

    def of_flat(theta: Tensor) -> Tensor:
        parts = torch.split(theta, sizes)
        layers = [p.view(s) for p, s in zip(parts, shapes, strict=True)]
        return adversarial_objective(layers, X, y, eps)

    H = torch.autograd.functional.hessian(of_flat, _flat(weights).detach())
    return float(torch.linalg.eigvalsh(H).abs().max())


# ---------------------------------------------------------------------------------------------
# Assumption 3 for the logistic loss

assump3 = CLAIMS.claim(
    "lyuzhu.assump3",
    title="Assumption 3 holds for the logistic loss with alpha = 1, beta = 1/4",
    sources=("002 Assumption 3 (Sec. 3.1)",),
    kind="assumption",
    statement=r"""
For $\ell(q) = \log(1 + e^{-q})$: $|\ell'(q)| \le \alpha = 1$ and
$|\ell'(q) - \ell'(q')| \le \beta|q - q'|$ with $\beta = \tfrac14$, and both constants are
the smallest possible.""",
)


def logistic_constants() -> tuple[sp.Expr, sp.Expr]:
    """(sup |l'|, sup |l''|) of the logistic loss, by sympy (critical points and limits)."""
    d1, d2 = sp.diff(LOGISTIC, q), sp.diff(LOGISTIC, q, 2)
    crit = sp.solve(sp.diff(d2, q), q)
    sup_d2 = sp.Max(*[sp.simplify(d2.subs(q, c)) for c in crit],
                    sp.limit(d2, q, sp.oo), sp.limit(d2, q, -sp.oo))
    require(sp.simplify(sp.diff(d1, q) - d2) == 0 and all(
        sp.simplify(d2.subs(q, v)) > 0 for v in (-3, 0, 3)), "l'' > 0: l' is monotone")
    sup_d1 = sp.Max(sp.Abs(sp.limit(d1, q, sp.oo)), sp.Abs(sp.limit(d1, q, -sp.oo)))
    return sp.simplify(sup_d1), sp.simplify(sup_d2)


@assump3.check(kind="symbolic", subject=(sp.Integer(1), sp.Rational(1, 4)),
               control=(sp.Integer(1), sp.Rational(1, 8)), control_label="beta = 1/8")
def assump3_logistic(constants: tuple[sp.Expr, sp.Expr]) -> str:
    """sup|l'| and sup l'' (at q = 0, from l''' = 0) are exactly the candidate alpha, beta."""
    alpha, beta = constants
    sup_d1, sup_d2 = logistic_constants()
    require(sp.simplify(sup_d1 - alpha) == 0, f"sup |l'| = {sup_d1}, not alpha = {alpha}")
    require(sp.simplify(sup_d2 - beta) == 0, f"sup l'' = {sup_d2}, not beta = {beta}")
    return f"sup |l'| = {sup_d1} (q -> -oo), sup l'' = {sup_d2} (at q = 0)"


# ---------------------------------------------------------------------------------------------
# Lemma 1: smoothness on S(r)

lemma1 = CLAIMS.claim(
    "lyuzhu.lemma1",
    title="The adversarial objective is beta(r, r_bar, eps)-smooth on S(r)",
    sources=("002 Lemma 1 and eqs. (11)-(13), App. A.1 (21)-(30)",),
    kind="lemma",
    uses=("lyuzhu.assump3", "lyuzhu.lemma5"),
    statement=r"""
For a deep linear net with the exact $\ell_2$ perturbation (10) and a loss satisfying
Assumption 3, $\tilde{\mathcal L}$ is $\beta(r, \bar r, \epsilon)$-smooth on
$\mathcal S(r) = \{W : \|W_k\|_F \le r,\ \|W_\Pi\|_2 \ge \bar r\}$, with
$\beta(r, \bar r, \epsilon) = r^{3L}L^2\big[\alpha + \beta + \frac{\epsilon}{\bar r^L}
\big(2\alpha + \beta + \frac{\alpha\beta}{\bar r^L}\big)\big]$; with a constant step
$1/\beta(r, \bar r, \epsilon)$ the weights leave $\mathcal S(r)$ (13).""",
    erratum=Erratum(
        printed=r"|\tilde\ell'(W_\Pi) - \tilde\ell'(V_\Pi)| \le \beta\|W_\Pi - V_\Pi\|\quad (23)",
        problem=(
            "The argument of l' is the adversarial margin y W_Pi x - eps ||W_Pi||, which is "
            "(1 + eps)-Lipschitz in W_Pi (||x|| <= 1), not 1-Lipschitz: at a point of margin 0 "
            "moving W_Pi against x changes l' at rate (1 + eps)/4 > beta = 1/4 "
            "(step 2a). The lost factor only enlarges the constant; (11) also says ||W_Pi|| >= "
            "r_bar where the proof uses r_bar^L (harmless for r_bar <= 1)."
        ),
        corrected=r"|\tilde\ell'(W_\Pi) - \tilde\ell'(V_\Pi)| \le (1 + \epsilon)\beta"
                  r"\|W_\Pi - V_\Pi\|",
    ),
)


def l_prime_quotient(eps: float, hs: Sequence[float] = (1e-3, 1e-4, 1e-5)) -> float:
    """max_h |l'(q(w)) - l'(q(v))| / |w - v| at margin 0, w = -h, v = -2h (d = 1, x = y = 1):
    the slope of l'(q(.)) on the side where ||W_Pi|| grows as W_Pi moves against x."""
    out = 0.0
    for h in hs:
        w, v = torch.tensor(-h, dtype=F64), torch.tensor(-2 * h, dtype=F64)
        qw, qv = w - eps * w.abs(), v - eps * v.abs()
        out = max(out, float((logistic_prime(qw) - logistic_prime(qv)).abs() / (w - v).abs()))
    return out


@lemma1.step(1, "(23) with the factor (1 + eps): l'(q(W_Pi)) is (1 + eps) beta-Lipschitz",
             numeric=True, subject=lambda eps: (1 + eps) / 4, control=lambda eps: 0.25,
             tolerance=1e-6, control_label="beta = 1/4 without (1 + eps), as printed")
def lemma1_step1_lipschitz_of_l_prime(constant: Callable[[float], float]) -> str:
    """The slope of l'(y W_Pi x - eps ||W_Pi||) at margin 0 against the candidate constant."""
    rows = []
    for eps in (0.1, 0.3, 0.5):
        slope = l_prime_quotient(eps)
        require(slope <= constant(eps) * (1 + 1e-6),
                f"eps = {eps}: slope {slope:.6f} > constant {constant(eps):.6f}")
        rows.append(f"eps = {eps}: {slope:.4f} <= {constant(eps):.4f}")
    return "; ".join(rows)


@lemma1.step("2a", "(23) as printed: beta-Lipschitz, without (1 + eps)", refutes=True,
             numeric=True, subject=lambda eps: 0.25, control=lambda eps: (1 + eps) / 4,
             tolerance=1e-6, control_label="with the factor (1 + eps) (must hold)")
def lemma1_step2a_printed_23(constant: Callable[[float], float]) -> str:
    """Printed step: the same test with the printed constant."""
    return lemma1_step1_lipschitz_of_l_prime(constant)


def bracket_holds(r_low: float, draws: int = 2000, seed: int = 0) -> tuple[int, float]:
    """Step 4 (26) -> (27): the bracket r^{L-2} alpha (L-1) + beta r^{2L-2} L + eps r^{2L-2}/
    r_bar^L ((2L-1) alpha + beta L r^{L-1} + alpha beta L r^{L-1}/r_bar^L) <= r^{3L} L [...]
    on random draws with r in [r_low, 4]; returns (violations, worst ratio)."""
    rng = np.random.default_rng(seed)
    bad, worst = 0, 0.0
    for _ in range(draws):
        a, b, e = rng.uniform(0.01, 2, 3)
        rb, r, L = rng.uniform(0.05, 1), rng.uniform(r_low, 4), int(rng.integers(1, 7))
        lhs = (r ** (L - 2) * a * (L - 1) + b * r ** (2 * L - 2) * L + e * r ** (2 * L - 2)
               / rb**L * ((2 * L - 1) * a + b * L * r ** (L - 1) + a * b * L * r ** (L - 1)
                          / rb**L))
        rhs = r ** (3 * L) * L * (a + b + e / rb**L * (2 * a + b + a * b / rb**L))
        bad += lhs > rhs * (1 + 1e-12)
        worst = max(worst, lhs / rhs)
    return bad, worst


@lemma1.step(4, "(26) -> (27): the bracket is at most r^{3L} L [...] for r >= 1", numeric=True,
             subject=1.0, control=0.2, tolerance=0.0,
             control_label="r drawn from [0.2, 4] (r < 1 is outside the lemma)")
def lemma1_step4_bracket(r_low: float) -> str:
    """2000 random (alpha, beta, eps, r_bar, r, L = 1..6): no violation of the bound."""
    bad, worst = bracket_holds(r_low)
    require(bad == 0, f"{bad} of 2000 draws violate the bracket bound (worst ratio "
                      f"{worst:.3g})")
    return f"2000 draws, r in [{r_low}, 4]: no violation, largest lhs/rhs {fmt(worst)}"


@lemma1.check(kind="numeric", subject=beta_bound,
              control=lambda r, r_bar, eps, L: L**2 * (1.25 + eps / r_bar**L * (2.25
                                                                             + 0.25 / r_bar**L)),
              tolerance=1.0, control_label="the bracket without r^{3L} (no growth with r)")
@single_thread()
def lemma1_smoothness(bound: Callable[..., float]) -> str:
    """||Hessian||_2 at a point of S(r) with margin 0 (l'' = 1/4 largest) <= the bound."""
    rows = []
    for L, r in ((1, 6.0), (2, 10.0), (3, 5.0)):
        eps, r_bar = 0.2, 0.5
        weights, X, y = near_zero_margin_net(r, L, eps)
        measured, b = hessian_norm(weights, X, y, eps), bound(r, r_bar, eps, L)
        require(measured <= b, f"L = {L}, r = {r}: measured {measured:.3g} > bound {b:.3g}")
        rows.append(f"L = {L}, r = {r:g}: {measured:.3g} <= {b:.3g}")
    return "; ".join(rows) + " (eps = 0.2, r_bar = 0.5)"


# ---------------------------------------------------------------------------------------------
# Lemma 5 (cited) and Lemma 2


lemma5 = CLAIMS.claim(
    "lyuzhu.lemma5",
    title="With a constant step the weights leave S(r) (cited from Ji & Telgarsky 2019)",
    sources=("002 Lemma 5 (App. A.1, from Ji & Telgarsky 2019, Lemma 6)",),
    kind="lemma",
    statement=r"""
With separable data and a constant step $1/\beta(r, \bar r, \epsilon)$, gradient descent on
$\tilde{\mathcal L}$ reaches a $t$ with $\max_k\|W_k(t)\|_F > r$. (Cited, not proved in 002:
the book illustrates it.)""",
)


def max_layer_norm_after(steps: int, lr: float, seed: int = 0) -> list[float]:
    """max_k ||W_k||_F at steps 0, steps/4, ..., steps of constant-step GD on L~ for a
    two-layer linear net (3 hidden units) on separable 2-D data, eps = gamma_m / 2."""
    X, y, gamma = separable_2d(seed)
    eps = gamma / 2
    gen = torch.Generator().manual_seed(seed)
    weights = [0.3 * torch.randn(3, 2, generator=gen, dtype=F64),
               0.3 * torch.randn(1, 3, generator=gen, dtype=F64)]
    norms = []
    for t in range(steps + 1):
        if t % (steps // 4) == 0:
            norms.append(max(float(w.norm()) for w in weights))
        grads = objective_grad(weights, X, y, eps)
        weights = [w - lr * g for w, g in zip(weights, grads, strict=True)]
    return norms


def separable_2d(seed: int = 0) -> tuple[Tensor, Tensor, float]:
    """The 2-D separable data of :func:`max_layer_norm_after` and gamma_m."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.tensor([0.6, 0.8], dtype=F64)
    X = torch.randn(16, 2, generator=gen, dtype=F64)
    y = torch.where(X @ u >= 0, 1.0, -1.0).to(F64)
    X = X + 0.3 * y[:, None] * u
    X = X / X.norm(dim=1, keepdim=True).clamp_min(1.0)
    return X, y, margins.hard_margin_svm(X.numpy(), y.numpy()).gamma


@lemma5.step(1, "(29)-(30) descent lemma: L~(t+1) <= L~(t) - eta/2 ||grad L~(t)||^2",
             numeric=True, subject=0.5, control=40.0, tolerance=1e-12,
             control_label="step 40 (far above 1/beta locally)")
@single_thread()
def lemma5_step1_descent(lr: float) -> str:
    """Along 300 constant steps of GD (two-layer linear net, eps = gamma_m / 2)."""
    X, y, gamma = separable_2d()
    eps = gamma / 2
    gen = torch.Generator().manual_seed(1)
    weights = [0.3 * torch.randn(3, 2, generator=gen, dtype=F64),
               0.3 * torch.randn(1, 3, generator=gen, dtype=F64)]
    worst = -math.inf
    for _ in range(300):
        grads = objective_grad(weights, X, y, eps)
        before = float(adversarial_objective(weights, X, y, eps))
        weights = [w - lr * g for w, g in zip(weights, grads, strict=True)]
        after = float(adversarial_objective(weights, X, y, eps))
        slack = after - (before - lr / 2 * float(_flat(grads).norm() ** 2))
        worst = max(worst, slack)
    require(worst <= 1e-12, f"the descent inequality fails by {worst:.3g} at step {lr}")
    return f"300 steps at step size {lr}: descent inequality holds (largest slack {fmt(worst)})"


@lemma5.step(2, "on a bounded set the gradient stays away from 0: <-grad_{W_Pi} L~, u_bar> >= "
             "(gamma_m - eps) mean |l'| > 0", numeric=True, subject=0.5, control=1.5,
             tolerance=0.0, control_label="eps = 1.5 gamma_m (data no longer robustly separable)")
def lemma5_step2_gradient_floor(eps_over_gamma: float) -> str:
    """1000 random W_Pi with ||W_Pi|| <= 5: the inequality, and positivity of the floor."""
    X, y, gamma = separable_2d()
    u_bar = torch.from_numpy(margins.hard_margin_svm(X.numpy(), y.numpy()).u_bar)
    eps = eps_over_gamma * gamma
    gen = torch.Generator().manual_seed(2)
    lowest, slack = math.inf, math.inf
    for _ in range(1000):
        w = torch.randn(1, 2, generator=gen, dtype=F64)
        w = w * 5 * torch.rand(1, generator=gen, dtype=F64) / w.norm()
        (g,) = objective_grad([w], X, y, eps)
        qs = y * (X @ w[0]) - eps * w.norm()
        floor = (gamma - eps) * float(logistic_prime(qs).abs().mean())
        lhs = float(-(g[0] @ u_bar))
        slack, lowest = min(slack, lhs - floor), min(lowest, lhs)
    require(slack >= -1e-12, f"<-grad, u_bar> falls below the floor by {-slack:.3g}")
    require(lowest > 0, f"<-grad, u_bar> reaches {lowest:.3g} <= 0: no floor")
    return (f"eps = {eps_over_gamma} gamma_m: min <-grad, u_bar> = {lowest:.3g} > 0, "
            f"bound slack >= {fmt(max(slack, 0.0))}")


@lemma5.check(kind="numeric", subject=0.5, control=0.0, tolerance=0.0,
              control_label="step size 0 (nothing moves)")
@single_thread()
def lemma5_norms_grow(lr: float) -> str:
    """L = 2, constant step: max_k ||W_k||_F increases at every checkpoint and doubles."""
    norms = max_layer_norm_after(1000, lr)
    require(all(b > a for a, b in itertools.pairwise(norms)) and norms[-1] > 2 * norms[0],
            f"max_k ||W_k||_F = {', '.join(f'{v:.3g}' for v in norms)}: not growing")
    return (f"max_k ||W_k||_F at steps 0, 250, ..., 1000: "
            f"{', '.join(f'{v:.3g}' for v in norms)}")


lemma2 = CLAIMS.claim(
    "lyuzhu.lemma2",
    title="The step size 1/beta and the r(t) schedule keep the objective smooth",
    sources=("002 Lemma 2 (App. A.1, eq. (31))",),
    kind="lemma",
    uses=("lyuzhu.lemma1",),
    statement=r"""
With $\eta(t) = \min\{1, 1/\beta(r, \bar r, \epsilon)\}$ and $r(t+1) = r(t)$ if
$W(t+1) \in \mathcal S(r(t) - \mu(t))$, else $r(t) + \mu(t)$, where
$\mu = r^{L-1}(1 + \epsilon)\alpha/\beta(r, \bar r, \epsilon)$, one step moves each layer by at
most $\mu$, so $\tilde{\mathcal L}$ stays $\beta(r(t), \bar r, \epsilon)$-smooth along the run.""",
    erratum=Erratum(
        printed=r"\Big\|\frac{\partial\tilde{\mathcal L}}{\partial W_k}\Big\| \le \Big(1 +"
                r" \frac{\epsilon}{\bar r L}\Big)\alpha r^{2L}\quad (31)",
        problem=(
            "The proof needs eta ||dL~/dW_k|| <= mu. With (31), eta times the bound is "
            "(1 + eps/(r_bar L)) alpha r^{2L} / beta, which exceeds mu = r^{L-1} (1 + eps) "
            "alpha / beta for every r >= 1 (step 1a). The bound that gives exactly mu is "
            "||dL~/dW_k||_F <= alpha r^{L-1} (1 + eps): grad_{W_Pi} l~ = l~' (y x^T - eps "
            "W_Pi/||W_Pi||) has norm <= alpha (1 + eps), and the chain rule multiplies by at "
            "most r^{L-1}. It is tight (check lemma2_gradient_bound). The step size itself is "
            "impractical: eta = 1/beta is about 1e-7 to 1e-9 for L = 2..4 (the experiments "
            "use a constant step)."
        ),
        corrected=r"\Big\|\frac{\partial\tilde{\mathcal L}}{\partial W_k}\Big\|_F \le \alpha"
                  r" r^{L-1}(1 + \epsilon)",
    ),
)

_r, _rb, _e, _a, _b = sp.symbols("r rbar epsilon alpha beta", positive=True)
_L = sp.Symbol("L", integer=True, positive=True)


def eta_times_bound_minus_mu(bound: sp.Expr) -> sp.Expr:
    """eta * bound - mu with eta = 1/beta(r, ...) (the common factor 1/beta dropped)."""
    return bound - _r ** (_L - 1) * (1 + _e) * _a


@lemma2.step(1, "eta ||dL~/dW_k|| <= mu with the corrected gradient bound", subject=_a * _r
             ** (_L - 1) * (1 + _e), control=(1 + _e / (_rb * _L)) * _a * _r ** (2 * _L),
             control_label="the printed (31)")
def lemma2_step1_corrected(bound: sp.Expr) -> str:
    """eta times the bound equals mu exactly."""
    return sym_equal(eta_times_bound_minus_mu(bound), 0, "eta * bound - mu")


@lemma2.step("1a", "eta ||dL~/dW_k|| <= mu with (31) as printed", refutes=True,
             subject=(1 + _e / (_rb * _L)) * _a * _r ** (2 * _L),
             control=_a * _r ** (_L - 1) * (1 + _e),
             control_label="the corrected bound (must hold)")
def lemma2_step1a_printed_31(bound: sp.Expr) -> str:
    """Printed step: eta * (31) <= mu? A counterexample at r = 2, L = 2, eps = 0.1, r_bar = 1/2."""
    gap = eta_times_bound_minus_mu(bound)
    at = {_r: 2, _L: 2, _e: sp.Rational(1, 10), _rb: sp.Rational(1, 2), _a: 1}
    value = float(gap.subs(at))
    require(value <= 1e-12, f"eta * bound - mu = {value:.4g} > 0 at r = 2, L = 2, eps = 0.1, "
                            f"r_bar = 1/2 (times 1/beta)")
    return f"eta * bound - mu = {fmt(value)} at r = 2, L = 2, eps = 0.1, r_bar = 1/2"


def misclassified_net(r: float, L: int, eps: float, d: int = 3
                      ) -> tuple[list[Tensor], Tensor, Tensor]:
    """Rank-one layers of norm r with W_Pi pointing against y x: l' is close to -1 and the
    first-layer gradient is as large as the bound allows."""
    weights, x, y = near_zero_margin_net(r, L, eps, d=d)
    w_pi = weights[0]
    for w in weights[1:]:
        w_pi = w @ w_pi
    x = -torch.nn.functional.normalize(w_pi, dim=1)
    return weights, x, y


@lemma2.check(kind="numeric", subject=lambda r, L, eps: r ** (L - 1) * (1 + eps),
              control=lambda r, L, eps: r ** (L - 2) * (1 + eps), tolerance=1e-9,
              control_label="one power of r fewer")
@single_thread()
def lemma2_gradient_bound(bound: Callable[[float, int, float], float]) -> str:
    """max_k ||dL~/dW_k||_F / bound over random nets in S(r) and the extremal net (alpha = 1)."""
    gen = torch.Generator().manual_seed(3)
    worst, rows = 0.0, []
    for L, r, eps in ((1, 2.0, 0.1), (2, 2.0, 0.3), (3, 1.5, 0.5), (4, 1.2, 0.1)):
        cases = [misclassified_net(r, L, eps)]
        for _ in range(20):
            dims = [3] + [3] * (L - 1) + [1]
            ws = [torch.randn(dims[k + 1], dims[k], generator=gen, dtype=F64) for k in range(L)]
            ws = [r * w / w.norm() for w in ws]
            X = torch.nn.functional.normalize(torch.randn(5, 3, generator=gen, dtype=F64), dim=1)
            cases.append((ws, X, torch.where(torch.rand(5, generator=gen) > 0.5, 1.0, -1.0)
                          .to(F64)))
        ratio = max(float(g.norm()) / bound(r, L, eps)
                    for ws, X, y in cases for g in objective_grad(ws, X, y, eps))
        require(ratio <= 1 + 1e-9, f"L = {L}, r = {r}, eps = {eps}: ratio {ratio:.4f} > 1")
        worst = max(worst, ratio)
        rows.append(f"L = {L}: {ratio:.3f}")
    etas = ", ".join(f"L = {L}: {1 / beta_bound(r, 0.5, 0.1, L):.1e}"
                     for L, r in ((2, 8.9), (3, 4.7), (4, 3.4)))
    return (f"max ||dL~/dW_k||_F / bound: {'; '.join(rows)} (tight: the extremal net reaches "
            f"{worst:.3f}); eta = 1/beta at r_bar = 0.5, eps = 0.1: {etas}")


# ---------------------------------------------------------------------------------------------
# Lemma 7: kappa > 0 from the support vectors


lemma7 = CLAIMS.claim(
    "lyuzhu.lemma7",
    title="kappa > 0 when the support vectors span the input space",
    sources=("002 Lemma 7 (App. A.2, eq. (54); Ji & Telgarsky 2019, Lemma 3)",),
    kind="lemma",
    statement=r"""
Let $S$ be the support vectors of the max-margin direction $\bar u$. If
$\{x_i y_i\}_{i \in S}$ span $\mathbb R^d$ (with probability 1 for absolutely continuous data,
an assumption 002 leaves unstated), then $\kappa := \min_{\|\xi\| = 1,\ \xi \perp \bar u}
\max_{i \in S}\langle\xi, x_i y_i\rangle > 0$.""",
)


def kappa(X: np.ndarray, y: np.ndarray, *, grid: int = 20000, tol: float = 1e-7) -> float:
    """kappa for d = 3 data: min over the unit circle of u_bar's orthogonal plane of
    max_{i in S} <xi, y_i x_i> (a dense angle grid; the function is Lipschitz in the angle)."""
    svm = margins.hard_margin_svm(X, y)
    Z = y[:, None] * X
    support = np.abs(Z @ svm.u_bar - svm.gamma) <= tol
    basis = np.linalg.svd(np.eye(3) - np.outer(svm.u_bar, svm.u_bar))[0][:, :2]
    angles = np.linspace(0, 2 * np.pi, grid, endpoint=False)
    xi = basis @ np.stack([np.cos(angles), np.sin(angles)])
    return float((Z[support] @ xi).max(axis=0).min())


def kappa_data(spanning: bool) -> tuple[np.ndarray, np.ndarray]:
    """Separable d = 3 data with three support vectors in general position, or with every
    support vector in one plane through u_bar (they do not span R^3)."""
    sv = ([[1, 0, 0.5], [-0.5, 0.8, 0.5], [-0.5, -0.8, 0.5]] if spanning
          else [[1, 0, 0.5], [-1, 0, 0.5]])
    far = [[0.3, 0.3, 0.9], [-0.2, 0.4, 1.2], [0.1, -0.5, 1.0]]
    X = np.array(sv + far, dtype=np.float64)
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0][:len(X)])
    X = y[:, None] * X  # so that y_i x_i is the listed point (margin >= 0.5 along e_3)
    return X / np.linalg.norm(X, axis=1).max(), y


def support_vectors(spanning: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Z_S, alpha_S, u_bar): the support vectors y_i x_i, their SVM multipliers and u_bar."""
    X, y = kappa_data(spanning)
    svm = margins.hard_margin_svm(X, y)
    Z = y[:, None] * X
    support = np.abs(Z @ svm.u_bar - svm.gamma) <= 1e-7
    return Z[support], svm.alpha[support], svm.u_bar


@lemma7.step(1, "stationarity: sum_S alpha_i <xi, y_i x_i> = <xi, w*> = 0 for xi orthogonal "
             "to u_bar", numeric=True, subject="orthogonal", control="along u_bar",
             tolerance=1e-9, control_label="xi with a component along u_bar")
def lemma7_step1_stationarity(which: str) -> str:
    """For 50 unit xi (orthogonal to u_bar, or not), |sum_S alpha_i <xi, z_i>| <= 1e-9."""
    Z, alpha, u_bar = support_vectors(True)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(50):
        xi = rng.standard_normal(3)
        if which == "orthogonal":
            xi -= (xi @ u_bar) * u_bar
        else:
            xi += 2 * u_bar
        xi /= np.linalg.norm(xi)
        worst = max(worst, abs(float(alpha @ (Z @ xi))))
    require(worst <= 1e-9, f"max |sum alpha_i <xi, z_i>| = {fmt(worst)}")
    return f"max |sum_S alpha_i <xi, z_i>| = {fmt(worst)} over 50 unit xi"


@lemma7.step(2, "every alpha_i > 0 on S and S spans R^d: a xi with all <xi, z_i> <= 0 and "
             "sum alpha_i <xi, z_i> = 0 is orthogonal to S, hence 0", numeric=True,
             subject=True, control=False, tolerance=1e-9,
             control_label="support vectors in one plane")
def lemma7_step2_positive_multipliers(spanning: bool) -> str:
    """min_S alpha_i > 1e-9 and rank(Z_S) = d."""
    Z, alpha, _ = support_vectors(spanning)
    rank = int(np.linalg.matrix_rank(Z, tol=1e-9))
    require(float(alpha.min()) > 1e-9, f"a support vector has alpha = {fmt(alpha.min())}")
    require(rank == Z.shape[1], f"the support vectors span a {rank}-dim space, not R^{Z.shape[1]}")
    return f"{len(Z)} support vectors, min alpha_i = {alpha.min():.3g}, rank {rank}"


@lemma7.check(kind="numeric", subject=True, control=False, tolerance=1e-6,
              control_label="support vectors in one plane (they do not span R^3)")
def lemma7_kappa_positive(spanning: bool) -> str:
    """kappa > 1e-6 from the support vectors of the max-margin problem."""
    X, y = kappa_data(spanning)
    k = kappa(X, y)
    require(k > 1e-6, f"kappa = {fmt(k)} <= 0: some xi orthogonal to u_bar is not separated")
    return f"kappa = {k:.4f} > 0 ({'spanning' if spanning else 'non-spanning'} support vectors)"


# ---------------------------------------------------------------------------------------------
# Lemma 13: Euler's identity for subgradients at ReLU kinks


lemma13 = CLAIMS.claim(
    "lyuzhu.lemma13",
    title="Euler's identity holds for autograd's subgradient at ReLU kinks",
    sources=("002 Lemma 13 (App. B.4, eq. (136); Ji & Telgarsky 2020, Lemma C.1)",),
    kind="lemma",
    statement=r"""
For a locally Lipschitz, positively $L$-homogeneous $f$ and any $W^* \in \partial f(W)$
(Clarke), $\langle W, W^*\rangle = L f(W)$. In particular autograd's choice
$\mathrm{relu}'(0) = 0$ at a kink gives a valid element: for a bias-free ReLU net
$\langle W, \nabla_W f\rangle = L f$ even when pre-activations are exactly 0.""",
)


def kink_net(bias: bool) -> tuple[list[Tensor], Tensor]:
    """A 3-layer ReLU net (integer weights) and inputs that put several pre-activations
    exactly at 0 in float64; with ``bias`` layers 2 and 3 also get a bias of 0.5."""
    W1 = torch.tensor([[1.0, -1.0, 0.0], [2.0, 0.0, -2.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]],
                      dtype=F64)
    W2 = torch.tensor([[1.0, -2.0, 1.0, 0.0], [0.0, 1.0, -1.0, 1.0], [1.0, 1.0, 0.0, -3.0]],
                      dtype=F64)
    W3 = torch.tensor([[1.0, -1.0, 2.0]], dtype=F64)
    X = torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, -2.0], [1.0, 0.0, 1.0], [0.0, 1.0, -1.0]],
                     dtype=F64)
    params = [W1, W2, W3]
    if bias:
        params += [torch.zeros(4, dtype=F64), torch.full((3,), 0.5, dtype=F64),
                   torch.full((1,), 0.5, dtype=F64)]  # b1 = 0 keeps the first-layer kinks
    return params, X


def relu_forward(params: Sequence[Tensor], X: Tensor) -> Tensor:
    """f(x) = W3 relu(W2 relu(W1 x (+ b1)) (+ b2)) (+ b3), per row of X."""
    ws, bs = params[:3], list(params[3:]) or [None] * 3
    h = X
    for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
        h = h @ w.T + (b if b is not None else 0)
        if k < 2:
            h = torch.relu(h)
    return h[:, 0]


def _euler_gap(params: Sequence[Tensor], x: Tensor) -> tuple[float, Tensor, float]:
    """(<theta, grad f> - 3 f, grad f, f) at one input for the parameter list ``params``."""
    ps = [p.clone().requires_grad_(True) for p in params]
    f = relu_forward(ps, x[None])[0]
    grads = torch.autograd.grad(f, ps)
    euler = sum(float((p.detach() * g).sum()) for p, g in zip(ps, grads, strict=True))
    return euler - 3 * float(f.detach()), _flat(grads), float(f.detach())


@lemma13.step(1, "at differentiable points: Euler's identity <W, grad f> = L f", numeric=True,
              subject=False, control=True, tolerance=1e-12, control_label="biases")
def lemma13_step1_smooth_points(bias: bool) -> str:
    """Random inputs (no pre-activation at 0): |<theta, grad f> - 3 f| <= 1e-12."""
    params, _ = kink_net(bias)
    X = torch.randn(20, 3, generator=torch.Generator().manual_seed(4), dtype=F64)
    worst = max(abs(_euler_gap(params, x)[0]) for x in X)
    require(worst <= 1e-12, f"max |<theta, grad f> - 3 f| = {fmt(worst)}")
    return f"20 random inputs: max |<theta, grad f> - 3 f| = {fmt(worst)}"


@lemma13.step(2, "the Clarke subdifferential is the convex hull of limits of nearby gradients; "
              "Euler holds for each limit, so for every convex combination", numeric=True,
              subject=False, control=True, tolerance=1e-6, control_label="biases")
def lemma13_step2_limits_of_gradients(bias: bool) -> str:
    """Gradients at W + t v and W - t v (t = 1e-9, differentiable points on either side of the
    kinks) and their midpoint satisfy <W, g> = 3 f(W) up to O(t)."""
    params, X = kink_net(bias)
    gen = torch.Generator().manual_seed(5)
    worst, spread = 0.0, 0.0
    for x in X:
        _, _, f0 = _euler_gap(params, x)
        v = [torch.randn(p.shape, generator=gen, dtype=F64) for p in params]
        sides = [_euler_gap([p + t * dv for p, dv in zip(params, v, strict=True)], x)[1]
                 for t in (1e-9, -1e-9)]
        spread = max(spread, float((sides[0] - sides[1]).norm()))
        for g in (*sides, (sides[0] + sides[1]) / 2):
            worst = max(worst, abs(float(_flat(params) @ g) - 3 * f0))
    require(spread > 1e-3, "the one-sided gradients agree: no kink was crossed")
    require(worst <= 1e-6, f"max |<W, g> - 3 f(W)| = {fmt(worst)} over one-sided limits")
    return (f"one-sided gradients differ by up to {spread:.2g}; they and their midpoint give "
            f"max |<W, g> - 3 f(W)| = {fmt(worst)}")


@lemma13.check(kind="numeric", subject=False, control=True, tolerance=1e-12,
               control_label="biases (not homogeneous)")
def lemma13_euler_at_kinks(bias: bool) -> str:
    """Per sample: |<W, grad_W f> - 3 f| <= 1e-12 with inputs on kinks (count reported)."""
    params, X = kink_net(bias)
    h1 = X @ params[0].T + (params[3] if bias else 0)
    kinks = int((h1 == 0).sum())
    require(kinks >= 3, f"only {kinks} pre-activations at a kink")
    worst = max(abs(_euler_gap(params, x)[0]) for x in X)
    require(worst <= 1e-12, f"max |<W, grad f> - 3 f| = {fmt(worst)}")
    return f"{kinks} first-layer pre-activations exactly 0; max |<W, grad f> - 3 f| = {fmt(worst)}"


# ---------------------------------------------------------------------------------------------
# Lemma 8: the first layer's orthogonal component stops growing


lemma8 = CLAIMS.claim(
    "lyuzhu.lemma8",
    title="Far from u_bar, a gradient step shrinks the component orthogonal to u_bar",
    sources=("002 Lemma 8 (App. A.2, eqs. (55)-(62))",),
    kind="lemma",
    uses=("lyuzhu.lemma7",),
    statement=r"""
For the logistic loss and the exact $\ell_2$ perturbation, if $\langle W_\Pi, \bar u\rangle \ge 0$
and $\|\mathcal P_\perp W_\Pi\| \ge \varphi = 2n/(e\kappa)$, then
$\langle\mathcal P_\perp W_1, \partial\tilde{\mathcal L}/\partial W_1\rangle \ge 0$
($\mathcal P_\perp$ the projection orthogonal to $\bar u$). Checked for $L = 1$, where
$W_1 = W_\Pi = w$.""",
)


def lemma8_samples(lo: float, hi: float, a_max: float, count: int = 4000, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(Z, W, u_bar, gamma_m, phi): the spanning data of Lemma 7 and ``count`` vectors
    w = a u_bar + s xi with a in [0, a_max], unit xi orthogonal to u_bar, s in [lo, hi] * phi."""
    X, y = kappa_data(True)
    svm = margins.hard_margin_svm(X, y)
    Z, u = y[:, None] * X, svm.u_bar
    phi = 2 * len(X) / (math.e * kappa(X, y))
    rng = np.random.default_rng(seed)
    xi = rng.standard_normal((count, 3))
    xi -= np.outer(xi @ u, u)
    xi /= np.linalg.norm(xi, axis=1, keepdims=True)
    W = (rng.uniform(0, a_max, (count, 1)) * u + rng.uniform(lo, hi, (count, 1)) * phi * xi)
    return Z, W, u, svm.gamma, phi


def perp_inner_gradient(Z: np.ndarray, W: np.ndarray, u: np.ndarray, eps: float) -> np.ndarray:
    """<P_perp w, grad L~(w)> for each row w of W (L = 1, logistic loss, exact l2 attack):
    grad L~ = mean_i l'(q_i) (z_i - eps w/||w||), l'(q) = -1/(1 + e^q)."""
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    q = W @ Z.T - eps * norms  # (count, n) adversarial margins
    lp = -1.0 / (1.0 + np.exp(q))
    grad = (lp @ Z - lp.sum(1, keepdims=True) * eps * W / norms) / Z.shape[0]
    perp = W - np.outer(W @ u, u)
    return (perp * grad).sum(1)


@lemma8.step(1, "the eps-term of the gradient contributes |l'| eps ||P_perp w||^2/||w|| >= 0",
             numeric=True, subject=-1.0, control=1.0, tolerance=0.0,
             control_label="the perturbation's sign flipped (delta along +w)")
def lemma8_step1_eps_term(sign: float) -> str:
    """For 4000 w: mean_i l'(q_i) * (sign * eps ||P_perp w||^2/||w||) >= 0 (eps = gamma_m/2)."""
    Z, W, u, gamma, _ = lemma8_samples(1, 5, 50)
    eps = gamma / 2
    norms = np.linalg.norm(W, axis=1)
    lp = -1.0 / (1.0 + np.exp(W @ Z.T - eps * norms[:, None]))
    perp2 = np.linalg.norm(W - np.outer(W @ u, u), axis=1) ** 2
    term = lp.mean(1) * sign * eps * perp2 / norms
    require(float(term.min()) >= 0, f"the eps-term reaches {term.min():.3g} < 0")
    return f"4000 w: the eps-term is >= {fmt(float(term.min()))}"


@lemma8.step(2, "Lemma 7 with xi = -P_perp w/||P_perp w||: some support vector has "
             "<P_perp w, z_i> <= -kappa ||P_perp w||, a positive term of size kappa |l'_i|",
             numeric=True, subject=1.0, control=2.0, tolerance=1e-9,
             control_label="2 kappa in place of kappa")
def lemma8_step2_good_support_vector(factor: float) -> str:
    """For 4000 w: min over support vectors of <P_perp w, z_i>/||P_perp w|| <= -factor kappa."""
    X, y = kappa_data(True)
    Z_s, _, _ = support_vectors(True)
    k = kappa(X, y)
    _, W, u, _, _ = lemma8_samples(1, 5, 50)
    perp = W - np.outer(W @ u, u)
    best = (perp @ Z_s.T).min(1) / np.linalg.norm(perp, axis=1)
    worst = float(best.max())
    require(worst <= -factor * k + 1e-9, f"a w has min_i <P_perp w, z_i>/||P_perp w|| = "
                                         f"{worst:.4f} > -{factor:g} kappa = {-factor * k:.4f}")
    return f"max over 4000 w of min_S <P_perp w, z_i>/||P_perp w|| = {worst:.4f} <= -kappa"


@lemma8.check(kind="numeric", subject=(1.0, 5.0, 50.0), control=(0.01, 0.5, 3.0), tolerance=0.0,
              control_label="||P_perp w|| below phi (s in [0.01, 0.5] phi), near u_bar's origin")
def lemma8_sign(box: tuple[float, float, float]) -> str:
    """<P_perp w, grad L~(w)> >= 0 on 4000 sampled w, eps in {0, gamma_m/2}."""
    lo, hi, a_max = box
    Z, W, u, gamma, phi = lemma8_samples(lo, hi, a_max)
    lowest = min(float(perp_inner_gradient(Z, W, u, e).min()) for e in (0.0, gamma / 2))
    require(lowest >= 0, f"<P_perp w, grad> = {lowest:.3g} < 0 for some w (phi = {phi:.2f})")
    return (f"4000 w with ||P_perp w|| in [{lo:g}, {hi:g}] phi (phi = {phi:.2f}): "
            f"min <P_perp w, grad L~> = {lowest:.3g} >= 0")
