"""Instance difficulty belongs to the data and the perturbation, not to the model (thesis 003
§4.3.1, Table 4.3, Fig. 4.15), measured on the 8x8 digits by
:mod:`advproof.experiments.thesis_difficulty`.

Claims: thesis.table4_3, thesis.fig4_15, thesis.fig4_17, thesis.fig4_21 and (on the test set
under corruptions, :mod:`advproof.experiments.thesis_corruptions`) thesis.table4_4.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from advproof import difficulty as dif
from advproof.asserts import require
from advproof.claims import ClaimSet, Erratum

CLAIMS = ClaimSet("thesis")

#: "Small" D-distance: under a third of the null value 1/3 of unrelated rankings.
SMALL = 0.1


def measured():  # noqa: ANN201 (an experiments.thesis_difficulty.Result)
    """The quick-mode result of ``thesis_difficulty`` (seed 0), computed once per code version."""
    from advproof.cache import cached_run

    return cached_run("thesis_difficulty", "quick", seed=0)


def shuffled(d: np.ndarray) -> np.ndarray:
    """The negative control: the same difficulty values assigned to random instances (a
    permutation seeded by the values' bytes, so every run gets its own)."""
    seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(d).tobytes()).digest()[:8], "little")
    return np.random.default_rng(seed).permutation(d)


table4_3 = CLAIMS.claim(
    "thesis.table4_3",
    title="Table 4.3: difficulty hardly depends on the architecture or the run, but on the "
          "perturbation",
    sources=("003 Table 4.3 and §4.3.1",),
    kind="remark",
    statement=r"""
The D-distances (4.31) between the difficulty functions of adversarially trained models of
different architectures, or of different runs, are small: the difficulty is a property of the
data. Between clean and adversarial (PGD) training the distance is much larger: the difficulty
depends on the perturbation applied to the input.""",
    uses=("thesis.eq4_30", "thesis.d_null"),
)


@table4_3.check(kind="experiment", subject=lambda d: d, control=shuffled,
                control_label="each run's difficulty values shuffled over the instances",
                tolerance=SMALL)
def table4_3_model_and_run_small(transform: Callable[[np.ndarray], np.ndarray]) -> str:
    """Quick run, PGD training: the mean D-distance between the two architectures and between
    two runs of each is below 0.1 (the null value of unrelated rankings is 1/3)."""
    res = measured()
    cfg = res.config
    d = {(a, s): transform(res.d(a, "pgd", s)) for a in cfg.archs for s in cfg.seeds}
    pairs = {}
    for i, a1 in enumerate(cfg.archs):
        for a2 in cfg.archs[i:]:
            vals = [dif.d_distance(d[a1, s1], d[a2, s2]) for s1 in cfg.seeds for s2 in cfg.seeds
                    if a1 != a2 or s1 < s2]
            pairs[f"{a1}-{a2}"] = float(np.mean(vals))
    for name, v in pairs.items():
        require(v < SMALL, f"D({name}) = {v:.3f} >= {SMALL}")
    return ", ".join(f"D({k}) {v:.3f}" for k, v in pairs.items()) + \
        f" (null {dif.d_null(len(next(iter(d.values())))):.3f})"


@table4_3.check(kind="experiment", subject="clean", control="fgsm",
                control_label="FGSM training in place of clean training", tolerance=2.0)
def table4_3_perturbation_large(other: str) -> str:
    """Quick run: the D-distance between ``other`` training and PGD training is at least twice
    the largest of PGD's run-to-run and architecture distances."""
    res = measured()
    cfg = res.config
    across = res.method_distance(other, "pgd")
    within = max([res.method_distance("pgd", "pgd")]
                 + [res.arch_distance(a1, a2) for a1 in cfg.archs for a2 in cfg.archs])
    require(across >= 2 * within, f"D({other}, pgd) = {across:.3f} < 2 x {within:.3f}")
    return f"D({other}, pgd) = {across:.3f} vs at most {within:.3f} between models and runs"


fig4_15 = CLAIMS.claim(
    "thesis.fig4_15",
    title="Fig. 4.15: loss-based and 0-1-error-based difficulties agree",
    sources=("003 Fig. 4.15 and §4.3.1",),
    kind="remark",
    statement=r"""
The difficulty computed from the average loss and the one computed from the average 0-1 error
of each training instance are strongly correlated (the thesis: 0.9466 and 0.9545 on CIFAR-10),
so either can measure difficulty; the loss is finer-grained.""",
    uses=("thesis.eq4_30",),
)


@fig4_15.check(kind="experiment", subject=lambda d: d, control=shuffled,
               control_label="the 0-1 difficulty shuffled over the instances", tolerance=0.85)
def fig4_15_correlation(transform: Callable[[np.ndarray], np.ndarray]) -> str:
    """Quick run: for every adversarially trained run (FGSM or PGD, both architectures, both
    seeds) the Pearson correlation of the two difficulties is at least 0.85."""
    res = measured()
    rs = {}
    for key, d in res.loss_d.items():
        if key.split("/")[1] == "clean":
            continue
        rs[key] = float(np.corrcoef(d, transform(res.error_d[key]))[0, 1])
    low = {k: round(v, 3) for k, v in rs.items() if v < 0.85}
    require(not low, f"correlation below 0.85: {low}")
    return f"Pearson r from {min(rs.values()):.3f} to {max(rs.values()):.3f} over {len(rs)} runs"


def overfitting_measured():  # noqa: ANN201 (an experiments.thesis_overfitting.Result)
    """The quick-mode result of ``thesis_overfitting`` (seed 0), computed once per code version."""
    from advproof.cache import cached_run

    return cached_run("thesis_overfitting", "quick", seed=0)


fig4_17 = CLAIMS.claim(
    "thesis.fig4_17",
    title="Fig. 4.17(a): PGD training on the hardest instances fails to fit them",
    sources=("003 Fig. 4.17 and §4.3.2",),
    kind="remark",
    statement=r"""
Trained by PGD on a class-balanced subset of the hardest training instances (by the difficulty
(4.30)), a model reaches a much lower robust training accuracy than on a random subset of the
same size, which it fits less than a subset of the easiest instances. (Fig. 4.17 also shows
robust overfitting appearing first and strongest on the hard subset; see the chapter for what
this scale shows of that.)""",
    uses=("thesis.eq4_30",),
)


@fig4_17.check(kind="experiment", subject=("easy", "random", "hard"),
               control=("hard", "random", "easy"),
               control_label="the subsets' names swapped (hard as easy)", tolerance=0.2)
def fig4_17_hard_subset_unfitted(order: tuple[str, str, str]) -> str:
    """Quick run: final robust (PGD) training accuracy under PGD training strictly decreases
    along ``order``, and the last subset's is at least 0.2 below the middle one's."""
    runs = overfitting_measured().summary()["runs"]
    acc = [runs[f"{s}/pgd"]["final_robust_train"] for s in order]
    require(acc[0] > acc[1] > acc[2], "not decreasing: " +
            ", ".join(f"{s} {a:.3f}" for s, a in zip(order, acc, strict=True)))
    require(acc[1] - acc[2] >= 0.2, f"{order[2]} {acc[2]:.3f} not 0.2 below {order[1]} "
                                    f"{acc[1]:.3f}")
    return "final robust training accuracy: " + ", ".join(
        f"{s} {a:.3f}" for s, a in zip(order, acc, strict=True))


def corruptions_measured():  # noqa: ANN201 (an experiments.thesis_corruptions.Result)
    """The quick-mode result of ``thesis_corruptions`` (seed 0), computed once per code
    version."""
    from advproof.cache import cached_run

    return cached_run("thesis_corruptions", "quick", seed=0)


#: How many times a row's run-to-run D-distance a corruption's must be to count as "much
#: larger" (the thesis: 0.13-0.32 against at most 0.036, a factor of 3.6 or more).
MUCH = 1.5

table4_4 = CLAIMS.claim(
    "thesis.table4_4",
    title="Table 4.4: difficulty under common corruptions differs from clean / FGSM / PGD "
          "difficulty (only for the adversarially trained models on the digits)",
    sources=("003 Table 4.4 and §4.3.1",),
    kind="remark",
    statement=r"""
On the test set, the D-distances (4.31) between the difficulty functions of clean, FGSM and PGD
training and those of clean-trained models on corrupted inputs are much larger than the
distances between architectures or runs (Table 4.3): the difficulty depends on the
perturbation applied to the input, common corruptions included.""",
    uses=("thesis.eq4_30", "thesis.d_null"),
    erratum=Erratum(
        printed=r"D(m, c) \gg D_{\text{run-to-run}} \text{ for every method } m \text{ and "
                r"corruption } c",
        problem="Not reproduced for clean training on the digits (MLP, two seeds, five "
                "corruptions made for 8x8 images): the clean model's test difficulty under "
                "mild Gaussian noise is no farther from its clean test difficulty than two "
                "clean runs are from each other, and brightness and impulse noise move it only "
                "a little further (numbers in check table4_4_every_row_printed). The book "
                "compares with the run-to-run distance on the same test set, which the thesis "
                "does not report; the FGSM and PGD rows do reproduce.",
        corrected=r"\text{on the digits: } D(m, c) \ge 1.5\, D_{\text{run-to-run}}(m) \text{ for "
                  r"} m \in \{\text{FGSM}, \text{PGD}\} \text{ only}",
    ),
)


def _rows_exceed(rows: tuple[str, ...], factor: float) -> str:
    res = corruptions_measured()
    parts, worst = [], []
    for m in rows:
        base = res.distance(m, m)
        ds = {c: res.distance(m, c) for c in res.config.corruptions}
        low = min(ds, key=ds.get)
        parts.append(f"{m}: run-to-run {base:.3f}, corruptions {ds[low]:.3f} ({low}) to "
                     f"{max(ds.values()):.3f}")
        if ds[low] < factor * base:
            worst.append(f"{m}/{low} {ds[low]:.3f} < {factor} x {base:.3f}")
    require(not worst, "; ".join(worst) + " | " + "; ".join(parts))
    return "; ".join(parts)


@table4_4.check(kind="experiment", subject=("fgsm", "pgd"), control=("clean",),
                tolerance=MUCH, control_label="the clean-training row")
def table4_4_adversarial_rows(rows: tuple[str, ...]) -> str:
    """Quick run: for each training method in ``rows`` every corruption's D-distance to the
    method's test difficulty is at least 1.5 x the method's run-to-run distance."""
    return _rows_exceed(rows, MUCH)


@table4_4.check(kind="experiment", subject=("clean", "fgsm", "pgd"), control=("fgsm", "pgd"),
                refutes=True, reproduction=True,
                control_label="the FGSM and PGD rows only (must hold)")
def table4_4_every_row_printed(rows: tuple[str, ...]) -> str:
    """Printed reading on the quick run: for every method of ``rows`` every corruption's
    D-distance exceeds the method's run-to-run distance."""
    return _rows_exceed(rows, 1.0)


fig4_21 = CLAIMS.claim(
    "thesis.fig4_21",
    title="Fig. 4.21 (left): easy groups are fitted first; late in training the hard groups' "
          "losses fall most",
    sources=("003 Fig. 4.21 and §4.3.2",),
    kind="remark",
    statement=r"""
During PGD training on the whole training set, the mean loss of the easy groups ($\mathcal G_9,
\mathcal G_6$) falls first and that of the hardest group $\mathcal G_0$ last; in the last part of
training the losses of $\mathcal G_0$ and $\mathcal G_3$ fall the most: the model turns to the
hard instances. (The thesis adds that the robust test error rises meanwhile; the reference run
does not track it, and the subset runs show no robust overfitting at this scale.)""",
    uses=("thesis.eq4_30", "thesis.eq4_32"),
)

GROUP_ORDER = (9, 6, 3, 0)  # easy to hard


def _halving_epoch(curve: list[float]) -> float:
    """The first epoch (1-based) at which the loss is at most half its first value (inf if
    never)."""
    return next((i + 1 for i, v in enumerate(curve) if v <= curve[0] / 2), float("inf"))


@fig4_21.check(kind="experiment", subject=GROUP_ORDER, control=GROUP_ORDER[::-1],
               control_label="the groups in reverse order (hard first)")
def fig4_21_easy_first(order: tuple[int, ...]) -> str:
    """Quick reference run: the epoch at which a group's mean loss first halves never
    decreases along ``order`` and strictly increases from its second group on (the groups are
    ranked by the same run's average loss, so part of the order is built in; when is not)."""
    res = overfitting_measured()
    t = [_halving_epoch(res.group_loss[g]) for g in order]
    line = ", ".join(f"G{g} {v:g}" for g, v in zip(order, t, strict=True))
    require(t[0] <= t[1] and all(b > a for a, b in zip(t[1:], t[2:], strict=False)),
            f"epochs to halve the loss: {line}")
    return f"epochs to halve the group loss: {line}"


@fig4_21.check(kind="experiment", subject="second", control="first",
               control_label="the first half of training in place of the second")
def fig4_21_hard_groups_fall_late(half: str) -> str:
    """Quick reference run: over the ``half`` half of the epochs (the second one starts with
    the first learning-rate decay), the mean losses of G0 and G3 both fall more than those of
    G6 and G9."""
    res = overfitting_measured()
    n = len(res.group_loss[0])
    lo, hi = (n // 2 - 1, n - 1) if half == "second" else (0, n // 2 - 1)
    fall = {g: res.group_loss[g][lo] - res.group_loss[g][hi] for g in GROUP_ORDER}
    line = ", ".join(f"G{g} {fall[g]:+.4f}" for g in (0, 3, 6, 9))
    require(min(fall[0], fall[3]) > max(fall[6], fall[9]),
            f"loss fall from epoch {lo + 1} to {hi + 1}: {line}")
    return f"loss fall from epoch {lo + 1} to {hi + 1}: {line}"
