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
import multiprocessing
import os
import pickle
import platform
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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


#: Started first by :func:`warm` (the longest quick runs, measured), so that the pool does not
#: end on one long run while the other process idles.
SLOW_FIRST: tuple[str, ...] = ("cheng_training", "liu_capacity", "thesis_atas", "thesis_co",
                               "liu_connectivity",
                               "thesis_subsets", "thesis_reweight", "thesis_subnet",
                               "cheng_dynamics")


def _warm_one(name: str) -> tuple[str, float]:
    start = time.perf_counter()
    cached_run(name, "quick", seed=0)
    return name, time.perf_counter() - start


def warm(names: Sequence[str] | None = None, *, jobs: int = 2) -> Iterator[tuple[str, float]]:
    """Compute the quick-mode runs (seed 0) of ``names`` (default: every experiment) into the
    disk cache, ``jobs`` fresh processes at a time; yields ``(name, seconds)`` as each ends.

    Why: the book's checks, pages and notebooks read these runs one after the other, and most
    of them are small single-core computations, so filling the cache in parallel first saves
    wall time on a multi-core machine. The workers run under the same reproducible environment
    (:mod:`advproof.environment`) and thread count as the readers, so they store under the keys
    the readers will look up; a run already on disk is a cache hit, not a recomputation.
    """
    from advproof import environment, experiments

    if cache_dir() is None:
        raise ValueError("warm needs the disk cache; ADVPROOF_CACHE is 'off'")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    todo = list(experiments.EXPERIMENTS if names is None else names)
    for name in todo:
        experiments.module(name)  # ValueError for an unknown name, before any work
    todo.sort(key=lambda n: SLOW_FIRST.index(n) if n in SLOW_FIRST else len(SLOW_FIRST))
    environment.apply()  # inherited by the workers
    if jobs == 1:
        yield from map(_warm_one, todo)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
        for future in as_completed([pool.submit(_warm_one, n) for n in todo]):
            yield future.result()


def clear_memory() -> None:
    """Forget the in-process copies (the files stay): for tests."""
    _MEMORY.clear()
