"""Datasets for the book, offline only: nothing in this module ever opens a network connection.

Shape legend (every loader returns a :class:`Dataset`):

- ``N`` samples, ``H``/``W`` image height/width, ``D`` the flattened input dimension.
- ``X``: ``(N, 1, H, W)`` images in [0, 1] (``(N, 3, 32, 32)`` for cifar10), or ``(N, D)`` with
  ``flatten=True``; ``(N, 40)`` for mnist1d (standardised signals, *not* in [0, 1]);
  ``(N, D)`` for the synthetic sets. ``y``: ``(N,)`` int64 class indices.

Sources, by name:

- ``digits``: scikit-learn's bundled ``load_digits`` (1797 images 8x8, pixels / 16), the embedded
  default; a fixed seeded 80/20 train/test split (1438 / 359).
- ``mnist1d``: generated locally by ``mnist1d.data.make_dataset(get_dataset_args())``
  (4000 / 1000). Its ``get_dataset`` downloads, so it is never called.
- ``mnist``, ``fashion-mnist``: IDX files (plain or gzipped) in a local folder; ``fashion-mnist``
  also from Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/*.gz``).
- ``cifar10``: the python pickles of ``cifar-10-batches-py`` in a local folder.
- ``blobs``, ``xor``, ``separable``: synthetic, deterministic from ``seed``
  (:func:`make_blobs`, :func:`make_xor`, :func:`make_separable`).

Folders searched for the file-based sets: ``data_dir`` if given (``data_dir/<name>/``, then
``data_dir``); otherwise ``$ADVPROOF_DATA/<name>/`` and ``$ADVPROOF_DATA``, then, for
fashion-mnist, the Debian folder. torchvision's layout (``MNIST/raw``, ``FashionMNIST/raw``,
``cifar-10-batches-py``) is also recognised. A missing or corrupt file raises one
:class:`DataNotFoundError` / :class:`DataCorruptError` whose message says what was expected, where
it was looked for, and where to put it.
"""

import contextlib
import functools
import gzip
import importlib.util
import io
import math
import os
import pickle
import random
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = ("train", "test")
ENV_VAR = "ADVPROOF_DATA"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FILE_SETS: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
SYNTHETIC: tuple[str, ...] = ("blobs", "xor", "separable")
NAMES: tuple[str, ...] = ("digits", "mnist1d", *FILE_SETS, *SYNTHETIC)
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
SYNTHETIC_N = 256
MNIST1D_NUM_SAMPLES = 5000

# Keyword parameters that `load` passes on, per name, with their defaults.
PARAMS: dict[str, dict[str, Any]] = {
    "mnist1d": {"num_samples": MNIST1D_NUM_SAMPLES},
    "blobs": {"d": 2, "k": 3, "separation": 4.0, "std": 1.0},
    "xor": {},
    "separable": {"d": 2, "margin": 0.1, "spread": 1.0},
}

# Subfolders of a data root searched for each file-based set, in order ("" is the root itself).
_LAYOUT: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist", "MNIST/raw", ""),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw", ""),
    "cifar10": ("cifar10/cifar-10-batches-py", "cifar-10-batches-py", "cifar10", ""),
}


class Dataset(NamedTuple):
    """A labelled set: ``X`` (N, ...) in the requested dtype, ``y`` (N,) int64, and provenance.

    ``source`` says where the numbers came from (a folder, or the generating function and its
    arguments), so a result computed on it can carry it.
    """

    X: Tensor
    y: Tensor
    name: str
    source: str


class Separable(NamedTuple):
    """A linearly separable set with its true unit normal: ``X`` (N, D), ``y`` (N,) in {0, 1},
    ``w`` (D,) with ``min_i s_i w^T x_i = margin`` for ``s = 2y - 1``."""

    X: Tensor
    y: Tensor
    w: Tensor


class DataNotFoundError(FileNotFoundError):
    """The files of a dataset are in none of the folders searched (the message lists both)."""


class DataCorruptError(ValueError):
    """A dataset file exists but is not what it should be (bad magic, truncated, wrong shape)."""


class _Raw(NamedTuple):
    """A loader's output before selection: ``X / scale`` is the data, ``y`` the labels."""

    X: np.ndarray
    y: np.ndarray
    scale: float
    source: str


# ---------------------------------------------------------------------------------------------
# IDX files (the MNIST format: http://yann.lecun.com/exdb/mnist/, "FILE FORMATS")

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """The content of ``path``, gunzipped when it starts with the gzip magic (whatever its name)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataCorruptError(f"{path}: broken gzip stream ({type(err).__name__}: {err})") from err


def _idx_parse(data: bytes, where: str) -> np.ndarray:
    """Parse IDX bytes, checking the magic number and that the header's shape fits the size."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataCorruptError(
            f"{where}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000TTNN, "
            f"TT one of {', '.join(f'{t:02x}' for t in _IDX_TYPES)})"
        )
    ndim, dtype = data[3], _IDX_TYPES[data[2]]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataCorruptError(f"{where}: truncated IDX header ({len(data)} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", ndim, 4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "trailing bytes"
        raise DataCorruptError(
            f"{where}: IDX header says shape {shape} ({expected} bytes) but the file has "
            f"{len(data)} bytes ({kind})"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def idx_read(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzipped) into a native-endian array.

    Raises :class:`DataCorruptError` on a bad magic number, a truncated or over-long file, or a
    broken gzip stream; ``FileNotFoundError`` if ``path`` does not exist.
    """
    path = Path(path)
    return _idx_parse(_read_bytes(path), str(path))


def idx_write(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzipped if ``path`` ends in ``.gz``; returns the path.

    For tests and for making local copies of a set; dtypes uint8, int8, int16, int32, float32,
    float64 (the ones the format defines).
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        allowed = ", ".join(str(dt) for dt in codes)
        raise ValueError(f"cannot write dtype {array.dtype} as IDX; allowed dtypes: {allowed}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + array.astype(_IDX_TYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


@functools.lru_cache(maxsize=8)
def _idx_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """:func:`idx_read`, cached per file version (path, mtime, size); the array is read-only."""
    array = idx_read(path)
    array.flags.writeable = False
    return array


def _file_key(path: Path) -> tuple[str, int, int]:
    """The cache key of a file version: (path, mtime in ns, size)."""
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


# ---------------------------------------------------------------------------------------------
# Finding files, and the one error message


def _expected_files(name: str, split: str) -> tuple[str, ...]:
    """The file names (without ``.gz``) that hold ``split`` of ``name``."""
    if name == "cifar10":
        return (
            tuple(f"data_batch_{i}" for i in range(1, 6)) if split == "train" else ("test_batch",)
        )
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def search_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order, for the files of ``name`` (a file-based set).

    ``data_dir`` alone if given; else ``$ADVPROOF_DATA/<name>/`` and ``$ADVPROOF_DATA``, then, for
    fashion-mnist, Debian's ``/usr/share/datasets/fashion-mnist``.
    """
    env = os.environ.get(ENV_VAR)
    roots = [Path(data_dir)] if data_dir is not None else [Path(env)] if env else []
    dirs = [root.expanduser().absolute() / sub for root in roots for sub in _LAYOUT[name]]
    if data_dir is None and name == "fashion-mnist":
        dirs.append(DEBIAN_FASHION_MNIST)
    return list(dict.fromkeys(dirs))


def _advice(name: str, split: str, dirs: Sequence[Path]) -> str:
    """The tail of every data error: files expected, folders searched, where to put them."""
    gz = "" if name == "cifar10" else "[.gz]"
    files = ", ".join(f"{f}{gz}" for f in _expected_files(name, split))
    searched = ", ".join(map(str, dirs)) or f"none ({ENV_VAR} is not set and no data_dir given)"
    where = "DIR/cifar-10-batches-py/" if name == "cifar10" else f"DIR/{name}/ or DIR/"
    fix = f"put them in {where} and set {ENV_VAR}=DIR or pass --data DIR / data_dir=DIR"
    if name == "fashion-mnist":
        fix += ", or `apt-get install dataset-fashion-mnist`"
    return f"expected {files}; searched {searched}; {fix}"


def _locate(folder: Path, base: str) -> Path | None:
    """``folder/base`` or ``folder/base.gz``, whichever exists first, else None."""
    for path in (folder / base, folder / f"{base}.gz"):
        if path.is_file():
            return path
    return None


def find_files(name: str, split: Split, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The files of ``split`` of ``name``, all from the first folder that holds every one.

    Raises :class:`DataNotFoundError` (one line: files, folders, remedy) when no folder has them.
    """
    _check_choice("name", name, FILE_SETS)
    dirs = search_dirs(name, data_dir)
    for folder in dirs:
        found = [_locate(folder, base) for base in _expected_files(name, split)]
        if all(path is not None for path in found):
            return [path for path in found if path is not None]
    raise DataNotFoundError(f"{name} ({split} split) not found: {_advice(name, split, dirs)}")


@contextlib.contextmanager
def _corrupt_context(name: str, split: str, data_dir: str | os.PathLike | None) -> Iterator[None]:
    """Re-raise a :class:`DataCorruptError` with the dataset's files, folders and remedy."""
    try:
        yield
    except DataCorruptError as err:
        advice = _advice(name, split, search_dirs(name, data_dir))
        raise DataCorruptError(f"{name} ({split} split) is corrupt: {err}; {advice}") from err


# ---------------------------------------------------------------------------------------------
# File-based sets


def _check_labels(labels: np.ndarray, n_rows: int, where: str) -> None:
    """Labels are a vector of ``n_rows`` integers in 0..9 (MNIST, Fashion-MNIST, CIFAR-10)."""
    if labels.ndim != 1 or len(labels) != n_rows:
        raise DataCorruptError(f"{where}: {labels.shape} labels for {n_rows} images")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataCorruptError(
            f"{where}: labels outside 0..9 (min {labels.min()}, max {labels.max()})"
        )


def _load_idx_set(name: str, split: Split, data_dir: str | os.PathLike | None) -> _Raw:
    """MNIST-format images (N, H, W) uint8 and labels (N,) uint8 from two IDX files."""
    images_path, labels_path = find_files(name, split, data_dir)
    with _corrupt_context(name, split, data_dir):
        images = _idx_cached(*_file_key(images_path))
        labels = _idx_cached(*_file_key(labels_path))
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataCorruptError(
                f"{images_path}: {images.dtype} {images.shape}, not uint8 (N, H, W)"
            )
        if labels.dtype != np.uint8:
            raise DataCorruptError(f"{labels_path}: {labels.dtype} labels, not uint8")
        _check_labels(labels, len(images), str(labels_path))
    return _Raw(images[:, None], labels, 255.0, str(images_path.parent))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and nothing else: a CIFAR batch needs no more, and a
    pickle that names any other global is refused instead of executed."""

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
            *(
                (f"numpy.{core}.multiarray", f)
                for core in ("core", "_core")
                for f in ("_reconstruct", "scalar")
            ),
            *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _cifar_parse(obj: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Check a CIFAR batch dict: ``data`` (N, 3072) uint8 and ``labels`` N ints in 0..9."""
    if not isinstance(obj, dict):
        raise DataCorruptError(f"{where}: a {type(obj).__name__}, not a dict")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataCorruptError(f"{where}: keys {sorted(batch)}, expected b'data' and b'labels'")
    data = batch["data"]
    try:
        labels = np.asarray(batch["labels"])
    except (ValueError, TypeError) as err:  # e.g. a ragged list
        raise DataCorruptError(f"{where}: labels are not a vector ({err})") from err
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        shape = getattr(data, "shape", type(data).__name__)
        raise DataCorruptError(f"{where}: data is {shape}, expected uint8 (N, 3072)")
    if labels.dtype.kind not in "iu":
        raise DataCorruptError(f"{where}: labels of dtype {labels.dtype}, expected integers")
    _check_labels(labels, len(data), where)
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


@functools.lru_cache(maxsize=8)
def _cifar_batch(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch as images (N, 3, 32, 32) uint8 and labels (N,), cached per version."""
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(_read_bytes(Path(path))), encoding="bytes").load()
    except DataCorruptError:
        raise
    except Exception as err:  # unpickling garbage can raise almost any exception type
        raise DataCorruptError(
            f"{path}: not a readable pickle ({type(err).__name__}: {err})"
        ) from err
    images, labels = _cifar_parse(obj, path)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _load_cifar10(split: Split, data_dir: str | os.PathLike | None) -> _Raw:
    """CIFAR-10 from ``data_batch_1..5`` (train) or ``test_batch`` (test), in file order."""
    paths = find_files("cifar10", split, data_dir)
    with _corrupt_context("cifar10", split, data_dir):
        batches = [_cifar_batch(*_file_key(path)) for path in paths]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    return _Raw(images, labels, 255.0, str(paths[0].parent))


# ---------------------------------------------------------------------------------------------
# Embedded sets: scikit-learn's digits and MNIST-1D


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images (1797, 1, 8, 8) in 0..16 and labels (read-only)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images, labels = bunch.images.reshape(-1, 1, 8, 8), bunch.target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _load_digits(split: Split) -> _Raw:
    """digits, split 80/20 by a permutation seeded with the fixed ``DIGITS_SPLIT_SEED``."""
    images, labels = _digits_arrays()
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    n_test = round(DIGITS_TEST_FRACTION * len(labels))
    idx = perm[n_test:] if split == "train" else perm[:n_test]
    return _Raw(images[idx], labels[idx], 16.0, "sklearn.datasets.load_digits")


@contextlib.contextmanager
def _global_rng_preserved() -> Iterator[None]:
    """Restore Python's and numpy's global RNG states on exit (mnist1d reseeds both)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@functools.cache
def _mnist1d_arrays(num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D generated locally: (x, y, x_test, y_test), read-only.

    ``make_dataset`` builds the set from templates; ``get_dataset`` (never called) would fetch a
    pickle from GitHub. ``make_dataset`` calls ``np.random.seed``/``random.seed``, so the global
    states are saved and restored around it.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise ModuleNotFoundError(
            "mnist1d is not installed: pip install 'advproof[mnist1d]'"
        ) from err
    args = get_dataset_args()
    args.num_samples = num_samples
    with _global_rng_preserved():
        made = make_dataset(args)
    arrays = tuple(np.asarray(made[k]) for k in ("x", "y", "x_test", "y_test"))
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _load_mnist1d(split: Split, num_samples: int) -> _Raw:
    """MNIST-1D signals (N, 40), standardised by the generator (mean 0, std 1 over the set)."""
    x, y, x_test, y_test = _mnist1d_arrays(int(num_samples))
    X, labels = (x, y) if split == "train" else (x_test, y_test)
    source = f"mnist1d.data.make_dataset(get_dataset_args(), num_samples={num_samples})"
    return _Raw(X, labels.astype(np.int64), 1.0, source)


# ---------------------------------------------------------------------------------------------
# Synthetic sets


def _call(function: str, **kwargs: object) -> str:
    """The ``source`` of a synthetic set: the call that regenerates it."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"advproof.data.{function}({args})"


def _rng(seed: int, split: str | None) -> np.random.Generator:
    """Independent streams from one seed: parameters (``split=None``), train, and test points."""
    stream = {None: 0, "train": 1, "test": 2}[split]
    return np.random.default_rng([stream, seed])


def _balanced_labels(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels in 0..k-1, as balanced as ``n`` allows, in random order."""
    return rng.permutation(np.arange(n) % k)


def blob_centres(k: int, d: int, separation: float) -> np.ndarray:
    """Centres (k, d) of :func:`make_blobs`, the closest pairs exactly ``separation`` apart.

    On a line for ``d = 1``; on a circle in the first two coordinates (a regular k-gon of side
    ``separation``) for ``d >= 2``.
    """
    if k < 2 or d < 1 or separation <= 0:
        raise ValueError(
            f"need k >= 2, d >= 1, separation > 0; got k={k}, d={d}, separation={separation}"
        )
    centres = np.zeros((k, d))
    if d == 1:
        centres[:, 0] = separation * (np.arange(k) - (k - 1) / 2)
        return centres
    angle = 2 * np.pi * np.arange(k) / k
    radius = separation / (2 * np.sin(np.pi / k))
    centres[:, 0], centres[:, 1] = radius * np.cos(angle), radius * np.sin(angle)
    return centres


def _blobs(n: int, d: int, k: int, separation: float, std: float, seed: int, split: Split) -> _Raw:
    """Gaussian blobs: ``x = centre_y + std * N(0, I_d)``, labels balanced."""
    centres, rng = blob_centres(k, d, separation), _rng(seed, split)
    y = _balanced_labels(n, k, rng)
    X = centres[y] + std * rng.standard_normal((n, d))
    source = _call(
        "make_blobs", n=n, d=d, k=k, separation=separation, std=std, seed=seed, split=split
    )
    return _Raw(X, y, 1.0, source)


def make_blobs(
    n: int,
    d: int = 2,
    k: int = 3,
    *,
    separation: float = 4.0,
    std: float = 1.0,
    seed: int = 0,
    split: Split = "train",
) -> tuple[Tensor, Tensor]:
    """``k`` Gaussian blobs in ``d`` dims (std ``std``), centres :func:`blob_centres`.

    Returns ``X`` (n, d) float64 and ``y`` (n,) int64; train and test are independent draws.
    """
    raw = _blobs(n, d, k, separation, std, seed, split)
    return torch.from_numpy(raw.X), torch.from_numpy(raw.y)


def _xor(n: int, seed: int, split: Split) -> _Raw:
    """XOR: ``x ~ U[-1, 1]^2``, ``y = 1`` iff the two coordinates have different signs."""
    X = _rng(seed, split).uniform(-1.0, 1.0, (n, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    return _Raw(X, y, 1.0, _call("make_xor", n=n, seed=seed, split=split))


def make_xor(n: int, *, seed: int = 0, split: Split = "train") -> tuple[Tensor, Tensor]:
    """2-D XOR: ``X`` (n, 2) uniform on [-1, 1]^2 float64, ``y = [sign x_1 != sign x_2]`` int64.

    Not linearly separable; the smallest ReLU net that fits it needs a hidden layer.
    """
    raw = _xor(n, seed, split)
    return torch.from_numpy(raw.X), torch.from_numpy(raw.y)


def _separable(
    n: int, d: int, margin: float, spread: float, seed: int, split: Split
) -> tuple[_Raw, np.ndarray]:
    """The points of :func:`make_separable` and its normal ``w`` (shared by both splits)."""
    if n < 2 or d < 1 or margin <= 0 or spread < 0:
        raise ValueError(
            f"need n >= 2, d >= 1, margin > 0, spread >= 0; got {n=}, {d=}, {margin=}, {spread=}"
        )
    w = _rng(seed, None).standard_normal(d)
    w /= np.linalg.norm(w)
    rng = _rng(seed, split)
    y = _balanced_labels(n, 2, rng)
    s = 2.0 * y - 1.0
    Z = rng.standard_normal((n, d))
    Z -= np.outer(Z @ w, w)  # the component orthogonal to w
    t = margin + spread * rng.exponential(size=n)  # signed distance to the hyperplane, >= margin
    i_pos, i_neg = int(np.argmax(y == 1)), int(np.argmax(y == 0))
    t[[i_pos, i_neg]] = margin  # the two support vectors ...
    Z[i_neg] = Z[i_pos]  # ... share their orthogonal part, so w is the max-margin direction
    X = Z + (s * t)[:, None] * w
    source = _call("make_separable", n=n, d=d, margin=margin, spread=spread, seed=seed, split=split)
    return _Raw(X, y.astype(np.int64), 1.0, source), w


def make_separable(
    n: int, d: int, margin: float, seed: int = 0, *, spread: float = 1.0, split: Split = "train"
) -> Separable:
    """A linearly separable binary set with l2 margin exactly ``margin`` around a unit normal ``w``.

    With ``s_i = 2 y_i - 1``: ``s_i w^T x_i = margin + spread * Exp(1)``, except one point per
    class at exactly ``margin``. Those two support vectors differ only along ``w``, so for any
    unit ``v``, ``min_i s_i v^T x_i <= (v^T x_+ - v^T x_-) / 2 = margin v^T w <= margin``: ``w`` is
    the max-margin direction of homogeneous linear classifiers and ``margin`` the max margin.
    ``w`` depends on ``seed`` only (the same for train and test). Returns float64 ``X``, ``w``.
    """
    raw, w = _separable(n, d, margin, spread, seed, split)
    return Separable(torch.from_numpy(raw.X), torch.from_numpy(raw.y), torch.from_numpy(w))


# ---------------------------------------------------------------------------------------------
# The entry point


def _check_choice(what: str, value: object, allowed: Sequence[object]) -> None:
    """Raise ValueError naming the allowed values unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(str, allowed))}")


def _raw(
    name: str, split: Split, data_dir: str | os.PathLike | None, n: int, seed: int, params: dict
) -> _Raw:
    """Dispatch to the loader of ``name``; ``n`` and ``seed`` matter for synthetic sets only."""
    unknown = set(params) - set(PARAMS.get(name, {}))
    if unknown:
        accepted = sorted(PARAMS.get(name, {}))
        raise TypeError(f"load({name!r}) got unexpected {sorted(unknown)}; accepted: {accepted}")
    p = {**PARAMS.get(name, {}), **params}
    if name == "digits":
        return _load_digits(split)
    if name == "mnist1d":
        return _load_mnist1d(split, p["num_samples"])
    if name == "cifar10":
        return _load_cifar10(split, data_dir)
    if name in FILE_SETS:
        return _load_idx_set(name, split, data_dir)
    if name == "blobs":
        return _blobs(n, p["d"], p["k"], p["separation"], p["std"], seed, split)
    if name == "xor":
        return _xor(n, seed, split)
    return _separable(n, p["d"], p["margin"], p["spread"], seed, split)[0]


def _select(y: np.ndarray, classes: Sequence[int] | None, n: int | None, seed: int) -> np.ndarray:
    """Indices kept: the samples of ``classes`` (all if None), then ``n`` of them by a permutation
    seeded with ``seed`` (so the subset for ``n`` is a prefix of the one for a larger ``n``)."""
    keep = np.arange(len(y))
    if classes is not None:
        present = set(np.unique(y).tolist())
        if len(set(classes)) != len(classes) or not set(classes) <= present:
            raise ValueError(
                f"classes {tuple(classes)} must be distinct labels among {sorted(present)}"
            )
        keep = np.flatnonzero(np.isin(y, list(classes)))
    if n is None:
        return keep
    if n > len(keep):
        raise ValueError(f"n={n} but only {len(keep)} samples are available")
    return keep[np.random.default_rng(seed).permutation(len(keep))[:n]]


def _relabel(y: np.ndarray, classes: Sequence[int] | None) -> np.ndarray:
    """Map ``classes[j]`` to ``j`` (identity when ``classes`` is None)."""
    if classes is None:
        return y.astype(np.int64)
    return np.argmax(y[:, None] == np.asarray(classes)[None, :], axis=1).astype(np.int64)


def load(
    name: str,
    *,
    split: Split = "train",
    data_dir: str | os.PathLike | None = None,
    n: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    flatten: bool = False,
    classes: Sequence[int] | None = None,
    **params: Any,
) -> Dataset:
    """Load ``split`` of dataset ``name`` (one of :data:`NAMES`), offline.

    - ``data_dir``: folder of the file-based sets (see :func:`search_dirs`).
    - ``classes``: keep only these labels, relabelled ``0..k-1`` in the given order
      (``classes=(3, 5)`` is the binary task 3 -> 0, 5 -> 1).
    - ``n``: a subset of size ``n`` drawn by a permutation seeded with ``seed`` (after ``classes``);
      for the synthetic sets, ``n`` is instead the number generated (default ``SYNTHETIC_N``) and
      ``seed`` the generator's seed.
    - ``flatten``: images as (N, D) instead of (N, C, H, W).
    - ``params``: per-name options, :data:`PARAMS` (e.g. ``load("blobs", d=5, k=4)``,
      ``load("mnist1d", num_samples=500)`` for a smaller generated set).

    Raises ValueError for an unknown name, split, or bad selection; :class:`DataNotFoundError` /
    :class:`DataCorruptError` for missing or corrupt files.
    """
    _check_choice("dataset name", name, NAMES)
    _check_choice("split", split, SPLITS)
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    if n is not None and n < 1:
        raise ValueError(f"n must be positive, got {n}")
    synthetic = name in SYNTHETIC
    raw = _raw(name, split, data_dir, n if n is not None else SYNTHETIC_N, seed, params)
    idx = _select(raw.y, classes, None if synthetic else n, seed)
    X = torch.tensor(raw.X[idx]).to(dtype).div_(raw.scale)
    if flatten:
        X = X.reshape(len(idx), -1)
    return Dataset(X, torch.from_numpy(_relabel(raw.y[idx], classes)), name, raw.source)


def available(data_dir: str | os.PathLike | None = None) -> dict[str, bool | str]:
    """Which sets can be loaded here, without reading them: True for the embedded and synthetic
    sets, the (train) folder for a file-based set whose train and test files all exist, else False.
    """
    found: dict[str, bool | str] = {
        "digits": importlib.util.find_spec("sklearn") is not None,
        "mnist1d": importlib.util.find_spec("mnist1d") is not None,
    }
    for name in FILE_SETS:
        try:
            train, _ = find_files(name, "train", data_dir), find_files(name, "test", data_dir)
            found[name] = str(train[0].parent)
        except DataNotFoundError:
            found[name] = False
    return found | dict.fromkeys(SYNTHETIC, True)
