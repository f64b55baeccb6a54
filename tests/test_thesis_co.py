"""Catastrophic overfitting (thesis 003 Figs. 5.5-5.6): the collapse detector, the input-space
loss surface, the PGD training loss, and the thesis_co smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from advproof.experiments import thesis_co
from advproof.symbolic import thesis_co as claims


def _curve(pgd: list[float], fgsm: list[float]) -> dict[str, list[float]]:
    return {"pgd": pgd, "fgsm": fgsm}


def test_the_detector_fires_on_a_collapse_and_only_after_the_best_epoch():
    co = _curve([0.2, 0.4, 0.45, 0.05, 0.02], [0.3, 0.5, 0.55, 0.6, 0.7])
    assert claims.collapse_epoch(co) == 4  # 0.05 <= 0.45 / 4 and FGSM 0.55 above
    steady = _curve([0.2, 0.4, 0.45, 0.44, 0.46], [0.3, 0.5, 0.55, 0.6, 0.6])
    assert claims.collapse_epoch(steady) is None
    # the PGD accuracy falls, but so does the FGSM accuracy: a plain failure, not CO
    both_fall = _curve([0.2, 0.4, 0.45, 0.05, 0.02], [0.3, 0.5, 0.55, 0.1, 0.1])
    assert claims.collapse_epoch(both_fall) is None
    # low values before the best epoch are the start of training, not a collapse
    early = _curve([0.01, 0.3, 0.45], [0.5, 0.5, 0.6])
    assert claims.collapse_epoch(early) is None


def test_the_control_zeroes_the_pgd_accuracy_after_the_best_epoch():
    c = _curve([0.1, 0.5, 0.4, 0.45], [0.2, 0.6, 0.6, 0.6])
    out = claims.collapsed(c)
    assert out["pgd"] == [0.1, 0.5, 0.0, 0.0] and out["fgsm"] == c["fgsm"]
    assert c["pgd"] == [0.1, 0.5, 0.4, 0.45]  # the input is not changed
    assert claims.collapse_epoch(out) == 3


class _Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_the_surface_is_the_loss_on_the_fgsm_and_random_directions():
    torch.manual_seed(0)
    model = _Linear().double()
    X = torch.full((5, 4), 0.5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    axis = np.linspace(-1.0, 1.0, 5)
    s = thesis_co.loss_surface(model, X, y, 0.1, axis, seed=3)
    assert s.shape == (5, 5)
    with torch.no_grad():
        assert s[2, 2] == pytest.approx(float(F.cross_entropy(model(X), y)), rel=1e-12)
    # (a, b) = (eps, 0) is the FGSM point: the loss there equals FGSM's loss (no clipping needed)
    X_ = X.clone().requires_grad_(True)
    F.cross_entropy(model(X_), y, reduction="sum").backward()
    with torch.no_grad():
        fgsm = float(F.cross_entropy(model(X + 0.1 * X_.grad.sign()), y))
    assert s[-1, 2] == pytest.approx(fgsm, rel=1e-12)
    assert s[-1, 2] > s[2, 2] > s[0, 2]  # uphill along the FGSM direction, downhill against it


def test_distortion_is_the_grid_maximum_above_the_fgsm_corner():
    axis = np.linspace(-1.0, 1.0, 3)
    grid = np.array([[0.1, 0.2, 0.3], [0.2, 0.5, 0.4], [0.9, 1.0, 1.4]])
    res = thesis_co.Result(thesis_co.Config(), {}, {"k": {"final": grid}}, axis)
    assert res.distortion("k") == pytest.approx(0.4)


def test_the_pgd_loss_is_at_least_the_clean_loss():
    torch.manual_seed(1)
    model = _Linear()
    X, y = torch.rand(16, 4), torch.randint(0, 3, (16,))
    with torch.no_grad():
        clean = float(F.cross_entropy(model(X), y))
    assert thesis_co.pgd_loss(model, X, y, 0.1, steps=5, seed=0) > clean
    assert thesis_co.pgd_loss(model, X, y, 0.1, steps=5, seed=0) == thesis_co.pgd_loss(
        model, X, y, 0.1, steps=5, seed=0)


# two epochs at eps 0.3 leave the smoke nets dead (constant outputs): the attack engine says so
@pytest.mark.filterwarnings("ignore::advproof.attacks.ZeroInputGradientWarning")
def test_smoke_run_and_bad_settings():
    res = thesis_co.run("smoke", seed=0, workers=1)
    assert sorted(res.curves) == ["0.3|ATAS thesis", "0.3|FGSM"]
    for key, c in res.curves.items():
        assert all(len(v) == 2 for v in c.values())
        assert all(0 <= a <= 1 for a in c["pgd"] + c["fgsm"] + c["clean"])
        assert 1 <= res.surfaces[key]["best_epoch"] <= 2
        assert np.asarray(res.surfaces[key]["final"]).shape == (5, 5)
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="mode must be one of"):
        thesis_co.run("huge")
    with pytest.raises(ValueError, match="on the CPU"):
        thesis_co.run("smoke", device="cuda")
