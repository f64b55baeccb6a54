"""The learning curves of vanilla and adversarial training (thesis 003 Fig. 4.1): the Result's
arithmetic and the smoke run."""

from __future__ import annotations

import json

import pytest

from advproof.experiments import thesis_curves


def _result() -> thesis_curves.Result:
    curves = {"vanilla": {"epoch": [2, 4, 6, 8], "train_err": [0.5, 0.09, 0.04, 0.0],
                          "test_err": [0.5, 0.15, 0.1, 0.1]},
              "pgd": {"epoch": [2, 4, 6, 8], "train_err": [0.8, 0.6, 0.34, 0.3],
                      "test_err": [0.8, 0.6, 0.4, 0.5]}}
    return thesis_curves.Result(thesis_curves.Config(), curves)


def test_gap_settle_epoch_and_late_rise_read_the_curves():
    res = _result()
    assert res.gap("vanilla") == pytest.approx(0.1) and res.gap("pgd") == pytest.approx(0.2)
    # 90% of the fall 0.5 -> 0.0 is 0.05, first reached at epoch 6 (0.04); of 0.8 -> 0.3 it is
    # 0.35, first reached at epoch 6 (0.34)
    assert res.settle_epoch("vanilla") == 6 and res.settle_epoch("pgd") == 6
    assert res.settle_epoch("vanilla", fraction=0.8) == 4  # 0.09 <= 0.5 - 0.4
    assert res.late_rise("pgd") == pytest.approx(0.1) and res.late_rise("vanilla") == 0.0
    assert res.summary()["pgd"]["gap"] == pytest.approx(0.2)


def test_smoke_run():
    res = thesis_curves.run("smoke", seed=0)
    assert sorted(res.curves) == ["pgd", "vanilla"]
    for c in res.curves.values():
        assert c["epoch"] == [2, 4]
        assert all(0 <= e <= 1 for e in c["train_err"] + c["test_err"])
        assert all(v > 0 for v in c["train_loss"] + c["test_loss"])
    # under the attack the same data are harder: the PGD run's errors are measured under PGD
    assert res.curves["pgd"]["test_err"][-1] > res.curves["vanilla"]["test_err"][-1]
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="mode must be one of"):
        thesis_curves.run("huge")
    with pytest.raises(ValueError, match="on the CPU"):
        thesis_curves.run("smoke", device="cuda")
