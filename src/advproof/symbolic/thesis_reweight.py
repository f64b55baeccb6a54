"""Reweighting and adaptive targets (thesis 003 §4.3.5: Alg. 4.1, Figs. 4.23-4.27): the
algorithm's reduction to ATTA, and the measurements of
:mod:`advproof.experiments.thesis_reweight` on the 8x8 digits.

Claims: thesis.alg4_1, thesis.fig4_23, thesis.fig4_24, thesis.fig4_25, thesis.fig4_26,
thesis.fig4_27.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import torch

from advproof import atas
from advproof.asserts import require
from advproof.claims import ClaimSet, Erratum

CLAIMS = ClaimSet("thesis")

#: "Strongly correlated": Pearson r of at least 0.7 (the thesis: 0.890 and 0.960).
STRONG = 0.7
#: Gaps closer than this are not told apart: about one standard error of a robust test error
#: near 0.15 on the 359 test images (sqrt(0.15 x 0.85 / 359) = 0.019).
SAME_GAP = 0.02


def measured():  # noqa: ANN201 (an experiments.thesis_reweight.Result)
    """The quick-mode result of ``thesis_reweight`` (seed 0), computed once per code version."""
    from advproof.cache import cached_run

    return cached_run("thesis_reweight", "quick", seed=0)


def shuffled(d: np.ndarray) -> np.ndarray:
    """The negative control: the values assigned to random instances (seeded by the values)."""
    seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(d).tobytes()).digest()[:8], "little")
    return np.random.default_rng(seed).permutation(d)


def _same(d: np.ndarray) -> np.ndarray:
    return d


# --- Alg. 4.1 -----------------------------------------------------------------------------------

alg4_1 = CLAIMS.claim(
    "thesis.alg4_1",
    title="Alg. 4.1: ATTA with reweighting and adaptive targets; beta = 1 without reweighting "
          "is ATTA",
    sources=("003 Alg. 4.1 and §4.3.5",),
    kind="algorithm",
    statement=r"""
One epoch: for each mini-batch, start from the cached perturbation $\Delta_i$ (ATTA), take one
PGD step of size $\alpha$ and cache the result; weight each instance by $w_i =
\mathrm{softmax}[f(\mathbf x_i + \Delta_i)]_{y_i}$ (reweighting) or 1; update the moving average
$\tilde{\mathbf t}_i \leftarrow \rho\tilde{\mathbf t}_i + (1 - \rho)\,\mathrm{softmax}[f(\mathbf
x_i + \Delta_i)]$ and set $\mathbf t_i = \beta\mathbf 1_{y_i} + (1 - \beta)\tilde{\mathbf t}_i$;
descend on $\frac{1}{\sum_i w_i}\sum_i w_i\mathcal L(f(\theta, \mathbf x_i + \Delta_i), \mathbf
t_i)$. With $\beta = 1$ and unit weights it is ATTA.""",
)


def _atta_params(alg: atas.Alg41 | None) -> torch.Tensor:
    from advproof.experiments.thesis_overfitting import Config, make_model

    gen = torch.Generator().manual_seed(0)
    X, y = torch.rand(96, 64, generator=gen), torch.randint(0, 10, (96,), generator=gen)
    model = make_model(Config(widths=(32,)), seed=1)
    atas.fast_at(model, X, y, method="atta", eps=0.1, alpha=0.05, num_epochs=3, lr=0.05,
                 batch_size=32, seed=2, alg41=alg)
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach()


@alg4_1.check(kind="numeric", subject=atas.Alg41(beta=1.0, warmup=0),
              control=atas.Alg41(beta=0.5, warmup=0), tolerance=1e-6,
              control_label="beta = 0.5 (half the target adaptive)")
def alg4_1_reduces_to_atta(alg: atas.Alg41) -> str:
    """Three epochs on random data: the parameters trained with ``alg`` (no warm-up) equal
    those of plain ATTA to 1e-6 (the soft-target loss at a one-hot target is the
    cross-entropy; the weights are 1)."""
    plain, ours = _atta_params(None), _atta_params(alg)
    diff = float((plain - ours).abs().max())
    require(diff <= 1e-6, f"largest parameter difference {diff:.2e}")
    return f"largest parameter difference to ATTA {diff:.1e} after 3 epochs"


# --- Figs. 4.26-4.27: what the weights and targets track ----------------------------------------

fig4_26 = CLAIMS.claim(
    "thesis.fig4_26",
    title="Fig. 4.26: reweighting down-weights the hard instances",
    sources=("003 Fig. 4.26 and §4.3.5",),
    kind="remark",
    statement=r"""
With reweighting, an instance's weight averaged over training correlates strongly with its
difficulty (4.30) (the thesis: 0.890 on CIFAR-10): hard instances get small weights.""",
    uses=("thesis.eq4_30", "thesis.alg4_1"),
)


@fig4_26.check(kind="experiment", subject=_same, control=shuffled, tolerance=STRONG,
               control_label="the difficulty shuffled over the instances")
def fig4_26_weight_tracks_difficulty(transform: Callable[[np.ndarray], np.ndarray]) -> str:
    """Quick run: Pearson r between the PGD difficulty and the average weight is >= 0.7."""
    res = measured()
    r = float(np.corrcoef(transform(res.difficulty), res.weights)[0, 1])
    require(r >= STRONG, f"r = {r:.3f} < {STRONG}")
    return f"Pearson r = {r:.3f} over {len(res.weights)} training instances (thesis 0.890)"


fig4_27 = CLAIMS.claim(
    "thesis.fig4_27",
    title="Fig. 4.27: adaptive targets are soft for the hard instances",
    sources=("003 Fig. 4.27 and §4.3.5",),
    kind="remark",
    statement=r"""
With adaptive targets, the true label's probability in an instance's target, averaged over
training, correlates strongly with its difficulty (the thesis: 0.960): easy instances keep
nearly one-hot targets, hard ones get soft targets.""",
    uses=("thesis.eq4_30", "thesis.alg4_1"),
)


@fig4_27.check(kind="experiment", subject=_same, control=shuffled, tolerance=STRONG,
               control_label="the difficulty shuffled over the instances")
def fig4_27_target_tracks_difficulty(transform: Callable[[np.ndarray], np.ndarray]) -> str:
    """Quick run, beta = 0.1 (the thesis's): Pearson r between the PGD difficulty and the
    target's average true-label probability is >= 0.7."""
    res = measured()
    r = float(np.corrcoef(transform(res.difficulty), res.target_true["beta=0.1"])[0, 1])
    require(r >= STRONG, f"r = {r:.3f} < {STRONG}")
    return f"Pearson r = {r:.3f} (beta = 0.1; thesis 0.960)"


# --- Figs. 4.24-4.25: the generalisation gap ----------------------------------------------------

def _gaps(runs: Sequence[str]) -> dict[str, float]:
    res = measured()
    return {k: res.gap(k) for k in runs}


def _line(gaps: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in gaps.items())


fig4_24 = CLAIMS.claim(
    "thesis.fig4_24",
    title="Fig. 4.24: the generalisation gap shrinks as beta decreases (not reproduced on the "
          "digits: no gap to shrink)",
    sources=("003 Fig. 4.24 and §4.3.5",),
    kind="remark",
    statement=r"""
The more adaptive the target (the smaller $\beta$ in Alg. 4.1), the smaller the gap between
the robust test error and the robust training error.""",
    uses=("thesis.alg4_1",),
    erratum=Erratum(
        printed=r"\mathrm{gap}(\beta) \text{ decreasing as } \beta \downarrow",
        problem="Not reproduced on the digits (the 2 x 256 MLP, eps = 0.1, 30 epochs, one "
                "seed): the gaps at beta = 1 (ATTA), 0.5 and 0.1 are not ordered, and all lie "
                "within 0.02 of each other, about one standard error of a robust test error on "
                "359 images (check fig4_24_gap_shrinks_printed). ATTA barely overfits here, so "
                "there is no gap for the targets to close; the toy neither confirms nor refutes "
                "the CIFAR-10 curves.",
        corrected=r"\text{on the digits: } |\mathrm{gap}(\beta) - \mathrm{gap}(\beta')| \le "
                  r"0.02",
    ),
)

BETA_RUNS = ("atta", "beta=0.5", "beta=0.1")  # beta = 1, 0.5, 0.1


def _decreasing(v: Sequence[float]) -> bool:
    return all(b < a for a, b in zip(v, v[1:], strict=False))


@fig4_24.check(kind="experiment", subject=_decreasing, control=lambda v: not _decreasing(v),
               refutes=True, reproduction=True,
               control_label="the gaps are not ordered (must hold)")
def fig4_24_gap_shrinks_printed(statement: Callable[[Sequence[float]], bool]) -> str:
    """Printed reading on the quick run: the final gap strictly decreases along beta = 1 (ATTA),
    0.5, 0.1."""
    gaps = _gaps(BETA_RUNS)
    require(statement(list(gaps.values())), f"gaps {_line(gaps)}")
    return f"gaps {_line(gaps)}"


@fig4_24.check(kind="experiment", subject="gap", control="robust_test", tolerance=SAME_GAP,
               control_label="the robust test errors in place of the gaps")
def fig4_24_gaps_alike(what: str) -> str:
    """Quick run: the final ``what`` of the four runs (ATTA, reweighting, beta = 0.5, 0.1) span
    at most 0.02. (Their robust test errors do not: the methods change the errors, not the
    gap.)"""
    res = measured()
    vals = {k: (res.gap(k) if what == "gap" else res.curves[k][what][-1])
            for k in ("atta", "reweight", *BETA_RUNS[1:])}
    spread = max(vals.values()) - min(vals.values())
    require(spread <= SAME_GAP, f"{what} spread {spread:.4f}: {_line(vals)}")
    return f"{what} spread {spread:.4f}: {_line(vals)}"


fig4_25 = CLAIMS.claim(
    "thesis.fig4_25",
    title="Fig. 4.25: reweighting shrinks ATTA's generalisation gap (not reproduced on the "
          "digits)",
    sources=("003 Fig. 4.25 and §4.3.5",),
    kind="remark",
    statement=r"""
ATTA with reweighting (after 5 warm-up epochs) has a smaller gap between robust test and robust
training error than ATTA without: reweighting prevents adversarial overfitting.""",
    uses=("thesis.alg4_1",),
    erratum=Erratum(
        printed=r"\mathrm{gap}_{\text{ATTA+RW}} < \mathrm{gap}_{\text{ATTA}}",
        problem="Not reproduced on the digits: reweighting raises both robust errors and leaves "
                "the gap slightly larger than ATTA's, by less than the 0.02 that separates "
                "measurable gaps here (checks fig4_25_reweighting_printed and, for all four "
                "runs, fig4_24_gaps_alike); the toy neither confirms nor refutes the CIFAR-10 "
                "curves.",
        corrected=r"\text{on the digits: } |\mathrm{gap}_{\text{ATTA+RW}} - "
                  r"\mathrm{gap}_{\text{ATTA}}| \le 0.02",
    ),
)


@fig4_25.check(kind="experiment", subject=("reweight", "atta"), control=("atta", "reweight"),
               refutes=True, reproduction=True,
               control_label="the runs swapped (ATTA's gap the smaller, must hold)")
def fig4_25_reweighting_printed(pair: tuple[str, str]) -> str:
    """Printed reading on the quick run: the first run's final gap is below the second's."""
    gaps = _gaps(pair)
    require(gaps[pair[0]] < gaps[pair[1]], f"gaps {_line(gaps)}")
    return f"gaps {_line(gaps)}"


# --- Fig. 4.23: the case studies IAT and SAT ----------------------------------------------------

#: "Much better": the hardest group's accuracy on its adaptive targets exceeds that on its labels
#: by at least this much, while the easiest group's two accuracies agree within ``SAME_GAP``.
MUCH_BETTER = 0.2

fig4_23 = CLAIMS.claim(
    "thesis.fig4_23",
    title="Fig. 4.23: instance-adaptive budgets (IAT) and self-adaptive training (SAT) treat the "
          "hard instances as Alg. 4.1 does",
    sources=("003 Fig. 4.23 and §4.3.5",),
    kind="remark",
    statement=r"""
Two published methods act on the hard instances without naming them. (a) IAT gives each
instance its own budget $\epsilon_i$, raised when the instance resists its attack and lowered
when it does not: the average $\epsilon_i$ correlates with the difficulty (the thesis: 0.884),
so hard instances train at small budgets. (b) SAT trains on moving-average targets weighted by
their largest entry: the average weight falls from the easy to the hard groups, and (c) the hard
groups fit their adaptive targets much better than their labels.""",
    uses=("thesis.eq4_30", "thesis.eq4_32", "thesis.alg4_1"),
)


@fig4_23.check(kind="experiment", subject=_same, control=shuffled, tolerance=STRONG,
               control_label="the difficulty shuffled over the instances")
def fig4_23_iat_budget_tracks_difficulty(transform: Callable[[np.ndarray], np.ndarray]) -> str:
    """Quick run: Pearson r between the PGD difficulty and the average IAT budget is >= 0.7."""
    res = measured()
    r = float(np.corrcoef(transform(res.difficulty), res.iat_eps)[0, 1])
    require(r >= STRONG, f"r = {r:.3f} < {STRONG}")
    means = ", ".join(f"{v:.2f}" for v in res.group_means(res.iat_eps))
    return f"Pearson r = {r:.3f} (thesis 0.884); mean budget / eps by group G0..G9: {means}"


@fig4_23.check(kind="experiment", subject="measured", control="reversed", tolerance=0.0,
               control_label="the groups in reverse order")
def fig4_23_sat_weights_rise_with_ease(order: str) -> str:
    """Quick run: the average SAT weight per difficulty group strictly increases from G0
    (hardest) to G9 (easiest)."""
    res = measured()
    w = res.group_means(res.sat_weights)
    w = w if order == "measured" else w[::-1]
    line = ", ".join(f"{v:.3f}" for v in w)
    require(all(b > a for a, b in zip(w, w[1:], strict=False)), f"weights by group: {line}")
    return f"mean SAT weight by group G0..G9: {line}"


@fig4_23.check(kind="experiment", subject=("target", "label"), control=("label", "target"),
               tolerance=MUCH_BETTER, control_label="labels and targets swapped")
def fig4_23_sat_hard_fit_targets(pair: tuple[str, str]) -> str:
    """Quick run, final SAT model, PGD-10 on the training set: in the hardest group G0 the
    accuracy on ``pair[0]`` exceeds that on ``pair[1]`` by >= 0.2; in the easiest, G9, they
    agree within 0.02."""
    acc = measured().sat_group_acc
    hard = acc[pair[0]][0] - acc[pair[1]][0]
    easy = acc[pair[0]][-1] - acc[pair[1]][-1]
    detail = (f"G0: {pair[0]} {acc[pair[0]][0]:.3f} vs {pair[1]} {acc[pair[1]][0]:.3f}; "
              f"G9: {acc[pair[0]][-1]:.3f} vs {acc[pair[1]][-1]:.3f}")
    require(hard >= MUCH_BETTER and abs(easy) <= SAME_GAP, detail)
    return detail
