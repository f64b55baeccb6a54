"""Unit tests for advproof.attacks: closed forms on linear models, projection invariants, the
per-sample (summed-loss) semantics, argument validation, and negative controls."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from advproof import attacks, models
from advproof.attacks import Ball

F64 = torch.float64
INF = math.inf


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=F64)


def linear_binary(d: int = 5, seed: int = 0) -> torch.nn.Linear:
    """z = w^T x + b, a single-output linear model."""
    return reinit(torch.nn.Linear(d, 1).double(), seed)


def reinit(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    return models.reinit_(model, gen(seed))


def binary_data(n: int = 6, d: int = 5, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x = randn(n, d, seed=seed)
    y = torch.tensor([1.0, -1.0] * (n // 2), dtype=F64)
    return x, y


def tanh_mlp(seed: int = 0) -> models.MLP:
    return models.MLP(4, [6], 3, activation="tanh", generator=gen(seed)).double()


def multiclass_data(n: int = 5, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return randn(n, 4, seed=seed), torch.arange(n) % 3


# --- closed forms on a linear model --------------------------------------------------------


def ascent_direction(model: torch.nn.Linear, y: torch.Tensor) -> torch.Tensor:
    """-y w: the input gradient of softplus(-y z) is -y sigmoid(-y z) w, a positive multiple."""
    return -y[:, None] * model.weight[0].detach()[None, :]


def best_loss(model: torch.nn.Linear, x, y, ball: Ball) -> torch.Tensor:
    """max_{||d||_p <= eps} softplus(-y (w^T (x + d) + b)) = softplus(-y z + eps ||w||_q)."""
    w_q = torch.linalg.vector_norm(model.weight[0].detach(), ord=ball.dual_exponent)
    return F.softplus(-y * model(x).detach()[:, 0] + ball.eps * w_q)


def assert_attack_optimal(model, x, y, delta, ball: Ball) -> None:
    """Attack quality on a linear model: delta is feasible and attains the maximal loss."""
    assert bool((ball.norm(delta) <= ball.eps * (1 + 1e-9)).all())
    reached = attacks.loss_fn("bce")(model(x + delta), y)
    torch.testing.assert_close(reached, best_loss(model, x, y, ball), rtol=1e-12, atol=1e-12)


def test_fgsm_on_linear_model_is_eps_times_sign_exactly():
    model, (x, y) = linear_binary(), binary_data()
    delta = attacks.fgsm(model, x, y, 0.25, loss="bce")
    assert torch.equal(delta, 0.25 * torch.sign(ascent_direction(model, y)))
    assert_attack_optimal(model, x, y, delta, Ball(INF, 0.25))


def test_fgm_on_linear_model_is_eps_times_unit_gradient():
    model, (x, y) = linear_binary(), binary_data()
    delta = attacks.fgm(model, x, y, 0.3, loss="bce")
    direction = ascent_direction(model, y)
    expected = 0.3 * direction / direction.norm(dim=1, keepdim=True)
    torch.testing.assert_close(delta, expected, rtol=1e-14, atol=1e-15)
    assert_attack_optimal(model, x, y, delta, Ball(2, 0.3))


@pytest.mark.parametrize("p", [2, INF])
def test_pgd_on_linear_model_ends_at_the_lp_optimum(p):
    model, (x, y) = linear_binary(), binary_data()
    delta = attacks.pgd(model, x, y, eps=0.4, alpha=0.1, steps=7, p=p, loss="bce")
    assert_attack_optimal(model, x, y, delta, Ball(p, 0.4))
    # With a random start it converges to the same optimum.
    started = attacks.pgd(model, x, y, eps=0.4, alpha=0.4, steps=60, p=p, loss="bce",
                          random_start=True, generator=gen(3))
    assert_attack_optimal(model, x, y, started, Ball(p, 0.4))


def test_negative_control_no_op_and_weak_attacks_fail_the_quality_check():
    model, (x, y) = linear_binary(), binary_data()
    ball = Ball(2, 0.4)
    with pytest.raises(AssertionError):
        assert_attack_optimal(model, x, y, torch.zeros_like(x), ball)  # a no-op attack
    with pytest.raises(AssertionError):  # half the budget
        assert_attack_optimal(model, x, y, attacks.fgm(model, x, y, 0.2, loss="bce"), ball)
    with pytest.raises(AssertionError):  # wrong direction (descent instead of ascent)
        assert_attack_optimal(model, x, y, -attacks.fgm(model, x, y, 0.4, loss="bce"), ball)


# --- the threat model ----------------------------------------------------------------------


@pytest.mark.parametrize("p", [2, INF])
def test_projection_invariants(p):
    x = torch.rand(8, 3, 4, generator=gen(1), dtype=F64)  # in the box [0, 1]
    delta = 2 * randn(8, 3, 4, seed=2)
    eps = torch.linspace(0.05, 0.8, 8, dtype=F64)
    for ball in (Ball(p, 0.3), Ball(p, eps), Ball(p, 0.3, 0.0, 1.0)):
        proj = ball.project(delta, x)
        assert bool((ball.norm(proj) <= ball.eps * (1 + 1e-12)).all())
        torch.testing.assert_close(ball.project(proj, x), proj, rtol=1e-14, atol=1e-15)
        inside = 0.01 * proj
        if ball.lo is None:
            torch.testing.assert_close(ball.project(inside, x), inside, rtol=0, atol=0)
        else:
            assert bool(((x + proj >= 0) & (x + proj <= 1)).all())
    assert not bool((Ball(p, 0.3).norm(delta) <= 0.3).all())  # the projection had work to do


def test_one_sided_box():
    x, delta = torch.rand(4, 6, generator=gen(1), dtype=F64), randn(4, 6, seed=2)
    low = Ball(INF, 0.5, lo=0.0).project(delta, x)
    high = Ball(INF, 0.5, hi=1.0).project(delta, x)
    assert bool((x + low >= 0).all()) and bool((x + low < 0.0 + 1e-15).any())
    assert bool((x + high <= 1).all()) and bool((x + high < 0).any())  # no lower bound applied


def test_linf_projection_is_the_clamp_and_l2_projection_rescales():
    x, delta = randn(4, 6, seed=1), randn(4, 6, seed=2)
    torch.testing.assert_close(Ball(INF, 0.5).project(delta, x), delta.clamp(-0.5, 0.5))
    proj = Ball(2, 0.5).project(delta, x)
    cosine = F.cosine_similarity(proj, delta, dim=1)
    torch.testing.assert_close(cosine, torch.ones(4, dtype=F64), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(proj.norm(dim=1), torch.full((4,), 0.5, dtype=F64))


@pytest.mark.parametrize("p", [2, INF])
def test_ball_sample_is_inside_reproducible_and_spread(p):
    x = torch.rand(200, 5, generator=gen(1), dtype=F64)
    ball = Ball(p, 0.2, 0.0, 1.0)
    a, b, c = ball.sample(x, gen(5)), ball.sample(x, gen(5)), ball.sample(x, gen(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == F64
    assert bool((ball.norm(a) <= 0.2 * (1 + 1e-12)).all())
    assert bool(((x + a >= 0) & (x + a <= 1)).all())
    free = Ball(p, 0.2).sample(x, gen(5))
    assert 0.05 < float(Ball(p, 0.2).norm(free).mean()) < 0.2  # neither 0 nor all on the sphere


def test_ball_dual_exponent_and_validation():
    assert Ball(2, 0.1).dual_exponent == 2.0
    assert Ball(INF, 0.1).dual_exponent == 1.0
    for bad in (dict(p=1, eps=0.1), dict(p=2, eps=-0.1), dict(p=2, eps=float("nan")),
                dict(p=2, eps=torch.tensor([0.1, -1.0])), dict(p=2, eps="0.1")):
        with pytest.raises(ValueError):
            Ball(**bad)


# --- per-sample semantics ------------------------------------------------------------------


def hand_raw_ascent(model, x_i, y_i, alpha, steps):
    """delta_{t+1} = delta_t + alpha * grad_x L(f(x + delta_t), y), one sample, by hand."""
    path, delta = [torch.zeros_like(x_i)], torch.zeros_like(x_i)
    for _ in range(steps):
        v = (x_i + delta).requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(v[None]), y_i[None]), v)
        delta = delta + alpha * g
        path.append(delta)
    return torch.stack(path)


def test_raw_ascent_equals_the_hand_written_recursion_per_sample():
    model, (x, y) = tanh_mlp(), multiclass_data()
    out = attacks.raw_ascent(model, x, y, alpha=0.7, steps=6, return_path=True)
    assert isinstance(out, attacks.Attack) and out.path.shape == (7, 5, 4)
    assert torch.equal(out.path[-1], out.delta)
    for i in range(5):
        torch.testing.assert_close(out.path[:, i], hand_raw_ascent(model, x[i], y[i], 0.7, 6),
                                   rtol=1e-12, atol=1e-14)
    assert float(out.delta.norm()) > 0.1  # the attack moved


@pytest.mark.parametrize("kw", [dict(step="raw"), dict(step="l2", eps=0.5),
                                dict(step="linf", eps=0.3), dict(step="l2")])
def test_a_samples_trajectory_is_the_same_alone_or_in_a_batch(kw):
    model, (x, y) = tanh_mlp(), multiclass_data(n=9)
    batch = attacks.perturb(model, x, y, alpha=0.2, steps=5, return_path=True, **kw).path
    for i in (0, 4):
        alone = attacks.perturb(model, x[i:i + 1], y[i:i + 1], alpha=0.2, steps=5,
                                return_path=True, **kw).path
        torch.testing.assert_close(batch[:, i:i + 1], alone, rtol=1e-13, atol=1e-15)


def test_per_sample_alpha_and_eps_tensors():
    model, (x, y) = tanh_mlp(), multiclass_data(n=3)
    alpha = torch.tensor([0.05, 0.2, 0.6], dtype=F64)
    eps = torch.tensor([0.1, 0.3, 0.0], dtype=F64)
    raw = attacks.raw_ascent(model, x, y, alpha=alpha, steps=3)
    proj = attacks.pgd(model, x, y, eps=eps, alpha=alpha, steps=3, p=2)
    for i in range(3):
        sl = slice(i, i + 1)
        torch.testing.assert_close(raw[sl], attacks.raw_ascent(model, x[sl], y[sl],
                                   alpha=float(alpha[i]), steps=3), rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(proj[sl], attacks.pgd(model, x[sl], y[sl], eps=float(eps[i]),
                                   alpha=float(alpha[i]), steps=3, p=2), rtol=1e-13, atol=1e-15)
    assert bool((proj.norm(dim=1) <= eps * (1 + 1e-12)).all())
    assert float(proj[2].abs().max()) == 0.0


def test_image_batches_broadcast_per_sample_eps():
    model = models.SmallCNN(generator=gen()).double()
    x = torch.rand(3, 1, 8, 8, generator=gen(1), dtype=F64)
    y = torch.tensor([0, 3, 7])
    eps = torch.tensor([0.01, 0.05, 0.1], dtype=F64)
    delta = attacks.pgd(model, x, y, eps=eps, alpha=eps / 2, steps=3, clip=(0.0, 1.0),
                        random_start=True, generator=gen(2))
    assert delta.shape == x.shape
    assert bool((delta.flatten(1).abs().amax(dim=1) <= eps * (1 + 1e-12)).all())
    assert float(delta[2].abs().max()) > 0.05  # the largest budget is used, not ignored
    assert bool(((x + delta >= 0) & (x + delta <= 1)).all())


# --- contracts: inputs, mode, dtypes, randomness, post-conditions ------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_attack_leaves_x_model_mode_and_param_grads_alone(training):
    model, (x, y) = tanh_mlp(), multiclass_data()
    model.train(training)
    x_before = x.clone()
    delta = attacks.pgd(model, x, y, eps=0.3, alpha=0.1, steps=3, random_start=True,
                        generator=gen(1))
    assert torch.equal(x, x_before) and not x.requires_grad
    assert model.training is training
    assert all(p.grad is None for p in model.parameters())
    assert not delta.requires_grad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_delta_keeps_the_dtype_of_x(dtype):
    model = tanh_mlp().to(dtype)
    x, y = multiclass_data()
    delta = attacks.fgsm(model, x.to(dtype), y, 0.1)
    assert delta.dtype == dtype


def test_randomness_comes_only_from_the_generator():
    model, (x, y) = tanh_mlp(), multiclass_data()
    state = torch.random.get_rng_state()
    a = attacks.pgd(model, x, y, eps=0.3, alpha=0.1, steps=2, random_start=True, generator=gen(4))
    b = attacks.pgd(model, x, y, eps=0.3, alpha=0.1, steps=2, random_start=True, generator=gen(4))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, b)


def test_zero_steps_and_inside_no_grad():
    model, (x, y) = tanh_mlp(), multiclass_data()
    out = attacks.perturb(model, x, y, step="l2", alpha=0.1, steps=0, return_path=True)
    assert out.path.shape == (1, 5, 4) and not out.delta.any()
    with torch.no_grad():
        delta = attacks.fgm(model, x, y, 0.2)
    torch.testing.assert_close(delta.norm(dim=1), torch.full((5,), 0.2, dtype=F64))


def test_clip_box_without_a_ball():
    model, (x, y) = tanh_mlp(), multiclass_data()
    x = 0.2 + 0.6 * torch.sigmoid(x)
    delta = attacks.perturb(model, x, y, step="raw", alpha=5.0, steps=4, clip=(0.2, 0.8))
    assert bool(((x + delta >= 0.2 - 1e-15) & (x + delta <= 0.8 + 1e-15)).all())
    assert float(delta.abs().max()) > 0.1


@pytest.mark.parametrize(
    "kw",
    [
        dict(step="l3", alpha=0.1, steps=1),
        dict(step="l2", alpha=0.1, steps=1, loss="hinge"),
        dict(step="l2", alpha=-0.1, steps=1),
        dict(step="l2", alpha=float("inf"), steps=1),
        dict(step="l2", alpha=torch.ones(4, dtype=F64), steps=1),
        dict(step="l2", alpha=torch.tensor([0.1, 0.1, -0.1, 0.1, 0.1]), steps=1),
        dict(step="l2", alpha=0.1, steps=1.5),
        dict(step="l2", alpha=0.1, steps=-1),
        dict(step="l2", alpha=0.1, steps=1, eps=-0.5),
        dict(step="l2", alpha=0.1, steps=1, eps=0.5, p=1),
        dict(step="l2", alpha=0.1, steps=1, p=2),
        dict(step="l2", alpha=0.1, steps=1, random_start=True),
        dict(step="l2", alpha=0.1, steps=1, clip=(0.0,)),
        dict(step="l2", alpha=0.1, steps=1, clip=(0.0, 0.5)),
    ],
)
def test_bad_arguments_raise_value_error(kw):
    model, (x, y) = tanh_mlp(), multiclass_data()
    with pytest.raises(ValueError):
        attacks.perturb(model, x, y, **kw)


def test_bad_wrapper_and_label_arguments_raise():
    model, (x, y) = tanh_mlp(), multiclass_data()
    with pytest.raises(ValueError, match="p must be one of"):
        attacks.pgd(model, x, y, eps=0.1, alpha=0.1, steps=1, p=1)
    with pytest.raises(ValueError, match="integer class labels"):
        attacks.fgsm(model, x, y.double(), 0.1)
    lin, (xb, yb) = linear_binary(), binary_data()
    with pytest.raises(ValueError, match="-1, \\+1"):
        attacks.fgsm(lin, xb, (yb > 0).double(), 0.1, loss="bce")
    with pytest.raises(ValueError, match="single-output"):
        attacks.fgsm(model, x, torch.ones(5, dtype=F64), 0.1, loss="exp")


def test_postconditions_raise():
    nan_model = lambda v: tanh_mlp()(v) * float("nan")  # noqa: E731
    x, y = multiclass_data()
    with pytest.raises(attacks.AttackPostconditionError, match="finite"):
        attacks.raw_ascent(nan_model, x, y, alpha=0.1, steps=1)
    with pytest.raises(attacks.AttackPostconditionError, match="finite"):  # inside a ball too
        attacks.pgd(nan_model, x, y, eps=0.1, alpha=0.05, steps=2)
    one_nan = torch.zeros_like(x)
    one_nan[2, 1] = float("nan")
    for p in (INF, 2.0):
        with pytest.raises(attacks.AttackPostconditionError, match="finite"):
            attacks._check_postconditions(one_nan, x, Ball(p, 0.1), None)
    delta = torch.full_like(x, 0.5)
    with pytest.raises(attacks.AttackPostconditionError, match="exceeds eps"):
        attacks._check_postconditions(delta, x, Ball(INF, 0.1), None)
    with pytest.raises(attacks.AttackPostconditionError, match="clip box"):
        attacks._check_postconditions(delta, torch.zeros_like(x), None, (0.0, 0.4))
    attacks._check_postconditions(delta, torch.zeros_like(x), Ball(INF, 0.5), (0.0, 0.5))


def test_box_keeps_inside_coordinates_exact_and_clamps_the_rest():
    x = torch.tensor([[0.1, 0.5, 0.9, 0.3]], dtype=F64)
    delta = torch.tensor([[0.2, -0.7, 0.3, 1e-17]], dtype=F64)
    boxed = attacks._box(delta, x, 0.0, 1.0)
    assert torch.equal(boxed[0, [0, 3]], delta[0, [0, 3]])  # inside: the same bits
    assert torch.equal(x + boxed, torch.tensor([[0.1 + 0.2, 0.0, 1.0, 0.3 + 1e-17]], dtype=F64))
    assert torch.equal(attacks._box(delta, x, None, None), delta)


def test_named_warnings_for_pitfalls():
    x, y = multiclass_data()
    softmaxed = lambda v: torch.softmax(tanh_mlp()(v), dim=1)  # noqa: E731
    with pytest.warns(attacks.ProbabilitiesAsLogitsWarning):
        attacks.fgsm(softmaxed, x, y, 0.1)
    dead = tanh_mlp()
    torch.nn.init.zeros_(dead.linears[0].weight)
    with pytest.warns(attacks.ZeroInputGradientWarning, match="5 of 5"):
        delta = attacks.input_grad(dead, x, y)
    assert not delta.any()


# --- losses and input gradients --------------------------------------------------------------


def test_loss_functions_match_their_formulas():
    z, y = randn(4, 3, seed=1), torch.tensor([0, 2, 1, 2])
    z_y = z[torch.arange(4), y]
    torch.testing.assert_close(attacks.loss_fn("ce")(z, y), torch.logsumexp(z, 1) - z_y)
    torch.testing.assert_close(attacks.loss_fn("mse")(z, y),
                               0.5 * ((z - F.one_hot(y, 3)) ** 2).sum(1))
    others = torch.stack([torch.cat([z[i, :y[i]], z[i, y[i] + 1:]]).max() for i in range(4)])
    torch.testing.assert_close(attacks.loss_fn("margin")(z, y), others - z_y)
    s, t = randn(4, 1, seed=2), torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=F64)
    torch.testing.assert_close(attacks.loss_fn("exp")(s, t), torch.exp(-t * s[:, 0]))
    torch.testing.assert_close(attacks.loss_fn("bce")(s, t),
                               F.binary_cross_entropy_with_logits(s[:, 0], (t + 1) / 2,
                                                                  reduction="none"))
    torch.testing.assert_close(attacks.loss_fn("mse")(s, t), 0.5 * (s[:, 0] - t) ** 2)
    torch.testing.assert_close(attacks.loss_fn("margin")(s[:, 0], t), -t * s[:, 0])
    with pytest.raises(ValueError, match="loss must be one of"):
        attacks.loss_fn("hinge")


def test_input_grad_is_per_sample():
    model, (x, y) = tanh_mlp(), multiclass_data()
    g = attacks.input_grad(model, x, y)
    for i in range(5):
        xi = x[i].clone().requires_grad_(True)
        (gi,) = torch.autograd.grad(F.cross_entropy(model(xi[None]), y[i:i + 1]), xi)
        torch.testing.assert_close(g[i], gi, rtol=1e-13, atol=1e-15)
