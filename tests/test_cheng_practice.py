"""Cheng et al. in practice: the measurement helpers against direct computations, a smoke run,
and the controls of the claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advproof import models, train
from advproof.experiments import cheng_practice as cp
from advproof.symbolic import cheng_practice as claims

F64 = torch.float64


@pytest.fixture(scope="module")
def smoke() -> cp.Result:
    return cp.run("smoke")


def test_smoke_run_has_one_value_per_setting(smoke):
    cfg = cp.CONFIGS["smoke"]
    assert smoke.strengths == list(cfg.strengths)
    assert len(smoke.gate_flip) == len(smoke.kappa) == len(cfg.strengths)
    assert len(smoke.binding) == len(smoke.kappa_projected) == len(cfg.radius_fractions)
    assert len(smoke.unconfident) == len(smoke.robust_acc) == cfg.at_epochs
    assert all(0 <= v <= 1 for v in smoke.gate_flip + smoke.binding + smoke.top_share_of_a)
    assert smoke.binding[0] == 0.0  # a ball of twice the free norm never binds
    assert smoke.binding[-1] == 1.0  # half the free norm always does


def test_gate_flips_are_zero_for_the_same_input_and_counted_exactly():
    net = models.MLP(3, (4,), 2, generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert cp.gate_flip_share(net, x, x) == 0.0
    w, b = net.linears[0].weight, net.linears[0].bias
    flipped = (x @ w.T + b > 0) != (-x @ w.T + b > 0)
    assert cp.gate_flip_share(net, x, -x) == pytest.approx(flipped.double().mean().item())


def test_top_eigen_and_jaccard():
    H = torch.diag(torch.tensor([1.0, 3.0, 2.0], dtype=F64))[None]
    lam, v = cp.top_eigen(H)
    assert lam.item() == 3.0 and abs(v[0, 1].item()) == 1.0
    assert cp.jaccard(np.array([1, 2, 3]), np.array([2, 3, 4])) == 0.5


def test_u4_share_refuses_unknown_directions():
    net = models.MLP(3, (4,), 3, generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(4, 3, dtype=F64)
    with pytest.raises(ValueError, match="direction"):
        cp.u4_share(net, x, torch.zeros(4, dtype=torch.long), "sideways")


def test_bad_mode_and_device():
    with pytest.raises(ValueError, match="mode"):
        cp.run("huge")
    with pytest.raises(ValueError, match="cpu"):
        cp.run("smoke", device="cuda")


def test_shuffled_control_keeps_the_values_and_breaks_the_order():
    series = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    mixed = claims.shuffled(series)
    assert sorted(mixed) == series and mixed != series
    assert claims.rho(series) == pytest.approx(1.0)


def test_pgd_attack_kwargs_alpha_is_a_clear_error():
    with pytest.raises(ValueError, match="rel_alpha"):
        train.make_attack("pgd", steps=5, alpha=0.1)


def test_verify_says_how_to_run_experiment_only_claims():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "advproof.cli", "verify", "--only", "cheng.u2"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1 not yet checked" in out.stdout and "--kind experiment" in out.stdout
