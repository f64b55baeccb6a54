"""Alg. 4.1 (thesis 003 §4.3.5) in advproof.atas, and the thesis_reweight smoke run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from advproof import atas
from advproof.experiments import thesis_reweight
from advproof.symbolic import thesis_reweight as claims


def test_the_loss_is_the_weighted_soft_target_cross_entropy_and_updates_the_targets():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    y = torch.tensor([0, 2, 1, 2])
    idx = torch.tensor([3, 0, 5, 1])
    tilde = torch.nn.functional.one_hot(torch.arange(6) % 3, 3).double()
    before = tilde.clone()
    sums = torch.zeros(6, 2, dtype=torch.float64)
    alg = atas.Alg41(reweight=True, beta=0.25, rho=0.8, warmup=0)
    loss = atas._alg41_loss(logits, y, idx, alg, tilde, epoch=0, sums=sums)
    p = logits.softmax(1)
    t_tilde = 0.8 * before[idx] + 0.2 * p
    target = 0.25 * torch.nn.functional.one_hot(y, 3).double() + 0.75 * t_tilde
    w = p[torch.arange(4), y]
    expected = (w * -(target * logits.log_softmax(1)).sum(1)).sum() / w.sum()
    assert float(loss) == pytest.approx(float(expected), rel=1e-12)
    torch.testing.assert_close(tilde[idx], t_tilde)
    torch.testing.assert_close(sums[idx, 0], w)
    torch.testing.assert_close(sums[idx, 1], target[torch.arange(4), y])
    assert sums[[2, 4]].abs().sum() == 0  # instances outside the batch untouched


def test_the_warm_up_trains_on_the_labels_with_unit_weights():
    logits = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([1, 0, 3])
    tilde, sums = torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, 2, dtype=torch.float64)
    loss = atas._alg41_loss(logits, y, torch.arange(3), atas.Alg41(reweight=True, warmup=2),
                            tilde, epoch=1, sums=sums)
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert float(loss) == pytest.approx(float(ce), rel=1e-12)
    assert tilde.abs().sum() == 0 and sums.abs().sum() == 0


def test_sat_weighs_by_the_largest_target_entry():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 4, dtype=torch.float64, generator=gen)
    y = torch.tensor([1, 0, 3])
    tilde = torch.softmax(torch.randn(3, 4, dtype=torch.float64, generator=gen), 1)
    before = tilde.clone()
    sums = torch.zeros(3, 2, dtype=torch.float64)
    alg = atas.Alg41(sat=True, beta=0.0, rho=0.5, warmup=0)
    loss = atas._alg41_loss(logits, y, torch.arange(3), alg, tilde, epoch=0, sums=sums)
    target = 0.5 * before + 0.5 * logits.softmax(1)  # beta = 0: the moving average itself
    w = target.max(1).values
    expected = (w * -(target * logits.log_softmax(1)).sum(1)).sum() / w.sum()
    assert float(loss) == pytest.approx(float(expected), rel=1e-12)
    torch.testing.assert_close(sums[:, 0], w)
    with pytest.raises(ValueError, match="choose one weighting"):
        atas.Alg41(reweight=True, sat=True)


def test_iat_budgets_stay_in_range_and_shrink_for_unlearnable_instances():
    from advproof.experiments.thesis_overfitting import Config

    gen = torch.Generator().manual_seed(0)
    X = torch.rand(48, 64, generator=gen)
    y = torch.randint(0, 10, (48,), generator=gen)  # random labels: hard to fit, easy to attack
    cfg = Config(widths=(64,), eps=0.1, batch_size=16)
    model, budget = thesis_reweight.train_iat(cfg, X, y, epochs=4, warmup=1, gamma=0.02,
                                              eps_max=0.2, seed=0)
    assert budget.shape == (48,) and (budget >= 0).all() and (budget <= 0.2).all()
    assert budget.mean() < 0.1  # misclassified examples lower their budget
    assert not model.training


def test_alg41_reduces_to_atta_and_records_its_averages():
    assert claims._atta_params(atas.Alg41(warmup=0)).allclose(claims._atta_params(None),
                                                               atol=1e-6)
    gen = torch.Generator().manual_seed(0)
    X, y = torch.rand(64, 64, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    from advproof.experiments.thesis_overfitting import Config, make_model

    res = atas.fast_at(make_model(Config(widths=(16,)), 0), X, y, method="atta", eps=0.1,
                       num_epochs=3, lr=0.05, alg41=atas.Alg41(reweight=True, beta=0.5,
                                                               warmup=1))
    assert res.weights.shape == res.target_true.shape == (64,)
    assert ((res.weights > 0) & (res.weights < 1)).all()
    assert ((res.target_true >= 0.5) & (res.target_true <= 1)).all()  # beta = 1/2 of one-hot


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="0 <= beta <= 1"):
        atas.Alg41(beta=1.5)
    with pytest.raises(ValueError, match="on top of ATTA"):
        atas.fast_at(torch.nn.Linear(2, 2), torch.zeros(4, 2), torch.zeros(4, dtype=torch.long),
                     method="fgsm", eps=0.1, num_epochs=1, lr=0.1, alg41=atas.Alg41())


def test_smoke_run():
    res = thesis_reweight.run("smoke", seed=0)
    assert sorted(res.curves) == ["atta", "beta=0.1", "reweight", "sat"]
    assert res.iat_eps.shape == res.sat_weights.shape == res.difficulty.shape
    assert all(len(v) == 10 for v in res.sat_group_acc.values())
    assert set(res.summary()["case_studies"]) == {"iat_eps_by_group", "sat_weight_by_group",
                                                  "sat_group_acc"}
    for c in res.curves.values():
        assert c["epoch"] == [2, 4] and all(0 <= e <= 1 for e in c["robust_test"])
    n = len(res.difficulty)
    assert res.weights.shape == (n,) and res.target_true["beta=0.1"].shape == (n,)
    assert math.isfinite(res.summary()["correlation_with_difficulty"]["weight"])
    json.dumps(res.to_json())
    assert np.isclose(res.gap("atta"), res.curves["atta"]["robust_test"][-1]
                      - res.curves["atta"]["robust_train"][-1])
