"""The reproducible environment: applied before torch, user choices kept, Makefile in sync."""

import re
import subprocess
import sys
from pathlib import Path

from advproof import environment

ROOT = Path(__file__).resolve().parents[1]


def test_apply_keeps_a_users_choice():
    env = {"OMP_NUM_THREADS": "8"}
    environment.apply(env)
    assert env["OMP_NUM_THREADS"] == "8"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["MKL_CBWR"] == "COMPATIBLE"


def test_pytest_and_its_kernels_run_with_the_pinned_instruction_set():
    import os

    for key in environment.REPRODUCIBLE:
        assert key in os.environ, key
    out = subprocess.run([sys.executable, "-c", "import torch; "
                          "print(torch.backends.cpu.get_cpu_capability())"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("AVX2", "DEFAULT")  # never AVX512 under the pinned set


def test_makefile_exports_the_same_values():
    make = (ROOT / "Makefile").read_text()
    for key in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "OPENBLAS_CORETYPE", "DNNL_MAX_CPU_ISA",
                "OMP_NUM_THREADS"):
        match = re.search(rf"^export {key} := (\S+)$", make, re.M)
        assert match and match.group(1) == environment.REPRODUCIBLE[key], key
