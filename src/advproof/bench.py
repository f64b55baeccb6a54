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

BENCHMARKS: tuple[str, ...] = ("attack_step", "pgd_at_epoch", "top_eigenvalue",
                               "per_sample_hessian", "verify_time")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], Any], device: torch.device, *, repeat: int = 7,
           warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs, after ``warmup`` runs."""
    return timeit_side_by_side({"fn": fn}, device, repeat=repeat, warmup=warmup)["fn"]


def timeit_side_by_side(fns: dict[str, Callable[[], Any]], device: torch.device, *,
                        repeat: int = 15, warmup: int = 2) -> dict[str, float]:
    """Median wall time of each function, measured round-robin (a, b, c, a, b, c, ...).

    Interleaving makes the ratios robust to load that drifts during the run: every variant sees
    the same machine, which back-to-back blocks of runs do not guarantee.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def attack_step(device: torch.device, smoke: bool) -> dict[str, Any]:
    """One FGSM step: input-only gradient vs ``loss.backward()`` vs a training step.

    ``input_only`` and ``backward_style`` do the same arithmetic apart from the gradient call
    (``torch.autograd.grad(loss, x)`` skips the weight-gradient products of every layer;
    ``backward()`` computes and stores them). ``library_fgsm`` is ``attacks.fgsm``: the same
    step plus the engine's input validation and post-condition checks, reported as overhead.
    """
    gen = torch.Generator().manual_seed(0)
    width, n = (32, 16) if smoke else (512, 512)
    model = models.MLP(784, (width, width), 10, generator=gen).to(device)
    x = torch.rand(n, 784, generator=gen).to(device)
    y = torch.randint(10, (n,), generator=gen).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    ce = torch.nn.functional.cross_entropy
    eps = 0.1

    def input_only() -> None:
        x_adv = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(ce(model(x_adv), y), x_adv)
        (x + eps * g.sign()).clamp_(0, 1)

    def backward_style() -> None:  # what many codebases do: fills every parameter's .grad too
        x_adv = x.clone().requires_grad_(True)
        ce(model(x_adv), y).backward()
        (x + eps * x_adv.grad.sign()).clamp_(0, 1)
        model.zero_grad(set_to_none=True)

    def library_fgsm() -> None:
        attacks.fgsm(model, x, y, eps=eps, clip=(0, 1))

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        ce(model(x), y).backward()
        opt.step()

    t = timeit_side_by_side({"input_only": input_only, "backward_style": backward_style,
                             "library_fgsm": library_fgsm, "train_step": train_step}, device,
                            repeat=31 if not smoke else 3)
    return {"seconds": t,
            "ratios": {"backward_style / input_only": t["backward_style"] / t["input_only"],
                       "input_only / train_step": t["input_only"] / t["train_step"],
                       "library_fgsm / input_only": t["library_fgsm"] / t["input_only"]},
            "targets": {"backward_style / input_only": ">= 1.3",
                        "input_only / train_step": "<= 0.7",
                        "library_fgsm / input_only": "(validation overhead; reported)"},
            "setting": f"MLP 784-{width}-{width}-10, batch {n}, FGSM step into [0, 1]"}


def pgd_at_epoch(device: torch.device, smoke: bool) -> dict[str, Any]:
    """PGD-10 adversarial training of PreAct-ResNet18 on CIFAR-sized tensors: fp32 vs bf16
    autocast + channels_last, per-epoch time extrapolated from a few timed batches.

    The epoch is 50,000 images (CIFAR-10's training set) of random data: speed does not depend
    on the values. eps = 8/255, alpha = 2/255, random start, inputs boxed to [0, 1]. The
    reference figure is 9.6 s per epoch on an H100 (batch 512); a CPU can only give the ratio.
    """
    on_gpu = device.type == "cuda"
    width, batch = (8, 4) if smoke else ((64, 512) if on_gpu else (64, 16))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(10, (batch,), generator=gen).to(device)
    ce = torch.nn.functional.cross_entropy

    def make(fast: bool) -> Callable[[], None]:
        model = models.PreActResNet18(width=width, generator=torch.Generator().manual_seed(0))
        model = model.to(device)
        xs = x
        if fast:
            model = model.to(memory_format=torch.channels_last)
            xs = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step() -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
                delta = attacks.pgd(model, xs, y, eps=8 / 255, alpha=2 / 255, steps=10,
                                    random_start=True, clip=(0, 1),
                                    generator=torch.Generator(device=device).manual_seed(1))
                loss = ce(model(xs + delta), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    t = timeit_side_by_side({"fp32": make(False), "bf16_channels_last": make(True)}, device,
                            repeat=3 if not smoke else 1, warmup=1)
    per_epoch = {f"{k} epoch (extrapolated)": v * 50_000 / batch for k, v in t.items()}
    return {"seconds": {**{f"{k} batch": v for k, v in t.items()}, **per_epoch},
            "ratios": {"fp32 / bf16_channels_last": t["fp32"] / t["bf16_channels_last"]},
            "targets": {"bf16_channels_last epoch (extrapolated)": "<= 9.6 s on an H100"},
            "setting": f"PreAct-ResNet18 (width {width}), batch {batch}, PGD-10 AT step, "
                       f"3 x 32 x 32 inputs"}


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
    t = timeit_side_by_side({"batched": batched, "loop": loop}, device, repeat=3, warmup=1)
    return {"seconds": t, "ratios": {"loop / batched": t["loop"] / t["batched"]},
            "max_abs_difference": err, "targets": {"loop / batched": ">= 50 on a GPU"},
            "setting": f"MLP {d}-32-32-10, float64, {n} samples of dimension {d}"}


def verify_time(device: torch.device, smoke: bool) -> dict[str, Any]:
    """Wall time of ``advproof verify`` (every claim's checks and controls) and its slowest checks.

    Not a ratio: the quick-mode budget of the project (verify <= 60 s on a 2-core CPU). Smoke
    mode verifies one chapter's claims only.
    """
    from advproof import claims, ledger

    registry = claims.load_registry()
    start = time.perf_counter()
    report = ledger.verify(registry, only="cheng.lemma1" if smoke else None)
    total = time.perf_counter() - start
    rows = sorted(((ch.seconds, f"{r.claim.id}: {ch.name}") for r in report.claims
                   for ch in r.checks), reverse=True)
    by_source: dict[str, float] = {}
    for seconds, name in rows:
        by_source[name.split(".")[0]] = by_source.get(name.split(".")[0], 0.0) + seconds
    return {"seconds": {"advproof verify": total, **{f"claims {k}.*": v
                                                    for k, v in sorted(by_source.items())}},
            "slowest": [[name, seconds] for seconds, name in rows[:8]],
            "targets": {"advproof verify": "<= 60 s on 2 CPU cores"},
            "setting": f"{len(report.claims)} claims, {len(rows)} checks, float64"}


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
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), **body}


def write(result: dict[str, Any], folder: str | Path = "benchmarks/results") -> Path:
    """Write ``<folder>/<name>-<cpu|cuda>[-smoke].json`` atomically."""
    from advproof.experiments import write_json_atomic

    kind = "cpu" if result["device"] == "cpu" else "cuda"
    suffix = "-smoke" if result["smoke"] else ""
    path = Path(folder) / f"{result['name']}-{kind}{suffix}.json"
    write_json_atomic(path, result)
    return path


READING: dict[str, str] = {
    "attack_step": (
        "How to read it: an input-only gradient skips the weight-gradient products of every "
        "layer, so one attack step costs about a forward and a backward-to-the-input (two "
        "forward-equivalents), against three for a training step; the ideal ratio to a "
        "training step is about 0.67. On a CPU the elementwise work (sign, clamp, copies) "
        "is memory-bound and weighs more than on a GPU; `library_fgsm` adds the engine's "
        "checks (inputs inside the box, delta finite and inside the ball and box), each a "
        "pass over the batch."),
    "pgd_at_epoch": (
        "How to read it: eleven forward and backward passes per batch (ten attack steps and the "
        "update). bf16 autocast with channels_last memory is the GPU recipe; on a CPU the gain "
        "depends on its bf16 instructions (AVX-512 BF16, AMX). A CPU run gives the ratio only: "
        "the 9.6 s target is for an H100 at batch 512."),
    "top_eigenvalue": (
        "How to read it: Hessian-vector products (HVPs) dominate the cost, so the HVP count at "
        "equal accuracy is the fair comparison; the exact value comes from the dense Hessian."),
    "per_sample_hessian": (
        "How to read it: the batched version does one double backward for the whole batch; the "
        "loop does one per sample. The gain grows with the batch and is largest on a GPU."),
    "verify_time": (
        "How to read it: the time of every symbolic and numeric check with its negative "
        "control, the budget of the book's quick mode."),
}


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
                f"commit {r['commit'][:10]}{'+dirty' if r.get('dirty') else ''}, "
                f"{r['date'][:10]}.", "",
                "| quantity | value | target |", "|---|---|---|"]
        targets = r.get("targets", {})
        for key, value in r.get("ratios", {}).items():
            out.append(f"| {key} | {_fmt(value)} | {targets.get(key, '')} |")
        for key, value in (r.get("seconds") or {}).items():
            out.append(f"| {key} (s, median) | {_fmt(value)} | {targets.get(key, '')} |")
        hvp_target = targets.get("lanczos HVPs at rel. error 1e-4", "")
        for key, value in (r.get("hvps_to_1e-4") or {}).items():
            target = hvp_target if key == "lanczos" else ""
            out.append(f"| {key}: HVPs to rel. error 1e-4 | {value or 'not reached'} | {target} |")
        if r.get("slowest"):
            out += ["", "Slowest checks: " + "; ".join(f"`{n}` {_fmt(s)} s"
                                                      for n, s in r["slowest"]) + "."]
        if r["name"] in READING:
            out += ["", READING[r["name"]]]
        out.append("")
    return "\n".join(out)
