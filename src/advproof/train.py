"""(Adversarial) training of small models, and epsilon schedules of a fractional epoch.

Schedules are pure functions ``t -> value`` of a float epoch ``t`` (Bag-of-Tricks' ``epoch_now``;
STYLE §10); ``train`` decides when to evaluate them (``schedule_update="epoch"|"batch"``) and
records it. Every adversarial example comes from ``advproof.attacks`` (one engine), in the model
mode the caller names (``attack_mode``): Liu et al.'s code attacks in eval mode, the
hard-instance code in train mode (notes/anchors-libs.md §1.1-§1.2).

Shapes: ``X: (N, *input_shape)``, ``y: (N,)``; ``instance_losses: (num_epochs, N)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
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
) -> _Epoch:
    """One pass over X in the order ``order``: attack (if eps > 0), then one step per batch."""
    n_batches = math.ceil(len(order) / batch_size)
    losses = X.new_zeros(len(order))
    correct, eps_sum = X.new_zeros((), dtype=torch.long), 0.0
    for i in range(n_batches):
        idx = order[i * batch_size:(i + 1) * batch_size]
        xb, yb = X[idx], y[idx]
        eps = float(eps_schedule(epoch + i / n_batches if schedule_update == "batch" else epoch))
        if not eps >= 0:
            raise ValueError(f"eps_schedule returned {eps!r} at epoch {epoch}, batch {i}")
        if attack is not None and eps > 0:
            xb = _attacked(model, xb, yb, eps, attack, attack_mode)
        z = model(xb)
        per_sample = lf(z, yb)
        opt.zero_grad(set_to_none=True)
        per_sample.mean().backward()
        opt.step()
        losses[idx] = per_sample.detach().to(losses.dtype)
        correct += _correct(z.detach(), yb).sum()
        eps_sum += eps * len(idx)
        bar.update(len(idx))
    return _Epoch(losses.sum(), correct, eps_sum, losses)


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
                             eps_schedule=schedule, schedule_update=schedule_update, bar=bar)
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
