"""Reweighting and adaptive targets against hard instances (thesis 003 §4.3.5: Alg. 4.1,
Figs. 4.24-4.27).

Alg. 4.1 trains with ATTA's one-step perturbations and, after a warm-up, either weights each
instance by its adversarial true-label probability (reweighting) or trains on an adaptive target
``t = beta 1_y + (1 - beta) t~``, a moving average of the adversarial outputs
(:class:`advproof.atas.Alg41`). The thesis reports, on CIFAR-10:

* Fig. 4.24: the generalisation gap (robust test minus robust training error) shrinks as beta
  decreases (more adaptive targets);
* Fig. 4.25: ATTA with reweighting has a smaller gap than ATTA without;
* Figs. 4.26-4.27: an instance's difficulty (4.30) correlates with its average weight (0.890) and
  with its target's average true-label probability (0.960): hard instances are down-weighted and
  get softer targets.

Quick mode: the 8x8 digits and the MLP of :mod:`advproof.experiments.thesis_overfitting`, l_inf
eps = 0.1, ATTA step eps / 2 (the thesis: 4/255 for 8/255), rho = 0.9, 5 warm-up epochs, 30
epochs, SGD with momentum 0.9 from 0.05 (/10 at 50 % and 75 %), weight decay 5e-4; runs: ATTA,
ATTA with reweighting, adaptive targets with beta in {0.5, 0.1}. Robust (PGD-10) training and
test errors every 3 epochs. The difficulty comes from a PGD-3 reference run on the whole
training set (10 epochs), as in the thesis's Figs. 4.26-4.27 ("based on the PGD perturbation").
Unstated in the thesis and chosen here: the model, the epochs, the evaluation attack, and the
initial value of t~ (the one-hot label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advproof import atas, data
from advproof import difficulty as dif
from advproof.experiments import thesis_overfitting as tov
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """The runs; the model and its optimiser are ``base``'s (module docstring)."""

    eps: float = 0.1
    alpha_ratio: float = 0.5
    epochs: int = 30
    warmup: int = 5
    rho: float = 0.9
    betas: tuple[float, ...] = (0.5, 0.1)
    eval_every: int = 3
    eval_steps: int = 10
    base: tov.Config = field(default_factory=tov.Config)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(epochs=4, warmup=1, betas=(0.1,), eval_every=2, eval_steps=2,
                    base=tov.CONFIGS["smoke"]),
    "full": Config(epochs=38, eval_every=2, eval_steps=20, base=tov.CONFIGS["full"]),
}


@dataclass
class Result:
    """``curves[run]``: ``epoch``, ``robust_train`` and ``robust_test`` errors per evaluation;
    ``weights`` (the reweighting run) and ``target_true`` (``f"beta={b}"`` runs): per-instance
    averages after the warm-up; ``difficulty``: the PGD reference difficulty."""

    config: Config
    curves: dict[str, dict[str, list[float]]]
    weights: np.ndarray
    target_true: dict[str, np.ndarray]
    difficulty: np.ndarray

    def gap(self, run: str) -> float:
        """The final generalisation gap: robust test error minus robust training error."""
        c = self.curves[run]
        return float(c["robust_test"][-1] - c["robust_train"][-1])

    def summary(self) -> dict[str, Any]:
        """Final errors and gaps per run, and the two correlations with the difficulty."""
        runs = {k: {"robust_train": round(c["robust_train"][-1], 4),
                    "robust_test": round(c["robust_test"][-1], 4),
                    "gap": round(self.gap(k), 4)} for k, c in self.curves.items()}
        corr = {"weight": round(float(np.corrcoef(self.difficulty, self.weights)[0, 1]), 4)}
        corr |= {k: round(float(np.corrcoef(self.difficulty, v)[0, 1]), 4)
                 for k, v in self.target_true.items()}
        return {"runs": runs, "correlation_with_difficulty": corr}

    def to_json(self) -> dict[str, Any]:
        """The summary and every curve."""
        return {"summary": self.summary(), "curves": self.curves}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """The reference difficulty and the ATTA / reweighting / adaptive-target runs (CPU, one
    thread)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"thesis_reweight runs on the CPU in this version; got {device!r}")
    cfg = CONFIGS[mode]
    b = cfg.base
    tr = data.load(b.dataset, split="train", n=b.n_train, data_dir=data_dir, seed=seed)
    te = data.load(b.dataset, split="test", n=b.n_test, data_dir=data_dir, seed=seed)
    runs = {"atta": None, "reweight": atas.Alg41(reweight=True, rho=cfg.rho, warmup=cfg.warmup)}
    runs |= {f"beta={beta}": atas.Alg41(beta=beta, rho=cfg.rho, warmup=cfg.warmup)
             for beta in cfg.betas}
    curves, out = {}, {}
    with single_thread():
        _, ref_losses = tov.train(b, tr.X, tr.y, "pgd", b.ref_epochs, seed)
        for name, alg in runs.items():
            rec: dict[str, list[float]] = {"epoch": [], "robust_train": [], "robust_test": []}

            def log(epoch: int, model: torch.nn.Module, rec: dict = rec) -> None:
                if (epoch + 1) % cfg.eval_every and epoch + 1 != cfg.epochs:
                    return
                rec["epoch"].append(epoch + 1)
                for part, ds in (("robust_train", tr), ("robust_test", te)):
                    acc = atas.pgd_accuracy(model, ds.X, ds.y, eps=cfg.eps,
                                            steps=cfg.eval_steps, seed=seed + 10_000)
                    rec[part].append(1.0 - acc)
                model.train()

            model = tov.make_model(b, seed + 7)
            out[name] = atas.fast_at(model, tr.X, tr.y, method="atta", eps=cfg.eps,
                                     alpha=cfg.alpha_ratio * cfg.eps, num_epochs=cfg.epochs,
                                     lr=b.lr, batch_size=b.batch_size, momentum=b.momentum,
                                     weight_decay=b.weight_decay, seed=seed + 7, callback=log,
                                     alg41=alg)
            curves[name] = rec
    return Result(cfg, curves, out["reweight"].weights.double().numpy(),
                  {k: v.target_true.double().numpy() for k, v in out.items()
                   if k.startswith("beta=")},
                  dif.difficulty(ref_losses))
