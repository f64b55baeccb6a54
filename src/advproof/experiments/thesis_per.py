"""Training for verifiability on a 2-D toy: PER and PER+at against CE, IBP and KW (thesis 003
§3.3.3-3.3.4: Alg. 3.6, Figs. 3.8-3.9).

The thesis trains FC1 / CNN models on MNIST and CIFAR-10 with seven baselines (Tables
3.6-3.8). Here a 2-width-width-3 ReLU MLP is trained on three Gaussian blobs
(:func:`advproof.data.make_blobs`) by :func:`advproof.symbolic.thesis_verify.train_toy` in five
ways (``TOY_KINDS``): clean CE; the provable baselines IBP and KW (half clean CE, half the
worst-case CE (3.1) on IBP's or on the linear margin bounds, eps ramped up); CE + PER (3.20);
and PER+at (Alg. 3.6 with ``B' = B``: half clean, half PGD-10 CE, plus PER measured from the
PGD points). All at l_inf budget ``eps``, ``alpha = 1.5 eps`` (the thesis's rule), ``C = 2``.

Each model is evaluated on an independent test draw of the blobs:

* clean error, PGD-20 error, certified robust error by linear bounds (CRE Lin) and by IBP, and
  the one-shot PEC average certified bound (ACB PEC) (:func:`thesis_verify.evaluate_toy`);
* its weights (Fig. 3.8): total l1 and l2 norms and the share of near-zero weights;
* the optimal certified radius of every test point (Fig. 3.9): Alg. 3.5 with PEC
  (:func:`advproof.bounds.search_radii`) on ``[0, search_hi * eps]`` to precision
  ``search_tol * eps``.

Chosen here (the thesis gives no toy): the data, the net, the optimiser (full-batch Adam, lr
1e-2), the CE mixing of the baselines, and ``C = 2`` (there are only K - 1 = 2 distances).
Quick mode: 300 training and 300 test points, width 16, 300 steps, eps = 0.8 (seconds on a CPU).
Full mode: 2000 + 2000 points, width 32, 1000 steps (minutes on a CPU).
Used by: notebooks/51_thesis_verify.ipynb; advproof.symbolic.thesis_verify (thesis3.alg3_6,
thesis3.fig3_8, thesis3.fig3_9).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from advproof import bounds, data
from advproof.symbolic import thesis_verify as tv

__all__ = ["CONFIGS", "Config", "Result", "optimal_radii", "run"]

#: The distance between blob centres (``data.make_blobs``'s default, std 1).
BLOB_SEPARATION = 4.0


@dataclass(frozen=True)
class Config:
    """Sizes of the toy, the budget, PER's weight, and the radius search."""

    n_train: int = 300
    n_test: int = 300
    width: int = 16
    steps: int = 300
    eps: float = 0.8
    per_beta: float = 1.0
    kinds: tuple[str, ...] = tv.TOY_KINDS
    search_hi: float = 4.0  # the search interval is [0, search_hi * eps]
    search_tol: float = 1e-3  # precision of the search, in units of eps
    small_weight: float = 0.05  # |w| below this counts as near zero (Fig. 3.8's sparsity)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(n_train=60, n_test=60, steps=30),
    "full": Config(n_train=2000, n_test=2000, width=32, steps=1000),
}


@dataclass
class Result:
    """Per training kind: the trained layers, the test metrics, and the optimal radii."""

    config: dict[str, Any]
    seed: int = 0
    layers: dict[str, list[tuple[Tensor, Tensor]]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    radii: dict[str, list[float]] = field(default_factory=dict)
    calls: dict[str, list[int]] = field(default_factory=dict)

    @property
    def eps(self) -> float:
        """The training and evaluation budget (l_inf)."""
        return float(self.config["eps"])

    @property
    def alpha(self) -> float:
        """PER's hinge threshold, 1.5 eps."""
        return 1.5 * self.eps

    def train_data(self) -> tuple[Tensor, Tensor]:
        """The training points (regenerated: a pure function of the config and seed)."""
        return data.make_blobs(self.config["n_train"], d=2, k=3, separation=BLOB_SEPARATION,
                               seed=self.seed)

    def test_data(self) -> tuple[Tensor, Tensor]:
        """The test points, an independent draw of the same blobs."""
        return data.make_blobs(self.config["n_test"], d=2, k=3, separation=BLOB_SEPARATION,
                               seed=self.seed, split="test")

    def bayes_error(self) -> float:
        """Test error of the nearest-centre rule, the Bayes classifier of the blobs (equal
        priors, isotropic Gaussians of one variance): the floor of every model's clean error."""
        Xt, yt = self.test_data()
        centres = torch.from_numpy(data.blob_centres(3, 2, BLOB_SEPARATION))
        return float((torch.cdist(Xt, centres).argmin(1) != yt).double().mean())

    def weights(self, kind: str) -> Tensor:
        """Every weight of the model (biases excluded), flattened."""
        return torch.cat([W.flatten() for W, _ in self.layers[kind]])

    def weight_stats(self, kind: str) -> dict[str, float]:
        """Fig. 3.8's reading: total l1 and l2 norms, and the share of near-zero weights."""
        w = self.weights(kind)
        return {"l1": float(w.abs().sum()), "l2": float(w.norm()),
                "small": float((w.abs() < self.config["small_weight"]).double().mean())}

    def radius_shares(self, kind: str, top: float) -> dict[str, float]:
        """Fig. 3.9's reading: the share of test points with optimal radius at least eps
        (right of the red line), and the share of those with radius at most ``top * eps``
        (concentrated just right of it)."""
        r = np.asarray(self.radii[kind])
        right = r >= self.eps
        near = right & (r <= top * self.eps)
        return {"right": float(right.mean()),
                "near": float(near.sum() / max(right.sum(), 1)),
                "median_right": float(np.median(r[right]) / self.eps) if right.any()
                else math.nan}

    def summary(self) -> dict[str, Any]:
        """The numbers the chapter prints, per kind."""
        return {k: {**{m: round(v, 4) for m, v in self.metrics[k].items()},
                    **{f"w_{m}": round(v, 4) for m, v in self.weight_stats(k).items()},
                    "radius_right": round(self.radius_shares(k, 1.5)["right"], 4),
                    "radius_near_alpha": round(self.radius_shares(k, 1.5)["near"], 4),
                    "mean_calls": round(float(np.mean(self.calls[k])), 3)}
                for k in self.metrics}

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "config": self.config, "seed": self.seed,
                "metrics": self.metrics, "radii": self.radii, "calls": self.calls,
                "layers": {k: [(W.tolist(), b.tolist()) for W, b in v]
                           for k, v in self.layers.items()}}


def optimal_radii(layers: list[tuple[Tensor, Tensor]], X: Tensor, y: Tensor, eps_hi: float,
                  tol: float) -> tuple[Tensor, Tensor]:
    """Alg. 3.5 with PEC (l_inf) for every point: the optimal certified radii and the number of
    bound computations each needed (misclassified points end at 0)."""
    cert, _, calls = bounds.search_radii(
        lambda i, t: bounds.pec_radius(layers, X[i], y[i], t, math.inf), len(X), eps_hi, tol)
    return cert, calls


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train the toy in every way of ``kinds`` and evaluate it on the test draw (CPU, float64)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {tuple(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("thesis_per trains and certifies in float64 on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    res = Result(config=asdict(cfg), seed=seed)
    Xt, yt = res.test_data()
    for kind in cfg.kinds:
        layers, _, _ = tv.train_toy(kind, cfg.eps, n=cfg.n_train, width=cfg.width,
                                    steps=cfg.steps, seed=seed, per_beta=cfg.per_beta)
        res.layers[kind] = layers
        res.metrics[kind] = tv.evaluate_toy(layers, Xt, yt, cfg.eps)
        radii, calls = optimal_radii(layers, Xt, yt, cfg.search_hi * cfg.eps,
                                     cfg.search_tol * cfg.eps)
        res.radii[kind] = radii.tolist()
        res.calls[kind] = calls.tolist()
    return res
