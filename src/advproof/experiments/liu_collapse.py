"""Theorem 1 in practice: PGD adversarial training of a bias-free linear softmax model collapses to
a constant classifier exactly from the threshold eps* on (Liu et al. 004 Sec. 3.1; 003 Sec. 4.2.1).

For the bias-free linear model ``f(x) = W^T x`` the adversarial loss ``L_eps(W)`` is convex and
``W = 0`` (every column equal: a constant classifier) is a minimiser iff
``eps >= eps* = min_c max_k ||S_k - c||_p / n_k`` (``advproof.bounds.collapse_threshold``, the
corrected threshold of Theorem 1, claim ``liu.thm1``). We train with PGD-AT (l_inf, the attack
engine ``attacks.pgd``; full batch, SGD with momentum and a cosine learning-rate decay) at
``eps = ratio * eps*`` and measure after training:

- ``spread = ||W - w_bar 1^T||_F``, the distance to the constant classifiers;
- ``gap = L_eps(W) - log K``: exact (box vertices) for the 2-D blobs, PGD-50 for digits;
- the clean accuracy and the share of inputs given the most common prediction.

Expected: collapse for ratios above 1 (the spread falls to a few percent of the spread at
eps = eps*/2 and keeps shrinking with training, the gap tends to 0 from above) and a clearly
non-constant classifier below. Near W = 0 the loss has a kink, so (sub)gradient training
converges slowly there: the measured gap can be slightly positive on both sides of eps*.
Inputs are not clipped to [0, 1] (clipping changes the adversary's set and so eps*); the
papers' experiments clip. None of this is in the papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advproof import attacks, bounds, data, models, train
from advproof.symbolic import liu
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """Datasets, ratios eps/eps* and the training schedule (book choices)."""

    ratios: tuple[float, ...] = (0.5, 0.8, 1.2, 1.5)
    blobs_n: int = 150
    blobs_epochs: int = 200
    digits_n: int | None = 500  # None: all 1438 training images
    digits_epochs: int = 150
    lr: float = 0.5
    pgd_steps: int = 5
    eval_steps: int = 50


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(ratios=(0.5, 0.8, 0.9, 0.95, 1.05, 1.1, 1.2, 1.5), blobs_n=3000,
                   blobs_epochs=1000, digits_n=None, digits_epochs=600, pgd_steps=20),
}


@dataclass
class Result:
    """Per dataset: eps*, and per ratio the spread, the gap to log K and the predictions."""

    config: Config
    eps_star: dict[str, float]
    rows: dict[str, list[dict[str, float]]]
    extra: dict[str, Any] = field(default_factory=dict)

    def relative_spread(self, dataset: str) -> np.ndarray:
        """Per ratio: the spread over the spread at the smallest ratio (a non-constant W)."""
        s = np.array([r["spread"] for r in self.rows[dataset]])
        return s / s[0]

    def collapsed(self, dataset: str, tol: float = 0.05) -> list[bool]:
        """Per ratio: the relative spread is below ``tol`` (W is nearly a constant classifier)."""
        return [bool(v < tol) for v in self.relative_spread(dataset)]

    def summary(self) -> dict[str, Any]:
        """eps* and the rows, rounded."""
        return {"eps_star": {k: round(v, 6) for k, v in self.eps_star.items()},
                "rows": {k: [{kk: round(vv, 6) for kk, vv in r.items()} for r in v]
                         for k, v in self.rows.items()},
                "relative_spread": {k: self.relative_spread(k).round(6).tolist()
                                    for k in self.rows},
                "collapsed": {k: self.collapsed(k) for k in self.rows}}

    def to_json(self) -> dict[str, Any]:
        """The summary (everything is small)."""
        return {"summary": self.summary()}


def spread(model: models.MLP) -> float:
    """``||W - w_bar 1^T||_F``: the distance of the linear model to the constant classifiers."""
    W = model.linears[0].weight.detach()  # (K, D): row k is w_k
    return float((W - W.mean(0, keepdim=True)).norm())


def train_linear(X: torch.Tensor, y: torch.Tensor, eps: float, epochs: int, cfg: Config,
                 seed: int) -> models.MLP:
    """Full-batch PGD-AT (l_inf) of ``W^T x``, SGD + momentum 0.9, cosine-decayed learning rate."""
    K = int(y.max()) + 1
    model = models.MLP(X.shape[1], [], K, bias=False,
                       generator=torch.Generator().manual_seed(seed)).double()
    lr = train.cosine(0, epochs, cfg.lr, cfg.lr * 1e-3)
    train.train(model, X, y, num_epochs=epochs, lr=cfg.lr, batch_size=len(X), attack="pgd",
                attack_kwargs={"steps": cfg.pgd_steps}, eps_schedule=eps, seed=seed,
                lr_schedule=lr, progress=False)
    return model.eval()


def measure(model: models.MLP, X: torch.Tensor, y: torch.Tensor, eps: float, exact: bool,
            cfg: Config) -> dict[str, float]:
    """Spread, gap to log K (exact inner max or PGD), clean accuracy, largest prediction share."""
    K = int(y.max()) + 1
    if exact:
        W = model.linears[0].weight.detach().T
        loss = float(liu.linear_adv_ce(W, X, y, eps).mean())
    else:
        delta = attacks.pgd(model, X, y, eps=eps, alpha=2.5 * eps / cfg.eval_steps,
                            steps=cfg.eval_steps)
        with torch.no_grad():
            loss = float(attacks.loss_fn("ce")(model(X + delta), y).mean())
    with torch.no_grad():
        pred = model(X).argmax(1)
    share = float(torch.bincount(pred, minlength=K).max()) / len(X)
    return {"eps": eps, "spread": spread(model), "gap": loss - math.log(K),
            "acc": float((pred == y).double().mean()), "constant_share": share}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Blobs (3 classes, 2-D, exact inner max) and digits (10 classes, 64-D), float64, CPU."""
    if device != "cpu":
        raise ValueError(f"liu_collapse runs in float64 on the CPU; got device {device!r}")
    cfg = CONFIGS[mode]
    sets = {"blobs": (data.load("blobs", n=cfg.blobs_n, seed=seed, separation=3.0,
                                dtype=torch.float64), cfg.blobs_epochs, True),
            "digits": (data.load("digits", flatten=True, n=cfg.digits_n, dtype=torch.float64),
                       cfg.digits_epochs, False)}
    eps_star, rows = {}, {}
    with single_thread():
        for name, (ds, epochs, exact) in sets.items():
            eps_star[name] = bounds.collapse_threshold(ds.X, ds.y, math.inf)
            rows[name] = []
            for ratio in cfg.ratios:
                eps = ratio * eps_star[name]
                model = train_linear(ds.X, ds.y, eps, epochs, cfg, seed)
                rows[name].append({"ratio": ratio} | measure(model, ds.X, ds.y, eps, exact, cfg))
    return Result(cfg, eps_star, rows, {"log_K": {k: math.log(int(v[0].y.max()) + 1)
                                                  for k, v in sets.items()}})

