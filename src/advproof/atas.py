"""ATAS: instance-adaptive step sizes for fast (one-gradient) adversarial training.

Thesis 003 Sec. 5.2.2, eqs. (5.15)-(5.16) and Algorithm 5.3 (Huang, Liu et al., the ATAS
preprint). Every training instance ``i`` keeps

* ``v_i``, a moving average of its squared input-gradient norm (5.15):
  ``v_i <- beta v_i + (1 - beta) ||grad_x L(f(x_i + delta_i), y_i)||_2^2``;
* ``delta_i``, its last perturbation, from which the next epoch starts (ATTA, Zheng et al.).

One FGSM-like sign step of per-instance size ``alpha_i`` is taken per epoch and per instance,
then projected on the l_inf ball (and the pixel box). Two step rules exist, and they differ:

* ``"thesis"`` (eq. 5.16, the default here): ``alpha_i = alpha / sqrt(v_i + C)``. Its
  small-gradient limit is ``alpha / sqrt(C)``; large gradients give ``~ alpha / ||g||``.
* ``"released"`` (the authors' code, ``get_adv_adaptive_step_size``):
  ``alpha_i = clip(gamma / (1 + sqrt(v_i) / c), lo, hi)`` with ``gamma = 16/255 = 2 eps``,
  ``[lo, hi] = [4/255, 14/255] = [eps/2, 1.75 eps]`` at the CIFAR budget eps = 8/255, c = 0.01,
  5 warm-up epochs at the constant step eps, and the stored perturbations re-drawn every 10
  epochs. The code also computes ``v`` from the gradient of the *batch-mean* loss (each row
  scaled by 1/B); here both rules use the per-sample loss, as the thesis writes, so ``c`` and
  ``C`` do not depend on the batch size.

Written relative to eps (``gamma = ratio * eps`` etc.) so that the rules carry over to other
budgets (the digits at eps = 0.2-0.4). :func:`fast_at` trains a model with FGSM, FGSM-RS, ATTA
or ATAS and counts the gradient evaluations and wall time per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RuleName = Literal["thesis", "released"]
RULES: tuple[str, ...] = ("thesis", "released")
METHODS: tuple[str, ...] = ("fgsm", "fgsm_rs", "atta", "atas")


def update_v(v: Tensor, grad_sq_norm: Tensor, beta: float) -> Tensor:
    """Eq. (5.15): ``beta v + (1 - beta) ||g||^2`` (per instance; ``0 <= beta < 1``)."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    if bool((grad_sq_norm < 0).any()):
        raise ValueError("squared gradient norms must be >= 0")
    return beta * v + (1.0 - beta) * grad_sq_norm


def thesis_step(v: Tensor, alpha: float, C: float) -> Tensor:
    """Eq. (5.16): ``alpha / sqrt(v + C)``; ``alpha > 0``, ``C > 0``."""
    if alpha <= 0 or C <= 0:
        raise ValueError(f"alpha and C must be > 0, got alpha={alpha}, C={C}")
    return alpha / torch.sqrt(v + C)


def released_step(v: Tensor, eps: float, c: float, *, ratio: float = 2.0, lo: float = 0.5,
                  hi: float = 1.75) -> Tensor:
    """The released code's rule ``clip(ratio eps / (1 + sqrt(v) / c), lo eps, hi eps)``.

    With eps = 8/255 the defaults give the code's ``clip(16/255 / (1 + sqrt(v)/c), 4/255,
    14/255)``.
    """
    if eps <= 0 or c <= 0 or not 0 < lo <= hi:
        raise ValueError(f"need eps > 0, c > 0, 0 < lo <= hi; got {eps}, {c}, {lo}, {hi}")
    return (ratio * eps / (1.0 + torch.sqrt(v) / c)).clamp(lo * eps, hi * eps)


@dataclass(frozen=True)
class StepRule:
    """A per-instance step rule. ``rule="thesis"``: ``alpha_ratio * eps / sqrt(v + C)`` with
    ``C``; ``rule="released"``: :func:`released_step` with ``c`` and ``warmup`` epochs at step
    eps, stored perturbations re-drawn every ``reset`` epochs (0: never)."""

    rule: RuleName = "thesis"
    beta: float = 0.5
    C: float = 0.01
    alpha_ratio: float = 0.2  # alpha / eps; the small-gradient limit is alpha / sqrt(C) = 2 eps
    c: float = 0.01
    warmup: int = 0
    reset: int = 0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"beta must lie in [0, 1), got {self.beta}")

    def step(self, v: Tensor, eps: float, epoch: int) -> Tensor:
        """The step sizes ``(N,)`` for moving averages ``v`` at ``epoch`` (0-based)."""
        if self.rule == "released":
            if epoch < self.warmup:
                return torch.full_like(v, eps)
            return released_step(v, eps, self.c)
        return thesis_step(v, self.alpha_ratio * eps, self.C)


RELEASED = StepRule(rule="released", c=0.01, warmup=5, reset=10)


def per_sample_input_grad(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """``grad_x`` of the per-sample cross-entropy (the loss is summed, so rows do not mix)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def _project(delta: Tensor, x: Tensor, eps: float, clip: tuple[float, float] | None) -> Tensor:
    delta = delta.clamp(-eps, eps)
    if clip is not None:
        delta = (x + delta).clamp(*clip) - x
    return delta


def _uniform(x: Tensor, eps: float, gen: torch.Generator) -> Tensor:
    return (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1).mul_(eps).to(x.device)


@dataclass(frozen=True)
class Alg41:
    """Thesis Alg. 4.1 (003 §4.3.5) on top of ATTA: reweighting and adaptive targets.

    After ``warmup`` epochs (one-hot targets, unit weights), every instance keeps a moving
    average ``t~ <- rho t~ + (1 - rho) softmax(f(x + Delta))`` of its adversarial output
    (started at the one-hot label), trains on the target ``t = beta 1_y + (1 - beta) t~``, and,
    with ``reweight``, enters the batch loss with the weight ``w = softmax(f(x + Delta))_y``
    (no gradient through it): ``sum_i w_i L(f(x_i + Delta_i), t_i) / sum_i w_i``. ``beta = 1``
    without reweighting is ATTA itself. ``sat`` weighs by ``w = max_j t_j`` instead, the rule
    of self-adaptive training (Huang et al. 2020; thesis Fig. 4.23 with ``beta = 0``).
    """

    reweight: bool = False
    beta: float = 1.0
    rho: float = 0.9
    warmup: int = 5
    sat: bool = False

    def __post_init__(self) -> None:
        if not (0.0 <= self.beta <= 1.0 and 0.0 <= self.rho < 1.0 and self.warmup >= 0):
            raise ValueError(f"Alg41 needs 0 <= beta <= 1, 0 <= rho < 1, warmup >= 0; got {self}")
        if self.reweight and self.sat:
            raise ValueError("Alg41: choose one weighting, reweight (true-label probability) or "
                             "sat (largest target entry)")


@dataclass
class FastATResult:
    """Per-epoch records of :func:`fast_at`: wall seconds, gradient evaluations (input-gradient
    passes + parameter-gradient passes, each one forward-backward), mean step / eps, and the
    final per-instance input-gradient norms at the clean points (``grad_norms``). With
    :class:`Alg41`: each instance's weight and its target's true-label probability, averaged
    over the epochs after the warm-up (``weights``, ``target_true``), and the final moving
    averages ``t~`` (``targets``, (N, classes))."""

    method: str
    epoch_seconds: list[float] = field(default_factory=list)
    grad_evals: list[int] = field(default_factory=list)
    mean_step: list[float] = field(default_factory=list)
    grad_norms: Tensor | None = None
    weights: Tensor | None = None
    target_true: Tensor | None = None
    targets: Tensor | None = None


def _alg41_loss(logits: Tensor, y: Tensor, idx: Tensor, alg: Alg41, tilde: Tensor, epoch: int,
                sums: Tensor) -> Tensor:
    """The batch loss of Alg. 4.1 (steps 4-6); updates ``tilde`` and the running ``sums``
    (weight, target's true-label probability) of the instances ``idx`` in place."""
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    if epoch < alg.warmup:
        target, w = onehot, torch.ones(len(y), dtype=logits.dtype, device=logits.device)
    else:
        p = logits.detach().softmax(1)
        tilde[idx] = alg.rho * tilde[idx] + (1 - alg.rho) * p
        target = alg.beta * onehot + (1 - alg.beta) * tilde[idx]
        if alg.sat:
            w = target.max(1).values
        else:
            w = p.gather(1, y[:, None])[:, 0] if alg.reweight else torch.ones_like(p[:, 0])
        sums[idx, 0] += w
        sums[idx, 1] += target.gather(1, y[:, None])[:, 0]
    per = -(target * logits.log_softmax(1)).sum(1)
    return (w * per).sum() / w.sum()


def input_grad_norms(model: nn.Module, X: Tensor, y: Tensor, batch: int = 512) -> Tensor:
    """Per-instance ``||grad_x L||_2`` at the clean points (no parameter gradients)."""
    out = [per_sample_input_grad(model, X[i:i + batch], y[i:i + batch]).flatten(1).norm(dim=1)
           for i in range(0, len(X), batch)]
    return torch.cat(out).detach()


def fast_at(
    model: nn.Module,
    X: Tensor,
    y: Tensor,
    *,
    method: str,
    eps: float,
    num_epochs: int,
    lr: float,
    batch_size: int = 64,
    alpha: float | None = None,
    rule: StepRule | None = None,
    clip: tuple[float, float] | None = (0.0, 1.0),
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    seed: int = 0,
    callback: Callable[[int, nn.Module], None] | None = None,
    alg41: Alg41 | None = None,
) -> FastATResult:
    """Train ``model`` by one-step adversarial training; returns :class:`FastATResult`.

    ``method``: "fgsm" (zero start, step ``alpha`` = eps by default), "fgsm_rs" (uniform start,
    step ``alpha``, Wong et al. use 1.25 eps), "atta" (start from the instance's previous
    perturbation, fixed step ``alpha``), "atas" (ATTA start and the per-instance ``rule``,
    default the thesis's (5.16)). SGD with momentum, learning rate ``lr`` decayed by 10 at 50%
    and 75% of the epochs. Every method costs two forward-backward passes per batch (one
    input gradient, one parameter gradient); the count is measured, not assumed. ``alg41``
    (method "atta" only) trains with the thesis's reweighting and adaptive targets instead of
    the plain cross-entropy (:class:`Alg41`), at no extra pass.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if alg41 is not None and method != "atta":
        raise ValueError(f"Alg. 4.1 runs on top of ATTA: method must be 'atta', not {method!r}")
    if eps <= 0 or num_epochs < 1 or lr <= 0 or batch_size < 1:
        raise ValueError("need eps > 0, num_epochs >= 1, lr > 0, batch_size >= 1")
    if method == "atas":
        rule = rule or StepRule()
    elif rule is not None:
        raise ValueError(f"a step rule is for method 'atas' only, not {method!r}")
    alpha = eps if alpha is None else alpha
    gen = torch.Generator().manual_seed(seed)
    n = len(X)
    memory = _uniform(X, eps, gen) if method in ("atta", "atas") else None
    if memory is not None and clip is not None:
        memory = _project(memory, X, eps, clip)
    v = torch.zeros(n, dtype=X.dtype, device=X.device)
    state: dict[str, Tensor] = {}  # Alg. 4.1: the moving-average targets and running sums
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    result = FastATResult(method)
    for epoch in range(num_epochs):
        scale = 1.0 if epoch < num_epochs // 2 else (0.1 if epoch < 3 * num_epochs // 4 else 0.01)
        for group in opt.param_groups:
            group["lr"] = lr * scale
        if (method == "atas" and rule is not None and rule.reset and epoch
                and epoch % rule.reset == 0):
            memory = _project(_uniform(X, eps, gen), X, eps, clip)
        start, evals, steps = time.perf_counter(), 0, []
        model.train()
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            xb, yb = X[idx], y[idx]
            if method == "fgsm":
                d0 = torch.zeros_like(xb)
            elif method == "fgsm_rs":
                d0 = _project(_uniform(xb, eps, gen), xb, eps, clip)
            else:
                d0 = memory[idx]
            g = per_sample_input_grad(model, xb + d0, yb)
            evals += 1
            if method == "atas":
                v[idx] = update_v(v[idx], g.flatten(1).pow(2).sum(1), rule.beta)
                step = rule.step(v[idx], eps, epoch)
            else:
                step = torch.full((len(idx),), float(alpha), dtype=X.dtype, device=X.device)
            steps.append(step)
            shape = (-1,) + (1,) * (xb.dim() - 1)
            delta = _project(d0 + step.view(shape) * g.sign(), xb, eps, clip).detach()
            if memory is not None:
                memory[idx] = delta
            opt.zero_grad(set_to_none=True)
            logits = model(xb + delta)
            if alg41 is None:
                F.cross_entropy(logits, yb).backward()
            else:
                if not state:  # the targets start at the one-hot labels
                    state["tilde"] = F.one_hot(y, logits.shape[1]).to(logits.dtype)
                    state["sums"] = torch.zeros(n, 2, dtype=logits.dtype, device=logits.device)
                _alg41_loss(logits, yb, idx, alg41, state["tilde"], epoch,
                            state["sums"]).backward()
            opt.step()
            evals += 1
        result.epoch_seconds.append(time.perf_counter() - start)
        result.grad_evals.append(evals)
        result.mean_step.append(float(torch.cat(steps).mean()) / eps)
        if callback is not None:
            callback(epoch, model)
    model.eval()
    result.grad_norms = input_grad_norms(model, X, y)
    if state and num_epochs > alg41.warmup:
        mean = state["sums"] / (num_epochs - alg41.warmup)
        result.weights, result.target_true = mean[:, 0], mean[:, 1]
        result.targets = state["tilde"]
    return result


def pgd_accuracy(model: nn.Module, X: Tensor, y: Tensor, *, eps: float, steps: int = 20,
                 restarts: int = 1, clip: tuple[float, float] | None = (0.0, 1.0),
                 seed: int = 0) -> float:
    """Accuracy under l_inf PGD (step eps/4, random start, ``restarts`` draws; a point counts
    as robust only if it is classified correctly and every restart fails)."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    with torch.no_grad():
        robust = model(X).argmax(1) == y  # a misclassified point is never robust
    for _ in range(restarts):
        delta = _project(_uniform(X, eps, gen), X, eps, clip)
        for _ in range(steps):
            g = per_sample_input_grad(model, X + delta, y)
            delta = _project(delta + eps / 4 * g.sign(), X, eps, clip)
        with torch.no_grad():
            robust &= model(X + delta).argmax(1) == y
    return float(robust.double().mean())


def clean_accuracy(model: nn.Module, X: Tensor, y: Tensor) -> float:
    """Fraction of correctly classified points."""
    with torch.no_grad():
        return float((model.eval()(X).argmax(1) == y).double().mean())


def mean_over_rms(values: Tensor) -> float:
    """``mean / sqrt(mean of squares)`` (<= 1 by Cauchy-Schwarz; small for long tails)."""
    values = values.double()
    return float(values.mean() / math.sqrt(float(values.pow(2).mean())))
