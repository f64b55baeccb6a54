"""Reweighting and adaptive targets against hard instances (thesis 003 §4.3.5: Alg. 4.1,
Figs. 4.24-4.27).

Alg. 4.1 trains with ATTA's one-step perturbations and, after a warm-up, either weights each
instance by its adversarial true-label probability (reweighting) or trains on an adaptive target
``t = beta 1_y + (1 - beta) t~``, a moving average of the adversarial outputs
(:class:`advproof.atas.Alg41`). The thesis reports, on CIFAR-10:

* Fig. 4.24: the generalisation gap (robust test minus robust training error) shrinks as beta
  decreases (more adaptive targets);
* Fig. 4.25: ATTA with reweighting has a smaller gap than ATTA without;
* Figs. 4.26-4.27: an instance's difficulty (4.30) correlates with its average weight (0.890) and
  with its target's average true-label probability (0.960): hard instances are down-weighted and
  get softer targets.

The thesis's case studies (Fig. 4.23) read two published methods the same way:

* IAT (instance-adaptive training, Balaji et al.): each instance's budget ``eps_i`` grows by
  ``gamma`` when its adversarial example is classified correctly and shrinks otherwise; the
  average ``eps_i`` correlates with the difficulty (0.884): hard instances get small budgets;
* SAT (self-adaptive training, Huang et al.): the target is the moving average ``t~`` itself
  (``beta = 0``) and the weight is ``max_j t~_j``: the hard groups get small weights, and they
  fit their adaptive targets much better than their labels.

Quick mode: the 8x8 digits and the MLP of :mod:`advproof.experiments.thesis_overfitting`, l_inf
eps = 0.1, ATTA step eps / 2 (the thesis: 4/255 for 8/255), rho = 0.9, 5 warm-up epochs, 30
epochs, SGD with momentum 0.9 from 0.05 (/10 at 50 % and 75 %), weight decay 5e-4; runs: ATTA,
ATTA with reweighting, adaptive targets with beta in {0.5, 0.1}. Robust (PGD-10) training and
test errors every 3 epochs. The difficulty comes from a PGD-3 reference run on the whole
training set (10 epochs), as in the thesis's Figs. 4.26-4.27 ("based on the PGD perturbation").
Unstated in the thesis and chosen here: the model, the epochs, the evaluation attack, and the
initial value of t~ (the one-hot label). For the case studies: IAT trains by PGD-3 (the
reference run's attack) with ``gamma = eps / 10`` per epoch, ``eps_i`` in ``[0, 2 eps]``, after
the same 5 warm-up epochs at ``eps``; SAT runs on ATTA's perturbations like Alg. 4.1 (the
thesis: on PGD, 90 warm-up epochs of 200), and its group accuracies are measured on PGD-10
examples of the training set at the end.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from advproof import atas, attacks, data
from advproof import difficulty as dif
from advproof.experiments import thesis_overfitting as tov
from advproof.threads import single_thread

__all__ = ["CONFIGS", "Config", "Result", "run"]


@dataclass(frozen=True)
class Config:
    """The runs; the model and its optimiser are ``base``'s (module docstring)."""

    eps: float = 0.1
    alpha_ratio: float = 0.5
    epochs: int = 30
    warmup: int = 5
    rho: float = 0.9
    betas: tuple[float, ...] = (0.5, 0.1)
    eval_every: int = 3
    eval_steps: int = 10
    iat_gamma: float = 0.1  # IAT's budget step, in units of eps
    iat_max: float = 2.0  # IAT's largest budget, in units of eps
    base: tov.Config = field(default_factory=tov.Config)


CONFIGS: dict[str, Config] = {
    "quick": Config(),
    "smoke": Config(epochs=4, warmup=1, betas=(0.1,), eval_every=2, eval_steps=2,
                    base=tov.CONFIGS["smoke"]),
    "full": Config(epochs=38, eval_every=2, eval_steps=20, base=tov.CONFIGS["full"]),
}


@dataclass
class Result:
    """``curves[run]``: ``epoch``, ``robust_train`` and ``robust_test`` errors per evaluation;
    ``weights`` (the reweighting run) and ``target_true`` (``f"beta={b}"`` runs): per-instance
    averages after the warm-up; ``difficulty``: the PGD reference difficulty. Fig. 4.23:
    ``iat_eps`` (each instance's average IAT budget after the warm-up, in units of eps),
    ``sat_weights`` (its average SAT weight) and ``sat_group_acc`` (per difficulty group
    G0..G9, the final SAT model's PGD accuracy on the training set against the labels,
    "label", and against the adaptive targets' argmax, "target")."""

    config: Config
    curves: dict[str, dict[str, list[float]]]
    weights: np.ndarray
    target_true: dict[str, np.ndarray]
    difficulty: np.ndarray
    iat_eps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sat_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sat_group_acc: dict[str, list[float]] = field(default_factory=dict)

    def group_means(self, values: np.ndarray) -> list[float]:
        """The mean of per-instance ``values`` in each difficulty group G0 (hardest) .. G9."""
        return [float(values[idx].mean()) for idx in dif.groups(self.difficulty).values()]

    def gap(self, run: str) -> float:
        """The final generalisation gap: robust test error minus robust training error."""
        c = self.curves[run]
        return float(c["robust_test"][-1] - c["robust_train"][-1])

    def summary(self) -> dict[str, Any]:
        """Final errors and gaps per run, and the two correlations with the difficulty."""
        runs = {k: {"robust_train": round(c["robust_train"][-1], 4),
                    "robust_test": round(c["robust_test"][-1], 4),
                    "gap": round(self.gap(k), 4)} for k, c in self.curves.items()}
        corr = {"weight": round(float(np.corrcoef(self.difficulty, self.weights)[0, 1]), 4)}
        corr |= {k: round(float(np.corrcoef(self.difficulty, v)[0, 1]), 4)
                 for k, v in self.target_true.items()}
        case = {}
        if len(self.iat_eps):
            corr["iat_eps"] = round(float(np.corrcoef(self.difficulty, self.iat_eps)[0, 1]), 4)
            case = {"iat_eps_by_group": [round(v, 4) for v in self.group_means(self.iat_eps)],
                    "sat_weight_by_group": [round(v, 4) for v in
                                            self.group_means(self.sat_weights)],
                    "sat_group_acc": {k: [round(v, 4) for v in a]
                                      for k, a in self.sat_group_acc.items()}}
        return {"runs": runs, "correlation_with_difficulty": corr, "case_studies": case}

    def to_json(self) -> dict[str, Any]:
        """The summary and every curve."""
        return {"summary": self.summary(), "curves": self.curves}


def train_iat(cfg: tov.Config, X: torch.Tensor, y: torch.Tensor, *, epochs: int, warmup: int,
              gamma: float, eps_max: float, seed: int) -> tuple[nn.Module, np.ndarray]:
    """Instance-adaptive adversarial training (Balaji et al. 2019) with ``cfg``'s model,
    optimiser and PGD: after ``warmup`` epochs at ``cfg.eps``, each instance's budget moves by
    ``+gamma`` when its PGD example was classified correctly in its batch, by ``-gamma``
    otherwise, within ``[0, eps_max]``. Returns the model and each instance's budget averaged
    over the epochs after the warm-up."""
    model = tov.make_model(cfg, seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed + 1)
    budget = torch.full((len(y),), cfg.eps, dtype=X.dtype)
    total = torch.zeros(len(y), dtype=torch.float64)
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = tov._lr_at(cfg, epoch, epochs)
        model.train()
        for idx in torch.randperm(len(y), generator=gen).split(cfg.batch_size):
            e = budget[idx]
            delta = attacks.pgd(model, X[idx], y[idx], eps=e, alpha=2.5 * e / cfg.pgd_steps,
                                steps=cfg.pgd_steps, random_start=True, clip=(0.0, 1.0),
                                generator=gen)
            z = model(X[idx] + delta)
            opt.zero_grad()
            nn.functional.cross_entropy(z, y[idx]).backward()
            opt.step()
            if epoch >= warmup:
                robust = (z.detach().argmax(1) == y[idx]).to(X.dtype)
                budget[idx] = (e + gamma * (2 * robust - 1)).clamp(0.0, eps_max)
        if epoch >= warmup:
            total += budget.double()
    return model.eval(), (total / max(1, epochs - warmup)).numpy()


def run(mode: str = "quick", *, seed: int = 0, device: str = "cpu",
        data_dir: str | None = None) -> Result:
    """The reference difficulty and the ATTA / reweighting / adaptive-target runs (CPU, one
    thread)."""
    if mode not in CONFIGS:
        raise ValueError(f"mode must be one of {sorted(CONFIGS)}, got {mode!r}")
    if device != "cpu":
        raise ValueError(f"thesis_reweight runs on the CPU in this version; got {device!r}")
    cfg = CONFIGS[mode]
    b = cfg.base
    tr = data.load(b.dataset, split="train", n=b.n_train, data_dir=data_dir, seed=seed)
    te = data.load(b.dataset, split="test", n=b.n_test, data_dir=data_dir, seed=seed)
    runs = {"atta": None, "reweight": atas.Alg41(reweight=True, rho=cfg.rho, warmup=cfg.warmup)}
    runs |= {f"beta={beta}": atas.Alg41(beta=beta, rho=cfg.rho, warmup=cfg.warmup)
             for beta in cfg.betas}
    runs["sat"] = atas.Alg41(sat=True, beta=0.0, rho=cfg.rho, warmup=cfg.warmup)
    curves, out, models = {}, {}, {}
    with single_thread():
        _, ref_losses = tov.train(b, tr.X, tr.y, "pgd", b.ref_epochs, seed)
        for name, alg in runs.items():
            rec: dict[str, list[float]] = {"epoch": [], "robust_train": [], "robust_test": []}

            def log(epoch: int, model: torch.nn.Module, rec: dict = rec) -> None:
                if (epoch + 1) % cfg.eval_every and epoch + 1 != cfg.epochs:
                    return
                rec["epoch"].append(epoch + 1)
                for part, ds in (("robust_train", tr), ("robust_test", te)):
                    acc = atas.pgd_accuracy(model, ds.X, ds.y, eps=cfg.eps,
                                            steps=cfg.eval_steps, seed=seed + 10_000)
                    rec[part].append(1.0 - acc)
                model.train()

            model = tov.make_model(b, seed + 7)
            out[name] = atas.fast_at(model, tr.X, tr.y, method="atta", eps=cfg.eps,
                                     alpha=cfg.alpha_ratio * cfg.eps, num_epochs=cfg.epochs,
                                     lr=b.lr, batch_size=b.batch_size, momentum=b.momentum,
                                     weight_decay=b.weight_decay, seed=seed + 7, callback=log,
                                     alg41=alg)
            curves[name], models[name] = rec, model
        d = dif.difficulty(ref_losses)
        b_eps = dataclasses.replace(b, eps=cfg.eps)
        _, iat_eps = train_iat(b_eps, tr.X, tr.y, epochs=cfg.epochs, warmup=cfg.warmup,
                               gamma=cfg.iat_gamma * cfg.eps, eps_max=cfg.iat_max * cfg.eps,
                               seed=seed + 7)
        x_adv = tov.perturb(models["sat"], tr.X, tr.y, "pgd", b_eps,
                            torch.Generator().manual_seed(seed + 10_000), steps=cfg.eval_steps)
        with torch.no_grad():
            pred = models["sat"](x_adv).argmax(1)
        hits = {"label": (pred == tr.y).double().numpy(),
                "target": (pred == out["sat"].targets.argmax(1)).double().numpy()}
    res = Result(cfg, curves, out["reweight"].weights.double().numpy(),
                 {k: v.target_true.double().numpy() for k, v in out.items()
                  if k.startswith("beta=")}, d, iat_eps / cfg.eps,
                 out["sat"].weights.double().numpy())
    res.sat_group_acc = {k: res.group_means(v) for k, v in hits.items()}
    return res
