"""Robust subnetworks of random binary networks, measured (thesis 003 Sec. 5.1: Algorithm 5.1,
Table 5.2 / Fig. 5.1, Figs. 5.2-5.4, Tables 5.3-5.4's premise).

The experiment is :mod:`advproof.experiments.thesis_subnet` (quick mode: a 64-256-256-10 MLP
on the 8x8 digits, eps = 0.2); the checks read its cached result. The counting facts
(hypergeometric emptiness, rescaling invariance) are checked exactly or by Monte Carlo.

Claims: thesis5.alg5_1, thesis5.gamma_rule, thesis5.fig5_2, thesis5.fig5_4, thesis5.rescaling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F

from advproof import pruning
from advproof.asserts import require
from advproof.claims import ClaimSet

CLAIMS = ClaimSet("thesis5")

#: Two standard errors of a difference of two accuracies on the 359 test digits, rounded up.
NOISE = 0.08


def measured():  # noqa: ANN201 (an experiments.thesis_subnet.Result)
    """The quick-mode result of ``thesis_subnet`` (seed 0), computed once per code version."""
    from advproof.cache import cached_run

    return cached_run("thesis_subnet", "quick", seed=0)


alg5_1 = CLAIMS.claim(
    "thesis5.alg5_1",
    title="Alg. 5.1: a mask learned with PGD in the loop makes a random binary net robust",
    sources=("003 Alg. 5.1, problem (5.1)-(5.2) (Sec. 5.1.1)",),
    kind="algorithm",
    statement=r"""
Learning only a mask $\mathbf m$ (edge-popup scores with a straight-through estimator) over
frozen random weights, with the inner maximisation of (5.1) solved by PGD for every batch,
finds a subnetwork that is robust: its accuracy under attack is far above that of a mask
learned on clean inputs with the same weights and the same per-layer counts.""",
)


@alg5_1.check(kind="experiment", subject="adversarial", control="clean",
              control_label="the mask learned on clean inputs", tolerance=NOISE)
def alg5_1_robust_mask(kind: str) -> str:
    """At the largest r and gamma = 0.1: PGD-20 test accuracy of the ``kind`` mask exceeds the
    other mask's by more than two standard errors (0.08), and is at least 0.25."""
    res = measured()
    r, g = max(res.config.rates), res.config.gammas[0]
    rows = {"adversarial": res.adversarial(r, g), "clean": res.reference()}
    other = "clean" if kind == "adversarial" else "adversarial"
    a, b = rows[kind]["pgd"], rows[other]["pgd"]
    require(a >= 0.25, f"{kind} mask: PGD accuracy {a:.3f} < 0.25")
    require(a - b > NOISE, f"{kind} mask: PGD accuracy {a:.3f} vs {other} {b:.3f}: gap "
                           f"{a - b:+.3f} <= {NOISE}")
    return (f"r = {r}, gamma = {g}, eps = {res.config.eps}: PGD-20 accuracy {a:.3f} ({kind}) vs "
            f"{b:.3f} ({other}); clean {rows[kind]['clean']:.3f} vs {rows[other]['clean']:.3f}")


gamma_rule = CLAIMS.claim(
    "thesis5.gamma_rule",
    title="Table 5.2 / Fig. 5.1: a small gamma is better at a large pruning rate, a large gamma "
          "at a small one",
    sources=("003 Table 5.2, Fig. 5.1 (Sec. 5.1.2-5.1.3)", "003 eq. (5.11)"),
    kind="remark",
    statement=r"""
With the per-layer counts of (5.11), $m_i \propto n_i^\gamma$, robust accuracy at a large
pruning rate $r$ is higher for a small $\gamma$ (close to a fixed number per layer) than for
$\gamma = 1$ (a fixed rate), while at a small $r$ the order reverses: "use small $\gamma$ for
large $r$".""",
    uses=("thesis5.eq5_11",),
)


def _gamma_gap(res: Any, rate: float, small: float, large: float) -> float:
    """PGD accuracy at gamma ``small`` minus at gamma ``large``, at pruning rate ``rate``."""
    grid = res.grid("pgd")
    return grid[rate][small] - grid[rate][large]


@gamma_rule.check(kind="experiment", subject="small", control="large",
                  control_label="the reversed rule (large gamma for large r)", tolerance=NOISE)
def gamma_rule_by_rate(which: str) -> str:
    """Quick run: at the largest r the gamma named ``which`` ("small" = 0.1) beats the other by
    more than 0.08 PGD accuracy, and at the smallest r the other gamma is at least as good."""
    res = measured()
    lo, hi = min(res.config.gammas), max(res.config.gammas)
    small, large = (lo, hi) if which == "small" else (hi, lo)
    r_hi, r_lo = max(res.config.rates), min(res.config.rates)
    gap_hi, gap_lo = _gamma_gap(res, r_hi, small, large), _gamma_gap(res, r_lo, small, large)
    require(gap_hi > NOISE, f"r = {r_hi}: gamma {small} - gamma {large} = {gap_hi:+.3f} <= "
                            f"{NOISE}")
    require(gap_lo <= 0, f"r = {r_lo}: gamma {small} still ahead by {gap_lo:+.3f}")
    return (f"PGD accuracy gamma {small} - gamma {large}: {gap_hi:+.3f} at r = {r_hi}, "
            f"{gap_lo:+.3f} at r = {r_lo}")


# --- Figs. 5.2-5.4: empty channels -------------------------------------------------------------


def p_empty_exact(n: int, fan: int, keep: int) -> sp.Rational:
    """``C(n - fan, keep) / C(n, keep)`` as an exact rational (sympy)."""
    return sp.Rational(sp.binomial(n - fan, keep), sp.binomial(n, keep))


def p_empty_independent(n: int, fan: int, keep: int) -> float:
    """The with-replacement approximation ``(1 - keep / n)^fan`` (each weight kept
    independently): close for large layers, wrong for small ones."""
    return (1 - keep / n) ** fan


def monte_carlo_empty(n: int, fan: int, keep: int, draws: int, seed: int = 0) -> float:
    """The share of ``draws`` uniform ``keep``-subsets of ``n`` weights that miss a given
    ``fan`` of them."""
    rng = np.random.default_rng(seed)
    keys = rng.random((draws, n))
    kept = np.argpartition(keys, keep - 1, axis=1)[:, :keep]  # a uniform keep-subset per row
    return float(np.mean(~(kept < fan).any(axis=1)))


fig5_2 = CLAIMS.claim(
    "thesis5.fig5_2",
    title="Figs. 5.2-5.3: learned masks empty far more channels than random masks",
    sources=("003 Figs. 5.2-5.3 (Sec. 5.1.4)",),
    kind="remark",
    statement=r"""
Under random pruning that keeps $m$ of a layer's $n$ weights, a unit (channel) with $f$ weights
keeps none with probability $\binom{n-f}{m}/\binom{n}{m}$ (hypergeometric; almost zero for a
$256\to256$ $3\times3$ convolution at $r = 0.99$). The masks learned by Algorithm 5.1 at
$r = 0.99$ leave many more units without any incoming weight than random masks with the same
per-layer counts.""",
)


@fig5_2.check(kind="numeric", subject=pruning.p_unit_empty, control=p_empty_independent,
              control_label="independent keeping (1 - m/n)^f", tolerance=4.0)
def fig5_2_hypergeometric(formula: Callable[[int, int, int], float]) -> str:
    """The formula agrees with sympy's exact binomial ratio (relative 1e-9) and with 200,000
    Monte Carlo draws (within 4 standard errors) on small layers; at the thesis's 256->256
    3x3 convolution, r = 0.99, it is below 1e-10."""
    parts = []
    for n, fan, keep in ((20, 5, 6), (40, 8, 10), (30, 3, 12)):
        exact = float(p_empty_exact(n, fan, keep))
        got = formula(n, fan, keep)
        mc = monte_carlo_empty(n, fan, keep, 200_000)
        se = math.sqrt(exact * (1 - exact) / 200_000)
        require(abs(got - mc) <= 4 * se, f"n={n}, f={fan}, m={keep}: formula {got:.4f} vs "
                                         f"Monte Carlo {mc:.4f} (4 SE = {4 * se:.4f})")
        require(abs(got - exact) <= 1e-9 * exact, f"n={n}, f={fan}, m={keep}: formula {got:.6f} "
                                                  f"vs exact {exact:.6f}")
        parts.append(f"({n},{fan},{keep}): {got:.4f} = exact, MC {mc:.4f}")
    n = 9 * 256 * 256
    big = formula(n, 9 * 256, round(0.01 * n))
    require(big < 1e-10, f"256->256 conv at r = 0.99: P(empty) = {big:.2e}")
    return "; ".join(parts) + f"; 256->256 conv, r = 0.99: {big:.1e}"


def mask_counts(masks: list[torch.Tensor]) -> list[dict[str, int]]:
    """Per hidden layer: units with no incoming, no outgoing, and neither kept weight."""
    out = []
    for units in pruning.empty_units([m.bool() for m in masks]):
        no_in, no_out = units["no_in"], units["no_out"]
        out.append({"units": int(no_in.numel()), "no_in": int(no_in.sum()),
                    "no_out": int(no_out.sum()), "both": int((no_in & no_out).sum())})
    return out


def random_masks(row: dict[str, Any], widths: tuple[int, ...], seed: int = 0
                 ) -> list[torch.Tensor]:
    """Uniform random masks with the per-layer counts of a run (``row["keeps"]``)."""
    gen = torch.Generator().manual_seed(seed)
    dims = [64, *widths, 10]
    return [pruning.top_k_mask(torch.rand(b, a, generator=gen), k)
            for a, b, k in zip(dims[:-1], dims[1:], row["keeps"], strict=True)]


def learned_counts(row: dict[str, Any]) -> list[dict[str, int]]:
    """:func:`mask_counts` of a run's learned masks, from its stored per-unit counts."""
    out = []
    for m in row["masks"]:
        no_in = torch.tensor(m["in_counts"]) == 0
        no_out = torch.tensor(m["out_counts"]) == 0
        out.append({"units": m["units"], "no_in": int(no_in.sum()), "no_out": int(no_out.sum()),
                    "both": int((no_in & no_out).sum())})
    return out


def _counts(res: Any, kind: str, gamma: float) -> list[dict[str, int]]:
    row = res.adversarial(max(res.config.rates), gamma)
    if kind == "learned":
        return learned_counts(row)
    return mask_counts(random_masks(row, res.config.widths))


@fig5_2.check(kind="experiment", subject="learned", control="random",
              control_label="random masks with the same per-layer counts", tolerance=1.5)
def fig5_2_empty_units(kind: str) -> str:
    """At the largest r, for both gammas and both hidden layers, the ``kind`` masks leave at
    least 1.5 times as many units without incoming weights as the random-mask expectation."""
    res = measured()
    parts = []
    for g in res.config.gammas:
        row = res.adversarial(max(res.config.rates), g)
        for layer, (c, m) in enumerate(zip(_counts(res, kind, g), row["masks"], strict=True)):
            expected = m["random_no_in"]
            require(c["no_in"] >= 1.5 * expected,
                    f"gamma {g}, layer {layer + 1}: {c['no_in']} empty units < 1.5 x "
                    f"{expected:.1f} (random expectation)")
            parts.append(f"gamma {g} layer {layer + 1}: {c['no_in']}/{c['units']} "
                         f"(random {expected:.1f})")
    return "; ".join(parts)


fig5_4 = CLAIMS.claim(
    "thesis5.fig5_4",
    title="Fig. 5.4: empty output channels of one layer line up with empty input channels of "
          "the next",
    sources=("003 Fig. 5.4 (Sec. 5.1.4)",),
    kind="remark",
    statement=r"""
In a learned mask the units of a hidden layer that keep no outgoing weight (empty input
channels of the next layer) are the units that keep no incoming weight (empty output
channels): whole neurons are removed, which points to structured pruning.""",
)


@fig5_4.check(kind="experiment", subject="learned", control="random",
              control_label="random masks with the same per-layer counts", tolerance=0.9)
def fig5_4_alignment(kind: str) -> str:
    """At the largest r and gamma = 0.1, in each hidden layer at least 90% of the units
    without outgoing weights also have no incoming weight."""
    res = measured()
    parts = []
    for layer, c in enumerate(_counts(res, kind, res.config.gammas[0])):
        share = c["both"] / max(c["no_out"], 1)
        require(c["no_out"] > 0 and share >= 0.9,
                f"layer {layer + 1}: {c['both']} of {c['no_out']} units without outgoing "
                f"weights have no incoming weight ({share:.2f} < 0.9)")
        parts.append(f"layer {layer + 1}: {c['both']}/{c['no_out']} ({share:.2f}); "
                     f"independent {c['no_in'] * c['no_out'] / c['units']:.0f}")
    return "; ".join(parts)


# --- Tables 5.3-5.4: why binary weights and the LBN ----------------------------------------------


rescaling = CLAIMS.claim(
    "thesis5.rescaling",
    title="Binary weights predict like scaled ones; with LBN their score gradients agree too",
    sources=("003 Sec. 5.1.2 (binary initialisation, Tables 5.3-5.4)", "003 eqs. (5.12)-(5.14)"),
    kind="remark",
    statement=r"""
With batch normalisation without affine parameters after every hidden layer and a bias-free
(positively homogeneous) head, replacing the $\pm1$ weights by $\pm c_i$ (the signed Kaiming
constant) leaves the predicted labels unchanged. With a last batch normalisation on the logits
the loss and the score gradients are unchanged as well; without it the logits scale by the
head's $c_L$ and so does the gradient of every score.""",
    uses=("thesis5.lbn",),
)


def _pair(lbn: bool, head_bias: float = 0.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Logits, loss and score gradients of the binary and the SKC version of one masked net
    (same signs, scores and masks) on 128 digits, in float64; the per-class bias
    ``head_bias * (0, 1, ..., 9) / 9`` is added to the logits before the LBN (0: bias-free)."""
    from advproof import data

    d = data.load("digits", split="train", flatten=True)
    X, y = d.X[:128].double(), d.y[:128]
    out = []
    for init in ("binary", "skc"):
        net = pruning.SubnetMLP(64, (64, 64), 10, rate=0.9, gamma=0.5, init=init, lbn=False,
                                seed=3).double().train()
        bias = head_bias * torch.arange(10, dtype=torch.float64) / 9
        z = net.layers[-1](net.penultimate(X)) + bias
        if lbn:
            z = F.batch_norm(z, None, None, training=True)
        loss = F.cross_entropy(z, y)
        grads = torch.autograd.grad(loss, [layer.scores for layer in net.layers])
        out.append({"z": (z - bias).detach(), "loss": float(loss.detach()), "grads": grads,
                    "argmax": z.argmax(1), "head_scale": float(net.layers[-1].weight.abs().max())})
    return out[0], out[1]


#: Batch norm adds eps = 1e-5 to the variance, so "equal" holds to about 1e-4 here.
BN_TOL = 1e-3


@rescaling.check(kind="numeric", subject=0.0, control=2.0,
                 control_label="a head with a per-class bias (not homogeneous)", tolerance=BN_TOL)
def rescaling_argmax(head_bias: float) -> str:
    """Without LBN the bias-free SKC logits are the binary ones times the head's constant c_L
    (relative 1e-3: batch norm's eps), and the predicted labels agree on every input."""
    b, s = _pair(lbn=False, head_bias=head_bias)
    agree = float((b["argmax"] == s["argmax"]).double().mean())
    require(agree == 1.0, f"the predicted labels agree on {agree:.3f} of the inputs")
    err = float((s["z"] / s["head_scale"] - b["z"]).abs().max() / b["z"].abs().max())
    require(err < BN_TOL, f"SKC logits / c_L differ from the binary ones by {err:.1e}")
    return (f"labels agree on all 128 inputs; logits scale by c_L = {s['head_scale']:.3f} "
            f"(to {err:.0e})")


@rescaling.check(kind="numeric", subject=True, control=False,
                 control_label="no LBN (the gradients scale with c_L)", tolerance=BN_TOL)
def rescaling_score_gradients(lbn: bool) -> str:
    """The loss and every layer's score gradient agree between the binary and the SKC net to
    relative 1e-3 (batch norm's eps) when the LBN is on."""
    b, s = _pair(lbn=lbn)
    require(abs(b["loss"] - s["loss"]) <= BN_TOL * abs(b["loss"]),
            f"loss {b['loss']:.6f} (binary) vs {s['loss']:.6f} (SKC)")
    worst = max(float((gb - gs).norm() / gb.norm()) for gb, gs in zip(b["grads"], s["grads"],
                                                                       strict=True))
    require(worst <= BN_TOL, f"score gradients differ by {worst:.1e} (relative)")
    return f"loss {b['loss']:.4f} for both; score gradients agree to {worst:.1e}"
