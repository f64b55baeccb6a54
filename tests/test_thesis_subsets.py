"""The subsets experiment (thesis 003 Figs. 4.18-4.20, 4.22, Table 4.5) in smoke mode, its
Result arithmetic, the l_2 threat model of its PGD and the claims' helpers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from advproof.experiments import thesis_overfitting as tov
from advproof.experiments import thesis_subsets
from advproof.symbolic import thesis_subsets as claims


def test_smoke_run_logs_every_curve_and_shares_the_identical_run():
    res = thesis_subsets.run("smoke", seed=0)
    cfg = res.config
    assert sorted(res.grid) == sorted(f"{s}|{e}" for s in cfg.subsets for e in cfg.eps_grid)
    assert sorted(res.growth) == sorted(cfg.sizes)
    assert sorted(res.grid_l2) == sorted(f"{s}|{e}" for s in cfg.subsets for e in cfg.l2_grid)
    assert res.grid_l2["easy|1.0"] != res.grid["easy|0.1"]  # l_2 runs are their own runs
    assert set(res.summary()["grid_l2"]) == {f"{s}|1" for s in cfg.subsets}
    for c in [*res.grid.values(), *res.grid_l2.values(), *res.growth.values()]:
        assert c["epoch"] == [2, 4]  # every eval_every = 2 epochs of 4
        assert all(0 <= a <= 1 for a in c["robust_test"])
        assert all(lo <= up for lo, up in zip(c["lip_lower"], c["lip_upper"], strict=True))
    # the easiest 10 per class at the growth eps is the grid's easy subset: one run, shared
    assert cfg.base.per_class == 10 and cfg.growth_eps in cfg.eps_grid
    assert res.growth[10] is res.grid[f"easy|{cfg.growth_eps}"]
    assert res.growth[30] is not res.grid[f"easy|{cfg.growth_eps}"]
    assert res.subset_difficulty["easy"] > res.subset_difficulty["random"] > \
        res.subset_difficulty["hard"]
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="CPU"):
        thesis_subsets.run("smoke", device="cuda")
    with pytest.raises(ValueError, match="mode"):
        thesis_subsets.run("huge")


def _result(curves: dict[str, list[float]]) -> thesis_subsets.Result:
    cfg = thesis_subsets.Config(eps_grid=(0.1,), subsets=("easy",))
    return thesis_subsets.Result(cfg, {"easy|0.1": curves}, {})


def test_gap_and_final_estimates_read_the_curves():
    res = _result({"epoch": [1, 2, 3], "robust_test": [0.5, 0.8, 0.7],
                   "lip_upper": [1.0, 3.0, 4.0], "lip_lower": [0.5, 1.0, 2.0]})
    assert res.gap("easy", 0.1) == pytest.approx(0.1)
    assert res.lip("easy", 0.1) == 4.0 and res.lip("easy", 0.1, "lip_lower") == 2.0
    assert res.summary()["grid"]["easy|0.1"]["gap"] == pytest.approx(0.1)


def test_the_curve_control_keeps_the_values_and_moves_them():
    curve = list(np.linspace(0.2, 0.8, 10))
    s = claims.shuffled(curve)
    assert sorted(s) == sorted(curve) and s != curve
    assert claims.shuffled(curve) == s  # seeded by the values: the same every run


def test_the_printed_reading_of_fig_4_18_needs_both_gaps_to_grow():
    assert claims.gaps_increase({"random": [0.0, 0.01, 0.02], "hard": [0.0, 0.1, 0.2]})
    assert not claims.gaps_increase({"random": [0.0, 0.0, 0.02], "hard": [0.0, 0.1, 0.2]})
    assert claims.gaps_not_increasing({"random": [0.02, 0.01, 0.0], "hard": [0.0, 0.1, 0.2]})


def test_the_l2_threat_model_stays_in_the_l2_ball_and_fgsm_refuses_it():
    cfg = tov.Config(eps=0.5, p=2.0, widths=(16,))
    model = tov.make_model(cfg, 0)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 64, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    delta = tov.perturb(model, x, y, "pgd", cfg, gen) - x
    norms = delta.norm(dim=1)
    assert float(norms.max()) <= 0.5 + 1e-5
    assert float(delta.abs().max()) > 0.1  # far outside the l_inf ball of the same radius / 8
    assert float(norms.min()) > 0.4  # PGD with step 2.5 eps / steps ends near the sphere
    linf = tov.perturb(model, x, y, "pgd", tov.Config(eps=0.5 / 8, widths=(16,)), gen) - x
    assert float(linf.abs().max()) <= 0.5 / 8 + 1e-6 and tov.Config().p == math.inf
    with pytest.raises(ValueError, match="FGSM is an l_inf attack"):
        tov.perturb(model, x, y, "fgsm", cfg, gen)


def test_the_cifar10_mode_trains_preact_resnet18_and_evaluates_in_chunks():
    import dataclasses

    from advproof import models

    full = tov.make_model(tov.CONFIGS["cifar10"], 0)
    assert isinstance(full, models.PreActResNet18) and full.conv1.out_channels == 64
    cfg = dataclasses.replace(tov.CONFIGS["cifar10"], channels=(4, 8), pgd_steps=1, eval_steps=1,
                              batch_size=4)  # a narrow PreAct-ResNet18, for speed
    gen = torch.Generator().manual_seed(0)
    X, y = torch.rand(8, 3, 32, 32, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    model, losses = tov.train(cfg, X, y, "pgd", 1, seed=0)
    assert isinstance(model, models.PreActResNet18) and not model.training
    assert losses.shape == (1, 8) and np.isfinite(losses).all() and (losses > 0).all()
    whole = dataclasses.replace(cfg, eval_batch=4096)
    for robust in (False, True):  # three chunks of 3, 3, 2 inputs: the same count
        acc = tov.accuracy(model, X, y, dataclasses.replace(cfg, eval_batch=3), 0, robust)
        assert 0 <= acc <= 1 and acc * 8 == round(acc * 8)
        if not robust:
            assert acc == tov.accuracy(model, X, y, whole, 0, robust)
