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
4. ``surface`` and ``fd`` (004 Fig. 12 / 003 Fig. 4.6): the adversarial loss
   ``L_eps(theta + a1 v1 + a2 v2)`` on a ``surface_n x surface_n`` grid of ``a1, a2`` in
   ``[-surface_r, surface_r]``, for v1, v2 the top-2 Hessian eigenvectors (unit norm). Here
   ``L_eps(theta')`` is the mean cross-entropy on the Hessian subset at PGD examples *re-generated
   at theta'* (``pgd_delta``, the same fixed random start at every point), so the surface is the
   adversarial loss itself, not the loss at frozen examples. Along v1 and v2 the second
   difference ``(L(h) + L(-h) - 2 L(0)) / h^2`` at ``h = fd_h`` (float64) is stored twice: with
   the attack re-run at ``theta +- h v`` ("attacked", the curvature of L_eps) and with the
   examples of theta held fixed ("fixed", the operator Lanczos sees: it must match the Lanczos
   eigenvalue). Expected: the curvature, normalised like the eigenvalues, rises with eps.

Quick mode: scikit-learn's 8x8 digits and ``models.SmallCNN`` on CPU, eps up to 0.1 (the
paper: MNIST LeNet with eps up to 0.4 and CIFAR-10 ResNet18 on GPUs; on 8x8 digits this CNN
stays on its initial plateau from eps ~ 0.3 on, within a CPU budget), PGD with 5 steps of
2.5 eps / 5 (the paper: eps/0.01 + 10 steps of 0.01 on MNIST), Adam 3e-3 for 20 epochs.
Unknown in the paper and chosen here: batch size (128), input clipping (to [0, 1]), the range
of a, the Hessian subset (256 training images), the PGD random start (one fixed draw). For Fig. 12
also the grid (9 x 9 points, ``a1, a2`` in [-0.25, 0.25] along unit eigenvectors: the loss rises
by 1.2-1.9 nats at the worst corner, visibly curved, while at |a| ~ 0.5 the surface is lopsided
and its largest rise no longer orders with eps), the step ``h = 0.05`` of the second difference
(at h <= 0.01 the re-run PGD flips the sign of a few input-gradient entries between theta and
theta +- h v, and the jumps of the loss, divided by h^2, swamp the curvature; from h = 0.03 to
0.08 the values agree within a few percent) and the precision: the surface in float32 (it is
only plotted and summarised), the second differences in float64. The claim (``liu.fig12``)
asserts the paper's reading on the second difference along v1 and on the mean rise of the grid
above its centre; the largest rise is reported, not asserted (see chapter 22).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
    surface_r: float = 0.25  # a1, a2 in [-surface_r, surface_r] (Fig. 12)
    surface_n: int = 9  # grid points per axis (odd: the centre is theta)
    fd_h: float = 0.05  # step of the second difference along v1, v2


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "full": Config(dataset="fashion-mnist", side=28, channels=(32, 64), n_train=20000,
                   eps_grid=(0.0, 0.05, 0.1, 0.15, 0.2), num_epochs=40, lr=1e-3,
                   pgd_steps=20, window=100, n_hessian=1000, k_eig=20, lanczos_iters=60,
                   cos_eps=0.1, n_cos=1000),
}


@dataclass
class Result:
    """Per-eps step logs, Hessian spectra and the cosine curves (numpy arrays).

    ``surface[eps]`` is the (surface_n, surface_n) grid of ``L_eps(theta + a1 v1 + a2 v2)``, rows
    a1 and columns a2 (``surface_axis()``); ``fd[eps]`` maps "attacked" and "fixed" to the second
    differences along (v1, v2), shape (2,), raw (not normalised).
    """

    config: Config
    steps: dict[float, dict[str, np.ndarray]]
    eigenvalues: dict[float, np.ndarray]
    random_loss: dict[float, float]
    cosine: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)
    surface: dict[float, np.ndarray] = field(default_factory=dict)
    fd: dict[float, dict[str, np.ndarray]] = field(default_factory=dict)

    def window_mean(self, key: str, part: str) -> np.ndarray:
        """Mean of ``key`` over the first or last ``window`` updates, per eps."""
        w = self.config.window
        return np.array([(v[key][:w] if part == "first" else v[key][-w:]).mean()
                         for v in self.steps.values()])

    def normalised_top(self) -> np.ndarray:
        """Top Hessian eigenvalue per eps divided by the mean loss at random initialisations."""
        return np.array([self.eigenvalues[e][0] / self.random_loss[e] for e in self.eigenvalues])

    def normalised_fd(self, i: int = 0, which: str = "attacked") -> np.ndarray:
        """Second difference along v_{i+1} per eps, divided by the mean loss at random theta."""
        return np.array([self.fd[e][which][i] / self.random_loss[e] for e in self.fd])

    def fd_ratio(self, i: int = 0, which: str = "attacked") -> np.ndarray:
        """Second difference along v_{i+1} over the Lanczos eigenvalue lambda_{i+1}, per eps."""
        return np.array([self.fd[e][which][i] / self.eigenvalues[e][i] for e in self.fd])

    def surface_axis(self) -> np.ndarray:
        """The values of a1 (rows of a surface) and a2 (columns)."""
        return np.linspace(-self.config.surface_r, self.config.surface_r, self.config.surface_n)

    def surface_rise(self, stat: str = "mean") -> np.ndarray:
        """Per eps, the mean (or max) of the surface minus its centre ``L_eps(theta)``, divided
        by the mean loss at random theta."""
        c = self.config.surface_n // 2
        agg = {"mean": np.mean, "max": np.max}[stat]
        return np.array([(agg(g) - g[c, c]) / self.random_loss[e]
                         for e, g in self.surface.items()])

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
                                                                         {}).items()},
                **self._surface_summary()}

    def _surface_summary(self) -> dict[str, Any]:
        """Fig. 12's numbers: normalised second differences, their ratio to Lanczos, the rises."""
        if not self.surface:
            return {}
        fd1, mean_rise, max_rise = self.normalised_fd(0), self.surface_rise(), \
            self.surface_rise("max")
        return {"surface_r": self.config.surface_r, "fd_h": self.config.fd_h,
                "fd_v1_normalised": fd1.round(5).tolist(),
                "fd_v2_normalised": self.normalised_fd(1).round(5).tolist(),
                "fd_ratio_v1": self.fd_ratio(0).round(4).tolist(),
                "fd_ratio_v2": self.fd_ratio(1).round(4).tolist(),
                "fd_fixed_ratio_v1": self.fd_ratio(0, "fixed").round(4).tolist(),
                "fd_fixed_ratio_v2": self.fd_ratio(1, "fixed").round(4).tolist(),
                "surface_mean_rise": mean_rise.round(4).tolist(),
                "surface_max_rise": max_rise.round(4).tolist(),
                "rho_fd": round(self.spearman(fd1), 3),
                "rho_surface_mean": round(self.spearman(mean_rise), 3),
                "rho_surface_max": round(self.spearman(max_rise), 3)}

    def to_json(self) -> dict[str, Any]:
        """Summary, spectra, the loss surfaces and the step logs (as lists)."""
        return {"summary": self.summary(),
                "eigenvalues": {str(e): v.round(8).tolist() for e, v in self.eigenvalues.items()},
                "surface": {str(e): g.round(6).tolist() for e, g in self.surface.items()},
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


def copy_model(model: nn.Module, cfg: Config, dtype: torch.dtype) -> models.SmallCNN:
    """A copy of ``model`` in ``dtype``, in eval mode (the experiment's own nets stay as they
    are)."""
    net = make_model(cfg, 0).to(dtype)
    net.load_state_dict(model.state_dict())
    return net.eval()


def top_eigenvalues(model: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float, cfg: Config,
                    seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """Top-k eigenvalues (k,) and the top-2 eigenvectors (P, 2) of the loss Hessian on detached
    PGD examples (float64, Lanczos; unit-norm eigenvectors).

    The examples are generated once and detached, so the operator is the Hessian of the loss at
    fixed data (004's semantics; differentiating through PGD's sign steps would be wrong).
    """
    net = copy_model(model, cfg, torch.float64)
    Xd = X.double()
    X_adv = Xd + pgd_delta(net, Xd, y, eps, cfg.pgd_steps, seed)
    op = curvature.param_hvp(net, lambda: attacks.loss_fn("ce")(net(X_adv), y).mean())
    eig = curvature.lanczos(op.matvec, op.dim, cfg.k_eig, iters=cfg.lanczos_iters,
                            generator=torch.Generator().manual_seed(seed))
    return eig.eigenvalues.numpy(), eig.eigenvectors[:, :2]


def adversarial_loss(net: nn.Module, X: torch.Tensor, y: torch.Tensor, eps: float, cfg: Config,
                     seed: int, X_fixed: torch.Tensor | None = None) -> float:
    """``L_eps`` at ``net``'s current parameters: the mean cross-entropy at PGD examples
    generated here (random start from ``seed``), or at ``X_fixed`` when given (no attack)."""
    X_adv = X + pgd_delta(net, X, y, eps, cfg.pgd_steps, seed) if X_fixed is None else X_fixed
    with torch.no_grad():
        return float(attacks.loss_fn("ce")(net(X_adv), y).mean())


def loss_along(net: nn.Module, theta: torch.Tensor, V: torch.Tensor,
               loss: Callable[[nn.Module], float]) -> Callable[[float | Sequence[float]], float]:
    """``a -> loss(net at theta + V @ a)`` for directions ``V`` (P,) or (P, d), ``a`` a float or
    d floats.

    ``net``'s parameters are overwritten at each call and restored to ``theta`` after it.
    """
    theta = theta.detach().to(next(net.parameters()))
    V = V.to(theta).reshape(theta.numel(), -1)

    def f(a: float | Sequence[float]) -> float:
        step = V @ torch.as_tensor(a, dtype=theta.dtype).reshape(-1)
        nn.utils.vector_to_parameters(theta + step, net.parameters())
        try:
            return loss(net)
        finally:
            nn.utils.vector_to_parameters(theta, net.parameters())

    return f


def fd_curvature(f: Callable[[float], float], h: float) -> float:
    """The central second difference ``(f(h) + f(-h) - 2 f(0)) / h^2``: exact for a quadratic
    ``f``, ``f''(0) + O(h^2)`` for a smooth one."""
    return (f(h) + f(-h) - 2.0 * f(0.0)) / h**2


def fd_curvatures(model: nn.Module, X: torch.Tensor, y: torch.Tensor, V: torch.Tensor,
                  eps: float, cfg: Config, seed: int) -> dict[str, np.ndarray]:
    """Second differences (float64) of the loss along each column of ``V`` at ``h = fd_h``:
    "attacked" re-runs PGD at ``theta +- h v``, "fixed" keeps the examples of theta."""
    net = copy_model(model, cfg, torch.float64)
    Xd, Vd = X.double(), V.double()
    theta = nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    X_adv = Xd + pgd_delta(net, Xd, y, eps, cfg.pgd_steps, seed)
    losses = {"attacked": lambda n: adversarial_loss(n, Xd, y, eps, cfg, seed),
              "fixed": lambda n: adversarial_loss(n, Xd, y, eps, cfg, seed, X_fixed=X_adv)}
    return {name: np.array([fd_curvature(loss_along(net, theta, v, loss), cfg.fd_h)
                            for v in Vd.T])
            for name, loss in losses.items()}


def loss_surface(model: nn.Module, X: torch.Tensor, y: torch.Tensor, V: torch.Tensor,
                 eps: float, cfg: Config, seed: int) -> np.ndarray:
    """``L_eps(theta + a1 v1 + a2 v2)`` on the grid ``a1, a2 in linspace(-surface_r, surface_r,
    surface_n)`` (rows a1, columns a2), the attack re-run at every point (float32)."""
    net = copy_model(model, cfg, torch.float32)
    theta = nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    f = loss_along(net, theta, V[:, :2],
                   lambda n: adversarial_loss(n, X.float(), y, eps, cfg, seed))
    a = np.linspace(-cfg.surface_r, cfg.surface_r, cfg.surface_n)
    return np.array([[f([a1, a2]) for a2 in a] for a1 in a])


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
    steps, eig, rand_loss, trained, surface, fd = {}, {}, {}, {}, {}, {}
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
        eig[eps], V = top_eigenvalues(model, Xh, yh, eps, cfg, seed)
        rand_loss[eps] = random_theta_loss(Xh, yh, eps, cfg)
        fd[eps] = fd_curvatures(model, Xh, yh, V, eps, cfg, seed)
        surface[eps] = loss_surface(model, Xh, yh, V, eps, cfg, seed)
        if math.isclose(eps, cfg.cos_eps):
            top_dir = V[:, 0].float()
    Xc, yc = X[: cfg.n_cos], y[: cfg.n_cos]
    model = trained[cfg.cos_eps]
    rand_dir = torch.randn(top_dir.shape, generator=torch.Generator().manual_seed(seed + 7))
    cos = {"a": np.array(cfg.cos_a), "top": cosine_curve(model, Xc, yc, top_dir, cfg, seed),
           "random": cosine_curve(model, Xc, yc, rand_dir, cfg, seed)}
    pitfall = hvp_pitfall(model, Xh, yh, cfg.cos_eps, cfg, seed)
    return Result(cfg, steps, eig, rand_loss, cos, {"hvp_pitfall": pitfall}, surface, fd)
