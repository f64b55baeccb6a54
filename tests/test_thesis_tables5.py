"""Chen Liu's thesis, Tables 4.6-4.7 and 5.2-5.11: the transcription and the table helpers."""

from __future__ import annotations

import pytest

from advproof.claims import CheckFailed
from advproof.symbolic import thesis_tables4 as t4
from advproof.symbolic import thesis_tables5 as t5
from advproof.symbolic.thesis_tables import n_rows, order_violations, with_cells


def test_transcription_shape_and_spot_values() -> None:
    shapes = {t.name: (len(t.blocks), n_rows(t), len(t.columns)) for t in t5.TABLES.values()}
    assert shapes == {
        "Table 5.2": (1, 7, 7), "Table 5.3": (1, 2, 4), "Table 5.4": (1, 7, 4),
        "Table 5.5": (1, 7, 4), "Table 5.7": (2, 26, 2), "Table 5.8": (2, 60, 2),
        "Table 5.9": (2, 26, 2), "Table 5.10": (1, 11, 2), "Table 5.11": (6, 40, 5),
    }
    for table in t5.TABLES.values():
        for block in table.blocks:
            assert all(len(v) == len(table.columns) for _, v in block.rows), table.name
    assert t5.value(t5.TABLE_5_2, (t5.BLOCK_5_2, "gamma=0.9", "r=0.998")) == 17.43
    assert t5.value(t5.TABLE_5_8, t5.HYDRA_OUTLIER) == 13.63
    assert t5.value(t5.TABLE_5_7, (t5.C10, t5.lab("BCS", "RN34", t5.DYN), "binary")) is None
    assert t5.block_rows("ImageNet RN50")["FGSM-GA"]["AA"] is None
    assert t5.block_rows("ImageNet RN18")["FGSM-GA"]["Time"] == 182.7
    assert n_rows(t4.TABLE_4_6) == 7 and n_rows(t4.TABLE_4_7) == 18
    assert t4.cost(t4.ADAPTIVE) == 152 and t4.cost(t4.STRONGEST) == 700
    assert t4.aa("RN18 SVHN eps=0.02", t4.ft("5 Epoch", "RW + KL")) == 73.35


def test_marks_follow_the_rules_and_a_moved_mark_is_caught() -> None:
    assert t5.mark_mismatches(t5.TABLE_5_2, t5.MARK_RULES_5_2, {"bold": t5.BOLD_5_2}) == []
    moved = (t5.BOLD_5_2 - {(t5.BLOCK_5_2, "gamma=0.1", "r=0.99")}) | {
        (t5.BLOCK_5_2, "gamma=0", "r=0.99")}
    bad = t5.mark_mismatches(t5.TABLE_5_2, t5.MARK_RULES_5_2, {"bold": moved})
    assert len(bad) == 2 and any("gamma=0 / r=0.99" in b for b in bad)
    # second best of Table 5.5's columns, and the compressed-only rule of Table 5.8
    second = t5.ranked_cells(t5.TABLE_5_5, t5.UNDERLINE_RULES_5_5["underline"], rank=2)
    assert {t5.value(t5.TABLE_5_5, k) for k in second} == {93.25, 94.29, 93.64, 94.00}
    fp = t5.ranked_cells(t5.TABLE_5_8, t5.MARK_RULES_5_8["underline"])
    assert {k[1] for k in fp} == {t5.lab("FlyingBird", "RN34", t5.DYN)}
    everyone = t5.ranked_cells(t5.TABLE_5_8, t5.MarkRule(("FP",)))
    assert (t5.C100, t5.lab("AT", "RN34", t5.NP), "FP") in everyone
    # training time: lower is better, the PGD10 reference does not compete
    time = t5.ranked_cells(t5.TABLE_5_11, t5.MARK_RULES_5_11["bold"])
    assert ("CIFAR10 RN18", "FGSM-RS", "Time") in time
    assert not any(k[1] == "PGD10" for k in time)


def test_the_disagreement_finder() -> None:
    comp = t5.compare_tables(t5.TABLE_5_7, t5.TABLE_5_8, t5.ALIASES_5_7)
    assert comp.compared == 42 and len(comp.differ) == 6
    assert sum("Small RN34" in d for d in comp.differ) == 4
    assert len(comp.only_second) == 2 and all("BCS" in d for d in comp.only_second)
    # a planted difference in a row both tables print is found, and nothing else changes
    key = (t5.C10, t5.lab("HYDRA", "RN34", "p=0.1"), "FP")
    planted = t5.compare_tables(with_cells(t5.TABLE_5_7, {key: 42.74}), t5.TABLE_5_8,
                                t5.ALIASES_5_7)
    assert len(planted.differ) == 7 and any("42.74 vs Table 5.8 42.73" in d
                                            for d in planted.differ)
    # read as the p1.0 model, the small row agrees
    assert t5.compare_tables(t5.TABLE_5_7_CORRECTED, t5.TABLE_5_8, t5.ALIASES_5_7).differ == []
    with pytest.raises(KeyError):
        t5.relabel(t5.TABLE_5_7, "no | such | row", "x")


def test_ordering_checker_flags_a_planted_violation() -> None:
    assert order_violations(t5.TABLE_5_11, t5.ORDER_5_11) == []
    planted = with_cells(t5.TABLE_5_11, {("CIFAR100 RN18", "ATTA", "AA"): 25.0})
    assert order_violations(planted, t5.ORDER_5_11) == [
        "CIFAR100 RN18 ATTA: AA 25 > PGD50 24.9"]
    with pytest.raises(CheckFailed):
        t5.table5_11_ordering(t5.reversed_first(t5.ORDER_5_11))


def test_links_strategies_and_lbn() -> None:
    assert t5.link_mismatches(t5.LINKS_5_3 + t5.LINKS_5_4) == []
    assert len(t5.link_mismatches(t5.LINKS_5_4_WRONG)) == 2
    count, bad = t5.strategy_losses(t5.TABLE_5_8, "p=0.1", "p=1.0")
    assert count == 20 and len(bad) == 1 and "13.63" in bad[0]
    count, bad = t5.strategy_losses(t5.TABLE_5_7, "p=0.1", "Global")
    assert count == 4 and len(bad) == 2
    gains = {w: g for _, w, g in t5.lbn_gains(t5.TABLE_5_7)}
    assert gains["CIFAR100 binary AT Not Pruned"] == 6.49
    assert [w for w, d in t5.lbn_effect(t5.TABLE_5_4, "binary", "row") if d <= 0] == [
        "binary gamma=0.5"]
    assert t5.row_range(t5.TABLE_5_3, "LBN") == 0.65
    assert t5.row_range(t5.TABLE_5_3, "no LBN") == 9.97


def test_outlier_and_time_arithmetic() -> None:
    res = t5.method_residuals(t5.TABLE_5_8)
    assert "HYDRA | RN34-LBN | p=0.1" in res[0][1] and res[0][0] < -20
    assert abs(res[1][0]) < t5.OUTLIER_POINTS
    planted = with_cells(t5.TABLE_5_8, {t5.HYDRA_OUTLIER: None,
                                        (t5.C10, t5.lab("ATMC", "RN34", "Global"), "FP"): 60.0})
    assert "ATMC | RN34 | Global" in t5.method_residuals(planted)[0][1]
    fractions = dict(t5.time_fractions())
    assert fractions["CIFAR10 RN18"] == pytest.approx(0.30 / 1.23)
    assert fractions["CIFAR100 RN18"] == pytest.approx(0.31 / 1.32)
    assert t5.passes(t5.PASSES_PRINTED["CIFAR"]["FreeAT"]) == 80
    assert {t5.passes(s) for s in t5.PASSES_PRINTED["ImageNet"].values()} == {180}
    assert t5.time_ratio_to_peers("FGSM-GA", "ImageNet RN18", skip=()) == pytest.approx(
        182.7 / 45.70)
    with pytest.raises(CheckFailed):
        t5.table5_11_time_fraction(1 / 5)
    t5.table5_11_time_fraction(1 / 4)


def test_every_check_passes_and_rejects_its_control() -> None:
    from advproof.ledger import run_check

    for module in (t5, t4):
        for claim in module.CLAIMS:
            assert claim.checks, claim.id
            for check in claim.checks:
                result = run_check(check)
                assert result.passed and result.control_rejected, (check.name, result.detail)
