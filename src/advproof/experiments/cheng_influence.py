"""Which samples drive adversarial training: 000 Figs. 2-3 / 001 Figs. 3-4 (Theorem 3, C.5).

Theorem 3 says the additional effect of adversarial training on a sample grows like e^A with
``A = beta H_z ||g~_x||^2``: unconfident samples (large ``H_z = p(1 - p)``) with large input
gradients should dominate the weight update. The papers test it on PGD-trained AlexNet/VGG on
MNIST; here the net is the small CNN of chapter 4 (``cheng_training``), PGD-trained on digits
3 vs 8 (quick) or Fashion-MNIST T-shirt vs shirt (full), in float64 on the CPU.

Per training image, a raw-gradient attack (no constraint, the papers' evaluation attack:
``alpha = 0.02``, m steps) gives ``delta`` and, along its path, the two "real" imbalances

* 000: ``A_hat = sum_t alpha H_z(t) ||g~_x(t)||^2`` (H_z at each step), and
* 001: ``A_bar = sum_t alpha H_bar_z ||g~_x(t)||^2`` (H_z averaged over the path),

with t over the m points where the attack takes its gradient (delta(0) = 0 .. delta(m-1)).

1. ``scatter`` (Fig. 2 / Fig. 3): the impact of each image, ``||Dg_W||`` (first layer,
   ``Dg_W = g_W(x + delta) - g_W(x)``) and ``|g~_x^T Dg~_x|`` (= ``|phi*|`` of chapter 4 with
   eta = 1), against H_z, ``H_z ||g~_x||^2`` (= lambda_1 of H_x, the A of Theorem 3 at unit
   beta), A_hat and A_bar; Spearman rank correlations summarise each panel. The control axis is
   the input energy ``||x||^2``, which scales ``g_W = g_h x^T`` but is not part of A.
2. ``dominance`` (Fig. 3 / Fig. 4): for m in ``cos_steps``, the cosine between each image's
   ``Dg_W`` and the mean ``Dg_W`` over all images, averaged in ten groups of equal size by A_hat
   (deciles: 001 says "ten groups by A_hat range" without the ranges), and the share of the mean
   update's length that the top decile contributes, ``<sum_top Dg_W, mean> / <sum_all, mean>``.

Not given in the papers and chosen here: the net and data (above), the images (the first
``n_images`` training images whose input gradient is not zero, correct or not; all of them in
quick mode), the groups
(deciles), the layer (the first, where Theorem 3 is exact).
Used by: notebooks/06_cheng_influence.ipynb; advproof.symbolic.cheng_influence.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import Tensor, nn

from advproof import attacks, data
from advproof.experiments import cheng_training as ct
from advproof.threads import threads

__all__ = [
    "CONFIGS",
    "CONTROL_AXIS",
    "Config",
    "Result",
    "X_AXES",
    "Y_AXES",
    "raw_attack_path",
    "run",
]

#: The x-axes of Fig. 2 (000) / Fig. 3 (001) and the y-axes (impacts), by key.
X_AXES: dict[str, str] = {
    "H_z": "H_z",
    "lambda1": "H_z ||g~_x||^2",
    "A_hat": "A_hat (000)",
    "A_bar": "A_hat (001, path-mean H_z)",
}
Y_AXES: dict[str, str] = {"dgW": "||Dg_W||", "phi": "|g~_x^T Dg~_x|"}
#: The control axis: the input energy ||x||^2 scales the weight gradient (g_W = g_h x^T) but is
#: not part of A, so a trend along it would not be Theorem 3's.
CONTROL_AXIS = "x_norm2"


@dataclass(frozen=True)
class Config:
    """The training of chapter 4's CNN (``training``), and the evaluation attack and groups."""

    training: str = "quick"  # a cheng_training mode: the same PGD-trained CNN as chapter 4
    n_images: int | None = None  # None: every training image with a non-zero input gradient
    alpha: float = 0.02
    steps: int = 100
    cos_steps: tuple[int, ...] = (100, 150, 200)
    groups: int = 10


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(training="smoke", n_images=40, steps=10, cos_steps=(10, 15), groups=4),
    "full": Config(training="full", n_images=2000),
}


class Path:
    """Accumulators along a raw-gradient attack: A_hat, sum alpha ||g~_x||^2, mean H_z."""

    def __init__(self, n: int, dtype: torch.dtype) -> None:
        self.a_hat = torch.zeros(n, dtype=dtype)
        self.gx2 = torch.zeros(n, dtype=dtype)
        self.hz_sum = torch.zeros(n, dtype=dtype)
        self.steps = 0

    def add(self, alpha: float, H_z: Tensor, ngx2: Tensor) -> None:
        self.a_hat += alpha * H_z * ngx2
        self.gx2 += alpha * ngx2
        self.hz_sum += H_z
        self.steps += 1

    @property
    def a_bar(self) -> Tensor:
        """001's A_hat: the path mean of H_z times sum_t alpha ||g~_x(t)||^2."""
        return self.hz_sum / self.steps * self.gx2


def raw_attack_path(
    net: nn.Module, X: Tensor, y: Tensor, alpha: float, steps: tuple[int, ...]
) -> dict[int, tuple[Tensor, Tensor, Tensor]]:
    """Unconstrained raw-gradient ascent on the logistic loss, ``delta += alpha g_x``.

    Returns, for each m in ``steps``, ``(delta_m, A_hat_m, A_bar_m)`` with the two imbalances
    summed over the m gradient evaluations delta(0) .. delta(m-1).
    """
    if not steps or min(steps) < 1:
        raise ValueError(f"steps must be positive step counts, got {steps}")
    delta = torch.zeros_like(X)
    path = Path(len(X), X.dtype)
    out: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
    for t in range(1, max(steps) + 1):
        q = ct.local(net, X + delta, y, "bce")
        path.add(alpha, q.H_z, q.gt_x.pow(2).sum(1))
        delta = delta + alpha * q.g_z[:, None] * q.gt_x
        if t in steps:
            out[t] = (delta.clone(), path.a_hat.clone(), path.a_bar.clone())
    return out


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties averaged)."""
    return float(spearmanr(x, y).statistic)


def decile_groups(a: np.ndarray, groups: int) -> list[np.ndarray]:
    """Indices of ``groups`` groups of (nearly) equal size, by increasing ``a``."""
    return np.array_split(np.argsort(a, kind="stable"), groups)


@dataclass
class Result:
    """Per image: the scatter's axes; per m: A_hat, the cosine to the mean Dg_W, and the length
    ``<Dg_W, mean>`` each image adds to the mean update."""

    config: dict[str, Any]
    accuracy: float = 0.0
    x: dict[str, list[float]] = field(default_factory=dict)
    y: dict[str, list[float]] = field(default_factory=dict)
    p_y: list[float] = field(default_factory=list)
    a_path: dict[int, list[float]] = field(default_factory=dict)
    cos: dict[int, list[float]] = field(default_factory=dict)
    along: dict[int, list[float]] = field(default_factory=dict)

    def correlations(self) -> dict[str, dict[str, float]]:
        """Spearman rho of every (y, x) panel of the scatter, and of the control axis."""
        return {
            yk: {xk: spearman(np.asarray(self.x[xk]), np.asarray(self.y[yk])) for xk in self.x}
            for yk in self.y
        }

    def _key(self, m: int, by: str) -> np.ndarray:
        return np.asarray(self.a_path[m] if by == "A_hat" else self.x[by])

    def groups(self, m: int, by: str = "A_hat") -> list[np.ndarray]:
        """Ten (``groups``) equal-size groups of images by increasing A_hat of the m-step
        attack (or by another per-image key of ``x``)."""
        return decile_groups(self._key(m, by), self.config["groups"])

    def group_means(self, m: int, by: str = "A_hat") -> dict[str, list[float]]:
        """Per group: mean A_hat (or key), mean cosine to the mean update, and the share of the
        mean update's length ``sum <Dg_W, mean> / (N ||mean||^2)`` the group contributes."""
        key, cos, along = self._key(m, by), np.asarray(self.cos[m]), np.asarray(self.along[m])
        gs = self.groups(m, by)
        return {
            "key": [float(key[g].mean()) for g in gs],
            "cos": [float(cos[g].mean()) for g in gs],
            "share": [float(along[g].sum() / along.sum()) for g in gs],
        }

    def trend(self, m: int, by: str = "A_hat") -> float:
        """Spearman rho between the group index and the group mean cosine."""
        cos = self.group_means(m, by)["cos"]
        return spearman(np.arange(len(cos)), np.asarray(cos))

    def summary(self) -> dict[str, Any]:
        """The numbers the chapter prints."""
        return {
            "accuracy": round(self.accuracy, 3),
            "rho": self.correlations(),
            "trend": {m: self.trend(m) for m in self.cos},
            "top_share": {m: self.group_means(m)["share"][-1] for m in self.cos},
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), **asdict(self)}


def _impacts(net: nn.Module, X: Tensor, y: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
    """Per image: ``Dg_W`` of the first layer (N, *W) and ``phi* = g~_x^T Dg~_x`` (eta = 1)."""
    m = ct.phi_measurements(net, net, X, y, delta, "bce", E={})
    return m["dgW_real"], m["phi_real"]


def run(
    mode: str = "quick", *, seed: int = 0, device: str = "cpu", data_dir: str | None = None
) -> Result:
    """Train chapter 4's PGD-AT CNN, attack n images, measure both figures (CPU, float64)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {tuple(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("cheng_influence measures in float64 on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    tcfg = ct.CONFIGS[cfg.training]
    tr = data.load(
        tcfg.dataset, split="train", flatten=True, data_dir=data_dir, classes=tcfg.classes
    )
    te = data.load(
        tcfg.dataset,
        split="test",
        flatten=True,
        data_dir=data_dir,
        classes=tcfg.classes,
        dtype=torch.float64,
    )
    Xtr, ytr = ct.binary(tr)
    Xte, yte = ct.binary(te)
    res = Result(config=asdict(cfg))
    with threads(tcfg.threads):
        net = ct.train_net("cnn", "adversarial", Xtr, ytr, tcfg, seed)
        with torch.no_grad():
            res.accuracy = float((net(Xte)[:, 0] * yte > 0).double().mean())
        X, y = Xtr.double(), ytr.double()
        q = ct.local(net, X, y, "bce")
        keep = torch.nonzero(q.gt_x.norm(dim=1) > 0).flatten()[: cfg.n_images]
        if cfg.n_images is not None and len(keep) < cfg.n_images:
            raise ValueError(
                f"only {len(keep)} training images with a non-zero input gradient, "
                f"{cfg.n_images} needed"
            )
        X, y = X[keep], y[keep]
        q = ct.local(net, X, y, "bce")
        steps = tuple(sorted({cfg.steps, *cfg.cos_steps}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", attacks.ZeroInputGradientWarning)
            paths = raw_attack_path(net, X, y, cfg.alpha, steps)
        delta, a_hat, a_bar = paths[cfg.steps]
        dgW, phi = _impacts(net, X, y, delta)
        res.p_y = torch.sigmoid(y * q.z).tolist()
        res.x = {
            "H_z": q.H_z.tolist(),
            "lambda1": (q.H_z * q.gt_x.pow(2).sum(1)).tolist(),
            "A_hat": a_hat.tolist(),
            "A_bar": a_bar.tolist(),
            CONTROL_AXIS: X.pow(2).sum(1).tolist(),
        }
        res.y = {"dgW": dgW.flatten(1).norm(dim=1).tolist(), "phi": phi.abs().tolist()}
        for m in cfg.cos_steps:
            delta_m, a_m, _ = paths[m]
            d = _impacts(net, X, y, delta_m)[0].flatten(1)
            mean = d.mean(0)
            res.a_path[m] = a_m.tolist()
            res.cos[m] = F.cosine_similarity(d, mean[None], dim=1).tolist()
            res.along[m] = (d @ mean).tolist()
    return res
