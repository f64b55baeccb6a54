"""Robust subnetworks of a random binary network on the 8x8 digits (thesis 003 Sec. 5.1,
Algorithm 5.1, Table 5.2 and Figs. 5.1-5.4 in miniature).

Only the scores of :class:`advproof.pruning.SubnetMLP` are trained (edge-popup with the
straight-through estimator); the weights stay frozen at +-1 ("binary initialisation"), batch
norm has no affine parameters, the head has no bias and a last batch norm (LBN) sits on the
logits. Each batch is replaced by its l_inf PGD points (random start, sign steps: Algorithm 5.1
prints the raw gradient; the thesis's experiments, like every l_inf PGD, use sign steps) before
the score step, as in Algorithm 5.1. The grid is the pruning rate r x the allocation exponent
gamma of (5.11); one more run at the largest r trains the mask on clean inputs (eps = 0), the
reference that shows what the adversarial loop adds.

Choices the thesis leaves open (its scale is ResNet34 on CIFAR-10, 400 epochs, AutoAttack):
the model (a 64-256-256-10 MLP), eps = 0.2 on [0, 1] pixels, PGD-3 with step eps/2 in
training and PGD-20 (step eps/4, random start) at evaluation, SGD with momentum 0.9 and a
cosine learning rate from 0.1, score initialisation U[-0.01, 0.01] (Table 5.2's), 10 epochs
(full mode: PGD-5, 60 epochs, three seeds, a finer grid).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from advproof import atas, attacks, data, pruning
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run", "train_subnet"]


@dataclass(frozen=True)
class Config:
    """Sizes and the choices the thesis leaves open (module docstring)."""

    widths: tuple[int, ...] = (256, 256)
    rates: tuple[float, ...] = (0.5, 0.9, 0.99)
    gammas: tuple[float, ...] = (0.1, 1.0)
    eps: float = 0.2
    train_steps: int = 3
    num_epochs: int = 10
    lr: float = 0.1
    momentum: float = 0.9
    batch_size: int = 64
    score_scale: float = 0.01
    pgd_steps: int = 20
    seeds: tuple[int, ...] = (0,)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(widths=(16,), rates=(0.5, 0.9), gammas=(1.0,), num_epochs=1, train_steps=1,
                    pgd_steps=1),
    "full": Config(rates=(0.5, 0.8, 0.9, 0.95, 0.99, 0.995), gammas=(0.0, 0.1, 0.5, 1.0),
                   train_steps=5, num_epochs=60, seeds=(0, 1, 2)),
}


def train_subnet(model: pruning.SubnetMLP, X: torch.Tensor, y: torch.Tensor, *, eps: float,
                 steps: int, num_epochs: int, lr: float, momentum: float, batch_size: int,
                 seed: int) -> list[dict[str, float]]:
    """Algorithm 5.1: for each batch, l_inf PGD points (``steps`` sign steps of eps/2 from a
    random start; none when ``eps == 0``), then one SGD step on the scores. Returns one row per
    epoch: mean training loss and accuracy on the (attacked) batches."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    n_batches = math.ceil(len(X) / batch_size)
    curve = []
    for epoch in range(num_epochs):
        model.train()
        perm = torch.randperm(len(X), generator=gen)
        loss_sum, correct = 0.0, 0
        for b in range(n_batches):
            for group in opt.param_groups:  # cosine schedule per batch
                t = (epoch * n_batches + b) / (num_epochs * n_batches)
                group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * t))
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb, yb = X[idx], y[idx]
            if eps > 0:
                xb = xb + attacks.pgd(model, xb, yb, eps=eps, alpha=eps / 2, steps=steps,
                                      random_start=True, clip=(0.0, 1.0), generator=gen)
            z = model(xb)
            loss = F.cross_entropy(z, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((z.argmax(1) == yb).sum())
        curve.append({"loss": loss_sum / len(X), "acc": correct / len(X)})
    model.eval()
    return curve


def _mask_stats(model: pruning.SubnetMLP) -> list[dict[str, Any]]:
    """Per hidden layer: the numbers of units with no incoming / no outgoing kept weight, of
    units with both, and the random-mask expectations (hypergeometric)."""
    masks = [m.bool() for m in model.masks()]
    out = []
    for layer, units in enumerate(pruning.empty_units(masks)):
        a, b = masks[layer], masks[layer + 1]
        no_in, no_out = units["no_in"], units["no_out"]
        out.append({
            "units": int(no_in.numel()),
            "no_in": int(no_in.sum()), "no_out": int(no_out.sum()),
            "both": int((no_in & no_out).sum()),
            "random_no_in": no_in.numel() * pruning.p_unit_empty(a.numel(), a.shape[1],
                                                                 int(a.sum())),
            "random_no_out": no_out.numel() * pruning.p_unit_empty(b.numel(), b.shape[0],
                                                                   int(b.sum())),
            "in_counts": a.sum(1).tolist(), "out_counts": b.sum(0).tolist(),
        })
    return out


@dataclass
class Result:
    """One row per (r, gamma, seed) in ``runs`` plus the clean-trained reference runs
    (``gamma`` of the largest r's first gamma, ``eps_train = 0``)."""

    config: Config
    runs: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)

    def grid(self, key: str = "pgd") -> dict[float, dict[float, float]]:
        """``grid[r][gamma]``: the mean over seeds of ``key`` for the adversarially trained
        masks."""
        out: dict[float, dict[float, float]] = {}
        for r in self.config.rates:
            out[r] = {}
            for g in self.config.gammas:
                vals = [row[key] for row in self.runs
                        if row["rate"] == r and row["gamma"] == g and row["eps_train"] > 0]
                out[r][g] = float(np.mean(vals))
        return out

    def reference(self) -> dict[str, Any]:
        """The clean-trained mask's first-seed row."""
        return next(row for row in self.runs if row["eps_train"] == 0)

    def adversarial(self, rate: float, gamma: float, seed: int | None = None) -> dict[str, Any]:
        """The first-seed (or ``seed``'s) adversarially trained row at (rate, gamma)."""
        seed = self.config.seeds[0] if seed is None else seed
        return next(row for row in self.runs if row["rate"] == rate and row["gamma"] == gamma
                    and row["eps_train"] > 0 and row["seed"] == seed)

    def summary(self) -> dict[str, Any]:
        """PGD and clean test accuracy (%) per (r, gamma), and the reference."""
        pgd, clean = self.grid("pgd"), self.grid("clean")
        ref = self.reference()
        return {"pgd": {str(r): {str(g): round(100 * v, 1) for g, v in row.items()}
                        for r, row in pgd.items()},
                "clean": {str(r): {str(g): round(100 * v, 1) for g, v in row.items()}
                          for r, row in clean.items()},
                "clean_trained": {"rate": ref["rate"], "gamma": ref["gamma"],
                                  "clean": round(100 * ref["clean"], 1),
                                  "pgd": round(100 * ref["pgd"], 1)}}

    def to_json(self) -> dict[str, Any]:
        """The summary and every run (curves, per-layer counts, mask statistics)."""
        return {"summary": self.summary(), "runs": self.runs}


def _run_one(cfg: Config, rate: float, gamma: float, eps_train: float, seed: int,
             X: torch.Tensor, y: torch.Tensor, Xt: torch.Tensor, yt: torch.Tensor
             ) -> dict[str, Any]:
    start = time.perf_counter()
    model = pruning.SubnetMLP(X.shape[1], cfg.widths, 10, rate=rate, gamma=gamma,
                              score_scale=cfg.score_scale, seed=seed)
    curve = train_subnet(model, X, y, eps=eps_train, steps=cfg.train_steps,
                         num_epochs=cfg.num_epochs, lr=cfg.lr, momentum=cfg.momentum,
                         batch_size=cfg.batch_size, seed=seed)
    return {
        "rate": rate, "gamma": gamma, "eps_train": eps_train, "seed": seed,
        "keeps": model.keeps,
        "clean": atas.clean_accuracy(model, Xt, yt),
        "pgd": atas.pgd_accuracy(model, Xt, yt, eps=cfg.eps, steps=cfg.pgd_steps,
                                 seed=10_000 + seed),
        "curve": curve,
        "masks": _mask_stats(model),
        "seconds": time.perf_counter() - start,
    }


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None, checkpoint: Any = None) -> Result:
    """Every (r, gamma, seed) of the config plus the clean-trained reference (CPU, float32,
    single-threaded so that the result does not depend on the machine's core count). With a
    ``checkpoint`` (:class:`advproof.experiments.Checkpoint`) every finished run is saved, so a
    killed full-mode run resumes where it stopped."""
    if device != "cpu":
        raise ValueError(f"thesis_subnet runs on the CPU in this version; got device {device!r}")
    cfg = CONFIGS[mode]
    tr = data.load("digits", split="train", flatten=True, data_dir=data_dir)
    te = data.load("digits", split="test", flatten=True, data_dir=data_dir)
    jobs = [(r, g, cfg.eps, seed + s) for s in cfg.seeds for r in cfg.rates for g in cfg.gammas]
    jobs.append((max(cfg.rates), cfg.gammas[0], 0.0, seed + cfg.seeds[0]))
    runs = []
    with single_thread():
        for r, g, e, s in jobs:
            def one(r: float = r, g: float = g, e: float = e, s: int = s) -> dict[str, Any]:
                return _run_one(cfg, r, g, e, s, tr.X, tr.y, te.X, te.y)

            name = f"run_r{r}_g{g}_e{e}_s{s}"
            runs.append(checkpoint.stage(name, one) if checkpoint is not None else one())
    return Result(replace(cfg), runs)
