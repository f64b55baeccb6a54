"""Instance difficulty (thesis 003 Sec. 4.3.1, eqs. (4.30)-(4.32)): a rank of the training loss.

Liu's thesis measures how hard a training instance is by the (adversarial) loss it has, averaged
over all training epochs, ``g_hat(x)``, ranked against the rest of the training set:

    d(x) = P(g_hat(x) < g_hat(x') | x' ~ U(D)) + 1/2 P(g_hat(x) = g_hat(x') | x' ~ U(D))   (4.30)

``x'`` ranges over the whole set *including* ``x``, so with N instances ``d`` takes the values
``(k + 1/2) / N``: close to 0 for the hardest instance (largest loss), close to 1 for the easiest.
The half weight on ties makes ``d`` the mid-rank and the mean of ``d`` exactly 1/2.

Two difficulty functions are compared by the D-distance (4.31), ``E_x |d1(x) - d2(x)|``. Between
two *independent random* rankings (no ties) its expectation is ``(N^2 - 1) / (3 N^2)``, which tends
to 1/3 (the thesis prints 0.375; see ``thesis.d_null``). The groups (4.32) cut ``[0, 1)`` into ten
intervals of width 0.1: ``G_0`` the hardest tenth, ``G_9`` the easiest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

__all__ = ["balanced_subset", "difficulty", "d_distance", "d_null", "d_null_monte_carlo",
           "group_index", "groups", "mean_loss"]


def _as_losses(losses: object, what: str = "losses") -> np.ndarray:
    """A finite float64 array of at least one entry, or ``ValueError``."""
    try:
        arr = np.asarray(losses, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be numbers, got {type(losses).__name__}") from err
    if arr.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or inf")
    return arr


def mean_loss(history: object) -> np.ndarray:
    """``g_hat``: per-instance losses averaged over epochs.

    ``history`` is ``(epochs, N)`` (one row per epoch) or ``(N,)`` (already averaged).
    """
    arr = _as_losses(history, "loss history")
    if arr.ndim == 1:
        return arr
    if arr.ndim != 2:
        raise ValueError(f"loss history must be (epochs, N) or (N,), got shape {arr.shape}")
    return arr.mean(axis=0)


def difficulty(losses: object) -> np.ndarray:
    """Eq. (4.30): ``d(x_j) = (#{k: g_k > g_j} + #{k: g_k = g_j} / 2) / N`` (k runs over all N).

    ``losses``: the averaged losses ``(N,)`` or a history ``(epochs, N)`` (averaged first).
    Ties share the mid-rank exactly: with the average rank ``r_j`` (1-based, ties averaged),
    ``d_j = (N - r_j + 1/2) / N``. Example: losses ``[3, 1, 2, 2]`` give
    ``[0.125, 0.875, 0.5, 0.5]``.
    """
    g = mean_loss(losses)
    n = g.size
    ranks = rankdata(g, method="average")  # 1 + #{g_k < g_j} + (#{g_k = g_j} - 1) / 2
    return (n - ranks + 0.5) / n


def _as_difficulty(d: object, what: str) -> np.ndarray:
    arr = _as_losses(d, what)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"{what} must lie in [0, 1], got range [{arr.min()}, {arr.max()}]")
    return arr


def d_distance(d1: object, d2: object) -> float:
    """Eq. (4.31): ``D(d1, d2) = mean_x |d1(x) - d2(x)|`` over the same instances, in [0, 1]."""
    a, b = _as_difficulty(d1, "d1"), _as_difficulty(d2, "d2")
    if a.shape != b.shape:
        raise ValueError(f"d1 and d2 must cover the same instances: shapes {a.shape}, {b.shape}")
    return float(np.mean(np.abs(a - b)))


def d_null(n: int) -> float:
    """``E[D]`` between two independent uniformly random rankings of ``n`` instances (no ties):
    ``(n^2 - 1) / (3 n^2)``, from ``sum_{a, b < n} |a - b| = (n^3 - n) / 3``; -> 1/3."""
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    return (n * n - 1) / (3 * n * n)


def d_null_monte_carlo(n: int, repeats: int, *, seed: int = 0) -> tuple[float, float]:
    """Mean and standard error of ``D`` between two independent random difficulty functions
    (random losses, hence random rankings) over ``repeats`` draws of ``n`` instances."""
    if not isinstance(n, int) or n < 1 or not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"need int n >= 1 and int repeats >= 2, got n={n!r}, repeats={repeats!r}")
    rng = np.random.default_rng(seed)
    values = np.array([d_distance(difficulty(rng.random(n)), difficulty(rng.random(n)))
                       for _ in range(repeats)])
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(repeats))


def group_index(d: object, n_groups: int = 10) -> np.ndarray:
    """Eq. (4.32): the group ``i`` with ``i / n_groups <= d < (i + 1) / n_groups`` per instance.

    ``d = 1`` cannot occur for (4.30) (its maximum is ``1 - 1/(2N)``) and is put in the last group.
    Values within 1e-12 of a boundary are rounded to it first, so ``0.3`` lands in group 3 although
    ``0.3 * 10`` is ``2.9999999999999996`` in floating point.
    """
    if not isinstance(n_groups, int) or n_groups < 1:
        raise ValueError(f"n_groups must be an int >= 1, got {n_groups!r}")
    arr = _as_difficulty(d, "d")
    scaled = arr * n_groups
    nearest = np.round(scaled)
    scaled = np.where(np.abs(scaled - nearest) < 1e-12, nearest, scaled)
    return np.minimum(np.floor(scaled), n_groups - 1).astype(np.int64)


def groups(d: object, which: Sequence[int] | None = None, n_groups: int = 10
           ) -> dict[int, np.ndarray]:
    """Eq. (4.32): ``{i: indices of G_i}`` (sorted), for the groups ``which`` (default all)."""
    idx = group_index(d, n_groups)
    chosen = range(n_groups) if which is None else which
    out = {}
    for i in chosen:
        if not isinstance(i, int | np.integer) or not 0 <= i < n_groups:
            raise ValueError(f"group {i!r} is not in 0..{n_groups - 1}")
        out[int(i)] = np.flatnonzero(idx == i)
    return out


def balanced_subset(d: object, labels: object, per_class: int, which: str, *, seed: int = 0
                    ) -> np.ndarray:
    """Indices of a class-balanced subset (thesis Fig. 4.17): ``per_class`` instances of every
    class, the easiest (largest d), the hardest (smallest d) or a random draw.

    ``which`` is "easy", "hard" or "random"; ties in d are broken by index (stable sort).
    Returns sorted indices; ``ValueError`` when a class has fewer than ``per_class`` instances.
    """
    if which not in ("easy", "hard", "random"):
        raise ValueError(f"which must be 'easy', 'hard' or 'random', got {which!r}")
    arr = _as_difficulty(d, "d")
    y = np.asarray(labels)
    if y.shape != arr.shape:
        raise ValueError(f"labels shape {y.shape} differs from d's {arr.shape}")
    if not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be an int >= 1, got {per_class!r}")
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if members.size < per_class:
            raise ValueError(f"class {c} has {members.size} instances, fewer than {per_class}")
        if which == "random":
            out.append(rng.choice(members, per_class, replace=False))
        else:
            order = members[np.argsort(arr[members], kind="stable")]  # hardest first
            out.append(order[:per_class] if which == "hard" else order[-per_class:])
    return np.sort(np.concatenate(out))
