"""Theorem 2 on a convex toy: SGD on l_inf-adversarial logistic regression (004 Sec. 3.2).

The adversarial loss of binary logistic regression under an l_inf budget has a closed form,
``L_eps(w) = mean log(1 + exp(-y w^T x + eps ||w||_1))`` (004 eq. 6, ``advproof.bounds``), with
kinks on every hyperplane ``w_j = 0``. We run plain SGD with a constant step on it and measure
the full-batch gradient norm ``||grad L_eps(w_t)||`` over the last 20% of the iterations:

- the *floor* (its mean there) rises with eps (claim ``liu.thm2``, check ``thm2_sgd_floor``);
  at eps = 0 only the SGD-noise floor remains;
- the tail frequencies ``P(||grad|| > gamma eps L_thetax)`` against the corrected bound
  ``4/(gamma - 2)^2`` and the printed ``4/(gamma^2 - 2 gamma + 4)``, with ``L_thetax`` bounded
  analytically along the trajectory (so the comparison is honest, and loose).

Data: two overlapping Gaussian blobs in 20-D (``data.load("blobs")``), labels +-1. Nothing here
comes from the paper, which has no such experiment; the setting follows the notes (§2.7).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from advproof import data

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """Sizes of the SGD run (book choices; the paper has no convex experiment)."""

    n: int = 1000
    d: int = 20
    separation: float = 2.0
    eps_grid: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2)
    iters: int = 8000
    batch_size: int = 32
    lr: float = 0.05
    record_every: int = 10
    tail_fraction: float = 0.2
    gammas: tuple[float, ...] = (3.0, 5.0, 6.0, 8.0, 10.0)


CONFIGS: dict[str, Config] = {"quick": Config(), "full": Config(n=4000, iters=200000)}


@dataclass
class Result:
    """Late-phase gradient norms per eps, their mean (the floor) and the tail frequencies."""

    config: Config
    eps_grid: tuple[float, ...]
    norms: np.ndarray  # (len(eps_grid), recorded steps)
    L_thetax: np.ndarray  # analytic bound on L_thetax per eps
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def floor(self) -> np.ndarray:
        """Mean full-batch gradient norm over the last ``tail_fraction`` of the run, per eps."""
        return self.norms.mean(1)

    def spearman(self) -> float:
        """Spearman rank correlation between eps and the floor (nan if either is constant)."""
        if len(set(self.eps_grid)) < 2:
            return float("nan")
        return float(spearmanr(self.eps_grid, self.floor).statistic)

    def tails(self) -> dict[float, np.ndarray]:
        """``P(||grad|| > gamma eps L_thetax)`` per gamma (rows) and eps > 0 (columns)."""
        keep = np.array(self.eps_grid) > 0
        eps_ = np.array(self.eps_grid)[keep]
        return {g: (self.norms[keep] > (g * eps_ * self.L_thetax[keep])[:, None]).mean(1)
                for g in self.config.gammas}

    def summary(self) -> dict[str, Any]:
        """The floor per eps, rho, and the largest tail frequency per gamma with both bounds."""
        tails = self.tails()
        return {"eps": list(self.eps_grid), "floor": [round(float(v), 6) for v in self.floor],
                "spearman": round(self.spearman(), 4),
                "L_thetax": [round(float(v), 4) for v in self.L_thetax],
                "tail_max": {str(g): float(v.max()) for g, v in tails.items()},
                "bound_corrected": {str(g): (4 / (g - 2) ** 2) for g in tails},
                "bound_printed": {str(g): 4 / (g * g - 2 * g + 4) for g in tails}}

    def to_json(self) -> dict[str, Any]:
        """Everything as JSON-ready lists."""
        return {"summary": self.summary(), "norms": np.round(self.norms, 10).tolist()}


def full_gradient(w: np.ndarray, X: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """A (sub)gradient of eq. 6 (l_inf, q = 1): ``mean -sigma(-m_i) (y_i x_i - eps sign(w))``."""
    margin = y * (X @ w) - eps * np.abs(w).sum()
    s = 0.5 * (1.0 - np.tanh(0.5 * margin))  # sigma(-margin), overflow-free
    return -(s[:, None] * (y[:, None] * X - eps * np.sign(w)[None])).mean(0)


def sgd_run(X: np.ndarray, y: np.ndarray, eps: float, cfg: Config, seed: int
            ) -> tuple[np.ndarray, float]:
    """Constant-step SGD from w = 0; the full gradient norms over the last part of the run and
    the largest ``||w||_1`` seen there (for the L_thetax bound of the late phase)."""
    rng = np.random.default_rng([seed, int(round(eps * 1e6))])
    batches = rng.integers(0, len(X), (cfg.iters, cfg.batch_size))
    yX = y[:, None] * X
    w, norms, w1_max = np.zeros(X.shape[1]), [], 0.0
    start = int(cfg.iters * (1 - cfg.tail_fraction))
    for t in range(cfg.iters):
        b = yX[batches[t]]
        s = 0.5 * (1.0 - np.tanh(0.5 * (b @ w - eps * np.abs(w).sum())))  # sigma(-margin)
        w -= cfg.lr * (eps * s.mean() * np.sign(w) - s @ b / cfg.batch_size)
        if t >= start and (t - start) % cfg.record_every == 0:
            w1_max = max(w1_max, float(np.abs(w).sum()))
            norms.append(float(np.linalg.norm(full_gradient(w, X, y, eps))))
    return np.array(norms), w1_max


def l_thetax_bound(X: np.ndarray, eps: float, w1_max: float) -> float:
    """An upper bound on L_thetax (l_inf -> l_2) for ``g = softplus(-y w^T x')`` on the balls.

    ``d/dx' nabla_w g = -y [sigma I - sigma' y x' w^T]``, so its l_inf -> l_2 norm is at most
    ``sqrt(d) + max ||x'||_2 ||w||_1 / 4`` with ``||x'||_2 <= ||x||_2 + eps sqrt(d)``.
    """
    d = X.shape[1]
    return math.sqrt(d) + (np.linalg.norm(X, axis=1).max() + eps * math.sqrt(d)) * w1_max / 4


@functools.cache
def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu", data_dir: str | None = None,
        eps_grid: tuple[float, ...] | None = None) -> Result:
    """SGD at every eps of the grid (the config's unless given); numpy, float64, CPU.

    Cached per process (a pure function of its arguments): the claim check ``thm2_sgd_floor``
    and the chapter share one run. Treat the result as read-only.
    """
    if device != "cpu":
        raise ValueError(f"liu_sgd runs in numpy on the CPU; got device {device!r}")
    cfg = CONFIGS[mode]
    grid = tuple(eps_grid) if eps_grid is not None else cfg.eps_grid
    ds = data.load("blobs", n=cfg.n, seed=seed, d=cfg.d, k=2, separation=cfg.separation,
                   dtype=torch.float64)
    X, y = ds.X.numpy(), 2.0 * ds.y.numpy() - 1.0
    runs = {eps: sgd_run(X, y, eps, cfg, seed) for eps in dict.fromkeys(grid)}  # each eps once
    norms = np.stack([runs[eps][0] for eps in grid])
    L = np.array([l_thetax_bound(X, eps, runs[eps][1]) for eps in grid])
    return Result(cfg, grid, norms, L)
