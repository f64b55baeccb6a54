"""Lyu & Zhu (002) App. C.1-C.2, Figs. 3 and 5: normalised adversarial margins beyond the
theory's setting and with the theory's loss.

* Fig. 3 (App. C.1): a 10-class network trained with cross-entropy FGSM adversarial training.
  Multi-class cross-entropy is outside the theory (Lemma 3 and Theorems 3-5 are for binary
  margins), yet 002 reports that the normalised multi-class margin
  ``min_i (f_y - max_{j != y} f_j)(x_i + delta_i) / rho`` keeps rising after the adversarial
  training accuracy reaches 100%.
* Fig. 5 (App. C.2): a wide two-layer bias-free ReLU network, the exponential loss of the theory
  and l2-FGM adversarial training with a small constant step: the normalised margin increases,
  but "extremely slowly".

Both nets are bias-free ReLU MLPs (``models.HomogeneousMLP``, homogeneous of degree L = the
number of layers), so ``rho = prod_k ||W_k||_F`` normalises the margin; margins are measured in
float64 on the whole training set at log-spaced epochs. Quick mode: the 8x8 digits (all 10
classes for Fig. 3; 2 vs 8 for Fig. 5, as in 002). 002's sizes (MNIST, a CNN, 250+ epochs;
width 10,000, eps = 3, lr 1e-5) are the full mode's direction; the settings it leaves open
(widths, learning rates, epochs on this data) are the book's, in :class:`Config`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advproof import attacks, data, margins, models, train
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """The book's choices (002 gives the architectures' shapes, the losses and the attacks)."""

    dataset: str = "digits"
    # Fig. 3: 10 classes, CE, FGSM (l_inf)
    mc_hidden: tuple[int, ...] = (128, 64)
    mc_eps: float = 0.05
    mc_lr: float = 0.1
    mc_epochs: tuple[int, ...] = (1, 2, 4, 8, 15, 30, 60, 120, 200, 300)
    # Fig. 5: 2 vs 8, exponential loss, l2-FGM, a wide two-layer net, constant step
    exp_classes: tuple[int, int] = (2, 8)
    exp_width: int = 500
    exp_eps: float = 0.3
    exp_lr: float = 0.03
    exp_epochs: tuple[int, ...] = (1, 2, 4, 8, 15, 30, 60, 120, 200, 300, 500)
    batch_size: int = 80  # 002 §4
    momentum: float = 0.9


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(mc_hidden=(16,), mc_epochs=(1, 2), exp_width=16, exp_epochs=(1, 2)),
    "full": Config(dataset="mnist", mc_hidden=(1024, 64), mc_eps=16 / 255, mc_lr=0.01,
                   mc_epochs=(1, 2, 4, 8, 15, 30, 60, 120, 250, 400), exp_width=10_000,
                   exp_eps=3.0, exp_lr=1e-5, exp_epochs=(1, 2, 4, 8, 15, 30, 60, 120, 200),
                   momentum=0.0),
}


def _fgsm_ce(eps: float):  # noqa: ANN202 (an attack callable for train.train)
    """Cross-entropy FGSM, 002 App. C.1's attack (not scale invariant: outside the theory)."""
    return lambda model, xb, yb, _eps: attacks.fgsm(model, xb, yb, eps, loss="ce")


def _measure(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, delta_fn: Any
             ) -> tuple[float, float]:
    """(min normalised adversarial margin, adversarial accuracy) in float64."""
    net = copy.deepcopy(model).double().eval()
    delta = delta_fn(net, X, y)
    with torch.no_grad():
        q = margins.margins(net(X + delta), y)
        return float(q.min() / margins.rho(net)), float((q > 0).double().mean())


def _curve(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: tuple[int, ...], *,
           lr: float, batch_size: int, momentum: float, loss: str, attack: Any, delta_fn: Any,
           seed: int) -> dict[str, list[float]]:
    Xd = X.double()
    yd = y if loss == "ce" else y.double()
    out: dict[str, list[float]] = {"epochs": list(epochs), "margin": [], "acc": []}
    done = 0
    for epoch in epochs:
        train.train(net, X, y, num_epochs=epoch - done, lr=lr, batch_size=batch_size,
                    momentum=momentum, loss=loss, attack=attack, eps_schedule=1.0,
                    seed=seed + done, progress=False)
        done = epoch
        m, a = _measure(net, Xd, yd, delta_fn)
        out["margin"].append(m)
        out["acc"].append(a)
    return out


@dataclass
class Result:
    """``fig3`` and ``fig5``: the checkpoints ("epochs"), the minimum normalised adversarial
    margin ("margin") and the adversarial training accuracy ("acc")."""

    config: Config
    fig3: dict[str, list[float]]
    fig5: dict[str, list[float]]

    def separated_at(self, fig: str) -> int | None:
        """Index of the first checkpoint with adversarial training accuracy 1, or None."""
        acc = np.asarray(getattr(self, fig)["acc"])
        hit = np.flatnonzero(acc >= 1.0)
        return int(hit[0]) if hit.size else None

    def summary(self) -> dict[str, Any]:
        """Separation epoch and the margin there and at the end, per figure."""
        out = {}
        for fig in ("fig3", "fig5"):
            curve, k = getattr(self, fig), self.separated_at(fig)
            out[fig] = {"separated_at_epoch": None if k is None else curve["epochs"][k],
                        "margin_at_separation": None if k is None else curve["margin"][k],
                        "final_margin": curve["margin"][-1], "final_acc": curve["acc"][-1]}
        return out

    def to_json(self) -> dict[str, Any]:
        """The summary and both curves."""
        return {"summary": self.summary(), "fig3": self.fig3, "fig5": self.fig5}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train the Fig. 3 and Fig. 5 models and measure their margins (CPU, single-threaded)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("lyuzhu_appendix runs on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    gen = torch.Generator().manual_seed(seed)
    with single_thread():
        tr = data.load(cfg.dataset, split="train", flatten=True, data_dir=data_dir)
        net = models.HomogeneousMLP(tr.X.shape[1], cfg.mc_hidden, 10, generator=gen)
        fig3 = _curve(net, tr.X, tr.y, cfg.mc_epochs, lr=cfg.mc_lr, batch_size=cfg.batch_size,
                      momentum=cfg.momentum, loss="ce", attack=_fgsm_ce(cfg.mc_eps),
                      delta_fn=lambda m, X, y: attacks.fgsm(m, X, y, cfg.mc_eps, loss="ce"),
                      seed=seed)
        two = data.load(cfg.dataset, split="train", flatten=True, classes=cfg.exp_classes,
                        data_dir=data_dir)
        X, y = two.X, 2.0 * two.y.float() - 1.0
        adv = margins.Adversary("fgm", eps=cfg.exp_eps)
        wide = models.HomogeneousMLP(X.shape[1], (cfg.exp_width,), 1, generator=gen)
        fig5 = _curve(wide, X, y, cfg.exp_epochs, lr=cfg.exp_lr, batch_size=cfg.batch_size,
                      momentum=cfg.momentum, loss="exp",
                      attack=lambda model, xb, yb, _eps: adv.delta(model, xb, yb),
                      delta_fn=lambda m, Xm, ym: adv.delta(m, Xm, ym), seed=seed)
    return Result(cfg, fig3, fig5)
