"""Quick-mode experiment results computed once per code version, shared across processes.

An experiment claim (a ledger check of kind ``experiment``) reruns a quick-mode experiment and
asserts its trend. ``advproof pages``, the test suite's report and a chapter all want the same
run; recomputing it in each process would multiply the book's build time. :func:`cached_run`
stores the result under a key made of everything that can change it: the experiment name,
mode, seed and arguments, the source of the whole ``advproof`` package, the versions of
torch, numpy and Python, and the CPU kernels in use (instruction set, thread count: see
:mod:`advproof.environment`). Any edit to the package is a new key, so a cached result is always
the one today's code gives (the experiments are deterministic on the CPU: fixed seeds and
thread counts).

The cache lives in ``$ADVPROOF_CACHE`` (default ``~/.cache/advproof``); ``ADVPROOF_CACHE=off``
disables it. Files are written atomically (temporary file and rename); an unreadable file is
recomputed, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import platform
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent


@functools.cache
def code_digest() -> str:
    """SHA-256 over every ``.py`` file of the package (path and content), in sorted order."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_dir() -> Path | None:
    """The cache folder, or None when ``ADVPROOF_CACHE=off``."""
    value = os.environ.get("ADVPROOF_CACHE", "")
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else Path.home() / ".cache" / "advproof"


def key(name: str, mode: str, seed: int, kwargs: dict[str, Any]) -> str:
    """The cache key of one run: its arguments, the package source and the library versions."""
    import numpy
    import torch

    kernels = [torch.backends.cpu.get_cpu_capability(), str(torch.get_num_threads()),
               *(os.environ.get(k, "") for k in ("MKL_CBWR", "DNNL_MAX_CPU_ISA",
                                                  "OPENBLAS_CORETYPE"))]
    parts = [name, mode, str(seed), repr(sorted(kwargs.items())), code_digest(),
             torch.__version__, numpy.__version__, platform.python_version(), *kernels]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


_MEMORY: dict[str, Any] = {}


def cached_run(name: str, mode: str = "quick", *, seed: int = 0, **kwargs: Any) -> Any:
    """``experiments.module(name).run(mode, seed=seed, **kwargs)``, computed once per code version.

    Only for deterministic CPU runs without side effects (quick mode); ``kwargs`` must have a
    stable ``repr``. A result that cannot be pickled is returned but not stored on disk.
    """
    from advproof import experiments

    mod = experiments.module(name)  # ValueError for an unknown experiment
    k = key(name, mode, seed, kwargs)
    if k in _MEMORY:
        return _MEMORY[k]
    folder = cache_dir()
    path = folder / f"{name}-{mode}-{k}.pkl" if folder is not None else None
    if path is not None and path.is_file():
        try:
            with path.open("rb") as f:
                _MEMORY[k] = pickle.load(f)
            return _MEMORY[k]
        except Exception:  # truncated, or written by other code: recompute  # noqa: BLE001
            path.unlink(missing_ok=True)
    result = mod.run(mode, seed=seed, **kwargs)
    _MEMORY[k] = result
    if path is not None:
        try:
            blob = pickle.dumps(result)
        except (pickle.PicklingError, TypeError, AttributeError):
            return result
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    return result


def clear_memory() -> None:
    """Forget the in-process copies (the files stay): for tests."""
    _MEMORY.clear()
