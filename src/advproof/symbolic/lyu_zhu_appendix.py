"""Lyu & Zhu (002) App. C.1-C.2, Figs. 3 and 5, measured: the normalised adversarial margin
after the adversarial examples are fitted, with 10 classes (outside the theory) and with the
theory's exponential loss on a wide two-layer net.

The experiment is :mod:`advproof.experiments.lyuzhu_appendix` (quick mode, 8x8 digits); the
checks read its cached result. Claims: lyuzhu.fig3, lyuzhu.fig5.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from advproof.asserts import require
from advproof.claims import ClaimSet

CLAIMS = ClaimSet("lyuzhu")


def measured():  # noqa: ANN201 (an experiments.lyuzhu_appendix.Result)
    """The quick-mode result of ``lyuzhu_appendix`` (seed 0), computed once per code version."""
    from advproof.cache import cached_run

    return cached_run("lyuzhu_appendix", "quick", seed=0)


def after_separation(fig: str) -> tuple[list[int], list[float]]:
    """The checkpoints (epochs) and minimum normalised margins from the first checkpoint at
    which the adversarial training accuracy is 1 on."""
    res = measured()
    k = res.separated_at(fig)
    require(k is not None, f"{fig}: the adversarial training accuracy never reaches 1")
    curve = getattr(res, fig)
    return curve["epochs"][k:], curve["margin"][k:]


def reversed_in_time(series: list[float]) -> list[float]:
    """The negative control: the same values in reverse order."""
    return series[::-1]


fig3 = CLAIMS.claim(
    "lyuzhu.fig3",
    title="Fig. 3 (outside the theory): 10 classes, cross-entropy FGSM: the normalised "
          "multi-class margin keeps rising after 100% adversarial training accuracy",
    sources=("002 App. C.1, Fig. 3",),
    kind="remark",
    statement=r"""
A bias-free ReLU network trained on 10 classes with cross-entropy FGSM adversarial training
reaches 100% adversarial training accuracy, and afterwards its normalised multi-class
adversarial margin $\min_i(f_{y_i} - \max_{j\ne y_i}f_j)(\mathbf x_i + \boldsymbol\delta_i)/\rho$
keeps increasing. Lemma 3 and Theorems 3-5 cover binary margins with scale-invariant
perturbations only: this is an observation outside the theory.""",
)


@fig3.check(kind="experiment", subject=list, control=reversed_in_time,
            control_label="the same margins in reverse order", tolerance=1.5)
def fig3_margin_rises(order: Callable[[list[float]], list[float]]) -> str:
    """Quick run: after separation the margin is positive and strictly increasing at every
    checkpoint, and its final value is at least 1.5 times the value at separation."""
    epochs, m = after_separation("fig3")
    m = order(m)
    require(len(m) >= 3, f"only {len(m)} checkpoints after separation")
    require(m[0] > 0, f"margin at separation {m[0]:.2e} <= 0")
    require(all(b > a for a, b in zip(m, m[1:], strict=False)),
            "not increasing: " + ", ".join(f"{v:.2e}" for v in m))
    require(m[-1] >= 1.5 * m[0], f"final {m[-1]:.2e} < 1.5 x {m[0]:.2e}")
    return (f"separated at epoch {epochs[0]}; margin " +
            " -> ".join(f"{v:.2e}" for v in m) + f" (epochs {epochs[0]}-{epochs[-1]})")


fig5 = CLAIMS.claim(
    "lyuzhu.fig5",
    title="Fig. 5: exponential loss, l2-FGM, wide two-layer net: the normalised margin "
          "increases after separation, and slows down",
    sources=("002 App. C.2, Fig. 5",),
    kind="remark",
    statement=r"""
With the exponential loss, $\ell_2$-FGM adversarial training and a wide two-layer bias-free ReLU
network (the setting of Theorems 3-5), the normalised adversarial margin increases after the
adversarial examples are fitted, but slowly: after a first jump its gain per epoch falls to a
fraction of the early rate (002: "extremely slowly").""",
)


@fig5.check(kind="experiment", subject=list, control=reversed_in_time,
            control_label="the same margins in reverse order", tolerance=0.5)
def fig5_margin_rises_slowly(order: Callable[[list[float]], list[float]]) -> str:
    """Quick run: after separation the margin is strictly increasing at every checkpoint, and
    every later gain per epoch is at most half of the first one."""
    epochs, m = after_separation("fig5")
    m = order(m)
    require(len(m) >= 3, f"only {len(m)} checkpoints after separation")
    require(all(b > a for a, b in zip(m, m[1:], strict=False)),
            "not increasing: " + ", ".join(f"{v:.2e}" for v in m))
    rates = np.diff(m) / np.diff(epochs)
    require(bool(np.all(rates[1:] <= 0.5 * rates[0])),
            "gain per epoch not slowing: " + ", ".join(f"{r:.1e}" for r in rates))
    return (f"separated at epoch {epochs[0]}; margin " + " -> ".join(f"{v:.2e}" for v in m)
            + "; gain per epoch " + ", ".join(f"{r:.1e}" for r in rates))
