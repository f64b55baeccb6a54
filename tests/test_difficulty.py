"""Instance difficulty (4.30), the D-distance (4.31), its null value and the groups (4.32)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from advproof import difficulty as dif


def _reference(g: list[float]) -> list[Fraction]:
    """Eq. (4.30) by its definition: a double loop over exact fractions."""
    n = len(g)
    return [Fraction(sum(gj < gk for gk in g), n) + Fraction(sum(gj == gk for gk in g), 2 * n)
            for gj in g]


def test_toy_losses_with_ties():
    assert dif.difficulty([3, 1, 2, 2]).tolist() == [0.125, 0.875, 0.5, 0.5]
    assert dif.difficulty([5.0]).tolist() == [0.5]
    assert dif.difficulty([1, 1, 1]).tolist() == [0.5, 0.5, 0.5]


def test_against_the_definition_on_random_losses_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(30):
        g = rng.integers(0, 5, size=int(rng.integers(1, 40))).astype(float).tolist()
        got = dif.difficulty(g)
        ref = np.array([float(f) for f in _reference(g)])
        assert np.allclose(got, ref, rtol=0, atol=1e-15)
        assert abs(got.mean() - 0.5) < 1e-12  # mid-ranks average to 1/2


def test_history_is_averaged_over_epochs():
    history = np.array([[0.0, 2.0, 1.0], [4.0, 0.0, 1.0]])  # means 2, 1, 1
    assert dif.difficulty(history).tolist() == dif.difficulty([2.0, 1.0, 1.0]).tolist()
    assert dif.difficulty(history).tolist() == pytest.approx([1 / 6, 2 / 3, 2 / 3])


def test_hardest_has_the_largest_loss():
    g = np.array([0.1, 5.0, 0.3, 2.0])
    d = dif.difficulty(g)
    assert int(np.argmin(d)) == 1 and int(np.argmax(d)) == 0


def test_d_distance_basic():
    d = dif.difficulty([3, 1, 2, 2])
    assert dif.d_distance(d, d) == 0.0
    assert dif.d_distance(d, 1 - d) == pytest.approx(np.mean(np.abs(2 * d - 1)))
    assert dif.d_distance([0.0, 1.0], [1.0, 0.0]) == 1.0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_d_null_exact_by_enumerating_all_pairs_of_rankings(n):
    from itertools import permutations

    perms = [np.array(p) for p in permutations(range(n))]
    exact = np.mean([np.mean(np.abs(p - q)) / n for p in perms for q in perms])
    assert dif.d_null(n) == pytest.approx(exact, abs=1e-12)


def test_d_null_tends_to_one_third_not_0375():
    assert dif.d_null(10**6) == pytest.approx(1 / 3, abs=1e-12)
    mean, se = dif.d_null_monte_carlo(2000, 200, seed=1)
    assert abs(mean - dif.d_null(2000)) < 4 * se
    assert abs(mean - 0.375) > 20 * se


def test_groups_follow_the_definition():
    rng = np.random.default_rng(2)
    g = rng.integers(0, 30, size=503).astype(float)
    d = dif.difficulty(g)
    fr = _reference(g.tolist())
    idx = dif.group_index(d)
    for j, f in enumerate(fr):
        i = int(idx[j])
        assert Fraction(i, 10) <= f < Fraction(i + 1, 10)
    gs = dif.groups(d)
    assert sorted(np.concatenate(list(gs.values())).tolist()) == list(range(503))


def test_group_boundaries_exact():
    assert dif.group_index([0.0, 0.1, 0.3, 0.7, 0.9999, 1.0]).tolist() == [0, 1, 3, 7, 9, 9]
    d = dif.difficulty(np.arange(100.0))  # no ties: ten groups of ten
    assert [len(v) for v in dif.groups(d).values()] == [10] * 10
    assert dif.groups(d, which=[0])[0].tolist() == list(range(90, 100))  # largest losses


def test_balanced_subsets():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 20)
    d = dif.difficulty(rng.random(60))
    for which in ("easy", "hard", "random"):
        idx = dif.balanced_subset(d, y, 5, which)
        assert np.bincount(y[idx]).tolist() == [5, 5, 5]
    hard, easy = dif.balanced_subset(d, y, 5, "hard"), dif.balanced_subset(d, y, 5, "easy")
    for c in range(3):
        assert d[hard][y[hard] == c].max() < d[easy][y[easy] == c].min()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: dif.difficulty([]), "empty"),
    (lambda: dif.difficulty([1.0, float("nan")]), "NaN"),
    (lambda: dif.difficulty(np.zeros((2, 2, 2))), "shape"),
    (lambda: dif.difficulty("abc"), "numbers"),
    (lambda: dif.d_distance([0.5, 0.5], [0.5]), "same instances"),
    (lambda: dif.d_distance([1.5], [0.5]), r"\[0, 1\]"),
    (lambda: dif.d_null(0), "n must be"),
    (lambda: dif.d_null_monte_carlo(10, 1), "repeats"),
    (lambda: dif.group_index([0.5], n_groups=0), "n_groups"),
    (lambda: dif.groups([0.5], which=[10]), "not in"),
    (lambda: dif.balanced_subset([0.5, 0.5], [0, 1], 2, "easy"), "fewer"),
    (lambda: dif.balanced_subset([0.5], [0], 1, "medium"), "which"),
])
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_overfitting_experiment_pieces():
    """The experiment's training loop records one loss per instance and epoch, deterministically,
    and its gap / best-epoch bookkeeping follows the curves."""
    from dataclasses import replace

    from advproof import data
    from advproof.experiments import thesis_overfitting as exp

    cfg = replace(exp.CONFIGS["smoke"], widths=(16,))
    tr = data.load("digits", split="train", n=40, seed=0)
    _, losses = exp.train(cfg, tr.X, tr.y, "pgd", 2, seed=0)
    _, again = exp.train(cfg, tr.X, tr.y, "pgd", 2, seed=0)
    assert losses.shape == (2, 40) and np.all(losses > 0) and np.array_equal(losses, again)
    res = exp.Result(cfg, dif.difficulty(losses), {}, {}, {"hard": {"pgd": {
        "epoch": [2, 4, 6], "robust_test": [0.3, 0.5, 0.4], "robust_train": [0.1, 0.2, 0.3],
        "clean_test": [0.5, 0.6, 0.7]}}})
    assert res.gap("hard", "pgd") == pytest.approx(0.1) and res.best_epoch("hard", "pgd") == 4
    with pytest.raises(ValueError, match="arch"):
        exp.make_model(replace(cfg, arch="resnet"), 0)
