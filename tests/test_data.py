"""Tests of advproof.data: every loader offline, every failure one clear error.

File-based sets are exercised on tiny IDX / pickle files written into ``tmp_path``; mnist1d is
generated with the network disabled.
"""

import gzip
import os
import pickle
import random
import socket
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from advproof import data

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
REAL_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's ADVPROOF_DATA or a system-wide Debian Fashion-MNIST."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")


def write_idx_set(folder: Path, *, n: int = 6, gz: bool = False, seed: int = 0) -> tuple:
    """Tiny MNIST-format train and test sets (n images 5x4) in ``folder``; returns the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 5, 4), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if gz else ""
        data.idx_write(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        data.idx_write(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        arrays[prefix] = (images, labels)
    return arrays["train"], arrays["t10k"]


def cifar_write_batch(path: Path, images: np.ndarray, labels: list[int]) -> None:
    """A CIFAR-10 python batch: a dict with b"data" (N, 3072) uint8 and b"labels"."""
    batch = {b"batch_label": b"test", b"data": images.reshape(len(images), -1), b"labels": labels}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_cifar(folder: Path, per_batch: int = 4) -> np.ndarray:
    """Five train batches and a test batch in ``folder/cifar-10-batches-py``; returns the train
    images (5 * per_batch, 3, 32, 32)."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(0)
    all_images = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        first = per_batch * len(all_images)
        cifar_write_batch(batches / name, images, [(first + i) % 10 for i in range(per_batch)])
        all_images.append(images)
    return np.concatenate(all_images[:5])


def assert_one_line_advice(message: str, *, name: str, folder: Path) -> None:
    """A data error names the expected files, the folder searched, and ADVPROOF_DATA."""
    assert "\n" not in message
    assert name in message and str(folder) in message and "ADVPROOF_DATA" in message
    assert "data_dir=DIR" in message


# --- digits ------------------------------------------------------------------------------------


def test_digits_shapes_range_dtype() -> None:
    train, test = data.load("digits"), data.load("digits", split="test")
    assert train.X.shape == (1438, 1, 8, 8) and test.X.shape == (359, 1, 8, 8)
    assert train.X.dtype == torch.float32 and train.y.dtype == torch.int64
    assert train.X.min() == 0 and train.X.max() == 1
    assert set(train.y.tolist()) == set(range(10))
    assert train.source == "sklearn.datasets.load_digits" and train.name == "digits"
    flat = data.load("digits", flatten=True, dtype=torch.float64)
    assert flat.X.shape == (1438, 64) and flat.X.dtype == torch.float64
    assert torch.equal(flat.X.reshape(-1, 1, 8, 8).float(), train.X)


def test_digits_split_is_a_fixed_partition() -> None:
    """Train and test are disjoint, cover all 1797 samples, and do not depend on ``seed``."""
    from sklearn.datasets import load_digits

    full = torch.tensor(load_digits().data / 16)
    rows = {tuple(r) for r in full.tolist()}
    train = data.load("digits", seed=5, flatten=True, dtype=torch.float64)
    test = data.load("digits", split="test", seed=7, flatten=True, dtype=torch.float64)
    assert torch.equal(train.X, data.load("digits", flatten=True, dtype=torch.float64).X)
    assert {tuple(r) for r in torch.cat([train.X, test.X]).tolist()} == rows
    assert len(train.X) + len(test.X) == len(full)


def test_digits_subsets_are_deterministic_and_nested() -> None:
    a, b = data.load("digits", n=100, seed=1), data.load("digits", n=100, seed=1)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    c = data.load("digits", n=100, seed=2)
    assert not torch.equal(a.X, c.X)
    half = data.load("digits", n=50, seed=1)
    assert torch.equal(half.X, a.X[:50])


def test_digits_classes_relabel_in_given_order() -> None:
    full = data.load("digits")
    sub = data.load("digits", classes=(3, 5))
    assert set(sub.y.tolist()) == {0, 1}
    assert torch.equal(sub.X[sub.y == 0], full.X[full.y == 3])
    assert torch.equal(sub.X[sub.y == 1], full.X[full.y == 5])
    swapped = data.load("digits", classes=(5, 3))
    assert torch.equal(swapped.y, 1 - sub.y)
    small = data.load("digits", classes=(3, 5), n=20, seed=0)
    assert small.X.shape == (20, 1, 8, 8) and set(small.y.tolist()) <= {0, 1}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "val"}, "valid: train, test"),
        ({"n": 10_000}, "only 1438"),
        ({"n": 0}, "positive"),
        ({"classes": (3, 12)}, "distinct labels"),
        ({"classes": (3, 3)}, "distinct labels"),
        ({"dtype": torch.int64}, "floating point"),
    ],
)
def test_load_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        data.load("digits", **kwargs)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown dataset name 'mnist2'") as info:
        data.load("mnist2")
    assert all(name in str(info.value) for name in data.NAMES)


def test_unexpected_parameters_are_refused() -> None:
    with pytest.raises(TypeError, match="accepted: \\[\\]"):
        data.load("digits", d=3)
    with pytest.raises(TypeError, match="'separation'"):
        data.load("blobs", margin=1.0)


# --- mnist1d ------------------------------------------------------------------------------------


def test_mnist1d_generates_offline_and_keeps_global_rng(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    import mnist1d.data

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_network)
    data._mnist1d_arrays.cache_clear()
    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    train = data.load("mnist1d", num_samples=200)
    test = data.load("mnist1d", split="test", num_samples=200, dtype=torch.float64)
    assert train.X.shape == (160, 40) and test.X.shape == (40, 40)
    assert train.y.dtype == torch.int64 and set(train.y.tolist()) <= set(range(10))
    assert "make_dataset" in train.source and "num_samples=200" in train.source
    assert np.array_equal(np.random.get_state()[1], np_before) and random.getstate() == py_before
    again = data.load("mnist1d", num_samples=200, n=50, seed=3)
    assert torch.equal(again.X, data.load("mnist1d", num_samples=200, n=50, seed=3).X)


def test_mnist1d_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        data.load("mnist1d", num_samples=30)


# --- IDX files: mnist and fashion-mnist -------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path: Path, dtype: type, suffix: str) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = data.idx_write(tmp_path / f"a.idx{suffix}", array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = data.idx_read(path)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_idx_read_truncated_header(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(data.DataCorruptError, match="truncated IDX header"):
        data.idx_read(tmp_path / "a")


def test_idx_write_refuses_unknown_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allowed dtypes"):
        data.idx_write(tmp_path / "a", np.zeros(3, np.int64))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_set_from_data_dir(tmp_path: Path, name: str, gz: bool) -> None:
    (images, labels), (test_images, _) = write_idx_set(tmp_path / "root", gz=gz)
    ds = data.load(name, data_dir=tmp_path / "root", dtype=torch.float64)
    assert ds.X.shape == (6, 1, 5, 4) and ds.y.dtype == torch.int64
    assert torch.equal(ds.X, torch.tensor(images[:, None] / 255.0))
    assert ds.y.tolist() == labels.tolist() and ds.source == str(tmp_path / "root")
    test = data.load(name, split="test", data_dir=tmp_path / "root", flatten=True)
    assert test.X.shape == (6, 20) and torch.allclose(
        test.X, torch.tensor(test_images / 255).reshape(6, -1).float()
    )


def test_env_var_subfolder_wins_over_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_set(tmp_path, seed=1)
    (images, _), _ = write_idx_set(tmp_path / "fashion-mnist", gz=True, seed=2)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    fashion = data.load("fashion-mnist")
    assert fashion.source == str(tmp_path / "fashion-mnist")
    assert torch.allclose(fashion.X, torch.tensor(images[:, None] / 255).float())
    assert data.load("mnist").source == str(tmp_path)  # no mnist/ subfolder: the root itself


def test_fashion_mnist_falls_back_to_debian_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    write_idx_set(debian, gz=True)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    assert data.load("fashion-mnist").source == str(debian)
    with pytest.raises(data.DataNotFoundError):  # an explicit data_dir is the only folder searched
        data.load("fashion-mnist", data_dir=tmp_path / "elsewhere")


@pytest.mark.skipif(not REAL_DEBIAN.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_debian_fashion_mnist_test_split() -> None:
    ds = data.load("fashion-mnist", split="test", data_dir=REAL_DEBIAN, n=500)
    assert ds.X.shape == (500, 1, 28, 28) and 0 <= ds.X.min() and ds.X.max() <= 1
    full = data.load("fashion-mnist", split="test", data_dir=REAL_DEBIAN)
    assert torch.bincount(full.y).tolist() == [1000] * 10


def test_missing_folder_names_files_folders_and_remedy(tmp_path: Path) -> None:
    with pytest.raises(data.DataNotFoundError) as info:
        data.load("mnist", data_dir=tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert_one_line_advice(message, name="train-images-idx3-ubyte", folder=tmp_path / "nowhere")
    assert "train-labels-idx1-ubyte" in message and "apt-get" not in message
    with pytest.raises(data.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist", split="test", data_dir=tmp_path)
    with pytest.raises(data.DataNotFoundError, match="ADVPROOF_DATA is not set"):
        data.load("mnist")


def test_partial_folder_is_not_enough(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    data.load("mnist", data_dir=tmp_path)
    with pytest.raises(data.DataNotFoundError, match="t10k-labels-idx1-ubyte"):
        data.load("mnist", split="test", data_dir=tmp_path)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _bad_magic(path: Path) -> None:
    path.write_bytes(b"\x00\x01" + path.read_bytes()[2:])


def _gz_truncated(path: Path) -> None:
    path.with_suffix(".gz").write_bytes(gzip.compress(path.read_bytes())[:-20])
    path.unlink()


def _fewer_labels(path: Path) -> None:
    data.idx_write(path.parent / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))


def _label_out_of_range(path: Path) -> None:
    data.idx_write(path.parent / "train-labels-idx1-ubyte", np.full(6, 10, np.uint8))


def _int32_labels(path: Path) -> None:
    data.idx_write(path.parent / "train-labels-idx1-ubyte", np.zeros(6, np.int32))


def _float_images(path: Path) -> None:
    data.idx_write(path, np.zeros((6, 5, 4), np.float32))


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_truncate, "truncated"),
        (_bad_magic, "bad IDX magic number"),
        (_gz_truncated, "broken gzip stream"),
        (_fewer_labels, "labels for 6 images"),
        (_label_out_of_range, "outside 0..9"),
        (_float_images, "not uint8"),
        (_int32_labels, "int32 labels, not uint8"),
    ],
)
def test_corrupt_idx_gives_one_clear_error(tmp_path: Path, corrupt, match: str) -> None:
    write_idx_set(tmp_path)
    corrupt(tmp_path / IDX_NAMES[0])
    with pytest.raises(data.DataCorruptError, match=match) as info:
        data.load("mnist", data_dir=tmp_path)
    assert isinstance(info.value, ValueError) and info.value.__cause__ is not None
    assert_one_line_advice(str(info.value), name=IDX_NAMES[1], folder=tmp_path)


# --- cifar10 -----------------------------------------------------------------------------------


def test_cifar10_batches(tmp_path: Path) -> None:
    images = write_cifar(tmp_path)
    train = data.load("cifar10", data_dir=tmp_path, dtype=torch.float64)
    assert train.X.shape == (20, 3, 32, 32) and train.y.tolist() == [i % 10 for i in range(20)]
    assert torch.equal(train.X, torch.tensor(images / 255.0))
    assert train.source == str(tmp_path / "cifar-10-batches-py")
    test = data.load("cifar10", split="test", data_dir=tmp_path / "cifar-10-batches-py")
    assert test.X.shape == (4, 3, 32, 32) and test.y.tolist() == [0, 1, 2, 3]
    assert data.load("cifar10", data_dir=tmp_path, flatten=True).X.shape == (20, 3072)


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\x80\x02}q\x00(X", "not a readable pickle"),
        (pickle.dumps({b"labels": [0] * 4}), "expected b'data' and b'labels'"),
        (
            pickle.dumps({b"data": np.zeros((4, 3071), np.uint8), b"labels": [0] * 4}),
            "expected uint8",
        ),
        (
            pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}),
            "labels for 4",
        ),
        (pickle.dumps([1, 2]), "not a dict"),
        (pickle.dumps({"data": np.zeros((4, 3072), np.uint8), "labels": [0.5] * 4}), "integers"),
        (pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [[0], []]}), "vector"),
        (pickle.dumps(_Evil()), "not allowed"),
    ],
)
def test_corrupt_cifar_gives_one_clear_error(tmp_path: Path, payload: bytes, match: str) -> None:
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(payload)
    with pytest.raises(data.DataCorruptError, match=match) as info:
        data.load("cifar10", data_dir=tmp_path)
    assert_one_line_advice(str(info.value), name="data_batch_5", folder=tmp_path)


# --- available ---------------------------------------------------------------------------------


def test_available_reports_without_loading(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist")
    write_cifar(tmp_path)
    found = data.available(tmp_path)
    assert set(found) == set(data.NAMES)
    assert found["mnist"] == str(tmp_path / "mnist") and found["fashion-mnist"] is False
    assert found["cifar10"] == str(tmp_path / "cifar-10-batches-py")
    assert found["digits"] is True and found["separable"] is True


# --- synthetic ---------------------------------------------------------------------------------


def test_separable_margin_is_attained_and_maximal() -> None:
    margin = 0.3
    X, y, w = data.make_separable(200, 5, margin, seed=4)
    s = 2.0 * y.double() - 1
    assert X.dtype == torch.float64 and set(y.tolist()) == {0, 1}
    assert torch.linalg.norm(w).item() == pytest.approx(1.0, abs=1e-14)
    q = s * (X @ w)
    assert q.min().item() == pytest.approx(margin, abs=1e-12)
    assert (q >= margin - 1e-12).all() and (q <= margin + 1e-12).sum() >= 2
    # negative control: no other unit direction reaches the margin
    gen = torch.Generator().manual_seed(0)
    near = w + 0.05 * torch.randn(5, generator=gen, dtype=torch.float64)
    V = torch.cat([near[None], torch.randn(100, 5, generator=gen, dtype=torch.float64)])
    V = V / torch.linalg.norm(V, dim=1, keepdim=True)
    assert ((s[:, None] * (X @ V.T)).min(0).values < margin - 1e-6).all()


def test_separable_through_load_shares_w_across_splits() -> None:
    train = data.load("separable", n=50, d=3, margin=0.2, seed=9, dtype=torch.float64)
    X, y, w = data.make_separable(50, 3, 0.2, seed=9)
    assert torch.equal(train.X, X) and torch.equal(train.y, y)
    X_test, y_test, w_test = data.make_separable(50, 3, 0.2, seed=9, split="test")
    assert torch.equal(w, w_test) and not torch.equal(X, X_test)
    assert ((2.0 * y_test - 1) * (X_test @ w)).min().item() == pytest.approx(0.2, abs=1e-12)


def test_xor_labels() -> None:
    X, y = data.make_xor(500, seed=1)
    assert X.shape == (500, 2) and X.abs().max() <= 1
    assert torch.equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).long())
    assert 0.35 < y.double().mean() < 0.65


@pytest.mark.parametrize(("k", "d"), [(2, 1), (4, 1), (3, 2), (10, 7)])
def test_blob_centres_closest_pairs_at_separation(k: int, d: int) -> None:
    centres = torch.tensor(data.blob_centres(k, d, 2.5))
    dist = torch.cdist(centres, centres) + torch.eye(k) * 1e9
    assert dist.min().item() == pytest.approx(2.5, rel=1e-12)


def test_blobs_are_centred_and_balanced() -> None:
    X, y = data.make_blobs(3000, 4, 3, separation=5.0, std=0.5, seed=2)
    assert X.shape == (3000, 4) and torch.bincount(y).tolist() == [1000, 1000, 1000]
    centres = torch.tensor(data.blob_centres(3, 4, 5.0))
    means = torch.stack([X[y == j].mean(0) for j in range(3)])
    assert torch.allclose(means, centres, atol=0.1)
    with pytest.raises(ValueError, match="k >= 2"):
        data.make_blobs(10, 2, 1)


@pytest.mark.parametrize("name", data.SYNTHETIC)
def test_synthetic_determinism_from_seed(name: str) -> None:
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    a, b = data.load(name, n=64, seed=1), data.load(name, n=64, seed=1)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y) and a.source == b.source
    assert not torch.equal(a.X, data.load(name, n=64, seed=2).X)
    assert not torch.equal(a.X, data.load(name, n=64, seed=1, split="test").X)
    assert np.array_equal(np.random.get_state()[1], state)  # no global RNG used
    assert a.X.shape[0] == 64 and a.y.dtype == torch.int64
