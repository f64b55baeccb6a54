"""The Lyu & Zhu appendix experiment (002 Figs. 3 and 5) in smoke mode, and the claim helpers."""

from __future__ import annotations

import json

import pytest

from advproof.experiments import lyuzhu_appendix
from advproof.symbolic import lyu_zhu_appendix as claims


def test_smoke_run_measures_every_checkpoint():
    res = lyuzhu_appendix.run("smoke", seed=0)
    cfg = res.config
    assert res.fig3["epochs"] == list(cfg.mc_epochs)
    assert len(res.fig3["margin"]) == len(cfg.mc_epochs) == len(res.fig3["acc"])
    assert len(res.fig5["margin"]) == len(cfg.exp_epochs)
    for curve in (res.fig3, res.fig5):
        for m, a in zip(curve["margin"], curve["acc"], strict=True):
            assert 0.0 <= a <= 1.0
            assert (m > 0) == (a == 1.0)  # the minimum margin is positive iff all are fitted
    json.dumps(res.to_json())
    assert set(res.summary()) == {"fig3", "fig5"}


def test_separation_index_and_the_reversed_control():
    res = lyuzhu_appendix.Result(lyuzhu_appendix.CONFIGS["smoke"],
                                 {"epochs": [1, 2, 4], "margin": [-1.0, 0.1, 0.2],
                                  "acc": [0.5, 1.0, 1.0]},
                                 {"epochs": [1, 2], "margin": [-1.0, -0.5], "acc": [0.2, 0.9]})
    assert res.separated_at("fig3") == 1
    assert res.separated_at("fig5") is None
    assert claims.reversed_in_time([1.0, 2.0, 3.0]) == [3.0, 2.0, 1.0]


def test_bad_mode_and_device_are_refused():
    with pytest.raises(ValueError, match="mode"):
        lyuzhu_appendix.run("fast")
    with pytest.raises(ValueError, match="CPU"):
        lyuzhu_appendix.run("smoke", device="cuda")
