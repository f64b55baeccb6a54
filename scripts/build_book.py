"""Build the HTML book offline, with warnings as errors.

Usage (with the virtual environment's Python)::

    python scripts/build_book.py               # -> _build/html
    python scripts/build_book.py --out DIR     # -> DIR/_build/html (the tests use a tmp folder)

Steps:

1. copy MathJax 3 (the ``es5`` bundle of the ``django-static-mathjax`` package) to
   ``.mathjax/extra/mathjax/es5`` unless an up-to-date copy is there; ``_config.yml`` serves it
   through ``html_extra_path`` so that no page requests a CDN;
2. check that every file listed in ``_toc.yml`` exists (the ledger and errata pages are
   written by ``advproof pages --out book/_generated``, i.e. ``make pages``);
3. run ``jupyter-book build`` with ``-W -n --keep-going`` (every warning is reported, and any
   warning fails the build); the exit status is non-zero on any warning or error.

The notebooks are not executed (``execute_notebooks: "off"``): the book shows their stored,
nbval-validated outputs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATHJAX_DIST = "django-static-mathjax"
MATHJAX_ES5 = Path("mathjax", "static", "mathjax", "es5")
#: Where the copy goes; ``html_extra_path: [.mathjax/extra]`` maps it to ``<site>/mathjax/es5``.
MATHJAX_TARGET = Path(".mathjax", "extra", "mathjax", "es5")
MATHJAX_STAMP = Path(".mathjax", "source.txt")
WARNING = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE)\b[:/]")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def mathjax_source() -> tuple[Path, str]:
    """The installed MathJax ``es5`` folder and a string that identifies its version."""
    try:
        dist = importlib.metadata.distribution(MATHJAX_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(
            f"build_book: the package {MATHJAX_DIST} is not installed; run `make venv`"
        ) from None
    source = Path(str(dist.locate_file(MATHJAX_ES5)))
    if not (source / "tex-chtml.js").is_file():
        raise SystemExit(f"build_book: {source}/tex-chtml.js not found in {MATHJAX_DIST}")
    return source, f"{MATHJAX_DIST}=={dist.version} {source}"


def ensure_mathjax(root: Path = ROOT) -> Path:
    """Copy MathJax into ``root/.mathjax`` unless an up-to-date copy is present; return it.

    The copy is made in a temporary folder and renamed into place, so a concurrent build never
    sees half a bundle.
    """
    source, ident = mathjax_source()
    target, stamp = root / MATHJAX_TARGET, root / MATHJAX_STAMP
    if (target / "tex-chtml.js").is_file() and stamp.is_file() and stamp.read_text() == ident:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".es5-", dir=target.parent))
    try:
        shutil.copytree(source, tmp / "es5")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp / "es5", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stamp.write_text(ident)
    print(f"build_book: copied MathJax from {source} to {target}")
    return target


def toc_files(root: Path = ROOT) -> list[str]:
    """The document paths (without suffix) listed in ``_toc.yml``, in order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    found: list[str] = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                found.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def missing_toc_files(root: Path = ROOT) -> list[str]:
    """Entries of ``_toc.yml`` with no ``.md`` or ``.ipynb`` file behind them."""
    return [
        f for f in toc_files(root)
        if not any((root / f).with_suffix(s).is_file() for s in (".md", ".ipynb"))
        and not (root / f).is_file()
    ]


def build(out: Path | None, root: Path = ROOT, nitpicky: bool = True) -> int:
    """Run ``jupyter-book build``; return 0 only if it succeeded without any warning."""
    missing = missing_toc_files(root)
    if missing:
        hint = ""
        if any(m.startswith("book/_generated/") for m in missing):
            hint = " (run `make pages`, i.e. `advproof pages --out book/_generated`)"
        print(f"build_book: files listed in _toc.yml are missing: {missing}{hint}",
              file=sys.stderr)
        return 1
    ensure_mathjax(root)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root),
           "--builder", "html", "--warningiserror", "--keep-going"]
    if nitpicky:
        cmd.append("--nitpick")
    if out is not None:
        cmd += ["--path-output", str(out)]
    print("build_book: " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    seconds = time.perf_counter() - start
    sys.stdout.write(proc.stdout if sys.stdout.isatty() else ANSI.sub("", proc.stdout))
    log = ANSI.sub("", proc.stdout)
    warnings = [line for line in log.splitlines() if WARNING.search(line)]
    html = (out if out is not None else root) / "_build" / "html"
    if proc.returncode != 0 or warnings:
        print(f"build_book: FAILED after {seconds:.1f} s (exit {proc.returncode}, "
              f"{len(warnings)} warning(s)):", file=sys.stderr)
        for line in warnings:
            print("  " + line, file=sys.stderr)
        return proc.returncode or 1
    print(f"build_book: built {html} in {seconds:.1f} s with no warnings")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", "--path-output", "--builddir", dest="out", type=Path,
                        default=None, metavar="DIR",
                        help="build into DIR/_build/html instead of ./_build/html")
    parser.add_argument("--no-nitpick", action="store_true",
                        help="do not warn about unresolved references (-n)")
    args = parser.parse_args(argv)
    out = args.out.resolve() if args.out is not None else None
    return build(out, nitpicky=not args.no_nitpick)


if __name__ == "__main__":
    sys.exit(main())
