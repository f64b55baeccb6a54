"""Model capacity and dead neurons (Liu et al. 004 §6 and App. C.2.4, Fig. 14; thesis 003
Fig. 4.14), measured on the 8x8 digits by :mod:`advproof.experiments.liu_capacity`, plus the
exact mechanism of a dead layer on a small net.

Claims: liu.fig14, liu.dead_neurons.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from advproof.asserts import require
from advproof.claims import ClaimSet

CLAIMS = ClaimSet("liu")


def measured():  # noqa: ANN201 (an experiments.liu_capacity.Result)
    """The quick-mode result of ``liu_capacity`` (seed 0), computed once per code version."""
    from advproof.cache import cached_run

    return cached_run("liu_capacity", "quick", seed=0)


fig14 = CLAIMS.claim(
    "liu.fig14",
    title="Fig. 14 / Fig. 4.14: with a constant eps small networks fail more often than with a "
          "ramped eps",
    sources=("004 App. C.2.4, Fig. 14", "003 Fig. 4.14 (Sec. 4.2)"),
    kind="remark",
    statement=r"""
Adversarial training needs capacity: small networks trained with a constant budget $\epsilon$
fail (end as constant classifiers) more often than the same networks trained with $\epsilon$
ramped up from 0 (the linear or cosine schedules of (5)), and large networks train under every
schedule.""",
    uses=("liu.eq5",),
)


@fig14.check(kind="experiment", subject=("constant", "cosine"), control=("cosine", "constant"),
             control_label="the schedules swapped (the ramp failing more often)", tolerance=3)
def fig14_failures(pair: tuple[str, str]) -> str:
    """Quick run (widths 2-64, two seeds, eps = 0.2): the first schedule of ``pair`` ends as a
    constant classifier at least 3 more times than the second, every failure of the second is
    also one of the first, and the widest net never fails."""
    res = measured()
    first, second = (set(res.failures(s)) for s in pair)
    require(len(first) >= len(second) + 3,
            f"{pair[0]} fails {len(first)} times, {pair[1]} {len(second)} times")
    require(second <= first, f"{pair[1]} fails where {pair[0]} does not: {sorted(second - first)}")
    widest = max(res.config.widths)
    require(all(w != widest for w, _ in first | second), f"width {widest} failed")
    return (f"constant classifiers (width, seed): {pair[0]} {sorted(first)}, {pair[1]} "
            f"{sorted(second)}; linear {sorted(res.failures('linear'))}")


dead_neurons = CLAIMS.claim(
    "liu.dead_neurons",
    title="Adversarial training favours dead ReLUs; a layer dead on every input leaves a constant "
          "classifier that cannot be trained",
    sources=("004 §6 (dead neurons)", "004 App. C.2.4"),
    kind="remark",
    statement=r"""
Adversarial training favours dead neurons, whose output does not depend on the perturbation:
the share of ReLU units inactive on every training input grows with $\epsilon$. If all units of
one layer are dead for all inputs, the layers after it give a constant output and the layers
before it get no gradient, so training is stuck among constant classifiers.""",
)


def _dead_layer_net(alive: int) -> tuple[torch.nn.Sequential, torch.Tensor]:
    """A 5-6-4-3 ReLU net, float64, whose second hidden layer has ``alive`` live units (the
    others have bias -100), and 32 inputs in [0, 1]."""
    gen = torch.Generator().manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4),
                              torch.nn.ReLU(), torch.nn.Linear(4, 3)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        net[2].bias[alive:] = -100.0
        net[2].bias[:alive] = 100.0
    return net, torch.rand(32, 5, generator=gen, dtype=torch.float64)


@dead_neurons.check(kind="numeric", subject=0, control=1,
                    control_label="one unit of the layer alive", tolerance=0.0)
def dead_layer_mechanism(alive: int) -> str:
    """With ``alive`` live units in a hidden layer: the logits are the same for every input, and
    the loss gradient of every parameter before that layer is exactly zero."""
    net, X = _dead_layer_net(alive)
    z = net(X)
    spread = float((z - z[0]).detach().abs().max())
    require(spread == 0.0, f"logits vary across inputs by {spread:.2e}")
    loss = torch.nn.functional.cross_entropy(z, torch.arange(32) % 3)
    grads = torch.autograd.grad(loss, [net[0].weight, net[0].bias])
    g = max(float(t.abs().max()) for t in grads)
    require(g == 0.0, f"first-layer gradient {g:.2e}")
    return "constant logits on 32 inputs; first-layer gradient exactly 0"


@dead_neurons.check(kind="experiment", subject=list, control=lambda v: v[::-1],
                    control_label="the same shares in reverse eps order", tolerance=0.0)
def dead_share_grows_with_eps(order: Callable[[list[float]], list[float]]) -> str:
    """Quick run, width 64, constant eps in {0, 0.1, 0.2, 0.3}: the share of dead hidden units
    strictly increases with eps."""
    res = measured()
    shares = order(res.mean_dead())
    require(all(b > a for a, b in zip(shares, shares[1:], strict=False)),
            "not increasing: " + ", ".join(f"{s:.3f}" for s in shares))
    return ("dead share at eps " + ", ".join(f"{e}: {s:.3f}" for e, s in
                                             zip(res.config.dead_eps, shares, strict=True)))


@dead_neurons.check(kind="experiment", subject=1.0, control=0.5,
                    control_label="a layer only half dead", tolerance=0.0)
def fully_dead_layer_is_constant(share: float) -> str:
    """Quick run, capacity grid: every net with a hidden layer whose dead share is at least
    ``share`` is a constant classifier, and there is at least one such net."""
    res = measured()
    rows = [r for r in res.capacity if max(r["dead"]) >= share]
    require(len(rows) > 0, f"no net has a layer with dead share >= {share}")
    bad = [(r["width"], r["schedule"], r["seed"], r["classes"]) for r in rows if r["classes"] > 1]
    require(not bad, f"nets with such a layer that still predict several classes: {bad}")
    return f"{len(rows)} nets with a fully dead layer, all constant classifiers"
