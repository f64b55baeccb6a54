"""Periodic adversarial scheduling (PAS; Liu et al. 004 Sec. 5, Fig. 4, Fig. 13, Table 1; thesis
003 Sec. 4.2.4-4.2.5, Fig. 4.9, Fig. 4.10, Table 4.2).

Three parts, all PGD-AT of a small CNN with Adam, evaluated on the test split by PGD (random
start, fixed draw) at the target eps:

1. ``sweep``: eps schedule Const / Cosine / Linear (004 eq. 5 clipped to [0, target],
   ``train.pas``; eps_max = 1.5 and 2 times the target, the paper's MNIST ratios 0.6/0.4 and
   0.8/0.4) over a sweep of constant Adam learning rates (Fig. 4 / Fig. 4.9).
2. ``warmup``: the control of Fig. 13 / Fig. 4.10: constant eps, learning rate warmed up
   linearly over the first 10% of the epochs.
3. ``periodic``: PAS with resets: three periods (1/2, 1/4, 1/4 of the run, as 100/50/50 of 200
   epochs), eps and the learning rate (``exp_decay``, 004's VGG rule) scaled to each period, and
   the ensemble of the three end-of-period checkpoints (``train.Checkpoints``, ``train.Ensemble``,
   attacked end to end) against the final model alone (Table 1's "with resets" rows). In full
   mode on CIFAR-10 (eps = 8/255) when its files are present (``ADVPROOF_DATA``), with the same
   small CNN: the library has no ResNet18 or VGG yet.

Quick mode: 1000 of the 8x8 digits, ``models.SmallCNN``, target eps 0.15, 10 epochs, one seed.
Full mode: Fashion-MNIST (Debian package), more epochs and seeds.
Unknown in the papers and chosen here: batch size, the LR grid and number of runs of Fig. 4, how
the ensemble combines (mean probability) and how it is attacked (end to end), whether PGD's step
follows the scheduled eps (it does here: 2.5 eps / steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from advproof import attacks, data, models, train
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]

SCHEDULES: tuple[str, ...] = ("const", "cosine", "linear")


@dataclass(frozen=True)
class Config:
    """Sizes and the choices the papers leave open (see the module docstring)."""

    dataset: str = "digits"
    side: int = 8
    in_channels: int = 1
    channels: tuple[int, int] = (8, 16)
    n_train: int | None = 1000
    target: float = 0.15
    v_max_ratio: tuple[float, float] = (1.5, 2.0)  # cosine, linear (004 App. C.1, MNIST)
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    num_epochs: int = 10
    batch_size: int = 128
    pgd_steps: int = 5
    eval_steps: int = 10
    warmup_fraction: float = 0.1
    periodic_lr: float = 3e-3
    seeds: tuple[int, ...] = (0,)
    periodic_dataset: str | None = None  # None: the sweep's dataset


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(dataset="fashion-mnist", side=28, channels=(32, 64), n_train=None, target=0.1,
                   lrs=(1e-4, 3e-4, 1e-3, 3e-3), num_epochs=40, pgd_steps=10, eval_steps=20,
                   periodic_lr=1e-3, seeds=(0, 1, 2), periodic_dataset="cifar10"),
}


@dataclass
class Result:
    """Robust / clean test errors: ``sweep[schedule][lr]``, ``warmup[lr]`` (lists over seeds),
    ``periodic[schedule]`` with "final" and "ensemble" errors."""

    config: Config
    sweep: dict[str, dict[float, list[dict[str, float]]]]
    warmup: dict[float, list[dict[str, float]]]
    periodic: dict[str, dict[str, dict[str, float]]]
    extra: dict[str, Any] = field(default_factory=dict)

    def robust(self, schedule: str) -> np.ndarray:
        """Mean robust test error over seeds, per learning rate of the sweep."""
        return np.array([np.mean([r["robust"] for r in self.sweep[schedule][lr]])
                         for lr in self.config.lrs])

    def summary(self) -> dict[str, Any]:
        """Robust errors per schedule and LR, the warm-up control, and the periodic ensemble."""
        return {"lrs": list(self.config.lrs),
                "robust": {s: self.robust(s).round(4).tolist() for s in self.sweep},
                "clean": {s: [round(float(np.mean([r["clean"] for r in self.sweep[s][lr]])), 4)
                              for lr in self.config.lrs] for s in self.sweep},
                "warmup_robust": [round(float(np.mean([r["robust"] for r in self.warmup[lr]])), 4)
                                  for lr in self.config.lrs],
                "periodic": {s: {k: {kk: round(vv, 4) for kk, vv in v.items()}
                                 for k, v in p.items()} for s, p in self.periodic.items()},
                "periodic_dataset": self.extra.get("periodic_dataset", self.config.dataset),
                "periodic_note": self.extra.get("periodic_note", "")}

    def to_json(self) -> dict[str, Any]:
        """The summary and every run's numbers."""
        return {"summary": self.summary(),
                "sweep": {s: {str(lr): v for lr, v in d.items()} for s, d in self.sweep.items()},
                "warmup": {str(lr): v for lr, v in self.warmup.items()}}


def eps_schedule(name: str, cfg: Config, boundaries: tuple[float, ...]) -> train.Schedule:
    """Const, or 004 eq. 5 (cosine / linear) clipped to [0, target] and scaled to each period."""
    if name == "const":
        return train.constant(cfg.target)
    ratio = cfg.v_max_ratio[0] if name == "cosine" else cfg.v_max_ratio[1]
    return train.pas(boundaries, ratio * cfg.target, name, v_target=cfg.target)


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, cfg: Config, seed: int
             ) -> dict[str, float]:
    """Clean and robust test error (PGD, ``eval_steps`` of 2.5 eps / steps, fixed random start)."""
    model.eval()
    delta = attacks.pgd(model, X, y, eps=cfg.target, alpha=2.5 * cfg.target / cfg.eval_steps,
                        steps=cfg.eval_steps, random_start=True, clip=(0.0, 1.0),
                        generator=torch.Generator().manual_seed(seed + 10_000))
    with torch.no_grad():
        clean = float((model(X).argmax(1) != y).double().mean())
        robust = float((model(X + delta).argmax(1) != y).double().mean())
    return {"clean": clean, "robust": robust}


def fit(cfg: Config, X: torch.Tensor, y: torch.Tensor, *, eps: train.Schedule, lr: float,
        seed: int, lr_schedule: train.Schedule | None = None, schedule_update: str = "epoch",
        callback: Any = None) -> nn.Module:
    """PGD-AT with Adam; PGD's step follows the scheduled eps (2.5 eps / steps, random start)."""
    model = models.SmallCNN(cfg.in_channels, 10, cfg.side, channels=cfg.channels,
                            generator=torch.Generator().manual_seed(seed))
    train.train(model, X, y, num_epochs=cfg.num_epochs, lr=lr, batch_size=cfg.batch_size,
                optimizer="adam", attack="pgd",
                attack_kwargs={"steps": cfg.pgd_steps, "random_start": True, "clip": (0.0, 1.0)},
                eps_schedule=eps, schedule_update=schedule_update, lr_schedule=lr_schedule,
                callback=callback, seed=seed, progress=False)
    return model.eval()


def periodic_run(cfg: Config, X, y, Xt, yt, name: str, seed: int) -> dict[str, dict[str, float]]:
    """Three periods (1/2, 1/4, 1/4 of the epochs) with eps and LR reset; final vs ensemble."""
    E = cfg.num_epochs
    bounds_ = (0, E // 2, (3 * E) // 4, E)
    ckpt = train.Checkpoints([b - 1 for b in bounds_[1:]])
    lr = train.per_period(bounds_, train.exp_decay(cfg.periodic_lr, cfg.periodic_lr / 10))
    model = fit(cfg, X, y, eps=eps_schedule(name, cfg, bounds_), lr=cfg.periodic_lr, seed=seed,
                lr_schedule=lr, callback=ckpt)
    return {"final": evaluate(model, Xt, yt, cfg, seed),
            "ensemble": evaluate(train.Ensemble(ckpt.models), Xt, yt, cfg, seed)}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """The sweep, the warm-up control and the periodic ensemble (CPU, float32)."""
    if device != "cpu":
        raise ValueError(f"liu_pas runs on the CPU in this version; got device {device!r}")
    cfg = CONFIGS[mode]
    tr = data.load(cfg.dataset, split="train", n=cfg.n_train, data_dir=data_dir)
    te = data.load(cfg.dataset, split="test", data_dir=data_dir)
    seeds = [seed + s for s in cfg.seeds]
    sweep: dict[str, dict[float, list]] = {s: {} for s in SCHEDULES}
    warm: dict[float, list] = {}
    with single_thread():
        for lr in cfg.lrs:
            for name in SCHEDULES:
                sweep[name][lr] = [evaluate(fit(cfg, tr.X, tr.y, eps=eps_schedule(
                    name, cfg, (0, cfg.num_epochs)), lr=lr, seed=s), te.X, te.y, cfg, s)
                    for s in seeds]
            ramp = train.linear(0, cfg.warmup_fraction * cfg.num_epochs, lr * 1e-2, lr)
            warm[lr] = [evaluate(fit(cfg, tr.X, tr.y, eps=train.constant(cfg.target), lr=lr,
                                     seed=s, lr_schedule=ramp, schedule_update="batch"),
                                 te.X, te.y, cfg, s) for s in seeds]
        periodic, extra = _periodic_part(cfg, tr, te, seed, data_dir)
    return Result(cfg, sweep, warm, periodic, extra)


def _periodic_part(cfg: Config, tr: data.Dataset, te: data.Dataset, seed: int,
                   data_dir: str | None) -> tuple[dict, dict[str, Any]]:
    """PAS with resets on ``periodic_dataset`` (CIFAR-10 in full mode) when its files are
    present, else on the sweep's dataset, with a note saying so."""
    extra: dict[str, Any] = {"periodic_dataset": cfg.dataset}
    if cfg.periodic_dataset not in (None, cfg.dataset):
        if data.available(data_dir).get(cfg.periodic_dataset):
            tr = data.load(cfg.periodic_dataset, split="train", data_dir=data_dir)
            te = data.load(cfg.periodic_dataset, split="test", data_dir=data_dir)
            cfg = replace(cfg, dataset=cfg.periodic_dataset, in_channels=tr.X.shape[1],
                          side=tr.X.shape[-1], target=8 / 255)
            extra["periodic_dataset"] = cfg.dataset
        else:
            extra["periodic_note"] = f"{cfg.periodic_dataset} files not found: ran on {cfg.dataset}"
    periodic = {name: periodic_run(cfg, tr.X, tr.y, te.X, te.y, name, seed)
                for name in SCHEDULES}
    return periodic, extra
