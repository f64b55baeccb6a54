"""Claims of Cheng et al.'s influence figures: 000 Figs. 2-3 / 001 Figs. 3-4.

Both figures are empirical: they show *trends* on PGD-trained nets, with no numbers. The book
measures them on chapter 4's PGD-trained CNN (:mod:`advproof.experiments.cheng_influence`) and
states each trend as a rank statistic with a threshold fixed before the run. The control is the
same statistic along the input energy ``||x||^2``, which scales the weight gradient
(``g_W = g_h x^T``) but is not part of Theorem 3's ``A``: a check that passed along it would not
be measuring Theorem 3.

Claims: cheng.fig2, cheng.fig3.
"""

from __future__ import annotations

from advproof.asserts import fmt, require
from advproof.claims import ClaimSet

CLAIMS = ClaimSet("cheng")

#: The minimum Spearman rho of a scatter panel, and of the group trend of the cosine.
MIN_RHO = 0.5
MIN_TREND = 0.8


def measured():  # noqa: ANN201 (an experiments.cheng_influence.Result)
    """The quick-mode result of ``cheng_influence`` (seed 0), computed once per code version."""
    from advproof.cache import cached_run

    return cached_run("cheng_influence", "quick", seed=0)


fig2 = CLAIMS.claim(
    "cheng.fig2",
    title="Fig. 2 (000) / Fig. 3 (001): samples with large H_z, H_z||g~_x||^2 and A_hat have "
    "more impact on adversarial training",
    sources=("000 Fig. 2 (§3.2, Exp. verif. 2 of Thm 3)", "001 Fig. 3 (§3.3)"),
    kind="remark",
    statement=r"""
On an adversarially trained net, the impact of a sample on the adversarial weight update, both
$\|\Delta g_W\|$ and $|\tilde g_x^T\Delta\tilde g_x|$, is larger for samples with larger $H_z$,
larger $H_z\|\tilde g_x\|^2$ and larger $\hat{\mathcal A}$ (000:
$\hat{\mathcal A} = \sum_t \alpha H_z^{(t)}\|\tilde g_{x+\hat\delta^{(t)}}\|^2$; 001: the same with
the path mean $\bar H_z$).""",
)


@fig2.check(
    kind="experiment",
    subject="theory",
    control="x_norm2",
    tolerance=MIN_RHO,
    control_label="the input energy ||x||^2 as the x-axis",
)
def fig2_rank_trend(axes: str) -> str:
    """Quick run (PGD-trained CNN, digits 3 vs 8, every training image, raw attack alpha = 0.02,
    100 steps): Spearman rho >= 0.5 between each impact and each x-axis of the figure."""
    from advproof.experiments.cheng_influence import CONTROL_AXIS, X_AXES

    rho = measured().correlations()
    keys = list(X_AXES) if axes == "theory" else [CONTROL_AXIS]
    pairs = [(yk, xk, rho[yk][xk]) for yk in rho for xk in keys]
    for yk, xk, r in pairs:
        require(r >= MIN_RHO, f"rho({xk}, {yk}) = {r:.2f} < {MIN_RHO}")
    lo = min(pairs, key=lambda p: p[2])
    return (
        f"rho between {fmt(lo[2])} ({lo[1]} vs {lo[0]}) and "
        f"{fmt(max(p[2] for p in pairs))} over {len(pairs)} panels"
    )


fig3 = CLAIMS.claim(
    "cheng.fig3",
    title="Fig. 3 (000) / Fig. 4 (001): the weight-gradient change of high-A_hat samples points "
    "along the mean update",
    sources=("000 Fig. 3 (§3.2)", "001 Fig. 4 (§3.3)"),
    kind="remark",
    statement=r"""
The cosine between a sample's $\Delta g_W$ and the mean $\Delta\bar g_W$ over the samples
increases with $\hat{\mathcal A}$ (001: averaged in ten groups by $\hat{\mathcal A}$), for
attacks of 100, 150 and 200 steps: the high-$\hat{\mathcal A}$ samples dominate the
adversarial update.""",
)


@fig3.check(
    kind="experiment",
    subject="A_hat",
    control="x_norm2",
    tolerance=MIN_TREND,
    control_label="the ten groups formed by ||x||^2 instead of A_hat",
)
def fig3_cosine_by_group(by: str) -> str:
    """Quick run, ten equal-size groups: Spearman rho(group, mean cosine) >= 0.8 for each attack
    length, and the top group's mean cosine exceeds the bottom group's."""
    res = measured()
    parts = []
    for m in res.cos:
        g = res.group_means(m, by)
        r = res.trend(m, by)
        require(r >= MIN_TREND, f"m = {m}: rho(group by {by}, mean cosine) = {r:.2f} < {MIN_TREND}")
        require(
            g["cos"][-1] > g["cos"][0],
            f"m = {m}: top group cosine {g['cos'][-1]:.2f} <= bottom {g['cos'][0]:.2f}",
        )
        parts.append(f"m={m}: rho {r:.2f}, cos {g['cos'][0]:.2f} -> {g['cos'][-1]:.2f}")
    return "; ".join(parts)
