"""The robust edge-popup experiment (thesis 003 Alg. 5.1) in smoke mode: structure, budgets and
mask statistics, and the claim helpers on planted masks."""

from __future__ import annotations

import json

import pytest
import torch

from advproof.experiments import thesis_subnet
from advproof.symbolic import thesis_subnet as claims


@pytest.fixture(scope="module")
def smoke() -> thesis_subnet.Result:
    return thesis_subnet.run("smoke", seed=0)


def test_smoke_grid_and_reference(smoke):
    cfg = smoke.config
    adversarial = [r for r in smoke.runs if r["eps_train"] > 0]
    assert len(adversarial) == len(cfg.rates) * len(cfg.gammas) * len(cfg.seeds)
    ref = smoke.reference()
    assert ref["eps_train"] == 0 and ref["rate"] == max(cfg.rates)
    for row in smoke.runs:
        sizes = [64 * 16, 16 * 10]
        assert sum(row["keeps"]) == pytest.approx((1 - row["rate"]) * sum(sizes), abs=2)
        assert len(row["curve"]) == cfg.num_epochs
        assert 0 <= row["pgd"] <= row["clean"] <= 1  # a robust point is classified correctly
    json.dumps(smoke.to_json())  # the artifact is plain JSON
    grid = smoke.grid("pgd")
    assert set(grid) == set(cfg.rates)


def test_mask_statistics_match_the_stored_counts(smoke):
    for row in smoke.runs:
        (stats,) = row["masks"]  # one hidden layer
        assert stats["units"] == 16
        assert stats["no_in"] == sum(c == 0 for c in stats["in_counts"])
        assert stats["no_out"] == sum(c == 0 for c in stats["out_counts"])
        assert sum(stats["in_counts"]) == row["keeps"][0]
        assert sum(stats["out_counts"]) == row["keeps"][1]
        assert claims.learned_counts(row)[0]["no_in"] == stats["no_in"]


def test_random_masks_keep_the_run_counts(smoke):
    row = smoke.runs[0]
    masks = claims.random_masks(row, smoke.config.widths, seed=1)
    assert [int(m.sum()) for m in masks] == row["keeps"]


def test_mask_counts_on_a_planted_mask():
    a = torch.tensor([[1, 1], [0, 0], [0, 0]])
    b = torch.tensor([[1, 0, 0]])
    (c,) = claims.mask_counts([a, b])
    assert c == {"units": 3, "no_in": 2, "no_out": 2, "both": 2}


def test_gpu_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="CPU"):
        thesis_subnet.run("smoke", device="cuda")


def test_a_killed_run_resumes_from_its_finished_runs(tmp_path, smoke):
    from advproof.experiments import Checkpoint

    ckpt = Checkpoint(tmp_path / "ckpt")
    first = thesis_subnet.run("smoke", seed=0, checkpoint=ckpt)
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert len(saved) == len(first.runs)
    # a second run reads every stage back instead of training (its rows are the saved ones)
    again = thesis_subnet.run("smoke", seed=0, checkpoint=ckpt)
    assert [r["seconds"] for r in again.runs] == [r["seconds"] for r in first.runs]
    assert [r["pgd"] for r in first.runs] == [r["pgd"] for r in smoke.runs]  # deterministic
