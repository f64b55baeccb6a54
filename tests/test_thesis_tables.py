"""Chen Liu's thesis, Tables 3.5-3.9: the transcription and the consistency helpers."""

from __future__ import annotations

import pytest

from advproof.claims import CheckFailed
from advproof.symbolic import thesis_tables as tt


def test_transcription_shape_and_spot_values() -> None:
    assert [tt.n_rows(t) for t in (tt.TABLE_3_6, tt.TABLE_3_7, tt.TABLE_3_8)] == [33, 33, 32]
    for table in (tt.TABLE_3_6, tt.TABLE_3_7, tt.TABLE_3_8):
        for block in table.blocks:
            assert all(len(values) == len(table.columns) for _, values in block.rows)
    cells = {(b.title, m): c for t in (tt.TABLE_3_6, tt.TABLE_3_7, tt.TABLE_3_8)
             for b, m, c in tt.rows(t)}
    assert cells["CIFAR10 CNN l_inf", "I-PER+at"]["CRE MIP"] == 47.87
    assert cells["MNIST CNN l_2", "IBP"]["ACB Lin"] == 0.1534
    assert cells["MNIST FC1 sigmoid l_2", "C-IBP"]["ACB CRO"] == 0.2709
    assert len(tt.TABLE_3_9) == 6
    assert all(len(r["rows"]) == 7 for r in tt.TABLE_3_9.values())
    assert tt.TABLE_3_9["MNIST-FC1 l_2"]["rows"]["MMR"] == (5.86, 0.4186)


def test_orderings_find_the_mip_rows_and_reject_a_perturbation() -> None:
    bad = tt.order_violations(tt.TABLE_3_6, tt.MIP_EXACT)
    assert len(bad) == 3 and all(" AT: " in b for b in bad)
    assert tt.order_violations(tt.TABLE_3_6, tt.ORDER_3_6) == []
    perturbed = tt.with_cells(tt.TABLE_3_6, {("MNIST CNN l_inf", "KW", "PGD"): 0.5})
    assert tt.order_violations(perturbed, tt.ORDER_3_6) == [
        "MNIST CNN l_inf KW: CTE 1.21 > PGD 0.5"]
    with pytest.raises(CheckFailed):
        tt.table3_6_ordering(tt.reversed_first(tt.ORDER_3_6))
    with pytest.raises(KeyError):
        tt.with_cells(tt.TABLE_3_6, {("MNIST CNN l_inf", "KW", "CRE CRO"): 1.0})


def test_acb_one_shot_formula() -> None:
    count, bad = tt.acb_mismatches(tt.TABLE_3_7)
    assert count == 66 and len(bad) == 3
    assert tt.acb_mismatches(tt.with_cells(tt.TABLE_3_7, tt.ACB_CORRECTED_3_7))[1] == []
    # one more wrong cell, by two units of the last digit, is caught
    perturbed = tt.with_cells(tt.TABLE_3_7, {**tt.ACB_CORRECTED_3_7,
                                              ("MNIST FC1 l_2", "KW", "ACB Lin"): 0.2855})
    assert len(tt.acb_mismatches(perturbed)[1]) == 1
    assert len(tt.acb_mismatches(tt.TABLE_3_7, tt.acb_wrong)[1]) >= 60


def test_duplicate_row_and_best_method() -> None:
    shared = tt.shared_cells(tt.TABLE_3_8, (tt.TABLE_3_6, tt.TABLE_3_7))
    assert shared[0][0] == 3 and "sigmoid l_2 C-IBP" in shared[0][1]
    assert shared[1][0] <= 1
    bad, margins = tt.per_best_violations(tt.TABLE_3_6, tt.BEST_3_6)
    assert bad == [] and "47.87 vs KW 48" in margins[-1]
    worse = tt.with_cells(tt.TABLE_3_6, {("CIFAR10 CNN l_inf", "KW", "CRE MIP"): 47.0})
    assert len(tt.per_best_violations(worse, tt.BEST_3_6)[0]) == 1


def test_table3_9_counts_and_savings() -> None:
    for row in tt.TABLE_3_9.values():
        assert tt.t_lin_ceil(row["width"], tt.EPS_DELTA) == row["T_Lin"]
    lo, hi = tt.delta_interval()
    assert lo < tt.EPS_DELTA < hi and not lo < 1e-3 < hi
    assert tt.mean_saving("MNIST-FC1 l_2") == pytest.approx(0.3633, abs=1e-3)
    assert tt.mean_saving("MNIST-CNN l_inf") == pytest.approx(0.0672, abs=1e-3)
    devs = tt.ratio_deviations(tt.TABLE_3_9)
    assert [w for d, b, w in devs if d > b] == ["CIFAR10-CNN l_inf at"]
    fixed = tt.with_t_pec(tt.TABLE_3_9, "CIFAR10-CNN l_inf", "at", 9.13)
    assert all(d <= b for d, b, _ in tt.ratio_deviations(fixed))
    assert tt.TABLE_3_9["CIFAR10-CNN l_inf"]["rows"]["at"][0] == 9.12  # copy, not in place
    with pytest.raises(CheckFailed):
        tt.table3_9_saving(tt.SAVING_PRINTED)
    tt.table3_9_saving(tt.SAVING_CORRECTED)


def test_every_check_passes_and_rejects_its_control() -> None:
    from advproof.ledger import run_check

    for claim in tt.CLAIMS:
        assert claim.checks, claim.id
        for check in claim.checks:
            result = run_check(check)
            assert result.passed and result.control_rejected, (check.name, result.detail)
