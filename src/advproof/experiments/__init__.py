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
import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

EXPERIMENTS: tuple[str, ...] = ("cheng_setting",)


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
    """Run experiment ``name`` and write ``<out_dir>/<name>/<mode>/result.json`` with provenance."""
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    mod = module(name)
    start = time.perf_counter()
    result = mod.run(mode, seed=seed, device=device, data_dir=data_dir)
    if out_dir is not None:
        payload = {"name": name, "mode": mode, "result": result.to_json(),
                   "provenance": provenance(seed=seed, device=device, config=mod.CONFIGS[mode]),
                   "wall_seconds": round(time.perf_counter() - start, 2)}
        write_json_atomic(Path(out_dir) / name / mode / "result.json", payload)
    return result


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
