"""Side-by-side benchmarks: ratios measured in one run, on one device, never asserted as times.

Each benchmark compares implementations of the same quantity on the same model and batch and
reports their times, their ratio and the target the project aims at (issue: full mode and
benchmarks). Results go to ``benchmarks/results/<name>-<device>.json`` with provenance; the book's
Performance page is generated from those files. ``smoke=True`` shrinks every size so CI can run
the code path in seconds (its ratios mean little and are marked as such).

Benchmarks:

* ``attack_step``: one attack step with the gradient taken w.r.t. the input only
  (``attacks.input_grad``, ``torch.autograd.grad``) vs the common ``loss.backward()`` style
  (which also fills every parameter's ``.grad``), and vs one training step.
* ``top_eigenvalue``: the top Hessian eigenvalue of a small MLP's loss by Lanczos (full
  reorthogonalisation) vs power iteration vs ``scipy.sparse.linalg.eigsh`` on the same HVP
  operator: Hessian-vector products needed to reach a relative error of 1e-4.
* ``per_sample_hessian``: exact per-sample input Hessians, batched (``curvature.input_hessian``)
  vs a Python loop of ``torch.autograd.functional.hessian``.
"""

from __future__ import annotations

import datetime as _dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advproof import attacks, curvature, models

BENCHMARKS: tuple[str, ...] = ("attack_step", "top_eigenvalue", "per_sample_hessian")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], Any], device: torch.device, *, repeat: int = 7,
           warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def attack_step(device: torch.device, smoke: bool) -> dict[str, Any]:
    """Input-only gradient vs ``loss.backward()`` vs a training step (MLP 784-512-512-10)."""
    gen = torch.Generator().manual_seed(0)
    width, n = (32, 16) if smoke else (512, 512)
    model = models.MLP(784, (width, width), 10, generator=gen).to(device)
    x = torch.rand(n, 784, generator=gen).to(device)
    y = torch.randint(10, (n,), generator=gen).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    ce = torch.nn.functional.cross_entropy

    def input_only() -> None:
        attacks.fgsm(model, x, y, eps=0.1)

    def backward_style() -> None:  # what many codebases do: fills every parameter's .grad too
        x_adv = x.clone().requires_grad_(True)
        ce(model(x_adv), y).backward()
        (x + 0.1 * x_adv.grad.sign()).detach()
        model.zero_grad(set_to_none=True)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        ce(model(x), y).backward()
        opt.step()

    t = {k: timeit(f, device) for k, f in (("input_only", input_only),
                                             ("backward_style", backward_style),
                                             ("train_step", train_step))}
    return {"seconds": t,
            "ratios": {"backward_style / input_only": t["backward_style"] / t["input_only"],
                       "input_only / train_step": t["input_only"] / t["train_step"]},
            "targets": {"backward_style / input_only": ">= 1.3",
                        "input_only / train_step": "<= 0.7"},
            "setting": f"MLP 784-{width}-{width}-10, batch {n}, FGSM step"}


def _hvp_operator(smoke: bool) -> tuple[Callable[[torch.Tensor], torch.Tensor], int, float]:
    """A small MLP's CE-loss parameter-HVP operator, its size and its exact top eigenvalue."""
    from advproof import data

    ds = data.load("digits", split="train", flatten=True, n=200 if smoke else 1000,
                   dtype=torch.float64)
    model = models.MLP(64, (8,) if smoke else (32,), 10,
                       generator=torch.Generator().manual_seed(0)).double()
    params = [p for p in model.parameters()]
    flat = torch.cat([p.detach().flatten() for p in params])

    def loss_of(theta: torch.Tensor) -> torch.Tensor:
        chunks, i = [], 0
        for p in params:
            chunks.append(theta[i:i + p.numel()].view_as(p))
            i += p.numel()
        h = torch.relu(ds.X @ chunks[0].T + chunks[1])
        return torch.nn.functional.cross_entropy(h @ chunks[2].T + chunks[3], ds.y)

    op = curvature.param_hvp(model, lambda: torch.nn.functional.cross_entropy(model(ds.X), ds.y))
    exact = float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))[-1])
    return op.matvec, op.dim, exact


def _hvps_to(tol: float, exact: float, run: Callable[[int], tuple[float, int]],
             budget: int) -> dict[str, Any]:
    """Smallest iteration count (and its HVPs) whose estimate is within ``tol`` of ``exact``."""
    for iters in range(2, budget + 1):
        estimate, n_matvec = run(iters)
        if abs(estimate - exact) / abs(exact) <= tol:
            return {"hvps": n_matvec, "rel_error": abs(estimate - exact) / abs(exact)}
    return {"hvps": None, "rel_error": abs(estimate - exact) / abs(exact)}


def top_eigenvalue(device: torch.device, smoke: bool) -> dict[str, Any]:
    """HVPs to reach 1e-4 relative error: Lanczos vs power iteration vs scipy's eigsh."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    matvec, dim, exact = _hvp_operator(smoke)
    tol, budget = 1e-4, 60 if smoke else 200

    def lanczos(iters: int) -> tuple[float, int]:
        out = curvature.lanczos(matvec, dim, k=1, iters=iters,
                                generator=torch.Generator().manual_seed(0))
        return float(out.eigenvalues[0]), out.n_matvec

    def power(iters: int) -> tuple[float, int]:
        out = curvature.power_iteration(matvec, dim, iters=iters, tol=1e-300,
                                        generator=torch.Generator().manual_seed(0))
        return float(out.eigenvalue), out.n_matvec

    counter = {"n": 0}

    def np_matvec(v: np.ndarray) -> np.ndarray:
        counter["n"] += 1
        return matvec(torch.from_numpy(np.ascontiguousarray(v)).reshape(-1)).numpy()

    def scipy_eigsh(iters: int) -> tuple[float, int]:
        counter["n"] = 0
        op = LinearOperator((dim, dim), matvec=np_matvec, dtype=np.float64)
        v0 = np.random.default_rng(0).standard_normal(dim)
        try:
            val = eigsh(op, k=1, which="LA", ncv=min(dim - 1, max(iters, 3)), maxiter=1,
                        v0=v0, tol=0)[0][0]
        except Exception:  # ARPACK gives up within maxiter: no estimate at this budget
            val = np.nan
        return float(val), counter["n"]

    methods = {"lanczos": lanczos, "power_iteration": power, "scipy_eigsh": scipy_eigsh}
    res = {k: _hvps_to(tol, exact, f, budget) for k, f in methods.items()}
    hvps = {k: v["hvps"] for k, v in res.items()}
    ratios = {}
    if hvps["lanczos"]:
        for other in ("power_iteration", "scipy_eigsh"):
            if hvps[other]:
                ratios[f"{other} / lanczos (HVPs)"] = hvps[other] / hvps["lanczos"]
    return {"hvps_to_1e-4": hvps, "detail": res, "ratios": ratios, "exact": exact, "dim": dim,
            "targets": {"lanczos HVPs at rel. error 1e-4": "<= 25"},
            "setting": f"MLP 64-{8 if smoke else 32}-10 on digits, float64, {dim} parameters"}


def per_sample_hessian(device: torch.device, smoke: bool) -> dict[str, Any]:
    """Exact per-sample input Hessians: one batched double backward vs a per-sample loop."""
    gen = torch.Generator().manual_seed(0)
    n, d = (4, 16) if smoke else (64, 64)
    model = models.MLP(d, (32, 32), 10, generator=gen).double().to(device)
    x = torch.rand(n, d, generator=gen, dtype=torch.float64).to(device)
    y = torch.randint(10, (n,), generator=gen).to(device)

    def batched() -> torch.Tensor:
        return curvature.input_hessian(model, x, y)

    def loop() -> torch.Tensor:
        ce = torch.nn.functional.cross_entropy
        return torch.stack([torch.autograd.functional.hessian(
            lambda v, i=i: ce(model(v[None]), y[i:i + 1]), x[i]) for i in range(n)])

    err = float((batched() - loop()).abs().max())
    t = {"batched": timeit(batched, device, repeat=3), "loop": timeit(loop, device, repeat=3)}
    return {"seconds": t, "ratios": {"loop / batched": t["loop"] / t["batched"]},
            "max_abs_difference": err, "targets": {"loop / batched": ">= 50 on a GPU"},
            "setting": f"MLP {d}-32-32-10, float64, {n} samples of dimension {d}"}


def run(name: str, *, device: str = "cpu", smoke: bool = False) -> dict[str, Any]:
    """Run one benchmark; the result carries the device, versions, date and commit."""
    from advproof.experiments import _git, check_device

    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    check_device(device)
    dev = torch.device(device)
    with curvature.no_tf32():
        body = globals()[name](dev, smoke)
    return {"name": name, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda"
            else "cpu", "smoke": smoke, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "commit": _git("rev-parse", "HEAD"),
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), **body}


def write(result: dict[str, Any], folder: str | Path = "benchmarks/results") -> Path:
    """Write ``<folder>/<name>-<cpu|cuda>[-smoke].json`` atomically."""
    from advproof.experiments import write_json_atomic

    kind = "cpu" if result["device"] == "cpu" else "cuda"
    suffix = "-smoke" if result["smoke"] else ""
    path = Path(folder) / f"{result['name']}-{kind}{suffix}.json"
    write_json_atomic(path, result)
    return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def render_page(folder: str | Path = "benchmarks/results") -> str:
    """The Performance page (MyST) from every committed benchmark result in ``folder``."""
    import json

    files = sorted(Path(folder).glob("*.json"))
    out = ["# Performance", "",
           "Generated by `advproof pages` from the results that `advproof bench` wrote to "
           "`benchmarks/results/`; never edit it by hand. Every ratio compares implementations "
           "measured side by side in one run, on the device named; tests never assert a time. "
           "Smoke results (tiny sizes, run by CI to keep the code path alive) are listed last "
           "and say nothing about speed.", ""]
    if not files:
        return "\n".join(out + ["No benchmark result is stored yet: run `advproof bench`.", ""])
    results = [json.loads(f.read_text()) for f in files]
    for r in sorted(results, key=lambda r: (r["smoke"], r["name"], r["device"])):
        tag = " (smoke)" if r["smoke"] else ""
        out += [f"## `{r['name']}` on {r['device']}{tag}", "",
                f"{r.get('setting', '')}. torch {r['torch']}, {r['threads']} threads, "
                f"commit {r['commit'][:10]}, {r['date'][:10]}.", "",
                "| quantity | value | target |", "|---|---|---|"]
        targets = r.get("targets", {})
        for key, value in r.get("ratios", {}).items():
            out.append(f"| {key} | {_fmt(value)} | {targets.get(key, '')} |")
        for key, value in (r.get("seconds") or {}).items():
            out.append(f"| {key} (s, median) | {_fmt(value)} | |")
        hvp_target = targets.get("lanczos HVPs at rel. error 1e-4", "")
        for key, value in (r.get("hvps_to_1e-4") or {}).items():
            target = hvp_target if key == "lanczos" else ""
            out.append(f"| {key}: HVPs to rel. error 1e-4 | {value or 'not reached'} | {target} |")
        out.append("")
    return "\n".join(out)
