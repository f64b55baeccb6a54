"""The thread-count helper: set inside the block, restored on exit (errors included); spread:
the same jobs in spawned processes give the same list."""

import pytest
import torch

from advproof.threads import single_thread, spread, threads


def test_threads_sets_and_restores_the_callers_setting():
    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_single_thread_works_as_a_decorator():
    before = torch.get_num_threads()

    @single_thread()
    def inside() -> int:
        return torch.get_num_threads()

    assert inside() == 1 and inside() == 1  # reusable: a fresh context per call
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="thread count"), threads(bad):
        pass


def test_spread_keeps_the_order_and_matches_the_serial_run():
    jobs = [(k, 3) for k in range(5)]
    serial = spread(divmod, jobs, workers=1)
    assert serial == [divmod(k, 3) for k in range(5)]
    assert spread(divmod, jobs, workers=2) == serial  # two spawned processes, same list
    assert spread(divmod, [], workers=2) == []
    with pytest.raises(ValueError, match="workers must be >= 1"):
        spread(divmod, jobs, workers=-1)
