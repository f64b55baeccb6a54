"""Dual norms and their maximisers: the one formula behind FGSM, FGM and the linear worst cases.

For ``1/p + 1/q = 1``, Hoelder's inequality gives ``<v, d> <= ||v||_q ||d||_p``, with equality at

    d*(v) = sign(v) |v|^{q-1} / ||v||_q^{q-1}         (||d*||_p = 1),

so ``max_{||d||_p <= eps} <v, d> = eps ||v||_q``. p = inf gives ``sign(v)`` (FGSM), p = 2 gives
``v / ||v||_2`` (FGM), p = 1 a signed one-hot at ``argmax |v_j|``. Everything here works on the
last dimension of a tensor, so a batch of gradients ``(N, D)`` gives a batch of maximisers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _check_p(p: float) -> float:
    if not isinstance(p, int | float) or isinstance(p, bool) or not p >= 1:
        raise ValueError(f"p must be a number >= 1 or math.inf, got {p!r}")
    return float(p)


def dual_exponent(p: float) -> float:
    """q with 1/p + 1/q = 1 (inf for p = 1, 1 for p = inf)."""
    p = _check_p(p)
    if p == 1.0:
        return math.inf
    if p == math.inf:
        return 1.0
    return p / (p - 1.0)


def dual_norm(v: Tensor, p: float) -> Tensor:
    """||v||_q over the last dimension, q the dual exponent of p."""
    return torch.linalg.vector_norm(v, ord=dual_exponent(p), dim=-1)


def dual_maximiser(v: Tensor, p: float) -> Tensor:
    """argmax_{||d||_p <= 1} <v, d> over the last dimension (ties broken towards the first
    index for p = 1; d = 0 where v = 0). ``eps * dual_maximiser(g, p)`` is the steepest-ascent
    step of the linearised loss on the l_p ball of radius eps."""
    p = _check_p(p)
    if p == math.inf:
        return torch.sign(v)
    if p == 1.0:
        j = v.abs().argmax(dim=-1, keepdim=True)
        return torch.zeros_like(v).scatter(-1, j, torch.sign(v.gather(-1, j)))
    q = dual_exponent(p)
    norm = dual_norm(v, p).unsqueeze(-1).clamp_min(torch.finfo(v.dtype).tiny)
    return torch.sign(v) * (v.abs() / norm) ** (q - 1)
