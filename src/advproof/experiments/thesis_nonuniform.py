"""Uniform and non-uniform certified bounds of vanilla and robust MLPs on the 8x8 digits
(thesis 003 §3.2.2: Tables 3.2-3.3, Figs. 3.4-3.5).

The thesis trains feed-forward nets with three hidden layers on MNIST, Fashion-MNIST and SVHN,
by empirical risk minimisation (vanilla) and by PGD adversarial training (robust, l_inf,
eps = 0.1 on pixels in [-1, 1]), and certifies every test image twice with linear bounds: the
largest uniform budget (a bisection, ``bounds.uniform_radius``) and the largest-volume
non-uniform budget of Alg. 3.3 (``bounds.nonuniform_radii``). Here the same is done on the
scikit-learn 8x8 digits (64 features), pixels scaled to [-1, 1]:

1. ``ten``: a 64-32-32-32-10 ReLU MLP, vanilla and robust (PGD-5, eps = 0.1), full-batch Adam;
   both budgets for the correctly classified points among the first ``n_test`` test images
   (Table 3.2: eps_avg, the geometric mean of the per-feature budgets; Table 3.3: cosines of the
   budget vectors; Fig. 3.4: the per-feature budgets).
2. ``pair``: the same nets trained on digits 1 vs 7 (Fig. 3.5's task); the non-uniform budgets
   ("bounding maps") of the correctly classified among the first ``pair_points`` test images of
   the two digits, and the discriminative map |mean(1) - mean(7)| of the training images.

Chosen here (the thesis gives no sizes for these models beyond their widths, nor training
details): width 32, 200 Adam steps (lr 1e-2), PGD-5 with step eps / 3, Alg. 3.3 with 60
steps, 50 test images. Quick mode: seconds on a CPU. Full mode: width 100 (the thesis's
MNIST-100 and Fig. 3.5 model), 1000 steps, every test image, 200 steps of Alg. 3.3.
Used by: notebooks/51_thesis_verify.ipynb; advproof.symbolic.thesis_verify (thesis3.table3_2,
thesis3.table3_3, thesis3.fig3_5).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

from advproof import attacks, bounds, data
from advproof.symbolic.thesis_verify import random_mlp
from advproof.threads import single_thread

__all__ = ["CONFIGS", "KINDS", "Config", "Result", "load", "run", "train_mlp", "unit_cosines"]

KINDS: tuple[str, ...] = ("vanilla", "robust")
Layers = list[tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class Config:
    """Sizes, the training budget and the two certification runs."""

    width: int = 32
    depth: int = 3  # hidden layers, as in the thesis
    steps: int = 200
    lr: float = 1e-2
    eps: float = 0.1  # l_inf, pixels in [-1, 1]
    pgd_steps: int = 5
    n_test: int | None = 50  # first test images (None: all)
    alg_steps: int = 60  # iterations of Alg. 3.3
    pair: tuple[int, int] = (1, 7)
    pair_points: int | None = 20


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(width=16, steps=60, pgd_steps=2, n_test=20, alg_steps=5, pair_points=6),
    "full": Config(width=100, steps=1000, n_test=None, alg_steps=200, pair_points=None),
}


def load(split: str, classes: tuple[int, ...] | None = None) -> tuple[Tensor, Tensor]:
    """Digits as float64 (N, 64) in [-1, 1] (the thesis's pixel range) and labels."""
    d = data.load("digits", split=split, flatten=True, classes=classes, dtype=torch.float64)
    return 2 * d.X - 1, d.y


@single_thread()
def train_mlp(X: Tensor, y: Tensor, classes: int, robust: bool, cfg: Config, seed: int
              ) -> Layers:
    """A ReLU MLP (``depth`` hidden layers of ``width``) by full-batch Adam on clean CE
    (vanilla) or on the CE of PGD points (robust, l_inf ``eps``, ``pgd_steps`` steps of
    ``eps / 3``, no random start: Madry et al.'s adversarial training)."""
    sizes = [X.shape[1]] + [cfg.width] * cfg.depth + [classes]
    layers = [(W.clone().requires_grad_(), b.clone().requires_grad_())
              for W, b in random_mlp(sizes, seed)]
    opt = torch.optim.Adam([t for pair in layers for t in pair], lr=cfg.lr)
    for _ in range(cfg.steps):
        xb = X
        if robust:
            frozen = [(W.detach(), b.detach()) for W, b in layers]
            with warnings.catch_warnings():  # points on dead units stay put: harmless here
                warnings.simplefilter("ignore", attacks.ZeroInputGradientWarning)
                xb = X + attacks.pgd(functools.partial(bounds.forward, frozen), X, y,
                                     eps=cfg.eps, alpha=cfg.eps / 3, steps=cfg.pgd_steps)
        loss = torch.nn.functional.cross_entropy(bounds.forward(layers, xb), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [(W.detach(), b.detach()) for W, b in layers]


def unit_cosines(vectors: Tensor) -> Tensor:
    """The cosine similarities of all pairs of rows, ``(N (N - 1) / 2,)``."""
    e = vectors / vectors.norm(dim=1, keepdim=True)
    i, j = torch.triu_indices(len(e), len(e), 1)
    return (e[i] * e[j]).sum(1)


@dataclass
class Result:
    """Per kind: the 10-class net, its uniform radii and non-uniform budgets; the 1-vs-7 nets
    and their bounding maps."""

    config: dict[str, Any]
    seed: int = 0
    layers: dict[str, Layers] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    index: dict[str, Tensor] = field(default_factory=dict)  # test images certified (N,)
    uniform: dict[str, Tensor] = field(default_factory=dict)  # (N,)
    eps: dict[str, Tensor] = field(default_factory=dict)  # (N, 64)
    pair_layers: dict[str, Layers] = field(default_factory=dict)
    pair_accuracy: dict[str, float] = field(default_factory=dict)
    map_index: dict[str, Tensor] = field(default_factory=dict)  # pair test images (N',)
    maps: dict[str, Tensor] = field(default_factory=dict)  # (N', 64)
    map_labels: dict[str, Tensor] = field(default_factory=dict)  # 0: first digit, 1: second
    discriminative: Tensor | None = None  # (64,) |mean(first) - mean(second)|, training set

    def eps_avg(self, kind: str) -> tuple[float, float]:
        """Table 3.2: the test-set means of the uniform radius and of the geometric mean of
        the non-uniform budgets."""
        geo = torch.exp(torch.log(self.eps[kind]).mean(1))
        return float(self.uniform[kind].mean()), float(geo.mean())

    def ratio(self, kind: str) -> float:
        """Table 3.2's ratio: non-uniform over uniform eps_avg."""
        u, nu = self.eps_avg(kind)
        return nu / u

    def cosines(self, kind: str) -> Tensor:
        """Table 3.3: cosines of the budget vectors of all pairs of test images."""
        return unit_cosines(self.eps[kind])

    def shuffled_cosines(self, kind: str, seed: int = 0) -> Tensor:
        """The baseline with the same marginals: every budget vector's entries put in a random
        order (each keeps its values and norm; the shared feature pattern is lost)."""
        gen = torch.Generator().manual_seed(seed)
        v = self.eps[kind]
        return unit_cosines(torch.stack([r[torch.randperm(len(r), generator=gen)] for r in v]))

    def large_share(self, kind: str, factor: float) -> float:
        """Fig. 3.4: the share of per-feature budgets above ``factor`` times the training eps."""
        return float((self.eps[kind] > factor * self.config["eps"]).double().mean())

    def map_correlations(self, kind: str) -> np.ndarray:
        """Fig. 3.5: Spearman rho of each bounding map with the discriminative map (nan for a
        constant map, e.g. a uniform box that Alg. 3.3 could not improve)."""
        disc = self.discriminative.numpy()
        return np.array([spearmanr(m.numpy(), disc).statistic if float(m.std()) > 0
                         else math.nan for m in self.maps[kind]])

    def summary(self) -> dict[str, Any]:
        """The numbers the chapter prints."""
        out = {}
        for k in self.eps:
            u, nu = self.eps_avg(k)
            cos, shuf = self.cosines(k), self.shuffled_cosines(k)
            out[k] = {"accuracy": round(self.accuracy[k], 4), "n": len(self.eps[k]),
                      "uniform": round(u, 4), "nonuniform": round(nu, 4),
                      "ratio": round(nu / u, 4), "cos_mean": round(float(cos.mean()), 4),
                      "cos_min": round(float(cos.min()), 4),
                      "shuffled_mean": round(float(shuf.mean()), 4),
                      "large_share_2eps": round(self.large_share(k, 2.0), 4)}
            if k in self.maps:
                out[k]["map_rho"] = round(float(self.map_correlations(k).mean()), 4)
        return out

    def to_json(self) -> dict[str, Any]:
        def lists(d: dict[str, Tensor]) -> dict[str, list]:
            return {k: v.tolist() for k, v in d.items()}

        return {"summary": self.summary(), "config": self.config, "seed": self.seed,
                "accuracy": self.accuracy, "pair_accuracy": self.pair_accuracy,
                "index": lists(self.index), "uniform": lists(self.uniform),
                "eps": lists(self.eps), "map_index": lists(self.map_index),
                "maps": lists(self.maps), "map_labels": lists(self.map_labels),
                "discriminative": None if self.discriminative is None
                else self.discriminative.tolist()}


def _correct(layers: Layers, X: Tensor, y: Tensor, limit: int | None) -> Tensor:
    """Indices of the correctly classified among the first ``limit`` points."""
    keep = torch.arange(len(X))[:limit]
    return keep[bounds.forward(layers, X[keep]).argmax(1) == y[keep]]


@single_thread()
def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train both nets for both tasks and certify them (CPU, float64)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {tuple(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("thesis_nonuniform certifies in float64 on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    res = Result(config=asdict(cfg), seed=seed)
    Xtr, ytr = load("train")
    Xte, yte = load("test")
    Ptr, ptr = load("train", cfg.pair)
    Pte, pte = load("test", cfg.pair)
    res.discriminative = (Ptr[ptr == 0].mean(0) - Ptr[ptr == 1].mean(0)).abs()
    for kind in KINDS:
        robust = kind == "robust"
        layers = train_mlp(Xtr, ytr, 10, robust, cfg, seed)
        res.layers[kind] = layers
        res.accuracy[kind] = float((bounds.forward(layers, Xte).argmax(1) == yte).double().mean())
        idx = _correct(layers, Xte, yte, cfg.n_test)
        res.index[kind] = idx
        res.uniform[kind] = bounds.uniform_radius(layers, Xte[idx], yte[idx], math.inf)
        res.eps[kind] = bounds.nonuniform_radii(layers, Xte[idx], yte[idx], math.inf,
                                                steps=cfg.alg_steps)
        pair = train_mlp(Ptr, ptr, 2, robust, cfg, seed)
        res.pair_layers[kind] = pair
        res.pair_accuracy[kind] = float((bounds.forward(pair, Pte).argmax(1) == pte)
                                        .double().mean())
        idx = _correct(pair, Pte, pte, cfg.pair_points)
        res.map_index[kind] = idx
        res.maps[kind] = bounds.nonuniform_radii(pair, Pte[idx], pte[idx], math.inf,
                                                 steps=cfg.alg_steps)
        res.map_labels[kind] = pte[idx]
    return res
