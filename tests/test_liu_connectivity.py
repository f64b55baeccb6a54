"""Mode connectivity (004 eq. (30), Fig. 15; 003 eq. (4.28), Fig. 4.8): the Bezier curve, the
barrier arithmetic and the smoke run."""

from __future__ import annotations

import json
import math

import pytest
import sympy as sp
import torch

from advproof.experiments import liu_connectivity
from advproof.symbolic import liu_connectivity as claims


def _points(n: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(n)
    return [{"w": torch.randn(2, 3, dtype=torch.float64, generator=gen)} for _ in range(n + 1)]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_the_curve_runs_from_the_first_to_the_last_point(n):
    pts = _points(n)
    torch.testing.assert_close(liu_connectivity.bezier(0.0, pts)["w"], pts[0]["w"])
    torch.testing.assert_close(liu_connectivity.bezier(1.0, pts)["w"], pts[-1]["w"])
    # quadratic at t = 1/2: (theta_0 + 2 theta_1 + theta_2) / 4
    if n == 2:
        mid = (pts[0]["w"] + 2 * pts[1]["w"] + pts[2]["w"]) / 4
        torch.testing.assert_close(liu_connectivity.bezier(0.5, pts)["w"], mid)


def test_the_curve_is_differentiable_in_its_middle_point():
    pts = _points(2)
    mid = {"w": pts[1]["w"].clone().requires_grad_(True)}
    liu_connectivity.bezier(0.25, [pts[0], mid, pts[2]])["w"].sum().backward()
    torch.testing.assert_close(mid["w"].grad, torch.full((2, 3), 2 * 0.25 * 0.75,
                                                         dtype=torch.float64))
    with pytest.raises(ValueError, match="two points"):
        liu_connectivity.bezier(0.5, pts[:1])


def test_the_printed_weights_of_004_leave_a_constant_curve():
    total = sum(claims.printed_004(2, i, sp.Rational(1, 2)) for i in range(3))
    assert float(total) == pytest.approx(0.5 + 4 / (3 * math.pi))
    assert sp.simplify(sum(claims.bernstein(3, i) for i in range(4)) - 1) == 0


def test_barriers_read_the_curves():
    cfg = liu_connectivity.Config(eps_grid=(0.0,), n_t=3)
    res = liu_connectivity.Result(cfg, [0.0, 0.5, 1.0],
                                  {0.0: {"loss": [1.0, 2.5, 2.0], "error": [0.1, 0.3, 0.2]}},
                                  {0.0: {"loss": [1.0, 4.0, 2.0], "error": [0.1, 0.5, 0.2]}})
    assert res.barrier(0.0) == pytest.approx(1.0)  # 2.5 above the chord's 1.5
    assert res.barrier(0.0, "line") == pytest.approx(2.5)
    assert res.error_barrier(0.0) == pytest.approx(0.1)
    assert res.summary()["0"]["barrier_curve"] == pytest.approx(1.0)


def test_smoke_run():
    res = liu_connectivity.run("smoke", seed=0)
    assert res.t == [0.0, 0.5, 1.0]
    for e in res.config.eps_grid:
        for path in (res.curves[e], res.lines[e]):
            assert len(path["loss"]) == len(path["error"]) == 3
        # both paths share their end points: the same two trained nets
        assert res.curves[e]["loss"][0] == res.lines[e]["loss"][0]
        assert res.curves[e]["loss"][-1] == res.lines[e]["loss"][-1]
    json.dumps(res.to_json())
    with pytest.raises(ValueError, match="CPU"):
        liu_connectivity.run("smoke", device="cuda")
