"""Chapter 2 experiment: Theorems 1-2 and Corollary 1 of Cheng et al. against real attacks.

On a ReLU MLP trained on a real dataset (quick: scikit-learn's 8x8 digits on the CPU; full:
Fashion-MNIST), in float64, per correctly classified test image:

1. ``table``: the analogue of 000 App. I Table 1 / 001 Table 1: kappa between Theorem 2's
   ``delta_hat`` and a real m-step raw-gradient attack ``delta*`` of *fixed* strength beta (as
   in the papers), for the four variants of 000 (MSE/CE loss x frozen/free gates), next to the
   naive baseline ``beta g_x``, Theorem 1's finite-m form, and (CE, frozen gates) 001's
   ``delta_hat`` built from the path-averaged ``H_bar_x``. Both kappa definitions are reported.
2. ``regime``: the error of Theorem 2 against the infinite-step attack (the gradient flow,
   integrated with RK4) on a grid of ``A = beta lambda_1`` (per-sample beta), gates free and
   frozen; and chapter 1's measurement of Theorem 1's form against the m-step attack
   (``cheng_setting.lemma2_regime``, reused). The log-log slope of kappa in beta is fitted here.
3. ``m_sweep``: kappa against m at fixed A: Theorem 1's form at the same m, and Theorem 2.
4. ``growth``: the analogue of 000 Fig. 1 / 001 Fig. 2: ``||delta^(t)||`` and
   ``||g_{x+delta^(t)}||`` along raw, l2 and l_inf attacks of step 0.02 (500 / 200 / 20
   steps, no clipping), gates free and frozen, with the step ``m_success`` at which each image
   is first misclassified.
5. ``matching``: 001 §3.2 / Fig. 1: delta_hat against delta*, the l2 attack and the effective
   component of the l_inf attack; and the cosines of C.3 on the A grid.

Shapes follow :mod:`advproof.attacks`: ``X (N, D)``, ``delta (N, D)``, ``H (N, D, D)``.
Used by: notebooks/02_cheng_dynamics.ipynb (claims cheng.thm1, cheng.thm2, cheng.cor1,
cheng.c1-c3); ``gradient_flow`` also by the checks in :mod:`advproof.symbolic.cheng_dynamics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from advproof import attacks, curvature, data, models, train
from advproof.experiments import cheng_setting
from advproof.symbolic.cheng_dynamics import naive_delta, thm1_delta, thm2_delta
from advproof.threads import threads

__all__ = ["CONFIGS", "Config", "Flow", "Result", "gradient_flow", "kappa_000", "kappa_001",
           "path_average_hz", "run", "threads"]

Direction = Literal["raw", "l2", "linf_effective"]


@dataclass(frozen=True)
class Config:
    """Sizes and the book's choices for what the papers leave unspecified.

    ``hidden=(200, 200)`` is 000 App. I's "3-layer MLP" (each FC layer 200 neurons). Unknown in
    the papers and chosen here: the attack strength and length of Table 1 (``table_A``: the
    largest ``A = beta lambda_1`` over the images under the fixed-beta attack; ``table_steps``),
    the input scaling (pixels in [0, 1]), the training (``train_attack``: clean in quick mode,
    l_inf PGD-AT in full mode; the papers' AT settings are not given), and the steps of the
    "few-step" PGD of 001 §3.2 (``match_steps``).
    """

    dataset: str = "digits"
    hidden: tuple[int, ...] = (200, 200)
    num_epochs: int = 20
    lr: float = 0.02
    batch_size: int = 32
    train_attack: str | None = None
    train_eps: float = 0.0
    train_steps: int = 7
    n_eval: int = 40
    table_A: tuple[float, ...] = (0.01, 1.0)
    table_steps: int = 200
    A_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    flow_steps: int = 100
    lemma2_steps: int = 50
    m_A: float = 0.3
    m_grid: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000)
    growth_alpha: float = 0.02
    growth_steps: tuple[int, int, int] = (500, 200, 20)  # raw, l2, linf (000 App. K)
    n_growth: int = 20
    match_A: float = 0.3
    match_steps: int = 10
    cos_A: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
    accurate: float = 0.01  # "accurate" means a median relative error below 1%
    threads: int | None = 1  # intra-op threads while measuring (None: the caller's setting)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(dataset="fashion-mnist", num_epochs=20, batch_size=128, train_attack="pgd",
                   train_eps=0.1, n_eval=200,
                   table_steps=1000, flow_steps=200, m_grid=(10, 30, 100, 300, 1000, 3000, 10000),
                   n_growth=100, threads=None),
}

VARIANTS: tuple[tuple[str, str], ...] = (("mse", "frozen"), ("mse", "free"), ("ce", "frozen"),
                                         ("ce", "free"))
#: 000 App. I Table 1 (MLP block) and 001 Table 1, as printed; 000's CNN block keeps only its
#: first row in the seed (the other three rows are lost in the conversion).
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "000 'w/o R2 w/o dSigma' (MSE, frozen)": {"2-MLP": 6.5e-5, "3-MLP": 8.0e-6, "4-MLP": 1.8e-6,
                                              "5-MLP": 2.9e-7},
    "000 'w/o R2' (MSE, free)": {"2-MLP": 5.4e-2, "3-MLP": 4.7e-2, "4-MLP": 4.1e-2,
                                 "5-MLP": 2.4e-2},
    "000 'w/o dSigma' (CE, frozen)": {"2-MLP": 1.4e-5, "3-MLP": 1.0e-6, "4-MLP": 2.2e-7,
                                      "5-MLP": 3.6e-8},
    "000 'Attack' (CE, free)": {"2-MLP": 2.4e-2, "3-MLP": 2.6e-2, "4-MLP": 2.7e-2,
                                "5-MLP": 8.9e-3},
    "001 Table 1 (A2, loss not stated)": {"3-MLP": 1.5e-5, "4-MLP": 3.5e-6, "5-MLP": 6.6e-7},
}


# ---------------------------------------------------------------------------------------------
# Threads


# ---------------------------------------------------------------------------------------------
# The two error metrics of the papers


def _errors(delta_star: Tensor, delta_hat: Tensor) -> tuple[Tensor, Tensor]:
    """(||delta* - delta_hat||, ||delta*||) per sample."""
    return (delta_star - delta_hat).flatten(1).norm(dim=1), delta_star.flatten(1).norm(dim=1)


def kappa_000(delta_star: Tensor, delta_hat: Tensor, *, trim: float = 0.0) -> float:
    """000 App. I: ``kappa = E_x[||delta* - delta_hat|| / ||delta*||]``, a mean of ratios.

    ``trim`` drops that fraction of samples with the largest ratios first: 000 App. J keeps "90%
    samples corresponding to the smallest errors" for its kappa of Theorem 3 (``trim=0.1``);
    App. I's kappa of Theorem 2 is untrimmed.
    """
    if not 0.0 <= trim < 1.0:
        raise ValueError(f"trim must be in [0, 1), got {trim!r}")
    err, norm = _errors(delta_star, delta_hat)
    ratio = torch.sort(err / norm).values
    keep = max(1, int(round((1.0 - trim) * len(ratio))))
    return float(ratio[:keep].mean())


def kappa_001(delta_star: Tensor, delta_hat: Tensor) -> float:
    """001 Table 1: ``kappa = E_x[||delta* - delta_hat||] / E_x[||delta*||]``, a ratio of means,
    i.e. the mean of 000's ratios weighted by ``||delta*||``."""
    err, norm = _errors(delta_star, delta_hat)
    return float(err.mean() / norm.mean())


def relative_errors(delta_star: Tensor, delta_hat: Tensor) -> np.ndarray:
    """Per-sample ``||delta* - delta_hat|| / ||delta*||`` (what 000's kappa averages)."""
    err, norm = _errors(delta_star, delta_hat)
    return (err / norm).numpy()


# ---------------------------------------------------------------------------------------------
# The infinite-step attack: the gradient flow, integrated with RK4


class Flow(NamedTuple):
    """The endpoint ``delta (N, D)`` of a flow and the length of its path ``arc_length (N,)``."""

    delta: Tensor
    arc_length: Tensor


def _velocity(model: attacks.Model, x: Tensor, y: Tensor, delta: Tensor, loss: str,
              direction: str) -> Tensor:
    """The flow's velocity at ``x + delta`` (N, D): g, g/||g||_2 or (||g||_1/||g||_2) g/||g||_2."""
    g = attacks.input_grad(model, x + delta, y, loss=loss).flatten(1)
    if direction == "raw":
        return g
    n2 = g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(g.dtype).tiny)
    if direction == "l2":
        return g / n2
    return g.abs().sum(dim=1, keepdim=True) / n2 * g / n2


def gradient_flow(model: attacks.Model, x: Tensor, y: Tensor, *, T: float | Tensor,
                  steps: int = 100, loss: attacks.LossName = "ce",
                  direction: Direction = "raw") -> Flow:
    """RK4 solution at time ``T`` of ``d delta/ds = v(g_{x + delta})``, ``delta(0) = 0``.

    ``direction="raw"``: ``v = g``, the infinite-step attack of 000 Thm 2 (``T = beta``);
    ``"l2"``: ``v = g/||g||_2``, the infinite-step l2 attack, unit speed (``T`` = the l2 budget);
    ``"linf_effective"``: ``v = (o^T sign g) o = (||g||_1/||g||_2) o`` with ``o = g/||g||_2``, the
    effective component of the l_inf attack (001 §3.2, o along the current gradient).
    ``T``: a float or an (N,) tensor. Classical RK4 with ``steps`` steps per sample; the arc length
    ``int ||v|| ds`` is integrated alongside. x: (N, D); returns ``Flow(delta (N, D), arc (N,))``.
    """
    attacks._check_choice("direction", direction, ("raw", "l2", "linf_effective"))
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    x = x.flatten(1)
    h = (T.to(x).reshape(-1, 1) if isinstance(T, Tensor) else torch.full_like(x[:, :1], T)) / steps
    delta, arc = torch.zeros_like(x), torch.zeros_like(x[:, 0])
    for _ in range(steps):
        k1 = _velocity(model, x, y, delta, loss, direction)
        k2 = _velocity(model, x, y, delta + h / 2 * k1, loss, direction)
        k3 = _velocity(model, x, y, delta + h / 2 * k2, loss, direction)
        k4 = _velocity(model, x, y, delta + h * k3, loss, direction)
        delta = delta + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        speeds = [k.norm(dim=1) for k in (k1, k2, k3, k4)]
        arc = arc + h[:, 0] / 6 * (speeds[0] + 2 * speeds[1] + 2 * speeds[2] + speeds[3])
    return Flow(delta, arc)


# ---------------------------------------------------------------------------------------------
# 001's path-averaged curvature


def path_average_hz(model: attacks.Model, x: Tensor, y: Tensor, path: Tensor,
                    loss: attacks.LossName = "ce") -> Tensor:
    """001 Thm 1: ``H_bar_z = sum_{t=1}^{m-1} ||Dx^(t)|| H_z^(t) / sum_{t=1}^{m-1} ||Dx^(t)||``.

    ``H_z^(t)`` is the logit Hessian of the loss at ``x + delta^(t)`` and
    ``Dx^(t) = delta^(t) - delta^(t-1)`` (001 writes ``Dx^(t) = alpha g_{x+delta^(t-1)}``).
    ``path: (m + 1, N, D)`` from ``attacks.raw_ascent(..., return_path=True)``; returns (N, C, C).
    It needs the real attack path: a delta_hat built on it is partly fitted to what it predicts.
    """
    m_ = path.shape[0] - 1
    if m_ < 2:
        raise ValueError(f"the path needs at least 2 steps, got {m_}")
    num, den = 0.0, 0.0
    with torch.no_grad():
        for t_ in range(1, m_):
            w = (path[t_] - path[t_ - 1]).flatten(1).norm(dim=1)
            Hz = curvature.logit_hessian_of_loss(model(x + path[t_]), y, loss)
            num = num + w[:, None, None] * Hz
            den = den + w
    return num / den[:, None, None]


# ---------------------------------------------------------------------------------------------
# The measurements


def _strength_at(lam1: Tensor, A: float) -> Tensor:
    """Per-sample beta with beta lambda_1 = A."""
    return A / lam1


def _curvature(model: models.MLP, X: Tensor, y: Tensor, loss: str) -> tuple[Tensor, Tensor, Tensor]:
    """(H_x (N, D, D), g_x (N, D), lambda_1 (N,)) for ``loss``."""
    H = curvature.input_hessian(model, X, y, loss=loss)
    g = attacks.input_grad(model, X, y, loss=loss).flatten(1)
    return H, g, torch.linalg.eigvalsh(H)[:, -1]


def table1(model: models.MLP, frozen: models.FrozenGateReLU, X: Tensor, y: Tensor,
           cfg: Config) -> dict[str, Any]:
    """Table 1 analogue: fixed beta per (loss, strength), ``table_steps`` raw-ascent steps.

    beta is set so that the largest ``A_i = beta lambda_1(x_i)`` over the images is each value of
    ``table_A`` (the other images get a smaller A; each A_i is recorded). Per variant and
    strength: the per-sample relative errors of Theorem 2, Theorem 1 at m = table_steps, the
    baseline beta g_x, and (CE, frozen gates) of 001's delta_hat with H_bar_x; and both kappas
    of Theorem 2.
    """
    m_ = cfg.table_steps
    out: dict[str, Any] = {"A_target": np.array(cfg.table_A), "steps": m_}
    J = curvature.logit_jacobian(frozen, X)
    for loss in ("mse", "ce"):
        H, g, lam1 = _curvature(model, X, y, loss)
        for A in cfg.table_A:
            beta_ = A / float(lam1.max())
            for gates, net in (("frozen", frozen), ("free", model)):
                key = f"{loss}/{gates}/A={A:g}"
                att = attacks.raw_ascent(net, X, y, alpha=beta_ / m_, steps=m_, loss=loss,
                                         return_path=True)
                star = att.delta
                entry = {
                    "beta": beta_, "A": (beta_ * lam1).numpy(),
                    "thm2": relative_errors(star, thm2_delta(H, g, beta_)),
                    "thm1": relative_errors(star, thm1_delta(H, g, beta_ / m_, m_)),
                    "naive": relative_errors(star, naive_delta(H, g, beta_)),
                    "kappa_000": kappa_000(star, thm2_delta(H, g, beta_)),
                    "kappa_001": kappa_001(star, thm2_delta(H, g, beta_)),
                }
                if loss == "ce" and gates == "frozen":
                    Hbar_x = J.transpose(1, 2) @ path_average_hz(frozen, X, y, att.path) @ J
                    hat001 = thm2_delta(Hbar_x, g, beta_)
                    entry["thm2_hbar"] = relative_errors(star, hat001)
                    entry["kappa_001_hbar"] = kappa_001(star, hat001)
                out[key] = entry
    return out


def regime(model: models.MLP, frozen: models.FrozenGateReLU, X: Tensor, y: Tensor,
           cfg: Config) -> dict[str, Any]:
    """Relative error of Theorem 2 against the gradient flow (RK4) on the grid of A, per-sample
    beta = A/lambda_1, gates free and frozen; cosines of C.3 for the flow; the baseline."""
    H, g, lam1 = _curvature(model, X, y, "ce")
    v1 = torch.linalg.eigh(H)[1][:, :, -1]
    out: dict[str, Any] = {"A_grid": np.array(cfg.A_grid), "lambda1": lam1.numpy()}
    for gates, net in (("frozen", frozen), ("free", model)):
        errs, naive, cos_v1, cos_g = [], [], [], []
        for A in cfg.A_grid:
            beta_ = _strength_at(lam1, A)
            flow = gradient_flow(net, X, y, T=beta_, steps=cfg.flow_steps)
            errs.append(relative_errors(flow.delta, thm2_delta(H, g, beta_)))
            naive.append(relative_errors(flow.delta, naive_delta(H, g, beta_)))
            cos_v1.append(torch.nn.functional.cosine_similarity(flow.delta, v1).abs().numpy())
            cos_g.append(torch.nn.functional.cosine_similarity(flow.delta, g).numpy())
        out[gates] = {"thm2": np.stack(errs), "naive": np.stack(naive),
                      "cos_v1": np.stack(cos_v1), "cos_g": np.stack(cos_g)}
    lemma2_cfg = cheng_setting.Config(A_grid=cfg.A_grid, steps=cfg.lemma2_steps)
    thm1 = cheng_setting.lemma2_regime(model, X, y, lemma2_cfg)
    out["thm1_free"], out["thm1_frozen"] = thm1["error_free"], thm1["error_frozen"]
    return out


def m_sweep(frozen: models.FrozenGateReLU, X: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Theorem 1 (same m) and Theorem 2 against the m-step attack at fixed A, CE, frozen gates."""
    H, g, lam1 = _curvature(frozen, X, y, "ce")
    beta_ = _strength_at(lam1, cfg.m_A)
    thm1_err, thm2_err = [], []
    hat = thm2_delta(H, g, beta_)
    for m_ in cfg.m_grid:
        star = attacks.raw_ascent(frozen, X, y, alpha=beta_ / m_, steps=m_)
        thm1_err.append(relative_errors(star, thm1_delta(H, g, beta_ / m_, m_)))
        thm2_err.append(relative_errors(star, hat))
    flow = gradient_flow(frozen, X, y, T=beta_, steps=cfg.flow_steps)
    return {"m": np.array(cfg.m_grid), "A": cfg.m_A, "thm1": np.stack(thm1_err),
            "thm2": np.stack(thm2_err), "thm2_flow": relative_errors(flow.delta, hat)}


def norm_growth(model: attacks.Model, X: Tensor, y: Tensor, *, step: attacks.StepName,
                alpha: float, steps: int) -> dict[str, np.ndarray]:
    """``||delta^(t)||``, ``||g_{x + delta^(t)}||`` (t = 0..steps) and the first misclassified step.

    ``m_success`` is -1 for an image the attack never fools. No clipping, no projection.
    """
    path = attacks.perturb(model, X, y, step=step, alpha=alpha, steps=steps,
                           return_path=True).path
    grad_norm, wrong = [], []
    for point in path:
        grad_norm.append(attacks.input_grad(model, X + point, y).flatten(1).norm(dim=1))
        with torch.no_grad():
            wrong.append(model(X + point).argmax(1) != y)
    wrong_t = torch.stack(wrong)
    first = torch.where(wrong_t.any(0), wrong_t.double().argmax(0), torch.full_like(y, -1))
    return {"delta_norm": path.flatten(2).norm(dim=2).numpy(),
            "grad_norm": torch.stack(grad_norm).numpy(), "m_success": first.numpy()}


def growth(model: models.MLP, X: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """000 Fig. 1 / 001 Fig. 2: raw, l2 and l_inf attacks of step ``growth_alpha``, free/frozen."""
    X, y = X[: cfg.n_growth], y[: cfg.n_growth]
    nets = {"free": model, "frozen": models.frozen_gate(model, X)}
    return {f"{step}/{gates}": norm_growth(net, X, y, step=step, alpha=cfg.growth_alpha,
                                           steps=n)
            for gates, net in nets.items()
            for step, n in zip(("raw", "l2", "linf"), cfg.growth_steps, strict=True)}


def effective_linf(model: attacks.Model, X: Tensor, y: Tensor, path: Tensor,
                   alpha: float) -> Tensor:
    """001 §3.2: ``delta^(effective, l_inf) = sum_t alpha (o_t^T sign g_t) o_t``,
    ``o_t = g_t/||g_t||``, ``g_t`` the gradient at ``x + delta^(t)`` of the l_inf attack's path."""
    out = torch.zeros_like(X.flatten(1))
    for point in path[:-1]:
        g = attacks.input_grad(model, X + point, y).flatten(1)
        o = g / g.norm(dim=1, keepdim=True)
        out = out + alpha * (o * g.sign()).sum(1, keepdim=True) * o
    return out


def matching(model: models.MLP, X: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """001 §3.2 and Fig. 1: delta_hat (A = match_A) against the real raw attack, the l2 PGD with
    budget ||delta_hat|| (001's C) and the effective l_inf component, in ``match_steps`` steps;
    plus C.1/C.3 on the closed form over ``cos_A``."""
    H, g, lam1 = _curvature(model, X, y, "ce")
    beta_ = _strength_at(lam1, cfg.match_A)
    hat = thm2_delta(H, g, beta_)
    n = cfg.match_steps
    star = attacks.raw_ascent(model, X, y, alpha=beta_ / n, steps=n)
    budget = hat.norm(dim=1)
    l2 = attacks.perturb(model, X, y, step="l2", alpha=budget / n, steps=n)
    a_inf = budget / n / math.sqrt(X.shape[1])
    linf = attacks.perturb(model, X, y, step="linf", alpha=a_inf, steps=n, return_path=True)
    eff = effective_linf(model, X, y, linf.path, a_inf[:, None])

    def one_minus_cos(a: Tensor, b: Tensor) -> np.ndarray:
        return (1 - torch.nn.functional.cosine_similarity(a, b)).numpy()

    lam, V = torch.linalg.eigh(H)
    rank = (lam.abs() > 1e-10 * lam.abs().amax(1, keepdim=True)).sum(1)
    cos_v1, cos_g, top_share = [], [], []
    for A in cfg.cos_A:
        d = thm2_delta(H, g, _strength_at(lam1, A))
        cos_v1.append(torch.nn.functional.cosine_similarity(d, V[:, :, -1]).abs().numpy())
        cos_g.append(torch.nn.functional.cosine_similarity(d, g).numpy())
        top_share.append(((V[:, :, -1] * d).sum(1) ** 2 / (d * d).sum(1)).numpy())
    return {"A": cfg.match_A, "star": one_minus_cos(hat, star), "l2": one_minus_cos(hat, l2),
            "linf_effective": one_minus_cos(hat, eff), "linf_full": one_minus_cos(hat, linf.delta),
            "scatter": {"x": X[:3].numpy(), "hat": hat[:3].numpy(), "star": star[:3].numpy(),
                        "l2": l2[:3].numpy(), "linf_effective": eff[:3].numpy()},
            "rank": rank.numpy(), "cos_A": np.array(cfg.cos_A), "cos_v1": np.stack(cos_v1),
            "cos_g": np.stack(cos_g), "top_share": np.stack(top_share)}


# ---------------------------------------------------------------------------------------------
# Result and run


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@dataclass
class Result:
    """Per-sample measurements (numpy arrays) and the config that produced them."""

    config: Config
    accuracy: float
    n_eval: int
    table: dict[str, Any]
    regime: dict[str, Any]
    m_sweep: dict[str, Any]
    growth: dict[str, Any]
    matching: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def kappa_table(self, A: float) -> dict[str, dict[str, float]]:
        """Per variant at table strength A: kappa (000 and 001 definitions) of Theorem 2, 000's
        kappa of Theorem 1 (same m) and of the baseline beta g_x, and 001's with H_bar_x."""
        rows = {}
        for loss, gates in VARIANTS:
            e = self.table[f"{loss}/{gates}/A={A:g}"]
            row = {"kappa_000": e["kappa_000"], "kappa_001": e["kappa_001"],
                   "thm1_000": float(np.mean(e["thm1"])), "naive_000": float(np.mean(e["naive"]))}
            if "kappa_001_hbar" in e:
                row["kappa_001_hbar"] = e["kappa_001_hbar"]
            rows[f"{loss.upper()}, {gates} gates"] = row
        return rows

    def median_error(self, gates: str = "frozen", what: str = "thm2") -> np.ndarray:
        """Median relative error over the images at each A of the grid."""
        return np.median(self.regime[gates][what], axis=1)

    def validity(self, gates: str = "frozen") -> float:
        """Largest A of the grid up to which Theorem 2's median error stays below ``accurate``."""
        ok = np.cumprod(self.median_error(gates) < self.config.accurate).astype(bool)
        return float(self.regime["A_grid"][ok].max()) if ok.any() else 0.0

    def slope(self, gates: str = "frozen", A_max: float = 0.3) -> float:
        """Log-log slope of the median error of Theorem 2 in beta (per-sample beta = A/lambda_1,
        so the slope in A is the slope in beta), fitted for A <= ``A_max``."""
        A = self.regime["A_grid"]
        keep = A <= A_max
        return loglog_slope(A[keep], self.median_error(gates)[keep])

    def progress_curve(self, key: str, what: str = "grad_norm",
                       grid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Median of ``what`` at relative progress ``t/m_success`` on ``grid`` (default 0..2), over
        the images fooled within the attack; nan where fewer than 3 images reach that progress."""
        g = self.growth[key]
        grid = np.linspace(0, 2, 41) if grid is None else grid
        values, ms = g[what], g["m_success"]
        ok = np.flatnonzero(ms > 0)
        out = np.full(len(grid), np.nan)
        for j, r in enumerate(grid):
            t_ = np.round(r * ms[ok]).astype(int)
            inside = t_ < values.shape[0]
            if inside.sum() >= 3:
                out[j] = np.median(values[t_[inside], ok[inside]])
        return grid, out

    def saturation(self, key: str) -> dict[str, float]:
        """For the images fooled at ``m_s`` with ``2 m_s`` within the attack: the median growth
        ``log(||g(m_s)|| / ||g(0)||)`` before success, ``log(||g(2 m_s)|| / ||g(m_s)||)`` after."""
        g = self.growth[key]
        gn, ms = g["grad_norm"], g["m_success"]
        idx = np.flatnonzero((ms > 0) & (2 * ms < gn.shape[0]))
        if idx.size == 0:
            return {"n": 0, "before": float("nan"), "after": float("nan")}
        before = np.log(gn[ms[idx], idx] / gn[0, idx])
        after = np.log(gn[2 * ms[idx], idx] / gn[ms[idx], idx])
        return {"n": int(idx.size), "before": float(np.median(before)),
                "after": float(np.median(after))}

    def summary(self) -> dict[str, Any]:
        """A few numbers for the book and the artifact (plain Python types)."""
        mt = self.m_sweep
        return {
            "accuracy": round(self.accuracy, 3), "n_eval": self.n_eval,
            "kappa_table": {f"A={A:g}": self.kappa_table(A) for A in self.config.table_A},
            "validity_frozen": self.validity("frozen"), "validity_free": self.validity("free"),
            "slope_frozen": self.slope("frozen"), "slope_free": self.slope("free"),
            "m_sweep_thm1_median": np.median(mt["thm1"], axis=1).tolist(),
            "m_sweep_thm2_median": np.median(mt["thm2"], axis=1).tolist(),
            "saturation_raw": {gates: self.saturation(f"raw/{gates}")
                               for gates in ("free", "frozen")},
            "match_median": {k: float(np.median(self.matching[k]))
                             for k in ("star", "l2", "linf_effective", "linf_full")},
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, as JSON-ready lists (the artifact's ``result``)."""
        def plain(d: Any) -> Any:
            if isinstance(d, dict):
                return {k: plain(v) for k, v in d.items()}
            if isinstance(d, float | int | str) or d is None:
                return d
            if isinstance(d, list):
                return [plain(v) for v in d]
            return np.asarray(d).round(14).tolist()

        growth = {}  # the per-step norms are large: keep the median curves and m_success
        for key, g in self.growth.items():
            grid, delta_norm = self.progress_curve(key, "delta_norm")
            curves = {"delta_norm": delta_norm, "grad_norm": self.progress_curve(key)[1]}
            growth[key] = {"m_success": g["m_success"], "progress": grid} | {
                k: [None if np.isnan(v) else float(v) for v in c] for k, c in curves.items()}
        return {"summary": self.summary(), "table": plain(self.table),
                "regime": plain(self.regime), "m_sweep": plain(self.m_sweep),
                "growth": plain(growth), "matching": plain(self.matching)}


def train_model(X: Tensor, y: Tensor, cfg: Config, *, seed: int) -> models.MLP:
    """A ReLU MLP trained with SGD (clean, or l_inf PGD-AT when ``cfg.train_attack = "pgd"``),
    returned in float64 and eval mode."""
    model = models.MLP(X.shape[1], cfg.hidden, 10, generator=torch.Generator().manual_seed(seed))
    kwargs = {"steps": cfg.train_steps} if cfg.train_attack == "pgd" else None
    train.train(model, X, y, num_epochs=cfg.num_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                attack=cfg.train_attack, attack_kwargs=kwargs, eps_schedule=cfg.train_eps,
                seed=seed, progress=None)
    return model.double().eval()


def evaluation_set(model: models.MLP, X: Tensor, y: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` correctly classified images (the attacks start on the correct side)."""
    with torch.no_grad():
        keep = model(X).argmax(1) == y
    if int(keep.sum()) < n:
        raise ValueError(f"only {int(keep.sum())} correctly classified images, {n} needed")
    return X[keep][:n], y[keep][:n]


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train the net, then measure everything in float64 on the CPU."""
    cfg = CONFIGS[mode]
    if device != "cpu":
        raise ValueError("cheng_dynamics measures in float64 on the CPU; use --device cpu")
    tr = data.load(cfg.dataset, split="train", flatten=True, data_dir=data_dir)
    te = data.load(cfg.dataset, split="test", flatten=True, data_dir=data_dir,
                   dtype=torch.float64)
    with threads(cfg.threads):
        model = train_model(tr.X, tr.y, cfg, seed=seed)
        with torch.no_grad():
            accuracy = float((model(te.X).argmax(1) == te.y).double().mean())
        X, y = evaluation_set(model, te.X, te.y, cfg.n_eval)
        frozen = models.frozen_gate(model, X)
        return Result(cfg, accuracy, len(X), table1(model, frozen, X, y, cfg),
                      regime(model, frozen, X, y, cfg), m_sweep(frozen, X, y, cfg),
                      growth(model, X, y, cfg), matching(model, X, y, cfg))
