"""Re-execute notebooks in place (quick mode) and store their fresh outputs: ``make notebooks``.

Runs each notebook with nbclient in the ``notebooks/`` folder, with the environment nbval uses
(``TQDM_DISABLE=1``, two threads), so that the stored outputs are what ``pytest --nbval``
reproduces. A cell that raises stops the run and nothing is written for that notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 900) -> float:
    """Execute ``path`` in place; returns the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:  # execution metadata holds timestamps: keep the files stable
        cell.get("metadata", {}).pop("execution", None)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    from advproof.environment import apply

    apply()  # the kernels inherit it: the same numbers as nbval and CI
    for path in args.notebooks:
        print(f"{path}: executed in {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
