"""The one place that sets torch's intra-op thread count (STYLE §8), always restored on exit.

Theory checks, flows and toy-sized experiments run long loops over tensors of a few hundred
entries. There a thread pool only adds hand-offs: on a loaded 2-core machine a raw-ascent step
took 14 ms with two threads and 0.5 ms with one. ``threads(n)`` (and ``single_thread()``) work
both as a ``with`` block and as a decorator (``@single_thread()``). ``spread`` runs such
single-threaded jobs side by side in spawned processes instead.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import torch

T = TypeVar("T")


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block (``None``: leave the setting alone)."""
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"the thread count must be an int >= 1 or None, got {n!r}")
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_thread() -> contextlib.AbstractContextManager[None]:
    """``threads(1)``: for loops over tiny tensors, where a second thread costs more than it
    gives."""
    return threads(1)


def spread(fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]], workers: int | None = None
           ) -> list[T]:
    """``[fn(*job) for job in jobs]``, the jobs spread over ``workers`` spawned processes
    (default: up to 2, the CI machine's cores; ``workers=1`` runs them here), in order.

    For independent, seeded, single-threaded jobs, whose results do not depend on the process
    they run in: then the list is bit-identical for every ``workers``. ``fn`` must be picklable
    (a module-level function).
    """
    workers = min(len(jobs), workers or min(2, os.cpu_count() or 1))
    if workers < 1 and jobs:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers <= 1:
        return [fn(*job) for job in jobs]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(fn, *zip(*jobs, strict=True)))
