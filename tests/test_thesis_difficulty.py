"""The difficulty experiment (thesis 003 Table 4.3, Fig. 4.15) in smoke mode, its distances,
and the 0-1 error log of thesis_overfitting.train."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from advproof import difficulty as dif
from advproof.experiments import thesis_difficulty, thesis_overfitting
from advproof.symbolic import thesis_difficulty as claims


def test_train_logs_the_zero_one_errors_of_its_own_forward_pass():
    cfg = dataclasses.replace(thesis_overfitting.CONFIGS["smoke"], widths=(8,))
    gen = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 64, generator=gen), torch.randint(0, 10, (40,), generator=gen)
    errors = np.full((2, 40), -1.0)
    _, losses = thesis_overfitting.train(cfg, X, y, "clean", 2, seed=0, errors=errors)
    assert set(np.unique(errors)) <= {0.0, 1.0}  # every entry written, all 0 or 1
    # argmax = label means softmax_y >= 1/10, so a correct instance has a loss <= log 10
    assert np.all(losses[errors == 0] <= np.log(10) + 1e-6)
    _, again = thesis_overfitting.train(cfg, X, y, "clean", 2, seed=0)
    np.testing.assert_array_equal(losses, again)  # logging does not change the run


def test_smoke_run_and_distances():
    res = thesis_difficulty.run("smoke", seed=0)
    assert sorted(res.loss_d) == ["mlp/clean/0", "mlp/pgd/0"]
    for key, d in res.loss_d.items():
        assert d.shape == res.error_d[key].shape == (1438,)
        assert d.mean() == pytest.approx(0.5)  # mid-ranks average 1/2
    assert res.method_distance("clean", "pgd") == pytest.approx(
        dif.d_distance(res.d("mlp", "clean", 0), res.d("mlp", "pgd", 0)))
    assert np.isnan(res.method_distance("pgd", "pgd"))  # one seed: no run-to-run distance
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="CPU"):
        thesis_difficulty.run("smoke", device="cuda")


def test_the_shuffle_control_differs_per_run_and_keeps_the_values():
    a, b = np.linspace(0.1, 0.9, 50), np.linspace(0.1, 0.9, 50)[::-1].copy()
    sa, sb = claims.shuffled(a), claims.shuffled(b)
    assert sorted(sa) == sorted(a)
    assert not np.array_equal(np.argsort(sa), np.argsort(a))
    assert dif.d_distance(sa, sb) != pytest.approx(dif.d_distance(a, b))
