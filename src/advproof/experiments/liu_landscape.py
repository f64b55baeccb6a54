"""The landscape of adversarial training on a small CNN (Liu et al. 004 Sec. 4, App. C.2;
thesis 003 Sec. 4.2.3): gradient norms, curvature, and how abruptly adversarial examples move.

At every eps of the grid a small CNN is trained with PGD-AT (``train.train``, the attack engine
``attacks.pgd``) and we measure, as in 004 Figs. 1-3 and 8-10 / 003 Figs. 4.3-4.7:

1. ``steps``: per update, the stochastic gradient norm ``||grad L_hat_eps(theta)||``, the robust
   training error of the attacked batch and ``||theta - theta_0||`` (first and last updates).
   Expected: early in training the gradient norm falls with eps; late in training it rises.
2. ``hessian``: the top-k eigenvalues of the training loss on *detached* PGD examples (one fixed
   random start; Lanczos on exact Hessian-vector products, float64), divided by the mean PGD loss
   at 10 random initialisations (004's normalisation, about log 10). Expected: rising with eps;
   the book asserts the trend (Spearman rho >= 0.8), not the values.
3. ``cosine``: for the model trained at ``cos_eps``, the mean cosine similarity between the PGD
   perturbations at ``theta + a v`` and ``theta - a v`` (same random start), for v the top
   Hessian eigenvector and for a random unit v. Expected: high for random v, falling for the top
   eigenvector as a grows.

Quick mode: scikit-learn's 8x8 digits and ``models.SmallCNN`` on CPU, eps up to 0.1 (the
paper: MNIST LeNet with eps up to 0.4 and CIFAR-10 ResNet18 on GPUs; on 8x8 digits this CNN
stays on its initial plateau from eps ~ 0.3 on, within a CPU budget), PGD with 5 steps of
2.5 eps / 5 (the paper: eps/0.01 + 10 steps of 0.01 on MNIST), Adam 3e-3 for 20 epochs.
Unknown in the paper and chosen here: batch size (128), input clipping (to [0, 1]), the range
of a, the Hessian subset (256 training images), the PGD random start (one fixed draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from advproof import attacks, curvature, data, models, train
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """Sizes and the choices the paper leaves open (see the module docstring)."""

    dataset: str = "digits"
    side: int = 8
    channels: tuple[int, int] = (8, 16)
    n_train: int | None = None
    eps_grid: tuple[float, ...] = (0.0, 0.025, 0.05, 0.075, 0.1)
    num_epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 128
    pgd_steps: int = 5
    window: int = 20  # first / last updates summarised
    n_hessian: int = 256
    k_eig: int = 5
    lanczos_iters: int = 30
    n_random_theta: int = 10
    cos_eps: float = 0.05
    cos_a: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
    n_cos: int = 200


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(dataset="fashion-mnist", side=28, channels=(32, 64), n_train=20000,
                   eps_grid=(0.0, 0.05, 0.1, 0.15, 0.2), num_epochs=40, lr=1e-3,
                   pgd_steps=20, window=100, n_hessian=1000, k_eig=20, lanczos_iters=60,
                   cos_eps=0.1, n_cos=1000),
}


@dataclass
class Result:
    """Per-eps step logs, Hessian spectra and the cosine curves (numpy arrays)."""

    config: Config
    steps: dict[float, dict[str, np.ndarray]]
    eigenvalues: dict[float, np.ndarray]
    random_loss: dict[float, float]
    cosine: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)

    def window_mean(self, key: str, part: str) -> np.ndarray:
        """Mean of ``key`` over the first or last ``window`` updates, per eps."""
        w = self.config.window
        return np.array([(v[key][:w] if part == "first" else v[key][-w:]).mean()
                         for v in self.steps.values()])

    def normalised_top(self) -> np.ndarray:
        """Top Hessian eigenvalue per eps divided by the mean loss at random initialisations."""
        return np.array([self.eigenvalues[e][0] / self.random_loss[e] for e in self.eigenvalues])

    def spearman(self, values: np.ndarray) -> float:
        """Spearman rho between eps and ``values``."""
        return float(spearmanr(list(self.steps), values).statistic)

    def summary(self) -> dict[str, Any]:
        """The headline numbers: window means, normalised top eigenvalues, rhos, cosines."""
        first, last = self.window_mean("grad_norm", "first"), self.window_mean("grad_norm", "last")
        top = self.normalised_top()
        return {"eps": list(self.steps), "grad_first": first.round(5).tolist(),
                "grad_last": last.round(5).tolist(),
                "err_first": self.window_mean("robust_err", "first").round(4).tolist(),
                "err_last": self.window_mean("robust_err", "last").round(4).tolist(),
                "dist_first": self.window_mean("dist", "first").round(4).tolist(),
                "top_normalised": top.round(5).tolist(),
                "random_loss": [round(v, 4) for v in self.random_loss.values()],
                "rho_first": round(self.spearman(first), 3),
                "rho_last": round(self.spearman(last), 3),
                "rho_top": round(self.spearman(top), 3),
                "cos_top": self.cosine["top"].round(4).tolist(),
                "cos_random": self.cosine["random"].round(4).tolist(),
                "hvp_pitfall": {k: round(v, 6) for k, v in self.extra.get("hvp_pitfall",
                                                                         {}).items()}}

    def to_json(self) -> dict[str, Any]:
        """Summary, spectra and the step logs (as lists)."""
        return {"summary": self.summary(),
                "eigenvalues": {str(e): v.round(8).tolist() for e, v in self.eigenvalues.items()},
                "steps": {str(e): {k: v.round(6).tolist() for k, v in s.items()}
                          for e, s in self.steps.items()}}


class StepLog:
    """A ``train`` callback: per update, ``||g||`` (the stochastic gradient still in ``.grad``),
    the robust error and the mean loss of the attacked batch, and ``||theta - theta_0||``."""

    def __init__(self, model: nn.Module) -> None:
        self.theta0 = nn.utils.parameters_to_vector(model.parameters()).detach().clone()
        self.rows: dict[str, list[float]] = {"grad_norm": [], "robust_err": [], "loss": [],
                                             "dist": []}

    def __call__(self, model: nn.Module, step: train.Step) -> None:
        grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
        self.rows["grad_norm"].append(float(torch.cat(grads).norm()))
        self.rows["robust_err"].append(1.0 - step.correct / step.size)
        self.rows["loss"].append(float(step.loss))
        theta = nn.utils.parameters_to_vector(model.parameters()).detach()
        self.rows["dist"].append(float((theta - self.theta0).norm()))

    def arrays(self) -> dict[str, np.ndarray]:
        """The logs as arrays, one entry per update."""
        return {k: np.array(v) for k, v in self.rows.items()}


def make_model(cfg: Config, seed: int) -> models.SmallCNN:
    """The small CNN (float32), initialised from ``seed``."""
    return models.SmallCNN(1, 10, cfg.side, channels=cfg.channels,
                           generator=torch.Generator().manual_seed(seed))


def pgd_delta(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
              seed: int) -> torch.Tensor:
    """l_inf PGD, random start drawn from ``seed`` (fixed), step 2.5 eps / steps, in [0, 1]."""
    if eps == 0:
        return torch.zeros_like(X)
    return attacks.pgd(model, X, y, eps=eps, alpha=2.5 * eps / steps, steps=steps,
                       random_start=True, clip=(0.0, 1.0),
                       generator=torch.Generator().manual_seed(seed)).detach()


def top_eigenvalues(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float, cfg: Config,
                    seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """Top-k eigenpairs of the loss Hessian on detached PGD examples (float64, Lanczos).

    The examples are generated once and detached, so the operator is the Hessian of the loss at
    fixed data (004's semantics; differentiating through PGD's sign steps would be wrong).
    """
    net = make_model(cfg, 0).double()
    net.load_state_dict(model.state_dict())
    net.eval()
    Xd = X.double()
    X_adv = Xd + pgd_delta(net, Xd, y, eps, cfg.pgd_steps, seed)
    op = curvature.param_hvp(net, lambda: attacks.loss_fn("ce")(net(X_adv), y).mean())
    eig = curvature.lanczos(op.matvec, op.dim, cfg.k_eig, iters=cfg.lanczos_iters,
                            generator=torch.Generator().manual_seed(seed))
    return eig.eigenvalues.numpy(), eig.eigenvectors[:, 0]


def random_theta_loss(X: torch.Tensor, y: torch.Tensor, eps: float, cfg: Config) -> float:
    """Mean PGD loss at ``n_random_theta`` random initialisations (004's normalisation)."""
    losses = []
    for j in range(cfg.n_random_theta):
        net = make_model(cfg, 1000 + j).eval()
        delta = pgd_delta(net, X, y, eps, cfg.pgd_steps, j)
        with torch.no_grad():
            losses.append(float(attacks.loss_fn("ce")(net(X + delta), y).mean()))
    return float(np.mean(losses))


def cosine_curve(model: nn.Module, X: torch.Tensor, y: torch.Tensor, v: torch.Tensor,
                 cfg: Config, seed: int) -> np.ndarray:
    """Mean cosine similarity of the PGD perturbations at ``theta +- a v`` (same random start)."""
    theta = nn.utils.parameters_to_vector(model.parameters()).detach()
    v = (v / v.norm()).to(theta)
    out = []
    for a in cfg.cos_a:
        deltas = []
        for sign in (1.0, -1.0):
            net = make_model(cfg, 0).eval()
            nn.utils.vector_to_parameters(theta + sign * a * v, net.parameters())
            deltas.append(pgd_delta(net, X, y, cfg.cos_eps, cfg.pgd_steps, seed).flatten(1))
        out.append(float(torch.nn.functional.cosine_similarity(*deltas, dim=1).mean()))
    return np.array(out)


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train at each eps, then measure the spectra and the cosine curves (CPU)."""
    if device != "cpu":
        raise ValueError(f"liu_landscape runs on the CPU in this version; got device {device!r}")
    cfg = CONFIGS[mode]
    with single_thread():  # thousands of small ops: a thread pool only adds overhead
        return _run(cfg, seed, data_dir)


def hvp_pitfall(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float, cfg: Config,
                seed: int) -> dict[str, float]:
    """Why the examples are detached and the random start fixed (notes §6 item 12).

    ``H v`` for one v on PGD examples from two *different* random starts, relative to its norm,
    against the same with one start: a Hessian "operator" whose data moves between matvecs is not
    a fixed symmetric matrix, and Lanczos on it returns noise.
    """
    net = make_model(cfg, 0).double()
    net.load_state_dict(model.state_dict())
    net.eval()
    Xd = X.double()
    v = torch.randn(sum(p.numel() for p in net.parameters()),
                    generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = []
    for s1, s2 in ((seed, seed), (seed, seed + 1)):
        hv = []
        for s_ in (s1, s2):
            X_adv = Xd + pgd_delta(net, Xd, y, eps, cfg.pgd_steps, s_)
            op = curvature.param_hvp(net, lambda X_adv=X_adv: attacks.loss_fn("ce")(
                net(X_adv), y).mean())
            hv.append(op.matvec(v))
        out.append(float((hv[0] - hv[1]).norm() / hv[0].norm()))
    return {"same_start": out[0], "different_start": out[1]}


def _run(cfg: Config, seed: int, data_dir: str | None) -> Result:
    ds = data.load(cfg.dataset, split="train", n=cfg.n_train, data_dir=data_dir)
    X, y = ds.X, ds.y
    Xh, yh = X[: cfg.n_hessian], y[: cfg.n_hessian]
    steps, eig, rand_loss, trained = {}, {}, {}, {}
    for eps in cfg.eps_grid:
        model = make_model(cfg, seed)
        log = StepLog(model)
        train.train(model, X, y, num_epochs=cfg.num_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                    optimizer="adam", attack="pgd",
                    attack_kwargs={"steps": cfg.pgd_steps, "random_start": True,
                                   "clip": (0.0, 1.0)},
                    eps_schedule=eps, seed=seed, callback=log, progress=False)
        model.eval()
        steps[eps], trained[eps] = log.arrays(), model
        eig[eps], v_top = top_eigenvalues(model, Xh, yh, eps, cfg, seed)
        rand_loss[eps] = random_theta_loss(Xh, yh, eps, cfg)
        if math.isclose(eps, cfg.cos_eps):
            top_dir = v_top.float()
    Xc, yc = X[: cfg.n_cos], y[: cfg.n_cos]
    model = trained[cfg.cos_eps]
    rand_dir = torch.randn(top_dir.shape, generator=torch.Generator().manual_seed(seed + 7))
    cos = {"a": np.array(cfg.cos_a), "top": cosine_curve(model, Xc, yc, top_dir, cfg, seed),
           "random": cosine_curve(model, Xc, yc, rand_dir, cfg, seed)}
    pitfall = hvp_pitfall(model, Xh, yh, cfg.cos_eps, cfg, seed)
    return Result(cfg, steps, eig, rand_loss, cos, {"hvp_pitfall": pitfall})
