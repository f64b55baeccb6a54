"""Lyu & Zhu (002) §4 and App. C.1-C.2 (Figs. 1, 2 and 4): the normalised adversarial margin of
adversarially trained bias-free MLPs keeps increasing after the adversarial examples are fitted.

A bias-free ReLU MLP (homogeneous, so Lemma 3 and Theorems 3-5 apply) is trained on a binary task
(quick: digits 3 vs 8 from scikit-learn's 8x8 set; full: the same classes of Fashion-MNIST, or of
MNIST with ``--data``) with the logistic loss and SGD with a constant step, as in 002's Fig. 2:
once without attack and once each with FGSM, l_inf-PGD and l2-FGM adversarial training. At
log-spaced epochs every model is measured in float64 on the whole training set, under each of the
three attacks: the normalised adversarial margin gamma~_m / prod_k ||W_k||_F and the adversarial
training accuracy. 002 reports (Figs. 1, 2, 4) that the margins of the adversarially trained
models keep increasing and that the standard model's are lower, and that adversarial training
accuracy reaches 100%.

Settings 002 does not give (learning rate, momentum, epochs of Fig. 2, biases, PGD random start,
the classes of Fig. 4): the book's choices are in :class:`Config` and in the chapter.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advproof import data, margins, models, train
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]

ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "fgm")


@dataclass(frozen=True)
class Config:
    """The book's choices; 002 fixes only the architecture family, batch 80 and the attacks."""

    dataset: str = "digits"
    classes: tuple[int, int] = (3, 8)
    hidden: tuple[int, ...] = (64, 32)  # 002: 1024-64 on MNIST
    lr: float = 0.1
    momentum: float = 0.9
    batch_size: int = 80  # 002 §4
    epochs: tuple[int, ...] = (1, 2, 4, 8, 15, 30, 60, 120, 200, 300)  # checkpoints
    eps_inf: float = 0.05  # FGSM and l_inf-PGD (pixels in [0, 1])
    pgd_steps: int = 5  # 002 §4: 5 steps of 6/255 at eps = 16/255, i.e. alpha = 0.375 eps
    pgd_rel_alpha: float = 0.375
    eps_l2: float = 0.5  # FGM
    n_train: int | None = None  # all training samples of the two classes


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(dataset="fashion-mnist", hidden=(1024, 64), lr=0.05,
                   epochs=(1, 2, 4, 8, 15, 30, 60, 100, 150, 200), eps_inf=16 / 255,
                   eps_l2=2.0),
}


def adversaries(cfg: Config) -> dict[str, margins.Adversary]:
    """The three attacks of 002's experiments, with the book's sizes."""
    return {"fgsm": margins.Adversary("fgsm", eps=cfg.eps_inf),
            "pgd": margins.Adversary("pgd_linf", eps=cfg.eps_inf, steps=cfg.pgd_steps,
                                     alpha=cfg.pgd_rel_alpha * cfg.eps_inf),
            "fgm": margins.Adversary("fgm", eps=cfg.eps_l2)}


def _measure(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor,
             advs: dict[str, margins.Adversary]) -> dict[str, tuple[float, float]]:
    """(normalised adversarial margin, adversarial accuracy) per attack, float64 copy."""
    net = copy.deepcopy(model).double().eval()
    out = {}
    for name, adv in advs.items():
        q = margins.adversarial_margins(net, X, y, adv).detach()
        out[name] = (float(q.min() / margins.rho(net).detach()), float((q > 0).double().mean()))
    return out


def train_run(X: torch.Tensor, y: torch.Tensor, cfg: Config, trained_with: str | None, *,
              seed: int) -> dict[str, np.ndarray]:
    """Train one model (``trained_with`` an attack name or None) and measure it at the epochs.

    Returns arrays: "epochs", and "<attack>_margin", "<attack>_acc" per attack.
    """
    advs = adversaries(cfg)
    net = models.HomogeneousMLP(X.shape[1], cfg.hidden, 1,
                                generator=torch.Generator().manual_seed(seed))
    adv = advs[trained_with] if trained_with else None
    attack = (lambda model, xb, yb, eps: adv.delta(model, xb, yb)) if adv else None
    Xd, yd = X.double(), y.double()
    rows, done = [], 0
    for epoch in cfg.epochs:
        train.train(net, X, y, num_epochs=epoch - done, lr=cfg.lr, batch_size=cfg.batch_size,
                    momentum=cfg.momentum, loss="bce", attack=attack,
                    eps_schedule=1.0 if attack else 0.0, seed=seed + done, progress=False)
        done = epoch
        rows.append(_measure(net, Xd, yd, advs))
    out = {"epochs": np.array(cfg.epochs)}
    for name in advs:
        out[f"{name}_margin"] = np.array([r[name][0] for r in rows])
        out[f"{name}_acc"] = np.array([r[name][1] for r in rows])
    return out


@dataclass
class Result:
    """Per trained model ("standard", "fgsm", "pgd", "fgm"): the measurements at the epochs."""

    config: Config
    n_train: int
    runs: dict[str, dict[str, np.ndarray]]
    extra: dict[str, Any] = field(default_factory=dict)

    def separated_at(self, model: str) -> int | None:
        """First checkpoint epoch at which the model fits all its own adversarial examples."""
        attack = "fgsm" if model == "standard" else model
        acc = self.runs[model][f"{attack}_acc"]
        hit = np.flatnonzero(acc >= 1.0)
        return int(self.runs[model]["epochs"][hit[0]]) if hit.size else None

    def summary(self) -> dict[str, Any]:
        """Final margins and accuracies under each attack, and the separation epochs."""
        out: dict[str, Any] = {"n_train": self.n_train}
        for model, r in self.runs.items():
            out[model] = {"separated_at": self.separated_at(model),
                          **{f"{a}_margin": float(r[f"{a}_margin"][-1]) for a in ATTACKS},
                          **{f"{a}_acc": float(r[f"{a}_acc"][-1]) for a in ATTACKS}}
        return out

    def to_json(self) -> dict[str, Any]:
        """Summary and every curve as lists."""
        return {"summary": self.summary(),
                "runs": {m: {k: np.asarray(v).round(12).tolist() for k, v in r.items()}
                         for m, r in self.runs.items()}}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train the standard and the three adversarially trained models (CPU)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("lyuzhu_margins runs on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    tr = data.load(cfg.dataset, split="train", flatten=True, classes=cfg.classes,
                   data_dir=data_dir, n=cfg.n_train, seed=seed)
    X, y = tr.X, 2.0 * tr.y.float() - 1.0
    with single_thread():
        runs = {name or "standard": train_run(X, y, cfg, name, seed=seed)
                for name in (None, *ATTACKS)}
    return Result(cfg, len(X), runs)
