"""Chen Liu's thesis, the working facts of ch. 2-3: FGSM as steepest ascent (2.1) and the
worst-case logit bound (3.1) (seed 003).

Both are used without proof throughout the thesis (and the other sources): FGSM maximises the
first-order model of the loss on the l_inf ball, and a box of output bounds gives an upper bound
of the cross-entropy under attack by taking the true logit at its lower bound and every other
logit at its upper bound. Each is a claim with two proof steps and a statement-level check
against an independent computation (linprog; vertex enumeration), each with a control.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import numpy as np
import sympy as sp
import torch
from scipy.optimize import linprog, minimize

from advproof import norms
from advproof.asserts import fmt, require
from advproof.claims import ClaimSet

CLAIMS = ClaimSet("thesis1")
F64 = torch.float64


# ---------------------------------------------------------------------------------------------
# (2.1): FGSM and its l_p generalisation

eq2_1 = CLAIMS.claim(
    "thesis1.eq2_1",
    title="FGSM maximises the linearised loss on the l_inf ball (and its l_p form)",
    sources=("003 eq. (2.1), §2.1",),
    kind="proposition",
    statement=r"""
$\Delta = \epsilon\,\mathrm{sign}(\nabla_{\mathbf x}\mathcal L)$ maximises the first-order model
$\mathcal L + \langle\Delta, \nabla_{\mathbf x}\mathcal L\rangle$ over
$\|\Delta\|_\infty \le \epsilon$, with value $\mathcal L + \epsilon\|\nabla_{\mathbf x}
\mathcal L\|_1$. For an $\ell_p$ ball the maximiser is
$\epsilon\,\mathrm{sign}(g)|g|^{q-1}/\|g\|_q^{q-1}$ with value $\epsilon\|g\|_q$,
$\frac1p + \frac1q = 1$.""",
)


def _gradients(seed: int = 0, n: int = 40, d: int = 6) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


@eq2_1.step(1, "Hoelder: <g, Delta> <= ||g||_q ||Delta||_p", numeric=True,
            subject=norms.dual_exponent, control=lambda p: p, tolerance=1e-12,
            control_label="the same exponent on both sides (||g||_p ||Delta||_p)")
def eq2_1_step1_hoelder(exponent: Callable[[float], float]) -> str:
    """Random g and Delta, p in {1, 1.5, 2, 3, inf}: <g, Delta> <= ||g||_r ||Delta||_p."""
    worst = -math.inf
    for p in (1.0, 1.5, 2.0, 3.0, math.inf):
        g, delta = _gradients(1), _gradients(2)
        delta = delta * (delta.abs() > 0.5)  # sparse directions make the p = inf case bite
        r = exponent(p)
        slack = ((g * delta).sum(-1) - torch.linalg.vector_norm(g, ord=r, dim=-1)
                 * torch.linalg.vector_norm(delta, ord=p, dim=-1))
        worst = max(worst, float(slack.max()))
    require(worst <= 1e-12, f"<g, Delta> exceeds the bound by {fmt(worst)}")
    return f"40 pairs x 5 values of p: largest <g, Delta> - bound = {worst:.3g} <= 0"


@eq2_1.step(2, "equality at the dual maximiser, which lies on the sphere", numeric=True,
            subject=norms.dual_maximiser,
            control=lambda g, p: g / torch.linalg.vector_norm(g, dim=-1, keepdim=True),
            tolerance=1e-12, control_label="the l2 direction g/||g||_2 for every p")
def eq2_1_step2_attained(maximiser: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """||d*||_p = 1 and <g, d*> = ||g||_q for p in {1, 1.5, 2, 3, inf}."""
    worst = 0.0
    for p in (1.0, 1.5, 2.0, 3.0, math.inf):
        g = _gradients(3)
        d = maximiser(g, p)
        on_sphere = (torch.linalg.vector_norm(d, ord=p, dim=-1) - 1).abs().max()
        gap = ((g * d).sum(-1) - norms.dual_norm(g, p)).abs().max()
        worst = max(worst, float(on_sphere), float(gap))
    require(worst <= 1e-12, f"max deviation {fmt(worst)}")
    return f"||d*||_p = 1 and <g, d*> = ||g||_q to {fmt(worst)}"


@eq2_1.check(kind="numeric", subject=norms.dual_maximiser,
             control=lambda g, p: g / torch.linalg.vector_norm(g, dim=-1, keepdim=True),
             tolerance=1e-8, control_label="the l2 direction for every p")
def eq2_1_against_solvers(maximiser: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """max_{||d||_p <= 1} <g, d>: linprog for p in {1, inf}, SLSQP for p = 3, against <g, d*>."""
    worst = 0.0
    for g in _gradients(4, n=4):
        v = g.numpy()
        lp_inf = -linprog(-v, bounds=[(-1, 1)] * len(v)).fun
        lp_one = -linprog(-np.concatenate([v, -v]), A_ub=np.ones((1, 2 * len(v))), b_ub=[1],
                          bounds=[(0, None)] * (2 * len(v))).fun
        slsqp = -minimize(lambda d, v=v: -v @ d, np.full(len(v), 0.1), method="SLSQP",
                          constraints=[{"type": "ineq",
                                        "fun": lambda d: 1 - np.sum(np.abs(d) ** 3)}],
                          options={"ftol": 1e-14, "maxiter": 500}).fun
        for p, ref in ((math.inf, lp_inf), (1.0, lp_one), (3.0, slsqp)):
            ours = float(g @ maximiser(g, p))
            worst = max(worst, abs(ours - ref) / abs(ref))
    require(worst <= 1e-8, f"max relative gap to the solvers {fmt(worst)}")
    return f"4 gradients, p in {{1, 3, inf}}: max relative gap to linprog/SLSQP {fmt(worst)}"


# ---------------------------------------------------------------------------------------------
# (3.1): the worst-case logit bound

eq3_1 = CLAIMS.claim(
    "thesis1.eq3_1",
    title="Output bounds give an upper bound of the cross-entropy under attack",
    sources=("003 eq. (3.1), §3.1",),
    kind="proposition",
    statement=r"""
If $\underline{\mathbf o} \le f(\theta, \mathbf x + \Delta) \le \bar{\mathbf o}$ for every
$\Delta \in \mathcal S^{(p)}_\epsilon$, then $\max_{\Delta}\mathcal L(f(\theta, \mathbf x +
\Delta), y) \le \mathcal L(\mathbf o^{(worst)}, y)$ with $\mathbf o^{(worst)}_y =
\underline{\mathbf o}_y$ and $\mathbf o^{(worst)}_i = \bar{\mathbf o}_i$ for $i \ne y$.""",
)

_o = sp.symbols("o0:3", real=True)


def ce_sym(y: int) -> sp.Expr:
    """Softmax cross-entropy of three logits with label y."""
    return sp.log(sum(sp.exp(o) for o in _o)) - _o[y]


@eq3_1.step(1, "dL/do_y = p_y - 1 < 0 and dL/do_i = p_i > 0: L decreases in the true logit "
            "and increases in the others", subject=1, control=-1,
            control_label="the sign pattern reversed")
def eq3_1_step1_signs(sign: int) -> str:
    """sympy: the partial derivatives equal softmax - e_y, with the claimed signs."""
    L = ce_sym(0)
    p = [sp.exp(o) / sum(sp.exp(u) for u in _o) for o in _o]
    for i, o in enumerate(_o):
        d = sp.diff(L, o)
        expected = p[i] - (1 if i == 0 else 0)
        require(sp.simplify(d - expected) == 0, f"dL/do_{i} = {d}")
        at = {_o[0]: sp.Rational(1, 3), _o[1]: -1, _o[2]: 2}
        value = float(d.subs(at))
        want = -sign if i == 0 else sign  # sign = 1: true logit decreases L, others increase it
        require(value * want > 0, f"dL/do_{i} = {value:.3g} at a test point: wrong sign")
    return "dL/do_y = p_y - 1 < 0, dL/do_i = p_i > 0 (i != y)"


def corner(lo: np.ndarray, hi: np.ndarray, y: int, worst: bool = True) -> np.ndarray:
    """o^(worst): lo at the true label and hi elsewhere (``worst=False``: the opposite)."""
    out = hi.copy() if worst else lo.copy()
    out[y] = lo[y] if worst else hi[y]
    return out


def ce(o: np.ndarray, y: int) -> float:
    """log sum exp(o) - o_y, stably."""
    m = o.max()
    return float(m + np.log(np.exp(o - m).sum()) - o[y])


@eq3_1.step(2, "monotone in each coordinate, so the box maximum is at o^(worst)", numeric=True,
            subject=True, control=False, tolerance=1e-12,
            control_label="the opposite corner (hi at the label, lo elsewhere)")
def eq3_1_step2_corner(worst: bool) -> str:
    """200 random boxes (K = 4): L(corner) equals the maximum over the 16 vertices (exact: L is
    convex in o, so its box maximum is at a vertex)."""
    rng = np.random.default_rng(0)
    gap = 0.0
    for _ in range(200):
        lo = rng.normal(size=4)
        hi = lo + rng.uniform(0.1, 3, size=4)
        y = int(rng.integers(4))
        best = max(ce(np.array(v), y) for v in itertools.product(*zip(lo, hi, strict=True)))
        gap = max(gap, best - ce(corner(lo, hi, y, worst), y))
    require(gap <= 1e-12, f"a vertex beats the corner by {fmt(gap)}")
    return f"200 boxes: max over vertices - L(corner) = {fmt(gap)}"


@eq3_1.check(kind="numeric", subject=True, control=False, tolerance=0.0,
             control_label="the opposite corner")
def eq3_1_on_a_net(worst: bool) -> str:
    """A random 2-layer ReLU net, interval bounds of its logits on an l_inf ball (IBP): L at the
    corner >= L at every one of 2000 sampled points of the ball."""
    gen = torch.Generator().manual_seed(5)
    W1, b1 = torch.randn(8, 4, generator=gen, dtype=F64), torch.randn(8, generator=gen, dtype=F64)
    W2, b2 = torch.randn(3, 8, generator=gen, dtype=F64), torch.randn(3, generator=gen, dtype=F64)
    x, eps, y = torch.randn(4, generator=gen, dtype=F64), 0.3, 1

    def net(v: torch.Tensor) -> torch.Tensor:
        return torch.relu(v @ W1.T + b1) @ W2.T + b2

    c, r = W1 @ x + b1, eps * W1.abs().sum(1)  # interval propagation, layer by layer
    h_lo, h_hi = torch.relu(c - r), torch.relu(c + r)
    mid, rad = (h_lo + h_hi) / 2, (h_hi - h_lo) / 2
    lo, hi = (W2 @ mid + b2 - W2.abs() @ rad).numpy(), (W2 @ mid + b2 + W2.abs() @ rad).numpy()
    samples = net(x + eps * (2 * torch.rand(2000, 4, generator=gen, dtype=F64) - 1)).numpy()
    require(bool(((samples >= lo - 1e-12) & (samples <= hi + 1e-12)).all()),
            "the interval bounds miss a sampled output")
    bound = ce(corner(lo, hi, y, worst), y)
    sampled = max(ce(o, y) for o in samples)
    require(bound >= sampled, f"L(corner) = {bound:.4f} < sampled max {sampled:.4f}")
    return f"L(o_worst) = {bound:.3f} >= max over 2000 sampled points {sampled:.3f}"


# ---------------------------------------------------------------------------------------------
# §1.1: empirical >= true >= verified robust accuracy

sandwich = CLAIMS.claim(
    "thesis1.sandwich",
    title="Empirical robust accuracy >= true robust accuracy >= verified robust accuracy",
    sources=("003 §1.1 (robust accuracy definitions)",),
    kind="remark",
    statement=r"""
"By definition, empirical robust accuracy and verified robust accuracy are the upper bound and
the lower bound of the true robust accuracy", the share of inputs with
$\forall\Delta \in \mathcal S^{(p)}_\epsilon$, $y_i = \arg\max_j f(\theta, \mathbf x_i +
\Delta)_j$. Per input: verified $\Rightarrow$ truly robust $\Rightarrow$ not broken by the
attack.""",
)


def sandwich_net(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A bias-free 2-8-8-3 ReLU net whose classes split a Gaussian cloud (float64)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [2, 8, 8, 3]
    return [(torch.randn(o, i, generator=gen, dtype=F64) * 1.5 / math.sqrt(i),
             torch.zeros(o, dtype=F64)) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]


@functools.cache
def robust_accuracies(eps_grid: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3), n: int = 40
                      ) -> dict[str, list[float]]:
    """Per eps (l_inf): PGD-20 empirical robust accuracy, true robust accuracy (the exact
    minimal distance by MILP, ``bounds.minimal_linf_distance``) and verified robust accuracy
    (linear bounds on the margins, last layer elided), on n points labelled by the net."""
    import warnings

    from advproof import attacks, bounds

    layers = sandwich_net()
    X = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=F64)

    def f(v: torch.Tensor) -> torch.Tensor:
        return bounds.forward(layers, v)

    y = f(X).argmax(1)
    cap = max(eps_grid) + 0.05  # only "farther than the largest eps" matters: a tighter MILP
    distance = torch.tensor([bounds.minimal_linf_distance(layers, X[i], int(y[i]), cap=cap)
                             for i in range(n)])
    out: dict[str, list[float]] = {"eps": list(eps_grid), "empirical": [], "true": [],
                                   "verified": [], "order_holds": []}
    for eps in eps_grid:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dead units: some points cannot move
            delta = attacks.pgd(f, X, y, eps=eps, alpha=eps / 4, steps=20)
        empirical = f(X + delta).argmax(1) == y
        true = distance > eps
        low = bounds.linear_bounds(layers, X, eps, math.inf,
                                   spec=bounds.margin_spec(y, 3)).lower
        verified = low.masked_fill(torch.nn.functional.one_hot(y, 3).bool(),
                                   math.inf).min(1).values > 0
        for key, v in (("empirical", empirical), ("true", true), ("verified", verified)):
            out[key].append(float(v.double().mean()))
        out["order_holds"].append(bool((verified <= true).all() & (true <= empirical).all()))
    return out


@sandwich.check(kind="numeric", subject=("verified", "true", "empirical"),
                control=("empirical", "true", "verified"), tolerance=0.0,
                control_label="the order reversed (verified as the upper bound)")
def sandwich_order(order: tuple[str, str, str]) -> str:
    """At every eps: acc[order[0]] <= acc[order[1]] <= acc[order[2]], and per input the
    implications verified => true => empirical hold."""
    acc = robust_accuracies()
    for i, eps in enumerate(acc["eps"]):
        a, b, c = (acc[k][i] for k in order)
        require(a <= b <= c, f"eps = {eps}: {order[0]} {a:.3f}, {order[1]} {b:.3f}, "
                             f"{order[2]} {c:.3f} out of order")
        require(acc["order_holds"][i], f"eps = {eps}: an input breaks the implications")
    rows = "; ".join(f"eps {e}: {p:.3f} >= {t:.3f} >= {v:.3f}" for e, p, t, v in
                     zip(acc["eps"], acc["empirical"], acc["true"], acc["verified"],
                         strict=True))
    return f"empirical >= true >= verified: {rows}"
