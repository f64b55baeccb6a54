"""The one place that sets torch's intra-op thread count (STYLE §8), always restored on exit.

Theory checks, flows and toy-sized experiments run long loops over tensors of a few hundred
entries. There a thread pool only adds hand-offs: on a loaded 2-core machine a raw-ascent step
took 14 ms with two threads and 0.5 ms with one. ``threads(n)`` (and ``single_thread()``) work
both as a ``with`` block and as a decorator (``@single_thread()``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


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
