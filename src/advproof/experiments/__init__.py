"""Experiments: one module per reproduced figure or table, each ``run(mode, seed, device, ...)``.

Every experiment module defines ``CONFIGS`` (a frozen config per mode: ``quick`` for CPU and CI,
``full`` for a GPU at the papers' scale) and ``run(mode="quick", *, seed, device, data_dir)``
returning a result object with ``summary() -> dict`` and ``to_json() -> dict``.
:func:`run` here adds provenance and writes the artifact atomically
(``artifacts/<name>/<mode>/result.json``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

EXPERIMENTS: tuple[str, ...] = ("cheng_setting", "cheng_dynamics", "cheng_training",
                                "cheng_practice",
                                "cheng_influence",
                                "lyuzhu_margins",
                                "lyuzhu_deep_linear", "lyuzhu_kkt", "liu_collapse", "liu_sgd",
                                "liu_landscape", "liu_pas", "thesis_atas", "thesis_subnet",
                                "lyuzhu_appendix", "liu_capacity", "thesis_overfitting",
                                "thesis_difficulty", "thesis_per", "thesis_nonuniform",
                                "thesis_subsets", "liu_connectivity", "thesis_corruptions",
                                "thesis_reweight", "thesis_co", "thesis_curves")


def config_hash(config: Any) -> str:
    """A short stable hash of a config (dataclass or dict), recorded beside every artifact."""
    data = asdict(config) if is_dataclass(config) else dict(config)
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def provenance(*, seed: int, device: str, config: Any) -> dict[str, Any]:
    """Who made a result: commit (and dirty flag), device, library versions, date, seed, config."""
    import numpy
    import sympy
    import torch

    device_name = device
    if device.startswith("cuda") and torch.cuda.is_available():
        device_name = torch.cuda.get_device_name(torch.device(device))
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "device": device_name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "numpy": numpy.__version__,
        "sympy": sympy.__version__,
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "config": asdict(config) if is_dataclass(config) else dict(config),
        "config_hash": config_hash(config),
    }


#: quick: CPU minutes; full: a larger scale on the runner; smoke: the runner's own tests;
#: cifar10: the paper's dataset and model from local files (only some experiments have it).
MODES: tuple[str, ...] = ("quick", "full", "smoke", "cifar10")


class Checkpoint:
    """The completed stages of one run, each saved atomically, so a killed run resumes.

    ``stage(name, fn)`` returns the saved value of ``name`` if an earlier run completed it,
    else computes ``fn()`` and saves it (temp file + rename). ``path(name)`` gives a file for a
    stage that checkpoints itself (``train.train(checkpoint=...)``). ``Checkpoint(None)`` keeps
    nothing. Nothing half-written is ever read: a file exists only once complete.
    """

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def path(self, name: str) -> Path | None:
        """Where stage ``name`` keeps its own state, or ``None`` when not checkpointing."""
        return None if self.folder is None else self.folder / name

    def stage(self, name: str, fn: Any) -> Any:
        """The saved result of stage ``name``, or ``fn()`` computed now and saved."""
        import torch

        path = self.path(f"{name}.pt")
        if path is not None and path.is_file():
            return torch.load(path, weights_only=False)
        value = fn()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            torch.save(value, tmp)
            os.replace(tmp, path)
        return value

    def clear(self) -> None:
        """Remove every saved stage (after the artifact is written)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def module(name: str) -> Any:
    """The experiment module ``name``; ``ValueError`` lists the known experiments."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"advproof.experiments.{name}")


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def run(name: str, *, mode: str = "quick", device: str = "cpu", seed: int = 0,
        data_dir: str | None = None, out_dir: str | os.PathLike | None = "artifacts") -> Any:
    """Run experiment ``name`` and write its ``result.json`` (see :func:`artifact_folder`)
    with provenance; a killed run started again resumes from its checkpoints."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    mod = module(name)
    if mode not in mod.CONFIGS:
        raise ValueError(f"experiment {name} has no {mode!r} mode; it has "
                         f"{', '.join(sorted(mod.CONFIGS))}")
    check_device(device)
    folder = artifact_folder(name, mode, seed, out_dir) if out_dir is not None else None
    ckpt = Checkpoint(folder / "ckpt" if folder is not None else None)
    start = time.perf_counter()
    resumable = "checkpoint" in inspect.signature(mod.run).parameters
    extra = {"checkpoint": ckpt} if resumable else {}
    result = mod.run(mode, seed=seed, device=device, data_dir=data_dir, **extra)
    if folder is not None:
        payload = {"name": name, "mode": mode, "result": result.to_json(),
                   "provenance": provenance(seed=seed, device=device, config=mod.CONFIGS[mode]),
                   "wall_seconds": round(time.perf_counter() - start, 2)}
        write_json_atomic(folder / "result.json", payload)
        ckpt.clear()
    return result


def artifact_folder(name: str, mode: str, seed: int, root: str | os.PathLike) -> Path:
    """``<root>/<name>/<mode>`` for seed 0 (what the book shows), ``.../seed<k>`` otherwise."""
    folder = Path(root) / name / mode
    return folder if seed == 0 else folder / f"seed{seed}"


def check_device(device: str) -> None:
    """``ValueError`` with one clear line for a device that does not exist here."""
    import torch

    if device == "cpu":
        return
    if not device.startswith("cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:k]', got {device!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU "
                         f"(torch {torch.__version__}); use --device cpu")


def staleness(mode: str = "full", *, root: str | os.PathLike = "artifacts",
              only: str | None = None) -> list[tuple[str, str]]:
    """``(name, "missing" | "stale" | "fresh")`` per experiment with a ``mode`` config.

    Stale: the artifact's config hash differs from the code's current config for that mode.
    """
    import fnmatch

    rows = []
    for name in EXPERIMENTS:
        if only is not None and not fnmatch.fnmatchcase(name, only):
            continue
        configs = module(name).CONFIGS
        if mode not in configs:
            continue
        path = Path(root) / name / mode / "result.json"
        if not path.is_file():
            rows.append((name, "missing"))
            continue
        stored = json.loads(path.read_text())["provenance"]["config_hash"]
        rows.append((name, "fresh" if stored == config_hash(configs[mode]) else "stale"))
    return rows


def command(name: str, *, mode: str, seed: int, device: str, data_dir: str | None,
            out_dir: str | os.PathLike) -> str:
    """The shell command that runs one experiment at one seed (for fan-out to GPUs/clusters)."""
    data = f" --data {data_dir}" if data_dir else ""
    return (f"advproof run {name} --mode {mode} --seed {seed} --device {device}{data} "
            f"--out {out_dir}")


def submit_slurm(names: list[str], *, mode: str, device: str, seeds: list[int],
                 data_dir: str | None, out_dir: str | os.PathLike, folder: str,
                 cluster: str | None = None) -> list[Any]:
    """Submit one job per experiment and seed through ``submitit`` (Slurm, or its local/debug
    executors when ``cluster`` says so); returns the jobs. Scheduling is submitit's."""
    try:
        import submitit
    except ImportError as err:
        raise ValueError("--launcher slurm needs submitit: pip install submitit") from err
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(timeout_min=24 * 60, gpus_per_node=int(device != "cpu"))
    return [executor.submit(_run_quietly, name, mode, device, seed, data_dir, str(out_dir))
            for name in names for seed in seeds]


def _run_quietly(name: str, mode: str, device: str, seed: int, data_dir: str | None,
                 out_dir: str) -> dict[str, Any]:
    """One run inside a submitted job; returns the summary (picklable)."""
    return run(name, mode=mode, device=device, seed=seed, data_dir=data_dir,
               out_dir=out_dir).summary()


def load_artifact(name: str, mode: str = "full", root: str | os.PathLike = "artifacts"
                  ) -> dict[str, Any] | None:
    """The stored artifact of ``name`` in ``mode``, or ``None`` when it has not been produced.

    ``root`` is resolved against the current folder, then against the repository root (so a
    notebook running in ``notebooks/`` finds ``artifacts/``).
    """
    for base in (Path(root), Path(__file__).resolve().parents[3] / root):
        path = base / name / mode / "result.json"
        if path.is_file():
            return json.loads(path.read_text())
    return None


def provenance_line(artifact: dict[str, Any]) -> str:
    """One line: commit, device, torch version, date and seed of an artifact."""
    p = artifact["provenance"]
    dirty = "+dirty" if p.get("dirty") else ""
    return (f"{artifact['name']} ({artifact['mode']} mode): commit {p['commit'][:10]}{dirty}, "
            f"{p['device']}, torch {p['torch']}, {p['date'][:10]}, seed {p['seed']}, "
            f"config {p['config_hash']}, {artifact['wall_seconds']:.0f} s")


def __getattr__(name: str) -> Any:
    """``experiments.cheng_setting`` and friends, imported on first use."""
    if name in EXPERIMENTS:
        return importlib.import_module(f"advproof.experiments.{name}")
    raise AttributeError(f"module 'advproof.experiments' has no attribute {name!r}")
