"""The table of contents and the chapters agree, and the book's configuration stays offline.

* every ``notebooks/*.ipynb`` is a chapter in ``_toc.yml`` and every ``notebooks/`` entry of the
  toc exists;
* every other toc entry exists, except the generated pages (``book/_generated/*``, written by
  ``advproof pages``), which must be listed; ``tests/test_book.py`` generates them and builds
  the book, which fails if ``advproof pages`` does not write a page the toc lists.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
GENERATED = "book/_generated/"


def _load_yaml(name: str) -> Any:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def _build_book_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toc_entries() -> list[str]:
    """Every ``file:`` of ``_toc.yml`` (and its root), in order (the build script's reader)."""
    return _build_book_module().toc_files(ROOT)


def _exists(entry: str) -> bool:
    return any((ROOT / f"{entry}{suffix}").is_file() for suffix in (".md", ".ipynb"))


def test_toc_format() -> None:
    toc = _load_yaml("_toc.yml")
    assert toc["format"] == "jb-book"
    assert toc["root"] == "book/intro"
    entries = toc_entries()
    assert len(entries) == len(set(entries)), f"duplicate toc entries: {entries}"
    assert all(not Path(e).suffix for e in entries), "toc entries are written without suffix"


def test_every_notebook_is_a_chapter_and_every_chapter_exists() -> None:
    notebooks = {p.relative_to(ROOT).with_suffix("").as_posix()
                 for p in (ROOT / "notebooks").glob("*.ipynb")}
    listed = {e for e in toc_entries() if e.startswith("notebooks/")}
    assert notebooks - listed == set(), f"notebooks missing from _toc.yml: {notebooks - listed}"
    missing = {e for e in listed if not (ROOT / f"{e}.ipynb").is_file()}
    assert missing == set(), f"_toc.yml lists chapters with no notebook: {missing}"
    assert listed, "_toc.yml lists no chapter under notebooks/"


def test_every_written_toc_file_exists() -> None:
    missing = [e for e in toc_entries() if not e.startswith(GENERATED) and not _exists(e)]
    assert missing == [], f"_toc.yml lists files that do not exist: {missing}"


def test_generated_pages_are_listed() -> None:
    listed = {e for e in toc_entries() if e.startswith(GENERATED)}
    assert {GENERATED + "ledger", GENERATED + "errata", GENERATED + "not_reproduced"} <= listed


def test_config_keeps_the_book_offline_and_unexecuted() -> None:
    config = _load_yaml("_config.yml")
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    sphinx = config["sphinx"]
    assert {"sphinx_proof", "sphinxcontrib.bibtex"} <= set(sphinx["extra_extensions"])
    assert "://" not in sphinx["config"]["mathjax_path"]
    assert sphinx["config"]["html_extra_path"] == [".mathjax/extra"]
    assert config["launch_buttons"]["thebe"] is False
    assert not any(config["launch_buttons"].get(k) for k in
                   ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url"))
    for bib in config["bibtex_bibfiles"]:
        assert (ROOT / bib).is_file(), f"{bib} is missing"
