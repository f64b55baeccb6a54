"""(Adversarial) training of small models, and epsilon schedules of a fractional epoch.

Schedules are pure functions ``t -> value`` of a float epoch ``t`` (Bag-of-Tricks' ``epoch_now``;
STYLE §10); ``train`` decides when to evaluate them (``schedule_update="epoch"|"batch"``) and
records it. Every adversarial example comes from ``advproof.attacks`` (one engine), in the model
mode the caller names (``attack_mode``): Liu et al.'s code attacks in eval mode, the
hard-instance code in train mode (notes/anchors-libs.md §1.1-§1.2).

Shapes: ``X: (N, *input_shape)``, ``y: (N,)``; ``instance_losses: (num_epochs, N)``.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn
from tqdm import tqdm  # not tqdm.auto: no ipywidgets warning in notebook outputs

from advproof import attacks

Schedule = Callable[[float], float]
AttackFn = Callable[[nn.Module, Tensor, Tensor, float], Tensor]
SHAPES: tuple[str, ...] = ("cosine", "linear", "step")


# --- schedules -----------------------------------------------------------------------------


def _check_finite(**values: float) -> None:
    """ValueError unless every named value is a finite real number."""
    for name, v in values.items():
        if not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")


def _ramp(t0: float, t1: float, t: float) -> float:
    """r = clip((t - t0) / (t1 - t0), 0, 1), the position of t inside [t0, t1]."""
    return min(max((t - t0) / (t1 - t0), 0.0), 1.0)


def constant(v: float) -> Schedule:
    """eps(t) = v for every t."""
    _check_finite(v=v)
    return lambda t: float(v)


def linear(t0: float, t1: float, v0: float, v1: float) -> Schedule:
    """v0 before t0, v1 after t1, linear in between (Liu et al. 004, eq. 5, linear branch)."""
    _check_finite(t0=t0, t1=t1, v0=v0, v1=v1)
    if not t1 > t0:
        raise ValueError(f"linear schedule needs t1 > t0, got t0={t0!r}, t1={t1!r}")
    return lambda t: v0 + (v1 - v0) * _ramp(t0, t1, t)


def cosine(t0: float, t1: float, v0: float, v1: float) -> Schedule:
    """v0 + (v1 - v0) (1 - cos(pi r)) / 2 with r the position in [t0, t1] (004, eq. 5)."""
    _check_finite(t0=t0, t1=t1, v0=v0, v1=v1)
    if not t1 > t0:
        raise ValueError(f"cosine schedule needs t1 > t0, got t0={t0!r}, t1={t1!r}")
    return lambda t: v0 + (v1 - v0) * (1 - math.cos(math.pi * _ramp(t0, t1, t))) / 2


def periodic(
    period: float,
    v_max: float,
    shape: Literal["cosine", "linear", "step"] = "cosine",
    v_min: float = 0.0,
    *,
    v_target: float | None = None,
) -> Schedule:
    """Periodic adversarial scheduling (PAS; Liu et al. 004, eq. 5; thesis eq. 4.29).

    With r = (t mod period) / period, the value rises from v_min towards v_max within each
    period: "cosine" v_min + (v_max - v_min)(1 - cos(pi r))/2, "linear" v_min + (v_max - v_min) r,
    "step" v_min on r < 1/2 and v_max after. ``v_target`` clips the result to [0, v_target] as
    the paper does (eps_max > eps_target: eps reaches the target, then stays there).
    """
    _check_finite(period=period, v_max=v_max, v_min=v_min)
    attacks._check_choice("shape", shape, SHAPES)
    if not period > 0 or v_max < v_min:
        raise ValueError(f"periodic needs period > 0 and v_max >= v_min, got period={period!r}, "
                         f"v_min={v_min!r}, v_max={v_max!r}")
    if v_target is not None:
        _check_finite(v_target=v_target)
        if v_target < 0:
            raise ValueError(f"v_target must be >= 0, got {v_target!r}")
    rise = {"cosine": lambda r: (1 - math.cos(math.pi * r)) / 2, "linear": lambda r: r,
            "step": lambda r: float(r >= 0.5)}[shape]

    def schedule(t: float) -> float:
        v = v_min + (v_max - v_min) * rise((t % period) / period)
        return v if v_target is None else min(max(v, 0.0), v_target)

    return schedule


# --- periodic adversarial scheduling (PAS): Liu et al. 004 eq. 5, Sec. 5, App. C.1 ----------


def _check_boundaries(boundaries: Sequence[float]) -> tuple[float, ...]:
    """Period boundaries ``b_0 < b_1 < ... < b_P`` as floats (ValueError otherwise)."""
    b = tuple(float(v) for v in boundaries)
    if len(b) < 2 or not all(math.isfinite(v) for v in b) or any(
            v1 <= v0 for v0, v1 in itertools.pairwise(b)):
        raise ValueError(f"boundaries must be >= 2 increasing finite numbers, got {boundaries!r}")
    return b


def period_position(boundaries: Sequence[float], t: float) -> tuple[int, float]:
    """``(i, r)``: the period ``[b_i, b_{i+1})`` holding t and ``r = (t - b_i)/(b_{i+1} - b_i)``.

    "The value of the learning rate and the adversarial budget are calculated based on the ratio
    of the current epoch index to the current period length" (004 Sec. 5): r is that ratio. Before
    ``b_0`` r is 0 (first period); from the last boundary on, r is 1 (end of the last period).
    """
    b = _check_boundaries(boundaries)
    if t >= b[-1]:
        return len(b) - 2, 1.0
    i = max(bisect.bisect_right(b, t) - 1, 0)
    return i, max((t - b[i]) / (b[i + 1] - b[i]), 0.0)


def per_period(boundaries: Sequence[float], shape: Callable[[float], float]) -> Schedule:
    """``t -> shape(r)``: one shape, "scaled proportionally" to each period (004 App. C.1).

    ``shape`` maps the position ``r`` in [0, 1] inside the current period to a value; at each
    boundary the schedule resets to ``shape(0)``. Used for eps (``pas``) and for the learning rate
    (``step_decay``, ``exp_decay``) of PAS with resets.
    """
    b = _check_boundaries(boundaries)
    return lambda t: float(shape(period_position(b, t)[1]))


def pas(
    boundaries: Sequence[float],
    v_max: float,
    shape: Literal["cosine", "linear"] = "cosine",
    *,
    v_target: float,
    v_min: float = 0.0,
) -> Schedule:
    """PAS eps schedule, 004 eq. 5 / 003 eq. 4.29, clipped to [0, v_target], reset per period.

    With ``r = d/D`` the position in the current period (D is the period's length):
    ``eps_cos = (1 - cos(pi r))/2 (v_max - v_min) + v_min`` and
    ``eps_lin = (v_max - v_min) r + v_min``, then ``clip(., 0, v_target)``. With
    ``v_min <= 0 < v_target < v_max`` eps starts at 0, reaches the target and stays there until
    the period ends. Paper values (App. C.1): ``v_min = 0``;
    MNIST ``v_max`` 0.6 (cosine) / 0.8 (linear), target 0.4, boundaries (0, 100); CIFAR-10
    ``v_max = 16/255``, target 8/255, boundaries (0, 200) or, with resets, (0, 100, 150, 200).
    """
    _check_finite(v_max=v_max, v_target=v_target, v_min=v_min)
    attacks._check_choice("shape", shape, ("cosine", "linear"))
    if v_target < 0 or v_max < v_min:
        raise ValueError(f"pas needs v_target >= 0 and v_max >= v_min, got v_target={v_target!r},"
                         f" v_min={v_min!r}, v_max={v_max!r}")
    rise = {"cosine": lambda r: (1 - math.cos(math.pi * r)) / 2, "linear": lambda r: r}[shape]
    return per_period(boundaries,
                      lambda r: min(max(v_min + (v_max - v_min) * rise(r), 0.0), v_target))


def step_decay(v0: float, *, milestones: Sequence[float] = (0.5, 0.75), factor: float = 0.1
               ) -> Callable[[float], float]:
    """A shape for ``per_period``: ``v0``, times ``factor`` after each milestone (fractions of r).

    The inferred per-period learning rate of ResNet18 in 004 (Fig. 6 is not in the text): 0.1
    for the first half of a period, 0.01 until 3/4, then 0.001 (``v0 = 0.1``, the defaults).
    """
    _check_finite(v0=v0, factor=factor)
    ms = tuple(float(m) for m in milestones)
    if any(not 0 < m < 1 for m in ms):
        raise ValueError(f"milestones must lie in (0, 1), got {milestones!r}")
    return lambda r: v0 * factor ** sum(r >= m for m in ms)


def exp_decay(v0: float, v1: float, *, start: float = 0.5, end: float = 0.75
              ) -> Callable[[float], float]:
    """A shape for ``per_period``: ``v0`` until ``start``, geometric to ``v1`` at ``end``, then v1.

    The inferred per-period Adam learning rate of VGG in 004 (1e-3 decayed exponentially to 1e-4
    between 1/2 and 3/4 of the period).
    """
    _check_finite(v0=v0, v1=v1, start=start, end=end)
    if not (v0 > 0 and v1 > 0 and 0 <= start < end <= 1):
        raise ValueError(f"exp_decay needs v0, v1 > 0 and 0 <= start < end <= 1, got "
                         f"{v0!r}, {v1!r}, {start!r}, {end!r}")
    return lambda r: v0 * (v1 / v0) ** _ramp(start, end, r)


class Ensemble(nn.Module):
    """The PAS ensemble of end-of-period checkpoints (004 Sec. 5): mean of the members' softmax.

    ``forward`` returns ``log(mean_m softmax(f_m(x)))``: log-probabilities, usable as logits
    (their softmax is the mean probability), so ``attacks`` and the cross-entropy attack the
    ensemble end to end. 004 states neither how the members are combined nor how the ensemble is
    attacked; this is the book's choice.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor) -> Tensor:
        """Log of the mean class probabilities, (N, C)."""
        logp = torch.stack([torch.log_softmax(m(x), dim=-1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))


class Step(NamedTuple):
    """What ``train`` passes to its callback after each optimizer step.

    ``epoch`` and ``batch`` (0-based), ``last_in_epoch``, the mean training ``loss`` and the number
    ``correct`` on the (attacked) batch before the step, its ``size``, and the ``eps`` and ``lr``
    used. The parameters' ``.grad`` still hold the step's stochastic gradient.
    """

    epoch: int
    batch: int
    last_in_epoch: bool
    loss: float
    correct: int
    size: int
    eps: float
    lr: float


class Checkpoints:
    """A ``train`` callback that keeps a copy of the model at the end of the given epochs.

    ``Checkpoints([99, 149, 199])`` stores the end-of-period models of PAS with resets after
    epochs 100 and 150 (004 Sec. 5); ``Ensemble(ckpt.models)`` is the periodic ensemble.
    """

    def __init__(self, epochs: Sequence[int]) -> None:
        self.epochs = frozenset(int(e) for e in epochs)
        self.models: list[nn.Module] = []

    def __call__(self, model: nn.Module, step: Step) -> None:
        if step.last_in_epoch and step.epoch in self.epochs:
            self.models.append(copy.deepcopy(model).eval())


# --- attacks for training --------------------------------------------------------------------


def make_attack(
    name: Literal["fgsm", "pgd"],
    *,
    loss: attacks.LossName = "ce",
    generator: torch.Generator | None = None,
    **kwargs,
) -> AttackFn:
    """An ``attack(model, xb, yb, eps) -> delta`` built on ``advproof.attacks``.

    "fgsm": ``attacks.fgsm`` (kwargs: ``clip``, ``random_start``). "pgd": ``attacks.pgd`` with
    ``steps`` (required) and step ``alpha = rel_alpha * eps``, so the step follows the scheduled
    eps as in Liu et al.'s code (default ``rel_alpha = 2.5 / steps``, Madry et al.'s rule);
    other kwargs: ``p``, ``random_start``, ``clip``.
    """
    attacks._check_choice("attack", name, ("fgsm", "pgd"))
    if name == "fgsm":
        return lambda model, xb, yb, eps: attacks.fgsm(model, xb, yb, eps, loss=loss,
                                                       generator=generator, **kwargs)
    if "steps" not in kwargs:
        raise ValueError(f"attack 'pgd' needs attack_kwargs['steps'], got {sorted(kwargs)}")
    if "alpha" in kwargs:
        raise ValueError("attack 'pgd' takes rel_alpha (the step as a fraction of the scheduled "
                         f"eps), not alpha: use rel_alpha={kwargs['alpha']!r} / eps")
    steps = kwargs.pop("steps")
    rel_alpha = kwargs.pop("rel_alpha", 2.5 / steps)
    return lambda model, xb, yb, eps: attacks.pgd(model, xb, yb, eps=eps, alpha=rel_alpha * eps,
                                                  steps=steps, loss=loss, generator=generator,
                                                  **kwargs)


def _attacked(model: nn.Module, xb: Tensor, yb: Tensor, eps: float, attack: AttackFn,
              attack_mode: str) -> Tensor:
    """xb + delta with delta from ``attack`` run in ``attack_mode``; the mode is restored."""
    was_training = model.training
    model.train(attack_mode == "train")
    try:
        delta = attack(model, xb, yb, eps)
    finally:
        model.train(was_training)
    return xb + delta


# --- training ------------------------------------------------------------------------------


class TrainResult(NamedTuple):
    """``history``: one dict per epoch {epoch, loss, acc, eps}; ``instance_losses``:
    (num_epochs, N) per-sample training losses, or None."""

    history: list[dict[str, float]]
    instance_losses: Tensor | None


def _correct(z: Tensor, y: Tensor) -> Tensor:
    """Per-sample correctness: sign(z) == y for a single output, argmax z == y otherwise."""
    if z.dim() == 1 or z.shape[1] == 1:
        return attacks._score(z) * y.to(z.dtype) > 0
    return z.argmax(dim=1) == y


def _optimizer(model: nn.Module, name: str, lr: float, momentum: float,
               weight_decay: float) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam over the model's parameters."""
    attacks._check_choice("optimizer", name, ("sgd", "adam"))
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                               weight_decay=weight_decay)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


def _resolve_attack(attack: None | str | AttackFn, attack_kwargs: dict | None, loss: str,
                    generator: torch.Generator) -> AttackFn | None:
    """The attack callable from ``train``'s (attack, attack_kwargs)."""
    if isinstance(attack, str):
        return make_attack(attack, loss=loss, generator=generator, **(attack_kwargs or {}))
    if attack_kwargs:
        raise ValueError(f"attack_kwargs={attack_kwargs!r} only apply to attack='fgsm'|'pgd', "
                         f"got attack={attack!r}")
    if attack is not None and not callable(attack):
        raise ValueError(f"attack must be None, 'fgsm', 'pgd' or a callable, got {attack!r}")
    return attack


def _check_train_args(num_epochs: int, lr: float, batch_size: int, schedule_update: str,
                      attack_mode: str, loss: str, y: Tensor) -> None:
    """ValueError for any invalid argument of ``train``, naming the offending value."""
    for name, v in (("num_epochs", num_epochs), ("batch_size", batch_size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite float > 0, got {lr!r}")
    attacks._check_choice("schedule_update", schedule_update, ("epoch", "batch"))
    attacks._check_choice("attack_mode", attack_mode, ("eval", "train"))
    attacks._check_choice("loss", loss, attacks.LOSSES)
    attacks._check_labels(loss, y)


def _progress_bar(total: int, progress: bool | None) -> tqdm:
    """A tqdm bar counted in samples; ``disable=`` is passed only when progress is a bool, so
    with None the environment decides (``TQDM_DISABLE=1`` silences it, STYLE §11)."""
    return tqdm(total=total, unit="sample", desc="train",
                **({} if progress is None else {"disable": not progress}))


class _Epoch(NamedTuple):
    """What one epoch returns: summed loss, number correct, summed eps, per-sample losses."""

    loss: Tensor
    correct: Tensor
    eps: float
    losses: Tensor


def _run_epoch(
    model: nn.Module, X: Tensor, y: Tensor, epoch: int, *, order: Tensor, batch_size: int,
    opt: torch.optim.Optimizer, lf: Callable[[Tensor, Tensor], Tensor], attack: AttackFn | None,
    attack_mode: str, eps_schedule: Schedule, schedule_update: str, bar: tqdm,
    lr_schedule: Schedule | None = None, callback: Callable[[nn.Module, Step], None] | None = None,
) -> _Epoch:
    """One pass over X in the order ``order``: attack (if eps > 0), then one step per batch."""
    n_batches = math.ceil(len(order) / batch_size)
    losses = X.new_zeros(len(order))
    correct, eps_sum = X.new_zeros((), dtype=torch.long), 0.0
    for i in range(n_batches):
        idx = order[i * batch_size:(i + 1) * batch_size]
        xb, yb = X[idx], y[idx]
        t = epoch + i / n_batches if schedule_update == "batch" else epoch
        eps = float(eps_schedule(t))
        if not eps >= 0:
            raise ValueError(f"eps_schedule returned {eps!r} at epoch {epoch}, batch {i}")
        if lr_schedule is not None:
            _set_lr(opt, lr_schedule(t), epoch, i)
        if attack is not None and eps > 0:
            xb = _attacked(model, xb, yb, eps, attack, attack_mode)
        z = model(xb)
        per_sample = lf(z, yb)
        opt.zero_grad(set_to_none=True)
        per_sample.mean().backward()
        opt.step()
        losses[idx] = per_sample.detach().to(losses.dtype)
        ok = _correct(z.detach(), yb).sum()
        correct += ok
        eps_sum += eps * len(idx)
        bar.update(len(idx))
        if callback is not None:
            callback(model, Step(epoch, i, i == n_batches - 1, float(per_sample.detach().mean()),
                                 int(ok), len(idx), eps, opt.param_groups[0]["lr"]))
    return _Epoch(losses.sum(), correct, eps_sum, losses)


def _set_lr(opt: torch.optim.Optimizer, lr: float, epoch: int, batch: int) -> None:
    """Set every parameter group's learning rate (ValueError unless finite and > 0)."""
    lr = float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr_schedule returned {lr!r} at epoch {epoch}, batch {batch}")
    for group in opt.param_groups:
        group["lr"] = lr


class _State:
    """Everything ``train`` needs to resume after an epoch, saved through a temporary file."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, shuffle: torch.Generator,
                 attack_gen: torch.Generator, history: list, logs: list | None,
                 fingerprint: tuple) -> None:
        self.model, self.opt, self.shuffle, self.attack_gen = model, opt, shuffle, attack_gen
        self.history, self.logs, self.fingerprint = history, logs, repr(fingerprint)

    def save(self, path: str | os.PathLike[str] | None, epoch: int) -> None:
        """Write the state after ``epoch`` (temp file + rename: never half-written)."""
        if path is None:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save({"epoch": epoch, "fingerprint": self.fingerprint,
                    "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                    "shuffle": self.shuffle.get_state(), "attack": self.attack_gen.get_state(),
                    "history": self.history, "logs": self.logs}, tmp)
        os.replace(tmp, path)

    def load(self, path: str | os.PathLike[str] | None) -> int:
        """Restore a saved state; returns the first epoch still to run (0 without one)."""
        if path is None or not Path(path).is_file():
            return 0
        saved = torch.load(path, weights_only=False)
        if saved["fingerprint"] != self.fingerprint:
            raise ValueError(f"checkpoint {path} belongs to another run "
                             f"({saved['fingerprint']} != {self.fingerprint}); remove it")
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["opt"])
        self.shuffle.set_state(saved["shuffle"])
        self.attack_gen.set_state(saved["attack"])
        self.history[:] = saved["history"]
        if self.logs is not None:
            self.logs[:] = saved["logs"]
        return saved["epoch"] + 1


def train(
    model: nn.Module,
    X: Tensor,
    y: Tensor,
    *,
    num_epochs: int,
    lr: float,
    batch_size: int,
    attack: None | Literal["fgsm", "pgd"] | AttackFn = None,
    attack_kwargs: dict | None = None,
    eps_schedule: Schedule | float = 0.0,
    schedule_update: Literal["epoch", "batch"] = "epoch",
    attack_mode: Literal["eval", "train"] = "eval",
    optimizer: Literal["sgd", "adam"] = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
    loss: attacks.LossName = "ce",
    progress: bool | None = None,
    log_instances: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    lr_schedule: Schedule | None = None,
    callback: Callable[[nn.Module, Step], None] | None = None,
) -> TrainResult:
    """Minibatch (adversarial) training: min_theta E max_delta L(f(x + delta), y) (000, Eq. 2).

    Each batch is attacked with ``attack`` at eps = eps_schedule(t) (skipped when eps = 0),
    ``t`` the integer epoch ("epoch") or ``epoch + i / n_batches`` ("batch", Liu's rule), then
    one optimizer step on the mean loss is taken in train mode. ``eps_schedule`` may be a
    float (constant). Shuffling and random starts use generators seeded from ``seed``; the
    model's initial mode is restored at the end. ``history[e]``: "epoch" e (0-based), mean
    training "loss" and "acc" on the (attacked) batches before each step, and the mean "eps".
    ``progress``: None shows tqdm's default (``TQDM_DISABLE=1`` silences it), False none.
    ``checkpoint``: a file where the state (model, optimizer, both generators, history) is
    saved atomically after every epoch; a call that finds it resumes after its last epoch and
    ends exactly as an uninterrupted run would. It is left in place; the caller removes it.
    ``lr_schedule`` (optional): the learning rate as a function of t, evaluated like eps; it
    overrides ``lr`` from the first batch on (PAS with resets, 004 App. C.1). ``callback``
    (optional): ``callback(model, Step(...))`` after every optimizer step, e.g. a
    :class:`Checkpoints` or a gradient-norm logger (what it stores is not part of ``checkpoint``).
    Both default to None: plain training, as before.
    """
    _check_train_args(num_epochs, lr, batch_size, schedule_update, attack_mode, loss, y)
    schedule = constant(eps_schedule) if isinstance(eps_schedule, int | float) else eps_schedule
    shuffle = torch.Generator().manual_seed(seed)
    attack_gen = torch.Generator(X.device).manual_seed(seed + 1)
    attack_fn = _resolve_attack(attack, attack_kwargs, loss, attack_gen)
    opt = _optimizer(model, optimizer, lr, momentum, weight_decay)
    lf, n = attacks.loss_fn(loss), len(X)
    history: list[dict[str, float]] = []
    logs: list[Tensor] | None = [] if log_instances else None
    state = _State(model, opt, shuffle, attack_gen, history, logs,
                   (num_epochs, lr, batch_size, seed, n, optimizer, loss))
    start = state.load(checkpoint)
    bar = _progress_bar(num_epochs * n, progress)
    bar.update(start * n)
    was_training = model.training
    model.train()
    try:
        for epoch in range(start, num_epochs):
            order = torch.randperm(n, generator=shuffle).to(X.device)
            out = _run_epoch(model, X, y, epoch, order=order, batch_size=batch_size, opt=opt,
                             lf=lf, attack=attack_fn, attack_mode=attack_mode,
                             eps_schedule=schedule, schedule_update=schedule_update, bar=bar,
                             lr_schedule=lr_schedule, callback=callback)
            history.append({"epoch": epoch, "loss": out.loss.item() / n,
                            "acc": out.correct.item() / n, "eps": out.eps / n})
            bar.set_postfix(loss=history[-1]["loss"], acc=history[-1]["acc"], eps=out.eps / n)
            if logs is not None:
                logs.append(out.losses)
            state.save(checkpoint, epoch)
    finally:
        bar.close()
        model.train(was_training)
    return TrainResult(history, torch.stack(logs) if logs is not None else None)
