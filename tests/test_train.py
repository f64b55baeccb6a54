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
