"""Catastrophic overfitting and the robust training loss of one-step methods, epoch by epoch
(thesis 003 §5.2: Figs. 5.5 and 5.6).

The thesis reports, on CIFAR-10:

* Fig. 5.5: FGSM-RS can suffer *catastrophic overfitting* (CO): within an epoch its accuracy
  against PGD collapses to about 0 while it still resists FGSM, it does not recover, and the loss
  surface in input space around the training points becomes distorted (high loss inside the
  budget that the one FGSM step does not find);
* Fig. 5.6: ATAS reaches the lowest PGD-10 robust *training* loss of the one-step methods, read
  as faster convergence of the inner maximisation.

Here the one-step methods of :mod:`advproof.experiments.thesis_atas` (FGSM, FGSM-RS with step
2 eps, ATTA, ATAS with the thesis's rule (5.16)) train the same small CNN on the 8x8 digits at
two budgets; after every epoch we record the clean, FGSM (zero start, step eps) and PGD-10
(step eps / 4, random start) test accuracies and the PGD-10 cross-entropy on a fixed subset of
the training set. For every run we keep the input-space loss surface
``L(x + a sign(g) + b r)`` (``g`` the input gradient at ``x``, ``r`` a fixed random sign
vector, ``a, b`` in ``[-eps, eps]``, pixels clipped to [0, 1], mean over test images) of two
models: at the epoch of the best PGD test accuracy and at the end. Its *distortion* is the
largest loss on the grid minus the loss at the FGSM corner ``(a, b) = (eps, 0)``: large when the
one FGSM step misses the high-loss region (as after CO), near 0 when the surface is close to
linear.

Quick mode (CPU): one seed, 15 epochs, eps in {0.2, 0.3}, the runs spread over two processes.
Unstated in the thesis and chosen here: the model and schedule (thesis_atas's), the evaluation
subsets, the surface grid and its random direction.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advproof import atas, attacks, data
from advproof.experiments import thesis_atas as tat
from advproof.threads import single_thread, spread

__all__ = ["CONFIGS", "Config", "Result", "loss_surface", "run"]


@dataclass(frozen=True)
class Config:
    """The runs and their evaluation (module docstring); the model and optimiser are those of
    ``base`` (:class:`advproof.experiments.thesis_atas.Config`)."""

    eps: tuple[float, ...] = (0.2, 0.3)
    methods: tuple[str, ...] = ("FGSM", "FGSM-RS 2eps", "ATTA", "ATAS thesis")
    n_train_eval: int = 512
    eval_steps: int = 10
    grid: int = 21
    n_surface: int = 64
    base: tat.Config = tat.Config()


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(eps=(0.3,), methods=("FGSM", "ATAS thesis"), n_train_eval=64, eval_steps=2,
                    grid=5, n_surface=8, base=tat.CONFIGS["smoke"]),
    "full": Config(eps=(0.2, 0.3, 0.4), methods=tuple(tat.METHODS), n_train_eval=1438,
                   eval_steps=20, base=tat.CONFIGS["full"]),
}


@dataclass
class Result:
    """``curves[f"{eps}|{method}"]``: per epoch ``clean``, ``fgsm``, ``pgd`` test accuracies and
    ``train_loss`` (the PGD robust training loss); ``surfaces[key]``: ``{"best": grid,
    "final": grid, "best_epoch": int}``, the grids of losses over ``axis`` x ``axis``."""

    config: Config
    curves: dict[str, dict[str, list[float]]]
    surfaces: dict[str, dict[str, Any]]
    axis: np.ndarray  # in units of eps

    def distortion(self, key: str, which: str = "final") -> float:
        """Largest loss on the grid minus the loss at the FGSM corner (a, b) = (eps, 0)."""
        s = np.asarray(self.surfaces[key][which])
        mid = len(self.axis) // 2
        return float(s.max() - s[-1, mid])

    def summary(self) -> dict[str, Any]:
        """Per run: final and best accuracies, the final training loss (mean of the last three
        epochs) and the surfaces' distortion."""
        out: dict[str, Any] = {}
        for key, c in self.curves.items():
            out[key] = {"clean": round(c["clean"][-1], 4), "fgsm": round(c["fgsm"][-1], 4),
                        "pgd": round(c["pgd"][-1], 4), "best_pgd": round(max(c["pgd"]), 4),
                        "train_loss": round(float(np.mean(c["train_loss"][-3:])), 4),
                        "distortion_best": round(self.distortion(key, "best"), 4),
                        "distortion_final": round(self.distortion(key, "final"), 4)}
        return out

    def to_json(self) -> dict[str, Any]:
        """The summary, every curve and the surfaces (rounded)."""
        return {"summary": self.summary(), "curves": self.curves, "axis": self.axis.tolist(),
                "surfaces": {k: {w: (np.round(v, 5).tolist() if isinstance(v, np.ndarray)
                                     else v) for w, v in s.items()}
                             for k, s in self.surfaces.items()}}


def fgsm_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Accuracy under FGSM from the clean point (one step of size eps), pixels in [0, 1]."""
    delta = attacks.fgsm(model, X, y, eps, clip=(0.0, 1.0))
    with torch.no_grad():
        return float((model(X + delta).argmax(1) == y).double().mean())


def pgd_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
             seed: int) -> float:
    """Mean cross-entropy at l_inf PGD examples (step eps / 4, one random start from
    ``seed``), pixels in [0, 1]."""
    delta = attacks.pgd(model, X, y, eps=eps, alpha=eps / 4, steps=steps, random_start=True,
                        clip=(0.0, 1.0), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return float(F.cross_entropy(model(X + delta), y))


def loss_surface(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float,
                 axis: np.ndarray, seed: int) -> np.ndarray:
    """Mean loss ``L(x + a sign(g) + b r)`` over the images, for a, b in ``eps * axis``.

    Row i is ``a = eps axis[i]`` along the FGSM direction ``sign(g)``, column j is
    ``b = eps axis[j]`` along a random sign vector ``r`` (one per image, drawn from ``seed``);
    pixels are clipped to [0, 1]. Returns an array of shape ``(len(axis), len(axis))``.
    """
    model.eval()
    u = atas.per_sample_input_grad(model, X, y).sign()
    gen = torch.Generator().manual_seed(seed)
    r = torch.randint(0, 2, X.shape, generator=gen).to(X.dtype) * 2 - 1
    out = np.empty((len(axis), len(axis)))
    with torch.no_grad():
        for i, a in enumerate(axis):
            for j, b in enumerate(axis):
                xp = (X + eps * (float(a) * u + float(b) * r)).clamp(0, 1)
                out[i, j] = float(F.cross_entropy(model(xp), y))
    return out


def _run_one(cfg: Config, eps: float, method: str, seed: int, data_dir: str | None
             ) -> tuple[str, dict[str, list[float]], dict[str, Any]]:
    """Train one (eps, method) with per-epoch evaluation, single-threaded; returns its key, its
    curves and its two surfaces."""
    tr = data.load("digits", split="train", flatten=True, data_dir=data_dir)
    te = data.load("digits", split="test", flatten=True, data_dir=data_dir)
    Xs, ys = tr.X[: cfg.n_train_eval], tr.y[: cfg.n_train_eval]
    curves: dict[str, list[float]] = {"clean": [], "fgsm": [], "pgd": [], "train_loss": []}
    best: dict[str, Any] = {"pgd": -1.0}

    def log(epoch: int, model: nn.Module) -> None:
        model.eval()
        pgd = atas.pgd_accuracy(model, te.X, te.y, eps=eps, steps=cfg.eval_steps,
                                seed=seed + 10_000)
        curves["clean"].append(atas.clean_accuracy(model, te.X, te.y))
        curves["fgsm"].append(fgsm_accuracy(model, te.X, te.y, eps))
        curves["pgd"].append(pgd)
        curves["train_loss"].append(pgd_loss(model, Xs, ys, eps, cfg.eval_steps, seed + 20_000))
        if pgd > best["pgd"]:
            best.update(pgd=pgd, epoch=epoch + 1, model=copy.deepcopy(model))
        model.train()

    with single_thread():
        model, _ = tat.train_one(cfg.base, tr.X, tr.y, eps, method, seed, callback=log)
        axis = np.linspace(-1.0, 1.0, cfg.grid)
        Xv, yv = te.X[: cfg.n_surface], te.y[: cfg.n_surface]
        surfaces = {"best": loss_surface(best["model"], Xv, yv, eps, axis, seed + 30_000),
                    "final": loss_surface(model, Xv, yv, eps, axis, seed + 30_000),
                    "best_epoch": best["epoch"]}
    return f"{eps}|{method}", curves, surfaces


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None, workers: int | None = None) -> Result:
    """Every (eps, method) of the config, trained and evaluated after each epoch (CPU, float32).

    The runs are independent, seeded and single-threaded, so they are spread over ``workers``
    processes (default: up to 2) with bit-identical results; ``workers=1`` runs them here."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"thesis_co runs on the CPU in this version; got device {device!r}")
    cfg = CONFIGS[mode]
    jobs = [(cfg, eps, m, seed, data_dir) for eps in cfg.eps for m in cfg.methods]
    done = spread(_run_one, jobs, workers)
    return Result(cfg, {k: c for k, c, _ in done}, {k: s for k, _, s in done},
                  np.linspace(-1.0, 1.0, cfg.grid))
