"""Check built book pages: offline resources, rendered math, expected text.

Two checks, usable from the command line and from ``tests/test_book.py``:

* :func:`static_check` parses every HTML page (and every CSS file) of a built site and reports
  any resource the browser would fetch from an outside host: ``<script src>``, ``<link href>``
  with a fetching ``rel`` (stylesheet, preload, icon, ...), ``<img/iframe/source/... src>`` and
  CSS ``url(...)``/``@import``. Plain ``<a href>`` links to outside pages are fine.
* :func:`render_page` serves the site on a localhost ``http.server`` and opens one page in
  headless Chromium with every outside request failing (``--proxy-server=http://127.0.0.1:9``),
  returns the DOM after MathJax has run, and the URLs of every request *the page* made
  (from Chromium's net log; the browser's own background requests are not the page's).
  :func:`check_rendered` then asserts that math rendered (``<mjx-container>`` present, no
  ``<mjx-merror>``) and that each expected text occurs.

Usage::

    python scripts/check_page.py _build/html/notebooks/01_cheng_setting.html \\
        --expect-text "Lemma" --screenshot /tmp/chapter.png
    python scripts/check_page.py --static _build/html

Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

#: Flags from notes/book-tooling.md: headless, no GPU, no background traffic, and every
#: request that is not to localhost goes to a closed proxy port and fails.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--proxy-server=http://127.0.0.1:9",
)
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "chrome")
#: ``<link rel=...>`` values that make the browser fetch the ``href``.
FETCHING_RELS = frozenset({
    "stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch",
    "prerender", "icon", "shortcut", "apple-touch-icon", "manifest", "import",
})
SRC_TAGS = frozenset({"script", "img", "iframe", "source", "audio", "video", "embed", "track",
                      "input"})
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""",
                     re.IGNORECASE)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def is_outside(url: str) -> bool:
    """True if ``url`` names an outside host (http, https or protocol-relative)."""
    url = url.strip()
    parts = urlsplit(url)
    if url.startswith("//") or parts.scheme in ("http", "https", "ws", "wss"):
        return (parts.hostname or "") not in LOCAL_HOSTS
    return False


class _ResourceParser(HTMLParser):
    """Collect the URLs a page would fetch: scripts, fetching links, media, inline CSS."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.resources: list[tuple[str, str]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in SRC_TAGS and a.get("src"):
            self.resources.append((f"<{tag} src>", a["src"]))
        if tag == "video" and a.get("poster"):
            self.resources.append(("<video poster>", a["poster"]))
        if tag == "link" and a.get("href"):
            rels = set(a.get("rel", "").lower().split())
            if rels & FETCHING_RELS:
                self.resources.append((f"<link rel={a.get('rel')}>", a["href"]))
        if tag == "object" and a.get("data"):
            self.resources.append(("<object data>", a["data"]))
        if a.get("style"):
            self.resources += [("style attribute", u) for u in CSS_URL.findall(a["style"])]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.resources += [("<style>", u) for u in CSS_URL.findall(data)]


def page_resources(text: str) -> list[tuple[str, str]]:
    """``(where, url)`` for every resource the HTML ``text`` makes the browser fetch."""
    parser = _ResourceParser()
    parser.feed(text)
    parser.close()
    return parser.resources


def _strip_css_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)


def static_check(site: str | os.PathLike[str]) -> list[str]:
    """Problems (``file: where -> url``) for every outside resource in a built site."""
    site = Path(site)
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"{site} is not a built HTML site (no index.html)")
    problems: list[str] = []
    for page in sorted(site.rglob("*.html")):
        if "mathjax" in page.relative_to(site).parts[:1]:
            continue
        for where, url in page_resources(page.read_text(encoding="utf-8", errors="replace")):
            if is_outside(url):
                problems.append(f"{page.relative_to(site)}: {where} -> {url}")
    for css in sorted(site.rglob("*.css")):
        text = _strip_css_comments(css.read_text(encoding="utf-8", errors="replace"))
        problems += [f"{css.relative_to(site)}: css -> {u}" for u in CSS_URL.findall(text)
                     if is_outside(u)]
    return problems


def find_chromium() -> str:
    """The Chromium executable: ``$CHROMIUM`` or the first of the usual names on PATH."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(
        "headless Chromium not found; install it with `bash scripts/install-system-deps.sh` "
        "(Debian package `chromium`) or set CHROMIUM=/path/to/chrome"
    )


def site_root(page: Path) -> Path:
    """The root of the built site that holds ``page`` (the folder with ``_static``)."""
    for parent in page.resolve().parents:
        if (parent / "_static").is_dir() and (parent / "index.html").is_file():
            return parent
    raise FileNotFoundError(f"no built site (a folder with _static/ and index.html) above {page}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free localhost port in a thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class PageResult:
    """What Chromium saw: the DOM after scripts ran, and the page's requests."""

    url: str
    dom: str
    page_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def outside_requests(self) -> list[str]:
        """Requests of the page to a host other than localhost (they all fail, offline)."""
        return [u for u in self.page_requests if is_outside(u)]


def _page_requests(netlog: Path) -> list[str]:
    """URLs requested by web content in a Chromium net log (not the browser's own traffic)."""
    try:
        data = json.loads(netlog.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = {v: k for k, v in data.get("constants", {}).get("logEventTypes", {}).items()}
    urls: list[str] = []
    for event in data.get("events", []):
        if names.get(event.get("type")) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params", {})
        url, initiator = params.get("url", ""), params.get("initiator", "not an origin")
        # The browser's background requests have no initiator; the page's have its origin.
        if initiator != "not an origin" and url not in urls:
            urls.append(url)
    return urls


def _run_chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def render_page(
    page: str | os.PathLike[str],
    *,
    screenshot: str | os.PathLike[str] | None = None,
    window_size: str = "1000,900",
    budget_ms: int = 15000,
    timeout: float = 120.0,
    use_http: bool = True,
) -> PageResult:
    """Open ``page`` (a file of a built site) in headless Chromium with the network off.

    With ``use_http`` the site is served on localhost (a real origin: fonts and scripts load as
    on a web server); otherwise the page is opened as a ``file://`` URL.
    """
    page = Path(page).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"{page} does not exist")
    chromium = find_chromium()
    root = site_root(page)
    with tempfile.TemporaryDirectory(prefix="advproof-chromium-") as tmp:
        netlog = Path(tmp, "netlog.json")
        base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile",
                f"--virtual-time-budget={budget_ms}", f"--window-size={window_size}"]
        with serve(root) if use_http else _no_server() as base_url:
            rel = quote(page.relative_to(root).as_posix())
            url = f"{base_url}/{rel}" if base_url else page.as_uri()
            proc = _run_chromium([*base, f"--log-net-log={netlog}", "--dump-dom", url], timeout)
            if proc.returncode != 0 or "<html" not in proc.stdout:
                raise RuntimeError(f"chromium failed on {url} (exit {proc.returncode}):\n"
                                   f"{proc.stderr[-2000:]}")
            result = PageResult(url=url, dom=proc.stdout, page_requests=_page_requests(netlog))
            if screenshot is not None:
                shot = Path(screenshot).resolve()
                shot.parent.mkdir(parents=True, exist_ok=True)
                proc = _run_chromium([*base, f"--screenshot={shot}", url], timeout)
                if proc.returncode != 0 or not shot.is_file():
                    raise RuntimeError(f"chromium screenshot of {url} failed:\n"
                                       f"{proc.stderr[-2000:]}")
                result.screenshot = shot
    return result


@contextmanager
def _no_server() -> Iterator[str]:
    yield ""


class _TextParser(HTMLParser):
    """Visible text of a page: skips scripts, styles and MathJax's assistive MathML copy."""

    SKIP = frozenset({"script", "style", "mjx-assistive-mml", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(dom: str) -> str:
    """The page's text with whitespace collapsed (for ``expect_text`` checks)."""
    parser = _TextParser()
    parser.feed(dom)
    parser.close()
    return re.sub(r"\s+", " ", html.unescape(" ".join(parser.parts))).strip()


def check_rendered(
    result: PageResult, expect_text: Sequence[str] = (), *, require_math: bool = True
) -> list[str]:
    """Problems with a rendered page: math not rendered, a TeX error, missing text, a request
    to an outside host."""
    problems: list[str] = []
    containers = len(re.findall(r"<mjx-container\b", result.dom))
    errors = re.findall(r"<mjx-merror\b[^>]*>.*?</mjx-merror>", result.dom, flags=re.DOTALL)
    if require_math and containers == 0:
        problems.append(f"{result.url}: no <mjx-container>: MathJax did not render any math")
    if errors:
        problems.append(f"{result.url}: {len(errors)} <mjx-merror> (TeX errors): "
                        + "; ".join(visible_text(e)[:120] for e in errors[:5]))
    # Sphinx writes math as <span|div class="math ...">\(...\)</span>; MathJax replaces the TeX.
    leftover = re.findall(r'class="math[^"]*">\s*(\\[(\[][^<]{0,60})', result.dom)
    if leftover:
        problems.append(f"{result.url}: {len(leftover)} formula(s) left as TeX, e.g. "
                        f"{leftover[0]!r}")
    text = visible_text(result.dom)
    problems += [f"{result.url}: expected text not found: {t!r}" for t in expect_text
                 if re.sub(r"\s+", " ", t) not in text]
    problems += [f"{result.url}: request to an outside host: {u}"
                 for u in result.outside_requests]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path, help="built HTML pages to open")
    parser.add_argument("--expect-text", action="append", default=[], metavar="T",
                        help="text that must occur on every page (repeatable)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="PNG screenshot of the (first) page")
    parser.add_argument("--window-size", default="1000,900")
    parser.add_argument("--no-math", action="store_true", help="do not require rendered math")
    parser.add_argument("--file-url", action="store_true",
                        help="open file:// URLs instead of serving the site on localhost")
    parser.add_argument("--static", type=Path, metavar="SITE",
                        help="also check every page of this built site for outside resources")
    parser.add_argument("--dump", action="store_true", help="print the rendered DOM")
    args = parser.parse_args(argv)
    if not args.pages and args.static is None:
        parser.error("give pages to open and/or --static SITE")

    problems: list[str] = []
    if args.static is not None:
        found = static_check(args.static)
        problems += found
        print(f"static check of {args.static}: {len(found)} outside resource(s)")
    for i, page in enumerate(args.pages):
        result = render_page(page, screenshot=args.screenshot if i == 0 else None,
                             window_size=args.window_size, use_http=not args.file_url)
        found = check_rendered(result, args.expect_text, require_math=not args.no_math)
        problems += found
        math = len(re.findall(r"<mjx-container\b", result.dom))
        print(f"{result.url}: {math} formulas rendered, {len(result.page_requests)} requests, "
              f"{len(found)} problem(s)" + (f", screenshot {result.screenshot}"
                                            if result.screenshot else ""))
        if args.dump:
            print(result.dom)
    for problem in problems:
        print("FAIL " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
