"""Chen Liu's thesis, Tables 3.5-3.9: the transcription and the consistency helpers."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from torch.utils.flop_counter import FlopCounterMode

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


def test_table3_4_transcription_parses_and_agrees_with_the_text() -> None:
    L, n, M = tt._L, tt._n, tt._M
    assert len(tt.TABLE_3_4) == 8 and set(tt.TEXT_3_4) == set(tt.TABLE_3_4)
    assert tt.order_expr(tt.TABLE_3_4["MMR / MMR+at [29]"]) == L * M * n ** 2
    assert tt.order_expr("L^2n^3") == L ** 2 * n ** 3
    assert tt.entry_order(tt.TABLE_3_4["I-PER / I-PER+at (Ours)"]) == (1, 2)
    with pytest.raises(ValueError, match="monomial"):
        tt.order_expr(r"\mathcal{O}(n \log n)")
    assert tt.text_mismatches(tt.TABLE_3_4) == []
    bad = tt.text_mismatches(tt.table3_4_kw_backprop())
    assert any(b.startswith("KW [157]: text / table -> oo") for b in bad)
    wrong = {**tt.TABLE_3_4, "I-PER / I-PER+at (Ours)": r"\mathcal{O}(Ln^3)"}
    assert any("is not o(CROWN-IBP" in b for b in tt.text_mismatches(wrong))
    # a dominated term is dropped, a dominating one is not
    assert tt.order_ratio(L * n ** 3 + L * n ** 2, L * n ** 3) == 1
    assert tt.order_ratio(L ** 2 * n ** 3, L * n ** 3) == sp.oo


def test_matmul_flops_counts_every_product() -> None:
    a, b = torch.ones(3, 4), torch.ones(4, 5)
    assert tt.matmul_flops(lambda: a @ b) == 2 * 3 * 4 * 5
    assert tt.matmul_flops(lambda: torch.ones(2, 3, 4) @ torch.ones(2, 4, 5)) == 2 * 120
    assert tt.matmul_flops(lambda: a @ torch.ones(4)) == 2 * 12
    assert tt.matmul_flops(lambda: torch.nn.functional.linear(a, b.T, torch.ones(5))) == 120
    assert tt.matmul_flops(lambda: a + 1) == 0
    with FlopCounterMode(display=False) as counter:  # torch's counter agrees without mv
        (torch.ones(2, 3, 4) @ b).sum()
    assert tt.matmul_flops(lambda: (torch.ones(2, 3, 4) @ b).sum()) == counter.get_total_flops()


def test_count_polynomial_is_exact_or_refuses() -> None:
    L, n = tt._L, tt._n
    poly = tt.count_polynomial(lambda a, b: 2 * a * b ** 2 + 3 * b + 7)
    assert sp.expand(poly - (2 * L * n ** 2 + 3 * n + 7)) == 0
    assert tt.leading_order(poly) == (1, 2)
    assert tt.leading_order(L ** 3 * n ** 2 + L ** 2 * n ** 3) == (2, 3)
    with pytest.raises(ValueError, match="not a polynomial"):
        tt.count_polynomial(lambda a, b: 2 ** a * b)
    with pytest.raises(ValueError, match="grid points"):
        tt.count_polynomial(lambda a, b: a, Ls=(1, 2), ns=(1, 2))
