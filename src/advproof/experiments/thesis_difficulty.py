"""Instance difficulty belongs to the data (thesis 003 §4.3.1, Table 4.3 and Fig. 4.15).

The difficulty (4.30) of a training instance is its loss, averaged over the epochs of a training
run, ranked among all instances. The thesis computes it for several architectures, training
methods (clean, FGSM, PGD) and runs on CIFAR-10, compares the functions by the D-distance (4.31),
and finds the distances between architectures and between runs much smaller than those between
training methods, PGD against clean the largest (Table 4.3). Fig. 4.15 shows that the
loss-based difficulty agrees with a 0-1-error-based one.

Quick mode: the 8x8 digits, the two models of :mod:`advproof.experiments.thesis_overfitting`
(a 64-256-256-10 ReLU MLP and a small CNN), clean / FGSM / PGD-3 training at eps = 0.1 with its
optimiser, 10 epochs, two seeds: 12 runs. The 0-1 difficulty ranks the 0-1 training errors
averaged over the epochs the same way (ties share their mid-rank).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advproof import data
from advproof import difficulty as dif
from advproof.experiments import thesis_overfitting as tov
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """The grid; the models, budget and optimiser are ``base``'s."""

    archs: tuple[str, ...] = ("mlp", "cnn")
    methods: tuple[str, ...] = ("clean", "fgsm", "pgd")
    seeds: tuple[int, ...] = (0, 1)
    epochs: int = 10
    base: tov.Config = field(default_factory=tov.Config)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(archs=("mlp",), methods=("clean", "pgd"), seeds=(0,), epochs=2),
    "full": Config(epochs=40, seeds=(0, 1, 2, 3), base=tov.CONFIGS["full"]),
}


@dataclass
class Result:
    """``loss_d[key]`` and ``error_d[key]``: the loss-based and the 0-1-based difficulty of the
    run ``key = "arch/method/seed"``, shape (N,)."""

    config: Config
    loss_d: dict[str, np.ndarray]
    error_d: dict[str, np.ndarray]

    def d(self, arch: str, method: str, seed: int) -> np.ndarray:
        """The loss-based difficulty of one run."""
        return self.loss_d[f"{arch}/{method}/{seed}"]

    def method_distance(self, m1: str, m2: str) -> float:
        """Mean D-distance between methods ``m1`` and ``m2`` over archs and seed pairs (for
        ``m1 == m2``, over pairs of different seeds: the run-to-run distance; NaN with one
        seed)."""
        cfg, vals = self.config, []
        for a in cfg.archs:
            for s1 in cfg.seeds:
                for s2 in cfg.seeds:
                    if m1 == m2 and s1 >= s2:
                        continue
                    vals.append(dif.d_distance(self.d(a, m1, s1), self.d(a, m2, s2)))
        return float(np.mean(vals)) if vals else float("nan")  # one seed: no run-to-run pair

    def arch_distance(self, a1: str, a2: str, method: str = "pgd") -> float:
        """Mean D-distance between architectures (same method) over seed pairs (different seeds
        when ``a1 == a2``)."""
        cfg, vals = self.config, []
        for s1 in cfg.seeds:
            for s2 in cfg.seeds:
                if a1 == a2 and s1 >= s2:
                    continue
                vals.append(dif.d_distance(self.d(a1, method, s1), self.d(a2, method, s2)))
        return float(np.mean(vals)) if vals else float("nan")

    def summary(self) -> dict[str, Any]:
        """Table 4.3's two halves and the loss-vs-0-1 correlations."""
        cfg = self.config
        methods = {f"{m1}-{m2}": round(self.method_distance(m1, m2), 4)
                   for i, m1 in enumerate(cfg.methods) for m2 in cfg.methods[i:]}
        archs = {f"{a1}-{a2}": round(self.arch_distance(a1, a2), 4)
                 for i, a1 in enumerate(cfg.archs) for a2 in cfg.archs[i:]}
        corr = {k: round(float(np.corrcoef(self.loss_d[k], self.error_d[k])[0, 1]), 4)
                for k in self.loss_d}
        return {"methods": methods, "archs": archs, "loss_vs_error": corr,
                "null": round(dif.d_null(len(next(iter(self.loss_d.values())))), 4)}

    def to_json(self) -> dict[str, Any]:
        """The summary and every difficulty function."""
        return {"summary": self.summary(),
                "loss_d": {k: v.round(6).tolist() for k, v in self.loss_d.items()},
                "error_d": {k: v.round(6).tolist() for k, v in self.error_d.items()}}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Every (arch, method, seed) run on the digits training set (CPU, float32, one thread)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"thesis_difficulty runs on the CPU in this version; got {device!r}")
    cfg = CONFIGS[mode]
    tr = data.load(cfg.base.dataset, split="train", n=cfg.base.n_train, data_dir=data_dir,
                   seed=seed)
    loss_d, error_d = {}, {}
    with single_thread():
        for arch in cfg.archs:
            arch_cfg = dataclasses.replace(cfg.base, arch=arch)
            for method in cfg.methods:
                for s in cfg.seeds:
                    errors = np.zeros((cfg.epochs, len(tr.y)))
                    _, losses = tov.train(arch_cfg, tr.X, tr.y, method, cfg.epochs, seed + s,
                                          errors=errors)
                    key = f"{arch}/{method}/{seed + s}"
                    loss_d[key] = dif.difficulty(losses)
                    error_d[key] = dif.difficulty(errors)
    return Result(cfg, loss_d, error_d)
