"""The capacity / dead-neuron experiment (004 Fig. 14, §6) in smoke mode, and its helpers."""

from __future__ import annotations

import json

import pytest
import torch

from advproof import models
from advproof.experiments import liu_capacity


def test_dead_fractions_count_units_silent_on_every_input():
    net = models.MLP(2, (3,), 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.linears[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        net.linears[0].bias.zero_()
    X = torch.tensor([[1.0, 0.0], [0.5, 0.0]])  # unit 0 fires; units 1 and 2 never do
    assert liu_capacity.dead_fractions(net, X) == [pytest.approx(2 / 3)]


def test_schedules_ramp_to_the_target():
    for name in ("linear", "cosine"):
        s = liu_capacity.schedule(name, 0.2, 10)
        assert s(0) == 0.0 and s(5) == pytest.approx(0.2) and s(9) == pytest.approx(0.2)
    assert liu_capacity.schedule("constant", 0.2, 10) == 0.2
    with pytest.raises(ValueError, match="schedule"):
        liu_capacity.schedule("step", 0.2, 10)


def test_smoke_run_structure():
    res = liu_capacity.run("smoke", seed=0)
    cfg = res.config
    assert len(res.capacity) == len(cfg.widths) * len(cfg.seeds) * len(liu_capacity.SCHEDULES)
    assert [r["eps"] for r in res.dead] == list(cfg.dead_eps)
    for r in res.capacity:
        assert 1 <= r["classes"] <= 10 and len(r["dead"]) == 2
        assert all(0.0 <= d <= 1.0 for d in r["dead"])
    for name in liu_capacity.SCHEDULES:  # a failure is a one-class predictor
        for w, s in res.failures(name):
            row = next(r for r in res.capacity if (r["width"], r["seed"], r["schedule"])
                       == (w, s, name))
            assert row["classes"] == 1
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="CPU"):
        liu_capacity.run("smoke", device="cuda")
