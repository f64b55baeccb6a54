"""Chen Liu's thesis (seed 003), ch. 4.3.5: the result tables 4.6 and 4.7 as data.

Table 4.6 compares accelerated adversarial training on CIFAR10 (AutoAttack accuracy, epochs and
forward/backward passes per mini-batch); Table 4.7 fine-tunes with additional data, with and
without reweighting (RW) and KL regularisation (KL). Values as printed; the checks test what
the text says about them. The claims use the prefix of the other ch. 4 claims
(:mod:`advproof.symbolic.thesis_overfit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from advproof.asserts import require
from advproof.claims import ClaimSet
from advproof.symbolic.thesis_tables import Block, ResultTable, rows

CLAIMS = ClaimSet("thesis")

# ---------------------------------------------------------------------------------------------
# Table 4.6 (003 Sec. 4.3.5): CIFAR10, eps = 8/255; baselines from RobustBench. Row label
# "method (model)" as printed; columns epochs, complexity (forward + backward passes in one
# mini-batch update) and AutoAttack accuracy (%).

BLOCK_4_6 = "CIFAR10 eps=8/255"
TABLE_4_6 = ResultTable("Table 4.6", ("Epochs", "Complexity", "AA"), (
    Block(BLOCK_4_6, 8 / 255, (
        ("[130] (WideResNet34)", (200, 2, 41.17)),
        ("[158] (ResNet18)", (15, 4, 43.21)),
        ("[182] (WideResNet34)", (38, 4, 44.48)),
        ("[177] (WideResNet34)", (105, 3, 44.83)),
        ("[20] (WideResNet34)", (100, 7, 51.12)),
        ("Reweighting (Ours) (WideResNet34)", (38, 4, 46.15)),
        ("Adaptive Target (Ours) (WideResNet34)", (38, 4, 51.17)),
    )),
))
ATTA = "[182] (WideResNet34)"  # the method both of ours are built on (Alg. 4.1)
STRONGEST = "[20] (WideResNet34)"
REWEIGHT = "Reweighting (Ours) (WideResNet34)"
ADAPTIVE = "Adaptive Target (Ours) (WideResNet34)"


def table4_6_rows() -> dict[str, dict[str, float]]:
    """``{row label: {column: value}}`` of Table 4.6."""
    return {label: cell for _, label, cell in rows(TABLE_4_6)}


def cost(label: str) -> float:
    """Training complexity as the text defines it: epochs times passes per mini-batch."""
    cell = table4_6_rows()[label]
    return cell["Epochs"] * cell["Complexity"]


def is_ours(label: str) -> bool:
    """Rows of the thesis's own methods."""
    return "(Ours)" in label


table4_6 = CLAIMS.claim(
    "thesis.table4_6",
    title="Reweighting and adaptive targets on top of ATTA (Table 4.6)",
    sources=("003 Table 4.6 and the text after it (Sec. 4.3.5)",),
    kind="remark",
    statement=r"""
Table 4.6 reports the AutoAttack accuracy on CIFAR10 ($\epsilon = 8/255$) of accelerated
adversarial training methods, with the number of epochs and of forward and backward passes
per mini-batch; "the product of these two values indicates the training complexity". "Both
reweighting and adaptive targets improve the performance on top of ATTA [182] ... our method
based on adaptive targets achieve the best performance while needing only 1/4 of the training
time of [20], the strongest baseline. [158] is the only baseline consuming less training time
than ours, but its performance is much worse than ours." """,
)


@table4_6.check(kind="numeric", subject=ATTA, control=STRONGEST, tolerance=0.0,
                control_label="[20], the strongest baseline")
def table4_6_improve_on(baseline: str) -> str:
    """Both of our methods have higher AA accuracy than the named baseline."""
    cells = table4_6_rows()
    gains = {m: round(cells[m]["AA"] - cells[baseline]["AA"], 2) for m in (REWEIGHT, ADAPTIVE)}
    require(all(g > 0 for g in gains.values()), f"not above {baseline}: {gains}")
    return f"over {baseline} ({cells[baseline]['AA']}): " + ", ".join(
        f"{m.split(' (')[0]} +{g}" for m, g in gains.items())


@table4_6.check(kind="numeric", subject=ADAPTIVE, control=REWEIGHT, tolerance=0.0,
                control_label="reweighting")
def table4_6_best(label: str) -> str:
    """The named row has the highest AA accuracy of the table."""
    cells = table4_6_rows()
    runner = max((c["AA"], m) for m, c in cells.items() if m != label)
    require(cells[label]["AA"] > runner[0], f"{label} {cells[label]['AA']} vs {runner[1]} "
                                            f"{runner[0]}")
    return f"{label} {cells[label]['AA']} vs next {runner[1]} {runner[0]}"


@table4_6.check(kind="numeric", subject=1 / 4, control=1 / 5, tolerance=0.0,
                control_label="one fifth")
def table4_6_cost_fraction(fraction: float) -> str:
    """Adaptive targets cost at most the stated fraction of [20]'s epochs x passes ("only
    1/4": the saving is at least that large)."""
    ratio = cost(ADAPTIVE) / cost(STRONGEST)
    require(ratio <= fraction, f"cost ratio {cost(ADAPTIVE):g} / {cost(STRONGEST):g} = "
                               f"{ratio:.3f} > {fraction:.3g}")
    return f"cost {cost(ADAPTIVE):g} / {cost(STRONGEST):g} = {ratio:.3f} <= {fraction:.3g}"


@table4_6.check(kind="numeric", subject=("[158] (ResNet18)",),
                control=("[158] (ResNet18)", ATTA), tolerance=0.0,
                control_label="[158] and ATTA (ATTA costs the same, not less)")
def table4_6_cheaper(claimed: Sequence[str]) -> str:
    """The named baselines are exactly those cheaper than ours (epochs x passes), and each is
    below both of our methods in AA accuracy."""
    ours = cost(ADAPTIVE)
    cheaper = sorted(m for m in table4_6_rows() if not is_ours(m) and cost(m) < ours)
    require(cheaper == sorted(claimed), f"cheaper than ours ({ours:g}): {cheaper}")
    cells = table4_6_rows()
    worse = {m: cells[m]["AA"] for m in cheaper}
    require(all(v < cells[REWEIGHT]["AA"] for v in worse.values()), f"not worse: {worse}")
    return (f"ours {ours:g}; cheaper: " + ", ".join(f"{m} {cost(m):g} (AA {cells[m]['AA']})"
                                                   for m in cheaper)
            + "; all costs: " + ", ".join(f"{m.split(' ')[0]} {cost(m):g}"
                                          for m in cells if not is_ours(m)))


# ---------------------------------------------------------------------------------------------
# Table 4.7 (003 Sec. 4.3.5): AutoAttack accuracy of fine-tuned models. Two settings (blocks);
# rows "No Fine Tuning" and "<duration> | <method>" as printed.

NO_FT = "No Fine Tuning"
FT_METHODS = ("Vanilla AT", "RW", "KL", "RW + KL")
DURATIONS = ("1 Epoch", "5 Epoch")


def ft(duration: str, method: str) -> str:
    """Row label of Table 4.7."""
    return f"{duration} | {method}"


TABLE_4_7 = ResultTable("Table 4.7", ("AA",), (
    # Table 4.7, left half
    Block("WRN34 CIFAR10 eps=8/255", 8 / 255, (
        (NO_FT, (52.01,)),
        (ft("1 Epoch", "Vanilla AT"), (54.11,)), (ft("1 Epoch", "RW"), (54.69,)),
        (ft("1 Epoch", "KL"), (54.73,)), (ft("1 Epoch", "RW + KL"), (54.69,)),
        (ft("5 Epoch", "Vanilla AT"), (55.49,)), (ft("5 Epoch", "RW"), (56.41,)),
        (ft("5 Epoch", "KL"), (56.55,)), (ft("5 Epoch", "RW + KL"), (56.99,)),
    )),
    # Table 4.7, right half
    Block("RN18 SVHN eps=0.02", 0.02, (
        (NO_FT, (67.77,)),
        (ft("1 Epoch", "Vanilla AT"), (70.81,)), (ft("1 Epoch", "RW"), (70.83,)),
        (ft("1 Epoch", "KL"), (72.29,)), (ft("1 Epoch", "RW + KL"), (72.53,)),
        (ft("5 Epoch", "Vanilla AT"), (72.18,)), (ft("5 Epoch", "RW"), (72.72,)),
        (ft("5 Epoch", "KL"), (73.17,)), (ft("5 Epoch", "RW + KL"), (73.35,)),
    )),
))


def aa(block: str, label: str) -> float:
    """One AA cell of Table 4.7."""
    return next(c["AA"] for b, m, c in rows(TABLE_4_7) if b.title == block and m == label)


def method_pairs_failing(pairs: Sequence[tuple[str, str]]
                         ) -> tuple[list[tuple[str, float]], list[str]]:
    """For every (better, worse) method pair, setting and duration: ``(all gains, failures)``."""
    gains, bad = [], []
    for block in TABLE_4_7.blocks:
        for duration in DURATIONS:
            for better, worse in pairs:
                g = round(aa(block.title, ft(duration, better))
                          - aa(block.title, ft(duration, worse)), 2)
                where = f"{block.title} {duration} {better} - {worse}"
                gains.append((where, g))
                if not g > 0:
                    bad.append(f"{where} {g:+.2f}")
    return gains, bad


BENEFIT_PAIRS: tuple[tuple[str, str], ...] = (("RW", "Vanilla AT"), ("KL", "Vanilla AT"),
                                              ("RW + KL", "Vanilla AT"))

table4_7 = CLAIMS.claim(
    "thesis.table4_7",
    title="Fine-tuning with additional data: reweighting and KL both help (Table 4.7)",
    sources=("003 Table 4.7 and the text around it (Sec. 4.3.5)",),
    kind="remark",
    statement=r"""
Table 4.7 reports the AutoAttack accuracy of an adversarially trained WRN34 (CIFAR10,
$\epsilon = 8/255$) and RN18 (SVHN, $\epsilon = 0.02$) fine-tuned for 1 or 5 epochs on half
original, half additional data, with vanilla adversarial training, reweighting (RW), KL
regularisation (KL) or both. "It is clear that both reweighting and the KL regularization term
benefit the performance of the finetuned model." """,
)


@table4_7.check(kind="numeric", subject=DURATIONS, control=DURATIONS[::-1], tolerance=0.0,
                control_label="1 epoch above 5 epochs")
def table4_7_fine_tuning_helps(order: Sequence[str]) -> str:
    """Every fine-tuned model is above the model before fine-tuning, and the later duration
    of ``order`` is above the earlier one for every method and setting."""
    parts = []
    for block in TABLE_4_7.blocks:
        base = aa(block.title, NO_FT)
        worst = min(aa(block.title, ft(d, m)) for d in DURATIONS for m in FT_METHODS)
        require(worst > base, f"{block.title}: a fine-tuned model {worst} <= {base}")
        for m in FT_METHODS:
            a, b = (aa(block.title, ft(d, m)) for d in order)
            require(b > a, f"{block.title} {m}: {order[1]} {b} <= {order[0]} {a}")
        parts.append(f"{block.title}: no fine-tuning {base}, fine-tuned >= {worst}")
    return "; ".join(parts) + f"; {order[1]} above {order[0]} for all 8 method-settings"


@table4_7.check(kind="numeric", subject=BENEFIT_PAIRS, control=(("RW + KL", "KL"),),
                tolerance=0.0, control_label="RW + KL above KL alone in every setting")
def table4_7_rw_kl_benefit(pairs: Sequence[tuple[str, str]]) -> str:
    """The first method of every pair is above the second in both settings and durations."""
    gains, bad = method_pairs_failing(pairs)
    require(not bad, f"{len(bad)} of {len(gains)} comparisons fail: " + "; ".join(bad))
    smallest = min(gains, key=lambda x: x[1])
    _, combined = method_pairs_failing((("RW + KL", "KL"), ("RW + KL", "RW")))
    return (f"all {len(gains)} comparisons positive; smallest {smallest[0]} {smallest[1]:+.2f}; "
            "RW + KL not above a single technique: " + ("; ".join(combined) or "none"))


def gains_by_pair(pairs: Sequence[tuple[str, str]]) -> Mapping[str, float]:
    """``{where: gain}`` for the given pairs (for the notebook's table)."""
    return dict(method_pairs_failing(pairs)[0])
