"""Lyu & Zhu (002) §3.1, App. B.5 and App. C.3: adversarial training of deep linear networks.

Full-batch gradient descent on ``L~(W) = (1/n) sum_i log(1 + exp(-gamma~_i))`` for
``f(x) = W_L ... W_1 x`` with the *exact* worst-case perturbation, in float64 numpy:

1. ``l2``: delta_i = -y_i eps W_Pi / ||W_Pi|| (002 eq. 10), eps = gamma_m / 2 on a linearly
   separable set through the origin (||x|| <= 1), depths L = 1..4. Theorem 2 predicts
   W_Pi / ||W_Pi|| -> u_bar (the hard-margin SVM direction), |<u_k, v_{k+1}>| -> 1 and
   ||W_k||_2 / ||W_k||_F -> 1 (Fig. 7), ||W_k||_F -> infinity like (ln t)^{1/L} (Fig. 6), and
   gamma~_m / rho -> gamma_m - eps; Lemma 6 bounds the drift of ||W_k||^2 - ||W_j||^2 by 2 L~(0).
2. ``linf``: delta_i = -y_i eps sgn(W_Pi) (eq. 139) on a 2-D set with one support vector (fewer
   than d): the direction converges to the solution of the mixed-norm problem (140)-(141)
   (Remark 2), not to u_bar.

The gradient is Danskin's (the envelope of the exact inner maximisation), which is also the total
derivative through delta(W) (claim ``lyuzhu.thm2``, step 1). Nothing in 002 fixes d, n, eps,
the step size or the initialisation of Fig. 6/7: the book's choices are in :class:`Config`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from advproof import margins

__all__ = ["CONFIGS", "Config", "Result", "Trajectory", "gd_deep_linear", "run"]


@dataclass(frozen=True)
class Config:
    """Sizes and choices of the book (002 gives none for Fig. 6/7)."""

    n: int = 24
    d: int = 3
    gap: float = 0.15  # |w0^T x| > gap for the generated points (then gamma_m >= gap)
    eps_fraction: float = 0.5  # eps = eps_fraction * gamma_m (requirement (8), strict)
    depths: tuple[int, ...] = (1, 2, 3, 4)
    width: int = 4
    init_scale: float = 0.3
    lr: float = 0.5  # constant step (the step of Lemma 2 is ~1e-7, see the chapter)
    steps: int = 5000
    checkpoints: int = 40
    linf_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)  # eps / gamma_{m,1}
    linf_depths: tuple[int, ...] = (1, 2, 3)
    linf_fraction_trained: float = 0.6
    linf_steps: int = 3000


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(n=200, d=10, gap=0.05, width=10, steps=200_000, checkpoints=80,
                   linf_steps=50_000),
}


class Trajectory(NamedTuple):
    """Measurements at log-spaced steps (arrays over checkpoints; per-layer arrays (T, L)).

    ``angle``: 1 - cos(W_Pi, target); ``align``: min_k |<u_k, v_{k+1}>| (1 for L = 1);
    ``rank_ratio``: ||W_k||_2 / ||W_k||_F; ``norms``: ||W_k||_F; ``normalized_margin``:
    gamma~_m / prod_k ||W_k||_F; ``drift``: max_{k,j} |(||W_k||^2 - ||W_j||^2)(t) - (...)(0)|;
    ``loss``: L~(t); ``loss0``: L~(0).
    """

    steps: np.ndarray
    angle: np.ndarray
    align: np.ndarray
    rank_ratio: np.ndarray
    norms: np.ndarray
    normalized_margin: np.ndarray
    drift: np.ndarray
    loss: np.ndarray
    loss0: float
    w_pi: np.ndarray


def separable_data(n: int, d: int, gap: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform in the unit ball with |w0^T x| > gap, labelled by sgn(w0^T x).

    Absolutely continuous data (002 Lemma 7's hypothesis), so d support vectors in general.
    """
    if not 0 < gap < 1 or n < 2 or d < 1:
        raise ValueError(f"need n >= 2, d >= 1, 0 < gap < 1; got {n=}, {d=}, {gap=}")
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(d)
    w0 /= np.linalg.norm(w0)
    X = np.empty((0, d))
    while len(X) < n:
        cand = rng.uniform(-1, 1, (4 * n, d))
        keep = (np.linalg.norm(cand, axis=1) <= 1) & (np.abs(cand @ w0) > gap)
        X = np.vstack([X, cand[keep]])
    X = X[:n]
    return X, np.sign(X @ w0)


def one_support_vector_data(seed: int = 0, n: int = 16, angle_deg: float = 25.0,
                            radius: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D set whose SVM has one support vector pair +-r (cos a, sin a), a = ``angle_deg``.

    Every other point has margin >= 0.75 along u_bar and >= 0.7 along e_1, so the l_inf-robust
    direction leaves u_bar (and snaps to e_1 once eps >= r sin a): App. B.5 made visible.
    """
    rng = np.random.default_rng(seed)
    u = np.array([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))])
    pts, lab = [radius * u, -radius * u], [1.0, -1.0]
    while len(pts) < n:
        x = rng.uniform(-1, 1, 2)
        s = np.sign(x @ u)
        if np.linalg.norm(x) <= 1 and s * (x @ u) >= 0.75 and s * x[0] >= 0.7:
            pts.append(x)
            lab.append(s)
    return np.array(pts), np.array(lab)


def _products(W: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """prefix[k] = W_{k-1}...W_1 (identity for k = 0), suffix[k] = W_L...W_{k+1}, W_Pi."""
    prefix = [np.eye(W[0].shape[1])]
    for w in W[:-1]:
        prefix.append(w @ prefix[-1])
    suffix = [np.ones((1, 1))]
    for w in reversed(W[1:]):
        suffix.append(suffix[-1] @ w)
    suffix = suffix[::-1]
    return prefix, suffix, (W[-1] @ prefix[-1])[0]


def _measure(W: list[np.ndarray], w_pi: np.ndarray, q: np.ndarray, target: np.ndarray,
             sq0: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray, float, float]:
    norms = np.array([np.linalg.norm(w) for w in W])
    svd = [np.linalg.svd(w) for w in W]
    align = min((abs(svd[k][0][:, 0] @ svd[k + 1][2][0]) for k in range(len(W) - 1)),
                default=1.0)
    ratio = np.array([s[1][0] / np.linalg.norm(s[1]) for s in svd])
    sq = norms**2 - sq0
    cos = w_pi @ target / (np.linalg.norm(w_pi) * np.linalg.norm(target))
    return (1 - cos, align, ratio, norms, q.min() / np.prod(norms),
            float(np.abs(sq[:, None] - sq[None, :]).max()))


def gd_deep_linear(X: np.ndarray, y: np.ndarray, *, depth: int, eps: float, p: float = 2.0,
                   width: int = 4, lr: float = 0.5, steps: int = 5000, init_scale: float = 0.3,
                   seed: int = 0, checkpoints: int = 40, target: np.ndarray | None = None
                   ) -> Trajectory:
    """GD with the exact l2 (p = 2, eq. 10) or l_inf (p = inf, eq. 139) worst case, logistic loss.

    The gradient in W_Pi is (1/n) sum_i l'(q_i)(y_i x_i - eps dN(W_Pi)) with N the dual norm
    (Danskin), chained to each layer as (W_L..W_{k+1})^T g (W_{k-1}..W_1)^T. ``target`` is the
    direction the angle is measured to (u_bar by default).
    """
    if p not in (2.0, math.inf):
        raise ValueError(f"p must be 2 or inf, got {p!r}")
    rng = np.random.default_rng(seed)
    dims = [X.shape[1]] + [width] * (depth - 1) + [1]
    W = [init_scale * rng.standard_normal((dims[k + 1], dims[k])) for k in range(depth)]
    Z = y[:, None] * X
    target = margins.hard_margin_svm(X, y).u_bar if target is None else target
    marks = set(np.unique(np.geomspace(1, steps, checkpoints).astype(int)).tolist()) | {0}
    sq0 = np.array([np.sum(w * w) for w in W])
    rows, loss0 = [], 0.0
    for t in range(steps + 1):
        prefix, suffix, w_pi = _products(W)
        dual = np.linalg.norm(w_pi) if p == 2.0 else np.abs(w_pi).sum()
        q = Z @ w_pi - eps * dual
        loss = float(np.mean(np.logaddexp(0.0, -q)))
        loss0 = loss if t == 0 else loss0
        if t in marks:
            rows.append((t, *_measure(W, w_pi, q, target, sq0), loss))
        d_dual = w_pi / np.linalg.norm(w_pi) if p == 2.0 else np.sign(w_pi)
        g = -(np.exp(-np.logaddexp(0.0, q))[:, None] * (Z - eps * d_dual)).mean(0)
        for k in range(depth):
            W[k] = W[k] - lr * (suffix[k].T @ g[None, :] @ prefix[k].T)
    cols = list(zip(*rows, strict=True))
    return Trajectory(np.array(cols[0]), np.array(cols[1]), np.array(cols[2]), np.stack(cols[3]),
                      np.stack(cols[4]), np.array(cols[5]), np.array(cols[6]), np.array(cols[7]),
                      loss0, _products(W)[2])


@dataclass
class Result:
    """Both experiments, their data summaries and the config."""

    config: Config
    gamma: float
    eps: float
    n_support: int
    l2: dict[int, Trajectory]
    linf_gamma: float
    linf_gamma1: float
    linf_angles: dict[float, float]  # eps / gamma_{m,1} -> angle(robust direction, u_bar)
    linf: dict[int, Trajectory]  # trained at linf_fraction_trained, angle to the robust dir.
    linf_to_ubar: dict[int, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Final values per depth (plain Python types)."""
        final = {L: {"one_minus_cos": float(tr.angle[-1]), "align": float(tr.align[-1]),
                     "min_rank_ratio": float(tr.rank_ratio[-1].min()),
                     "normalized_margin": float(tr.normalized_margin[-1]),
                     "drift": float(tr.drift[-1]), "two_loss0": 2 * tr.loss0}
                 for L, tr in self.l2.items()}
        return {"gamma_m": self.gamma, "eps": self.eps, "limit": self.gamma - self.eps,
                "n_support": self.n_support, "l2_final": final,
                "linf_gamma_m1": self.linf_gamma1,
                "linf_angles_robust_vs_ubar": {str(k): v for k, v in self.linf_angles.items()},
                "linf_final_angle_to_robust": {L: float(np.degrees(np.arccos(
                    1 - tr.angle[-1]))) for L, tr in self.linf.items()},
                "linf_final_angle_to_ubar": self.linf_to_ubar}

    def to_json(self) -> dict[str, Any]:
        """Summary plus the trajectories as lists."""
        def plain(tr: Trajectory) -> dict[str, Any]:
            return {k: (np.asarray(v).round(12).tolist() if isinstance(v, np.ndarray) else v)
                    for k, v in tr._asdict().items()}
        return {"summary": self.summary(), "l2": {L: plain(t) for L, t in self.l2.items()},
                "linf": {L: plain(t) for L, t in self.linf.items()}}


def _linf_part(cfg: Config, seed: int) -> tuple[float, float, dict, dict, dict]:
    X, y = one_support_vector_data(seed)
    svm = margins.hard_margin_svm(X, y)
    _, g1 = margins.linf_robust_margin(X, y)
    angles = {f: margins.angle_degrees(margins.robust_linf_svm(X, y, f * g1)[0], svm.u_bar)
              for f in cfg.linf_fractions}
    eps = cfg.linf_fraction_trained * g1
    robust = margins.robust_linf_svm(X, y, eps)[0]
    runs, to_ubar = {}, {}
    for L in cfg.linf_depths:
        runs[L] = gd_deep_linear(X, y, depth=L, eps=eps, p=math.inf, width=cfg.width,
                                 lr=cfg.lr, steps=cfg.linf_steps, init_scale=cfg.init_scale,
                                 seed=seed, checkpoints=cfg.checkpoints, target=robust)
        to_ubar[L] = margins.angle_degrees(runs[L].w_pi, svm.u_bar)
    return svm.gamma, g1, angles, runs, to_ubar


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Both experiments (numpy float64 on the CPU; ``data_dir`` is unused: synthetic data)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("lyuzhu_deep_linear runs in numpy float64 on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    X, y = separable_data(cfg.n, cfg.d, cfg.gap, seed)
    svm = margins.hard_margin_svm(X, y)
    eps = cfg.eps_fraction * svm.gamma
    l2 = {L: gd_deep_linear(X, y, depth=L, eps=eps, width=cfg.width, lr=cfg.lr, steps=cfg.steps,
                            init_scale=cfg.init_scale, seed=seed, checkpoints=cfg.checkpoints)
          for L in cfg.depths}
    g, g1, angles, linf, to_ubar = _linf_part(cfg, seed)
    return Result(cfg, svm.gamma, eps, int((svm.alpha > 1e-9).sum()), l2, g, g1, angles, linf,
                  to_ubar)
