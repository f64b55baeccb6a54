"""The process environment under which the book's stored outputs are reproduced bit for bit.

Numbers printed by the notebooks come from long float computations (training runs, attack
paths) that amplify last-bit differences. PyTorch picks its CPU kernels by instruction set:
on an AVX-512 machine ATen, MKL and oneDNN take other code paths than on an AVX2 machine, MKL
also differs between Intel and AMD, and a 300-epoch margin curve printed to four digits differs
(measured: an AMD EPYC with AVX-512 and the machine that made the first outputs disagreed in the
third digit). Pinning ATen and oneDNN to AVX2 (which every x86-64 CI runner of the last decade
has), MKL to its vendor-neutral reproducible mode, OpenBLAS to its Haswell kernels and the thread
counts makes the outputs the same on every such machine. This module imports nothing heavy: it
must run before torch is imported.
"""

from __future__ import annotations

import os

#: Set (unless already set) by the root conftest, ``make`` and ``scripts/execute_notebooks.py``.
REPRODUCIBLE: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised kernels: AVX2, not AVX-512
    "MKL_CBWR": "COMPATIBLE",  # MKL's reproducible mode that is the same on Intel and AMD
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's OpenBLAS: AVX2 kernels on any vendor
    "DNNL_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions): no AVX-512 kernels
    "OMP_NUM_THREADS": "2",
    "MKL_NUM_THREADS": "2",
    "TQDM_DISABLE": "1",  # no progress bars in stored outputs
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "ADVPROOF_MODE": "quick",
}


def apply(environ: os._Environ | dict[str, str] | None = None) -> None:
    """Set every variable of :data:`REPRODUCIBLE` that is not set yet (a user's choice wins)."""
    env = os.environ if environ is None else environ
    for key, value in REPRODUCIBLE.items():
        env.setdefault(key, value)
