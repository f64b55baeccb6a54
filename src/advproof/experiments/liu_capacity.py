"""Model capacity and dead neurons in adversarial training (Liu et al. 004 §6 and App. C.2.4,
Fig. 14; thesis 003 Fig. 4.14).

Two grids of PGD adversarial training of ReLU MLPs (64-w-w-10) on the 8x8 digits:

* capacity: widths w x eps schedules (constant, linear and cosine ramps of eps from 0 over the
  first half of training, as in 004 eq. (5)) x seeds, at a target eps. 004 reports that small
  networks trained with a constant eps fail, i.e. end as constant classifiers, more often than
  with a ramp.
* dead neurons: one width over a grid of constant eps. 004 §6: adversarial training favours
  dead ReLUs (a dead unit's output does not depend on the perturbation); if a whole layer is
  dead, the layers before it get no gradient and the layers after it give a constant output.

A unit is dead when it is inactive on every training input; a classifier is constant when it
predicts one class for every test input. Choices 004 leaves to its LeNet/MNIST setting and
the book makes here: the MLP, eps = 0.2 on [0, 1] pixels, PGD-3 (step 2.5 eps / 3, random
start), SGD with momentum 0.9 and step 0.05, batch 64, 15 epochs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advproof import attacks, data, models, train
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "dead_fractions", "run"]

SCHEDULES: tuple[str, ...] = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class Config:
    """The two grids (module docstring)."""

    widths: tuple[int, ...] = (2, 4, 8, 16, 64)
    seeds: tuple[int, ...] = (0, 1)
    eps: float = 0.2
    dead_width: int = 64
    dead_eps: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
    epochs: int = 15
    lr: float = 0.05
    batch_size: int = 64
    pgd_steps: int = 3


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(widths=(2, 8), seeds=(0,), dead_eps=(0.0, 0.2), epochs=2),
    "full": Config(widths=(1, 2, 4, 8, 16, 32, 64, 128), seeds=(0, 1, 2, 3, 4),
                   dead_eps=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4), epochs=40),
}


def schedule(name: str, eps: float, epochs: int) -> train.Schedule | float:
    """The eps schedule ``name``: constant, or a linear / cosine ramp from 0 to ``eps`` over the
    first half of training."""
    if name == "constant":
        return eps
    if name == "linear":
        return train.linear(0, epochs / 2, 0.0, eps)
    if name == "cosine":
        return train.cosine(0, epochs / 2, 0.0, eps)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")


def dead_fractions(net: models.MLP, X: torch.Tensor) -> list[float]:
    """Per hidden layer, the share of units inactive (ReLU output 0) on every row of ``X``."""
    out, h = [], X
    with torch.no_grad():
        for lin in net.linears[:-1]:
            h = torch.relu(lin(h))
            out.append(float(((h > 0).sum(0) == 0).double().mean()))
    return out


def _train_one(width: int, sched: Any, seed: int, cfg: Config, tr: Any, te: Any
               ) -> dict[str, Any]:
    net = models.MLP(tr.X.shape[1], (width, width), 10,
                     generator=torch.Generator().manual_seed(seed))
    with warnings.catch_warnings():  # a dead net has zero input gradients: expected here
        warnings.simplefilter("ignore", attacks.ZeroInputGradientWarning)
        train.train(net, tr.X, tr.y, num_epochs=cfg.epochs, lr=cfg.lr,
                    batch_size=cfg.batch_size, attack="pgd",
                    attack_kwargs={"steps": cfg.pgd_steps, "clip": (0.0, 1.0),
                                   "random_start": True},
                    eps_schedule=sched, seed=seed, progress=False)
    net.eval()
    with torch.no_grad():
        pred = net(te.X).argmax(1)
    return {"acc": float((pred == te.y).double().mean()), "classes": int(pred.unique().numel()),
            "dead": dead_fractions(net, tr.X)}


@dataclass
class Result:
    """``capacity``: one row per (width, schedule, seed); ``dead``: one row per eps."""

    config: Config
    capacity: list[dict[str, Any]]
    dead: list[dict[str, Any]]

    def failures(self, sched: str) -> list[tuple[int, int]]:
        """The (width, seed) pairs whose net ended as a constant classifier under ``sched``."""
        return [(r["width"], r["seed"]) for r in self.capacity
                if r["schedule"] == sched and r["classes"] == 1]

    def mean_dead(self) -> list[float]:
        """Per eps of the dead grid: the share of dead units over all hidden layers."""
        return [float(np.mean(r["dead"])) for r in self.dead]

    def summary(self) -> dict[str, Any]:
        """Failures per schedule, mean accuracy per (schedule, width), dead shares per eps."""
        acc = {s: {str(w): round(float(np.mean([r["acc"] for r in self.capacity
                                                 if r["schedule"] == s and r["width"] == w])), 3)
                   for w in self.config.widths} for s in SCHEDULES}
        return {"failures": {s: len(self.failures(s)) for s in SCHEDULES}, "accuracy": acc,
                "dead": {str(r["eps"]): [round(d, 3) for d in r["dead"]] for r in self.dead}}

    def to_json(self) -> dict[str, Any]:
        """The summary and every run."""
        return {"summary": self.summary(), "capacity": self.capacity, "dead": self.dead}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Both grids (CPU, float32, single-threaded)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("liu_capacity runs on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    tr = data.load("digits", split="train", flatten=True, data_dir=data_dir)
    te = data.load("digits", split="test", flatten=True, data_dir=data_dir)
    capacity, dead = [], []
    with single_thread():
        for s in cfg.seeds:
            for w in cfg.widths:
                for name in SCHEDULES:
                    row = _train_one(w, schedule(name, cfg.eps, cfg.epochs), seed + s, cfg,
                                     tr, te)
                    capacity.append({"width": w, "schedule": name, "seed": seed + s, **row})
        for e in cfg.dead_eps:
            row = _train_one(cfg.dead_width, e, seed, cfg, tr, te)
            dead.append({"eps": e, **row})
    return Result(cfg, capacity, dead)
