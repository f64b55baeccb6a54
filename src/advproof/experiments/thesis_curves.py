"""Learning curves of vanilla and adversarial training (thesis 003 §4.1, Fig. 4.1).

The thesis opens its chapter on adversarial training with the learning curves of a ResNet18 on
CIFAR-10, trained without and with PGD (l_inf 8/255): error and loss on the training and the
test set. It reads three things off them: adversarial training converges much more slowly, its
generalisation gap is much larger, and its test performance decays late in training (robust
overfitting).

Here the MLP of :mod:`advproof.experiments.thesis_overfitting` (its optimiser, schedule and PGD)
trains on the whole digits training set, once on clean inputs ("vanilla") and once on PGD
examples ("pgd"). After every ``eval_every`` epochs we record the error and the cross-entropy on
the training and the test set, each measured the way the run is trained: on clean inputs for
vanilla, on PGD-``eval_steps`` examples for adversarial training (what Fig. 4.1 plots).

Quick mode: l_inf eps = 0.1, 60 epochs (LR / 10 after 30 and 45), evaluated every 2 epochs.
Unstated in the thesis and chosen here: the evaluation attack of the curves and how often they
are sampled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from advproof import data
from advproof.experiments import thesis_overfitting as tov
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]

#: The two runs: trained on clean inputs, and by PGD adversarial training.
RUNS: tuple[str, ...] = ("vanilla", "pgd")


@dataclass(frozen=True)
class Config:
    """The run length and its evaluation; the model, optimiser and PGD are ``base``'s."""

    epochs: int = 60
    eval_every: int = 2
    base: tov.Config = field(default_factory=tov.Config)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(epochs=4, eval_every=2, base=tov.CONFIGS["smoke"]),
    "full": Config(epochs=100, eval_every=2, base=tov.CONFIGS["full"]),
}


@dataclass
class Result:
    """``curves[run]``: per evaluation ``epoch``, ``train_err``, ``test_err``, ``train_loss``,
    ``test_loss`` (lists); clean for "vanilla", under PGD for "pgd"."""

    config: Config
    curves: dict[str, dict[str, list[float]]]

    def gap(self, run: str) -> float:
        """The final generalisation gap: test error minus training error."""
        c = self.curves[run]
        return float(c["test_err"][-1] - c["train_err"][-1])

    def settle_epoch(self, run: str, fraction: float = 0.9) -> int:
        """The first evaluated epoch by which the training error has made ``fraction`` of its
        total fall (first evaluation to last): how fast the run converges."""
        c = self.curves[run]
        err = np.asarray(c["train_err"])
        target = err[0] - fraction * (err[0] - err[-1])
        return int(c["epoch"][int(np.argmax(err <= target))])

    def late_rise(self, run: str) -> float:
        """Final minus best test error: how much the test performance decays late."""
        err = self.curves[run]["test_err"]
        return float(err[-1] - min(err))

    def summary(self) -> dict[str, Any]:
        """Per run: final errors, gap, settle epoch and late rise."""
        return {r: {"train_err": round(c["train_err"][-1], 4),
                    "test_err": round(c["test_err"][-1], 4), "gap": round(self.gap(r), 4),
                    "settle_epoch": self.settle_epoch(r), "late_rise": round(self.late_rise(r), 4)}
                for r, c in self.curves.items()}

    def to_json(self) -> dict[str, Any]:
        """The summary and both curves."""
        return {"summary": self.summary(), "curves": self.curves}


def _evaluate(model: nn.Module, ds: data.Dataset, cfg: tov.Config, robust: bool, seed: int
              ) -> tuple[float, float]:
    """Error and mean cross-entropy on ``ds``, on clean or PGD (``eval_steps``) inputs."""
    model.eval()
    x = ds.X
    if robust:
        x = tov.perturb(model, ds.X, ds.y, "pgd", cfg,
                        torch.Generator().manual_seed(seed + 10_000), steps=cfg.eval_steps)
    with torch.no_grad():
        z = model(x)
        return (float((z.argmax(1) != ds.y).double().mean()),
                float(nn.functional.cross_entropy(z, ds.y)))


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """Train the vanilla and the PGD run on the whole training set and log both curves (CPU,
    float32, one thread)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"thesis_curves runs on the CPU in this version; got {device!r}")
    cfg = CONFIGS[mode]
    b = dataclasses.replace(cfg.base, epochs=cfg.epochs)
    tr = data.load(b.dataset, split="train", n=b.n_train, data_dir=data_dir, seed=seed)
    te = data.load(b.dataset, split="test", n=b.n_test, data_dir=data_dir, seed=seed)
    curves: dict[str, dict[str, list[float]]] = {}
    with single_thread():
        for name in RUNS:
            rec: dict[str, list[float]] = {k: [] for k in ("epoch", "train_err", "test_err",
                                                           "train_loss", "test_loss")}

            def log(model: nn.Module, epoch: int, rec: dict = rec, robust: bool = name == "pgd"
                    ) -> None:
                if (epoch + 1) % cfg.eval_every and epoch + 1 != cfg.epochs:
                    return
                rec["epoch"].append(epoch + 1)
                for part, ds in (("train", tr), ("test", te)):
                    err, loss = _evaluate(model, ds, b, robust, seed)
                    rec[f"{part}_err"].append(err)
                    rec[f"{part}_loss"].append(loss)

            tov.train(b, tr.X, tr.y, "clean" if name == "vanilla" else "pgd", cfg.epochs,
                      seed + 7, on_epoch=log)
            curves[name] = rec
    return Result(cfg, curves)
