"""ATAS step rules and one-step adversarial training (advproof.atas)."""

from __future__ import annotations

import math

import pytest
import torch

from advproof import atas, models


def test_update_v_is_the_moving_average_of_5_15():
    v = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64)
    g2 = torch.tensor([4.0, 1.0, 0.0], dtype=torch.float64)
    assert torch.allclose(atas.update_v(v, g2, 0.5), torch.tensor([2.0, 1.0, 2.0],
                                                                  dtype=torch.float64))
    assert torch.equal(atas.update_v(v, g2, 0.0), g2)


def test_thesis_step_is_alpha_over_root_v_plus_c():
    v = torch.tensor([0.0, 3.0, 99.0], dtype=torch.float64)
    got = atas.thesis_step(v, 0.2, 1.0)
    assert torch.allclose(got, torch.tensor([0.2, 0.1, 0.02], dtype=torch.float64))


def test_released_step_matches_the_code_at_cifar_budget():
    """clip(16/255 / (1 + sqrt(v)/c), 4/255, 14/255) at eps = 8/255, c = 0.01."""
    eps, c = 8 / 255, 0.01
    v = torch.tensor([0.0, 1e-6, 1e-4, 1e-2, 1.0], dtype=torch.float64)
    ref = [min(max((16 / 255) / (1 + math.sqrt(x) / c), 4 / 255), 14 / 255) for x in v.tolist()]
    got = atas.released_step(v, eps, c)
    assert torch.allclose(got, torch.tensor(ref, dtype=torch.float64))
    assert got[0] == pytest.approx(14 / 255) and got[-1] == pytest.approx(4 / 255)


def test_the_two_rules_differ():
    """Small gradients: the thesis rule gives alpha/sqrt(C), the released one its upper clip."""
    v = torch.zeros(1, dtype=torch.float64)
    thesis = atas.StepRule().step(v, 0.3, epoch=0)
    released = atas.StepRule(rule="released", warmup=5).step(v, 0.3, epoch=10)
    assert float(thesis) == pytest.approx(0.2 * 0.3 / math.sqrt(0.01))  # 2 eps
    assert float(released) == pytest.approx(1.75 * 0.3)
    warm = atas.StepRule(rule="released", warmup=5).step(torch.ones(3), 0.3, epoch=2)
    assert torch.allclose(warm, torch.full((3,), 0.3))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="beta"):
        atas.update_v(torch.zeros(1), torch.zeros(1), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        atas.update_v(torch.zeros(1), -torch.ones(1), 0.5)
    with pytest.raises(ValueError, match="alpha and C"):
        atas.thesis_step(torch.zeros(1), 0.1, 0.0)
    with pytest.raises(ValueError, match="rule"):
        atas.StepRule(rule="adam")
    X, y = torch.rand(8, 4), torch.randint(0, 2, (8,))
    model = models.MLP(4, [4], 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="method"):
        atas.fast_at(model, X, y, method="pgd", eps=0.1, num_epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="step rule"):
        atas.fast_at(model, X, y, method="fgsm", eps=0.1, num_epochs=1, lr=0.1,
                     rule=atas.StepRule())


def test_per_sample_gradient_does_not_mix_rows():
    torch.manual_seed(0)
    model = models.MLP(5, [7], 3, generator=torch.Generator().manual_seed(1)).double()
    X, y = torch.randn(6, 5, dtype=torch.float64), torch.randint(0, 3, (6,))
    batch = atas.per_sample_input_grad(model, X, y)
    single = torch.cat([atas.per_sample_input_grad(model, X[i:i + 1], y[i:i + 1])
                        for i in range(6)])
    assert torch.allclose(batch, single, atol=1e-12)


def test_fast_at_counts_two_passes_per_batch_and_respects_the_ball():
    gen = torch.Generator().manual_seed(0)
    X, y = torch.rand(40, 6, generator=gen), torch.randint(0, 3, (40,), generator=gen)
    for method in atas.METHODS:
        model = models.MLP(6, [8], 3, generator=torch.Generator().manual_seed(0))
        seen: list[int] = []
        res = atas.fast_at(model, X, y, method=method, eps=0.1, num_epochs=2, lr=0.05,
                           batch_size=16, callback=lambda epoch, m, seen=seen: seen.append(epoch))
        assert res.grad_evals == [6, 6]  # 3 batches x (input grad + parameter grad)
        assert seen == [0, 1]
        assert res.grad_norms is not None and res.grad_norms.shape == (40,)
        assert len(res.epoch_seconds) == 2 and all(s >= 0 for s in res.epoch_seconds)


def test_atas_steps_shrink_for_large_gradients():
    """Instances with larger input gradients get smaller steps under both rules."""
    v = torch.tensor([0.01, 1.0, 100.0])
    for rule in (atas.StepRule(C=1.0, alpha_ratio=2.0), atas.StepRule(rule="released", c=1.0)):
        steps = rule.step(v, 0.3, epoch=0)
        assert bool((steps[:-1] >= steps[1:]).all()) and float(steps[0]) > float(steps[-1])


def test_pgd_accuracy_is_at_most_clean_accuracy():
    gen = torch.Generator().manual_seed(3)
    X, y = torch.rand(50, 6, generator=gen), torch.randint(0, 3, (50,), generator=gen)
    model = models.MLP(6, [16], 3, generator=torch.Generator().manual_seed(0))
    atas.fast_at(model, X, y, method="fgsm", eps=0.1, num_epochs=3, lr=0.1)
    clean = atas.clean_accuracy(model, X, y)
    assert atas.pgd_accuracy(model, X, y, eps=0.1, steps=5) <= clean
    assert atas.pgd_accuracy(model, X, y, eps=0.0001, steps=1) == pytest.approx(clean, abs=0.05)


def test_mean_over_rms():
    assert atas.mean_over_rms(torch.ones(5)) == pytest.approx(1.0)
    assert atas.mean_over_rms(torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.5)


def test_thesis_atas_smoke_run():
    """The smoke config end to end. The runs are spread over processes, each single-threaded
    and seeded, so two processes and one give the same numbers, bit for bit, in order."""
    from advproof.experiments import thesis_atas

    res = thesis_atas.run("smoke")  # two worker processes
    table = res.table()
    assert set(table) == {0.4} and set(table[0.4]) == {"FGSM", "ATAS thesis"}
    for row in table[0.4].values():
        assert row["grad_evals"] == 2 * math.ceil(1438 / 64)
        assert 0.0 <= row["pgd"] <= row["clean"] <= 1.0
    assert len(res.grad_norms["0.4|FGSM"]) == 1438
    assert res.to_json()["summary"]["0.4"]["FGSM"]["grad_evals"] == 46.0
    one = thesis_atas.run("smoke", workers=1)
    keys = ("eps", "method", "seed", "clean", "pgd", "mean_step", "grad_evals", "mean_over_rms")
    assert [[r[k] for k in keys] for r in one.runs] == [[r[k] for k in keys] for r in res.runs]
    assert one.grad_norms == res.grad_norms
    with pytest.raises(ValueError, match="workers"):
        thesis_atas.run("smoke", workers=-1)
