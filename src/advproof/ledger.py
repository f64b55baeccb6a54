"""Run claim checks, compute statuses, and render badges, the ledger page and the errata page.

Status is computed, never typed (foundation issue §2):

* ``failing``: some check did not pass, or some negative control was not rejected;
* ``corrected``: the printed form is refuted by a counterexample (a ``refutes=True`` check) and
  the corrected form is verified by at least one other check;
* ``refuted``: the printed form is refuted and no corrected form is checked;
* ``not reproduced``: every refuting check is an experiment marked ``reproduction=True``: a
  trend the source reports does not hold in the book's small-scale run (the check's control,
  what the run shows instead, does hold). That is a finding about the run, not an error of the
  source, so such claims go on their own page, not on the errata page;
* ``verified``: every check passed and every control was rejected;
* ``not yet checked``: the claim has no check (of the kinds that were run).

A check that raises something other than :class:`~advproof.claims.CheckFailed` is a bug in the
check: it counts as not passed, and an erroring control does not count as rejected.
"""

from __future__ import annotations

import functools
import html
import json
import os
import pickle
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from advproof.claims import CHECK_KINDS, Check, CheckFailed, Claim, Registry, load_registry

STATUSES = ("verified", "corrected", "refuted", "not reproduced", "failing", "not yet checked")
#: Kinds that ``advproof verify`` runs by default: fast, float64, no data beyond the embedded set.
DEFAULT_KINDS = ("symbolic", "numeric", "step")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check and of its negative control (field names are a public API)."""

    name: str
    kind: str
    passed: bool
    control_rejected: bool
    seconds: float
    detail: str
    control_detail: str
    control_label: str
    refutes: bool
    tolerance: float | None
    title: str = ""
    uses: tuple[str, ...] = ()
    key: str | None = None  # <claim>.step<k> for a proof step
    reproduction: bool = False  # a refutation of a reported trend at the book's scale

    @property
    def ok(self) -> bool:
        """The check counts only if it passed and its control was rejected."""
        return self.passed and self.control_rejected


@dataclass(frozen=True)
class ClaimResult:
    """A claim with the results of the checks that were run and its computed status."""

    claim: Claim
    status: str
    checks: tuple[CheckResult, ...]
    rests_on: tuple[tuple[str, str], ...] = ()  # (id, status) of corrected/refuted/failing deps

    def to_json(self) -> dict[str, Any]:
        """The claim's entry of ``advproof verify --json``."""
        return {
            "id": self.claim.id,
            "title": self.claim.title,
            "sources": list(self.claim.sources),
            "status": self.status,
            "uses": list(self.claim.all_uses()),
            "rests_on": [{"id": i, "status": s} for i, s in self.rests_on],
            "checks": [
                {k: v for k, v in asdict(r).items() if k not in ("control_detail", "key")}
                | {"seconds": round(r.seconds, 4), "uses": list(r.uses)}
                for r in self.checks
            ],
        }


@dataclass(frozen=True)
class Report:
    """Results of a verification run over a registry."""

    claims: tuple[ClaimResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """True iff no claim is failing (a refuted printed form is a finding, not a failure)."""
        return all(c.status != "failing" for c in self.claims)

    def summary(self) -> dict[str, Any]:
        """Counts per status, as in the JSON ``summary`` object."""
        counts = {s: sum(c.status == s for c in self.claims) for s in STATUSES}
        return {
            "claims": len(self.claims),
            "verified": counts["verified"],
            "corrected": counts["corrected"],
            "refuted": counts["refuted"],
            "not_reproduced": counts["not reproduced"],
            "failing": counts["failing"],
            "not_checked": counts["not yet checked"],
            "checks": sum(len(c.checks) for c in self.claims),
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> dict[str, Any]:
        """``{"claims": [...], "summary": {...}}`` (field names are a public API)."""
        return {"claims": [c.to_json() for c in self.claims], "summary": self.summary()}


def _outcome(check: Check, candidate: Any) -> tuple[bool, str]:
    """Run the property test on one candidate: (holds, detail). Bugs do not count as holding."""
    try:
        detail = check.fn(candidate)
    except CheckFailed as err:
        return False, str(err) or "property does not hold"
    except Exception as err:  # a bug in the check, reported as such
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        return False, f"ERROR in check: {last}"
    return True, "" if detail is None else str(detail)


def run_check(check: Check) -> CheckResult:
    """Run a check on its subject and on its negative control.

    For ``refutes=True`` the check passes when the subject (the printed form) is refuted, and
    the control (the corrected form) is rejected when it is *not* refuted.
    """
    start = time.perf_counter()
    holds, detail = _outcome(check, check.subject)
    control_holds, control_detail = _outcome(check, check.control)
    seconds = time.perf_counter() - start
    if check.refutes:
        passed = not holds and not detail.startswith("ERROR")
        control_rejected = control_holds
    else:
        passed = holds
        control_rejected = not control_holds and not control_detail.startswith("ERROR")
    return CheckResult(
        name=check.name, kind=check.kind, passed=passed, control_rejected=control_rejected,
        seconds=seconds, detail=detail, control_detail=control_detail,
        control_label=check.control_label, refutes=check.refutes, tolerance=check.tolerance,
        title=check.title, uses=check.uses, key=check.step_key,
        reproduction=check.reproduction,
    )


def claim_status(claim: Claim, results: Sequence[CheckResult]) -> str:
    """The computed status of a claim from the results of its checks (see module docstring)."""
    if not results:
        return "not yet checked"
    if not all(r.ok for r in results):
        return "failing"
    refuting = [r for r in results if r.refutes]
    if refuting and all(r.reproduction for r in refuting):
        return "not reproduced"
    if refuting:
        return "corrected" if any(not r.refutes for r in results) else "refuted"
    return "verified"


def run_claim(claim: Claim, kinds: Sequence[str] | None = None) -> ClaimResult:
    """Run the checks of ``claim`` whose kind is in ``kinds`` (all kinds when ``None``)."""
    selected = [c for c in claim.checks if kinds is None or c.kind in kinds]
    results = tuple(run_check(c) for c in selected)
    return ClaimResult(claim, claim_status(claim, results), results)


def _results_folder(claim: Claim) -> Path | None:
    """Where the check results of a book claim are kept across processes, or None.

    Only claims whose every check is defined in one of the book's claim modules are kept: the
    key holds the whole package source (``cache.key``), so an edit anywhere is a new key. Claims
    with an ``artifact`` check read files outside the package and are always rerun, as are
    throw-away claims (plugins, tests) and everything when ``ADVPROOF_CACHE=off``.
    """
    from advproof import cache
    from advproof.claims import CLAIM_MODULES

    folder = cache.cache_dir()
    if folder is None or not claim.checks:
        return None
    if any(c.kind == "artifact" or c.fn.__module__ not in CLAIM_MODULES for c in claim.checks):
        return None
    return folder / "checks" / f"{claim.id}-{cache.key(claim.id, 'checks', 0, {})}"


def _load(path: Path) -> CheckResult | None:
    try:
        with path.open("rb") as f:
            result = pickle.load(f)
    except Exception:  # truncated, or written by other code: rerun  # noqa: BLE001
        path.unlink(missing_ok=True)
        return None
    return result if isinstance(result, CheckResult) else None


def run_claim_cached(claim: Claim, kinds: Sequence[str] | None = None) -> ClaimResult:
    """:func:`run_claim`, each check computed once per code version for the book's claims and
    shared by every process (``advproof verify``, ``advproof pages``, the test suite, each
    chapter). Only passing checks with a rejected control are kept: a failure is rerun."""
    folder = _results_folder(claim)
    results = []
    for check in claim.checks:
        if kinds is not None and check.kind not in kinds:
            continue
        path = folder / f"{check.name}.pkl" if folder is not None else None
        result = _load(path) if path is not None and path.is_file() else None
        if result is None:
            result = run_check(check)
            if path is not None and result.ok:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                tmp.write_bytes(pickle.dumps(result))
                os.replace(tmp, path)
        results.append(result)
    results = tuple(results)
    return ClaimResult(claim, claim_status(claim, results), results)


def _flagged(registry: Registry, claim: Claim, statuses: dict[str, str]) -> tuple:
    """The (id, status) of every claim in ``claim``'s closure that is not plainly verified."""
    return tuple((dep, statuses[dep]) for dep in registry.closure(claim.id)
                 if statuses.get(dep) in ("corrected", "refuted", "failing"))


def verify(
    registry: Registry, *, only: str | None = None, kinds: Sequence[str] | None = DEFAULT_KINDS,
    cache: bool = False,
) -> Report:
    """Run every selected check of every selected claim (float64, CPU) and collect a report.

    Each claim also lists the results it rests on (its ``uses`` closure) that are corrected,
    refuted or failing; those come from the same run (or, outside ``only``, are run too).
    ``cache``: reuse (and keep) results in ``registry.results``, so a chapter that shows claim
    after claim runs each dependency once (the registry is rebuilt when the code changes).
    """
    for kind in kinds or ():
        if kind not in CHECK_KINDS:
            raise ValueError(f"unknown check kind {kind!r}; choose from {CHECK_KINDS}")
    start = time.perf_counter()
    selected = registry.select(only)
    needed = {c.id for c in selected} | {d for c in selected for d in registry.closure(c.id)}
    memo = registry.results if cache else {}
    ran = {}
    for claim in registry:
        if claim.id in needed:
            key = (claim.id, None if kinds is None else tuple(kinds))
            if key not in memo:
                memo[key] = run_claim_cached(claim, kinds)
            ran[claim.id] = memo[key]
    statuses = {i: r.status for i, r in ran.items()}
    results = tuple(
        ClaimResult(r.claim, r.status, r.checks, _flagged(registry, r.claim, statuses))
        for c in selected for r in [ran[c.id]]
    )
    return Report(results, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Badges (notebooks)

_COLOURS = {"verified": "#1a7f37", "corrected": "#9a6700", "refuted": "#9a6700",
            "not reproduced": "#8250df", "failing": "#cf222e", "not yet checked": "#57606a"}


def _mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


class Badge:
    """A claim's status and its checks, displayed beside the statement in a chapter.

    The text form (what nbval compares) holds no timings, so stored outputs are deterministic;
    a failing check prints ``FAIL``, so a stored ``PASS`` no longer matches and nbval fails.
    """

    def __init__(self, result: ClaimResult) -> None:
        self.result = result

    @property
    def ok(self) -> bool:
        """True unless the claim is failing."""
        return self.result.status != "failing"

    def _rests_on(self) -> str:
        flags = ", ".join(f"{i} ({s})" for i, s in self.result.rests_on)
        return f"rests on a corrected or failing result: {flags}" if flags else ""

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for r in self.result.checks:
            role = ("printed step, refuted" if r.kind == "step" else "refutes printed form") \
                if r.refutes else r.kind
            control = "rejected" if r.control_rejected else "NOT REJECTED"
            rows.append((_mark(r.ok), r.name, role, f"{r.control_label}: {control}", r.detail))
        return rows

    def __repr__(self) -> str:
        c = self.result.claim
        head = f"[{self.result.status.upper()}] {c.id}: {c.title} ({'; '.join(c.sources)})"
        if self._rests_on():
            head += "\n  " + self._rests_on()
        lines = [head] + [f"  {m} {n} [{k}] control ({ctl})\n      {d}"
                          for m, n, k, ctl, d in self._rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        c, status = self.result.claim, self.result.status
        colour = _COLOURS[status]
        rows = "".join(
            f"<tr><td><b style='color:{'#1a7f37' if m == 'PASS' else '#cf222e'}'>{m}</b></td>"
            f"<td><code>{html.escape(n)}</code></td><td>{html.escape(k)}</td>"
            f"<td>{html.escape(ctl)}</td><td>{html.escape(d)}</td></tr>"
            for m, n, k, ctl, d in self._rows()
        )
        return (
            f"<div class='advproof-badge'><span style='background:{colour};color:white;"
            f"padding:2px 8px;border-radius:4px;font-weight:bold'>{status.upper()}</span> "
            f"<code>{html.escape(c.id)}</code> {html.escape(c.title)}"
            + (f"<br><i>{html.escape(self._rests_on())}</i>" if self._rests_on() else "")
            + f"<table><tr><th></th><th>check</th><th>kind</th><th>negative control</th>"
            f"<th>measured</th></tr>{rows}</table></div>"
        )


class StepBadge:
    """One proof step's mark, small enough to sit inline in a ``{prf:proof}`` block (glue)."""

    def __init__(self, result: CheckResult) -> None:
        self.result = result

    def _text(self) -> str:
        r = self.result
        if r.refutes:
            verdict = "FAILS as printed" if r.ok else "FAIL (printed step not refuted)"
        else:
            verdict = "PASS" if r.ok else "FAIL"
        control = "control rejected" if r.control_rejected else "control NOT rejected"
        return f"{verdict}, {r.kind if r.kind != 'step' else 'step'}, {control}"

    def __repr__(self) -> str:
        return f"[{self._text()}] {self.result.name}: {self.result.detail}"

    def _repr_html_(self) -> str:
        r = self.result
        colour = "#1a7f37" if r.ok and not r.refutes else "#9a6700" if r.ok else "#cf222e"
        return (f"<span class='advproof-step' title='{html.escape(r.detail)}' "
                f"style='color:{colour};font-weight:bold'>[{html.escape(self._text())}]</span>")


@functools.cache
def default_registry() -> Registry:
    """The book's registry, loaded once per process (a pure function of the installed code)."""
    return load_registry()


def _glue_steps(result: ClaimResult) -> None:
    """Glue each step's badge under ``<claim>.step<k>`` so the proof block can show it."""
    try:
        from myst_nb import glue
    except ImportError:  # no Jupyter stack (e.g. a GPU box running plain Python): nothing to do
        return
    for r in result.checks:
        if r.key is not None:
            glue(r.key, StepBadge(r), display=False)


def show(claim_id: str, *, registry: Registry | None = None, kinds: Sequence[str] | None = None,
         strict: bool = True) -> Badge:
    """Run a claim's checks and return its badge: ``ledger.show("cheng.lemma1")`` in a chapter.

    Proof steps are glued as ``<claim>.step<k>`` for the ``{prf:proof}`` block. The badge also
    names any corrected, refuted or failing result the claim rests on. With ``strict`` (the
    default) a failing claim also raises, so the notebook run (nbval, papermill) stops loudly.
    """
    registry = registry or default_registry()
    registry.get(claim_id)  # a clear KeyError for an unknown id
    result = verify(registry, only=claim_id, kinds=kinds, cache=True).claims[0]
    badge = Badge(result)
    _glue_steps(result)
    if strict and not badge.ok:
        raise CheckFailed(f"claim {claim_id} is failing:\n{badge!r}")
    return badge


# ---------------------------------------------------------------------------------------------
# Generated pages

def _claim_link(claim_id: str) -> str:
    """The id as code plus a link to its statement (link text must not contain the id,
    or sphinx-proof replaces it with "Lemma 1")."""
    return f"`{claim_id}` ({{prf:ref}}`statement <{claim_id}>`)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _status_md(status: str) -> str:
    return "**FAIL (failing)**" if status == "failing" else f"**{status}**"


def render_ledger(report: Report) -> str:
    """The ledger page (MyST): every claim, its sources, status, check kinds and controls."""
    s = report.summary()
    out = [
        "# The ledger", "",
        "Generated from the claim registry by `advproof pages` at build time; never edit it by "
        "hand. Each row links to the statement in its chapter. A check counts only if it "
        "passed **and** its negative control (a deliberately wrong variant) was rejected. "
        "The [blueprint](blueprint.md) draws how the claims depend on each other, and the "
        "[coverage](coverage.md) pages list every numbered item of each source.", "",
        f"{s['claims']} claims: {s['verified']} verified, {s['corrected']} corrected, "
        f"{s['refuted']} refuted, {s['not_reproduced']} not reproduced, {s['failing']} failing, "
        f"{s['not_checked']} not yet checked; {s['checks']} checks in {s['seconds']:.1f} s.", "",
        "| claim | title | sources | status | checks | controls rejected |",
        "|---|---|---|---|---|---|",
    ]
    for c in report.claims:
        kinds = ", ".join(sorted({r.kind for r in c.checks})) or "none"
        controls = f"{sum(r.control_rejected for r in c.checks)}/{len(c.checks)}"
        out.append(
            f"| {_claim_link(c.claim.id)} | {_cell(c.claim.title)} | "
            f"{_cell('; '.join(c.claim.sources))} | {_status_md(c.status)} | {kinds} | "
            f"{controls} |"
        )
    out += ["", "## Checks in detail", ""]
    for c in report.claims:
        out += [f"### `{c.claim.id}`: {c.claim.title}", "", f"Status: {_status_md(c.status)}.", ""]
        if c.claim.uses:
            out += ["Uses: " + ", ".join(f"`{u}`" for u in c.claim.uses) + ".", ""]
        for r in c.checks:
            role = "refutation of the printed form" if r.refutes else r.kind
            out.append(
                f"- **{_mark(r.ok)}** `{r.name}` ({role}, {r.seconds:.2f} s): {_cell(r.detail)}; "
                f"control *{_cell(r.control_label)}*: "
                f"{'rejected' if r.control_rejected else '**NOT rejected**'}"
                f" ({_cell(r.control_detail)})."
            )
        out.append("")
    return "\n".join(out) + "\n"


def _finding(c: ClaimResult, heads: tuple[str, str, str]) -> list[str]:
    """One entry: the printed form, the problem and the checked form, under ``heads``."""
    e = c.claim.erratum
    assert e is not None
    evidence = [r for r in c.checks if r.refutes]
    out = [
        f"## `{c.claim.id}`: {c.claim.title}", "",
        f"Sources: {'; '.join(c.claim.sources)}. Claim {_claim_link(c.claim.id)}, status "
        f"{_status_md(c.status)}.", "",
        heads[0], "", "$$", e.printed, "$$", "",
        f"{heads[1]} {e.problem}", "",
        heads[2], "", "$$", e.corrected, "$$", "",
        "Evidence (measured at build time):", "",
    ]
    out += [f"- **{_mark(r.ok)}** `{r.name}`: {_cell(r.detail)}" for r in evidence]
    return [*out, ""]


def render_errata(report: Report) -> str:
    """The errata page (MyST): each printed form, its counterexample, the corrected form."""
    out = [
        "# Errata", "",
        "Generated from the claim registry by `advproof pages`; never edit it by hand. Each "
        "entry is a formula as a source prints it, the counterexample that refutes it (measured "
        "when this page was built), and the corrected form the book checks instead. Reported "
        "trends that the book's small runs do not show are not errors of the sources; they are "
        "on the page [Not reproduced](not_reproduced.md).", "",
    ]
    entries = [c for c in report.claims
               if c.claim.erratum is not None and c.status != "not reproduced"]
    if not entries:
        out.append("No errata are registered.")
    for c in entries:
        out += _finding(c, ("As printed:", "What is wrong:",
                            "Corrected form, checked by the book:"))
    return "\n".join(out) + "\n"


def render_not_reproduced(report: Report) -> str:
    """The page of reported trends that the book's quick runs do not show (MyST)."""
    out = [
        "# Not reproduced", "",
        "Generated from the claim registry by `advproof pages`; never edit it by hand. Each "
        "entry is a trend or number a source reports that the book's quick run (small models, "
        "the 8x8 digits or a toy, one seed) does not show, with the measurements, what the run "
        "shows instead (checked), and why the scale may matter. None of them refutes the "
        "source: the full-mode runs are the test at scale.", "",
    ]
    entries = [c for c in report.claims if c.status == "not reproduced"]
    if not entries:
        out.append("Every reported trend the book runs is reproduced.")
    for c in entries:  # a refuting check needs an erratum (Registry): every entry has one
        out += _finding(c, ("As reported:", "What the run shows:",
                            "What the book's run shows instead (checked):"))
    return "\n".join(out) + "\n"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_pages(report: Report, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``ledger.md``, ``errata.md``, ``not_reproduced.md`` and ``ledger.json`` into
    ``out_dir``."""
    out = Path(out_dir)
    files = {
        out / "ledger.md": render_ledger(report),
        out / "errata.md": render_errata(report),
        out / "not_reproduced.md": render_not_reproduced(report),
        out / "ledger.json": json.dumps(report.to_json(), indent=1) + "\n",
    }
    for path, text in files.items():
        atomic_write_text(path, text)
    return list(files)
