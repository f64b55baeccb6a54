"""Adversarial overfitting and hard training instances (thesis 003 Sec. 4.3.2, Figs. 4.17, 4.21).

Two parts, on a ReLU MLP (quick; ``models.MLP``, 2 x 256) or a small CNN (full;
``models.SmallCNN``), trained with SGD:

1. ``reference``: PGD adversarial training on the whole training set. Every instance's
   adversarial training loss is recorded at every epoch (the loss of its mini-batch step, on its
   own PGD example); the epoch average gives its difficulty (eq. (4.30),
   :func:`advproof.difficulty.difficulty`), and the group means over G_0, G_3, G_6, G_9 (eq.
   (4.32)) give the group-wise loss curves of Fig. 4.21 (left).
2. ``subsets``: class-balanced easy / random / hard subsets (``per_class`` instances of every
   class, by that difficulty, :func:`advproof.difficulty.balanced_subset`), each trained with PGD
   adversarial training, FGSM adversarial training and clean training (Fig. 4.17). After every
   epoch: robust (PGD) accuracy on the whole test set and on the training subset, and clean test
   accuracy. The *overfitting gap* of a run is best minus final robust test accuracy (Rice et
   al.'s measure); its *best epoch* says when overfitting starts.

Quick mode: the 8x8 digits (1438 train / 359 test, pixels in [0, 1]), l_inf eps = 0.1,
``per_class = 30`` (300-instance subsets), 40 epochs, evaluated every 4 epochs by PGD-5.
Full mode: Fashion-MNIST (Debian package), the small CNN, l_inf eps = 0.1, 1000 per class (the
size of the thesis's 10,000-instance subsets), 100 epochs. Mode ``cifar10``: the thesis's own
setting, CIFAR-10 from local files (``--data DIR``) with ``models.PreActResNet18``, l_inf 8/255,
PGD-10 in training and PGD-20 in evaluation, 1000 per class, 200 epochs, base LR 0.1, on a GPU
(``--device cuda``; the attack's random starts then come from a generator on the GPU). The
thesis's schedule (SGD, momentum 0.9, weight decay 5e-4, LR / 10 at 1/2 and 3/4 of training) is
kept, with base LR 0.05 for the small models. Unstated in the thesis and chosen for ``cifar10``:
the reference run's length (100 epochs) and the evaluation interval (5 epochs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from advproof import attacks, data, models
from advproof import difficulty as dif
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run", "SUBSETS", "METHODS", "GROUPS"]

SUBSETS: tuple[str, ...] = ("easy", "random", "hard")
METHODS: tuple[str, ...] = ("pgd", "fgsm", "clean")
GROUPS: tuple[int, ...] = (0, 3, 6, 9)


@dataclass(frozen=True)
class Config:
    """Sizes and the choices the thesis leaves open or that differ at this scale."""

    dataset: str = "digits"
    side: int = 8
    in_channels: int = 1
    arch: str = "mlp"  # "mlp" (``widths``), "cnn" (``models.SmallCNN``) or "preact18"
    widths: tuple[int, ...] = (256, 256)
    channels: tuple[int, int] = (8, 16)  # the CNN's; preact18's first-stage width is [0]
    n_train: int | None = None
    n_test: int | None = None
    eps: float = 0.1
    p: float = math.inf  # the threat model: l_inf (sign steps) or l_2 (normalised steps) PGD
    pgd_steps: int = 3  # training PGD, step 2.5 eps / steps, random start
    eval_steps: int = 5
    ref_epochs: int = 10
    epochs: int = 40
    eval_every: int = 4  # evaluate after every k-th epoch (and after the last)
    per_class: int = 30
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    milestones: tuple[float, float] = (0.5, 0.75)  # LR / 10 at these fractions of training
    eval_batch: int = 4096  # robust accuracy in chunks of this many inputs (GPU memory)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(ref_epochs=3, epochs=4, eval_every=2, per_class=10, n_test=100),
    "full": Config(dataset="fashion-mnist", side=28, arch="cnn", channels=(32, 64), n_test=2000,
                   eps=0.1, pgd_steps=10, eval_steps=20, ref_epochs=40, epochs=100, eval_every=2,
                   per_class=1000, batch_size=128, lr=0.05),
    "cifar10": Config(dataset="cifar10", side=32, in_channels=3, arch="preact18",
                      channels=(64, 128), eps=8 / 255,
                      pgd_steps=10, eval_steps=20, ref_epochs=100, epochs=200, eval_every=5,
                      per_class=1000, batch_size=128, lr=0.1, eval_batch=1000),
}


@dataclass
class Result:
    """``reference``: per-epoch group mean losses and the difficulty; ``curves[subset][method]``:
    per-epoch accuracies (lists)."""

    config: Config
    difficulty: np.ndarray
    group_loss: dict[int, list[float]]
    group_sizes: dict[int, int]
    curves: dict[str, dict[str, dict[str, list[float]]]]
    extra: dict[str, Any] = field(default_factory=dict)

    def gap(self, subset: str, method: str) -> float:
        """Best minus final robust test accuracy (the overfitting gap)."""
        r = np.asarray(self.curves[subset][method]["robust_test"])
        return float(r.max() - r[-1])

    def best_epoch(self, subset: str, method: str) -> int:
        """The epoch (1-based) of the best robust test accuracy."""
        return self.curves[subset][method]["epoch"][
            int(np.argmax(self.curves[subset][method]["robust_test"]))]

    def summary(self) -> dict[str, Any]:
        """Per subset and method: best / final robust test accuracy, gap, best epoch, final
        robust training accuracy; the final group losses."""
        table = {}
        for s in self.curves:
            for m in self.curves[s]:
                c = self.curves[s][m]
                table[f"{s}/{m}"] = {
                    "best_robust_test": round(max(c["robust_test"]), 4),
                    "final_robust_test": round(c["robust_test"][-1], 4),
                    "gap": round(self.gap(s, m), 4),
                    "best_epoch": self.best_epoch(s, m),
                    "final_robust_train": round(c["robust_train"][-1], 4),
                    "final_clean_test": round(c["clean_test"][-1], 4)}
        return {"runs": table,
                "group_loss_final": {g: round(v[-1], 4) for g, v in self.group_loss.items()},
                "group_sizes": self.group_sizes}

    def to_json(self) -> dict[str, Any]:
        """The summary and every curve."""
        return {"summary": self.summary(), "curves": self.curves,
                "group_loss": {str(g): v for g, v in self.group_loss.items()},
                "difficulty": [round(float(d), 6) for d in self.difficulty]}


def make_model(cfg: Config, seed: int) -> nn.Module:
    """The ReLU MLP, the small CNN or PreAct-ResNet18, initialised from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    if cfg.arch == "mlp":
        return models.MLP(cfg.in_channels * cfg.side**2, cfg.widths, 10, generator=gen)
    if cfg.arch == "cnn":
        return models.SmallCNN(cfg.in_channels, 10, cfg.side, channels=cfg.channels,
                               generator=gen)
    if cfg.arch == "preact18":
        return models.PreActResNet18(cfg.in_channels, 10, width=cfg.channels[0], generator=gen)
    raise ValueError(f"arch must be 'mlp', 'cnn' or 'preact18', got {cfg.arch!r}")


def perturb(model: nn.Module, x: torch.Tensor, y: torch.Tensor, method: str, cfg: Config,
            gen: torch.Generator, steps: int | None = None) -> torch.Tensor:
    """The training (or evaluation) input: PGD with random start, FGSM, or the clean x."""
    if method == "clean":
        return x
    if method == "fgsm":
        if cfg.p != math.inf:
            raise ValueError(f"FGSM is an l_inf attack; the config's norm is p = {cfg.p}")
        delta = attacks.fgsm(model, x, y, cfg.eps, clip=(0.0, 1.0))
    else:
        n = steps or cfg.pgd_steps
        delta = attacks.pgd(model, x, y, eps=cfg.eps, alpha=2.5 * cfg.eps / n, steps=n, p=cfg.p,
                            random_start=True, clip=(0.0, 1.0), generator=gen)
    return x + delta


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, cfg: Config, seed: int,
             robust: bool) -> float:
    """Clean or PGD (``eval_steps``, fixed random start) accuracy, in chunks of
    ``cfg.eval_batch`` inputs."""
    model.eval()
    gen = torch.Generator(X.device).manual_seed(seed + 10_000)
    correct = 0
    for start in range(0, len(y), cfg.eval_batch):
        xb, yb = X[start:start + cfg.eval_batch], y[start:start + cfg.eval_batch]
        x = perturb(model, xb, yb, "pgd", cfg, gen, steps=cfg.eval_steps) if robust else xb
        with torch.no_grad():
            correct += int((model(x).argmax(1) == yb).sum())
    return correct / len(y)


def _lr_at(cfg: Config, epoch: int, epochs: int) -> float:
    return cfg.lr * 0.1 ** sum(epoch >= m * epochs for m in cfg.milestones)


def train(cfg: Config, X: torch.Tensor, y: torch.Tensor, method: str, epochs: int, seed: int,
          on_epoch: Any = None, errors: np.ndarray | None = None) -> tuple[nn.Module, np.ndarray]:
    """SGD with momentum and weight decay, LR / 10 at the milestones; returns the model and the
    per-instance training losses ``(epochs, N)`` (each instance's loss at its own batch step, on
    its own training input). ``on_epoch(model, epoch)`` runs after every epoch. ``errors``, an
    ``(epochs, N)`` array if given, receives the matching 0-1 errors."""
    model = make_model(cfg, seed).to(X.device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed + 1)  # the order; on a CPU the attack's starts too
    attack_gen = gen if X.device.type == "cpu" else torch.Generator(X.device).manual_seed(seed + 2)
    losses = np.zeros((epochs, len(y)))
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, epoch, epochs)
        order = torch.randperm(len(y), generator=gen)
        model.train()
        for start in range(0, len(y), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            xb = perturb(model, X[idx], y[idx], method, cfg, attack_gen)
            model.train()
            z = model(xb)
            per = nn.functional.cross_entropy(z, y[idx], reduction="none")
            opt.zero_grad()
            per.mean().backward()
            opt.step()
            losses[epoch, idx.numpy()] = per.detach().double().cpu().numpy()
            if errors is not None:
                errors[epoch, idx.numpy()] = (z.detach().argmax(1) != y[idx]).double().cpu().numpy()
        if on_epoch is not None:
            on_epoch(model, epoch)
    return model.eval(), losses


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """The reference run, the subsets and their 9 runs (float32; on the CPU one thread, or on
    ``device`` "cuda[:k]")."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    cfg = CONFIGS[mode]
    tr = data.load(cfg.dataset, split="train", n=cfg.n_train, data_dir=data_dir, seed=seed)
    te = data.load(cfg.dataset, split="test", n=cfg.n_test, data_dir=data_dir, seed=seed)
    if device != "cpu":
        tr = tr._replace(X=tr.X.to(device), y=tr.y.to(device))
        te = te._replace(X=te.X.to(device), y=te.y.to(device))
        return _run(cfg, tr, te, seed)
    with single_thread():
        return _run(cfg, tr, te, seed)


def _run(cfg: Config, tr: data.Dataset, te: data.Dataset, seed: int) -> Result:
    _, ref_losses = train(cfg, tr.X, tr.y, "pgd", cfg.ref_epochs, seed)
    d = dif.difficulty(ref_losses)
    members = dif.groups(d, which=GROUPS)
    group_loss = {g: ref_losses[:, idx].mean(axis=1).round(6).tolist()
                  for g, idx in members.items()}
    curves: dict[str, dict[str, dict[str, list[float]]]] = {}
    for subset in SUBSETS:
        idx = torch.from_numpy(dif.balanced_subset(d, tr.y.cpu().numpy(), cfg.per_class, subset,
                                                   seed=seed))
        Xs, ys = tr.X[idx], tr.y[idx]
        curves[subset] = {}
        for method in METHODS:
            rec: dict[str, list[float]] = {"epoch": [], "robust_test": [], "robust_train": [],
                                           "clean_test": []}

            def log(model: nn.Module, epoch: int, rec: dict = rec, Xs: torch.Tensor = Xs,
                    ys: torch.Tensor = ys) -> None:
                if (epoch + 1) % cfg.eval_every and epoch + 1 != cfg.epochs:
                    return
                rec["epoch"].append(epoch + 1)
                rec["robust_test"].append(accuracy(model, te.X, te.y, cfg, seed, True))
                rec["robust_train"].append(accuracy(model, Xs, ys, cfg, seed, True))
                rec["clean_test"].append(accuracy(model, te.X, te.y, cfg, seed, False))

            train(cfg, Xs, ys, method, cfg.epochs, seed + 7, on_epoch=log)
            curves[subset][method] = rec
    return Result(cfg, d, group_loss, {g: int(len(v)) for g, v in members.items()}, curves,
                  {"subset_mean_difficulty": {
                      s: round(float(d[dif.balanced_subset(d, tr.y.cpu().numpy(), cfg.per_class, s,
                                                           seed=seed)].mean()), 4)
                      for s in SUBSETS}})
