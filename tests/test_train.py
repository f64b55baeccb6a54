"""Unit tests for advproof.train: schedules (breakpoints, monotonicity, periodicity, PAS hitting
times), deterministic (adversarial) training, attack mode, logging and progress bars."""

from __future__ import annotations

import math

import pytest
import torch

from advproof import attacks, models, train

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def blobs(n: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three well-separated Gaussian blobs in 2-D: a linearly separable 3-class set."""
    y = torch.arange(n) % 3
    centers = torch.tensor([[3.0, 0.0], [-1.5, 2.6], [-1.5, -2.6]], dtype=F64)
    return centers[y] + 0.4 * torch.randn(n, 2, generator=gen(seed), dtype=F64), y


def tiny_mlp(seed: int = 0) -> models.MLP:
    return models.MLP(2, [16], 3, generator=gen(seed)).double()


# --- schedules ---------------------------------------------------------------------------------


def test_constant_linear_cosine_values_at_breakpoints():
    assert train.constant(0.3)(0.0) == train.constant(0.3)(17.5) == 0.3
    lin, cos = train.linear(2, 6, 0.0, 0.4), train.cosine(2, 6, 0.0, 0.4)
    for s in (lin, cos):
        assert s(0) == s(2) == 0.0
        assert s(6) == s(10) == pytest.approx(0.4, abs=1e-15)
        assert s(4) == pytest.approx(0.2, abs=1e-15)  # midpoint of both
    assert lin(3) == pytest.approx(0.1) and cos(3) == pytest.approx(0.2 * (1 - math.sqrt(0.5)))
    ts = [0.1 * k for k in range(80)]
    for s in (lin, cos):
        values = [s(t) for t in ts]
        assert values == sorted(values)  # monotone non-decreasing
    assert train.linear(0, 1, 1.0, 0.0)(0.5) == 0.5  # decreasing schedules work too


@pytest.mark.parametrize("shape", ["cosine", "linear", "step"])
def test_periodic_depends_only_on_t_mod_period(shape):
    s = train.periodic(10, 0.5, shape, v_min=0.1)
    for t in (0.0, 2.5, 5.0, 7.25, 9.9):
        assert s(t) == pytest.approx(s(t + 10)) == pytest.approx(s(t + 30))
    assert s(0) == pytest.approx(0.1) and s(10) == pytest.approx(0.1)  # reset at each period
    assert s(9.999) == pytest.approx(0.5, abs=2e-3)
    values = [s(0.1 * k) for k in range(100)]
    assert values == sorted(values)  # rising inside a period


def test_periodic_shapes():
    assert train.periodic(4, 1.0, "linear")(1) == 0.25
    assert train.periodic(4, 1.0, "cosine")(2) == pytest.approx(0.5)
    step = train.periodic(4, 1.0, "step", v_min=0.2)
    assert (step(1.99), step(2.0), step(3.9)) == (0.2, 1.0, 1.0)


def first_epoch_reaching(schedule, target: float, horizon: int = 200) -> int:
    return next(d for d in range(horizon) if schedule(d) >= target - 1e-12)


def test_pas_hitting_times_of_liu_et_al():
    """004 eq. 5 with clip to the target: MNIST cosine (max 0.6) hits 0.4 at epoch 61,
    linear (max 0.8) at epoch 50 (seed-liu-landscape.md §4)."""
    cos = train.periodic(100, 0.6, "cosine", v_target=0.4)
    lin = train.periodic(100, 0.8, "linear", v_target=0.4)
    assert first_epoch_reaching(cos, 0.4) == 61
    assert first_epoch_reaching(lin, 0.4) == 50
    assert max(cos(d) for d in range(100)) == 0.4  # clipped, never above the target
    # Control: without the clip the same schedule overshoots the target.
    assert train.periodic(100, 0.6, "cosine")(90) > 0.4


@pytest.mark.parametrize(
    "build",
    [
        lambda: train.constant(float("nan")),
        lambda: train.linear(1, 1, 0, 1),
        lambda: train.cosine(2, 1, 0, 1),
        lambda: train.linear(0, "1", 0, 1),
        lambda: train.periodic(0, 1.0),
        lambda: train.periodic(10, 0.1, v_min=0.2),
        lambda: train.periodic(10, 1.0, "sawtooth"),
        lambda: train.periodic(10, 1.0, v_target=-0.1),
        lambda: train.periodic(10, 1.0, v_target=math.inf),
    ],
)
def test_schedule_arguments_are_validated(build):
    with pytest.raises(ValueError):
        build()


# --- training ------------------------------------------------------------------------------------


def test_training_reaches_high_accuracy_deterministically():
    X, y = blobs()
    runs = [train.train(tiny_mlp(), X, y, num_epochs=4, lr=0.1, batch_size=16, seed=3,
                        progress=False) for _ in range(2)]
    hist = runs[0].history
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3]
    assert hist[-1]["acc"] >= 0.95 and hist[-1]["loss"] < hist[0]["loss"]
    assert runs[0].history == runs[1].history  # same seed, same history, bit for bit
    other = train.train(tiny_mlp(), X, y, num_epochs=4, lr=0.1, batch_size=16, seed=4,
                        progress=False)
    assert other.history != runs[0].history  # the seed does drive the shuffling
    assert runs[0].instance_losses is None


def test_training_does_not_touch_the_global_rng_and_restores_mode():
    X, y = blobs(30)
    model = tiny_mlp().eval()
    state = torch.random.get_rng_state()
    train.train(model, X, y, num_epochs=1, lr=0.1, batch_size=8, attack="pgd",
                attack_kwargs=dict(steps=2, random_start=True), eps_schedule=0.1, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not model.training


def test_fgsm_adversarial_training_runs_and_logs_eps():
    X, y = blobs(60)
    sched = train.linear(0, 2, 0.0, 0.4)
    res = train.train(tiny_mlp(), X, y, num_epochs=3, lr=0.1, batch_size=20, attack="fgsm",
                      eps_schedule=sched, progress=False)
    assert [h["eps"] for h in res.history] == [sched(0), sched(1), sched(2)]
    clean = train.train(tiny_mlp(), X, y, num_epochs=3, lr=0.1, batch_size=20, progress=False)
    assert res.history[0] == clean.history[0]  # eps = 0 at epoch 0: no attack, same step
    assert res.history[2]["loss"] > clean.history[2]["loss"]  # attacked batches cost more


def test_batch_schedule_update_uses_a_fractional_epoch():
    X, y = blobs(60)
    seen: list[float] = []

    def spy(model, xb, yb, eps):
        seen.append(eps)
        return torch.zeros_like(xb)

    sched = train.linear(0, 2, 0.0, 0.6)
    res = train.train(tiny_mlp(), X, y, num_epochs=2, lr=0.1, batch_size=20, attack=spy,
                      eps_schedule=sched, schedule_update="batch", progress=False)
    expected = [sched(e + i / 3) for e in range(2) for i in range(3)]
    assert seen == pytest.approx(expected[1:])  # eps(0) = 0: the first batch is not attacked
    assert res.history[1]["eps"] == pytest.approx(sum(expected[3:]) / 3)


@pytest.mark.parametrize("attack_mode", ["eval", "train"])
def test_attack_runs_in_the_requested_mode(attack_mode):
    X, y = blobs(30)
    modes: list[bool] = []

    def spy(model, xb, yb, eps):
        modes.append(model.training)
        return attacks.fgsm(model, xb, yb, eps)

    model = tiny_mlp()
    train.train(model, X, y, num_epochs=1, lr=0.1, batch_size=10, attack=spy, eps_schedule=0.1,
                attack_mode=attack_mode, progress=False)
    assert modes == [attack_mode == "train"] * 3
    assert model.training  # the initial (train) mode is restored


def test_instance_losses_are_logged_per_epoch_and_sample():
    X, y = blobs(40)
    res = train.train(tiny_mlp(), X, y, num_epochs=3, lr=0.05, batch_size=16, optimizer="adam",
                      attack="pgd", attack_kwargs=dict(steps=2, p=2, rel_alpha=0.5),
                      eps_schedule=0.2, log_instances=True, progress=False)
    assert res.instance_losses.shape == (3, 40)
    assert bool((res.instance_losses > 0).all())
    for e in range(3):
        assert float(res.instance_losses[e].mean()) == pytest.approx(res.history[e]["loss"])


def test_binary_training_with_single_output():
    X, y3 = blobs(60)
    y = torch.where(y3 == 0, 1.0, -1.0).to(F64)
    model = models.MLP(2, [8], 1, generator=gen()).double()
    res = train.train(model, X, y, num_epochs=3, lr=0.1, batch_size=10, loss="bce",
                      progress=False)
    assert res.history[-1]["acc"] >= 0.95


@pytest.mark.parametrize(
    "kw",
    [
        dict(num_epochs=0),
        dict(batch_size=0),
        dict(lr=-0.1),
        dict(schedule_update="step"),
        dict(attack_mode="test"),
        dict(optimizer="lbfgs"),
        dict(loss="hinge"),
        dict(attack="cw"),
        dict(attack=3),
        dict(attack="pgd"),
        dict(attack=None, attack_kwargs=dict(steps=3)),
        dict(eps_schedule=lambda t: -0.1),
    ],
)
def test_train_arguments_are_validated(kw):
    X, y = blobs(12)
    args = dict(num_epochs=1, lr=0.1, batch_size=4, progress=False, attack="fgsm") | kw
    with pytest.raises(ValueError):
        train.train(tiny_mlp(), X, y, **args)


@pytest.mark.parametrize(("progress", "expected"), [(None, {}), (False, {"disable": True}),
                                                    (True, {"disable": False})])
def test_progress_passes_disable_only_when_told(monkeypatch, progress, expected):
    calls: list[dict] = []
    real = train.tqdm

    def recording(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **(kwargs | {"disable": True}))

    monkeypatch.setattr(train, "tqdm", recording)
    X, y = blobs(12)
    train.train(tiny_mlp(), X, y, num_epochs=1, lr=0.1, batch_size=4, progress=progress)
    assert {k: v for k, v in calls[0].items() if k == "disable"} == expected
    assert calls[0]["total"] == 12


def test_progress_bar_goes_to_stderr(capsys):
    X, y = blobs(12)
    train.train(tiny_mlp(), X, y, num_epochs=1, lr=0.1, batch_size=4, progress=True)
    out = capsys.readouterr()
    assert "12/12" in out.err and out.out == ""
    train.train(tiny_mlp(), X, y, num_epochs=1, lr=0.1, batch_size=4, progress=False)
    assert capsys.readouterr().err == ""


# --- PAS: Liu et al. 004 eq. 5, Sec. 5, App. C.1 ------------------------------------------------


def hitting_epochs(schedule, target: float, horizon: int = 200) -> list[int]:
    """Epochs d at which eps(d) reaches the target while eps(d - 1) had not (integer epochs)."""
    hits, before = [], False
    for d in range(horizon):
        now = schedule(d) >= target - 1e-12
        if now and not before:
            hits.append(d)
        before = now
    return hits


def test_pas_mnist_hitting_times():
    """One period of 100 epochs, eps_min = 0, target 0.4: cosine (max 0.6) at epoch 61
    (arccos(-1/3)/pi = 0.608), linear (max 0.8) at epoch 50 (seed-liu-landscape.md §4)."""
    cos = train.pas((0, 100), 0.6, "cosine", v_target=0.4)
    lin = train.pas((0, 100), 0.8, "linear", v_target=0.4)
    assert hitting_epochs(cos, 0.4, 100) == [61]
    assert hitting_epochs(lin, 0.4, 100) == [50]
    assert cos(60) < 0.4 < train.pas((0, 100), 0.6, "cosine", v_target=1.0)(61)  # the clip bites


@pytest.mark.parametrize("shape", ["cosine", "linear"])
def test_pas_cifar_hitting_times(shape):
    """CIFAR-10, max 16/255, target 8/255: 100 without resets; 50, 125, 175 with resets after
    epochs 100 and 150 (the schedule scaled to each period)."""
    target = 8 / 255
    plain = train.pas((0, 200), 16 / 255, shape, v_target=target)
    periodic = train.pas((0, 100, 150, 200), 16 / 255, shape, v_target=target)
    assert hitting_epochs(plain, target) == [100]
    assert hitting_epochs(periodic, target) == [50, 125, 175]
    assert periodic(100) == periodic(150) == 0.0  # resets


def test_pas_cosine_values_of_the_notes():
    """Cosine values (x 255) at epochs 0, 10, 25, 40, 50 of the first CIFAR period."""
    s = train.pas((0, 100, 150, 200), 16 / 255, "cosine", v_target=8 / 255)
    got = [255 * s(d) for d in (0, 10, 25, 40, 50)]
    assert got == pytest.approx([0.0, 0.392, 2.343, 5.528, 8.0], abs=1e-3)


@pytest.mark.parametrize("shape", ["cosine", "linear"])
@pytest.mark.parametrize("boundaries", [(0, 100), (0, 200), (0, 100, 150, 200)])
def test_pas_values_stay_in_zero_target(shape, boundaries):
    for v_min in (0.0, -0.1):
        s = train.pas(boundaries, 0.6, shape, v_target=0.4, v_min=v_min)
        values = [s(0.25 * k) for k in range(-8, 4 * 210)]
        assert min(values) >= 0.0 and max(values) <= 0.4
        assert s(-5) == s(0) and s(10_000) == s(boundaries[-1])  # clamped outside the run


def test_pas_rises_within_each_period_and_resets():
    s = train.pas((0, 100, 150, 200), 1.0, "linear", v_target=1.0)
    for lo, hi in ((0, 100), (100, 150), (150, 200)):
        values = [s(t) for t in torch.linspace(lo, hi - 1e-6, 50, dtype=F64).tolist()]
        assert values == sorted(values) and values[0] == 0.0
    assert s(125) == pytest.approx(0.5) and s(50) == pytest.approx(0.5)


def test_period_position_and_per_period_lr_schedules():
    assert train.period_position((0, 100, 150, 200), 120) == (1, pytest.approx(0.4))
    assert train.period_position((0, 100, 150, 200), 200) == (2, 1.0)
    lr = train.per_period((0, 100, 150, 200), train.step_decay(0.1))
    assert [lr(t) for t in (0, 49, 50, 74, 75, 99, 100, 130, 137.5, 150)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.1, 0.01, 0.001, 0.1])
    vgg = train.per_period((0, 200), train.exp_decay(1e-3, 1e-4))
    assert vgg(99) == pytest.approx(1e-3) and vgg(150) == pytest.approx(1e-4)
    assert vgg(125) == pytest.approx(1e-3 * 0.1**0.5)  # geometric halfway


@pytest.mark.parametrize(
    "build",
    [
        lambda: train.pas((0,), 0.6, v_target=0.4),
        lambda: train.pas((0, 100, 50), 0.6, v_target=0.4),
        lambda: train.pas((0, 100), 0.6, "step", v_target=0.4),
        lambda: train.pas((0, 100), 0.2, v_target=0.4, v_min=0.3),
        lambda: train.pas((0, 100), 0.6, v_target=-0.4),
        lambda: train.step_decay(0.1, milestones=(1.5,)),
        lambda: train.exp_decay(1e-3, 0.0),
        lambda: train.Ensemble([]),
    ],
)
def test_pas_arguments_are_validated(build):
    with pytest.raises(ValueError):
        build()


def test_lr_schedule_and_callback_see_every_step():
    X, y = blobs(60)
    steps: list = []
    lr = train.per_period((0, 2, 4), train.step_decay(0.1, milestones=(0.5,)))
    eps = train.pas((0, 2, 4), 0.4, "linear", v_target=0.2)
    train.train(tiny_mlp(), X, y, num_epochs=4, lr=0.5, batch_size=20, attack="fgsm",
                eps_schedule=eps, lr_schedule=lr, callback=lambda m, s: steps.append(s),
                progress=False)
    assert len(steps) == 12 and [s.last_in_epoch for s in steps[:3]] == [False, False, True]
    assert [s.lr for s in steps[::3]] == pytest.approx([0.1, 0.01, 0.1, 0.01])
    assert [s.eps for s in steps[::3]] == pytest.approx([eps(e) for e in range(4)])
    assert all(0 <= s.correct <= s.size == 20 for s in steps)
    plain = train.train(tiny_mlp(), X, y, num_epochs=2, lr=0.1, batch_size=20, progress=False)
    same = train.train(tiny_mlp(), X, y, num_epochs=2, lr=0.1, batch_size=20, progress=False,
                       lr_schedule=train.constant(0.1), callback=lambda m, s: None)
    assert plain.history == same.history  # a constant schedule and a no-op callback change nothing
    with pytest.raises(ValueError):
        train.train(tiny_mlp(), X, y, num_epochs=1, lr=0.1, batch_size=20, progress=False,
                    lr_schedule=lambda t: 0.0)


def test_end_of_period_checkpoints_make_an_ensemble():
    X, y = blobs(60)
    ckpt = train.Checkpoints([1, 3])
    model = tiny_mlp()
    train.train(model, X, y, num_epochs=4, lr=0.1, batch_size=20, callback=ckpt, progress=False)
    assert len(ckpt.models) == 2 and all(not m.training for m in ckpt.models)
    assert ckpt.models[1] is not model
    assert torch.equal(ckpt.models[1](X), model.eval()(X))  # the last one is the final model
    ens = train.Ensemble(ckpt.models)
    p = torch.stack([torch.softmax(m(X), -1) for m in ckpt.models]).mean(0)
    assert torch.allclose(torch.softmax(ens(X), -1), p, atol=1e-12)
    delta = attacks.fgsm(ens, X, y, 0.1)  # the ensemble is attacked end to end
    assert delta.abs().max() <= 0.1 + 1e-12
