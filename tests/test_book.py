"""The book builds offline with no warning, requests no outside host, and its math renders.

The working tree is copied to a temporary folder (so the test never writes into it), the
generated pages are made there with ``advproof pages``, and ``scripts/build_book.py --out`` builds
the HTML. Then:

* every page is checked statically for resources on an outside host (scripts, stylesheets,
  fonts, preloads, images); plain links to outside pages are fine;
* the chapters, the notation page, the ledger and the errata are opened in headless Chromium with
  every outside request failing: the math must render (``<mjx-container>``, no
  ``<mjx-merror>``, no formula left as TeX), the page must make no request to an outside host,
  and the ledger must list every claim id of the registry.

Set ``ADVPROOF_SCREENSHOTS=DIR`` to also save a PNG of each page opened.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
#: Outside a git checkout, not copied: environments, build outputs, caches, checkpoints, and
#: the pages the test regenerates (in a checkout, what git ignores is not copied).
IGNORED = (".venv", ".git", "_build", ".mathjax", "__pycache__", ".pytest_cache", ".ruff_cache",
           "*.egg-info", ".ipynb_checkpoints", "_generated", "ckpt", ".gl", ".whl")


def _load_check_page() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_page", ROOT / "scripts/check_page.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check_page = _load_check_page()


def working_tree_files(root: Path) -> list[Path] | None:
    """Files git tracks or would track (not ignored), or None outside a git checkout."""
    try:
        proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                               "--exclude-standard"], cwd=root, capture_output=True,
                              timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return [Path(p) for p in proc.stdout.decode().split("\0") if p]


def copy_tree(root: Path, dest: Path) -> None:
    """Copy the working tree (what git would see, else all but :data:`IGNORED`) to ``dest``."""
    files = working_tree_files(root)
    if files is None:
        shutil.copytree(root, dest, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
        return
    for rel in files:
        if (rel.parts[0] == "book" and "_generated" in rel.parts) or not (root / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book built from a copy of the working tree; the path of its ``_build/html``."""
    base = tmp_path_factory.mktemp("book")
    src = base / "src"
    copy_tree(ROOT, src)
    pages = _run([sys.executable, "-m", "advproof.cli", "pages", "--out",
                  str(src / "book" / "_generated")], cwd=src, timeout=900)
    assert pages.returncode == 0, f"advproof pages failed:\n{pages.stdout}"
    build = _run([sys.executable, str(src / "scripts" / "build_book.py"), "--out",
                  str(base / "out")], cwd=src, timeout=900)
    assert build.returncode == 0, f"the book did not build cleanly:\n{build.stdout[-8000:]}"
    html = base / "out" / "_build" / "html"
    assert (html / "index.html").is_file(), build.stdout[-4000:]
    return html


def _open(page: Path) -> check_page.PageResult:
    shots = os.environ.get("ADVPROOF_SCREENSHOTS")
    screenshot = None
    if shots:
        screenshot = Path(shots) / (page.with_suffix(".png").name)
    try:
        return check_page.render_page(page, screenshot=screenshot)
    except FileNotFoundError as err:
        pytest.fail(f"{err} (run `make sysdeps` to install chromium)")


def test_every_page_uses_only_local_resources(site: Path) -> None:
    problems = check_page.static_check(site)
    assert problems == [], "pages load resources from outside hosts:\n" + "\n".join(problems)


def test_mathjax_is_served_locally(site: Path) -> None:
    assert (site / "mathjax" / "es5" / "tex-chtml.js").is_file()
    chapter = (site / "notebooks").glob("*.html")
    for page in [site / "book" / "notation.html", *chapter]:
        scripts = [u for _, u in check_page.page_resources(page.read_text(encoding="utf-8"))
                   if "tex-chtml.js" in u]
        assert len(scripts) == 1, f"{page}: MathJax scripts {scripts}"
        target = (page.parent / scripts[0].split("?")[0]).resolve()
        assert target == (site / "mathjax" / "es5" / "tex-chtml.js").resolve(), scripts[0]


def _chapters(site: Path) -> list[Path]:
    pages = sorted((site / "notebooks").glob("*.html"))
    assert pages, f"no chapter page under {site / 'notebooks'}"
    return pages


def test_chapters_render_math_offline(site: Path) -> None:
    problems: list[str] = []
    for page in [*_chapters(site), site / "book" / "notation.html"]:
        result = _open(page)
        problems += check_page.check_rendered(result, require_math=True)
    assert problems == [], "\n".join(problems)


def test_first_chapter_shows_its_statements(site: Path) -> None:
    result = _open(site / "notebooks" / "01_cheng_setting.html")
    problems = check_page.check_rendered(result, require_math=True)
    assert problems == [], "\n".join(problems)
    assert 'class="proof ' in result.dom, "no {prf:...} statement rendered on the chapter page"


def test_ledger_lists_every_claim(site: Path) -> None:
    result = _open(site / "book" / "_generated" / "ledger.html")
    problems = check_page.check_rendered(result, require_math=False)
    assert problems == [], "\n".join(problems)
    from advproof.claims import load_registry

    ids = load_registry().ids()
    assert ids, "the claim registry is empty"
    text = check_page.visible_text(result.dom)
    missing = [claim_id for claim_id in ids if claim_id not in text]
    assert missing == [], f"claims missing from the ledger page: {missing}"


@pytest.mark.parametrize("page", ["errata", "not_reproduced"])
def test_errata_pages_render(site: Path, page: str) -> None:
    result = _open(site / "book" / "_generated" / f"{page}.html")
    problems = check_page.check_rendered(result, require_math=False)
    assert problems == [], "\n".join(problems)
    if page == "not_reproduced":  # the subset experiments do not all reproduce on the digits
        assert "thesis.table4_5" in check_page.visible_text(result.dom)


def _blueprint_svgs(site: Path) -> dict[Path, Path]:
    """``{page: svg}`` for every generated blueprint page (each embeds one graph)."""
    found = {}
    for page in sorted((site / "book" / "_generated").glob("blueprint*.html")):
        data = re.findall(r'<object data="([^"]+\.svg)"', page.read_text(encoding="utf-8"))
        assert len(data) == 1, f"{page.name}: expected one graph, found {data}"
        found[page] = (page.parent / data[0]).resolve()
    assert site / "book" / "_generated" / "blueprint.html" in found
    return found


def test_blueprint_nodes_link_to_statements_that_exist(site: Path) -> None:
    from advproof.claims import load_registry

    ids = set(load_registry().ids())
    svgs = _blueprint_svgs(site)
    whole = svgs[site / "book" / "_generated" / "blueprint.html"].read_text(encoding="utf-8")
    for claim_id in ids:
        node = rf"<(?:\w+:)?title>{re.escape(claim_id)}</(?:\w+:)?title>"
        assert re.search(node, whole), f"{claim_id} is not a node of the graph"
    for page, svg in svgs.items():
        links = re.findall(r'href="([^"]+)"', svg.read_text(encoding="utf-8"))
        assert links, f"{page.name}: the graph has no links"
        for link in links:
            target, _, anchor = link.partition("#")
            html_file = (svg.parent / target).resolve()
            assert html_file.is_file(), f"{page.name}: {link} points to a missing page"
            assert f'id="{anchor}"' in html_file.read_text(encoding="utf-8"), link


def test_blueprint_renders_offline(site: Path) -> None:
    result = _open(site / "book" / "_generated" / "blueprint.html")
    assert check_page.check_rendered(result, require_math=False) == []
    assert "graphviz" in result.dom and "dependency edges" in check_page.visible_text(result.dom)


def test_proof_steps_show_their_badges(site: Path) -> None:
    text = check_page.visible_text(_open(site / "notebooks" / "01_cheng_setting.html").dom)
    assert text.count("control rejected]") >= 8, "step badges missing from the proofs"
    assert "FAILS as printed" in text, "the printed steps that break are not marked"
