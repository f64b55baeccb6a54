"""Subnetworks of frozen random networks: the per-layer allocation (5.11) and edge-popup masks
(thesis 003 Sec. 5.1, Algorithm 5.1).

Only a binary mask over frozen random weights is learned. Each weight has a score; layer ``i``
keeps its ``m_i`` weights of largest ``|score|`` (Ramanujan et al.'s edge-popup; the thesis says
"top-m_i scores"), and the backward pass treats the mask as the identity (straight-through), so
``dL/ds = dL/dw_eff * w * sign(s)``. The counts ``m_i`` come from the adaptive rule (5.11),
``m_i / n_i^gamma`` constant, capped at ``m_i <= n_i`` (the cap the thesis omits; see the
erratum of ``thesis5.eq5_11``).

Weights are binary, ``+-1`` ("binary initialisation"), or ``+-sqrt(2 / (fan_in (1 - r)))`` (the
signed Kaiming constant, SKC). With batch normalisation without affine parameters after every
hidden layer and a bias-free head, the two give the same predictions; a last batch norm on the
logits (LBN, (5.12)-(5.14)) also makes the gradients the same.

Shapes: ``x: (N, d_in)`` -> logits ``(N, n_out)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["SubnetMLP", "MaskedLinear", "allocate", "allocate_capped", "empty_units",
           "p_unit_empty", "top_k_mask"]

Init = Literal["binary", "skc"]


def allocate_capped(ns: Sequence[float] | np.ndarray, r: float, gamma: float) -> np.ndarray:
    """(5.11) with a cap: ``m_i = min(n_i, lam n_i^gamma)`` with ``lam`` found by bisection so
    that ``sum m = (1 - r) sum n`` (real-valued counts)."""
    ns = np.asarray(ns, dtype=np.float64)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"the pruning rate r must be in [0, 1), got {r}")
    target, lo, hi = (1 - r) * ns.sum(), 0.0, float(ns.sum())
    for _ in range(200):
        lam = (lo + hi) / 2
        lo, hi = (lam, hi) if np.minimum(ns, lam * ns**gamma).sum() < target else (lo, lam)
    return np.minimum(ns, lam * ns**gamma)


def allocate(ns: Sequence[int], r: float, gamma: float) -> list[int]:
    """Integer per-layer counts: the capped (5.11) rounded, at least one weight per layer (a
    layer with none disconnects the net), at most ``n_i``."""
    m = allocate_capped(ns, r, gamma)
    return [int(min(n, max(1, round(k)))) for n, k in zip(ns, m, strict=True)]


def top_k_mask(scores: Tensor, k: int) -> Tensor:
    """The 0/1 mask of the ``k`` entries of largest ``|scores|`` (ties broken by index)."""
    if not 1 <= k <= scores.numel():
        raise ValueError(f"k must be in [1, {scores.numel()}], got {k}")
    mask = torch.zeros(scores.numel(), dtype=scores.dtype, device=scores.device)
    mask[scores.detach().abs().flatten().topk(k).indices] = 1
    return mask.view_as(scores)


class _StraightThrough(torch.autograd.Function):
    """Forward: the top-k mask of the scores; backward: the identity (edge-popup's estimator)."""

    @staticmethod
    def forward(ctx, scores: Tensor, k: int) -> Tensor:  # noqa: ANN001 (autograd ctx)
        return top_k_mask(scores, k)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # noqa: ANN001
        return grad, None


class MaskedLinear(nn.Module):
    """``x -> x (w * mask(s))^T``: frozen random weights ``w`` (buffer), trainable scores ``s``
    (parameter), ``keep`` weights kept, no bias."""

    def __init__(self, d_in: int, d_out: int, keep: int, *, init: Init = "binary",
                 rate: float = 0.0, score_scale: float = 0.01,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if init not in ("binary", "skc"):
            raise ValueError(f"init must be 'binary' or 'skc', got {init!r}")
        if score_scale <= 0:
            raise ValueError(f"score_scale must be > 0, got {score_scale}")
        signs = torch.randint(0, 2, (d_out, d_in), generator=generator).double() * 2 - 1
        scale = 1.0 if init == "binary" else math.sqrt(2.0 / (d_in * (1.0 - rate)))
        self.register_buffer("weight", (scale * signs).float())
        scores = (torch.rand(d_out, d_in, generator=generator) * 2 - 1) * score_scale
        self.scores = nn.Parameter(scores.float())
        self.keep = keep
        top_k_mask(self.scores, keep)  # validates keep

    def mask(self) -> Tensor:
        """The current 0/1 mask (no gradient)."""
        return top_k_mask(self.scores, self.keep)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (N, d_in) -> (N, d_out)``."""
        # through |s| as in edge-popup's code: d|s|/ds = sign(s) makes a step along -dL/ds
        # raise the |score| of a weight whose use lowers the loss, whatever the score's sign
        return x @ (self.weight * _StraightThrough.apply(self.scores.abs(), self.keep)).T


class SubnetMLP(nn.Module):
    """A masked MLP: ``MaskedLinear -> BN (no affine) -> ReLU`` per hidden layer, a masked
    bias-free head, and optionally a last batch norm without affine parameters on the logits
    (LBN). The per-layer counts follow (5.11) with pruning rate ``rate`` and exponent
    ``gamma``."""

    def __init__(self, d_in: int, widths: Sequence[int], n_out: int, *, rate: float,
                 gamma: float, init: Init = "binary", lbn: bool = True,
                 score_scale: float = 0.01, seed: int = 0) -> None:
        super().__init__()
        dims = [d_in, *widths, n_out]
        if min(dims) < 1:
            raise ValueError(f"every layer width must be >= 1, got {dims}")
        sizes = [a * b for a, b in zip(dims[:-1], dims[1:], strict=True)]
        self.keeps = allocate(sizes, rate, gamma)
        gen = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList(
            MaskedLinear(a, b, k, init=init, rate=rate, score_scale=score_scale, generator=gen)
            for a, b, k in zip(dims[:-1], dims[1:], self.keeps, strict=True))
        self.norms = nn.ModuleList(nn.BatchNorm1d(w, affine=False) for w in widths)
        self.lbn = nn.BatchNorm1d(n_out, affine=False) if lbn else None

    def penultimate(self, x: Tensor) -> Tensor:
        """The input of the head, ``(N, widths[-1])``."""
        h = x.flatten(1)
        for layer, norm in zip(self.layers[:-1], self.norms, strict=True):
            h = torch.relu(norm(layer(h)))
        return h

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, n_out)`` (after the LBN when it is on)."""
        z = self.layers[-1](self.penultimate(x))
        return self.lbn(z) if self.lbn is not None else z

    def masks(self) -> list[Tensor]:
        """The current 0/1 masks, input layer first; ``masks()[i]`` has shape (d_out, d_in)."""
        return [layer.mask() for layer in self.layers]


def empty_units(masks: Sequence[Tensor]) -> list[dict[str, Tensor]]:
    """For each hidden layer ``l`` (between ``masks[l]`` and ``masks[l + 1]``): boolean vectors
    ``no_in`` (the unit keeps no incoming weight: an empty output channel of layer ``l``) and
    ``no_out`` (no outgoing weight: an empty input channel of layer ``l + 1``)."""
    return [{"no_in": a.sum(1) == 0, "no_out": b.sum(0) == 0}
            for a, b in zip(masks[:-1], masks[1:], strict=False)]


def p_unit_empty(n: int, fan: int, keep: int) -> float:
    """The probability that a given unit keeps none of its ``fan`` weights when ``keep`` of the
    layer's ``n`` weights are kept uniformly at random (hypergeometric):
    ``C(n - fan, keep) / C(n, keep)``, computed in log space."""
    if not 0 <= keep <= n or not 0 <= fan <= n:
        raise ValueError(f"need 0 <= keep, fan <= n; got n={n}, fan={fan}, keep={keep}")
    if keep > n - fan:
        return 0.0
    return math.exp(math.lgamma(n - fan + 1) - math.lgamma(n - fan - keep + 1)
                    - math.lgamma(n + 1) + math.lgamma(n - keep + 1))
