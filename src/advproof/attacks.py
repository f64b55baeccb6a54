"""The attack engine: raw gradient ascent, FGM, FGSM and l2/linf PGD are one loop, ``perturb``.

Shape legend:

- ``N``: batch size; ``D``: flattened input dimension, prod(input_shape); ``C``: number of
  outputs (classes; ``C = 1`` for a binary score with labels ``y`` in {-1, +1}).
- ``x: (N, *input_shape)``, ``y: (N,)`` (int64 class indices for "ce"/"margin"/"mse" with
  C > 1; +-1 floats for the single-output losses), logits ``z: (N, C)``.
- Per sample: ``alpha`` and ``eps`` (a float or an ``(N,)`` tensor), the loss ``(N,)``, the
  perturbation ``delta: (N, *input_shape)``; a path is ``(steps + 1, N, *input_shape)``.

Notation (Cheng et al. 000, Sec. 2 and Eq. 3): the m-step attack is
``delta^(t+1) = Proj(delta^(t) + alpha * s(g_{x + delta^(t)}))`` with ``delta^(0) = 0`` (or a
random start), ``g_x = d L(f(x), y) / dx`` and ``s`` the raw gradient (no normalisation),
``g / ||g||_2`` (FGM, l2 PGD) or ``sign(g)`` (FGSM, linf PGD).

Semantics every caller may rely on (STYLE §1-§3): the loss is per sample and *summed*, so a
sample's trajectory does not depend on the batch it sits in; the gradient is taken w.r.t. the
input only (``torch.autograd.grad``; parameter ``.grad`` is never touched); the model's mode is
never changed; ``x`` is never modified; ``delta`` has ``x``'s dtype and device; randomness comes
only from ``generator``; and ``perturb`` checks its post-conditions before returning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

Model = Callable[[Tensor], Tensor]
LossName = Literal["ce", "mse", "margin", "exp", "bce"]
StepName = Literal["raw", "l2", "linf"]
Scalar = float | Tensor
LOSSES: tuple[str, ...] = ("ce", "mse", "margin", "exp", "bce")
STEPS: tuple[str, ...] = ("raw", "l2", "linf")
NORMS: tuple[float, ...] = (2.0, math.inf)


class Attack(NamedTuple):
    """An attack's perturbation ``delta: (N, *input_shape)`` and ``path: (steps+1, N, ...)``."""

    delta: Tensor
    path: Tensor


class AttackPostconditionError(RuntimeError):
    """``perturb`` produced a non-finite delta, left the eps-ball, or left the clip box."""


class ProbabilitiesAsLogitsWarning(UserWarning):
    """The model's outputs look like softmax probabilities, but "ce" expects logits."""


class ZeroInputGradientWarning(UserWarning):
    """Some samples have an exactly zero input gradient (saturated loss or dead units)."""


def _check_choice(name: str, value: object, allowed: tuple) -> None:
    """ValueError naming the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


# --- losses: the single definition used by attacks, curvature and train ---------------------


def _score(z: Tensor) -> Tensor:
    """The binary score z: (N,) from single-output logits (N, 1) or (N,)."""
    if z.dim() == 2 and z.shape[1] == 1:
        return z[:, 0]
    if z.dim() == 1:
        return z
    raise ValueError(f"this loss needs a single-output model, got logits of shape {tuple(z.shape)}")


def _ce(z: Tensor, y: Tensor) -> Tensor:
    """Softmax cross-entropy -log softmax(z)_y."""
    return F.cross_entropy(z, y, reduction="none")


def _mse(z: Tensor, y: Tensor) -> Tensor:
    """0.5 ||z - onehot(y)||^2 (C > 1), or 0.5 (z - y)^2 for a single output."""
    if z.dim() == 1 or z.shape[1] == 1:
        return 0.5 * (_score(z) - y.to(z.dtype)) ** 2
    return 0.5 * (z - F.one_hot(y, z.shape[1]).to(z.dtype)).pow(2).sum(dim=1)


def _margin(z: Tensor, y: Tensor) -> Tensor:
    """max_{j != y} z_j - z_y (C > 1), or -y z for a single output with y in {-1, +1}."""
    if z.dim() == 1 or z.shape[1] == 1:
        return -y.to(z.dtype) * _score(z)
    z_y = z.gather(1, y[:, None])[:, 0]
    others = z.scatter(1, y[:, None], -math.inf)
    return others.amax(dim=1) - z_y


def _exp(z: Tensor, y: Tensor) -> Tensor:
    """Exponential loss exp(-y z) for a single output, y in {-1, +1}."""
    return torch.exp(-y.to(z.dtype) * _score(z))


def _bce(z: Tensor, y: Tensor) -> Tensor:
    """Logistic (sigmoid cross-entropy) loss softplus(-y z) = log(1 + e^{-y z}), y in {-1, +1}."""
    return F.softplus(-y.to(z.dtype) * _score(z))


_LOSS_FNS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "ce": _ce, "mse": _mse, "margin": _margin, "exp": _exp, "bce": _bce,
}


def loss_fn(name: LossName) -> Callable[[Tensor, Tensor], Tensor]:
    """The per-sample loss ``L(z, y) -> (N,)`` called ``name``; logits z: (N, C).

    "ce": softmax cross-entropy; "mse": 0.5 ||z - onehot(y)||^2 (0.5 (z - y)^2 if C = 1);
    "margin": max_{j != y} z_j - z_y (-y z if C = 1); "exp": exp(-y z) and "bce":
    softplus(-y z), both for C = 1 and y in {-1, +1} (the binary reduction of 000, Sec. 3).
    """
    _check_choice("loss", name, LOSSES)
    return _LOSS_FNS[name]


def _check_labels(loss: str, y: Tensor) -> None:
    """Catch labels that give plausible wrong numbers: 0/1 labels for exp/bce, float for ce."""
    if loss in ("exp", "bce") and not ((y == 1) | (y == -1)).all():
        raise ValueError(f"loss {loss!r} needs labels in {{-1, +1}}, got {y.unique().tolist()}")
    if loss == "ce" and (y.is_floating_point() or y.is_complex()):
        raise ValueError(f"loss 'ce' needs integer class labels, got dtype {y.dtype}")


def _warn_pitfalls(z: Tensor, g: Tensor, loss: str) -> None:
    """Named warnings for misuse that yields plausible wrong numbers (STYLE §3)."""
    if loss == "ce" and z.dim() == 2 and z.shape[1] > 1 and bool((z >= 0).all()):
        if torch.allclose(z.sum(dim=1), torch.ones_like(z[:, 0])):
            warnings.warn("the model's outputs are non-negative and sum to 1: these look like "
                          "softmax probabilities, but loss 'ce' expects logits",
                          ProbabilitiesAsLogitsWarning, stacklevel=3)
    n_zero = int((g.flatten(1).abs().amax(dim=1) == 0).sum())
    if n_zero:
        warnings.warn(f"{n_zero} of {g.shape[0]} samples have a zero input gradient (saturated "
                      f"loss or dead units): the attack cannot move them",
                      ZeroInputGradientWarning, stacklevel=3)


def _grad(model: Model, x_adv: Tensor, y: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """(g, z): the gradient of the summed per-sample loss w.r.t. the input, and the logits."""
    with torch.enable_grad():
        x_adv = x_adv.detach().requires_grad_(True)
        z = model(x_adv)
        total = _LOSS_FNS[loss](z, y).sum()
        (g,) = torch.autograd.grad(total, x_adv, allow_unused=True, materialize_grads=True)
    return g, z.detach()


def input_grad(model: Model, x: Tensor, y: Tensor, loss: LossName = "ce") -> Tensor:
    """g_x = dL(f(x_i), y_i)/dx_i per sample, (N, *input_shape) (000, Sec. 2 notation).

    One backward of the summed per-sample loss: rows do not interact, so row i is the gradient
    of sample i's own loss. Warns on zero gradients and on probabilities passed as logits.
    """
    _check_choice("loss", loss, LOSSES)
    _check_labels(loss, y)
    g, z = _grad(model, x, y, loss)
    _warn_pitfalls(z, g, loss)
    return g


# --- the threat model ----------------------------------------------------------------------


def _broadcast(v: Scalar, x: Tensor, name: str) -> Scalar:
    """A float as is, or a 0-dim / (N,) tensor viewed as (N, 1, ..., 1) on x's dtype and device."""
    if not isinstance(v, Tensor):
        return v
    if v.shape not in (torch.Size([]), torch.Size([x.shape[0]])):
        raise ValueError(f"{name} must be a float or a tensor of shape ({x.shape[0]},), "
                         f"got shape {tuple(v.shape)}")
    return v.to(dtype=x.dtype, device=x.device).reshape(-1, *[1] * (x.dim() - 1))


def _per_sample(v: Scalar, x: Tensor, name: str) -> Scalar:
    """``_broadcast`` after checking that v is finite and >= 0 (ValueError otherwise)."""
    if isinstance(v, Tensor):
        if not bool(torch.isfinite(v).all() & (v >= 0).all()):
            raise ValueError(f"{name} must be finite and >= 0, got {v}")
    elif not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite float >= 0, got {v!r}")
    return _broadcast(float(v) if not isinstance(v, Tensor) else v, x, name)


def _box(delta: Tensor, x: Tensor, lo: Scalar | None, hi: Scalar | None) -> Tensor:
    """delta moved so that lo <= x + delta <= hi; coordinates already inside are left exact."""
    if lo is None and hi is None:
        return delta
    x_adv = x + delta
    lo_t = None if lo is None else torch.as_tensor(lo, dtype=x.dtype, device=x.device)
    hi_t = None if hi is None else torch.as_tensor(hi, dtype=x.dtype, device=x.device)
    boxed = torch.clamp(x_adv, lo_t, hi_t)
    # A coordinate inside the box is unchanged by the clamp; keep its delta bit for bit.
    return torch.where(boxed == x_adv, delta, boxed - x)


@dataclass(frozen=True)
class Ball:
    """The threat model {delta : ||delta_i||_p <= eps_i, lo <= x + delta <= hi}.

    ``p`` is 2 or ``math.inf``; ``eps`` a float or an (N,) tensor; ``lo``/``hi`` an optional
    box for ``x + delta`` (floats or tensors broadcastable to x). One definition shared by the
    attacks (``project``, ``sample``) and the bounds (``dual_exponent``), as in auto_LiRPA's
    ``PerturbationLpNorm``.
    """

    p: float
    eps: Scalar
    lo: Scalar | None = None
    hi: Scalar | None = None

    def __post_init__(self) -> None:
        _check_choice("p", self.p, NORMS)
        eps = self.eps
        if isinstance(eps, Tensor):
            bad = eps.dim() > 1 or not bool(torch.isfinite(eps).all() & (eps >= 0).all())
        else:
            bad = not isinstance(eps, int | float) or not math.isfinite(eps) or eps < 0
        if bad:
            raise ValueError(f"eps must be a finite float >= 0 or an (N,) tensor, got {eps!r}")

    @property
    def dual_exponent(self) -> float:
        """q with 1/p + 1/q = 1: sup_{||d||_p <= eps} a^T d = eps ||a||_q (1 for linf, 2 for l2)."""
        return 1.0 if self.p == math.inf else 2.0

    def norm(self, delta: Tensor) -> Tensor:
        """||delta_i||_p per sample, (N,)."""
        return torch.linalg.vector_norm(delta.flatten(1), ord=self.p, dim=1)

    def project(self, delta: Tensor, x: Tensor) -> Tensor:
        """Project delta onto the eps-ball, then clamp x + delta into the box.

        Exact Euclidean projection for linf (ball and box are both boxes) and for l2 without a
        box; with an l2 ball and a box it is the usual clamp-after-rescale, which stays inside
        both sets when x is in the box.
        """
        eps = _broadcast(self.eps, x, "eps")
        if self.p == math.inf:
            eps_t = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
            delta = torch.maximum(torch.minimum(delta, eps_t), -eps_t)
        else:
            norms = self.norm(delta).view(-1, *[1] * (x.dim() - 1))
            scale = torch.where(norms > eps, eps / norms.clamp_min(torch.finfo(x.dtype).tiny), 1.0)
            delta = delta * scale
        return _box(delta, x, self.lo, self.hi)

    def sample(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A random point of the ball around x: uniform in the linf cube or l2 ball, then boxed."""
        eps = _broadcast(self.eps, x, "eps")
        if self.p == math.inf:
            u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            return self.project((2 * u - 1) * eps, x)
        direction = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        direction = direction / self.norm(direction).view(-1, *[1] * (x.dim() - 1))
        radius = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        radius = radius.pow(1.0 / x[0].numel()).view(-1, *[1] * (x.dim() - 1))
        return self.project(direction * radius * eps, x)


# --- the engine ----------------------------------------------------------------------------


def _ascend(delta: Tensor, g: Tensor, step: str, alpha: Scalar) -> Tensor:
    """delta + alpha * s(g) with s = identity ("raw"), g/||g||_2 ("l2") or sign(g) ("linf")."""
    if step == "raw":
        return delta + alpha * g
    if step == "linf":
        return delta + alpha * g.sign()
    norms = torch.linalg.vector_norm(g.flatten(1), dim=1).view(-1, *[1] * (g.dim() - 1))
    return delta + alpha * g / norms.clamp_min(torch.finfo(g.dtype).tiny)


def _project(delta: Tensor, x: Tensor, ball: Ball | None, clip: tuple | None) -> Tensor:
    """Proj of ``perturb``: onto the ball (and box) if any, else onto the box, else identity."""
    if ball is not None:
        return ball.project(delta, x)
    return delta if clip is None else _box(delta, x, *clip)


def _threat_model(
    step: str, eps: Scalar | None, p: float | None, clip: tuple | None, x: Tensor
) -> tuple[Ball | None, tuple | None]:
    """Validate (eps, p, clip) and build the Ball (None when eps is None) and the box."""
    if p is not None and eps is None:
        raise ValueError(f"p={p!r} was given without eps: there is no ball to project on")
    if clip is not None:
        if len(clip) != 2:
            raise ValueError(f"clip must be a pair (lo, hi), got {clip!r}")
        lo_t, hi_t = (torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in clip)
        if lo_t.dim() == 0 and hi_t.dim() == 0:  # one pass over x instead of two
            x_min, x_max = torch.aminmax(x)
            outside = bool((x_min < lo_t) | (x_max > hi_t))
        else:
            outside = bool((x < lo_t).any() | (x > hi_t).any())
        if outside:
            raise ValueError(f"x lies outside the clip box {clip!r}")
    if eps is None:
        return None, clip
    p = p if p is not None else (math.inf if step == "linf" else 2.0)
    lo, hi = clip if clip is not None else (None, None)
    return Ball(p, eps, lo, hi), clip


def _check_postconditions(delta: Tensor, x: Tensor, ball: Ball | None, clip: tuple | None) -> None:
    """Raise AttackPostconditionError unless delta is finite, in the ball and in the box.

    Few passes over the data (this runs after every attack): the ball's norms propagate NaN, so
    one reduction checks finiteness and the radius; the box tolerance is one scalar,
    4 machine epsilons times (1 + max |x|).
    """
    if ball is not None:
        eps = ball.eps.to(x.device) if isinstance(ball.eps, Tensor) else ball.eps
        worst = (ball.norm(delta) - eps * (1 + 1e-6)).max()
        if not bool(torch.isfinite(worst)):
            raise AttackPostconditionError("delta is not finite (NaN/inf in the model or the loss)")
        if worst > 0:
            raise AttackPostconditionError(f"||delta||_{ball.p} exceeds eps by {float(worst):.3e}")
    elif not bool(torch.isfinite(delta).all()):
        raise AttackPostconditionError("delta is not finite (NaN/inf in the model or the loss)")
    if clip is not None:
        x_adv = x + delta
        tol = 4 * torch.finfo(x.dtype).eps * (1 + x.abs().max())
        lo, hi = (torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in clip)
        if bool((x_adv < lo - tol).any() | (x_adv > hi + tol).any()):
            raise AttackPostconditionError(f"x + delta leaves the clip box {clip!r}")


def perturb(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    step: StepName,
    alpha: Scalar,
    steps: int,
    eps: Scalar | None = None,
    p: float | None = None,
    random_start: bool = False,
    clip: tuple[Scalar, Scalar] | None = None,
    loss: LossName = "ce",
    generator: torch.Generator | None = None,
    return_path: bool = False,
) -> Tensor | Attack:
    """The perturbation delta of an m-step gradient-ascent attack (000, Eq. 3; Madry et al.).

    ``delta^(t+1) = Proj(delta^(t) + alpha * s(g_{x + delta^(t)}))`` for t < ``steps``, with
    ``s`` set by ``step`` ("raw": g, "l2": g/||g||_2, "linf": sign(g)) and Proj the projection
    on ``Ball(p, eps, *clip)``: none when eps is None (only the clip box, if any). ``p``
    defaults to inf for step "linf" and 2 otherwise. ``alpha``/``eps``: floats or (N,) tensors.
    ``random_start`` draws delta^(0) uniformly in the ball (needs eps) from ``generator``.

    Shape: x (N, *input_shape), y (N,) -> delta (N, *input_shape), or ``Attack(delta, path)``
    with path (steps + 1, N, *input_shape) when ``return_path``.
    """
    _check_choice("step", step, STEPS)
    _check_choice("loss", loss, LOSSES)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if random_start and eps is None:
        raise ValueError("random_start=True needs eps (the ball to draw the start from)")
    x = x.detach()
    ball, clip = _threat_model(step, eps, p, clip, x)
    alpha = _per_sample(alpha, x, "alpha")
    _check_labels(loss, y)
    delta = ball.sample(x, generator) if random_start else torch.zeros_like(x)
    path = [delta]
    for t in range(steps):
        g, z = _grad(model, x + delta, y, loss)
        if not bool(torch.isfinite(g).all()):  # sign(NaN) = 0 would hide it as "no attack"
            raise AttackPostconditionError(f"the input gradient is not finite at step {t} "
                                           f"(NaN/inf in the model or the loss)")
        if t == 0:
            _warn_pitfalls(z, g, loss)
        delta = _ascend(delta, g, step, alpha)
        delta = _project(delta, x, ball, clip)
        path.append(delta)
    _check_postconditions(delta, x, ball, clip)
    return Attack(delta, torch.stack(path)) if return_path else delta


# --- thin wrappers -------------------------------------------------------------------------


def fgsm(model: Model, x: Tensor, y: Tensor, eps: Scalar, **kw) -> Tensor | Attack:
    """FGSM (Goodfellow et al. 2015): one linf step of size eps, projected on the linf ball.

    ``delta = eps * sign(g_x)``. ``kw`` go to ``perturb`` (``loss``, ``clip``, ``random_start``
    ...). FGSM-RS (Wong et al. 2020) is ``pgd(..., steps=1, alpha=1.25 * eps, random_start=True)``.
    """
    return perturb(model, x, y, step="linf", alpha=eps, steps=1, eps=eps, **kw)


def fgm(model: Model, x: Tensor, y: Tensor, eps: Scalar, **kw) -> Tensor | Attack:
    """FGM (Miyato et al. 2017): one l2 step of length eps, ``delta = eps * g_x / ||g_x||_2``."""
    return perturb(model, x, y, step="l2", alpha=eps, steps=1, eps=eps, **kw)


def pgd(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    eps: Scalar,
    alpha: Scalar,
    steps: int,
    p: float = math.inf,
    random_start: bool = False,
    **kw,
) -> Tensor | Attack:
    """Projected gradient ascent (Madry et al. 2018) in the l_p ball, p in {2, inf}.

    linf: sign steps; l2: normalised-gradient steps; both projected on ``Ball(p, eps, *clip)``.
    """
    _check_choice("p", p, NORMS)
    step = "linf" if p == math.inf else "l2"
    return perturb(model, x, y, step=step, alpha=alpha, steps=steps, eps=eps, p=p,
                   random_start=random_start, **kw)


def raw_ascent(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    alpha: Scalar,
    steps: int,
    loss: LossName = "ce",
    return_path: bool = False,
) -> Tensor | Attack:
    """Raw gradient ascent delta^(m) = sum_t alpha g_{x + delta^(t)} (000 Eq. 3; 001 A1).

    No normalisation and no projection: the attack analysed by Cheng et al.
    """
    return perturb(model, x, y, step="raw", alpha=alpha, steps=steps, loss=loss,
                   return_path=return_path)
