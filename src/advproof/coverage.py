"""Coverage: every numbered item of every source, and where the book checks it or why not.

The inventory is committed data, one YAML file per seed in ``advproof/inventory/``: each item
as printed (``Theorem 1``, ``Figure 3``, ``C.4``), its label and section, and either the claim
ids that check it or one reason from a short fixed list. ``advproof coverage`` prints it;
``advproof pages`` renders one page per source with each item's status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from advproof.claims import Registry
from advproof.ledger import Report

INVENTORY = Path(__file__).resolve().parent / "inventory"
#: The fixed reasons (the last two carry a short explanation after the colon).
REASONS = ("absent from the source", "prose only", "data only", "out of scope", "pending")
SOURCE_TITLES = {"000": "Cheng et al., preprint", "001": "Cheng et al., AAAI-24",
                 "002": "Lyu & Zhu, ICLR 2022", "003": "Chen Liu's thesis",
                 "004": "Liu et al., NeurIPS 2020"}


@dataclass(frozen=True)
class Item:
    """One numbered item of a source, as printed."""

    source: str
    item: str
    label: str
    section: str
    claims: tuple[str, ...]
    reason: str | None

    @property
    def reason_kind(self) -> str | None:
        """The reason without its explanation (``"pending: issue 11"`` -> ``"pending"``)."""
        return None if self.reason is None else self.reason.split(":", 1)[0].strip()


def load_inventory(folder: str | Path = INVENTORY) -> list[Item]:
    """Every item of every ``<seed>.yaml`` in ``folder``, in file and then printed order."""
    items: list[Item] = []
    for path in sorted(Path(folder).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        source = str(data["source"])
        if source != path.stem:
            raise ValueError(f"{path}: source {source!r} does not match the file name")
        for entry in data["items"]:
            items.append(Item(source, str(entry["item"]), str(entry.get("label") or ""),
                              str(entry.get("section") or ""),
                              tuple(entry.get("claims") or ()), entry.get("reason")))
    return items


def problems(items: list[Item], registry: Registry) -> list[str]:
    """What makes the inventory inconsistent with the registry (empty when all is well)."""
    out: list[str] = []
    ids = set(registry.ids())
    seen: set[tuple[str, str]] = set()
    for it in items:
        where = f"{it.source} {it.item}"
        if (it.source, it.item) in seen:
            out.append(f"{where}: listed twice")
        seen.add((it.source, it.item))
        out += [f"{where}: names unknown claim {c!r}" for c in it.claims if c not in ids]
        if bool(it.claims) == (it.reason is not None):
            out.append(f"{where}: needs claims or a reason (exactly one of them)")
        if it.reason is not None and it.reason_kind not in REASONS:
            out.append(f"{where}: reason {it.reason!r} is not one of {REASONS}")
        if it.reason_kind in ("out of scope", "pending") and ":" not in (it.reason or ""):
            out.append(f"{where}: '{it.reason_kind}' needs a short explanation after a colon")
    mapped = {c for it in items for c in it.claims}
    out += [f"claim {c} belongs to no inventory item" for c in registry.ids() if c not in mapped]
    return out


def item_status(item: Item, statuses: dict[str, str]) -> str:
    """``checked`` / ``not reproduced`` / ``corrected`` / ``refuted`` / ``failing`` / ``not yet
    checked`` from the claims' statuses (the worst wins), or the reason's kind for an item
    without claims."""
    if not item.claims:
        return item.reason_kind or "?"
    found = [statuses.get(c, "not yet checked") for c in item.claims]
    for status in ("failing", "not yet checked", "refuted", "corrected", "not reproduced"):
        if status in found:
            return status
    return "checked"


def to_json(items: list[Item], report: Report | None) -> dict[str, Any]:
    """``{"items": [...], "summary": {source: {status: count}}}`` (field names are an API)."""
    statuses = {c.claim.id: c.status for c in report.claims} if report else {}
    rows = [{"source": it.source, "item": it.item, "label": it.label, "section": it.section,
             "claims": list(it.claims), "reason": it.reason,
             "status": item_status(it, statuses) if report else None} for it in items]
    summary: dict[str, dict[str, int]] = {}
    for row in rows:
        key = row["status"] or ("with claims" if row["claims"] else row["reason"].split(":")[0])
        per = summary.setdefault(row["source"], {"items": 0})
        per["items"] += 1
        per[key] = per.get(key, 0) + 1
    return {"items": rows, "summary": summary}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_page(source: str, items: list[Item], report: Report) -> str:
    """The coverage page of one source (MyST): each item, its status, links to statements."""
    statuses = {c.claim.id: c.status for c in report.claims}
    mine = [it for it in items if it.source == source]
    counts = to_json(mine, report)["summary"].get(source, {"items": 0})
    tally = ", ".join(f"{v} {k}" for k, v in counts.items() if k != "items")
    out = [f"# Coverage: {source}, {SOURCE_TITLES.get(source, '')}", "",
           "Generated by `advproof pages` from the inventory in `src/advproof/inventory/`; "
           "never edit it by hand. Every numbered item of the source as printed, and the claims "
           "that check it (status computed now) or why the book does not. See also the "
           "[ledger](ledger.md) and the [blueprint](blueprint.md).", "",
           f"{counts['items']} items: {tally}.", "",
           "| item | label | section | status | where |", "|---|---|---|---|---|"]
    for it in mine:
        status = item_status(it, statuses)
        where = ", ".join(f"`{c}` ({{prf:ref}}`statement <{c}>`)" for c in it.claims) or \
            _cell(it.reason or "")
        out.append(f"| {_cell(it.item)} | {_cell(it.label)} | {_cell(it.section)} | "
                   f"**{status}** | {where} |")
    return "\n".join(out) + "\n"


def render_index(items: list[Item], report: Report) -> str:
    """The coverage overview page: counts per source with links to each source's page."""
    summary = to_json(items, report)["summary"]
    out = ["# Coverage", "", "Every numbered item of each source, accounted for: checked by "
           "claims, or with a reason from a fixed list (absent from the source, prose only, data "
           "only, out of scope, pending a chapter). Generated by `advproof pages`.", "",
           "| source | items | statuses |", "|---|---|---|"]
    for source in sorted(summary):
        counts = summary[source]
        tally = ", ".join(f"{v} {k}" for k, v in counts.items() if k != "items")
        out.append(f"| [{source}: {SOURCE_TITLES.get(source, '')}](coverage-{source}.md) | "
                   f"{counts['items']} | {tally} |")
    return "\n".join(out) + "\n"


def write_pages(items: list[Item], report: Report, out_dir: str | Path) -> list[Path]:
    """Write ``coverage.md`` and ``coverage-<source>.md`` for each source in the inventory."""
    from advproof.ledger import atomic_write_text

    out = Path(out_dir)
    pages = {out / "coverage.md": render_index(items, report)}
    for source in sorted({it.source for it in items}):
        pages[out / f"coverage-{source}.md"] = render_page(source, items, report)
    for path, text in pages.items():
        atomic_write_text(path, text)
    return list(pages)


def claim_prefix_ok(source: str, claim_id: str) -> bool:
    """Whether a claim's prefix fits the source (cheng: 000/001, lyuzhu: 002, ...)."""
    prefixes = {"000": "cheng", "001": "cheng", "002": "lyuzhu", "003": "(thesis[0-9]*|liu)",
                "004": "liu"}
    return re.match(prefixes.get(source, ".*") + r"\.", claim_id) is not None
