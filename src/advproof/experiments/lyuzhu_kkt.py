"""Lyu & Zhu (002) §3.2, Theorems 3-5: the gradient flow of adversarial training of a bias-free
ReLU net converges in direction to a KKT point of the adversarial max-margin problem (19).

A 2-layer bias-free ReLU net (multi-1-homogeneous, K = 2) on ``n`` random points of the unit
circle with XOR-like labels y = sgn cos(2 theta) (a bias-free ReLU net cannot fit antisymmetric
labels that are not linearly separable: f(x) - f(-x) is linear), exponential loss, l2-FGM (scale
invariant, Lemma 3). The flow (16) is followed by gradient descent on log L~, a time
reparametrisation (eta_flow = eta / L~, as in Lyu & Li 2020) that reaches the late phase in a few
thousand steps, with the step eta_s = lr0 / (1 + log(1 / L~))^power. Since log(1/L~) ~ rho
gamma^_m, this keeps the change of the margins per step bounded; a step that does not shrink with
rho lets the margins of the support vectors oscillate by much more than 1/rho and the flow is no
longer followed. Variants: ``total`` (the theory's gradient, through delta(W)), ``detached``
(Algorithm 1), ``standard`` (no attack; margins and the KKT residual are still measured with
FGM). Measured at log-spaced steps: the normalised adversarial margin gamma^_m (Thm 4), rho and
the flow time (Thm 3: rho = Theta(ln t)), the KKT residual of V = W / gamma~_m^{1/K} with the
best multipliers (NNLS, stationarity and complementary slackness together) and 002's certificate
(chi, xi) with the corrected multipliers (130) (Thm 5), cos(W, -grad L~) (Lemma 12), Theorem 4's
weighted sum and the same sum with the weights of (116), and ||W_1||^2 - ||W_2||^2 (Lemma 11).
Nothing in 002 fixes this experiment; every choice is the book's (:class:`Config`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from advproof import margins, models
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Flow", "Result", "circle_data", "run", "train_flow",
           "train_flow_and_model"]


@dataclass(frozen=True)
class Config:
    """The book's choices (002 has no such experiment; its Fig. 5 is the nearest)."""

    n: int = 12
    data_seed: int = 1  # the angles; seed 0 puts two opposite labels within 2 eps of each other
    width: int = 20
    eps: tuple[float, ...] = (0.1,)
    steps: int = 3000
    lr0: float = 0.5
    power: float = 1.0
    checkpoints: int = 24
    variants: tuple[str, ...] = ("total", "detached", "standard")


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(eps=(0.1, 0.2), steps=40_000, checkpoints=40),
}


class Flow(NamedTuple):
    """Arrays over checkpoints (NaN where the adversarial data are not yet separated)."""

    steps: np.ndarray
    log_loss: np.ndarray
    log_time: np.ndarray  # log of the flow time sum_s eta_s / L~_s
    rho: np.ndarray
    gamma_hat: np.ndarray  # min_i gamma~_i / rho, FGM margins
    kkt: np.ndarray  # relative KKT residual, best multipliers (NNLS)
    slack: np.ndarray  # complementary slackness with the NNLS multipliers
    chi: np.ndarray  # 002's certificate (corrected lambda): relative residual
    xi: np.ndarray  # 002's certificate: complementary slackness
    cos: np.ndarray  # cos(W, -grad L~)
    thm4: np.ndarray  # sum_i e^{-(g_i - g_m)} d gamma^_i/dt (>= 0 by Theorem 4)
    eq116: np.ndarray  # sum_i e^{+(g_i - g_m)} d gamma^_i/dt (the sum (116) claims >= 0)
    balance: np.ndarray  # ||W_1||^2 - ||W_2||^2
    separated_at: int  # first step with all FGM margins > 0 (-1 if never)


def circle_data(n: int = 12, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """n points on the unit circle at uniform random angles (sorted), labels sgn cos(2 theta).

    The labels are symmetric (y(-x) = y(x)): a bias-free ReLU net can fit them, while it cannot
    fit antisymmetric labels that are not linearly separable (f(x) - f(-x) is linear in x).
    """
    if n < 4:
        raise ValueError(f"need n >= 4 points, got {n}")
    theta = torch.from_numpy(np.sort(np.random.default_rng(seed).uniform(0, 2 * math.pi, n)))
    return torch.stack([theta.cos(), theta.sin()], 1), torch.sign(torch.cos(2 * theta))


def _measure(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor,
             probe: margins.Adversary, mode: margins.GradMode) -> dict[str, float]:
    """Everything at one checkpoint; the flow velocity is the trained gradient's (mode)."""
    weights = margins.layer_weights(net)
    w = margins.flat_weights(net).numpy()
    q, G = (a.numpy() for a in margins.margin_jacobian(net, X, y, probe, "total"))
    r = float(margins.rho(net).detach())
    out = {"rho": r, "gamma_hat": float(q.min()) / r,
           "balance": float(((weights[0] ** 2).sum() - (weights[1] ** 2).sum()).detach())}
    if q.min() <= 0:
        return out
    K = len(weights)
    kkt = margins.kkt_of_model(net, X, y, probe)
    cert = margins.kkt_certificate(w, q, G, K)
    velocity = np.exp(-(q - q.min())) @ (G if mode == "total" else
                                         margins.margin_jacobian(net, X, y, probe,
                                                                 "detached")[1].numpy())
    grad_hat = G / r - np.outer(q / r**2, margins.rho_gradient([a.detach().numpy()
                                                                for a in weights]))
    rates = grad_hat @ velocity  # d gamma^_i / dt up to a positive factor
    out.update(kkt=kkt.rel_residual, slack=kkt.slackness, chi=cert.chi, xi=cert.xi,
               cos=cert.cos, thm4=float(np.exp(-(q - q.min())) @ rates),
               eq116=float(np.exp(np.minimum(q - q.min(), 700.0)) @ rates))
    return out


def train_flow(X: torch.Tensor, y: torch.Tensor, *, eps: float, variant: str, width: int = 20,
               steps: int = 3000, lr0: float = 0.5, power: float = 1.0, seed: int = 0,
               checkpoints: int = 24) -> Flow:
    """GD on log L~ (exponential loss) for a bias-free 2-layer ReLU net; see the module doc."""
    return train_flow_and_model(X, y, eps=eps, variant=variant, width=width, steps=steps,
                                lr0=lr0, power=power, seed=seed, checkpoints=checkpoints)[0]


def train_flow_and_model(X: torch.Tensor, y: torch.Tensor, *, eps: float, variant: str,
                         width: int = 20, steps: int = 3000, lr0: float = 0.5,
                         power: float = 1.0, seed: int = 0, checkpoints: int = 24
                         ) -> tuple[Flow, torch.nn.Module]:
    """:func:`train_flow` and the trained net (float64), for measurements at the last point."""
    if variant not in ("total", "detached", "standard"):
        raise ValueError(f"variant must be 'total', 'detached' or 'standard', got {variant!r}")
    net = models.HomogeneousMLP(X.shape[1], (width,), 1,
                                generator=torch.Generator().manual_seed(seed)).double()
    probe = margins.Adversary("fgm", eps=eps)
    train_adv = margins.Adversary("none") if variant == "standard" else probe
    mode = "detached" if variant == "detached" else "total"
    weights = margins.layer_weights(net)
    marks = set(np.unique(np.geomspace(1, steps, checkpoints).astype(int)).tolist()) | {0}
    rows, log_time, separated = [], -math.inf, -1
    with single_thread():
        for s in range(steps + 1):
            log_loss = margins.log_exp_loss(margins.adversarial_margins(net, X, y, train_adv,
                                                                        mode))
            grads = torch.autograd.grad(log_loss, weights)
            value = float(log_loss.detach())
            if s in marks:
                row = _measure(net, X, y, probe, mode)
                separated = s if separated < 0 and "kkt" in row else separated
                rows.append({"step": s, "log_loss": value, "log_time": log_time,
                             **row})
            eta = lr0 / (1 + max(0.0, -value)) ** power
            log_time = float(np.logaddexp(log_time, math.log(eta) - value))
            with torch.no_grad():
                for w, g in zip(weights, grads, strict=True):
                    w.sub_(eta * g)
    keys = ("step", "log_loss", "log_time", "rho", "gamma_hat", "kkt", "slack", "chi", "xi",
            "cos", "thm4", "eq116", "balance")
    cols = [np.array([row.get(k, np.nan) for row in rows]) for k in keys]
    return Flow(*cols, separated_at=separated), net


@dataclass
class Result:
    """One Flow per (eps, variant) and the config."""

    config: Config
    flows: dict[tuple[float, str], Flow]
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """First separated checkpoint and final values per run (plain Python types)."""
        out = {}
        for (eps, variant), f in self.flows.items():
            ok = ~np.isnan(f.kkt)
            first = int(np.argmax(ok)) if ok.any() else -1
            out[f"eps={eps}/{variant}"] = {
                "separated_at": f.separated_at,
                "gamma_hat": [float(f.gamma_hat[first]), float(f.gamma_hat[-1])],
                "kkt": [float(f.kkt[first]), float(f.kkt[-1])] if first >= 0 else None,
                "chi": [float(f.chi[first]), float(f.chi[-1])] if first >= 0 else None,
                "xi": [float(f.xi[first]), float(f.xi[-1])] if first >= 0 else None,
                "rho": float(f.rho[-1]), "log_loss": float(f.log_loss[-1]),
                "thm4_negative": int((f.thm4[ok] < 0).sum()),
                "eq116_negative": int((f.eq116[ok] < 0).sum()), "checked": int(ok.sum()),
                "balance_drift": float(abs(f.balance[-1] - f.balance[0]))}
        return out

    def to_json(self) -> dict[str, Any]:
        """Summary plus every flow as lists."""
        flows = {f"eps={eps}/{v}": {k: (np.asarray(a).round(12).tolist()
                                        if isinstance(a, np.ndarray) else a)
                                    for k, a in f._asdict().items()}
                 for (eps, v), f in self.flows.items()}
        return {"summary": self.summary(), "flows": flows}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Every (eps, variant) run of the config (float64, CPU; synthetic data)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("lyuzhu_kkt runs in float64 on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    X, y = circle_data(cfg.n, cfg.data_seed)
    flows = {(eps, v): train_flow(X, y, eps=eps, variant=v, width=cfg.width, steps=cfg.steps,
                                  lr0=cfg.lr0, power=cfg.power, seed=seed,
                                  checkpoints=cfg.checkpoints)
             for eps in cfg.eps for v in cfg.variants}
    return Result(cfg, flows)
