"""Chapter 1 experiment: the input Hessian of a trained ReLU net, the binary reduction, Lemma 2.

On a small ReLU MLP trained on a real dataset (quick: scikit-learn's 8x8 digits on CPU; full:
Fashion-MNIST on a GPU) we measure, per test sample and in float64:

1. ``hessian``: the double-backprop input Hessian ``H_x`` against ``J^T H_z J`` (Cheng et al.
   000 Lemma 3, claim ``cheng.lemma3``), its numerical rank (binary: 1; 10 classes: at most 9)
   and its top eigenvalues.
2. ``reduction``: the softmax-to-sigmoid reduction (000 Assumption 2, claim ``cheng.assump2``):
   the error of ``sigmoid(z_y - z_j*)`` against ``p_y`` and of the reduced input gradient against
   the true one, as functions of ``eps = sum_{i != y, j*} e^{z_i - z_j*}``.
3. ``lemma2``: the regime of the first-order form of the multi-step attack (000 Lemma 2 summed,
   claim ``cheng.lemma2``): the relative error of ``alpha sum_k (I + alpha H_x)^k g_x`` against a
   real raw-gradient-ascent perturbation, against ``A = beta lambda_1``, with the ReLU gates free
   and frozen at ``x`` (the frozen model isolates the cross-entropy residual).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advproof import attacks, curvature, data, models, train

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """Sizes and paper-free choices of the experiment (nothing here comes from 000/001)."""

    dataset: str = "digits"
    hidden: tuple[int, ...] = (32, 32)
    num_epochs: int = 40
    lr: float = 0.05
    batch_size: int = 32
    binary_classes: tuple[int, int] = (3, 5)
    n_eval: int = 40
    A_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    steps: int = 50
    rank_rtol: float = 1e-10  # eigenvalues below rank_rtol * ||J||_2^2 are round-off
    accurate: float = 0.01  # "accurate" means a relative error below 1%


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    # the runner's own tests (checkpoint/resume, reproduce): seconds, not science
    "smoke": Config(hidden=(16,), num_epochs=8, n_eval=8, A_grid=(0.01, 1.0), steps=10),
    "full": Config(dataset="fashion-mnist", hidden=(256, 256), num_epochs=20, batch_size=128,
                   n_eval=400, steps=200),
}


@dataclass
class Result:
    """Per-sample measurements (numpy arrays) and the config that produced them."""

    config: Config
    accuracy: dict[str, float]
    hessian: dict[str, dict[str, np.ndarray]]
    reduction: dict[str, np.ndarray]
    lemma2: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)

    def regime(self, gates: str = "free") -> float:
        """Largest ``A`` of the grid up to which the median error stays below ``accurate``."""
        median = np.median(self.lemma2[f"error_{gates}"], axis=1)
        ok = np.cumprod(median < self.config.accurate).astype(bool)
        return float(self.lemma2["A_grid"][ok].max()) if ok.any() else 0.0

    def median_error(self, gates: str = "free") -> np.ndarray:
        """Median relative error of the first-order perturbation at each ``A`` of the grid."""
        return np.median(self.lemma2[f"error_{gates}"], axis=1)

    def summary(self) -> dict[str, Any]:
        """A few numbers for the book and the artifact (plain Python types)."""
        out: dict[str, Any] = {"accuracy": {k: round(v, 3) for k, v in self.accuracy.items()}}
        for task, h in self.hessian.items():
            ranks, counts = np.unique(h["rank"], return_counts=True)
            out[f"{task}_rank_counts"] = {int(r): int(c) for r, c in zip(ranks, counts,
                                                                          strict=True)}
            out[f"{task}_max_rel_error"] = float(h["rel_error"].max())
        out["reduction_max_error_over_eps"] = float(self.reduction["error_over_eps"].max())
        out["regime_free"] = self.regime("free")
        out["regime_frozen"] = self.regime("frozen")
        return out

    def to_json(self) -> dict[str, Any]:
        """Everything, as JSON-ready lists (the artifact's ``result``)."""
        def plain(d: dict) -> dict:
            return {k: plain(v) if isinstance(v, dict) else np.asarray(v).round(12).tolist()
                    for k, v in d.items()}
        return {"summary": self.summary(), "accuracy": self.accuracy,
                "hessian": plain(self.hessian), "reduction": plain(self.reduction),
                "lemma2": plain(self.lemma2)}


def train_model(X: torch.Tensor, y: torch.Tensor, n_out: int, cfg: Config, *, seed: int,
                loss: str, checkpoint: Any = None) -> models.MLP:
    """A ReLU MLP trained (clean, SGD) on ``(X, y)``, returned in float64 and eval mode.

    ``checkpoint``: a file for ``train.train``'s per-epoch state (resume after a kill).
    """
    model = models.MLP(X.shape[1], cfg.hidden, n_out,
                       generator=torch.Generator().manual_seed(seed))
    train.train(model, X, y, num_epochs=cfg.num_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                seed=seed, loss=loss, progress=None, checkpoint=checkpoint)
    return model.double().eval()


def hessian_stats(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str,
                  rank_rtol: float) -> dict[str, np.ndarray]:
    """Per-sample ``H_x`` vs ``J^T H_z J``, numerical rank, spectrum, g_x outside range(H_x).

    Errors and ranks are measured against the scale of the computation, ``||J||_2^2`` (H_z's
    entries are at most 1/4): for a confident sample ``H_z = diag(p) - pp^T`` is tiny and its
    float64 rounding, about ``1e-16 ||J||^2``, is then large *relative to* ``lambda_1``.
    """
    H = curvature.input_hessian(model, X, y, loss=loss)
    GN = curvature.gauss_newton_input_hessian(model, X, y, loss=loss)
    J = curvature.logit_jacobian(model, X)
    scale = torch.linalg.matrix_norm(J, ord=2) ** 2
    rel_error = (H - GN).abs().amax(dim=(1, 2)) / scale
    eig = torch.linalg.eigvalsh(H).flip(-1)  # descending
    rank = (eig.abs() > rank_rtol * scale[:, None]).sum(-1)
    return {"rel_error": rel_error.numpy(), "rank": rank.numpy(), "J_scale": scale.numpy(),
            "top_eigenvalues": eig[:, :10].numpy()}


def reduction_stats(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict:
    """The binary reduction on correctly classified samples: probability and gradient errors."""
    with torch.no_grad():
        z = model(X)
    keep = z.argmax(1) == y
    X, y, z = X[keep], y[keep], z[keep]
    other = z.scatter(1, y[:, None], -torch.inf)
    j_star = other.argmax(1)
    z_y, z_j = z.gather(1, y[:, None])[:, 0], z.gather(1, j_star[:, None])[:, 0]
    rest = other.scatter(1, j_star[:, None], -torch.inf)
    eps = torch.exp(rest - z_j[:, None]).sum(1)
    p_y = torch.softmax(z, 1).gather(1, y[:, None])[:, 0]
    error = torch.sigmoid(z_y - z_j) - p_y
    J = curvature.logit_jacobian(model, X)
    rows = torch.arange(len(y))
    g_true = attacks.input_grad(model, X, y, loss="ce").flatten(1)
    g_bin = -torch.sigmoid(-(z_y - z_j))[:, None] * (J[rows, y] - J[rows, j_star])
    g_error = (g_bin - g_true).norm(dim=1) / g_true.norm(dim=1)
    return {"eps": eps.numpy(), "p_error": error.numpy(),
            "error_over_eps": (error / eps.clamp_min(1e-300)).numpy(),
            "grad_rel_error": g_error.numpy()}


def first_order_delta(H: torch.Tensor, g: torch.Tensor, alpha: float | torch.Tensor,
                      m: int) -> torch.Tensor:
    """``alpha sum_{k<m} (I + alpha H)^k g`` per sample through the eigenbasis of ``H`` (N, D).

    ``alpha`` is a float or a per-sample column (N, 1).
    """
    lam, V = torch.linalg.eigh(H)
    coef = torch.where(lam.abs() > 1e-12, ((1 + alpha * lam) ** m - 1) / lam,
                       alpha * m * torch.ones_like(lam))
    return torch.einsum("ndk,nk,nek,ne->nd", V, coef, V, g)


def lemma2_regime(model: models.MLP, X: torch.Tensor, y: torch.Tensor, cfg: Config) -> dict:
    """Relative error of the first-order perturbation vs raw ascent, gates free and frozen.

    The attack strength is set per sample, ``beta_i = A / lambda_1(x_i)``, so that every sample
    is measured on the same grid of ``A = beta lambda_1`` (``m = cfg.steps`` steps of size
    ``beta_i / m``); samples whose ``lambda_1`` is at round-off level are left out.
    """
    H = curvature.input_hessian(model, X, y, loss="ce")
    g = attacks.input_grad(model, X, y, loss="ce").flatten(1)
    lam1 = torch.linalg.eigvalsh(H)[:, -1]
    keep = lam1 > 1e-8
    X, y, H, g, lam1 = X[keep], y[keep], H[keep], g[keep], lam1[keep]
    frozen = models.frozen_gate(model, X)
    A, err_free, err_frozen, size = [], [], [], []
    for a_target in cfg.A_grid:
        beta = a_target / lam1
        alpha = beta / cfg.steps
        pred = first_order_delta(H, g, alpha[:, None], cfg.steps)
        errs = []
        for net in (model, frozen):
            delta = attacks.raw_ascent(net, X, y, alpha=alpha, steps=cfg.steps, loss="ce")
            delta = delta.flatten(1)
            errs.append(((pred - delta).norm(dim=1) / delta.norm(dim=1)).numpy())
            if net is model:
                size.append((delta.norm(dim=1) / X.norm(dim=1)).numpy())
        A.append((beta * lam1).numpy())
        err_free.append(errs[0])
        err_frozen.append(errs[1])
    return {"A_grid": np.array(cfg.A_grid), "A": np.stack(A), "error_free": np.stack(err_free),
            "error_frozen": np.stack(err_frozen), "lambda1": lam1.numpy(),
            "delta_over_x": np.stack(size)}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None, checkpoint: Any = None) -> Result:
    """Train the two nets and measure everything; float64 on CPU for every second-order step.

    ``checkpoint`` (an ``experiments.Checkpoint``) makes a killed run resume: training saves
    every epoch, each measurement stage once it is done.
    """
    from advproof.experiments import Checkpoint

    cfg = CONFIGS[mode]
    ckpt = checkpoint or Checkpoint(None)
    if device != "cpu":
        raise ValueError("cheng_setting measures in float64 on the CPU (its cost is the exact "
                         "input Hessians, not the training); use --device cpu")
    tr = data.load(cfg.dataset, split="train", flatten=True, data_dir=data_dir)
    te = data.load(cfg.dataset, split="test", flatten=True, data_dir=data_dir,
                   dtype=torch.float64)
    multi = train_model(tr.X, tr.y, 10, cfg, seed=seed, loss="ce",
                        checkpoint=ckpt.path("train_multiclass.pt"))
    trb = data.load(cfg.dataset, split="train", flatten=True, classes=cfg.binary_classes,
                    data_dir=data_dir)
    teb = data.load(cfg.dataset, split="test", flatten=True, classes=cfg.binary_classes,
                    data_dir=data_dir, dtype=torch.float64)
    binary = train_model(trb.X, 2 * trb.y - 1, 1, cfg, seed=seed, loss="bce",
                         checkpoint=ckpt.path("train_binary.pt"))
    with torch.no_grad():
        acc = {"multiclass": float((multi(te.X).argmax(1) == te.y).double().mean()),
               "binary": float(((binary(teb.X)[:, 0] > 0).long() == teb.y).double().mean())}
    Xm, ym = te.X[: cfg.n_eval], te.y[: cfg.n_eval]
    Xb, yb = teb.X[: cfg.n_eval], 2 * teb.y[: cfg.n_eval] - 1
    hess = ckpt.stage("hessian", lambda: {
        "multiclass": hessian_stats(multi, Xm, ym, "ce", cfg.rank_rtol),
        "binary": hessian_stats(binary, Xb, yb, "bce", cfg.rank_rtol)})
    reduction = ckpt.stage("reduction", lambda: reduction_stats(multi, Xm, ym))
    regime = ckpt.stage("lemma2", lambda: lemma2_regime(multi, Xm, ym, cfg))
    return Result(cfg, acc, hess, reduction, regime)
