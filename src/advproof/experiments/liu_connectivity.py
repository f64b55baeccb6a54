"""Mode connectivity under adversarial training (Liu et al. 004 App. C.2.5, Fig. 15; thesis 003
§4.2.3, eq. (4.28), Fig. 4.8).

Two networks are trained independently (different seeds) with the same budget eps, then joined
by a quadratic Bezier curve ``B(t) = (1-t)^2 theta_0 + 2 t (1-t) theta_hat + t^2 theta_2``
whose middle point ``theta_hat`` is trained to minimise ``E_{t ~ U[0,1]} L_eps(B(t))`` (one t
per mini-batch: the Monte-Carlo gradient of the thesis). Along the learned curve the
adversarial training loss and the robust test error are measured at evenly spaced t; the
*barrier* is the largest rise of the training loss above the straight line between its two
end values. 004 reports flat curves (no barrier) for eps = 0 or small eps and curves that are
not flat for larger eps: minima are less connected under adversarial training.

Quick mode: the 8x8 digits, a 64-128-128-10 ReLU MLP (no batch norm, so no statistics to
re-estimate), l_inf eps in {0, 0.1, 0.2} (at 0.3 these nets stay near chance: nothing to
connect), PGD-3 training (step 2.5 eps / 3, random start),
SGD with momentum 0.9, step 0.05 (/10 for the last quarter), batch 64, 20 epochs for each end
point and for the curve, evaluation by PGD-5 at 11 values of t. The straight segment
(``theta_hat`` the midpoint of the ends) is measured too, as the reference the learned curve
must beat. Choices the sources leave open: all the sizes above, the number of epochs of the
curve, and the barrier's definition (Garipov et al.'s, on the training loss).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from advproof import attacks, data, models
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "bezier", "run"]


@dataclass(frozen=True)
class Config:
    """Sizes and the choices the sources leave open (module docstring)."""

    dataset: str = "digits"
    widths: tuple[int, ...] = (128, 128)
    eps_grid: tuple[float, ...] = (0.0, 0.1, 0.2)
    epochs: int = 20
    curve_epochs: int = 20
    lr: float = 0.05
    momentum: float = 0.9
    batch_size: int = 64
    pgd_steps: int = 3
    eval_steps: int = 5
    n_t: int = 11


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(widths=(16,), eps_grid=(0.0, 0.2), epochs=2, curve_epochs=2, n_t=3),
    "full": Config(dataset="fashion-mnist", widths=(512, 512), epochs=60, curve_epochs=60,
                   pgd_steps=10, eval_steps=20, n_t=21),
}


def bezier(t: float, points: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The Bezier curve of order ``n = len(points) - 1`` at ``t``, parameter by parameter:
    ``sum_i C(n, i) (1-t)^(n-i) t^i points[i]`` (the Bernstein form of 003 eq. (4.28); 004
    eq. (30) prints ``C(n, t)``, see the errata). Differentiable in the points."""
    from math import comb

    n = len(points) - 1
    if n < 1:
        raise ValueError("a Bezier curve needs at least two points")
    weights = [comb(n, i) * (1 - t) ** (n - i) * t**i for i in range(n + 1)]
    return {k: sum(w * p[k] for w, p in zip(weights, points, strict=True)) for k in points[0]}


@dataclass
class Result:
    """``curves[eps]`` and ``lines[eps]``: per t, the adversarial training loss (``loss``) and
    the robust test error (``error``) along the learned curve and along the straight segment;
    ``ends[eps]``: the end points' robust test errors."""

    config: Config
    t: list[float]
    curves: dict[float, dict[str, list[float]]]
    lines: dict[float, dict[str, list[float]]]

    @staticmethod
    def _barrier(values: list[float], t: list[float]) -> float:
        v, tt = np.asarray(values), np.asarray(t)
        return float(np.max(v - ((1 - tt) * v[0] + tt * v[-1])))

    def barrier(self, eps: float, path: str = "curve") -> float:
        """The largest rise of the training loss above the chord between the ends."""
        return self._barrier((self.curves if path == "curve" else self.lines)[eps]["loss"],
                             self.t)

    def error_barrier(self, eps: float) -> float:
        """The largest robust test error along the learned curve minus the worse end's."""
        e = self.curves[eps]["error"]
        return float(max(e) - max(e[0], e[-1]))

    def summary(self) -> dict[str, Any]:
        """Barriers on the learned curve and the segment, and the end errors, per eps."""
        return {f"{e:g}": {"barrier_curve": round(self.barrier(e), 4),
                           "barrier_line": round(self.barrier(e, "line"), 4),
                           "error_barrier": round(self.error_barrier(e), 4),
                           "error_ends": [round(self.curves[e]["error"][0], 4),
                                          round(self.curves[e]["error"][-1], 4)],
                           "error_max_curve": round(max(self.curves[e]["error"]), 4)}
                for e in self.config.eps_grid}

    def to_json(self) -> dict[str, Any]:
        """The summary and every curve."""
        return {"summary": self.summary(), "t": self.t,
                "curves": {f"{e:g}": c for e, c in self.curves.items()},
                "lines": {f"{e:g}": c for e, c in self.lines.items()}}


def _adversarial(fn: Any, x: Tensor, y: Tensor, eps: float, steps: int,
                 gen: torch.Generator) -> Tensor:
    if eps == 0:
        return x
    return x + attacks.pgd(fn, x, y, eps=eps, alpha=2.5 * eps / steps, steps=steps,
                           random_start=True, clip=(0.0, 1.0), generator=gen)


def _lr(cfg: Config, epoch: int, epochs: int) -> float:
    return cfg.lr * (0.1 if epoch >= 0.75 * epochs else 1.0)


def _train_end(cfg: Config, X: Tensor, y: Tensor, eps: float, seed: int) -> nn.Module:
    model = models.MLP(X.shape[1], cfg.widths, 10, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    gen = torch.Generator().manual_seed(seed + 1)
    for epoch in range(cfg.epochs):
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, epoch, cfg.epochs)
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            xb = _adversarial(model, X[idx], y[idx], eps, cfg.pgd_steps, gen)
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def _train_curve(cfg: Config, model: nn.Module, ends: list[dict[str, Tensor]], X: Tensor,
                 y: Tensor, eps: float, seed: int) -> dict[str, Tensor]:
    """The middle point, started at the midpoint of the ends, trained on E_t L_eps(B(t))."""
    mid = {k: nn.Parameter((ends[0][k] + ends[1][k]) / 2) for k in ends[0]}
    opt = torch.optim.SGD(list(mid.values()), lr=cfg.lr, momentum=cfg.momentum)
    gen = torch.Generator().manual_seed(seed + 2)
    for epoch in range(cfg.curve_epochs):
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, epoch, cfg.curve_epochs)
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            t = float(torch.rand((), generator=gen))
            params = bezier(t, [ends[0], mid, ends[1]])
            frozen = {k: v.detach() for k, v in params.items()}
            xb = _adversarial(lambda z, p=frozen: functional_call(model, p, (z,)), X[idx],
                              y[idx], eps, cfg.pgd_steps, gen)
            loss = nn.functional.cross_entropy(functional_call(model, params, (xb,)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {k: v.detach() for k, v in mid.items()}


def _along(cfg: Config, model: nn.Module, points: list[dict[str, Tensor]], tr: data.Dataset,
           te: data.Dataset, eps: float, t_grid: list[float], seed: int) -> dict[str, list]:
    out: dict[str, list[float]] = {"loss": [], "error": []}
    for t in t_grid:
        params = bezier(t, points)

        def fn(z: Tensor, p: dict[str, Tensor] = params) -> Tensor:
            return functional_call(model, p, (z,))

        gen = torch.Generator().manual_seed(seed + 10_000)
        xa = _adversarial(fn, tr.X, tr.y, eps, cfg.eval_steps, gen)
        xt = _adversarial(fn, te.X, te.y, eps, cfg.eval_steps, gen)
        with torch.no_grad():
            out["loss"].append(float(nn.functional.cross_entropy(fn(xa), tr.y)))
            out["error"].append(float((fn(xt).argmax(1) != te.y).double().mean()))
    return out


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """For every eps: two end points, the learned curve and the segment (CPU, one thread)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"liu_connectivity runs on the CPU in this version; got {device!r}")
    cfg = CONFIGS[mode]
    tr = data.load(cfg.dataset, split="train", flatten=True, data_dir=data_dir)
    te = data.load(cfg.dataset, split="test", flatten=True, data_dir=data_dir)
    t_grid = [float(t) for t in np.linspace(0.0, 1.0, cfg.n_t)]
    curves, lines = {}, {}
    with single_thread(), warnings.catch_warnings():
        # a point of the curve or segment may have saturated losses or dead units, whose zero
        # input gradients the attack reports; the loss measured there is what counts here
        warnings.simplefilter("ignore", attacks.ZeroInputGradientWarning)
        for eps in cfg.eps_grid:
            a = _train_end(cfg, tr.X, tr.y, eps, seed)
            b = _train_end(cfg, tr.X, tr.y, eps, seed + 100)
            ends = [{k: v.detach() for k, v in m.named_parameters()} for m in (a, b)]
            mid = _train_curve(cfg, a, ends, tr.X, tr.y, eps, seed)
            line_mid = {k: (ends[0][k] + ends[1][k]) / 2 for k in ends[0]}
            curves[eps] = _along(cfg, a, [ends[0], mid, ends[1]], tr, te, eps, t_grid, seed)
            lines[eps] = _along(cfg, a, [ends[0], line_mid, ends[1]], tr, te, eps, t_grid, seed)
    return Result(cfg, t_grid, curves, lines)
