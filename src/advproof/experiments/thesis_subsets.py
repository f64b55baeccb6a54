"""Easy / random / hard subsets over budgets and sizes (thesis 003 §4.3.2-4.3.3: Figs. 4.18,
4.20, 4.22 and Table 4.5).

The thesis trains PGD adversarial training on class-balanced subsets of the easiest, random and
hardest training instances (by the difficulty (4.30)) and reports:

* Figs. 4.18-4.19: the robust overfitting (best minus final robust test accuracy) of the random and
  hard subsets grows with the budget eps;
* Fig. 4.20: on growing subsets, starting from the easiest instances, the best robust test
  accuracy (validation model selection) still grows with the data;
* Table 4.5 and Fig. 4.22: an upper-bound estimate of the trained network's Lipschitz constant
  is smallest for the easy subset and largest for the hard one, grows with eps, and grows during
  training, fastest on the hard subset.

Quick mode: the digits and the MLP of :mod:`advproof.experiments.thesis_overfitting` (its
optimiser, schedule and PGD), the difficulty from its reference run (PGD training on the whole
training set), subsets of 30 per class, l_inf eps in {0.05, 0.1, 0.2} and (Fig. 4.19) l_2 eps in
{0.25, 0.5, 1.0} (l_2 PGD training and evaluation; each is 0.63 of the l_2 radius 8 eps of the
l_inf ball of 0.05 / 0.1 / 0.2 on the 64 pixels, where the thesis's l_2 1.0 is 0.58 of that of
8/255 on CIFAR-10's 3072), 40 epochs; growing subsets of the 10,
30 and 100 easiest per class at l_inf eps = 0.1. After every ``eval_every`` epochs: robust
test accuracy, and two l2 Lipschitz estimates of the logits (:mod:`advproof.lipschitz`): the
product of the layers' spectral norms (an upper bound, the naive form of the Scaman-Virmaux
estimate the thesis uses) and the largest input-Jacobian spectral norm over ``lip_points`` test
images (a lower bound on the constant over the data).

Unstated in the thesis and chosen here: the eps grids (their values are given only for Table 4.5),
the growth sizes, the Lipschitz estimator (SeqLip's settings are not given) and its evaluation
schedule.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from advproof import data, lipschitz
from advproof import difficulty as dif
from advproof.experiments import thesis_overfitting as tov
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """The grids; model, optimiser, PGD and evaluation are ``base``'s."""

    eps_grid: tuple[float, ...] = (0.05, 0.1, 0.2)
    l2_grid: tuple[float, ...] = (0.25, 0.5, 1.0)  # Fig. 4.19: l_2 PGD training
    subsets: tuple[str, ...] = tov.SUBSETS
    sizes: tuple[int, ...] = (10, 30, 100)  # per class, the easiest first
    growth_eps: float = 0.1
    lip_points: int = 200
    base: tov.Config = field(default_factory=tov.Config)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(eps_grid=(0.1, 0.2), l2_grid=(1.0,), sizes=(10, 30), lip_points=20,
                    base=tov.CONFIGS["smoke"]),
    "full": Config(eps_grid=(2 / 255, 4 / 255, 8 / 255), l2_grid=(0.5, 0.75, 1.0),
                   growth_eps=8 / 255,
                   sizes=(100, 300, 1000, 3000, 6000), lip_points=1000,
                   base=dataclasses.replace(tov.CONFIGS["full"], arch="mlp",
                                            widths=(1024, 1024))),
}


@dataclass
class Result:
    """``grid[f"{subset}|{eps}"]``, ``grid_l2[f"{subset}|{eps}"]`` (l_2 training and
    evaluation) and ``growth[per_class]``: per-evaluation curves (lists) of ``epoch``,
    ``robust_test``, ``lip_upper`` (spectral product) and ``lip_lower`` (largest local Jacobian
    norm)."""

    config: Config
    grid: dict[str, dict[str, list[float]]]
    growth: dict[int, dict[str, list[float]]]
    subset_difficulty: dict[str, float] = field(default_factory=dict)
    grid_l2: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def curve(self, subset: str, eps: float, norm: str = "linf") -> dict[str, list[float]]:
        """The curves of one (subset, eps) run under the ``norm`` ("linf" or "l2")."""
        return (self.grid if norm == "linf" else self.grid_l2)[f"{subset}|{eps}"]

    def gap(self, subset: str, eps: float, norm: str = "linf") -> float:
        """Best minus final robust test accuracy of one run (the overfitting gap)."""
        r = self.curve(subset, eps, norm)["robust_test"]
        return float(max(r) - r[-1])

    def lip(self, subset: str, eps: float, which: str = "lip_upper") -> float:
        """The final Lipschitz estimate of one run (``lip_upper`` or ``lip_lower``)."""
        return float(self.curve(subset, eps)[which][-1])

    def summary(self) -> dict[str, Any]:
        """Table 4.5 (final estimates), the gaps of Fig. 4.18 and the growth of Fig. 4.20."""
        cfg = self.config
        rows = {f"{s}|{e:g}": {"gap": round(self.gap(s, e), 4),
                               "best_robust_test": round(max(self.curve(s, e)["robust_test"]), 4),
                               "lip_upper": round(self.lip(s, e), 2),
                               "lip_lower": round(self.lip(s, e, "lip_lower"), 3)}
                for s in cfg.subsets for e in cfg.eps_grid}
        growth = {k: {"best": round(max(c["robust_test"]), 4),
                      "final": round(c["robust_test"][-1], 4)} for k, c in self.growth.items()}
        l2 = {f"{s}|{e:g}": {"gap": round(self.gap(s, e, "l2"), 4),
                             "best_robust_test": round(max(self.curve(s, e, "l2")["robust_test"]),
                                                       4)}
              for s in cfg.subsets for e in cfg.l2_grid if f"{s}|{e}" in self.grid_l2}
        return {"grid": rows, "grid_l2": l2, "growth": growth,
                "subset_difficulty": self.subset_difficulty}

    def to_json(self) -> dict[str, Any]:
        """The summary and every curve."""
        return {"summary": self.summary(), "grid": self.grid, "grid_l2": self.grid_l2,
                "growth": {str(k): v for k, v in self.growth.items()}}


def _train_logged(cfg: tov.Config, X: torch.Tensor, y: torch.Tensor, te: data.Dataset,
                  seed: int, lip_points: int) -> dict[str, list[float]]:
    """PGD training on (X, y), evaluated every ``cfg.eval_every`` epochs and after the last."""
    rec: dict[str, list[float]] = {"epoch": [], "robust_test": [], "lip_upper": [],
                                   "lip_lower": []}
    Xl = te.X[:lip_points]

    def log(model: nn.Module, epoch: int) -> None:
        if (epoch + 1) % cfg.eval_every and epoch + 1 != cfg.epochs:
            return
        rec["epoch"].append(epoch + 1)
        rec["robust_test"].append(tov.accuracy(model, te.X, te.y, cfg, seed, True))
        rec["lip_upper"].append(lipschitz.spectral_product(model))
        rec["lip_lower"].append(float(lipschitz.local_jacobian_norm(model, Xl).max()))

    tov.train(cfg, X, y, "pgd", cfg.epochs, seed + 7, on_epoch=log)
    return rec


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """The reference difficulty, the (subset, eps) grid and the growing subsets (CPU, float32,
    one thread)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"thesis_subsets runs on the CPU in this version; got {device!r}")
    cfg = CONFIGS[mode]
    tr = data.load(cfg.base.dataset, split="train", n=cfg.base.n_train, data_dir=data_dir,
                   seed=seed)
    te = data.load(cfg.base.dataset, split="test", n=cfg.base.n_test, data_dir=data_dir,
                   seed=seed)
    labels = tr.y.numpy()
    with single_thread():
        _, ref_losses = tov.train(cfg.base, tr.X, tr.y, "pgd", cfg.base.ref_epochs, seed)
        d = dif.difficulty(ref_losses)
        runs: dict[tuple[float, float, bytes], dict[str, list[float]]] = {}

        def train_on(idx: np.ndarray, eps: float, p: float = math.inf
                     ) -> dict[str, list[float]]:
            idx = np.sort(idx)
            k = (p, eps, idx.tobytes())  # the same data, norm and eps: the same run
            if k not in runs:
                t = torch.from_numpy(idx)
                runs[k] = _train_logged(dataclasses.replace(cfg.base, eps=eps, p=p), tr.X[t],
                                        tr.y[t], te, seed, cfg.lip_points)
            return runs[k]

        grid, grid_l2, means = {}, {}, {}
        for s in cfg.subsets:
            idx = dif.balanced_subset(d, labels, cfg.base.per_class, s, seed=seed)
            means[s] = round(float(d[idx].mean()), 4)
            for eps in cfg.eps_grid:
                grid[f"{s}|{eps}"] = train_on(idx, eps)
            for eps in cfg.l2_grid:
                grid_l2[f"{s}|{eps}"] = train_on(idx, eps, 2.0)
        growth = {k: train_on(dif.balanced_subset(d, labels, k, "easy", seed=seed),
                              cfg.growth_eps) for k in cfg.sizes}
    return Result(cfg, grid, growth, means, grid_l2)
