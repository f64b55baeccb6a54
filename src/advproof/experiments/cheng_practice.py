"""Cheng et al.'s assumptions and conclusions measured on trained nets (000 §4; 001 A2, App. D/J).

Three measurements, each on digits in quick mode (Fashion-MNIST in full mode):

* **A2 in practice** (001 Assumption A2, footnote 1 and App. J): along real raw-gradient attack
  paths of growing strength beta = alpha * m, the share of ReLU gates that flip, the relative
  change of the top input-Hessian eigenvalue lambda_1(H_x), and the error kappa of Theorem 2's
  prediction delta_hat = beta phi_1(beta H_x) g_x against the real perturbation.
* **The constraint claim** (001: "the theory still predicts clipped or projected attacks"):
  raw-gradient PGD projected on an l2 ball of radius eps, for eps shrinking from above the real
  perturbation's norm to below it: the share of samples where the projection binds, and kappa.
* **The unified analysis** (000 §4, items U.2, U.3, U.5-U.7) along PGD adversarial training of a
  binary (3 vs 8) sigmoid net, per epoch and per training sample: confidence p_y, H_z,
  ||g~_x|| and the imbalance A_hat = H_z ||g~_x||^2 (the beta factor is common to all samples),
  the logit margin yz, and the same on the test set (U.5).
  U.4 (the top H_x eigenvector lowers z_y and raises the runner-up) is measured on the A2 net.

Unstated settings and the choices made here: the attack strength grid, alpha = 0.005, the
unconfidence threshold p_y < 0.75, the top-10% A_hat sets for U.6, "easy" = the quarter of
training samples most confident at the end for U.2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from advproof import attacks, curvature, data, models, train
from advproof.experiments.cheng_dynamics import relative_errors
from advproof.symbolic.cheng_dynamics import thm2_delta
from advproof.threads import single_thread

F64 = torch.float64


@dataclass(frozen=True)
class Config:
    dataset: str = "digits"
    n_train: int | None = None
    hidden: tuple[int, ...] = (64, 64)
    epochs: int = 30
    lr: float = 0.05
    n_eval: int = 40
    steps: int = 100
    strengths: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    constraint_strength: float = 0.3
    radius_fractions: tuple[float, ...] = (2.0, 1.0, 0.75, 0.5, 0.25)
    binary_classes: tuple[int, int] = (3, 8)
    binary_hidden: tuple[int, ...] = (32,)
    at_epochs: int = 30
    at_eps: float = 0.1
    unconfident: float = 0.75
    top_share: float = 0.10


CONFIGS: dict[str, Config] = {
    "smoke": Config(epochs=2, n_eval=6, strengths=(0.01, 0.3), radius_fractions=(2.0, 0.5),
                    at_epochs=3, n_train=200),
    "quick": Config(),
    "full": Config(dataset="fashion-mnist", n_train=10_000, hidden=(256, 256), epochs=20,
                   n_eval=200, at_epochs=40),
}


@dataclass
class Result:
    """Per-beta A2 measurements, the constraint sweep, the per-epoch unified-analysis series."""

    config: dict[str, Any]
    strengths: list[float] = field(default_factory=list)
    gate_flip: list[float] = field(default_factory=list)
    lambda_change: list[float] = field(default_factory=list)
    kappa: list[float] = field(default_factory=list)
    kappa_naive: list[float] = field(default_factory=list)
    radius: list[float] = field(default_factory=list)
    binding: list[float] = field(default_factory=list)
    kappa_projected: list[float] = field(default_factory=list)
    kappa_projected_prediction: list[float] = field(default_factory=list)
    u4_share: float = 0.0
    u4_share_random: float = 0.0
    u4_n: int = 0
    unconfident: list[int] = field(default_factory=list)
    top_share_of_a: list[float] = field(default_factory=list)
    overlap_first_last: float = 0.0
    overlap_consecutive_late: float = 0.0
    easy_confidence: list[float] = field(default_factory=list)
    easy_grad_norm: list[float] = field(default_factory=list)
    robust_acc: list[float] = field(default_factory=list)
    u3: dict[str, float] = field(default_factory=dict)
    u5: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The numbers the chapter prints."""
        return {k: v for k, v in asdict(self).items() if k != "config"}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _digits(cfg: Config, seed: int, data_dir: str | None, classes=None) -> tuple[Tensor, ...]:
    kw = dict(flatten=True, dtype=F64, data_dir=data_dir, classes=classes)
    tr = data.load(cfg.dataset, split="train", n=cfg.n_train, seed=seed, **kw)
    te = data.load(cfg.dataset, split="test", seed=seed, **kw)
    return tr.X, tr.y, te.X, te.y


def trained_mlp(cfg: Config, seed: int, data_dir: str | None = None
                ) -> tuple[models.MLP, Tensor, Tensor]:
    """A clean-trained ReLU MLP (float64) and n_eval correctly classified test points."""
    X, y, Xt, yt = _digits(cfg, seed, data_dir)
    model = models.MLP(X.shape[1], cfg.hidden, 10,
                       generator=torch.Generator().manual_seed(seed)).double()
    train.train(model, X, y, num_epochs=cfg.epochs, lr=cfg.lr, batch_size=64, seed=seed,
                progress=False)
    model.eval()
    with torch.no_grad():
        ok = model(Xt).argmax(1) == yt
    idx = torch.nonzero(ok).flatten()[: cfg.n_eval]
    return model, Xt[idx], yt[idx]


def top_eigen(H: Tensor) -> tuple[Tensor, Tensor]:
    """(lambda_1, v_1) of each symmetric matrix in the batch H (N, D, D)."""
    vals, vecs = torch.linalg.eigh(H)
    return vals[:, -1], vecs[:, :, -1]


def gate_flip_share(model: models.MLP, x0: Tensor, x1: Tensor) -> float:
    """Share of hidden ReLU gates (all layers, all samples) that differ between x0 and x1."""
    g0, g1 = models.gates(model, x0), models.gates(model, x1)
    flips = sum(int((a != b).sum()) for a, b in zip(g0, g1, strict=True))
    return flips / sum(a.numel() for a in g0)


def _attack(model: models.MLP, X: Tensor, y: Tensor, beta: Tensor, steps: int, **kw) -> Tensor:
    """Raw-gradient ascent of total strength beta_i = alpha_i * steps per sample (kw: eps, p)."""
    if "eps" in kw:
        return attacks.perturb(model, X, y, step="raw", alpha=beta / steps, steps=steps, **kw)
    return attacks.raw_ascent(model, X, y, alpha=beta / steps, steps=steps)


def a2_sweep(model: models.MLP, X: Tensor, y: Tensor, cfg: Config, res: Result) -> None:
    """Gate flips, lambda_1 change and kappa (median relative error of Theorem 2's delta_hat and
    of the naive beta g_x) per attack strength A = beta * lambda_1(H_x), beta set per sample."""
    H0 = curvature.input_hessian(model, X, y)
    lam0, _ = top_eigen(H0)
    g0 = attacks.input_grad(model, X, y)
    for A in cfg.strengths:
        beta = A / lam0
        delta = _attack(model, X, y, beta, cfg.steps)
        lam1, _ = top_eigen(curvature.input_hessian(model, X + delta, y))
        res.strengths.append(A)
        res.gate_flip.append(gate_flip_share(model, X, X + delta))
        res.lambda_change.append(float(((lam1 - lam0).abs() / lam0).median()))
        res.kappa.append(float(np.median(relative_errors(delta, thm2_delta(H0, g0, beta)))))
        res.kappa_naive.append(float(np.median(relative_errors(delta, beta[:, None] * g0))))


def constraint_sweep(model: models.MLP, X: Tensor, y: Tensor, cfg: Config, res: Result) -> None:
    """Raw-gradient PGD projected on l2 balls around x, radius a fraction of ||delta*||: kappa
    of delta_hat itself, and of delta_hat projected on the same ball."""
    H0 = curvature.input_hessian(model, X, y)
    lam0, _ = top_eigen(H0)
    beta = cfg.constraint_strength / lam0
    free = _attack(model, X, y, beta, cfg.steps)
    norms = free.flatten(1).norm(dim=1)
    pred = thm2_delta(H0, attacks.input_grad(model, X, y), beta)
    for frac in cfg.radius_fractions:
        eps = frac * norms  # per-sample radius
        delta = _attack(model, X, y, beta, cfg.steps, eps=eps, p=2.0)
        pred_proj = attacks.Ball(2.0, eps).project(pred, X)
        res.radius.append(frac)
        res.binding.append(float((delta.flatten(1).norm(dim=1) < norms * (1 - 1e-6))
                                 .double().mean()))
        res.kappa_projected.append(float(np.median(relative_errors(delta, pred))))
        res.kappa_projected_prediction.append(float(np.median(relative_errors(delta, pred_proj))))


def u4_share(model: models.MLP, X: Tensor, y: Tensor, direction: str = "top",
             seed: int = 0) -> tuple[float, int]:
    """Share of samples whose attack direction (the top H_x eigenvector, oriented along g_x; or
    a random unit direction so oriented, the control) lowers z_y and raises the runner-up
    class's logit, to first order (J v)."""
    if direction == "top":
        _, v = top_eigen(curvature.input_hessian(model, X, y))
    elif direction == "random":
        v = torch.randn(X.shape, generator=torch.Generator().manual_seed(seed), dtype=X.dtype)
        v = v / v.norm(dim=1, keepdim=True)
    else:
        raise ValueError(f"direction must be 'top' or 'random', got {direction!r}")
    g = attacks.input_grad(model, X, y).flatten(1)
    v = v * torch.sign((v * g).sum(1, keepdim=True))
    dz = torch.einsum("ncd,nd->nc", curvature.logit_jacobian(model, X), v)
    with torch.no_grad():
        z = model(X)
    runner = z.scatter(1, y[:, None], -torch.inf).argmax(1)
    ok = (dz.gather(1, y[:, None])[:, 0] < 0) & (dz.gather(1, runner[:, None])[:, 0] > 0)
    return float(ok.double().mean()), len(X)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A & B| / |A | B| for two index sets."""
    sa, sb = set(a.tolist()), set(b.tolist())
    return len(sa & sb) / len(sa | sb)


def per_sample_stats(model: torch.nn.Module, X: Tensor, y: Tensor) -> dict[str, np.ndarray]:
    """Binary sigmoid net: p_y = s(y z), H_z = s(z)(1 - s(z)), ||g~_x|| = ||dz/dx||,
    A_hat = H_z ||g~_x||^2 and the input-gradient norm |g_z| ||g~_x||."""
    J = curvature.logit_jacobian(model, X)[:, 0, :]
    with torch.no_grad():
        z = model(X)[:, 0]
    s = torch.sigmoid(z)
    h_z = s * (1 - s)
    gt = J.norm(dim=1)
    return {"p_y": torch.sigmoid(y * z).numpy(), "a_hat": (h_z * gt**2).numpy(),
            "grad_norm": (torch.sigmoid(-y * z) * gt).numpy(), "margin": (y * z).numpy()}


def oscillation_stats(
    snaps: list[dict[str, np.ndarray]], top_share: float, seed: int
) -> dict[str, float]:
    """U.3 over the second half of training: the mean epoch-to-epoch change |d(yz)| of the
    logit margin of the samples with the largest mean A_hat (``top_share`` of them), of the
    rest, and of a random set of the same size (the control); and the final confidence of the
    top set and of the rest. The margin, not p_y, so that the sigmoid's own slope (largest where
    H_z is) does not make unconfident samples look more oscillating."""
    late = snaps[len(snaps) // 2 :]
    a = np.mean([s["a_hat"] for s in late], axis=0)
    margins = np.stack([s["margin"] for s in late])
    osc = np.abs(np.diff(margins, axis=0)).mean(axis=0)
    k = max(1, int(top_share * len(a)))
    top = np.argsort(-a)[:k]
    rest = np.setdiff1d(np.arange(len(a)), top)
    rand = np.random.default_rng(seed).permutation(len(a))[:k]
    final = snaps[-1]["p_y"]
    return {
        "osc_top": float(osc[top].mean()),
        "osc_rest": float(osc[rest].mean()),
        "osc_random": float(osc[rand].mean()),
        "final_p_top": float(final[top].mean()),
        "final_p_rest": float(final[rest].mean()),
        "final_p_random": float(final[rand].mean()),
        "n_top": float(k),
    }


def overfit_stats(
    train: list[dict[str, np.ndarray]], test: list[dict[str, np.ndarray]], share: float
) -> dict[str, float]:
    """U.5: the confidence p_y gained over the second half of training by the hardest samples
    (the ``share`` least confident at mid-training) and by the others, on the training and on
    the test set. Ranks, not a p_y threshold: few test samples are unconfident by then."""
    mid = len(train) // 2
    out: dict[str, float] = {}
    for split, snaps in (("train", train), ("test", test)):
        p0, p1 = snaps[mid]["p_y"], snaps[-1]["p_y"]
        hard = np.zeros(len(p0), dtype=bool)
        hard[np.argsort(p0)[: max(1, int(share * len(p0)))]] = True
        out[f"n_hard_{split}"] = float(hard.sum())
        out[f"p_hard_{split}"] = float(p0[hard].mean())
        out[f"gain_hard_{split}"] = float((p1 - p0)[hard].mean())
        out[f"gain_easy_{split}"] = float((p1 - p0)[~hard].mean())
    return out


def unified_analysis(cfg: Config, seed: int, data_dir: str | None, res: Result) -> None:
    """PGD adversarial training of a binary sigmoid net, with per-epoch per-sample statistics."""
    X, y01, Xt, yt01 = _digits(cfg, seed, data_dir, classes=cfg.binary_classes)
    y, yt = y01.to(F64) * 2 - 1, yt01.to(F64) * 2 - 1
    model = models.MLP(X.shape[1], cfg.binary_hidden, 1,
                       generator=torch.Generator().manual_seed(seed)).double()
    snaps: list[dict[str, np.ndarray]] = []
    snaps_test: list[dict[str, np.ndarray]] = []

    def callback(net: torch.nn.Module, step: train.Step) -> None:
        if step.last_in_epoch:
            was = net.training
            net.eval()
            snaps.append(per_sample_stats(net, X, y))
            snaps_test.append(per_sample_stats(net, Xt, yt))
            delta = attacks.pgd(net, Xt, yt, eps=cfg.at_eps, alpha=cfg.at_eps / 4, steps=10,
                                loss="bce", clip=(0, 1))
            with torch.no_grad():
                acc = float((torch.sign(net(Xt + delta)[:, 0]) == yt).double().mean())
            res.robust_acc.append(acc)
            net.train(was)

    train.train(model, X, y, num_epochs=cfg.at_epochs, lr=cfg.lr, batch_size=32, seed=seed,
                attack="pgd", attack_kwargs=dict(rel_alpha=0.25, steps=7, clip=(0, 1)),
                eps_schedule=cfg.at_eps, loss="bce", progress=False, callback=callback)
    k = max(1, int(cfg.top_share * len(X)))
    tops = [np.argsort(-s["a_hat"])[:k] for s in snaps]
    for s in snaps:
        res.unconfident.append(int((s["p_y"] < cfg.unconfident).sum()))
        a = np.sort(s["a_hat"])[::-1]
        res.top_share_of_a.append(float(a[:k].sum() / a.sum()))
    res.overlap_first_last = jaccard(tops[0], tops[-1])
    late = range(len(tops) // 2, len(tops) - 1)
    res.overlap_consecutive_late = float(np.mean([jaccard(tops[i], tops[i + 1]) for i in late]))
    easy = np.argsort(-snaps[-1]["p_y"])[: max(1, len(X) // 4)]
    res.easy_confidence = [float(s["p_y"][easy].mean()) for s in snaps]
    res.easy_grad_norm = [float(s["grad_norm"][easy].mean()) for s in snaps]
    res.u3 = oscillation_stats(snaps, cfg.top_share, seed)
    res.u5 = overfit_stats(snaps, snaps_test, cfg.top_share)


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """All three measurements (CPU, float64)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {tuple(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("cheng_practice runs on the cpu (float64 input Hessians of small nets)")
    cfg = CONFIGS[mode]
    res = Result(config=asdict(cfg))
    with single_thread():
        model, X, y = trained_mlp(cfg, seed, data_dir)
        a2_sweep(model, X, y, cfg, res)
        constraint_sweep(model, X, y, cfg, res)
        res.u4_share, res.u4_n = u4_share(model, X, y)
        res.u4_share_random, _ = u4_share(model, X, y, "random", seed)
        unified_analysis(cfg, seed, data_dir, res)
    return res
