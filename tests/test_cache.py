"""The quick-result cache: one computation per code version, shared across processes."""

from __future__ import annotations

import types

import pytest

from advproof import cache, experiments


class Result:
    def __init__(self, value: float) -> None:
        self.value = value


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A fake experiment that counts its runs, with the cache in a temporary folder."""
    calls = []

    def run(mode, *, seed=0, **kwargs):
        calls.append((mode, seed, kwargs))
        return Result(seed + 0.5)

    mod = types.SimpleNamespace(run=run)
    monkeypatch.setattr(experiments, "module", lambda name: mod)
    monkeypatch.setenv("ADVPROOF_CACHE", str(tmp_path))
    cache.clear_memory()
    yield calls, tmp_path
    cache.clear_memory()


def test_a_run_is_computed_once_and_reloaded_from_disk(fake):
    calls, folder = fake
    assert cache.cached_run("x", seed=1).value == 1.5
    assert cache.cached_run("x", seed=1).value == 1.5
    assert len(calls) == 1
    cache.clear_memory()  # a new process: only the file is left
    assert cache.cached_run("x", seed=1).value == 1.5
    assert len(calls) == 1 and len(list(folder.glob("x-quick-*.pkl"))) == 1
    cache.cached_run("x", seed=2)
    cache.cached_run("x", seed=1, eps_grid=(0.1,))
    assert len(calls) == 3  # another seed or argument is another key


def test_a_code_change_is_a_new_key(fake, monkeypatch):
    calls, _ = fake
    cache.cached_run("x")
    monkeypatch.setattr(cache, "code_digest", lambda: "edited")
    cache.clear_memory()
    cache.cached_run("x")
    assert len(calls) == 2


def test_a_corrupt_file_is_recomputed_not_trusted(fake):
    calls, folder = fake
    cache.cached_run("x")
    (path,) = folder.glob("*.pkl")
    path.write_bytes(b"\x80\x04truncated")
    cache.clear_memory()
    assert cache.cached_run("x").value == 0.5
    assert len(calls) == 2


def test_off_disables_the_disk(fake, monkeypatch):
    calls, folder = fake
    monkeypatch.setenv("ADVPROOF_CACHE", "off")
    cache.cached_run("x")
    cache.clear_memory()
    cache.cached_run("x")
    assert len(calls) == 2 and not list(folder.glob("*.pkl"))


def test_unknown_experiment_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown experiment"):
        cache.cached_run("no_such_experiment")


def test_code_digest_covers_the_package():
    assert len(cache.code_digest()) == 64
    assert cache.PACKAGE.joinpath("cache.py").is_file()


def test_the_key_depends_on_the_cpu_kernels(monkeypatch):
    base = cache.key("x", "quick", 0, {})
    monkeypatch.setenv("MKL_CBWR", "AVX512")  # any value other than the pinned one
    assert cache.key("x", "quick", 0, {}) != base


def test_warm_fills_the_keys_the_readers_look_up(tmp_path, monkeypatch):
    """Two worker processes store under the very keys this process computes (same thread
    count and environment), so a later cached_run is a disk hit."""
    monkeypatch.setenv("ADVPROOF_CACHE", str(tmp_path))
    names = ["liu_sgd", "lyuzhu_deep_linear"]
    done = dict(cache.warm(names, jobs=2))
    assert sorted(done) == names and all(s > 0 for s in done.values())
    for name in names:
        k = cache.key(name, "quick", 0, {})
        assert (tmp_path / f"{name}-quick-{k}.pkl").is_file()


def test_warm_rejects_bad_input_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVPROOF_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="unknown experiment"):
        list(cache.warm(["liu_sgd", "no_such"], jobs=1))
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="jobs"):
        list(cache.warm(["liu_sgd"], jobs=0))
    monkeypatch.setenv("ADVPROOF_CACHE", "off")
    with pytest.raises(ValueError, match="off"):
        list(cache.warm(["liu_sgd"]))
