"""The blueprint: a dependency graph of every claim, coloured by its computed status.

In the manner of a Lean blueprint, every claim is a node that links to its statement in a
chapter, and every ``uses`` (of a statement or of one of its proof steps) is an edge from the
result used to the result using it. The graph is written as Graphviz DOT inside a MyST
``{graphviz}`` directive (``sphinx.ext.graphviz``, SVG output, drawn offline by Debian's
``dot``); one page per source and one for the whole book.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path, PurePosixPath

from advproof.claims import Registry
from advproof.ledger import Report

#: Fill colours per status (the same legend as the badges).
COLOURS = {"verified": "#b7e4c7", "corrected": "#ffe08a", "refuted": "#ffb38a",
           "not reproduced": "#d8c8f0", "failing": "#ff8a8a", "not yet checked": "#e0e0e0"}
SOURCES = {"cheng": "Cheng et al. (000/001)", "lyuzhu": "Lyu & Zhu (002)",
           "liu": "Liu et al. (004)", "thesis": "Chen Liu's thesis (003)"}
_DIRECTIVE = re.compile(r"```\{prf:(\w+)\}[^\n]*\n((?::[\w-]+:[^\n]*\n)*)")


def statement_locations(notebooks: str | Path) -> dict[str, tuple[str, str]]:
    """``{label: (notebook file name, directive kind)}`` for every ``{prf:...}`` statement.

    Raises ``ValueError`` if a label is stated twice (Sphinx would link to one of them only).
    """
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(Path(notebooks).glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for block in _DIRECTIVE.finditer("".join(cell["source"])):
                for label in re.findall(r":label:\s*(\S+)", block.group(2)):
                    if label in found:
                        raise ValueError(f"{label} is stated in {found[label][0]} and {path.name}")
                    found[label] = (path.name, block.group(1))
    return found


def _node(claim_id: str, title: str, status: str, url: str | None, external: bool) -> str:
    label = claim_id + "\\n" + "\\n".join(textwrap.wrap(title, 28)[:3])
    attrs = {"label": label, "fillcolor": COLOURS[status],
             "tooltip": f"{claim_id}: {title} [{status}]"}
    if url:
        attrs["URL"] = url
        attrs["target"] = "_top"
    if external:
        attrs["style"] = "rounded,filled,dashed"
    body = ", ".join(f'{k}="{v.replace(chr(34), chr(39))}"' for k, v in attrs.items())
    return f'  "{claim_id}" [{body}];'


def dot(report: Report, registry: Registry, locations: dict[str, tuple[str, str]],
        page_dir: str, prefix: str | None = None) -> str:
    """The DOT source of the graph of ``prefix``'s claims (all claims when ``None``).

    Claims of other sources that a shown claim uses are drawn dashed. Node links are relative
    to ``page_dir`` (the folder of the page, relative to the book root, e.g. ``book/_generated``).
    """
    status = {c.claim.id: c.status for c in report.claims}
    shown = [c for c in registry if prefix is None or c.id.split(".")[0] == prefix]
    ids = {c.id for c in shown}
    extra = {d for c in shown for d in c.all_uses()} - ids
    up = PurePosixPath(*[".."] * len(PurePosixPath(page_dir).parts))
    lines = ["digraph blueprint {", "  rankdir=TB; nodesep=0.3; ranksep=0.45;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
             '  edge [color="#555555", arrowsize=0.7];']
    for cid in [c.id for c in shown] + sorted(extra):
        claim = registry.get(cid)
        where = locations.get(cid)
        url = (f"{up / 'notebooks' / where[0].replace('.ipynb', '.html')}#{cid}"
               if where else None)
        lines.append(_node(cid, claim.title, status.get(cid, "not yet checked"), url,
                           cid in extra))
    for claim in shown:
        statement_uses = set(claim.uses)
        for dep in claim.all_uses():
            style = "" if dep in statement_uses else ' [style=dashed, tooltip="used in the proof"]'
            lines.append(f'  "{dep}" -> "{claim.id}"{style};')
    lines.append("}")
    return "\n".join(lines)


def render_page(report: Report, registry: Registry, locations: dict[str, tuple[str, str]],
                page_dir: str, prefix: str | None = None) -> str:
    """A MyST page with the legend and the graph of ``prefix`` (the whole book when ``None``)."""
    name = SOURCES.get(prefix or "", prefix) if prefix else "the whole book"
    shown = [c for c in report.claims if prefix is None or c.claim.id.startswith(prefix + ".")]
    n_edges = sum(len(c.claim.all_uses()) for c in shown)
    legend = ", ".join(f"{s}: <span style='background:{col};padding:0 6px'>{s}</span>"
                       for s, col in COLOURS.items())
    return "\n".join([
        f"# Blueprint: {name}", "",
        "Generated from the claim registry by `advproof pages`; never edit it by hand. Each node "
        "is a claim and links to its statement; an arrow goes from a result to the result that "
        "uses it (solid: used by the statement, dashed: used in a proof step). Dashed boxes "
        "belong to other sources. The [ledger](ledger.md) lists every check, and the "
        "[coverage](coverage.md) pages every numbered item of each source.", "",
        f"{len(shown)} claims, {n_edges} dependency edges. Colours: {legend}.", "",
        "```{graphviz}", dot(report, registry, locations, page_dir, prefix), "```", "",
    ])


def write_pages(report: Report, registry: Registry, notebooks: str | Path, out_dir: str | Path,
                page_dir: str = "book/_generated") -> list[Path]:
    """Write ``blueprint.md`` and ``blueprint-<source>.md`` for each source with claims."""
    from advproof.ledger import atomic_write_text

    locations = statement_locations(notebooks)
    out = Path(out_dir)
    pages = {out / "blueprint.md": render_page(report, registry, locations, page_dir)}
    for prefix in sorted({c.id.split(".")[0] for c in registry}):
        pages[out / f"blueprint-{prefix}.md"] = render_page(report, registry, locations,
                                                            page_dir, prefix)
    for path, text in pages.items():
        atomic_write_text(path, text)
    return list(pages)
