"""Unit tests for the verified-robustness part of advproof.bounds (thesis 003, ch. 3): IBP and
linear bounds against sampled outputs, exactness on linear / stable nets, elision, Alg. 3.4
against linprog and a lambda-bisection, the PEC radius against an exact MILP distance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq, linprog

from advproof import bounds
from advproof.symbolic.thesis_verify import ball_samples

F64 = torch.float64
NORMS = (1.0, 2.0, math.inf)


def mlp(sizes: list[int], seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(o, i, generator=gen, dtype=F64) * math.sqrt(2 / i),
             0.1 * torch.randn(o, generator=gen, dtype=F64))
            for i, o in zip(sizes[:-1], sizes[1:], strict=True)]


@pytest.mark.parametrize("activation", bounds.ACTIVATIONS)
@pytest.mark.parametrize("p", NORMS)
def test_bounds_contain_ten_thousand_sampled_outputs(activation, p):
    layers = mlp([3, 12, 12, 4], seed=1)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, generator=gen, dtype=F64)
    y = bounds.forward(layers, x, activation).argmax(1)
    spec = bounds.margin_spec(y, 4)
    methods = {
        "ibp": lambda s: bounds.interval_bounds(layers, x, 0.3, p, activation, spec=s),
        "linear": lambda s: bounds.linear_bounds(layers, x, 0.3, p, activation, spec=s),
        "linear/ibp": lambda s: bounds.linear_bounds(layers, x, 0.3, p, activation, spec=s,
                                                     intermediate="ibp"),
    }
    delta = ball_samples(10_000, 3, 0.3, p, gen)
    for name, method in methods.items():
        for s in (None, spec):
            lo, hi = method(s)
            for i in range(len(x)):
                out = bounds.forward(layers, x[i] + delta, activation)
                if s is not None:
                    out = out @ s[i].T
                assert bool((lo[i] <= out + 1e-10).all()), (name, i)
                assert bool((out <= hi[i] + 1e-10).all()), (name, i)


@pytest.mark.parametrize("p", NORMS)
def test_one_layer_net_is_exact_for_every_method(p):
    """A linear net: every method equals W x + b +- eps ||W_i||_q."""
    (W, b), = mlp([5, 3], seed=3)
    x = torch.randn(2, 5, dtype=F64, generator=torch.Generator().manual_seed(0))
    centre = x @ W.T + b
    radius = 0.2 * torch.linalg.vector_norm(W, ord=bounds.dual_exponent(p), dim=1)
    for got in (bounds.interval_bounds([(W, b)], x, 0.2, p),
                bounds.linear_bounds([(W, b)], x, 0.2, p)):
        assert torch.allclose(got.lower, centre - radius, rtol=1e-14, atol=1e-14)
        assert torch.allclose(got.upper, centre + radius, rtol=1e-14, atol=1e-14)


def test_linear_bounds_are_exact_when_every_relu_is_stable():
    """With a tiny radius no ReLU crosses 0; the net is affine on the ball and the linear bound
    is attained by the Hoelder maximiser (IBP is not)."""
    layers = mlp([4, 10, 10, 3], seed=4)
    x = torch.randn(1, 4, dtype=F64, generator=torch.Generator().manual_seed(1))
    eps = 1e-4
    _, hidden = bounds.interval_bounds(layers, x, eps, math.inf, return_hidden=True)
    assert all(bool(((lo > 0) | (hi < 0)).all()) for lo, hi in hidden)
    lin = bounds.linear_bounds(layers, x, eps, math.inf)
    form = bounds.linear_form(layers, x, eps, math.inf)
    for k in range(3):
        corner = x + eps * torch.sign(form.A[0, k])
        assert float(bounds.forward(layers, corner)[0, k]) == pytest.approx(
            float(lin.upper[0, k]), rel=1e-12)
    ibp = bounds.interval_bounds(layers, x, eps, math.inf)
    assert bool((ibp.upper - ibp.lower > lin.upper - lin.lower + 1e-9).any())


def test_elision_tightens_margin_bounds():
    layers = mlp([3, 16, 16, 5], seed=5)
    x = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    y = bounds.forward(layers, x).argmax(1)
    spec = bounds.margin_spec(y, 5)
    for method in (bounds.interval_bounds, bounds.linear_bounds):
        elided = method(layers, x, 0.2, math.inf, spec=spec).lower
        plain = method(layers, x, 0.2, math.inf)
        separate = plain.lower.gather(1, y[:, None]) - plain.upper  # lower(z_y) - upper(z_i)
        mask = torch.nn.functional.one_hot(y, 5).bool()
        assert bool((elided >= separate - 1e-12).all())
        assert bool((elided > separate + 1e-9)[~mask].any())


def test_relaxations_are_sound_on_dense_grids():
    gen = torch.Generator().manual_seed(0)
    lo = torch.randn(2000, generator=gen, dtype=F64) * 4
    hi = lo + torch.rand(2000, generator=gen, dtype=F64) * 8
    t = torch.linspace(0, 1, 401, dtype=F64)
    for activation in bounds.ACTIVATIONS:
        for tight in (False, True):
            d, a_lo, a_hi = bounds.relaxation(lo, hi, activation, tight=tight)
            xs = lo[:, None] + t[None] * (hi - lo)[:, None]
            f = bounds.activate(xs, activation)
            assert float((d[:, None] * xs + a_lo[:, None] - f).max()) <= 1e-10
            assert float((f - d[:, None] * xs - a_hi[:, None]).max()) <= 1e-10
        loose = bounds.relaxation(lo, hi, activation)
        tight_ = bounds.relaxation(lo, hi, activation, tight=True)
        assert bool((tight_.bias_hi - tight_.bias_lo <= loose.bias_hi - loose.bias_lo + 1e-12)
                    .all())


def test_stable_tangent_points_survive_tiny_slopes():
    d = torch.tensor([1e-3, 1e-9, 1e-15], dtype=F64)
    t1, t2 = bounds.tangent_points(d, "tanh")
    assert torch.allclose(torch.cosh(t2) ** -2, d, rtol=1e-12, atol=0)  # tanh' = 1/cosh^2
    assert torch.equal(t1, -t2)
    naive_t1, _ = bounds.tangent_points(d, "tanh", stable=False)
    assert not math.isfinite(float(naive_t1[-1]))  # the printed small root cancels to <= 0
    s1, s2 = bounds.tangent_points(d / 4, "sigmoid")
    assert torch.allclose(torch.sigmoid(s2) * torch.sigmoid(-s2), d / 4, rtol=1e-12, atol=0)
    with pytest.raises(ValueError):
        bounds.tangent_points(d, "relu")


# --- Alg. 3.4 ---------------------------------------------------------------------------------


def lp_distance(a, b, lo, hi, p):
    """min ||delta||_p (p in {1, inf}) s.t. a delta + b <= 0, lo <= delta <= hi, by HiGHS."""
    m = len(a)
    if p == math.inf:  # variables delta, t
        cost = np.r_[np.zeros(m), 1.0]
        A = np.vstack([np.c_[np.eye(m), -np.ones(m)], np.c_[-np.eye(m), -np.ones(m)],
                       np.r_[a, 0.0][None]])
        bnds = list(zip(lo, hi, strict=True)) + [(0, None)]
    else:  # variables delta, s with |delta| <= s
        cost = np.r_[np.zeros(m), np.ones(m)]
        A = np.vstack([np.c_[np.eye(m), -np.eye(m)], np.c_[-np.eye(m), -np.eye(m)],
                       np.r_[a, np.zeros(m)][None]])
        bnds = list(zip(lo, hi, strict=True)) + [(0, None)] * m
    res = linprog(cost, A_ub=A, b_ub=np.r_[np.zeros(2 * m), -b], bounds=bnds, method="highs")
    return res.fun if res.status == 0 else math.inf


def bisection_distance_l2(a, b, lo, hi):
    """p = 2 by bisection on lambda in (3.19): delta(lambda) = clip(-lambda a, lo, hi)."""
    def slack(lam):
        return a @ np.clip(-lam * a, lo, hi) + b
    if slack(1e12) > 0:
        return math.inf
    lam = brentq(slack, 0.0, 1e12, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(np.linalg.norm(np.clip(-lam * a, lo, hi)))


def instances(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        m = int(rng.integers(2, 30))
        x0 = rng.uniform(0, 1, m)
        yield rng.normal(size=m), float(abs(rng.normal()) * rng.uniform(0.2, 3)), -x0, 1 - x0


@pytest.mark.parametrize("p", [1.0, math.inf, 2.0])
def test_box_distance_matches_its_references(p):
    infeasible = 0
    for a, b, lo, hi in instances(200, seed=int(p) if p != math.inf else 7):
        got, iters = bounds.box_distance(a, b, lo, hi, p)
        ref = bisection_distance_l2(a, b, lo, hi) if p == 2.0 else lp_distance(a, b, lo, hi, p)
        if math.isinf(ref):
            infeasible += 1
            assert math.isinf(got)
        else:
            assert got == pytest.approx(ref, rel=1e-9, abs=1e-12)
            assert iters <= len(a)
    assert 0 < infeasible < 100  # both kinds occur


@pytest.mark.parametrize("p", NORMS)
def test_box_distance_early_stop_is_a_lower_bound(p):
    strict = 0
    for a, b, lo, hi in instances(200, seed=11):
        exact, iters = bounds.box_distance(a, b, lo, hi, p)
        if math.isinf(exact) or iters < 2:
            continue
        early, _ = bounds.box_distance(a, b, lo, hi, p, max_iter=1)
        unboxed = b / np.linalg.norm(a, ord=bounds.dual_exponent(p))
        assert unboxed - 1e-12 <= early <= exact + 1e-12
        strict += early < exact - 1e-9
    assert strict > 10


def test_box_distance_trivial_cases_and_validation():
    a, lo, hi = np.array([1.0, -2.0]), np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    assert bounds.box_distance(a, -0.5, lo, hi, 2.0) == (0.0, 0)
    assert bounds.box_distance(a, 10.0, lo, hi, 2.0)[0] == math.inf
    with pytest.raises(ValueError):
        bounds.box_distance(a, 1.0, np.array([0.1, -1.0]), hi, 2.0)
    with pytest.raises(ValueError):
        bounds.box_distance(a, 1.0, lo, hi, 3)


# --- envelope, PEC, Alg. 3.5, exact distances -----------------------------------------------


def test_envelope_lower_bounds_the_margins_and_pec_is_below_the_exact_distance():
    layers = mlp([2, 8, 8, 3], seed=6)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(4, 2, generator=gen, dtype=F64) * 2 - 1
    y = bounds.forward(layers, x).argmax(1)
    U, c = bounds.envelope(layers, x, y, 0.3, math.inf)
    delta = ball_samples(5000, 2, 0.3, math.inf, gen)
    for i in range(len(x)):
        margins = bounds.forward(layers, x[i] + delta) @ bounds.margin_spec(y[i:i + 1], 3)[0].T
        assert bool((margins >= (x[i] + delta) @ U[i].T + c[i] - 1e-10).all())
    for i in range(2):
        exact = bounds.minimal_linf_distance(layers, x[i], int(y[i]), cap=1.0)
        for eps in (0.02, 0.1, 0.4):
            pec = float(bounds.pec_radius(layers, x[i:i + 1], y[i:i + 1], eps, math.inf))
            boxed = float(bounds.pec_radius(layers, x[i:i + 1], y[i:i + 1], eps, math.inf,
                                            box=(-1.0, 1.0)))
            assert 0 <= pec <= boxed <= exact + 1e-9


def test_minimal_distance_is_attained_by_an_adversarial_example():
    """The MILP's optimum is tight: a grid search on the square of that radius finds a label
    change, a slightly smaller square has none."""
    layers = mlp([2, 6, 6, 3], seed=8)
    x = torch.tensor([0.1, -0.2], dtype=F64)
    y = int(bounds.forward(layers, x[None]).argmax())
    r = bounds.minimal_linf_distance(layers, x, y, cap=2.0)
    assert 0 < r < 2
    g = torch.linspace(-1, 1, 401, dtype=F64)
    square = torch.cartesian_prod(g, g)
    inside = bounds.forward(layers, x + 0.999 * r * square).argmax(1)
    assert bool((inside == y).all())
    edge = torch.cat([torch.stack([g, torch.full_like(g, s)], 1) for s in (-1.0, 1.0)]
                     + [torch.stack([torch.full_like(g, s), g], 1) for s in (-1.0, 1.0)])
    assert bool((bounds.forward(layers, x + 1.001 * r * edge).argmax(1) != y).any())


def test_search_radius_is_plain_bisection_for_a_one_shot_certifier():
    true_radius = 0.3217
    cert, up, calls = bounds.search_radius(lambda e: e if e <= true_radius else 0.0, 1.0, 1e-4)
    assert calls == math.ceil(math.log2(1.0 / 1e-4))
    assert cert <= true_radius < up and up - cert <= 1e-4
    # a certifier that returns a certified radius below the trial lets the lower end jump
    cert2, _, calls2 = bounds.search_radius(lambda e: min(e, true_radius), 1.0, 1e-4)
    assert cert2 == true_radius and calls2 < calls
    with pytest.raises(ValueError):
        bounds.search_radius(lambda e: e, 0.0, 1e-4)


def test_search_radii_runs_search_radius_in_lock_step():
    """Batched Alg. 3.5 with PEC on a 2-8-8-3 net gives every point the radius, upper end and
    call count of the one-point search; a misclassified point ends at radius 0."""
    layers = mlp([2, 8, 8, 3], seed=6)
    x = torch.rand(7, 2, generator=torch.Generator().manual_seed(3), dtype=F64) * 2 - 1
    y = bounds.forward(layers, x).argmax(1)
    y[0] = (y[0] + 1) % 3  # a misclassified point: radius 0 after the full bisection
    cert, up, calls = bounds.search_radii(
        lambda i, t: bounds.pec_radius(layers, x[i], y[i], t, math.inf), len(x), 1.0, 1e-4)
    for i in range(len(x)):
        one = bounds.search_radius(
            lambda e, i=i: float(bounds.pec_radius(layers, x[i:i + 1], y[i:i + 1], e,
                                                   math.inf)), 1.0, 1e-4)
        # equal up to the rounding of a batched vs a one-point bound computation
        assert (float(cert[i]), float(up[i])) == pytest.approx(one[:2], rel=1e-12, abs=1e-15)
        assert int(calls[i]) == one[2]
    assert float(cert[0]) == 0.0 and int(calls[0]) == math.ceil(math.log2(1 / 1e-4))
    assert bool((cert > 0).any()) and bool((up - cert <= 1e-4).all())
    with pytest.raises(ValueError, match="shape"):
        bounds.search_radii(lambda i, t: t[:1], 3, 1.0, 1e-2)
    with pytest.raises(ValueError):
        bounds.search_radii(lambda i, t: t, 3, 0.0, 1e-2)
    assert [len(t) for t in bounds.search_radii(lambda i, t: t, 0, 1.0, 1e-2)] == [0, 0, 0]


def test_bad_inputs_raise():
    layers = mlp([3, 4, 2])
    x = torch.zeros(2, 3, dtype=F64)
    with pytest.raises(ValueError):
        bounds.interval_bounds(layers, x, -0.1, math.inf)
    with pytest.raises(ValueError):
        bounds.linear_bounds(layers, x, 0.1, 3)
    with pytest.raises(ValueError):
        bounds.linear_bounds(layers, x, 0.1, 2.0, "gelu")
    with pytest.raises(ValueError):
        bounds.linear_bounds(layers, x, 0.1, 2.0, intermediate="crown")
    with pytest.raises(ValueError):
        bounds.interval_bounds(layers, torch.zeros(2, 5, dtype=F64), 0.1, 2.0)
    with pytest.raises(ValueError):
        bounds.relaxation(torch.ones(2, dtype=F64), torch.zeros(2, dtype=F64), "relu")


# --- non-uniform budgets (Sec. 3.2) -----------------------------------------------------------


@pytest.mark.parametrize("p", [2.0, math.inf])
def test_per_feature_eps_matches_scalar_and_is_sound(p):
    layers = mlp([3, 8, 8, 3], seed=9)
    x = torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(4))
    for method in (bounds.interval_bounds, bounds.linear_bounds):
        scalar = method(layers, x, 0.2, p)
        per_feature = method(layers, x, torch.full_like(x, 0.2), p)
        assert torch.allclose(scalar.lower, per_feature.lower, rtol=1e-13, atol=1e-13)
        eps = torch.tensor([0.05, 0.3, 0.1], dtype=F64).expand(3, 3)
        lo, hi = method(layers, x, eps, p)
        v = ball_samples(5000, 3, 1.0, p, torch.Generator().manual_seed(5))
        for i in range(3):
            out = bounds.forward(layers, x[i] + v * eps[i])
            assert bool((lo[i] <= out + 1e-10).all() and (out <= hi[i] + 1e-10).all())
    with pytest.raises(ValueError):
        bounds.linear_bounds(layers, x, torch.ones(3, 2, dtype=F64), p)


def test_nonuniform_radii_are_certified_and_not_smaller_than_uniform():
    layers = mlp([2, 6, 6, 3], seed=6)
    x = torch.rand(3, 2, generator=torch.Generator().manual_seed(3), dtype=F64) * 2 - 1
    y = bounds.forward(layers, x).argmax(1)
    u = bounds.uniform_radius(layers, x, y, math.inf)
    nu = bounds.nonuniform_radii(layers, x, y, math.inf, steps=60)
    spec = bounds.margin_spec(y, 3)
    low = bounds.linear_bounds(layers, x, nu, math.inf, spec=spec).lower
    assert bool((low.masked_fill(torch.nn.functional.one_hot(y, 3).bool(), 1.0) >= 0).all())
    assert bool((torch.log(nu).mean(1) >= torch.log(u) - 1e-12).all())
    # the uniform radius is tight for the bisection: 1% more fails
    worse = bounds.linear_bounds(layers, x, 1.01 * u, math.inf, spec=spec).lower
    assert bool((worse.masked_fill(torch.nn.functional.one_hot(y, 3).bool(), 1.0)
                 .min(1).values < 0).all())
