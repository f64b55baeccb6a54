"""Catastrophic overfitting and ATAS on the 8x8 digits (thesis 003 Sec. 5.2, Alg. 5.3, Table 5.11
in miniature; the long-tailed gradient norms promised after (5.27)).

One-step adversarial training of a small CNN (conv3x3-conv3x3/2-FC-FC, ``width`` channels) by
FGSM (zero start, step eps), FGSM-RS (uniform start, step 1.25 eps and 2 eps), ATTA (start from
the instance's previous perturbation, step eps/2) and ATAS (ATTA's start and the per-instance
step of :mod:`advproof.atas`: the thesis's rule (5.16) ``alpha / sqrt(v + C)`` with
``alpha = 2 eps sqrt(C)``, so the small-gradient limit is 2 eps like the released code's; and
the released rule). Every method costs two forward-backward passes per batch;
the wall time and the gradient evaluations per epoch are measured. Evaluation: clean accuracy
and PGD-20 accuracy (step eps/4, random start, ``restarts`` draws) on the test split.

Quick mode (CPU, about a minute): one seed, a short schedule, eps in {0.2, 0.3, 0.4}. Full mode:
three seeds, 60 epochs, a wider net. Choices the thesis leaves open: the model, C (chosen
from the scale of the per-sample input-gradient norms on this data), the learning-rate schedule
(SGD with momentum, /10 at 50% and 75% of the epochs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from advproof import atas, data
from advproof.threads import single_thread, spread

__all__ = ["CONFIGS", "Config", "DigitsCNN", "Result", "run"]


class DigitsCNN(nn.Module):
    """conv3x3(1 -> w)-relu-conv3x3/2(w -> w)-relu-[FC(16 w -> hidden)-relu]-FC(-> 10); no
    hidden FC layer when ``hidden == 0`` (then it is ``models.SmallCNN``'s layout)."""

    def __init__(self, width: int = 32, hidden: int = 0, *, seed: int = 0) -> None:
        super().__init__()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.c1 = nn.Conv2d(1, width, 3, padding=1)
        self.c2 = nn.Conv2d(width, width, 3, padding=1, stride=2)
        self.f1 = nn.Linear(16 * width, hidden) if hidden else nn.Identity()
        self.f2 = nn.Linear(hidden or 16 * width, 10)
        torch.random.set_rng_state(gen_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10) for x (N, 64) or (N, 1, 8, 8) in [0, 1]."""
        h = torch.relu(self.c2(torch.relu(self.c1(x.view(-1, 1, 8, 8))))).flatten(1)
        if isinstance(self.f1, nn.Linear):
            h = torch.relu(self.f1(h))
        return self.f2(h)


#: (label, method, step / eps for the fixed-step methods, ATAS rule name)
METHODS: dict[str, tuple[str, float | None, str | None]] = {
    "FGSM": ("fgsm", 1.0, None),
    "FGSM-RS 1.25eps": ("fgsm_rs", 1.25, None),
    "FGSM-RS 2eps": ("fgsm_rs", 2.0, None),
    "ATTA": ("atta", 0.5, None),
    "ATAS thesis": ("atas", None, "thesis"),
    "ATAS released": ("atas", None, "released"),
}


@dataclass(frozen=True)
class Config:
    """Sizes and the choices the thesis leaves open (module docstring)."""

    eps: tuple[float, ...] = (0.2, 0.3, 0.4)
    methods: tuple[str, ...] = ("FGSM", "FGSM-RS 1.25eps", "FGSM-RS 2eps", "ATTA", "ATAS thesis",
                                "ATAS released")
    width: int = 32
    hidden: int = 0
    num_epochs: int = 15
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    C: float = 0.25
    c_released: float = 0.5
    beta: float = 0.5
    pgd_steps: int = 20
    pgd_restarts: int = 1
    seeds: tuple[int, ...] = (0,)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(eps=(0.4,), methods=("FGSM", "ATAS thesis"), num_epochs=2, width=8,
                    hidden=16, pgd_steps=3),
    "full": Config(methods=tuple(METHODS), width=64, hidden=128, num_epochs=60, momentum=0.0,
                   pgd_restarts=2, seeds=(0, 1, 2)),
}


def step_rule(cfg: Config, name: str) -> atas.StepRule:
    """The ATAS rule ``name`` with the config's constants: thesis ``alpha = 2 eps sqrt(C)``."""
    if name == "thesis":
        return atas.StepRule(rule="thesis", beta=cfg.beta, C=cfg.C, alpha_ratio=2 * cfg.C**0.5)
    return atas.StepRule(rule="released", beta=cfg.beta, c=cfg.c_released,
                         warmup=max(1, cfg.num_epochs // 12), reset=max(2, cfg.num_epochs // 6))


@dataclass
class Result:
    """One row per (eps, method, seed) in ``runs``; ``grad_norms[(eps, method)]``: the final
    per-instance input-gradient norms on the training set (first seed)."""

    config: Config
    runs: list[dict[str, Any]]
    grad_norms: dict[str, list[float]] = field(default_factory=dict)

    def table(self) -> dict[float, dict[str, dict[str, float]]]:
        """``table[eps][method]``: mean clean / PGD accuracy, step, seconds and gradient
        evaluations per epoch, and mean/RMS of the final input-gradient norms, over the
        seeds."""
        out: dict[float, dict[str, dict[str, float]]] = {}
        for eps in self.config.eps:
            out[eps] = {}
            for m in self.config.methods:
                rows = [r for r in self.runs if r["eps"] == eps and r["method"] == m]
                out[eps][m] = {k: float(np.mean([r[k] for r in rows])) for k in
                               ("clean", "pgd", "mean_step", "epoch_seconds", "grad_evals",
                                "mean_over_rms")}
                out[eps][m]["pgd_per_seed"] = [r["pgd"] for r in rows]
        return out

    def summary(self) -> dict[str, Any]:
        """Rounded table (accuracies in %, step in units of eps)."""
        return {f"{eps}": {m: {k: (round(100 * v, 1) if k in ("clean", "pgd") else
                                   [round(100 * x, 1) for x in v] if k == "pgd_per_seed" else
                                   round(v, 3)) for k, v in row.items()}
                           for m, row in t.items()} for eps, t in self.table().items()}

    def to_json(self) -> dict[str, Any]:
        """The summary, every run, and the gradient-norm samples."""
        return {"summary": self.summary(), "runs": self.runs,
                "grad_norms": {k: [round(x, 6) for x in v] for k, v in self.grad_norms.items()}}


def train_one(cfg: Config, X: torch.Tensor, y: torch.Tensor, eps: float, method: str, seed: int,
              callback: Callable[[int, nn.Module], None] | None = None
              ) -> tuple[nn.Module, atas.FastATResult]:
    """Train a fresh :class:`DigitsCNN` with ``method`` (a key of :data:`METHODS`); ``callback``
    as in :func:`advproof.atas.fast_at` (after every epoch)."""
    kind, ratio, rule = METHODS[method]
    model = DigitsCNN(cfg.width, cfg.hidden, seed=seed)
    kw: dict[str, Any] = {"rule": step_rule(cfg, rule)} if rule else {"alpha": ratio * eps}
    res = atas.fast_at(model, X, y, method=kind, eps=eps, num_epochs=cfg.num_epochs, lr=cfg.lr,
                       batch_size=cfg.batch_size, momentum=cfg.momentum,
                       weight_decay=cfg.weight_decay, seed=seed, callback=callback, **kw)
    return model, res


def _run_one(cfg: Config, eps: float, method: str, seed: int, pgd_seed: int,
             data_dir: str | None) -> tuple[dict[str, Any], list[float]]:
    """Train and evaluate one (eps, method, seed), single-threaded: its result does not depend
    on the process it runs in. Returns the row of :attr:`Result.runs` and the final
    per-instance input-gradient norms."""
    tr = data.load("digits", split="train", flatten=True, data_dir=data_dir)
    te = data.load("digits", split="test", flatten=True, data_dir=data_dir)
    with single_thread():
        start = time.perf_counter()
        model, res = train_one(cfg, tr.X, tr.y, eps, method, seed)
        row = {
            "eps": eps, "method": method, "seed": seed,
            "clean": atas.clean_accuracy(model, te.X, te.y),
            "pgd": atas.pgd_accuracy(model, te.X, te.y, eps=eps, steps=cfg.pgd_steps,
                                     restarts=cfg.pgd_restarts, seed=pgd_seed),
            "mean_step": res.mean_step[-1],
            "epoch_seconds": float(np.mean(res.epoch_seconds)),
            "grad_evals": float(np.mean(res.grad_evals)),
            "train_seconds": time.perf_counter() - start,
            "mean_over_rms": atas.mean_over_rms(res.grad_norms),
        }
    return row, res.grad_norms.double().tolist()


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None, workers: int | None = None) -> Result:
    """Every (eps, method, seed) of the config: train, evaluate, time (CPU, float32).

    The runs are independent and each is single-threaded and seeded, so they are spread over
    ``workers`` processes (default: up to 2, the CI machine's cores) with bit-identical
    results; ``workers=1`` runs them in this process."""
    if device != "cpu":
        raise ValueError(f"thesis_atas runs on the CPU in this version; got device {device!r}")
    cfg = CONFIGS[mode]
    jobs = [(cfg, eps, m, seed + s, seed + 10_000, data_dir) for s in cfg.seeds for eps in cfg.eps
            for m in cfg.methods]
    done = spread(_run_one, jobs, workers)
    runs = [row for row, _ in done]
    first = seed + cfg.seeds[0]
    norms = {f"{row['eps']}|{row['method']}": g for row, g in done if row["seed"] == first}
    return Result(cfg, runs, norms)
