"""Instance difficulty under common corruptions (thesis 003 §4.3.1, Table 4.4).

The thesis computes difficulty functions (4.30) on the CIFAR-10 *test* set (CIFAR10-C corrupts
only the test set): for models trained by clean, FGSM and PGD training, each test instance's
loss on its clean, FGSM or PGD version, averaged over the epochs; and for clean-trained models,
its loss on each of 18 corrupted versions. The D-distances (4.31) between the clean / FGSM / PGD
functions and the corruption functions (Table 4.4, 0.13 to 0.32) are much larger than those
between architectures or runs (Table 4.3, left half, at most 0.036): difficulty depends on the
perturbation applied to the input, common corruptions included.

Quick mode: the 8x8 digits (1438 train, 359 test), the MLP and optimiser of
:mod:`advproof.experiments.thesis_overfitting` at eps = 0.1, 10 epochs, two seeds; five
corruptions of the test images made here (the 8x8 digits have no CIFAR10-C): Gaussian noise
(sigma 0.1), impulse noise (5 % of the pixels set to 0 or 1), Gaussian blur (3x3, sigma 0.8),
contrast (halved around each image's mean) and brightness (+0.2), clipped to [0, 1], each drawn
once per seed of the data. After every epoch every model's per-instance test losses are
recorded on the inputs of its own kind (clean, FGSM, PGD-3 with a fixed start), and the
clean-trained models' also on each corrupted test set.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from advproof import data
from advproof import difficulty as dif
from advproof.experiments import thesis_overfitting as tov
from advproof.threads import single_thread

__all__ = ["CONFIGS", "CORRUPTIONS", "Config", "Result", "corrupt", "run"]

CORRUPTIONS: tuple[str, ...] = ("gaussian_noise", "impulse_noise", "gaussian_blur", "contrast",
                                "brightness")


@dataclass(frozen=True)
class Config:
    """The grid; model, budget and optimiser are ``base``'s."""

    methods: tuple[str, ...] = ("clean", "fgsm", "pgd")
    corruptions: tuple[str, ...] = CORRUPTIONS
    seeds: tuple[int, ...] = (0, 1)
    epochs: int = 10
    base: tov.Config = field(default_factory=tov.Config)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(methods=("clean", "pgd"), corruptions=("gaussian_noise", "contrast"),
                    seeds=(0,), epochs=2),
    "full": Config(epochs=40, seeds=(0, 1, 2, 3), base=tov.CONFIGS["full"]),
}


def corrupt(X: Tensor, name: str, side: int, gen: torch.Generator) -> Tensor:
    """The corrupted copy of the one-channel images ``X`` in [0, 1], shape (N, side * side) or
    (N, 1, side, side)."""
    if name == "gaussian_noise":
        out = X + 0.1 * torch.randn(X.shape, generator=gen, dtype=X.dtype)
    elif name == "impulse_noise":
        hit = torch.rand(X.shape, generator=gen) < 0.05
        salt = (torch.rand(X.shape, generator=gen) < 0.5).to(X.dtype)
        out = torch.where(hit, salt, X)
    elif name == "gaussian_blur":
        g = torch.exp(-torch.tensor([-1.0, 0.0, 1.0], dtype=X.dtype) ** 2 / (2 * 0.8**2))
        k = torch.outer(g, g) / torch.outer(g, g).sum()
        img = X.reshape(-1, 1, side, side)
        img = nn.functional.pad(img, (1, 1, 1, 1), mode="replicate")
        out = nn.functional.conv2d(img, k.reshape(1, 1, 3, 3)).reshape(X.shape)
    elif name == "contrast":
        mean = X.flatten(1).mean(dim=1).reshape(-1, *([1] * (X.ndim - 1)))  # per image
        out = mean + 0.5 * (X - mean)
    elif name == "brightness":
        out = X + 0.2
    else:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    return out.clamp(0.0, 1.0)


@dataclass
class Result:
    """``d[f"{kind}/{s}"]``: the test-set difficulty of the run with seed offset ``s`` (a
    member of ``config.seeds``), ``kind`` a training method (its own inputs) or a corruption
    (the clean-trained model on corrupted inputs); shape (N,)."""

    config: Config
    d: dict[str, np.ndarray]

    def distance(self, a: str, b: str) -> float:
        """Mean D-distance between kinds ``a`` and ``b`` over seed pairs (different seeds when
        ``a == b``: the run-to-run distance; NaN with one seed)."""
        seeds = self.config.seeds
        vals = [dif.d_distance(self.d[f"{a}/{s1}"], self.d[f"{b}/{s2}"])
                for s1, s2 in itertools.product(seeds, seeds) if a != b or s1 < s2]
        return float(np.mean(vals)) if vals else float("nan")

    def summary(self) -> dict[str, Any]:
        """Table 4.4 (methods x corruptions) and the run-to-run distances of the methods."""
        cfg = self.config
        table = {m: {c: round(self.distance(m, c), 4) for c in cfg.corruptions}
                 for m in cfg.methods}
        runs = {m: round(self.distance(m, m), 4) for m in cfg.methods}
        return {"table": table, "run_to_run": runs,
                "null": round(dif.d_null(len(next(iter(self.d.values())))), 4)}

    def to_json(self) -> dict[str, Any]:
        """The summary and every difficulty function."""
        return {"summary": self.summary(),
                "d": {k: v.round(6).tolist() for k, v in self.d.items()}}


def _per_instance_loss(model: nn.Module, X: Tensor, y: Tensor) -> np.ndarray:
    with torch.no_grad():
        return nn.functional.cross_entropy(model(X), y, reduction="none").double().numpy()


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Every (method, seed) run with its per-epoch test losses (CPU, float32, one thread)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"thesis_corruptions runs on the CPU in this version; got {device!r}")
    cfg = CONFIGS[mode]
    b = cfg.base
    tr = data.load(b.dataset, split="train", n=b.n_train, data_dir=data_dir, seed=seed)
    te = data.load(b.dataset, split="test", n=b.n_test, data_dir=data_dir, seed=seed)
    d = {}
    with single_thread():
        for s in cfg.seeds:
            gen = torch.Generator().manual_seed(seed + s + 20_000)
            corrupted = {c: corrupt(te.X, c, b.side, gen) for c in cfg.corruptions}
            for method in cfg.methods:
                kinds = [method, *(cfg.corruptions if method == "clean" else ())]
                hist = {k: np.zeros((cfg.epochs, len(te.y))) for k in kinds}

                def log(model: nn.Module, epoch: int, hist: dict = hist, method: str = method,
                        corrupted: dict = corrupted) -> None:
                    model.eval()
                    x = tov.perturb(model, te.X, te.y, method, b,
                                    torch.Generator().manual_seed(seed + 30_000))
                    hist[method][epoch] = _per_instance_loss(model, x, te.y)
                    for c in hist.keys() - {method}:
                        hist[c][epoch] = _per_instance_loss(model, corrupted[c], te.y)

                tov.train(b, tr.X, tr.y, method, cfg.epochs, seed + s, on_epoch=log)
                for k, h in hist.items():
                    d[f"{k}/{s}"] = dif.difficulty(h)  # s: the config's seed offset
    return Result(cfg, d)
