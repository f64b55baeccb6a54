"""Chapter 4 experiment: Theorems 3 and 6 of Cheng et al. on trained nets (Table 2, Fig. 4/5).

Binary task (the theorems are for a sigmoid score, 000 Assumption 2 / 001 §3.3): digits 3 vs 8
in quick mode, Fashion-MNIST T-shirt vs shirt in full mode, labels y = +-1, a ReLU MLP, a
small CNN and a small residual CNN (000's "ResCNN", shrunk: one skip connection), each trained
clean ("standard") and with l_inf PGD-AT ("adversarial"). Everything is measured in float64 on
the CPU, per correctly classified test image.

1. ``table``: the analogue of 000 App. J Table 2 / 001 Table 2. The trained weight is the
   *first* layer ``W = W_1`` (001's choice; the only layer for which the theorems are exact, see
   cheng.thm3). Real: the change of the first-layer weight gradient ``Dg_W = g_W(x + delta*) -
   g_W(x)`` under a real raw-gradient attack ``delta*`` of fixed strength beta (m steps), and
   ``phi* = -eta <Dg_W, B(g~_x, g~_h)>`` (= ``-eta g~_x^T Dg_W g~_h`` for a dense layer).
   Predicted: Lemma 4's strong form ``(E - 1) g_W + (E^2 - E)/lambda_1 B(g_x, g_h)`` with
   ``E = e^A`` (Theorem 3's exponential form) or ``(1 + alpha lambda_1)^m`` (finite m), and
   Theorem 3 as printed, ``(E - 1) phi_ori - eta g_z^2 ||g~_h||^2 (E^2 - E)/H_z``. ``B(v, u)`` is
   the first layer's weight gradient of ``<u, h(v)>`` (``v u^T`` for a dense layer; the
   correlation of the input patches with u for a convolution). Four variants as in Table 1
   (MSE/CE attack loss x frozen/free gates); kappa' is the frozen-gate value (000 App. J).
2. ``regime``: kappa_phi against ``A = beta lambda_1`` (per-image beta) for the infinite-step
   attack (``cheng_dynamics.gradient_flow``), CE, gates frozen and free; median, 90%-trimmed
   mean and mean of the per-image errors.
3. ``oscillation``: 000 Fig. 4 / 001 Fig. 5: per layer, the Delta metric (000 §3.3) at x
   (``Delta^(ori)``), at x + delta (PGD, ``Delta^(adv)``) and at x + a random delta of the same
   l2 norm (``Delta^(rand)``, the control the closed form of cheng.c8 asks for); and the top
   eigenvalue of the weight Hessian (``curvature.lanczos``) of the clean and of the adversarial
   loss, for the standard and the adversarially trained net, and (the control of U.1) of the
   loss at x + a random delta of the same l2 norm as the PGD one.

Shapes: inputs flattened ``X (N, D)``, binary logits ``(N, 1)``, per-image weight tensors
``(N, *W.shape)`` in the layout of ``nn.Linear``/``nn.Conv2d``.
Used by: notebooks/04_cheng_oscillation.ipynb; tests/test_cheng_training.py.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advproof import attacks, curvature, data, models, train
from advproof.experiments.cheng_dynamics import gradient_flow, kappa_000, kappa_001
from advproof.symbolic.cheng_training import thm3 as thm3_printed
from advproof.threads import threads

__all__ = ["CONFIGS", "Config", "FirstLayer", "FrozenGateCNN", "Result", "delta_metric",
           "first_layer", "frozen", "phi_measurements", "run", "top_hessian_eigenvalue",
           "trimmed_mean", "weight_bilinear"]

ARCHS: tuple[str, ...] = ("mlp", "cnn", "rescnn")
TRAININGS: tuple[str, ...] = ("standard", "adversarial")
VARIANTS: tuple[tuple[str, str], ...] = (("mse", "frozen"), ("mse", "free"), ("bce", "frozen"),
                                         ("bce", "free"))
PERTURBATIONS: tuple[str, ...] = ("ori", "adv", "rand")


@dataclass(frozen=True)
class Config:
    """Sizes and the book's choices for what the papers leave unspecified.

    Not given in the papers and chosen here: the binary task (``classes``; the theorems are
    binary), the AT settings (``train_eps``, ``train_steps``: l_inf PGD), the attack strength and
    length behind Table 2 (``table_A``: the largest ``A = beta lambda_1`` over the images under
    one fixed beta; ``table_steps``), the layer (the first), the update behind Fig. 4's Delta
    (``delta_step``: ``dW = -delta_step g/||g||``, D = the layer's output width), its
    perturbation (the PGD of training) and the data of the Hessian (``n_hessian`` train images).
    """

    dataset: str = "digits"
    classes: tuple[int, int] = (3, 8)
    side: int = 8
    hidden: tuple[int, ...] = (200, 200)
    channels: tuple[int, int] = (16, 32)
    num_epochs: int = 30
    lr: float = 0.02
    batch_size: int = 32
    train_eps: float = 0.1
    train_steps: int = 7
    n_eval: int = 40
    table_A: tuple[float, ...] = (0.01, 1.0)
    table_steps: int = 100
    A_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    flow_steps: int = 50
    trim: float = 0.1
    eta: float = 1.0  # cancels from every ratio reported
    delta_step: float = 1e-3
    n_delta: int = 40
    n_hessian: int = 200
    lanczos_iters: int = 20
    threads: int | None = 1


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(hidden=(16,), channels=(2, 4), num_epochs=3, n_eval=6, table_steps=10,
                    A_grid=(0.01, 1.0), flow_steps=5, n_delta=4, n_hessian=20, lanczos_iters=5),
    "full": Config(dataset="fashion-mnist", classes=(0, 6), side=28, channels=(32, 32),
                   num_epochs=20, batch_size=128, n_eval=200, table_steps=1000,
                   flow_steps=100, n_delta=200, n_hessian=1000, lanczos_iters=30, threads=None),
}

#: 000 App. J Table 2 and 001 Table 2 as printed (000's 1-layer columns are lost in the seed).
PAPER_TABLE2: dict[str, dict[str, float]] = {
    "000 kappa (free gates)": {"2-MLP": 2.7e-2, "3-MLP": 9.1e-2, "4-MLP": 2.7e-1, "5-MLP": 4.1e-2,
                               "2-CNN": 2.0e-2, "3-CNN": 2.6e-1, "4-CNN": 1.8e-1,
                               "5-CNN": 4.8e-2},
    "000 kappa' (frozen gates)": {"2-MLP": 6.9e-5, "3-MLP": 7.9e-6, "4-MLP": 1.7e-6,
                                  "5-MLP": 2.7e-7, "2-CNN": 2.3e-7, "3-CNN": 1.7e-8,
                                  "4-CNN": 2.7e-9, "5-CNN": 2.3e-9},
    "001 kappa' (A2)": {"3-MLP": 3.9e-5, "4-MLP": 8.8e-6, "5-MLP": 1.5e-6, "3-CNN": 8.5e-7,
                        "4-CNN": 1.3e-7, "5-CNN": 1.2e-7},
}


# ---------------------------------------------------------------------------------------------
# Frozen gates for the CNN (models.frozen_gate covers the MLPs)


CNNs = models.SmallCNN | models.SmallResCNN


def _cnn_head(model: CNNs, h: Tensor, gate: Callable[[int, Tensor], Tensor]) -> Tensor:
    """The logits from the first conv's pre-activation ``h``, with ``gate(k, t)`` for the k-th
    ReLU (``relu`` for the net itself, a fixed mask for its frozen-gate version)."""
    if isinstance(model, models.SmallResCNN):
        a = gate(0, h)
        a = gate(1, a + model.block(a))
        return model.fc(gate(2, model.conv2(a)).flatten(1))
    return model.fc(gate(1, model.conv2(gate(0, h))).flatten(1))


def _cnn_preactivations(model: CNNs, x: Tensor) -> list[Tensor]:
    """The input of every ReLU of ``model`` at ``x``, in order."""
    pre: list[Tensor] = []

    def record(_: int, t: Tensor) -> Tensor:
        pre.append(t)
        return torch.relu(t)

    with torch.no_grad():
        _cnn_head(model, model.conv1(_image(model, x)), record)
    return pre


class FrozenGateCNN(nn.Module):
    """``models.SmallCNN`` or ``models.SmallResCNN`` with its ReLU gates frozen at ``x_ref``
    (one mask per row and ReLU).

    Affine in x, equal to the CNN at ``x_ref`` (000 Assumption 1 / 001 A2 for a CNN). Layers are
    shared with ``model``.
    """

    def __init__(self, model: CNNs, x_ref: Tensor) -> None:
        super().__init__()
        self._model = model
        self.n_gates = 0
        for k, pre in enumerate(_cnn_preactivations(model, x_ref)):
            self.register_buffer(f"mask{k}", pre > 0)
            self.n_gates += 1

    def masked(self, k: int, t: Tensor) -> Tensor:
        """The k-th ReLU with its gates frozen: ``t`` times the fixed 0/1 mask."""
        return t * getattr(self, f"mask{k}").to(t.dtype)

    def head(self, h: Tensor) -> Tensor:
        """The logits from the first conv's pre-activation, through the frozen masks."""
        return _cnn_head(self._model, h, self.masked)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, C) of the frozen-gate CNN."""
        m = self._model
        return self.head(m.conv1(_image(m, x)))


def _image(model: CNNs, x: Tensor) -> Tensor:
    return x.reshape(-1, model.in_channels, model.side, model.side)


def frozen(net: nn.Module, x_ref: Tensor) -> nn.Module:
    """The frozen-gate version of an MLP, a SmallCNN or a SmallResCNN at ``x_ref`` (N, D)."""
    if isinstance(net, CNNs):
        return FrozenGateCNN(net, x_ref)
    if isinstance(net, models.MLP):
        return models.frozen_gate(net, x_ref)
    raise ValueError(f"no frozen-gate version of {type(net).__name__}")


# ---------------------------------------------------------------------------------------------
# The first layer: h = W^T x + b (dense) or conv1(x), and the rest of the net z = head(h)


class FirstLayer(NamedTuple):
    """``layer`` (nn.Linear or nn.Conv2d), ``shape(x)`` its input, ``head(h)`` the logits."""

    layer: nn.Module
    shape: Callable[[Tensor], Tensor]
    head: Callable[[Tensor], Tensor]


def first_layer(net: nn.Module) -> FirstLayer:
    """The first layer of an MLP, a SmallCNN, a SmallResCNN or their frozen-gate versions, and
    the map from its pre-activation h to the logits (through the frozen masks where frozen)."""
    if isinstance(net, models.FrozenGateReLU):
        lin, masks = net.linears, net.masks

        def head(h: Tensor) -> Tensor:
            for layer, mask in zip(lin[1:], masks, strict=True):
                h = layer(h * mask.to(h.dtype))
            return h
        return FirstLayer(lin[0], lambda x: x.flatten(1), head)
    if isinstance(net, models.MLP):
        lin = net.linears

        def head_free(h: Tensor) -> Tensor:
            for layer in lin[1:]:
                h = layer(net.act(h))
            return h
        return FirstLayer(lin[0], lambda x: x.flatten(1), head_free)
    if isinstance(net, FrozenGateCNN):
        m = net._model
        return FirstLayer(m.conv1, lambda x: _image(m, x), net.head)
    if isinstance(net, CNNs):
        return FirstLayer(net.conv1, lambda x: _image(net, x),
                          lambda h: _cnn_head(net, h, lambda _, t: torch.relu(t)))
    raise ValueError(f"first_layer: unsupported model {type(net).__name__}")


def weight_bilinear(layer: nn.Module, v: Tensor, u: Tensor) -> Tensor:
    """Per row n: ``B(v_n, u_n) = d/dW <u_n, W-part of layer(v_n)>``, shape (N, *W.shape).

    nn.Linear (``h = W x + b``): ``u_n v_n^T`` (the papers' ``v u^T`` in their (in, out)
    layout). nn.Conv2d: the correlation of the input patches of ``v_n`` with ``u_n``. With
    ``v = x`` and ``u = dL/dh`` it is the per-image weight gradient of the loss.
    """
    if isinstance(layer, nn.Linear):
        return u.flatten(1)[:, :, None] * v.flatten(1)[:, None, :]
    if isinstance(layer, nn.Conv2d):
        cols = F.unfold(v, layer.kernel_size, dilation=layer.dilation, padding=layer.padding,
                        stride=layer.stride)  # (N, C_in k k, P)
        out = torch.einsum("nop,nkp->nok", u.flatten(2), cols)
        return out.reshape(v.shape[0], *layer.weight.shape)
    raise ValueError(f"weight_bilinear: unsupported layer {type(layer).__name__}")


class Local(NamedTuple):
    """First-layer quantities per image at one input: logits ``z (N,)``, ``g_z, H_z (N,)``,
    ``gt_h = dz/dh`` and ``g_h = g_z gt_h`` (N, *h), ``gt_x = dz/dx (N, D)``."""

    z: Tensor
    g_z: Tensor
    H_z: Tensor
    gt_h: Tensor
    g_h: Tensor
    gt_x: Tensor


def local(net: nn.Module, x: Tensor, y: Tensor, loss: attacks.LossName) -> Local:
    """``Local`` at ``x (N, D)`` for a single-output ``net`` (rows do not interact)."""
    fl = first_layer(net)
    x_leaf = x.detach().requires_grad_(True)
    with torch.enable_grad():
        h = fl.layer(fl.shape(x_leaf))
        h_leaf = h.detach().requires_grad_(True)
        z = fl.head(h_leaf)
        if z.dim() != 2 or z.shape[1] != 1:
            raise ValueError(f"a single-output model is needed, got logits {tuple(z.shape)}")
        (gt_h,) = torch.autograd.grad(z.sum(), h_leaf)
        (gt_x,) = torch.autograd.grad(h, x_leaf, grad_outputs=gt_h)
        zl = z.detach().requires_grad_(True)
        (g_z,) = torch.autograd.grad(attacks.loss_fn(loss)(zl, y).sum(), zl)
    H_z = curvature.logit_hessian_of_loss(z.detach(), y, loss).reshape(-1)
    g_z = g_z.reshape(-1)
    bshape = (-1,) + (1,) * (gt_h.dim() - 1)
    return Local(z.detach()[:, 0], g_z, H_z, gt_h, g_z.reshape(bshape) * gt_h,
                 gt_x.flatten(1))


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-row Frobenius inner product of (N, ...) tensors."""
    return (a.flatten(1) * b.flatten(1)).sum(1)


# ---------------------------------------------------------------------------------------------
# Table 2: phi* (real) against phi_hat (Theorem 3) per image


def phi_measurements(net: nn.Module, attacked: nn.Module, x: Tensor, y: Tensor, delta: Tensor,
                     loss: attacks.LossName, E: dict[str, Tensor], eta: float = 1.0
                     ) -> dict[str, Tensor]:
    """Real and predicted first-layer effects for the perturbation ``delta`` of ``x``.

    ``net`` gives g~_x, g~_h, g_z, H_z at x (gates at x: the clean net or its frozen version);
    ``attacked`` is the net the attack ran on (frozen or free), whose gradient at x + delta is
    the real one. ``E``: name -> (N,) values of e^A or (1 + alpha lambda_1)^m. Returns per image:
    ``phi_real``, ``phi_ori``, ``dgW_real`` (N, *W), and per E name ``phi_<name>`` (Lemma 4's
    strong form contracted), ``phi_printed_<name>`` (Theorem 3 as printed, dense-layer norms),
    ``cos_<name>`` (cosine between predicted and real Dg_W), and ``lambda1``.
    """
    layer = first_layer(net).layer
    q = local(net, x, y, loss)
    qa = local(attacked, x + delta, y, loss)
    shape = first_layer(net).shape
    xin, xadv = shape(x), shape(x + delta)
    g_W = weight_bilinear(layer, xin, q.g_h)
    dgW = weight_bilinear(layer, xadv, qa.g_h) - g_W
    P = weight_bilinear(layer, shape(q.gt_x), q.gt_h)  # phi(G) = -eta <G, P>
    lam1 = q.H_z * q.gt_x.pow(2).sum(1)
    B_gx = weight_bilinear(layer, shape(q.g_z[:, None] * q.gt_x), q.g_h)
    phi_ori = -eta * _dot(g_W, P)
    out = {"phi_real": -eta * _dot(dgW, P), "phi_ori": phi_ori, "dgW_real": dgW,
           "lambda1": lam1}
    ngh2 = q.gt_h.flatten(1).pow(2).sum(1)
    for name, E_ in E.items():
        bshape = (-1,) + (1,) * (g_W.dim() - 1)
        pred = ((E_ - 1).reshape(bshape) * g_W
                + ((E_**2 - E_) / lam1).reshape(bshape) * B_gx)
        out[f"phi_{name}"] = -eta * _dot(pred, P)
        out[f"phi_printed_{name}"] = thm3_printed(phi_ori, q.g_z, ngh2, q.H_z, E_, eta)
        out[f"cos_{name}"] = F.cosine_similarity(pred.flatten(1), dgW.flatten(1), dim=1)
    return out


def phi_errors(real: Tensor, pred: Tensor) -> np.ndarray:
    """Per-image ``|phi* - phi_hat| / |phi*|`` (what 000's kappa averages)."""
    return ((real - pred).abs() / real.abs()).numpy()


def trimmed_mean(values: np.ndarray, trim: float = 0.1) -> float:
    """Mean of the ``1 - trim`` smallest values (000 App. J keeps the 90% smallest errors)."""
    if not 0.0 <= trim < 1.0:
        raise ValueError(f"trim must be in [0, 1), got {trim!r}")
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0:
        raise ValueError("trimmed_mean of no values")
    keep = max(1, int(round((1.0 - trim) * v.size)))
    return float(v[:keep].mean())


def _kappas(real: Tensor, pred: Tensor, trim: float) -> dict[str, float]:
    errs = phi_errors(real, pred)
    r, p = real[:, None], pred[:, None]
    return {"kappa_000": kappa_000(r, p, trim=trim), "kappa_001": kappa_001(r, p),
            "median": float(np.median(errs)), "mean": float(np.mean(errs))}


def table2(net: nn.Module, X: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """Table 2 analogue at fixed beta (the largest A over the images = each of ``table_A``)."""
    m_ = cfg.table_steps
    fz = frozen(net, X)
    out: dict[str, Any] = {"steps": m_}
    for loss in ("mse", "bce"):
        lam1 = local(fz, X, y, loss)
        lam1 = lam1.H_z * lam1.gt_x.pow(2).sum(1)
        for A in cfg.table_A:
            beta_ = A / float(lam1.max())
            E = {"exp": torch.exp(beta_ * lam1), "m": (1 + beta_ / m_ * lam1) ** m_}
            for gates, attacked in (("frozen", fz), ("free", net)):
                delta = attacks.raw_ascent(attacked, X, y, alpha=beta_ / m_, steps=m_, loss=loss)
                meas = phi_measurements(fz, attacked, X, y, delta, loss, E, cfg.eta)
                entry = {"beta": beta_, "A": (beta_ * lam1).numpy(),
                         "phi_real": meas["phi_real"].numpy()}
                for name in E:
                    entry[name] = _kappas(meas["phi_real"], meas[f"phi_{name}"], cfg.trim)
                    entry[f"printed_{name}"] = _kappas(meas["phi_real"],
                                                       meas[f"phi_printed_{name}"], cfg.trim)
                    entry[f"cos_{name}"] = float(meas[f"cos_{name}"].median())
                out[f"{loss}/{gates}/A={A:g}"] = entry
    return out


def regime(net: nn.Module, X: Tensor, y: Tensor, cfg: Config) -> dict[str, Any]:
    """kappa_phi against A (per-image beta = A/lambda_1), infinite-step CE attack (RK4 flow)."""
    fz = frozen(net, X)
    q = local(fz, X, y, "bce")
    lam1 = q.H_z * q.gt_x.pow(2).sum(1)
    out: dict[str, Any] = {"A_grid": np.array(cfg.A_grid)}
    for gates, attacked in (("frozen", fz), ("free", net)):
        errs, cos = [], []
        for A in cfg.A_grid:
            beta_ = A / lam1
            flow = gradient_flow(attacked, X, y, T=beta_, steps=cfg.flow_steps, loss="bce")
            meas = phi_measurements(fz, attacked, X, y, flow.delta, "bce",
                                    {"exp": torch.full_like(lam1, math.exp(A))}, cfg.eta)
            errs.append(phi_errors(meas["phi_real"], meas["phi_exp"]))
            cos.append(meas["cos_exp"].numpy())
        out[gates] = {"errors": np.stack(errs), "cos": np.stack(cos)}
    return out


# ---------------------------------------------------------------------------------------------
# Fig. 4 / 5: the Delta metric per layer and the top weight-Hessian eigenvalue


def weight_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The weight layers in order, named as in the model."""
    return [(name, mod) for name, mod in net.named_modules()
            if isinstance(mod, nn.Linear | nn.Conv2d)]


def _layer_grad(net: nn.Module, weight: Tensor, x: Tensor, y: Tensor,
                loss: attacks.LossName) -> Tensor:
    with torch.enable_grad():
        value = attacks.loss_fn(loss)(net(x), y).sum()
        return torch.autograd.grad(value, weight)[0]


def delta_metric(net: nn.Module, weight: Tensor, x: Tensor, y: Tensor,
                 loss: attacks.LossName = "bce", step: float = 1e-3) -> float:
    """000 §3.3's Delta for one layer: ``||g(W + dW) - g(W)|| / (D ||dW||)``.

    ``g = dL(f(x), y)/dW`` of the (summed) loss at the given input, ``dW = -step g/||g||``
    (the paper's update "with a fixed strength"; its direction is not given), ``D =
    weight.shape[0]`` (the layer's output width). ``weight`` is restored afterwards.
    """
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step!r}")
    g0 = _layer_grad(net, weight, x, y, loss)
    norm = g0.norm()
    if not norm > 0:
        raise ValueError("the loss gradient in this layer is zero: Delta is undefined")
    dW = -step * g0 / norm
    with torch.no_grad():
        weight += dW
    try:
        g1 = _layer_grad(net, weight, x, y, loss)
    finally:
        with torch.no_grad():
            weight -= dW
    return float((g1 - g0).norm() / (weight.shape[0] * step))


def _delta_or_nan(net: nn.Module, weight: Tensor, x: Tensor, y: Tensor, step: float) -> float:
    """``delta_metric``, or nan for an image whose loss gradient in this layer is zero (a dead
    path in a small net); medians are taken over the other images."""
    try:
        return delta_metric(net, weight, x, y, "bce", step)
    except ValueError:
        return math.nan


def random_like_norm(delta: Tensor, generator: torch.Generator) -> Tensor:
    """A Gaussian direction per row, rescaled to the l2 norm of that row of ``delta``."""
    r = torch.randn(delta.shape, generator=generator, dtype=delta.dtype)
    norms = delta.flatten(1).norm(dim=1) / r.flatten(1).norm(dim=1)
    return r * norms.reshape((-1,) + (1,) * (delta.dim() - 1))


def pgd_delta(net: nn.Module, X: Tensor, y: Tensor, cfg: Config, seed: int) -> Tensor:
    """The l_inf PGD perturbation of adversarial training (same eps and steps)."""
    gen = torch.Generator().manual_seed(seed)
    return attacks.pgd(net, X, y, eps=cfg.train_eps, alpha=2.5 / cfg.train_steps * cfg.train_eps,
                       steps=cfg.train_steps, loss="bce", random_start=True, generator=gen)


def oscillation(net: nn.Module, X: Tensor, y: Tensor, cfg: Config, seed: int
                ) -> dict[str, np.ndarray]:
    """Per layer and image: Delta at x, at x + PGD delta, at x + random delta of equal norm
    (keys ``<layer>/<ori|adv|rand>``); ``adv_norm``; ``hz_<ori|adv|rand>``: H_z at each input."""
    X, y = X[: cfg.n_delta], y[: cfg.n_delta]
    adv = pgd_delta(net, X, y, cfg, seed)
    inputs = {"ori": X, "adv": X + adv,
              "rand": X + random_like_norm(adv, torch.Generator().manual_seed(seed + 1))}
    out: dict[str, np.ndarray] = {}
    for name, mod in weight_layers(net):
        for kind, xs in inputs.items():
            out[f"{name}/{kind}"] = np.array(
                [_delta_or_nan(net, mod.weight, xs[i:i + 1], y[i:i + 1], cfg.delta_step)
                 for i in range(len(xs))])
    out["adv_norm"] = adv.flatten(1).norm(dim=1).numpy()
    for kind, xs in inputs.items():  # H_z = p(1 - p) where each Delta was measured
        out[f"hz_{kind}"] = local(net, xs, y, "bce").H_z.numpy()
    return out


def top_hessian_eigenvalue(net: nn.Module, X: Tensor, y: Tensor, *, iters: int = 20,
                           seed: int = 0) -> float:
    """Largest eigenvalue of the Hessian in all weights of the mean BCE loss on (X, y), Lanczos."""
    op = curvature.param_hvp(net, lambda: attacks.loss_fn("bce")(net(X), y).mean())
    res = curvature.lanczos(op.matvec, op.dim, k=1, iters=iters,
                            generator=torch.Generator().manual_seed(seed))
    return float(res.eigenvalues[0])


# ---------------------------------------------------------------------------------------------
# Nets and run


def build(arch: str, d_in: int, cfg: Config, seed: int) -> nn.Module:
    """An untrained single-output ReLU MLP, SmallCNN or SmallResCNN (float32, seeded)."""
    gen = torch.Generator().manual_seed(seed)
    if arch == "mlp":
        return models.MLP(d_in, cfg.hidden, 1, generator=gen)
    if arch == "cnn":
        return models.SmallCNN(1, 1, cfg.side, channels=cfg.channels, generator=gen)
    if arch == "rescnn":
        return models.SmallResCNN(1, 1, cfg.side, channels=cfg.channels, generator=gen)
    raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")


def train_net(arch: str, training: str, X: Tensor, y: Tensor, cfg: Config, seed: int
              ) -> nn.Module:
    """SGD on the logistic loss, clean or with l_inf PGD-AT; returned in float64, eval mode."""
    if training not in TRAININGS:
        raise ValueError(f"training must be one of {TRAININGS}, got {training!r}")
    net = build(arch, X.shape[1], cfg, seed)
    adv = training == "adversarial"
    with warnings.catch_warnings():  # PGD on images that sit on dead units of a young net
        warnings.simplefilter("ignore", attacks.ZeroInputGradientWarning)
        train.train(net, X, y, num_epochs=cfg.num_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                    attack="pgd" if adv else None,
                    attack_kwargs={"steps": cfg.train_steps} if adv else None,
                    eps_schedule=cfg.train_eps if adv else 0.0, loss="bce", seed=seed,
                    progress=False)
    return net.double().eval()


def correct_subset(net: nn.Module, X: Tensor, y: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` images that ``net`` classifies correctly (sign(z) = y) and whose input
    gradient is not zero (an image on dead units has lambda_1 = 0: no A, no attack)."""
    with torch.no_grad():
        keep = net(X)[:, 0] * y > 0
    keep &= local(net, X, y, "bce").gt_x.norm(dim=1) > 0
    if int(keep.sum()) < n:
        raise ValueError(f"only {int(keep.sum())} usable correctly classified images, "
                         f"{n} needed")
    return X[keep][:n], y[keep][:n]


def binary(ds: data.Dataset) -> tuple[Tensor, Tensor]:
    """(X, y) with labels mapped 0 -> -1, 1 -> +1."""
    return ds.X, 2 * ds.y - 1


@dataclass
class Result:
    """Measurements (numpy arrays, floats) per architecture and training, and the config."""

    config: Config
    accuracy: dict[str, float]
    table: dict[str, dict[str, Any]]
    regime: dict[str, dict[str, Any]]
    oscillation: dict[str, dict[str, np.ndarray]]
    hessian: dict[str, dict[str, float]]
    extra: dict[str, Any] = field(default_factory=dict)

    def kappa_table(self, arch: str, A: float, form: str = "exp") -> dict[str, dict[str, float]]:
        """Per variant at table strength A: kappa (000, trimmed; 001), median and mean of the
        per-image errors of ``form`` ("exp", "m", "printed_exp", "printed_m"), and the median
        cosine of the predicted and real weight-gradient change (for "exp"/"m")."""
        rows = {}
        for loss, gates in VARIANTS:
            e = self.table[arch][f"{loss}/{gates}/A={A:g}"]
            row = dict(e[form])
            base = form.removeprefix("printed_")
            row["cos_dgW"] = e[f"cos_{base}"]
            rows[f"{'MSE' if loss == 'mse' else 'CE'}, {gates} gates"] = row
        return rows

    def regime_stats(self, arch: str, gates: str) -> dict[str, np.ndarray]:
        """Median, 90%-trimmed mean and mean of kappa_phi over the images at each A."""
        errs = self.regime[arch][gates]["errors"]
        return {"median": np.median(errs, axis=1),
                "trimmed": np.array([trimmed_mean(e, self.config.trim) for e in errs]),
                "mean": errs.mean(axis=1)}

    def delta_medians(self, key: str) -> dict[str, dict[str, float]]:
        """Per layer: the median Delta over the images for ori, adv and rand."""
        osc = self.oscillation[key]
        layers = [k.rsplit("/", 1)[0] for k in osc if k.endswith("/ori")]
        return {layer: {p: float(np.nanmedian(osc[f"{layer}/{p}"])) for p in PERTURBATIONS}
                for layer in layers}

    def summary(self) -> dict[str, Any]:
        """A few numbers for the book and the artifact (plain Python types)."""
        c = self.config
        return {
            "accuracy": {k: round(v, 3) for k, v in self.accuracy.items()},
            "kappa_prime": {arch: {f"A={A:g}": {
                v: self.kappa_table(arch, A)[v]["kappa_000"]
                for v in ("MSE, frozen gates", "CE, frozen gates")} for A in c.table_A}
                for arch in ARCHS},
            "delta_medians": {k: self.delta_medians(k) for k in self.oscillation},
            "hessian": self.hessian,
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, as JSON-ready lists (the artifact's ``result``)."""
        def plain(d: Any) -> Any:
            if isinstance(d, dict):
                return {k: plain(v) for k, v in d.items()}
            if isinstance(d, float | int | str) or d is None:
                return d
            return np.asarray(d).round(14).tolist()

        return {"summary": plain(self.summary()), "table": plain(self.table),
                "regime": plain(self.regime), "oscillation": plain(self.oscillation),
                "hessian": plain(self.hessian)}


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train the six nets (three archs, clean and PGD), then measure Table 2, the A regime and
    Fig. 4/5 in float64 (CPU)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {tuple(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError("cheng_training measures in float64 on the CPU; use --device cpu")
    cfg = CONFIGS[mode]
    tr = data.load(cfg.dataset, split="train", flatten=True, data_dir=data_dir,
                   classes=cfg.classes)
    te = data.load(cfg.dataset, split="test", flatten=True, data_dir=data_dir,
                   classes=cfg.classes, dtype=torch.float64)
    Xtr, ytr = binary(tr)
    Xte, yte = binary(te)
    accuracy, table, reg, osc, hess = {}, {}, {}, {}, {}
    with threads(cfg.threads):
        for arch in ARCHS:
            for training in TRAININGS:
                key = f"{arch}/{training}"
                net = train_net(arch, training, Xtr, ytr, cfg, seed)
                with torch.no_grad():
                    accuracy[key] = float((net(Xte)[:, 0] * yte > 0).double().mean())
                X, y = correct_subset(net, Xte, yte, cfg.n_eval)
                if training == "adversarial":  # 000 App. J: adversarially trained nets
                    table[arch] = table2(net, X, y, cfg)
                    reg[arch] = regime(net, X, y, cfg)
                osc[key] = oscillation(net, X, y, cfg, seed)
                Xh, yh = Xtr[: cfg.n_hessian].double(), ytr[: cfg.n_hessian]
                adv = pgd_delta(net, Xh, yh, cfg, seed)
                hess[key] = {
                    "clean": top_hessian_eigenvalue(net, Xh, yh, iters=cfg.lanczos_iters,
                                                    seed=seed),
                    "adv": top_hessian_eigenvalue(net, Xh + adv, yh, iters=cfg.lanczos_iters,
                                                  seed=seed),
                    "rand": top_hessian_eigenvalue(
                        net, Xh + random_like_norm(adv, torch.Generator().manual_seed(seed + 2)),
                        yh, iters=cfg.lanczos_iters, seed=seed)}
    return Result(cfg, accuracy, table, reg, osc, hess)
