"""Chen Liu's thesis (seed 003), ch. 3: verified robustness by relaxations and envelopes.

Linear relaxations of ReLU, sigmoid and tanh (eqs. 3.3-3.6, Table 3.1), the output bounds of
Alg. 3.1 (linear relaxation, Fast-Lin) and Alg. 3.2 (IBP), non-uniform budgets for a linear
classifier (3.9)-(3.11), the polyhedral envelope (3.12) with Lemma 3.1, the box-constrained
distance (3.14)-(3.15) with Alg. 3.4 / Theorem 3.1, and the two-phase behaviour of PEC with
Alg. 3.5 (Sec. 3.3.2), and PER (3.20). The library is :mod:`advproof.bounds`; every check
compares it with an independent reference (sampled outputs, ``scipy.optimize.linprog``, a
lambda-bisection, an exact MILP) and runs a deliberately wrong control through the same test.

The experiments of the chapter are measured in miniature, each run once per code version
(:func:`advproof.cache.cached_run`) and shared with chapter 51: Tables 3.2-3.3 and Figs.
3.4-3.5 on the 8x8 digits (``experiments.thesis_nonuniform``), Alg. 3.6 and Figs. 3.8-3.9 on a
2-D toy (``experiments.thesis_per``). Where a reading of the thesis does not show in miniature,
the claim says so with its numbers (an erratum whose refutation check prints them).

Numbering: "003 eq. (3.4)" etc.; the papers are [95] (ICML 2019, Sec. 3.1-3.2) and [94] (TNNLS
2021, Sec. 3.3). Notation: ``[l, u]`` a pre-activation interval, ``d`` the common slope,
``a_lo, a_hi`` the intercepts, ``U_i x + p_i`` the envelope's margin lower bounds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import sympy as sp
import torch
from scipy.optimize import brentq, linprog

from advproof import attacks, bounds, data
from advproof.asserts import fmt, require, sym_equal, worst_close
from advproof.claims import ClaimSet, Erratum
from advproof.threads import single_thread

CLAIMS = ClaimSet("thesis3")
F64 = torch.float64
SIGMOID_TANH = ("sigmoid", "tanh")


def random_mlp(sizes: list[int], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A He-initialised float64 MLP with small random biases (the checks' test nets)."""
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(o, i, generator=gen, dtype=F64) * math.sqrt(2 / i),
             0.1 * torch.randn(o, generator=gen, dtype=F64))
            for i, o in zip(sizes[:-1], sizes[1:], strict=True)]


def ball_samples(n: int, m: int, eps: float, p: float, gen: torch.Generator) -> torch.Tensor:
    """``n`` random points of the l_p ball of radius ``eps`` in R^m plus its 2m axis points."""
    if p == math.inf:
        d = torch.rand(n, m, generator=gen, dtype=F64) * 2 - 1
    else:
        v = torch.randn(n, m, generator=gen, dtype=F64)
        r = torch.rand(n, 1, generator=gen, dtype=F64) ** (1 / m)
        if p == 2.0:
            d = v / v.norm(dim=1, keepdim=True) * r
        else:
            e = -torch.log(torch.rand(n, m, generator=gen, dtype=F64))
            d = torch.sign(v) * e / e.sum(1, keepdim=True) * r
    axes = torch.cat([torch.eye(m, dtype=F64), -torch.eye(m, dtype=F64)])
    return eps * torch.cat([d, axes])


# ---------------------------------------------------------------------------------------------
# (3.4): the ReLU relaxation is the minimum-gap pair of parallel lines

_l = sp.Symbol("l", negative=True)
_u = sp.Symbol("u", positive=True)
_d = sp.Symbol("d", positive=True)


def relu_pair_printed(l_: sp.Expr, u_: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(3.4), crossing case: slope ``u / (u - l)`` and gap ``a_hi - a_lo = -l u / (u - l)``."""
    return u_ / (u_ - l_), -l_ * u_ / (u_ - l_)


def relu_pair_half(l_: sp.Expr, u_: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """Negative control: slope 1/2 (the gap of that slope, ``max(-l, u) / 2``)."""
    return sp.Rational(1, 2), sp.Max(-l_, u_) / 2


eq3_4 = CLAIMS.claim(
    "thesis3.eq3_4",
    title="The ReLU relaxation (3.4) is the minimum-gap pair of parallel lines",
    sources=("003 eq. (3.4), Fig. 3.1", "[95] (ICML 2019)"),
    kind="proposition",
    statement=r"""
For $\underline x < 0 < \bar x$, the lines
$d x + \underline a \le \mathrm{ReLU}(x) \le d x + \bar a$ with
$d = \frac{\bar x}{\bar x - \underline x}$, $\underline a = 0$,
$\bar a = -\frac{\underline x \bar x}{\bar x - \underline x}$ have the smallest gap
$\bar a - \underline a$ among all parallel pairs valid on $[\underline x, \bar x]$; for stable
intervals ($\bar x \le 0$ or $\underline x \ge 0$) the relaxation is exact.""",
)


@eq3_4.step(1, "For slope d the tightest intercepts give gap max(-d l, (1 - d) u)",
            subject=relu_pair_printed, control=relu_pair_half,
            control_label="slope 1/2 with its own tightest gap")
def eq3_4_step1_minimum_gap(pair: Callable[[sp.Expr, sp.Expr], tuple[sp.Expr, sp.Expr]]) -> str:
    """``min_x ReLU(x) - d x = 0``; ``max = max(-d l, (1 - d) u)``, decreasing then increasing
    in ``d``: the minimum is where the two pieces meet. Checks slope and gap there."""
    slope, gap = pair(_l, _u)
    left, right = -_d * _l, (1 - _d) * _u  # the two candidate maxima of ReLU(x) - d x
    require(sp.diff(left, _d).is_positive and sp.diff(right, _d).is_negative,
            "the pieces are not monotone in opposite directions")
    meet = sp.solve(sp.Eq(left, right), _d)
    require(len(meet) == 1, f"pieces meet at {meet}")
    out = sym_equal(slope, meet[0], "slope = where -d l = (1 - d) u")
    return out + "; " + sym_equal(gap, left.subs(_d, meet[0]), "gap = -l u / (u - l)")


@eq3_4.step(2, "The upper line is the chord through (l, 0) and (u, u); 0 < d < 1 keeps d x below",
            subject=relu_pair_printed, control=relu_pair_half,
            control_label="slope 1/2 with its own tightest gap")
def eq3_4_step2_chord_and_valid(pair: Callable[[sp.Expr, sp.Expr], tuple[sp.Expr, sp.Expr]]
                                ) -> str:
    """Validity: ReLU is convex, so a line through both end points lies above it; the lower line
    ``d x`` (``a_lo = 0``) is below ReLU since ``d x <= 0`` for ``x <= 0`` and ``d x <= x``."""
    slope, gap = pair(_l, _u)
    require(sp.together(slope).is_positive and sp.together(1 - slope).is_positive,
            f"slope {slope} not in (0, 1)")
    out = sym_equal(slope * _l + gap, 0, "upper line at l = ReLU(l) = 0")
    return out + "; " + sym_equal(slope * _u + gap, _u, "upper line at u = ReLU(u) = u")


def relu_relaxation_loose_control(lo: torch.Tensor, hi: torch.Tensor, activation: str
                                  ) -> bounds.Relaxation:
    """Negative control: (3.4) with the upper intercept halved (the line through (l, 0)/2)."""
    r = bounds.relaxation(lo, hi, activation)
    return bounds.Relaxation(r.slope, r.bias_lo, 0.5 * r.bias_hi)


def _grid_violation(relax: Callable, activations: tuple[str, ...], seed: int,
                    case: str | None = None) -> tuple[float, int]:
    """Worst ``lower line - phi`` or ``phi - upper line`` over 1000 random intervals x 401.

    ``case`` restricts the intervals: ``"neg"`` (``u <= 0``), ``"pos"`` (``l >= 0``) or
    ``"cross"`` (``l < 0 < u``); ``None`` draws them anywhere."""
    gen = torch.Generator().manual_seed(seed)
    lo = torch.randn(1000, generator=gen, dtype=F64) * 4
    hi = lo + torch.rand(1000, generator=gen, dtype=F64) * 8
    if case is not None:
        a, w = lo.abs() + 1e-3, hi - lo + 1e-3
        lo, hi = {"neg": (-a - w, -a), "pos": (a, a + w), "cross": (-a, w)}[case]
    t = torch.linspace(0, 1, 401, dtype=F64)
    xs = lo[:, None] + t[None] * (hi - lo)[:, None]
    worst = -math.inf
    for act in activations:
        d, a_lo, a_hi = relax(lo, hi, act)
        f = bounds.activate(xs, act)
        worst = max(worst, float((d[:, None] * xs + a_lo[:, None] - f).max()),
                    float((f - d[:, None] * xs - a_hi[:, None]).max()))
    return worst, 1000 * 401


@eq3_4.check(kind="numeric", subject=bounds.relaxation, control=relu_relaxation_loose_control,
             control_label="upper intercept halved", tolerance=1e-10)
@single_thread()
def eq3_4_sound_on_grids(relax: Callable) -> str:
    """``advproof.bounds.relaxation`` (ReLU) holds on 1000 random intervals x 401 grid points."""
    worst, n = _grid_violation(relax, ("relu",), seed=0)
    require(worst <= 1e-10, f"violation {fmt(worst)} > 1e-10")
    return f"max violation {fmt(max(worst, 0.0))} over {n} points (tol 1e-10)"


# ---------------------------------------------------------------------------------------------
# (3.5) and Table 3.1: sigmoid and tanh


def sigmoid_tanh_chord_below(lo: torch.Tensor, hi: torch.Tensor, activation: str
                             ) -> bounds.Relaxation:
    """Negative control: the chord as the LOWER line across 0 (tangent and chord swapped)."""
    r = bounds.relaxation(lo, hi, activation)
    chord = bounds.activate(lo, activation) - r.slope * lo
    cross = (lo < 0) & (hi > 0)
    return bounds.Relaxation(r.slope, torch.where(cross, chord, r.bias_lo), r.bias_hi)


eq3_5 = CLAIMS.claim(
    "thesis3.eq3_5",
    title="The sigmoid / tanh relaxation (3.5): chord slope, chord and tangent intercepts",
    sources=("003 eq. (3.5), Fig. 3.2", "[95] (ICML 2019)"),
    kind="proposition",
    statement=r"""
With the chord slope $d = \frac{\Phi(\bar x) - \Phi(\underline x)}{\bar x - \underline x}$, the
lower line is the chord if $0 \le \underline x$ and the tangent of slope $d$ at $t_1 < 0$
otherwise; the upper line is the chord if $\bar x \le 0$ and the tangent at $t_2 > 0$ otherwise
(the crossing case is stated in the prose only). Then
$d x + \underline a \le \Phi(x) \le d x + \bar a$ on $[\underline x, \bar x]$.""",
    uses=("thesis3.table3_1",),
)


@eq3_5.check(kind="numeric", subject=bounds.relaxation, control=sigmoid_tanh_chord_below,
             control_label="chord as the lower line across 0", tolerance=1e-10)
@single_thread()
def eq3_5_sound_on_grids(relax: Callable) -> str:
    """Sigmoid and tanh: 1000 random intervals x 401 points each."""
    worst, n = _grid_violation(relax, SIGMOID_TANH, seed=1)
    require(worst <= 1e-10, f"violation {fmt(worst)} > 1e-10")
    return f"max violation {fmt(max(worst, 0.0))} over {2 * n} points (tol 1e-10)"


def sigmoid_tanh_chord_swapped(lo: torch.Tensor, hi: torch.Tensor, activation: str
                               ) -> bounds.Relaxation:
    """Negative control: on one-signed intervals the chord as the LOWER line where Phi is convex
    (``u <= 0``) and as the UPPER line where it is concave (``l >= 0``)."""
    r = bounds.relaxation(lo, hi, activation)
    chord = bounds.activate(lo, activation) - r.slope * lo
    return bounds.Relaxation(r.slope, torch.where(hi <= 0, chord, r.bias_lo),
                             torch.where(lo >= 0, chord, r.bias_hi))


@eq3_5.step(1, "One-signed intervals: the chord is above Phi where it is convex (u <= 0), below "
            "where it is concave (l >= 0)", numeric=True, subject=bounds.relaxation,
            control=sigmoid_tanh_chord_swapped, tolerance=1e-10,
            control_label="chord on the wrong side (convex / concave swapped)")
@single_thread()
def eq3_5_step1_one_signed(relax: Callable) -> str:
    """Sigmoid and tanh on 1000 intervals with ``u <= 0`` and 1000 with ``l >= 0``, x 401."""
    worst = max(_grid_violation(relax, SIGMOID_TANH, seed=2, case=case)[0]
                for case in ("neg", "pos"))
    require(worst <= 1e-10, f"violation {fmt(worst)} > 1e-10")
    return f"max violation {fmt(max(worst, 0.0))} over 2 x 2 x 1000 intervals x 401 (tol 1e-10)"


@eq3_5.step(2, "Crossing intervals: the tangents of slope d at t1 < 0 and t2 > 0 bound Phi",
            numeric=True, subject=bounds.relaxation, control=sigmoid_tanh_chord_below,
            tolerance=1e-10, control_label="chord as the lower line across 0")
@single_thread()
def eq3_5_step2_crossing_tangents(relax: Callable) -> str:
    """Sigmoid and tanh on 1000 intervals with ``l < 0 < u``, x 401 points each."""
    worst, n = _grid_violation(relax, SIGMOID_TANH, seed=3, case="cross")
    require(worst <= 1e-10, f"violation {fmt(worst)} > 1e-10")
    return f"max violation {fmt(max(worst, 0.0))} over {2 * n} points (tol 1e-10)"


def looseness(activation: str, n: int = 20000, seed: int = 0) -> dict[str, float]:
    """Gap of (3.5) over the gap of the tightest parallel pair of the same slope (crossing case).

    Random intervals ``l ~ -U(0, 6)``, ``u ~ U(0, 6)``: median, 95th percentile and maximum.
    """
    gen = torch.Generator().manual_seed(seed)
    lo = -6 * torch.rand(n, generator=gen, dtype=F64)
    hi = 6 * torch.rand(n, generator=gen, dtype=F64)
    r = bounds.relaxation(lo, hi, activation)
    t = bounds.relaxation(lo, hi, activation, tight=True)
    ratio = ((r.bias_hi - r.bias_lo) / (t.bias_hi - t.bias_lo)).numpy()
    return {"median": float(np.median(ratio)), "p95": float(np.quantile(ratio, 0.95)),
            "max": float(ratio.max())}


_dd = sp.Symbol("d", positive=True)


def table3_1_printed() -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """Table 3.1 as printed: ``t1, t2`` for sigmoid and tanh."""
    r4, r1 = sp.sqrt(1 - 4 * _dd), sp.sqrt(1 - _dd)
    return {"sigmoid": (-sp.log((-(2 * _dd - 1) + r4) / (2 * _dd)),
                        -sp.log((-(2 * _dd - 1) - r4) / (2 * _dd))),
            "tanh": (sp.log((-(_dd - 2) - 2 * r1) / _dd) / 2,
                     sp.log((-(_dd - 2) + 2 * r1) / _dd) / 2)}


def table3_1_wrong() -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """Negative control: the sigmoid roots without the 2 in the denominator, tanh's with
    ``sqrt(1 - d)`` not doubled."""
    r4, r1 = sp.sqrt(1 - 4 * _dd), sp.sqrt(1 - _dd)
    return {"sigmoid": (-sp.log((-(2 * _dd - 1) + r4) / _dd), -sp.log((-(2 * _dd - 1) - r4) / _dd)),
            "tanh": (sp.log((-(_dd - 2) - r1) / _dd) / 2, sp.log((-(_dd - 2) + r1) / _dd) / 2)}


_tt = sp.Symbol("t", real=True)
_DERIV = {"sigmoid": sp.exp(-_tt) / (1 + sp.exp(-_tt)) ** 2,
          "tanh": 4 * sp.exp(2 * _tt) / (1 + sp.exp(2 * _tt)) ** 2}


table3_1 = CLAIMS.claim(
    "thesis3.table3_1",
    title="Table 3.1: the tangent points t1 < 0 < t2 with Phi'(t) = d",
    sources=("003 Table 3.1", "[95] (ICML 2019)"),
    kind="proposition",
    statement=r"""
For the sigmoid, $t_{1,2} = -\log\frac{-(2d-1) \pm \sqrt{1-4d}}{2d}$; for tanh,
$t_{1,2} = \frac12\log\frac{-(d-2) \mp 2\sqrt{1-d}}{d}$; both solve $\Phi'(t) = d$, and
$t_2 = -t_1$ (the two roots of each quadratic multiply to 1).""",
)


_zz = sp.Symbol("z", positive=True)
_QUADRATIC = {"sigmoid": (-_tt, _dd * _zz ** 2 + (2 * _dd - 1) * _zz + _dd),
              "tanh": (2 * _tt, _dd * _zz ** 2 + 2 * (_dd - 2) * _zz + _dd)}


def _quadratic_roots(table: Callable[[], dict], act: str) -> str:
    """``Phi'(t) = d`` times ``(1 + z)^2`` is minus the quadratic in ``z = e^{-t}`` (sigmoid) or
    ``z = e^{2t}`` (tanh); the printed ``t_1, t_2`` must give its two roots."""
    power, quad = _QUADRATIC[act]
    phi = _DERIV[act].subs(_tt, sp.log(_zz) / power.coeff(_tt))
    sym_equal(sp.expand(sp.simplify((phi - _dd) * (1 + _zz) ** 2)), -quad,
              f"{act}: (Phi' - d)(1 + z)^2 = -quadratic")
    for k, t in enumerate(table()[act], 1):
        sym_equal(quad.subs(_zz, sp.exp(power.subs(_tt, t))), 0, f"{act}: t{k} is a root")
    return f"{act}: Phi'(t) = d <=> {quad} = 0 with z = exp({power}); t1, t2 give both roots"


@table3_1.step(1, "Sigmoid: Phi'(t) = d is d z^2 + (2d - 1) z + d = 0 in z = e^{-t}",
               subject=table3_1_printed, control=table3_1_wrong,
               control_label="denominator d instead of 2d")
def table3_1_step1_sigmoid_quadratic(table: Callable[[], dict]) -> str:
    """Sympy: the reduction to the quadratic, and the printed roots solve it."""
    return _quadratic_roots(table, "sigmoid")


@table3_1.step(2, "Tanh: Phi'(t) = d is d z^2 + 2(d - 2) z + d = 0 in z = e^{2t}",
               subject=table3_1_printed, control=table3_1_wrong,
               control_label="sqrt(1 - d) not doubled")
def table3_1_step2_tanh_quadratic(table: Callable[[], dict]) -> str:
    """Sympy: the reduction to the quadratic, and the printed roots solve it."""
    return _quadratic_roots(table, "tanh")


@table3_1.check(kind="symbolic", subject=table3_1_printed, control=table3_1_wrong,
                control_label="denominators off by the factor 2")
def table3_1_solves_phi_prime(table: Callable[[], dict]) -> str:
    """Sympy: ``Phi'(t_k) - d`` simplifies to 0 and ``exp(t1 + t2) = 1`` (so ``t2 = -t1``)."""
    out = []
    for act, (t1, t2) in table().items():
        for k, t in ((1, t1), (2, t2)):
            sym_equal(sp.simplify(_DERIV[act].subs(_tt, t)), _dd, f"{act} Phi'(t{k}) = d")
        k = 1 if act == "sigmoid" else 2  # roots in e^{-t} / e^{2t}: their product is 1
        sym_equal(sp.expand(sp.exp(k * t1) * sp.exp(k * t2)), 1, f"{act} t1 + t2 = 0")
        out.append(act)
    return f"Phi'(t1) = Phi'(t2) = d and t1 + t2 = 0 exactly for {', '.join(out)}"


def tangent_points_stable(d: torch.Tensor, activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Table 3.1 in the stable form: only the large root, then ``t1 = -t2``."""
    return bounds.tangent_points(d, activation, stable=True)


def tangent_points_naive(d: torch.Tensor, activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Table 3.1 evaluated as printed (its small root cancels for small d)."""
    return bounds.tangent_points(d, activation, stable=False)


def _phi_prime(t: torch.Tensor, activation: str) -> torch.Tensor:
    """``Phi'(t)`` without cancellation: ``sigma(t) sigma(-t)`` and ``1 / cosh(t)^2``."""
    if activation == "sigmoid":
        return torch.sigmoid(t) * torch.sigmoid(-t)
    return torch.cosh(t) ** -2


@table3_1.check(kind="numeric", subject=tangent_points_stable, control=tangent_points_naive,
                control_label="the printed formulas evaluated in float64", tolerance=1e-10)
def table3_1_float64(points: Callable) -> str:
    """float64: ``Phi'(t_k) = d`` to 1e-10 relative for d from 1e-15 to 0.99 Phi'(0)."""
    pairs = []
    for act, top in (("sigmoid", 0.25), ("tanh", 1.0)):
        d = torch.logspace(-15, math.log10(0.99 * top), 200, dtype=F64)
        t1, t2 = points(d, act)
        for t in (t1, t2):
            bad = d[~torch.isfinite(t)]
            require(len(bad) == 0, f"{act}: non-finite t for d <= {fmt(bad.max())}"
                    if len(bad) else "")
            pairs += [(float(a), float(b)) for a, b in zip(_phi_prime(t, act), d, strict=True)]
    return worst_close(pairs, rtol=1e-10, what="Phi'(t_k) vs d (relative)")


def naive_cancellation(d: float = 1e-9) -> dict[str, float]:
    """Worst relative error of ``Phi'(t_k)`` (k = 1, 2) for the printed (naive) and stable
    forms at slope ``d``; the printed small root is t2 for the sigmoid and t1 for tanh."""
    out = {}
    for act in SIGMOID_TANH:
        for name, fn in (("naive", tangent_points_naive), ("stable", tangent_points_stable)):
            errs = [abs(float(_phi_prime(t, act)[0]) - d) / d
                    for t in fn(torch.tensor([d], dtype=F64), act)]
            err = max(errs)
            out[f"{act} {name}"] = err if math.isfinite(err) else math.inf
    return out


# ---------------------------------------------------------------------------------------------
# Alg. 3.1 (linear relaxation) and Alg. 3.2 (IBP)


def _sound_against_samples(method: Callable, seed: int) -> str:
    """Bounds of the margins ``C h`` contain 10^4 sampled outputs per point: 2 nets, 3
    activations, l_1 / l_2 / l_inf, 3 points each."""
    gen = torch.Generator().manual_seed(seed)
    worst, count = -math.inf, 0
    for act in bounds.ACTIVATIONS:
        layers = random_mlp([3, 10, 10, 4], seed=seed + len(act))
        x = torch.randn(3, 3, generator=gen, dtype=F64)
        y = bounds.forward(layers, x, act).argmax(1)
        spec = bounds.margin_spec(y, 4)
        for p in (1.0, 2.0, math.inf):
            lo, hi = method(layers, x, 0.4, p, act, spec=spec)
            delta = ball_samples(10_000, 3, 0.4, p, gen)
            for i in range(len(x)):
                out = bounds.forward(layers, x[i] + delta, act) @ spec[i].T
                worst = max(worst, float((lo[i] - out).max()), float((out - hi[i]).max()))
                count += len(delta)
    require(worst <= 1e-10, f"a sampled output leaves the bounds by {fmt(worst)}")
    return f"{count} sampled outputs inside the bounds (max excess {fmt(max(worst, 0.0))})"


def taylor_bounds(layers, x, eps, p, activation, *, spec=None) -> bounds.Bounds:
    """Negative control: first-order Taylor bounds ``C h(x) +- eps ||C J(x)||_q`` (unsound)."""
    q = bounds.dual_exponent(p)
    outs = []
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(
            lambda v: bounds.forward(layers, v[None], activation)[0], x[i])
        c = bounds.forward(layers, x[i:i + 1], activation)[0]
        outs.append((spec[i] @ c, eps * torch.linalg.vector_norm(spec[i] @ jac, ord=q, dim=1)))
    c, r = torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
    return bounds.Bounds(c - r, c + r)


def ibp_signless(layers, x, eps, p, activation, *, spec=None) -> bounds.Bounds:
    """Negative control: IBP that ignores the signs of W (``W phi(l) + b``, ``W phi(u) + b``)."""
    inner = bounds.interval_bounds(layers[:-1], x, eps, p, activation) if len(layers) > 1 else None
    lo, hi = bounds.activate(inner.lower, activation), bounds.activate(inner.upper, activation)
    W, b = layers[-1]
    Wl, bl = spec @ W, spec @ b
    return bounds.Bounds((Wl @ lo[..., None]).squeeze(-1) + bl,
                         (Wl @ hi[..., None]).squeeze(-1) + bl)


def _linear_bounds(layers, x, eps, p, activation, *, spec=None) -> bounds.Bounds:
    return bounds.linear_bounds(layers, x, eps, p, activation, spec=spec)


def _ibp(layers, x, eps, p, activation, *, spec=None) -> bounds.Bounds:
    return bounds.interval_bounds(layers, x, eps, p, activation, spec=spec)


def bias_product_shapes(limit: Callable[[int, int], int]) -> list[tuple[int, int, int]]:
    """Alg. 3.1 line 5 with the product limit ``limit(k, L)`` on a net of widths 2-5-4-3:
    the (k, i, rows) of every bias term ``(prod_{j=i+1}^{limit} W^(j) D^(j)) b^(i)`` whose row
    count is not that of ``z^(k+1)``, or whose product uses a ``D^(j)`` not computed at step k."""
    widths = [2, 5, 4, 3]  # z^(1) = x, z^(2), z^(3), z^(4) = logits; L = 4
    L = len(widths)
    bad = []
    for k in range(2, L):  # layer k's bounds give z^(k+1)
        for i in range(1, k + 1):
            top = limit(k, L)
            rows = widths[top] if top >= i + 1 else widths[i]  # W^(j) maps z^(j) -> z^(j+1)
            if rows != widths[k] or top > k:
                bad.append((k, i, rows))
    return bad


alg3_1 = CLAIMS.claim(
    "thesis3.alg3_1",
    title="Alg. 3.1: output bounds by linear relaxation (Fast-Lin), with elision",
    sources=("003 Alg. 3.1, eq. (3.7)", "[95] (ICML 2019)", "[154] Fast-Lin"),
    kind="algorithm",
    statement=r"""
With the relaxations (3.6) of every hidden layer, $\mathbf z^{(k+1)}$ is affine in $\Delta$ and in
the bounded slacks $\mathbf a^{(i)}$: $\tilde{\mathbf z}^{(k+1)} = (\prod_{j=2}^k \mathbf W^{(j)}
\mathbf D^{(j)}) \mathbf W^{(1)} \mathbf x + \sum_{i=1}^k (\prod_{j=i+1}^{k} \mathbf W^{(j)}
\mathbf D^{(j)}) \mathbf b^{(i)}$, and Hoelder plus the slack box give
$\underline{\mathbf z}^{(k+1)} \le \mathbf z^{(k+1)} \le \bar{\mathbf z}^{(k+1)}$ on
$\mathcal S^{(p)}_\epsilon$.""",
    uses=("thesis3.eq3_4", "thesis3.eq3_5"),
    erratum=Erratum(
        printed=r"\sum_{i=1}^k \Big(\prod_{j=i+1}^{L-1} \mathbf W^{(j)} \mathbf D^{(j)}\Big)"
                r" \mathbf b^{(i)}",
        problem="The bias product in line 5 runs to L - 1: at step k < L - 1 it needs D^(j) of "
                "layers not yet bounded and has the row count of the logits, not of z^(k+1) "
                "(net 2-5-4-3: every term at k = 2 has 3 rows instead of 4).",
        corrected=r"\sum_{i=1}^k \Big(\prod_{j=i+1}^{k} \mathbf W^{(j)} \mathbf D^{(j)}\Big)"
                  r" \mathbf b^{(i)}",
    ),
)


@alg3_1.check(kind="numeric", subject=_linear_bounds, control=taylor_bounds,
              control_label="first-order Taylor bounds (no relaxation slack)", tolerance=1e-10)
@single_thread()
def alg3_1_sound(method: Callable) -> str:
    """``advproof.bounds.linear_bounds`` with elision against 10^4 sampled outputs per point."""
    return _sound_against_samples(method, seed=10)


@alg3_1.check(kind="symbolic", subject=lambda k, L: L - 1, control=lambda k, L: k, refutes=True,
              control_label="the limit k (must not be refuted)")
def alg3_1_printed_limit(limit: Callable[[int, int], int]) -> str:
    """Refutation: every bias term of line 5 must have the rows of ``z^(k+1)`` and use only
    ``D^(2..k)``."""
    bad = bias_product_shapes(limit)
    require(not bad, f"{len(bad)} ill-formed bias terms (k, i, rows): {bad[:3]}")
    return "every bias term conforms to z^(k+1) and uses D^(2..k) only"


alg3_2 = CLAIMS.claim(
    "thesis3.alg3_2",
    title="Alg. 3.2: interval bound propagation (eq. 3.8)",
    sources=("003 Alg. 3.2, eq. (3.8)", "[55] IBP"),
    kind="algorithm",
    statement=r"""
$\underline{\mathbf z}^{(i+1)} = |\mathbf W^{(i)}|_+ \Phi(\underline{\mathbf z}^{(i)}) +
|\mathbf W^{(i)}|_- \Phi(\bar{\mathbf z}^{(i)}) + \mathbf b^{(i)}$ and
$\bar{\mathbf z}^{(i+1)} = |\mathbf W^{(i)}|_- \Phi(\underline{\mathbf z}^{(i)}) +
|\mathbf W^{(i)}|_+ \Phi(\bar{\mathbf z}^{(i)}) + \mathbf b^{(i)}$ bound every layer for a
monotone $\Phi$; with the last layer elided they bound the margins.""",
)


@alg3_2.check(kind="numeric", subject=_ibp, control=ibp_signless,
              control_label="IBP that ignores the signs of W", tolerance=1e-10)
@single_thread()
def alg3_2_sound(method: Callable) -> str:
    """``advproof.bounds.interval_bounds`` with elision against 10^4 sampled outputs per point."""
    return _sound_against_samples(method, seed=20)


@single_thread()
def width_ratio_by_depth(depths: tuple[int, ...] = (1, 2, 4, 6), width: int = 64,
                         nets: int = 3, eps: float = 0.05, seed: int = 0) -> dict[int, float]:
    """Mean linear/IBP margin-width ratio on random He-initialised ReLU MLPs (l_inf, 8 inputs)."""
    out = {}
    for depth in depths:
        ratios = []
        for s in range(nets):
            layers = random_mlp([8] + [width] * depth + [10], seed=seed + 100 * depth + s)
            x = torch.randn(4, 8, dtype=F64, generator=torch.Generator().manual_seed(s))
            spec = bounds.margin_spec(bounds.forward(layers, x).argmax(1), 10)
            lin = bounds.linear_bounds(layers, x, eps, math.inf, spec=spec)
            ibp = bounds.interval_bounds(layers, x, eps, math.inf, spec=spec)
            ratios.append(float((lin.upper - lin.lower).sum() / (ibp.upper - ibp.lower).sum()))
        out[depth] = float(np.mean(ratios))
    return out


# ---------------------------------------------------------------------------------------------
# (3.9)-(3.11): non-uniform budgets for a linear classifier

_W3 = sp.symbols("w1:4", positive=True)
_m = sp.Symbol("m", positive=True)


def nonuniform_printed(p: str) -> list[sp.Expr]:
    """The maximiser of ``sum log eps_i`` for a linear classifier: ``eps_i ~ 1 / |w_i|``
    (l_inf: ``m / (M |w_i|)``; l_2: ``m / (sqrt(M) |w_i|)``)."""
    M = len(_W3)
    scale = M if p == "inf" else sp.sqrt(M)
    return [_m / (scale * w) for w in _W3]


def nonuniform_uniform(p: str) -> list[sp.Expr]:
    """Negative control: the uniform budget on the same constraint, ``m / ||w||_q``."""
    norm = sum(_W3) if p == "inf" else sp.sqrt(sum(w ** 2 for w in _W3))
    return [_m / norm for _ in _W3]


eq3_9 = CLAIMS.claim(
    "thesis3.eq3_9",
    title="Non-uniform budgets (3.9)-(3.11) for a linear classifier: eps_i ~ 1/|w_i|",
    sources=("003 eqs. (3.9)-(3.11), Sec. 3.2.1", "[95] (ICML 2019)"),
    kind="proposition",
    statement=r"""
For a linear margin $\mathbf w^T\mathbf x + b$ with value $m > 0$ at $\mathbf x$, the
largest-volume certified box (3.9), $\max \sum_i \log \epsilon_i$ s.t.
$\sum_i |w_i| \epsilon_i \le m$ ($\ell_\infty$) or $\sqrt{\sum_i w_i^2 \epsilon_i^2} \le m$
($\ell_2$), is $\epsilon_i \propto 1/|w_i|$: the same direction for every input (the thesis's
"collinear" $\vec\epsilon$), with volume gain $\epsilon_{avg}/\epsilon_{unif}$ = AM/GM of
$|w_i|$ ($\ell_\infty$).""",
)


def _kkt(solution: Callable[[str], list[sp.Expr]], p: str) -> str:
    """KKT for one norm: the constraint is active and ``grad sum log eps`` is parallel to the
    constraint's gradient (``1/eps_i = lambda |w_i|`` or ``lambda w_i^2 eps_i``)."""
    e = solution(p)
    g = [w * ei for w, ei in zip(_W3, e, strict=True)]
    active = sum(g) - _m if p == "inf" else sum(x ** 2 for x in g) - _m ** 2
    sym_equal(active, 0, f"l_{p} constraint active")
    grads = [w if p == "inf" else w ** 2 * ei for w, ei in zip(_W3, e, strict=True)]
    lam = (1 / e[0]) / grads[0]
    for ei, gi in zip(e[1:], grads[1:], strict=True):
        sym_equal((1 / ei) / gi, lam, f"l_{p} stationarity")
    return f"l_{p}: constraint active, 1/eps_i parallel to the constraint gradient"


def _volume_gain(solution: Callable[[str], list[sp.Expr]]) -> str:
    """``(eps_avg / eps_unif)^M = (AM / GM)^M`` of ``|w_i|`` for the l_inf solution."""
    gain = sp.simplify(sp.prod(solution("inf")) / sp.prod(nonuniform_uniform("inf")))
    amgm = (sum(_W3) / 3) ** 3 / sp.prod(_W3)
    return sym_equal(gain, amgm, "volume ratio (eps_avg / eps_unif)^M = (AM/GM)^M")


@eq3_9.step(1, "l_inf: KKT of the concave problem gives 1/eps_i = lambda |w_i|, constraint active",
            subject=nonuniform_printed, control=nonuniform_uniform,
            control_label="the uniform budget m / ||w||_1")
def eq3_9_step1_kkt_linf(solution: Callable[[str], list[sp.Expr]]) -> str:
    """Sympy, three symbolic positive weights."""
    return _kkt(solution, "inf")


@eq3_9.step(2, "l_2: KKT gives 1/eps_i = lambda w_i^2 eps_i, i.e. eps_i ~ 1/|w_i| again",
            subject=nonuniform_printed, control=nonuniform_uniform,
            control_label="the uniform budget m / ||w||_2")
def eq3_9_step2_kkt_l2(solution: Callable[[str], list[sp.Expr]]) -> str:
    """Sympy, three symbolic positive weights."""
    return _kkt(solution, "2")


@eq3_9.step(3, "Volume gain over the uniform box: (eps_avg / eps_unif)^M = (AM / GM)^M of |w_i|",
            subject=nonuniform_printed, control=nonuniform_uniform,
            control_label="the uniform budget (gain 1)")
def eq3_9_step3_volume_gain(solution: Callable[[str], list[sp.Expr]]) -> str:
    """Sympy: the product of the budgets over the uniform one's, l_inf."""
    return _volume_gain(solution)


@eq3_9.check(kind="symbolic", subject=nonuniform_printed, control=nonuniform_uniform,
             control_label="the uniform budget m / ||w||_q")
def eq3_9_kkt(solution: Callable[[str], list[sp.Expr]]) -> str:
    """KKT of the concave problem: the constraint is active and ``grad sum log eps`` is
    parallel to the constraint's gradient (``1/eps_i = lambda |w_i|`` or ``lambda w_i^2 eps_i``)."""
    for p in ("inf", "2"):
        _kkt(solution, p)
    _volume_gain(solution)
    return "KKT holds for l_inf and l_2; eps_avg / eps_unif = AM(|w|) / GM(|w|)"


@functools.cache
def _alg3_3_run() -> tuple[torch.Tensor, torch.Tensor]:
    """Alg. 3.3 (l_inf, 30 steps) on the first 3 points of the 2-6-6-3 test net: (uniform eps
    (3,), non-uniform eps (3, 2))."""
    layers, x, y = _toy_net()
    with single_thread():
        u = bounds.uniform_radius(layers, x[:3], y[:3], math.inf, iters=30)
        nu = bounds.nonuniform_radii(layers, x[:3], y[:3], math.inf, steps=30)
    return u, nu


alg3_3 = CLAIMS.claim(
    "thesis3.alg3_3",
    title="Alg. 3.3: non-uniform certified boxes by an augmented Lagrangian",
    sources=("003 Alg. 3.3, eqs. (3.9)-(3.11), Fig. 3.3", "[95] (ICML 2019)"),
    kind="algorithm",
    statement=r"""
Alg. 3.3 maximises $\sum_i \log\epsilon_i$ subject to the linear margin lower bounds over the
box $\{\vec\epsilon \odot \mathbf v : \|\mathbf v\|_\infty \le 1\}$ staying non-negative; its
output box contains no adversarial example.""",
    uses=("thesis3.alg3_1", "thesis3.eq3_9"),
)


@alg3_3.check(kind="numeric", subject=1.0, control=1.5,
              control_label="the boxes enlarged 1.5 times", tolerance=0.0)
@single_thread()
def alg3_3_boxes_are_clean(scale: float) -> str:
    """10^4 uniform samples in each (scaled) box of Alg. 3.3 keep the label; the volume is at
    least the uniform box's (warm start, best feasible iterate)."""
    layers, x, y = _toy_net()
    u, nu = _alg3_3_run()
    v = torch.rand(10_000, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 2 - 1
    bad = sum(int((bounds.forward(layers, x[i] + scale * nu[i] * v).argmax(1) != y[i]).sum())
              for i in range(3))
    require(bad == 0, f"{bad} misclassified samples inside the boxes")
    ratio = torch.exp(torch.log(nu).mean(1)) / u
    require(bool((ratio >= 1 - 1e-12).all()), f"volume below uniform: {ratio.tolist()}")
    return (f"30000 samples, none misclassified; eps_avg / eps_unif = "
            f"{', '.join(f'{r:.3f}' for r in ratio.tolist())}")


# ---------------------------------------------------------------------------------------------
# (3.12) and Lemma 3.1: the polyhedral envelope and the distance to its hyperplanes


def lp_distance(a: np.ndarray, b: float, lo: np.ndarray | None, hi: np.ndarray | None,
                p: float) -> float:
    """``min ||delta||_p`` (p in {1, inf}) s.t. ``a delta + b <= 0`` (and the box), by HiGHS."""
    m = len(a)
    box = list(zip(lo, hi, strict=True)) if lo is not None else [(None, None)] * m
    if p == math.inf:
        cost = np.r_[np.zeros(m), 1.0]
        A = np.vstack([np.c_[np.eye(m), -np.ones(m)], np.c_[-np.eye(m), -np.ones(m)],
                       np.r_[a, 0.0][None]])
        bnds = box + [(0, None)]
    else:
        cost = np.r_[np.zeros(m), np.ones(m)]
        A = np.vstack([np.c_[np.eye(m), -np.eye(m)], np.c_[-np.eye(m), -np.eye(m)],
                       np.r_[a, np.zeros(m)][None]])
        bnds = box + [(0, None)] * m
    res = linprog(cost, A_ub=A, b_ub=np.r_[np.zeros(2 * m), -b], bounds=bnds, method="highs")
    return float(res.fun) if res.status == 0 else math.inf


def distance_primal_norm(U: torch.Tensor, c: torch.Tensor, x: torch.Tensor, p: float
                         ) -> torch.Tensor:
    """Negative control for Lemma 3.1: the primal norm ``||U_i||_p`` in the denominator."""
    value = (U @ x[..., None]).squeeze(-1) + c
    return (value / torch.linalg.vector_norm(U, ord=p, dim=-1)).clamp_min(0)


lemma3_1 = CLAIMS.claim(
    "thesis3.lemma3_1",
    title="Lemma 3.1: no adversarial example within min(eps, d_y) (the PEC radius)",
    sources=("003 Lemma 3.1, eqs. (3.12)-(3.13)", "[94] (TNNLS 2021)"),
    kind="lemma",
    statement=r"""
With $\mathbf z_y - \mathbf z_i \ge \mathbf U_i \mathbf x' + \mathbf p_i$ on
$\mathcal S^{(p)}_\epsilon(\mathbf x)$ (3.12), $d_{iy} = \max\{0, \frac{\mathbf U_i\mathbf x +
\mathbf p_i}{\|\mathbf U_i\|_q}\}$ is the $\ell_p$ distance from $\mathbf x$ to the $i$-th
hyperplane, and no adversarial example lies in the open $\ell_p$ ball of radius
$\min\{\epsilon, d_y\}$, $d_y = \min_{i \ne y} d_{iy}$.""",
    uses=("thesis3.alg3_1",),
)


@lemma3_1.step(1, "Hoelder: the distance to a half-space is max(0, value) / ||U_i||_q",
               numeric=True, subject=bounds.hyperplane_distance, control=distance_primal_norm,
               control_label="primal norm ||U_i||_p", tolerance=1e-9)
@single_thread()
def lemma3_1_step1_hoelder(distance: Callable) -> str:
    """Against the LP ``min ||delta||_p s.t. U_i (x + delta) + p_i <= 0`` (p in {1, inf}) on 15
    random half-spaces."""
    rng = np.random.default_rng(5)
    pairs = []
    for _ in range(15):
        m = int(rng.integers(2, 12))
        U, x = rng.normal(size=(1, 1, m)), rng.normal(size=(1, m))
        c = np.array([[abs(rng.normal()) + 0.1 - float(U[0, 0] @ x[0])]])
        for p in (1.0, math.inf):
            got = distance(torch.tensor(U), torch.tensor(c), torch.tensor(x), p)
            pairs.append((float(got[0, 0]), lp_distance(U[0, 0], float(U[0, 0] @ x[0] + c[0, 0]),
                                                        None, None, p)))
    return worst_close(pairs, rtol=1e-9, what="Lemma 3.1 distance vs LP")


def _toy_net() -> tuple[list, torch.Tensor, torch.Tensor]:
    """A 2-6-6-3 ReLU net, 6 inputs in [-1, 1]^2 and their predicted labels."""
    layers = random_mlp([2, 6, 6, 3], seed=6)
    x = torch.rand(6, 2, generator=torch.Generator().manual_seed(3), dtype=F64) * 2 - 1
    return layers, x, bounds.forward(layers, x).argmax(1)


@functools.cache
def _toy() -> tuple[list, torch.Tensor, torch.Tensor, tuple[float, ...]]:
    """The 2-6-6-3 test net with its 6 inputs, labels and exact l_inf distances (MILP)."""
    layers, x, y = _toy_net()
    exact = tuple(bounds.minimal_linf_distance(layers, x[i], int(y[i]), cap=1.0)
                  for i in range(len(x)))
    return layers, x, y, exact


def pec_radius_without_eps(layers, x, y, eps, p) -> torch.Tensor:
    """Negative control: ``d_y`` alone, without the ``min`` with eps (the envelope is trusted
    outside the ball it was built for)."""
    U, c = bounds.envelope(layers, x, y, eps, p)
    d = bounds.hyperplane_distance(U, c, x, p)
    return d.masked_fill(torch.nn.functional.one_hot(y, U.shape[1]).bool(), math.inf).min(1).values


def envelope_small_ball(layers, x, y, eps, p) -> tuple[torch.Tensor, torch.Tensor]:
    """Negative control: the envelope built for the ball of radius ``eps / 4``, used on the ball
    of radius ``eps``."""
    return bounds.envelope(layers, x, y, eps / 4, p)


@lemma3_1.step(2, "(3.12): on the eps-ball every margin z_y - z_i is at least U_i x' + p_i, so it "
               "stays positive within d_iy", numeric=True,
               subject=lambda L, x, y, e, p: bounds.envelope(L, x, y, e, p),
               control=envelope_small_ball, tolerance=1e-10,
               control_label="the envelope of the eps/4-ball used on the eps-ball")
@single_thread()
def lemma3_1_step2_envelope_sound(envelope: Callable) -> str:
    """2000 samples of each l_inf ball (eps 0.1, 0.4) around the 6 test points of the 2-6-6-3
    net: ``z_y - z_i - (U_i x' + p_i) >= 0``."""
    layers, x, y = _toy_net()
    gen = torch.Generator().manual_seed(7)
    worst = -math.inf
    for e in (0.1, 0.4):
        U, c = envelope(layers, x, y, e, math.inf)
        for i in range(len(x)):
            pts = x[i] + ball_samples(2000, 2, e, math.inf, gen)
            z = bounds.forward(layers, pts)
            margin = z[:, y[i]:y[i] + 1] - z
            worst = max(worst, float((pts @ U[i].T + c[i] - margin).max()))
    require(worst <= 1e-10, f"a margin falls below its envelope by {fmt(worst)}")
    return f"2 x 6 x 2004 samples, max (envelope - margin) = {fmt(worst)} (tol 1e-10)"


@lemma3_1.check(kind="numeric", subject=lambda L, x, y, e, p: bounds.pec_radius(L, x, y, e, p),
                control=pec_radius_without_eps, control_label="d_y without the min with eps",
                tolerance=1e-9)
@single_thread()
def lemma3_1_below_exact(radius: Callable) -> str:
    """The radius never exceeds the exact minimal l_inf adversarial distance (MILP), 6 points x
    6 budgets on a 2-6-6-3 ReLU net."""
    layers, x, y, exact = _toy()
    worst, count = -math.inf, 0
    for e in (0.01, 0.03, 0.1, 0.2, 0.4, 0.8):
        r = radius(layers, x, y, e, math.inf)
        for i in range(len(x)):
            worst = max(worst, float(r[i]) - exact[i])
            count += 1
    require(worst <= 1e-9, f"radius exceeds the exact distance by {fmt(worst)}")
    return f"{count} radii, max (radius - exact) = {fmt(worst)} (tol 1e-9)"


# ---------------------------------------------------------------------------------------------
# (3.15), Alg. 3.4 and Theorem 3.1

_b = sp.Symbol("b", positive=True)


def delta_hat_printed(a: list[sp.Expr], p: sp.Expr) -> list[sp.Expr]:
    """(3.15): ``-b / ||a||_q^q sign(a_j) |a_j|^{q/p}`` (a_j > 0 here)."""
    q = p / (p - 1)
    return [-_b / sum(x ** q for x in a) * x ** (q / p) for x in a]


def delta_hat_wrong(a: list[sp.Expr], p: sp.Expr) -> list[sp.Expr]:
    """Negative control: exponent ``p/q`` instead of ``q/p``."""
    q = p / (p - 1)
    return [-_b / sum(x ** q for x in a) * x ** (p / q) for x in a]


eq3_15 = CLAIMS.claim(
    "thesis3.eq3_15",
    title="(3.15): the closest point of a half-space in l_p",
    sources=("003 eq. (3.15)", "[94] (TNNLS 2021)"),
    kind="proposition",
    statement=r"""
$\widehat\Delta_j = -\frac{b}{\|\mathbf a\|_q^q}\,\mathrm{sign}(a_j)\,|a_j|^{q/p}$ satisfies
$\mathbf a \widehat\Delta + b = 0$ and $\|\widehat\Delta\|_p = b / \|\mathbf a\|_q$, the Hoelder
lower bound on $\|\Delta\|_p$ over $\mathbf a\Delta + b \le 0$ (the subscript of $\mathbf a$ is a
coordinate).""",
)

_A3 = sp.symbols("a1:4", positive=True)


_P3 = (sp.Rational(3, 2), sp.Integer(2), sp.Integer(3))


def _on_hyperplane(minimiser: Callable, p: sp.Expr) -> str:
    """``a delta_hat + b = 0``: uses ``a_j |a_j|^{q/p} = |a_j|^q``."""
    dh = minimiser(list(_A3), p)
    return sym_equal(sp.powsimp(sum(a * x for a, x in zip(_A3, dh, strict=True)) + _b,
                                force=True), 0, f"p = {p}: a delta + b")


def _attains_hoelder(minimiser: Callable, p: sp.Expr) -> str:
    """``||delta_hat||_p^p = (b / ||a||_q)^p``: uses ``(|a_j|^{q/p})^p = |a_j|^q``."""
    q = p / (p - 1)
    dh = minimiser(list(_A3), p)
    norm_q = sum(a ** q for a in _A3) ** (1 / q)
    return sym_equal(sp.powsimp(sum((-x) ** p for x in dh), force=True), (_b / norm_q) ** p,
                     f"p = {p}: ||delta||_p^p")


@eq3_15.step(1, "Feasibility: a Delta_hat + b = 0 since a_j |a_j|^{q/p} = |a_j|^q",
             subject=delta_hat_printed, control=delta_hat_wrong, control_label="exponent p/q")
def eq3_15_step1_on_hyperplane(minimiser: Callable) -> str:
    """Sympy, p in {3/2, 2, 3}, three symbolic positive coordinates."""
    for p in _P3:
        _on_hyperplane(minimiser, p)
    return "a Delta_hat + b = 0 for p = 3/2, 2, 3"


@eq3_15.step(2, "Optimality: ||Delta_hat||_p = b / ||a||_q, the Hoelder lower bound "
             "b <= |a Delta| <= ||a||_q ||Delta||_p", subject=delta_hat_printed,
             control=delta_hat_wrong, control_label="exponent p/q")
def eq3_15_step2_hoelder_equality(minimiser: Callable) -> str:
    """Sympy, p in {3/2, 2, 3}, three symbolic positive coordinates."""
    for p in _P3:
        _attains_hoelder(minimiser, p)
    return "||Delta_hat||_p = b / ||a||_q for p = 3/2, 2, 3"


@eq3_15.check(kind="symbolic", subject=delta_hat_printed, control=delta_hat_wrong,
              control_label="exponent p/q")
def eq3_15_attains_hoelder(minimiser: Callable) -> str:
    """Sympy, p in {3/2, 2, 3}, three symbolic positive coordinates: on the hyperplane, and
    ``||delta||_p^p = (b / ||a||_q)^p``."""
    for p in _P3:
        _on_hyperplane(minimiser, p)
        _attains_hoelder(minimiser, p)
    return "on the hyperplane with ||delta||_p = b / ||a||_q for p = 3/2, 2, 3"


def bisection_distance_l2(a: np.ndarray, b: float, lo: np.ndarray, hi: np.ndarray) -> float:
    """p = 2 reference: bisection on lambda in (3.19), ``delta = clip(-lambda a, lo, hi)``."""
    def slack(lam: float) -> float:
        return float(a @ np.clip(-lam * a, lo, hi) + b)
    if b <= 0:
        return 0.0
    if slack(1e12) > 0:
        return math.inf
    lam = brentq(slack, 0.0, 1e12, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(np.linalg.norm(np.clip(-lam * a, lo, hi)))


def box_instances(n: int, seed: int):
    """Random (a, b, lo, hi) with x in [0, 1]^M (M in 2..29) and the box [0, 1]^M."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        m = int(rng.integers(2, 30))
        x0 = rng.uniform(0, 1, m)
        yield rng.normal(size=m), float(abs(rng.normal()) * rng.uniform(0.2, 3)), -x0, 1 - x0


def box_distance_unboxed(a, b, lo, hi, p, **kw) -> tuple[float, int]:
    """Negative control: (3.15) once, ignoring the box (Lemma 3.1's distance)."""
    return float(max(b, 0.0) / np.linalg.norm(a, ord=bounds.dual_exponent(p))), 1


thm3_1 = CLAIMS.claim(
    "thesis3.thm3_1",
    title="Theorem 3.1: the greedy Alg. 3.4 solves the box-constrained problem (3.14)",
    sources=("003 Theorem 3.1, Alg. 3.4, eqs. (3.14)-(3.19)", "[94] (TNNLS 2021)"),
    kind="theorem",
    statement=r"""
If Alg. 3.4 ends with $\Delta^{(min)} \le \widehat\Delta \le \Delta^{(max)}$, then
$\|\widehat\Delta\|_p$ is the optimum of $\min \|\Delta\|_p$ s.t. $\mathbf a\Delta + b \le 0$,
$\Delta^{(min)} \le \Delta \le \Delta^{(max)}$. (The proof assumes Slater's condition; when the
half-space misses the box the problem is infeasible and the distance is $+\infty$.)""",
    uses=("thesis3.eq3_15",),
)


def _reference_distance(a, b, lo, hi, p) -> float:
    """The optimum of (3.14) by an independent method: linprog (p = 1, inf), lambda-bisection
    (p = 2)."""
    return bisection_distance_l2(a, b, lo, hi) if p == 2.0 else lp_distance(a, b, lo, hi, p)


def box_distance_unboxed_primal(a, b, lo, hi, p, **kw) -> tuple[float, int]:
    """Negative control: ``b / ||a||_p`` (the primal norm) as the unboxed distance."""
    return float(max(b, 0.0) / np.linalg.norm(a, ord=p)), 1


@thm3_1.step(1, "Dropping the box gives the relaxation (3.15): b / ||a||_q lower-bounds (3.14)",
             numeric=True, subject=box_distance_unboxed, control=box_distance_unboxed_primal,
             tolerance=1e-9, control_label="b / ||a||_p (primal norm)")
@single_thread()
def thm3_1_step1_relaxation_bound(unboxed: Callable) -> str:
    """20 feasible random instances per p in {1, 2, inf}: unboxed value <= the reference optimum."""
    worst, n = -math.inf, 0
    for p, seed in ((1.0, 21), (math.inf, 22), (2.0, 23)):
        for a, b, lo, hi in box_instances(20, seed):
            ref = _reference_distance(a, b, lo, hi, p)
            if math.isinf(ref):
                continue
            worst = max(worst, (unboxed(a, b, lo, hi, p)[0] - ref) / ref)
            n += 1
    require(worst <= 1e-9, f"the relaxation exceeds the optimum by {fmt(worst)} (relative)")
    return (f"relaxation <= optimum on all {n} feasible instances (largest relative excess "
            f"{fmt(max(worst, 0.0))})")


@thm3_1.step(2, "Each round fixes the clipped coordinates at their faces (they stay there at the "
             "optimum): the rounds increase to the optimum", numeric=True,
             subject=bounds.box_distance, control=box_distance_unboxed, tolerance=1e-9,
             control_label="(3.15) once, ignoring the box")
@single_thread()
def thm3_1_step2_rounds_increase(solver: Callable) -> str:
    """20 random instances per p in {1, 2, inf}: the value after k = 1, 2, ... rounds does not
    decrease and the last equals the reference optimum."""
    pairs, rounds = [], 0
    for p, seed in ((1.0, 21), (math.inf, 22), (2.0, 23)):
        for a, b, lo, hi in box_instances(20, seed):
            ref = _reference_distance(a, b, lo, hi, p)
            if math.isinf(ref):
                continue
            value, it = solver(a, b, lo, hi, p)
            seq = [solver(a, b, lo, hi, p, max_iter=k)[0] for k in range(1, it)] + [value]
            require(all(s <= t * (1 + 1e-12) for s, t in zip(seq, seq[1:], strict=False)),
                    f"rounds decrease: {[fmt(v) for v in seq]}")
            pairs.append((value, ref))
            rounds = max(rounds, it)
    out = worst_close(pairs, rtol=1e-9, what="last round vs optimum")
    return f"{out}; rounds non-decreasing (up to {rounds} rounds)"


@thm3_1.check(kind="numeric", subject=bounds.box_distance, control=box_distance_unboxed,
              control_label="(3.15) ignoring the box", tolerance=1e-9)
@single_thread()
def thm3_1_against_references(solver: Callable) -> str:
    """60 instances per p: linprog (p = 1, inf), a lambda-bisection (p = 2); infeasible ones
    must give inf on both sides."""
    pairs, infeasible, iters = [], 0, []
    for p, seed in ((1.0, 1), (math.inf, 2), (2.0, 3)):
        for a, b, lo, hi in box_instances(60, seed):
            got, it = solver(a, b, lo, hi, p)
            ref = _reference_distance(a, b, lo, hi, p)
            if math.isinf(ref) or math.isinf(got):
                require(math.isinf(ref) and math.isinf(got), f"feasibility differs: {got}, {ref}")
                infeasible += 1
            else:
                pairs.append((got, ref))
                iters.append(it)
    out = worst_close(pairs, rtol=1e-9, what="Alg. 3.4 vs LP / bisection")
    return (f"{out}; {infeasible}/180 infeasible (inf on both sides); iterations median "
            f"{int(np.median(iters))}, max {max(iters)}")


def early_stop_side(side: str) -> str:
    """Where Alg. 3.4 stopped after one round lies relative to the optimum, on 300 instances
    that need more than one round (p = 1, 2, inf)."""
    wrong = 0
    n = 0
    for p in (1.0, 2.0, math.inf):
        for a, b, lo, hi in box_instances(100, 11):
            exact, it = bounds.box_distance(a, b, lo, hi, p)
            if math.isinf(exact) or it < 2:
                continue
            early, _ = bounds.box_distance(a, b, lo, hi, p, max_iter=1)
            n += 1
            ok = early >= exact - 1e-12 if side == "upper" else early <= exact + 1e-12
            wrong += not ok
    require(wrong == 0, f"early-stopped output is not an {side} bound on {wrong}/{n} instances")
    return f"{'an' if side == 'upper' else 'a'} {side} bound on all {n} truncated instances"


alg3_4 = CLAIMS.claim(
    "thesis3.alg3_4",
    title="Alg. 3.4 stopped early: a lower bound on the distance (still a sound certificate)",
    sources=("003 Alg. 3.4 and the text after Theorem 3.1", "[94] (TNNLS 2021)"),
    kind="remark",
    statement=r"""
If the loop of Alg. 3.4 stops at $I^{(max)}$ with coordinates still outside the box, the output
bounds the optimum of (3.14) from one side, and the certificate stays sound.""",
    uses=("thesis3.thm3_1",),
    erratum=Erratum(
        printed=r"\text{early stop: } \|\widehat\Delta\|_p \ge d_{iy} \text{ (an upper bound)}",
        problem="The truncated iterate solves the relaxation in which the free coordinates are "
                "unboxed, so its norm is at most the optimum: a LOWER bound (one round on 300 "
                "random instances: below the optimum on every one, strictly on most). A smaller "
                "distance is a smaller, conservative radius, so the certificate is still sound.",
        corrected=r"\frac{b}{\|\mathbf a\|_q} \le \|\widehat\Delta^{(k)}\|_p \le d_{iy}",
    ),
)


@alg3_4.check(kind="numeric", subject="upper", control="lower", refutes=True,
              control_label="'a lower bound' (must not be refuted)", tolerance=1e-12)
@single_thread()
def alg3_4_early_stop(side: str) -> str:
    """Refutation: is the output after one round an upper bound on the optimum?"""
    return early_stop_side(side)


@alg3_4.check(kind="numeric", subject="lower", control="upper",
              control_label="'an upper bound' (the printed direction)", tolerance=1e-12,
              name="alg3_4_early_stop_lower")
@single_thread()
def alg3_4_early_stop_lower(side: str) -> str:
    """Corrected: the output after one round is a lower bound on the optimum (so the radius it
    certifies is smaller: sound)."""
    return early_stop_side(side)


# ---------------------------------------------------------------------------------------------
# Sec. 3.3.2: the two-phase behaviour and Alg. 3.5

EPS_GRID = tuple(float(e) for e in np.linspace(0.01, 0.8, 40))


@single_thread()
def dy_curves(layers, x, y, eps_grid=EPS_GRID) -> np.ndarray:
    """``d_y(eps)`` (N, len(eps_grid)) for the l_inf envelope (no min with eps)."""
    return np.stack([pec_radius_without_eps(layers, x, y, e, math.inf).numpy()
                     for e in eps_grid], 1)


def non_monotone_share(curves: np.ndarray, rtol: float = 1e-9) -> tuple[float, float]:
    """Share of points whose finite ``d_y(eps)`` increases somewhere on the grid, and the
    largest increase relative to the curve's maximum."""
    hits, worst = 0, 0.0
    for c in curves:
        c = c[np.isfinite(c) & (c > 0)]
        if len(c) < 2:
            continue
        rise = np.diff(c)
        top = rise.max() / c.max()
        hits += top > rtol
        worst = max(worst, float(top))
    return hits / len(curves), worst


def decreasing(eps_grid, curve: np.ndarray, exact: float) -> bool:
    """The printed statement: ``d_y(eps)`` does not increase with eps."""
    c = curve[np.isfinite(curve)]
    return bool((np.diff(c) <= 1e-9 * max(c.max(initial=0.0), 1.0)).all())


def radius_sound(eps_grid, curve: np.ndarray, exact: float) -> bool:
    """The corrected statement: every ``min(eps, d_y(eps))`` is below the exact distance."""
    return bool((np.minimum(np.array(eps_grid), curve) <= exact + 1e-9).all())


fig3_6 = CLAIMS.claim(
    "thesis3.fig3_6",
    title="Two-phase behaviour of PEC: d_y(eps) is NOT always decreasing",
    sources=("003 Sec. 3.3.2, Figs. 3.6-3.7", "[94] (TNNLS 2021)"),
    kind="remark",
    statement=r"""
"$d_{iy}$ decreases monotonically with $\epsilon$", so the certified radius
$\min(\epsilon, d_y(\epsilon))$ first grows like $\epsilon$ and then falls like $d_y$.""",
    uses=("thesis3.lemma3_1",),
    erratum=Erratum(
        printed=r"\epsilon \mapsto d_y(\epsilon) \text{ is non-increasing}",
        problem="Widening the budget changes the relaxation slopes, so the hyperplanes move "
                "non-monotonically: on the 2-6-6-3 test net, d_y(eps) increases somewhere on a "
                "40-point grid for some of the 6 points (measured share in the check). Every "
                "radius min(eps, d_y(eps)) is still sound; only the peak search of Alg. 3.5 may "
                "miss the best budget.",
        corrected=r"\min(\epsilon, d_y(\epsilon)) \le d^\star \ \forall \epsilon"
                  r"\text{ (sound), no monotonicity}",
    ),
)


@fig3_6.check(kind="numeric", subject=decreasing, control=radius_sound, refutes=True,
              control_label="soundness min(eps, d_y) <= exact (must not be refuted)",
              tolerance=1e-9)
@single_thread()
def fig3_6_monotone(statement: Callable) -> str:
    """Refutation: the statement on every ``d_y(eps)`` curve of the 6 test points (40 budgets)."""
    layers, x, y, exact = _toy()
    curves = dy_curves(layers, x, y)
    bad = [i for i in range(len(x)) if not statement(EPS_GRID, curves[i], exact[i])]
    require(not bad, f"fails on {len(bad)}/{len(x)} points (e.g. point {bad[:1]})")
    return f"holds on all {len(x)} points"


@fig3_6.check(kind="numeric", subject=radius_sound, control=decreasing,
              control_label="the printed monotonicity", tolerance=1e-9,
              name="fig3_6_sound_not_monotone")
@single_thread()
def fig3_6_sound_not_monotone(statement: Callable) -> str:
    """Corrected: every ``min(eps, d_y(eps))`` is below the exact MILP distance (no
    monotonicity assumed); the share of non-monotone curves is reported."""
    layers, x, y, exact = _toy()
    curves = dy_curves(layers, x, y)
    bad = [i for i in range(len(x)) if not statement(EPS_GRID, curves[i], exact[i])]
    require(not bad, f"fails on {len(bad)}/{len(x)} points (e.g. point {bad[:1]})")
    share, rise = non_monotone_share(curves)
    return (f"sound on all {len(x)} points x {len(EPS_GRID)} budgets; d_y rises on a share "
            f"{fmt(share)} of the points (largest rise {fmt(rise)} of the curve's maximum)")


@single_thread()
def fastlin_curves(layers, x, y, eps_grid=EPS_GRID) -> np.ndarray:
    """One-shot Fast-Lin radius (eps if certified at eps, else 0), (N, len(eps_grid))."""
    spec = bounds.margin_spec(y, layers[-1][0].shape[0])
    mask = torch.nn.functional.one_hot(y, spec.shape[1]).bool()
    out = []
    for e in eps_grid:
        low = bounds.linear_bounds(layers, x, e, math.inf, spec=spec).lower
        out.append(np.where((low.masked_fill(mask, math.inf) > 0).all(1).numpy(), e, 0.0))
    return np.stack(out, 1)


def fastlin_certify(layers, x, y) -> Callable[[float], float]:
    """One-shot Fast-Lin: ``eps`` if every margin lower bound is positive at eps, else 0."""
    spec = bounds.margin_spec(y, layers[-1][0].shape[0])
    mask = torch.nn.functional.one_hot(y, spec.shape[1]).bool()

    def certify(e: float) -> float:
        low = bounds.linear_bounds(layers, x, e, math.inf, spec=spec).lower
        return e if bool((low.masked_fill(mask, math.inf) > 0).all()) else 0.0
    return certify


def pec_certify(layers, x, y) -> Callable[[float], float]:
    """PEC: ``min(eps, d_y(eps))`` (Lemma 3.1)."""
    return lambda e: float(bounds.pec_radius(layers, x, y, e, math.inf)[0])


@single_thread()
def alg3_5_calls(make_certifier: Callable, tol: float = 1e-4) -> tuple[list[int], list[float]]:
    """Calls and certified radii of Alg. 3.5 on [0, 1] for the 6 test points."""
    layers, x, y, _ = _toy()
    calls, radii = [], []
    for i in range(len(x)):
        r, _, n = bounds.search_radius(make_certifier(layers, x[i:i + 1], y[i:i + 1]), 1.0, tol)
        calls.append(n)
        radii.append(r)
    return calls, radii


alg3_5 = CLAIMS.claim(
    "thesis3.alg3_5",
    title="Alg. 3.5: the PEC-accelerated budget search needs fewer bound computations",
    sources=("003 Alg. 3.5, Table 3.9", "[94] (TNNLS 2021)"),
    kind="algorithm",
    statement=r"""
Bisection on $\epsilon$ that moves $\epsilon_{low}$ to each certified radius
$\epsilon_{cert} = \min(\epsilon_{try}, d_y(\epsilon_{try}))$ needs fewer than the
$\lceil\log_2\frac{\bar\epsilon - \underline\epsilon}{\epsilon_\Delta}\rceil$ bound computations of
plain bisection, and returns a radius at least as large as one-shot Fast-Lin's.""",
    uses=("thesis3.lemma3_1",),
)


@alg3_5.check(kind="numeric", subject=pec_certify, control=fastlin_certify,
              control_label="one-shot Fast-Lin (plain bisection)", tolerance=1e-4)
@single_thread()
def alg3_5_fewer_calls(make_certifier: Callable) -> str:
    """Mean calls < ceil(log2(1 / 1e-4)) = 14 on the 6 test points, radii >= Fast-Lin's - tol,
    and <= the exact distance."""
    calls, radii = alg3_5_calls(make_certifier)
    _, fl = alg3_5_calls(fastlin_certify)
    exact = _toy()[3]
    plain = math.ceil(math.log2(1.0 / 1e-4))
    require(all(r >= f - 1e-4 for r, f in zip(radii, fl, strict=True)), "below Fast-Lin")
    require(all(r <= e + 1e-9 for r, e in zip(radii, exact, strict=True)), "above exact")
    mean = float(np.mean(calls))
    require(mean < plain, f"mean calls {fmt(mean)} not below plain bisection's {plain}")
    return f"mean calls {fmt(mean)} vs {plain} (ratio {fmt(mean / plain)}); radii sound"


# ---------------------------------------------------------------------------------------------
# "Neither dominates" (Sec. 3.1.2): a toy trained with and without IBP (notebook experiment)


#: The trainings of the toy: clean CE, the provable baselines IBP and KW, PER and PER+at.
TOY_KINDS: tuple[str, ...] = ("ce", "ibp", "kw", "per", "per_at")


@single_thread()
def train_toy(kind: str, eps: float, *, n: int = 300, width: int = 16, steps: int = 300,
              seed: int = 0, per_beta: float = 1.0
              ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, torch.Tensor]:
    """A 2-width-width-3 ReLU MLP trained by Adam (lr 1e-2, full batch) on 3 Gaussian blobs.

    ``kind="ce"``: clean cross-entropy. ``kind="ibp"``: half clean CE, half the worst-case CE of
    (3.1) on IBP's elided margin bounds, ``CE(-lower(z_y - z_i), y)``, with eps ramped linearly
    over the first half of the steps (the IBP-trained model of Table 3.6 in miniature).
    ``kind="kw"``: the same with the linear (Fast-Lin) margin bounds, which for ReLU nets are
    KW's [157] (the thesis's "CRE Lin" of KW / Fast-Lin / PEC): a KW-style worst-case CE.
    ``kind="per"``: CE + PER (3.20) with ``alpha = 1.5 eps``, ``beta = per_beta``, ``C = 2``,
    on after a warm-up of a third of the steps; ``"per_at"``: half clean, half PGD-10 CE plus PER
    measured from the PGD points (Alg. 3.6 with ``B' = B``).
    Returns ``(layers, X, y)`` (float64).
    """
    if kind not in TOY_KINDS:
        raise ValueError(f"kind must be one of {TOY_KINDS}, got {kind!r}")
    X, y = data.make_blobs(n, d=2, k=3, seed=seed)
    layers = [(W.clone().requires_grad_(), b.clone().requires_grad_())
              for W, b in random_mlp([2, width, width, 3], seed)]
    opt = torch.optim.Adam([t for pair in layers for t in pair], lr=1e-2)
    spec = bounds.margin_spec(y, 3)
    ce = torch.nn.functional.cross_entropy
    for step in range(steps):
        e = eps * min(1.0, step / (steps / 2))
        loss = ce(bounds.forward(layers, X), y)
        if kind in ("ibp", "kw") and e > 0:
            method = bounds.interval_bounds if kind == "ibp" else bounds.linear_bounds
            low = method(layers, X, e, math.inf, spec=spec).lower
            loss = 0.5 * loss + 0.5 * ce(-low, y)
        if kind in ("per", "per_at") and step >= steps // 3:  # PER after a warm-up
            x_adv = None
            if kind == "per_at":
                frozen = [(W.detach(), b.detach()) for W, b in layers]
                x_adv = X + attacks.pgd(functools.partial(bounds.forward, frozen), X, y,
                                        eps=eps, alpha=eps / 4, steps=10)
                loss = 0.5 * loss + 0.5 * ce(bounds.forward(layers, x_adv), y)
            loss = loss + bounds.per_loss(layers, X, y, eps, math.inf, alpha=1.5 * eps,
                                          beta=per_beta, C=2, x_adv=x_adv)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [(W.detach(), b.detach()) for W, b in layers], X, y


def ibp_vs_linear(layers, X: torch.Tensor, y: torch.Tensor, eps: float) -> dict[str, float]:
    """Clean accuracy, certified accuracy by IBP and by linear bounds (l_inf, elided), and the
    share of points where IBP's worst margin lower bound is the larger (tighter) one."""
    spec = bounds.margin_spec(y, layers[-1][0].shape[0])
    mask = torch.nn.functional.one_hot(y, spec.shape[1]).bool()
    ibp = bounds.interval_bounds(layers, X, eps, math.inf, spec=spec).lower
    lin = bounds.linear_bounds(layers, X, eps, math.inf, spec=spec).lower
    ibp, lin = (t.masked_fill(mask, math.inf).min(1).values for t in (ibp, lin))
    return {"clean": float((bounds.forward(layers, X).argmax(1) == y).double().mean()),
            "cert_ibp": float((ibp > 0).double().mean()),
            "cert_linear": float((lin > 0).double().mean()),
            "ibp_tighter": float((ibp > lin + 1e-12).double().mean())}


@single_thread()
def evaluate_toy(layers, X: torch.Tensor, y: torch.Tensor, eps: float) -> dict[str, float]:
    """Clean error, PGD-20 error, certified robust error by linear bounds (CRE Lin) and by IBP,
    and the average PEC radius ``min(eps, d_y)`` (0 where misclassified), all l_inf at eps."""
    pred = bounds.forward(layers, X).argmax(1)
    delta = attacks.pgd(lambda v: bounds.forward(layers, v), X, y, eps=eps, alpha=eps / 8,
                        steps=20)
    adv = bounds.forward(layers, X + delta).argmax(1)
    stats = ibp_vs_linear(layers, X, y, eps)
    pec = bounds.pec_radius(layers, X, y, eps, math.inf) * (pred == y)
    return {"clean_err": float((pred != y).double().mean()),
            "pgd_err": float((adv != y).double().mean()),
            "cre_lin": 1 - stats["cert_linear"], "cre_ibp": 1 - stats["cert_ibp"],
            "acb_pec": float(pec.mean()),
            "weight_l1": float(sum(W.abs().sum() for W, _ in layers))}


# ---------------------------------------------------------------------------------------------
# (3.20): the PER regulariser


def per_printed(d: torch.Tensor, alpha: float, beta: float, C: int) -> torch.Tensor:
    """(3.20) on given signed distances (N, K - 1): the hinge over the C smallest, batch mean."""
    smallest = d.sort(1).values[:, :C]
    return beta * torch.clamp(1 - smallest / alpha, min=0).sum(1).mean()


def per_without_hinge(d: torch.Tensor, alpha: float, beta: float, C: int) -> torch.Tensor:
    """Negative control: ``beta sum (1 - d / alpha)`` without the hinge."""
    return beta * (1 - d.sort(1).values[:, :C] / alpha).sum(1).mean()


eq3_20 = CLAIMS.claim(
    "thesis3.eq3_20",
    title="PER (3.20) is a hinge: zero, gradient zero, once the C smallest distances are >= alpha",
    sources=("003 eq. (3.20), Alg. 3.6", "[94] (TNNLS 2021)"),
    kind="definition",
    statement=r"""
$\mathrm{PER}(\mathbf x, \alpha, \beta, C) = \beta\sum_{i=1}^C \max(0, 1 -
\hat d_{j_i,y}/\alpha)$ over the $C$ smallest signed distances; it vanishes, and so does its
gradient, iff all of them are at least $\alpha$ (no over-regularisation of points already far
from the envelope's hyperplanes).""",
    uses=("thesis3.lemma3_1",),
)


@eq3_20.check(kind="numeric", subject=per_printed, control=per_without_hinge,
              control_label="no hinge (beta sum (1 - d / alpha))", tolerance=1e-12)
@single_thread()
def eq3_20_hinge(per: Callable) -> str:
    """On 200 random distance sets: zero value and gradient iff the C smallest are >= alpha;
    ``bounds.per_loss`` equals (3.20) applied to ``bounds.signed_distances`` on a random net."""
    gen = torch.Generator().manual_seed(0)
    zeros = 0
    for _ in range(200):
        d = (torch.rand(1, 4, generator=gen, dtype=F64) * 2).requires_grad_()
        value = per(d, 0.8, 2.0, 2)
        (grad,) = torch.autograd.grad(value, d, allow_unused=True, materialize_grads=True)
        far = bool((d.detach().sort(1).values[:, :2] >= 0.8).all())
        value = float(value.detach())
        require(far == (abs(value) < 1e-15 and float(grad.abs().max()) == 0.0),
                f"value {fmt(value)} at distances {d.detach().tolist()}")
        zeros += far
    layers, x, y, _ = _toy()
    d = bounds.signed_distances(layers, x, y, 0.2, math.inf)
    finite = d.masked_fill(torch.isinf(d), 0.0)
    rows = torch.stack([finite[i][torch.arange(3) != y[i]] for i in range(len(x))])
    lib = bounds.per_loss(layers, x, y, 0.2, math.inf, alpha=0.3, beta=2.0, C=2)
    require(abs(float(lib) - float(per(rows, 0.3, 2.0, 2))) < 1e-12, "per_loss differs")
    return f"hinge exact on 200 sets ({zeros} inactive); bounds.per_loss agrees"


# ---------------------------------------------------------------------------------------------
# Alg. 3.6, Figs. 3.8-3.9: the 2-D toy trained five ways (``experiments.thesis_per``, cached)

#: The provable baselines of the toy (the thesis's KW and IBP, trained as in ``train_toy``).
PROVABLE = ("kw", "ibp")
#: Thresholds fixed before the run: CRE Lin at least 10 points below CE's, ACB PEC at least
#: 0.1 eps above CE's; "comparable" certified errors differ by at most 5 points; "just right
#: of the red line" is [eps, alpha] with PER's alpha = 1.5 eps.
MIN_CRE_DROP = 0.1
MIN_ACB_GAIN = 0.1
COMPARABLE_CRE = 0.05
NEAR_TOP = 1.5


def per_toy():  # noqa: ANN201 (an experiments.thesis_per.Result)
    """The quick-mode result of ``thesis_per`` (seed 0), computed once per code version and
    shared by chapter 51 and the checks below (:func:`advproof.cache.cached_run`)."""
    from advproof.cache import cached_run

    return cached_run("thesis_per", "quick", seed=0)


def certified_error(metrics: dict[str, float]) -> float:
    """A model's certified robust error by the better of its two certifiers (Lin, IBP)."""
    return min(metrics["cre_lin"], metrics["cre_ibp"])


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


alg3_6 = CLAIMS.claim(
    "thesis3.alg3_6",
    title="Alg. 3.6 on a 2-D toy: PER and PER+at certify more than CE; PER+at has no "
          "clean-error advantage over KW / IBP there",
    sources=("003 Alg. 3.6, §3.3.3-3.3.4 (Tables 3.6-3.7)", "[94] (TNNLS 2021)"),
    kind="algorithm",
    statement=r"""
PER+at minimises $\frac12(\mathcal L(\mathbf X, \mathbf y) + \mathcal L(\mathbf X', \mathbf y'))
+ \mathrm{PER}(\mathbf X', \alpha, \beta, C)$, with $\mathbf X'$ the PGD points and the
envelope (3.12) built around $\mathbf X$ (PER: $\mathcal L(\mathbf X, \mathbf y) +
\mathrm{PER}(\mathbf X, \alpha, \beta, C)$). Models trained so have a lower certified robust
error by the linear bounds (CRE Lin) and a larger average certified bound (ACB PEC) than
clean-trained ones, and PER+at has a lower clean error than the provable baselines (KW, IBP) at
a comparable certified error.""",
    uses=("thesis3.eq3_20", "thesis3.lemma3_1"),
    erratum=Erratum(
        printed=r"\mathrm{CTE}(\text{PER+at}) < \mathrm{CTE}(b) \text{ for every provable "
                r"baseline } b \in \{\text{KW}, \text{IBP}\} \text{ of comparable certified error}",
        problem="Not reproduced on the book's 2-D toy (three Gaussian blobs, one seed): "
                "PER+at's clean test error is not below that of KW and IBP, whose certified "
                "errors are within 5 points of its own (numbers in check "
                "alg3_6_clean_error_printed). The blobs overlap, so every model's clean error "
                "sits near the Bayes error of the data: the toy cannot show the "
                "over-regularisation that Tables 3.6-3.7 measure on MNIST and CIFAR-10, and "
                "neither confirms nor refutes those tables.",
        corrected=r"\text{on the toy: } \mathrm{CTE}(\text{PER+at}) \ge \min_b \mathrm{CTE}(b)"
                  r" \text{ (no clean-error advantage)}",
    ),
)


@alg3_6.check(kind="experiment", subject=("per", "per_at"), control=("ce",), tolerance=0.1,
              control_label="CE compared with itself")
def alg3_6_certifies_more(kinds: tuple[str, ...]) -> str:
    """Quick run (2-16-16-3 ReLU MLP, 300 training and 300 test points, eps = 0.8, l_inf):
    on the test points CRE Lin at least 10 points below CE's and ACB PEC at least 0.1 eps
    above CE's."""
    res = per_toy()
    m, ce = res.metrics, res.metrics["ce"]
    parts = []
    for k in kinds:
        require(m[k]["cre_lin"] <= ce["cre_lin"] - MIN_CRE_DROP,
                f"{k}: CRE Lin {_pct(m[k]['cre_lin'])} vs CE {_pct(ce['cre_lin'])}")
        require(m[k]["acb_pec"] >= ce["acb_pec"] + MIN_ACB_GAIN * res.eps,
                f"{k}: ACB PEC {m[k]['acb_pec']:.3f} vs CE {ce['acb_pec']:.3f}")
        parts.append(f"{k}: CRE Lin {_pct(m[k]['cre_lin'])}, ACB PEC {m[k]['acb_pec']:.3f}")
    return (f"{'; '.join(parts)} (CE: CRE Lin {_pct(ce['cre_lin'])}, ACB PEC "
            f"{ce['acb_pec']:.3f}; eps = {res.eps:g})")


def per_at_cleaner(ours: float, baselines: list[float]) -> bool:
    """The thesis's reading: PER+at's clean error is below every comparable baseline's."""
    return all(ours < b for b in baselines)


def per_at_not_cleaner(ours: float, baselines: list[float]) -> bool:
    """What the toy shows: PER+at's clean error is not below the best comparable baseline's."""
    return ours >= min(baselines)


@alg3_6.check(kind="experiment", subject=per_at_cleaner, control=per_at_not_cleaner,
              refutes=True, reproduction=True, tolerance=COMPARABLE_CRE,
              control_label="no clean-error advantage (must hold)")
def alg3_6_clean_error_printed(statement: Callable[[float, list[float]], bool]) -> str:
    """Printed reading on the quick run: PER+at's clean test error against KW's and IBP's,
    among those whose certified error (better certifier) is within 5 points of PER+at's."""
    res = per_toy()
    m, ours = res.metrics, res.metrics["per_at"]
    comparable = [b for b in PROVABLE
                  if abs(certified_error(m[b]) - certified_error(ours)) <= COMPARABLE_CRE]
    require(bool(comparable), "no provable baseline has a comparable certified error")
    detail = (f"clean error PER+at {_pct(ours['clean_err'])} (certified error "
              f"{_pct(certified_error(ours))}); "
              + ", ".join(f"{b} {_pct(m[b]['clean_err'])} ({_pct(certified_error(m[b]))})"
                          for b in comparable)
              + f"; Bayes error of the test draw {_pct(res.bayes_error())}")
    require(statement(ours["clean_err"], [m[b]["clean_err"] for b in comparable]), detail)
    return detail


fig3_8 = CLAIMS.claim(
    "thesis3.fig3_8",
    title="Fig. 3.8 on the toy: PER+at's weights are less sparse than KW's and IBP's, but not "
          "much larger",
    sources=("003 Fig. 3.8 and §3.3.4", "[94] (TNNLS 2021)"),
    kind="remark",
    statement=r"""
"The parameters of L-PER+at models have much larger norms than KW and MMR+at, whose parameters
are more sparse": PER+at over-regularises less and keeps the model's capacity. On the 2-D toy,
PER+at has fewer near-zero weights ($|w| < 0.05$) than KW and IBP, but its total $\ell_1$ norm
is not much larger than KW's.""",
    uses=("thesis3.eq3_20",),
    erratum=Erratum(
        printed=r"\|\theta_{\text{PER+at}}\|_1 \gg \|\theta_{\text{KW}}\|_1",
        problem="Not reproduced on the book's 2-D toy (one seed): PER+at's total l1 norm is "
                "within a few percent of KW's, far from 'much larger', read here as at least "
                "1.25 times (numbers in check fig3_8_much_larger_printed); against IBP it is "
                "smaller. The sparsity half of the reading does show (check "
                "fig3_8_less_sparse). The toy neither confirms nor refutes the CIFAR-10 "
                "histograms.",
        corrected=r"\text{on the toy: } \|\theta_{\text{PER+at}}\|_1 < 1.25\,"
                  r"\|\theta_{\text{KW}}\|_1 \text{ (not much larger)}",
    ),
)

#: "Much larger" (Fig. 3.8's reading) as a factor on the total l1 norm, fixed before the run.
MUCH_LARGER = 1.25


def _weights_line(res, kinds: tuple[str, ...]) -> str:  # noqa: ANN001 (a thesis_per.Result)
    return ", ".join(f"{k} {res.weight_stats(k)['l1']:.1f} / {res.weight_stats(k)['small']:.3f}"
                     for k in kinds)


@fig3_8.check(kind="experiment", subject=("per_at", ("kw", "ibp")),
              control=("kw", ("per_at",)), tolerance=0.0,
              control_label="labels swapped (KW's weights against PER+at's)")
def fig3_8_less_sparse(pair: tuple[str, tuple[str, ...]]) -> str:
    """Quick run: the model's share of weights with |w| < 0.05 (biases excluded) is below each
    baseline's; total l1 norms reported."""
    model, bases = pair
    res = per_toy()
    w = res.weight_stats(model)
    for base in bases:
        b = res.weight_stats(base)
        require(w["small"] < b["small"],
                f"{model} vs {base}: near-zero share {w['small']:.3f} vs {b['small']:.3f}")
    return f"l1 / near-zero share: {_weights_line(res, (model, *bases, 'per', 'ce'))}"


def much_larger(ours: float, base: float) -> bool:
    """The printed reading: PER+at's total l1 norm is much larger (>= 1.25 x) than KW's."""
    return ours >= MUCH_LARGER * base


def not_much_larger(ours: float, base: float) -> bool:
    """What the toy shows: it is not."""
    return ours < MUCH_LARGER * base


@fig3_8.check(kind="experiment", subject=much_larger, control=not_much_larger, refutes=True,
              reproduction=True, tolerance=MUCH_LARGER, control_label="not much larger (must hold)")
def fig3_8_much_larger_printed(statement: Callable[[float, float], bool]) -> str:
    """Printed reading on the quick run: PER+at's total l1 norm against KW's (IBP's reported)."""
    res = per_toy()
    ours, kw, ibp = (res.weight_stats(k)["l1"] for k in ("per_at", "kw", "ibp"))
    detail = (f"l1 PER+at {ours:.1f}, KW {kw:.1f} (ratio {ours / kw:.2f}), IBP {ibp:.1f} "
              f"(ratio {ours / ibp:.2f})")
    require(statement(ours, kw), detail)
    return detail


fig3_9 = CLAIMS.claim(
    "thesis3.fig3_9",
    title="Fig. 3.9 on the toy: the mass right of eps is the certified accuracy; PER+at's "
          "radii are not concentrated just above eps",
    sources=("003 Fig. 3.9 and §3.3.4", "[94] (TNNLS 2021)"),
    kind="remark",
    statement=r"""
In the histogram of the optimal certified radii $r$ (Alg. 3.5) of the test points, the mass
right of the target $\epsilon$ is the certified robust accuracy, and the mass of PER+at is more
concentrated just right of $\epsilon$ than that of KW, which certifies more points at
needlessly large radii: PER's hinge stops pushing a distance once it reaches $\alpha$.""",
    uses=("thesis3.alg3_5", "thesis3.eq3_20"),
    erratum=Erratum(
        printed=r"\Pr[r \le \alpha \mid r \ge \epsilon]_{\text{PER+at}} > "
                r"\Pr[r \le \alpha \mid r \ge \epsilon]_{\text{KW}}",
        problem="Not reproduced on the book's 2-D toy (one seed): of the test points certified "
                "at eps, PER+at has a smaller share with radius in [eps, alpha = 1.5 eps] than "
                "KW, and a larger median radius (numbers in check "
                "fig3_9_concentration_printed). The toy neither confirms nor refutes the "
                "CIFAR-10 histograms.",
        corrected=r"\text{on the toy: } \Pr[r \le \alpha \mid r \ge \epsilon]_{\text{PER+at}}"
                  r" \le \Pr[r \le \alpha \mid r \ge \epsilon]_{\text{KW}}",
    ),
)


@fig3_9.check(kind="experiment", subject="cre_lin", control="cre_ibp", tolerance=0.01,
              control_label="IBP's certified accuracy as the mass right of eps")
def fig3_9_right_of_eps_is_certified(metric: str) -> str:
    """Quick run, every model: the share of test points with optimal radius >= eps (Alg. 3.5
    with PEC on [0, 4 eps], precision 1e-3 eps) is 1 - CRE at eps to within 0.01."""
    res = per_toy()
    worst, parts = 0.0, []
    for k, m in res.metrics.items():
        right = res.radius_shares(k, NEAR_TOP)["right"]
        gap = abs(right - (1 - m[metric]))
        require(gap <= 0.01, f"{k}: share r >= eps {right:.3f} vs 1 - {metric} "
                             f"{1 - m[metric]:.3f}")
        worst = max(worst, gap)
        parts.append(f"{k} {right:.3f}")
    return f"share r >= eps: {', '.join(parts)}; largest gap to 1 - {metric}: {worst:.3f}"


def concentrated_more(ours: float, base: float) -> bool:
    """The thesis's reading: PER+at's certified mass is more concentrated just right of eps."""
    return ours > base


def concentrated_not_more(ours: float, base: float) -> bool:
    """What the toy shows: it is not."""
    return ours <= base


@fig3_9.check(kind="experiment", subject=concentrated_more, control=concentrated_not_more,
              refutes=True, reproduction=True, tolerance=NEAR_TOP,
              control_label="not more concentrated (must hold)")
def fig3_9_concentration_printed(statement: Callable[[float, float], bool]) -> str:
    """Printed reading on the quick run: among the test points with r >= eps, the share with
    r <= alpha = 1.5 eps, PER+at against KW (the other models and the median r / eps of the
    certified points reported)."""
    res = per_toy()
    shares = {k: res.radius_shares(k, NEAR_TOP) for k in res.metrics}
    detail = "share r in [eps, alpha] of r >= eps (median r/eps): " + ", ".join(
        f"{k} {s['near']:.3f} ({s['median_right']:.2f})" for k, s in shares.items())
    require(statement(shares["per_at"]["near"], shares["kw"]["near"]), detail)
    return detail


# ---------------------------------------------------------------------------------------------
# Tables 3.2-3.3, Figs. 3.4-3.5 (Sec. 3.2.2): vanilla vs robust nets, uniform vs non-uniform
# budgets. The printed tables as data; the measurements on the 8x8 digits from
# ``experiments.thesis_nonuniform`` (cached, shared with chapter 51).

#: Table 3.2 as printed: (data set, hidden neurons, model) -> (test accuracy %, uniform
#: eps_avg, non-uniform eps_avg, ratio).
TABLE_3_2: dict[tuple[str, int, str], tuple[float, float, float, float]] = {
    ("MNIST", 100, "Vanilla"): (99.2, 0.0295, 0.0349, 1.183),
    ("MNIST", 100, "Robust"): (98.1, 0.0692, 0.1678, 2.425),
    ("MNIST", 300, "Vanilla"): (98.0, 0.0309, 0.0350, 1.133),
    ("MNIST", 300, "Robust"): (98.9, 0.0507, 0.1404, 2.769),
    ("MNIST", 500, "Vanilla"): (98.5, 0.0319, 0.0360, 1.129),
    ("MNIST", 500, "Robust"): (98.8, 0.0436, 0.1167, 2.677),
    ("Fashion MNIST", 1024, "Vanilla"): (90.4, 0.0134, 0.0141, 1.052),
    ("Fashion MNIST", 1024, "Robust"): (88.4, 0.0208, 0.0306, 1.468),
    ("SVHN", 1024, "Vanilla"): (84.3, 0.0022, 0.0072, 3.273),
    ("SVHN", 1024, "Robust"): (78.2, 0.0054, 0.0281, 5.204),
}
#: Table 3.3 as printed: (data set, hidden neurons, model) -> (mean cosine, minimum cosine).
TABLE_3_3: dict[tuple[str, int, str], tuple[float, float]] = {
    ("MNIST", 100, "Vanilla"): (0.9548, 0.2304),
    ("MNIST", 100, "Robust"): (0.9957, 0.9155),
    ("MNIST", 300, "Vanilla"): (0.9774, 0.5038),
    ("MNIST", 300, "Robust"): (0.9964, 0.9104),
    ("MNIST", 500, "Vanilla"): (0.9874, 0.6367),
    ("MNIST", 500, "Robust"): (0.9941, 0.8920),
    ("Fashion MNIST", 1024, "Vanilla"): (0.9805, 0.5652),
    ("Fashion MNIST", 1024, "Robust"): (0.9752, 0.7166),
    ("SVHN", 1024, "Vanilla"): (0.9836, 0.7129),
    ("SVHN", 1024, "Robust"): (0.9952, 0.9339),
}
#: Thresholds fixed before the run: the robust ratio exceeds the vanilla one by 0.05; the
#: robust share of budgets above 2 eps is at least twice the vanilla one; a model's mean cosine
#: exceeds the shuffled baseline by 0.05; a bounding map "reveals a pattern" when its Spearman
#: rho with the discriminative map is at most -0.3.
MIN_RATIO_GAP = 0.05
MIN_COS_EXCESS = 0.05
MAP_PATTERN = -0.3


def nonuniform_digits():  # noqa: ANN201 (an experiments.thesis_nonuniform.Result)
    """The quick-mode result of ``thesis_nonuniform`` (seed 0), computed once per code
    version and shared by chapter 51 and the checks below."""
    from advproof.cache import cached_run

    return cached_run("thesis_nonuniform", "quick", seed=0)


def model_pairs(table: dict) -> list[tuple[str, int]]:
    """The (data set, hidden neurons) settings of a printed table, in order."""
    return list(dict.fromkeys(k[:2] for k in table))


def ratio_interval(uniform: float, nonuniform: float, digits: int = 4) -> tuple[float, float]:
    """The range of ``nonuniform / uniform`` for the unrounded values behind two cells
    printed with ``digits`` decimals."""
    h = 0.5 * 10.0 ** -digits
    return (nonuniform - h) / (uniform + h), (nonuniform + h) / (uniform - h)


def ratio_printed(uniform: float, nonuniform: float) -> tuple[float, float]:
    """The ratio column's definition: non-uniform over uniform eps_avg (rounding range)."""
    return ratio_interval(uniform, nonuniform)


def ratio_inverted(uniform: float, nonuniform: float) -> tuple[float, float]:
    """Negative control: uniform over non-uniform."""
    lo, hi = ratio_interval(uniform, nonuniform)
    return 1 / hi, 1 / lo


table3_2 = CLAIMS.claim(
    "thesis3.table3_2",
    title="Table 3.2 / Fig. 3.4: non-uniform bounds gain more on robust nets (digits: "
          "reproduced)",
    sources=("003 Table 3.2, Fig. 3.4 and §3.2.2", "[95] (ICML 2019)"),
    kind="remark",
    statement=r"""
Non-uniform budgets (Alg. 3.3) certify larger regions than uniform ones, and the ratio of
$\epsilon_{avg} = (\prod_i\tilde\epsilon_i)^{1/M}$ (non-uniform) to the uniform budget is
"significantly larger in the cases of robust models". For the robust models "the bounds of some
features can be much larger than the size of the adversarial budget used during training"
(Fig. 3.4).""",
    uses=("thesis3.alg3_3",),
)


@table3_2.check(kind="numeric", subject=ratio_printed, control=ratio_inverted, tolerance=5e-5,
                control_label="uniform over non-uniform")
def table3_2_printed(ratio: Callable[[float, float], tuple[float, float]]) -> str:
    """The printed Table 3.2: every ratio cell lies in the range the two rounded eps_avg cells
    allow (plus half a unit of its own last digit), and the robust ratio exceeds the vanilla
    one in all five settings."""
    worst = 0.0
    for key, (_, u, nu, printed) in TABLE_3_2.items():
        lo, hi = ratio(u, nu)
        off = max(lo - printed, printed - hi, 0.0)
        require(off <= 5e-4, f"{key}: printed ratio {printed} outside [{lo:.4f}, {hi:.4f}]")
        worst = max(worst, off)
    gaps = []
    for d, h in model_pairs(TABLE_3_2):
        van, rob = TABLE_3_2[d, h, "Vanilla"][3], TABLE_3_2[d, h, "Robust"][3]
        require(rob > van, f"{d} {h}: robust ratio {rob} <= vanilla {van}")
        gaps.append(rob - van)
    return (f"all {len(TABLE_3_2)} ratios within rounding; robust - vanilla ratio from "
            f"{min(gaps):.3f} to {max(gaps):.3f}")


@table3_2.check(kind="experiment", subject=("robust", "vanilla"), control=("vanilla", "robust"),
                tolerance=MIN_RATIO_GAP, control_label="labels swapped (vanilla as robust)")
def table3_2_digits(kinds: tuple[str, str]) -> str:
    """Quick run (8x8 digits in [-1, 1], 64-32-32-32-10 ReLU MLPs, robust: PGD-5 at l_inf
    eps = 0.1; the correctly classified among the first 50 test images): the first model's
    eps_avg ratio exceeds the second's by at least 0.05, and both are at least 1."""
    res = nonuniform_digits()
    a, b = kinds
    ra, rb = res.ratio(a), res.ratio(b)
    require(min(ra, rb) >= 1 - 1e-12, f"a ratio below 1: {ra:.3f}, {rb:.3f}")
    require(ra >= rb + MIN_RATIO_GAP, f"ratio {a} {ra:.3f} vs {b} {rb:.3f}")
    parts = [f"{k}: uniform {res.eps_avg(k)[0]:.4f}, non-uniform {res.eps_avg(k)[1]:.4f}, "
             f"ratio {res.ratio(k):.3f} (test accuracy {_pct(res.accuracy[k])})"
             for k in (a, b)]
    return "; ".join(parts)


@table3_2.check(kind="experiment", subject=("robust", "vanilla"), control=("vanilla", "robust"),
                tolerance=2.0, control_label="labels swapped (vanilla as robust)")
def fig3_4_large_budgets(kinds: tuple[str, str]) -> str:
    """Quick run: the share of per-feature budgets above twice the training eps, over the
    certified test images, is at least twice as large for the first model."""
    res = nonuniform_digits()
    sa, sb = (res.large_share(k, 2.0) for k in kinds)
    require(sa >= 2 * sb and sa > 0, f"share above 2 eps: {kinds[0]} {sa:.3f}, "
                                      f"{kinds[1]} {sb:.3f}")
    return (f"share of budgets above 2 eps: {kinds[0]} {sa:.3f}, {kinds[1]} {sb:.3f}; largest "
            f"budget {float(res.eps[kinds[0]].max()):.2f} vs {float(res.eps[kinds[1]].max()):.2f}")


def robust_stronger_everywhere(table: dict[tuple[str, int, str], tuple[float, float]]
                               ) -> list[str]:
    """The text's "even stronger in the cases of robust models": the settings where the robust
    model's mean cosine is not above the vanilla one's."""
    return [f"{d} {h}: mean cosine robust {table[d, h, 'Robust'][0]} vs vanilla "
            f"{table[d, h, 'Vanilla'][0]}" for d, h in model_pairs(table)
            if not table[d, h, "Robust"][0] > table[d, h, "Vanilla"][0]]


def robust_stronger_in_min(table: dict[tuple[str, int, str], tuple[float, float]]
                           ) -> list[str]:
    """The corrected reading: the robust model's minimum cosine is above the vanilla one's in
    every setting (the mean cosine in all but Fashion-MNIST)."""
    return [f"{d} {h}: minimum cosine robust {table[d, h, 'Robust'][1]} vs vanilla "
            f"{table[d, h, 'Vanilla'][1]}" for d, h in model_pairs(table)
            if not table[d, h, "Robust"][1] > table[d, h, "Vanilla"][1]]


def uniform_cosine(low: float, M: int, n: int | None = None, seed: int = 0) -> float:
    """Monte Carlo mean cosine of two independent uniform vectors in [low, 1]^M, over ``n``
    pairs (default ``1e6 / M``: a standard error near 2.5e-4 for M = 64)."""
    n = n if n is not None else 1_000_000 // M
    gen = torch.Generator().manual_seed(seed)
    a, b = (low + (1 - low) * torch.rand(n, M, generator=gen, dtype=F64) for _ in range(2))
    return float(torch.nn.functional.cosine_similarity(a, b, dim=1).mean())


table3_3 = CLAIMS.claim(
    "thesis3.table3_3",
    title="Table 3.3: the budget vectors of one model are nearly collinear; 'stronger for "
          "robust models' holds for the minimum, not for the Fashion-MNIST mean",
    sources=("003 Table 3.3, footnote 2 and §3.2.2", "[95] (ICML 2019)"),
    kind="remark",
    statement=r"""
The non-uniform budgets $\vec\epsilon$ of different inputs of one model are highly correlated
(mean and minimum cosine over all pairs of test inputs), and "such correlation is even stronger
in the cases of robust models". For reference, two uniform random vectors in $[0, 1]^{784}$ have
an expected cosine of about 0.75, and the expectation decreases in higher dimensions
(footnote 2).""",
    uses=("thesis3.alg3_3", "thesis3.eq3_9"),
    erratum=Erratum(
        printed=r"\overline{\cos}(\text{robust}) > \overline{\cos}(\text{vanilla}) "
                r"\text{ in every setting of Table 3.3}",
        problem="Table 3.3's own Fashion-MNIST row has the robust model's mean cosine below "
                "the vanilla model's (check table3_3_printed_robust_stronger); the text does "
                "not note the exception. The minimum cosine is higher for the robust model in "
                "all five settings. On the 8x8 digits both the mean and the minimum are higher "
                "for the robust model.",
        corrected=r"\min\cos(\text{robust}) > \min\cos(\text{vanilla}) \text{ in every "
                  r"setting; } \overline{\cos} \text{ in all but Fashion-MNIST}",
    ),
)


@table3_3.check(kind="numeric", subject=robust_stronger_everywhere,
                control=robust_stronger_in_min, refutes=True, tolerance=0.0,
                control_label="the minimum cosine (must not be refuted)")
def table3_3_printed_robust_stronger(violations: Callable[[dict], list[str]]) -> str:
    """Refutation on the printed Table 3.3: is the robust model's cosine higher in every
    setting?"""
    bad = violations(TABLE_3_3)
    require(not bad, f"{len(bad)} of {len(model_pairs(TABLE_3_3))} settings: " + "; ".join(bad))
    return f"robust higher in all {len(model_pairs(TABLE_3_3))} settings"


@table3_3.check(kind="numeric", subject=0.0, control=-1.0, tolerance=0.01,
                control_label="uniform vectors in [-1, 1]^M")
@single_thread()
def table3_3_footnote(low: float) -> str:
    """Monte Carlo (1e6 / M pairs): the mean cosine of uniform vectors in [low, 1]^M is
    within 0.01 of 3/4 (= E[x]^2 / E[x^2], its limit) at M = 784 and decreases over M = 2, 8,
    64, 784."""
    values = [uniform_cosine(low, M) for M in (2, 8, 64, 784)]
    require(abs(values[-1] - 0.75) <= 0.01, f"M = 784: mean cosine {values[-1]:.4f}")
    require(all(a > b for a, b in zip(values, values[1:], strict=False)),
            f"not decreasing: {[round(v, 4) for v in values]}")
    return "mean cosine at M = 2, 8, 64, 784: " + ", ".join(f"{v:.4f}" for v in values)


@table3_3.check(kind="experiment", subject="model", control="shuffled", tolerance=MIN_COS_EXCESS,
                control_label="the shuffled budgets against a second shuffle")
def table3_3_digits_above_baseline(which: str) -> str:
    """Quick run: for both models the mean cosine of the budget vectors exceeds by 0.05 that of
    the same vectors with their entries shuffled (the baseline with the same marginals)."""
    res = nonuniform_digits()
    parts = []
    for k in res.eps:
        base = float(res.shuffled_cosines(k, seed=0).mean())
        got = float((res.cosines(k) if which == "model" else res.shuffled_cosines(k, seed=1))
                    .mean())
        require(got >= base + MIN_COS_EXCESS, f"{k}: mean cosine {got:.4f} vs shuffled "
                                              f"{base:.4f}")
        parts.append(f"{k} {got:.4f} vs shuffled {base:.4f}")
    return "mean cosine: " + "; ".join(parts)


@table3_3.check(kind="experiment", subject=("robust", "vanilla"), control=("vanilla", "robust"),
                tolerance=0.0, control_label="labels swapped (vanilla as robust)")
def table3_3_digits_robust_stronger(kinds: tuple[str, str]) -> str:
    """Quick run: the first model's mean and minimum cosine both exceed the second's."""
    res = nonuniform_digits()
    (ma, na), (mb, nb) = ((float(c.mean()), float(c.min()))
                          for c in (res.cosines(k) for k in kinds))
    require(ma > mb and na > nb, f"mean / min cosine {kinds[0]} {ma:.4f} / {na:.4f}, "
                                 f"{kinds[1]} {mb:.4f} / {nb:.4f}")
    return (f"mean / min cosine: {kinds[0]} {ma:.4f} / {na:.4f}, {kinds[1]} {mb:.4f} / "
            f"{nb:.4f} ({len(res.eps[kinds[0]])} and {len(res.eps[kinds[1]])} test images)")


fig3_5 = CLAIMS.claim(
    "thesis3.fig3_5",
    title="Fig. 3.5: bounding maps for 1 vs 7 are small where the digits differ; on 8x8 digits "
          "the vanilla maps are not noise",
    sources=("003 Fig. 3.5 and §3.2.2", "[95] (ICML 2019)"),
    kind="remark",
    statement=r"""
Shown as images, the non-uniform budgets $\vec\epsilon$ ("bounding maps") of a robust model for
the task 1 vs 7 capture the digits: smaller bounds on the pixels of the horizontal stroke that
tells a 7 from a 1. The bounding maps of a vanilla model "are noisy and can hardly reveal the
patterns of the input instances".""",
    uses=("thesis3.alg3_3",),
    erratum=Erratum(
        printed=r"\text{vanilla bounding maps are noise: } \rho(\vec\epsilon, |\mu_1 - \mu_7|)"
                r" > -0.3",
        problem="Not reproduced on the 8x8 digits: the vanilla model's bounding maps are "
                "anti-correlated with the discriminative map |mean(1) - mean(7)| nearly as "
                "strongly as the robust model's (check fig3_5_vanilla_noise_printed). Small "
                "images and a small net may make even vanilla boundaries simple; the toy "
                "neither confirms nor refutes the MNIST maps.",
        corrected=r"\rho(\vec\epsilon_{\text{vanilla}}, |\mu_1 - \mu_7|) \le -0.3 \text{ too}",
    ),
)


def _map_rho(kind: str, shuffle: bool = False) -> float:
    res = nonuniform_digits()
    if not shuffle:
        return float(res.map_correlations(kind).mean())
    from scipy.stats import spearmanr

    gen = np.random.default_rng(0)
    disc = res.discriminative.numpy()
    return float(np.mean([spearmanr(m.numpy(), gen.permutation(disc)).statistic
                          for m in res.maps[kind]]))


@fig3_5.check(kind="experiment", subject="discriminative", control="shuffled",
              tolerance=MAP_PATTERN, control_label="the discriminative map's pixels shuffled")
def fig3_5_robust_maps(which: str) -> str:
    """Quick run (1 vs 7 on the 8x8 digits, the nets of Table 3.2 with two outputs; the
    correctly classified among the first 20 test images): the robust model's bounding maps
    have mean Spearman rho <= -0.3 with |mean(1) - mean(7)| over the training images."""
    rho = _map_rho("robust", shuffle=which == "shuffled")
    require(rho <= MAP_PATTERN, f"mean rho {rho:.3f} > {MAP_PATTERN}")
    res = nonuniform_digits()
    return (f"robust: mean rho {rho:.3f} over {len(res.maps['robust'])} maps (vanilla "
            f"{_map_rho('vanilla'):.3f}); 1 vs 7 test accuracy "
            + ", ".join(f"{k} {_pct(v)}" for k, v in res.pair_accuracy.items()))


def maps_are_noise(rho: float) -> bool:
    """The printed reading for the vanilla maps: no pattern (rho above -0.3)."""
    return rho > MAP_PATTERN


def maps_show_pattern(rho: float) -> bool:
    """What the digits show: a pattern (rho at most -0.3)."""
    return rho <= MAP_PATTERN


@fig3_5.check(kind="experiment", subject=maps_are_noise, control=maps_show_pattern,
              refutes=True, reproduction=True, tolerance=MAP_PATTERN,
              control_label="the vanilla maps show the pattern (must hold)")
def fig3_5_vanilla_noise_printed(statement: Callable[[float], bool]) -> str:
    """Printed reading on the quick run: the vanilla model's mean rho with the discriminative
    map."""
    rho = _map_rho("vanilla")
    detail = f"vanilla: mean rho {rho:.3f} (robust {_map_rho('robust'):.3f})"
    require(statement(rho), detail)
    return detail
