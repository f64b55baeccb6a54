"""The claim registry and the ledger: statuses, negative controls, FAIL visibility, JSON API."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from advproof import ledger
from advproof.claims import CheckFailed, ClaimSet, Erratum, Registry, RegistryError, load_registry

ROOT = Path(__file__).resolve().parents[1]

BROKEN_PLUGIN = textwrap.dedent('''
    """A throw-away claim set: a deliberately broken formula (sign flipped in the derivative)."""
    import sympy as sp
    from advproof.asserts import sym_equal
    from advproof.claims import ClaimSet

    CLAIMS = ClaimSet("broken")
    x = sp.Symbol("x", real=True)
    thm = CLAIMS.claim("broken.thm1", title="d/dx sin x = -cos x (wrong on purpose)",
                       sources=("none",), statement="$\\\\frac{d}{dx}\\\\sin x = -\\\\cos x$")

    @thm.check(kind="symbolic", subject=-sp.cos(x), control=sp.sin(x), control_label="sin x")
    def derivative(formula):
        return sym_equal(sp.diff(sp.sin(x), x), formula, "d sin/dx - formula")
''')


def _set_with(subject, control, *, refutes=False, erratum=None, fn=None) -> Registry:
    claims = ClaimSet("toy")
    claim = claims.claim("toy.lemma1", title="t", sources=("000 Lemma 1",), statement="s",
                         erratum=erratum)

    def equals_two(candidate):
        if candidate != 2:
            raise CheckFailed(f"{candidate} != 2")
        return "equals 2"

    claim.check(kind="numeric", subject=subject, control=control, control_label="c",
                refutes=refutes)(fn or equals_two)
    registry = Registry([claims])
    registry.validate()
    return registry


@pytest.mark.parametrize(
    ("subject", "control", "refutes", "status"),
    [
        (2, 3, False, "verified"),
        (3, 4, False, "failing"),  # the check fails
        (2, 2, False, "failing"),  # the control passes: the check cannot fail, does not count
        (3, 2, True, "refuted"),  # printed form refuted, corrected form not refuted
        (2, 3, True, "failing"),  # the "refutation" finds no counterexample
        (3, 3, True, "failing"),  # the corrected form is refuted too
    ],
)
def test_status_is_computed_from_check_and_control(subject, control, refutes, status):
    erratum = Erratum("p", "q", "r") if refutes else None
    report = ledger.verify(_set_with(subject, control, refutes=refutes, erratum=erratum))
    assert report.claims[0].status == status
    assert report.ok == (status != "failing")


def test_corrected_needs_a_refutation_and_a_verified_corrected_form():
    claims = ClaimSet("toy")
    claim = claims.claim("toy.thm1", title="t", sources=("s",), statement="s",
                         erratum=Erratum("p", "q", "r"))

    def is_even(n):
        if n % 2:
            raise CheckFailed(f"{n} is odd")

    claim.check(kind="numeric", subject=3, control=4, control_label="c", refutes=True,
                name="printed")(is_even)
    claim.check(kind="numeric", subject=4, control=5, control_label="c", name="fixed")(is_even)
    assert ledger.verify(Registry([claims])).claims[0].status == "corrected"


def _refuted_by(kinds: tuple[str, ...], flag: bool = True) -> ClaimSet:
    """A claim whose printed reading is refuted by one check of each of ``kinds`` (an
    experiment one marked ``reproduction=True``) and whose other reading is verified by a
    numeric check."""
    claims = ClaimSet("toy")
    claim = claims.claim("toy.trend", title="t", sources=("s",), statement="s",
                         erratum=Erratum("p", "q", "r"))

    def is_even(n):
        if n % 2:
            raise CheckFailed(f"{n} is odd")

    for i, kind in enumerate(kinds):
        claim.check(kind=kind, subject=3, control=4, control_label="c", refutes=True,
                    reproduction=flag and kind == "experiment", name=f"printed{i}")(is_even)
    claim.check(kind="numeric", subject=4, control=5, control_label="c", name="other")(is_even)
    return claims


@pytest.mark.parametrize(("kinds", "flag", "status"), [
    (("experiment",), True, "not reproduced"),  # a trend the small run does not show
    (("experiment", "experiment"), True, "not reproduced"),
    (("experiment",), False, "corrected"),  # an experiment as the counterexample to a formula
    (("numeric",), True, "corrected"),  # a counterexample to a formula: an erratum
    (("experiment", "symbolic"), True, "corrected"),  # any formula error makes it an erratum
])
def test_a_refutation_at_scale_only_is_not_reproduced(tmp_path, kinds, flag, status):
    report = ledger.verify(Registry([_refuted_by(kinds, flag)]), kinds=None)
    assert report.claims[0].status == status and report.ok
    assert report.summary()["not_reproduced"] == (status == "not reproduced")
    ledger.write_pages(report, tmp_path)
    on_errata = "## `toy.trend`" in (tmp_path / "errata.md").read_text()
    on_missed = "## `toy.trend`" in (tmp_path / "not_reproduced.md").read_text()
    assert (on_errata, on_missed) == ((False, True) if status == "not reproduced" else
                                      (True, False))
    assert f"[{status.upper()}]" in repr(ledger.Badge(report.claims[0]))


def test_only_a_refuting_experiment_check_can_be_a_reproduction():
    claim = ClaimSet("bad").claim("bad.c", title="t", sources=("s",), statement="s")
    for kind, refutes in (("numeric", True), ("experiment", False)):
        with pytest.raises(RegistryError, match="reproduction=True marks"):
            claim.check(kind=kind, subject=1, control=2, control_label="c", refutes=refutes,
                        reproduction=True)


def test_a_crashing_check_is_failing_and_a_crashing_control_is_not_rejected():
    def crashes_on_control(candidate):
        if candidate == "boom":
            raise TypeError("bug in the check")
        return "fine"

    result = ledger.verify(_set_with("ok", "boom", fn=crashes_on_control)).claims[0]
    assert result.status == "failing"
    assert result.checks[0].passed and not result.checks[0].control_rejected
    assert "ERROR in check" in result.checks[0].control_detail


def test_registry_rejects_malformed_claims():
    claims = ClaimSet("cheng")
    with pytest.raises(RegistryError, match="must look like"):
        claims.claim("Cheng.Lemma1", title="t", sources=("s",), statement="s")
    with pytest.raises(RegistryError, match="must look like"):
        claims.claim("liu.thm1", title="t", sources=("s",), statement="s")
    claim = claims.claim("cheng.lemma9", title="t", sources=("s",), statement="s")
    with pytest.raises(RegistryError, match="duplicate"):
        claims.claim("cheng.lemma9", title="t", sources=("s",), statement="s")
    with pytest.raises(RegistryError, match="control"):
        claim.check(kind="symbolic", subject=1, control=None, control_label="")
    with pytest.raises(RegistryError, match="kind"):
        claim.check(kind="vibes", subject=1, control=2, control_label="c")
    bad = ClaimSet("bad")
    bad.claim("bad.thm1", title="t", sources=("s",), statement="s", uses=("bad.thm0",))
    with pytest.raises(RegistryError, match="unknown claim"):
        Registry([bad]).validate()
    noevidence = ClaimSet("ne")
    noevidence.claim("ne.thm1", title="t", sources=("s",), statement="s",
                     erratum=Erratum("p", "q", "r"))
    with pytest.raises(RegistryError, match="no refutes=True check"):
        Registry([noevidence]).validate()


def test_every_check_of_the_book_passes_and_every_control_is_rejected(book_report):
    report = book_report
    bad = [(c.claim.id, r.name, r.detail, r.control_detail)
           for c in report.claims for r in c.checks if not r.ok]
    assert not bad, bad
    assert all(c.checks for c in report.claims), "a claim without checks"


def test_every_claim_of_a_theorem_has_a_symbolic_or_numeric_check():
    """Theorem-level statements are checked by mathematics (symbolic, numeric or proof steps);
    a remark, assumption or figure may rest on experiments alone, but never on nothing."""
    theorem_level = ("theorem", "lemma", "corollary", "proposition")
    for claim in load_registry():
        kinds = {c.kind for c in claim.checks}
        assert kinds, f"{claim.id} has no check"
        if claim.kind in theorem_level:
            assert kinds & {"symbolic", "numeric", "step"}, claim.id


def _notebook_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for block in re.finditer(r"```\{prf:(\w+)\}[^\n]*\n((?::\w+:[^\n]*\n)*)", text):
                for label in re.findall(r":label:\s*(\S+)", block.group(2)):
                    assert label not in labels, f"{label} stated twice"
                    labels[label] = f"{path.name} ({block.group(1)})"
    return labels


def test_every_claim_is_stated_in_a_notebook_under_its_id_and_vice_versa():
    labels = {k: v for k, v in _notebook_labels().items() if ".step" not in k}
    ids = set(load_registry().ids())
    assert ids - set(labels) == set(), "claims never stated in a notebook"
    assert set(labels) - ids == set(), "notebook statements that are not registered claims"


def test_statement_kind_matches_the_directive():
    labels = _notebook_labels()
    for claim in load_registry():
        assert labels[claim.id].endswith(f"({claim.kind})"), (claim.id, labels[claim.id])


def test_a_broken_formula_shows_fail_and_fails_verify(tmp_path):
    plugin = tmp_path / "broken_claims.py"
    plugin.write_text(BROKEN_PLUGIN)
    run = subprocess.run(
        [sys.executable, "-m", "advproof.cli", "verify", "--json", "--only", "broken.*",
         "--plugin", str(plugin)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 1, run.stderr
    out = json.loads(run.stdout)
    assert out["summary"]["failing"] == 1
    (claim,) = out["claims"]
    assert claim["id"] == "broken.thm1" and claim["status"] == "failing"
    assert set(claim["checks"][0]) >= {"name", "kind", "passed", "control_rejected", "seconds",
                                       "detail"}
    assert claim["checks"][0]["passed"] is False

    registry = load_registry(plugins=[plugin])
    badge = ledger.show("broken.thm1", registry=registry, strict=False)
    assert "FAIL" in repr(badge) and "FAILING" in badge._repr_html_()
    with pytest.raises(CheckFailed, match="broken.thm1 is failing"):
        ledger.show("broken.thm1", registry=registry)

    ledger.write_pages(ledger.verify(registry, only="broken.*"), tmp_path / "gen")
    page = (tmp_path / "gen" / "ledger.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| `broken.thm1`"))
    assert "FAIL" in row


def test_verify_json_field_names_and_exit_code():
    run = subprocess.run([sys.executable, "-m", "advproof.cli", "verify", "--json", "--only",
                          "cheng.lemma1"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    out = json.loads(run.stdout)
    assert set(out["summary"]) >= {"claims", "verified", "corrected", "failing", "seconds"}
    assert out["summary"]["claims"] == 1
    for claim in out["claims"]:
        assert set(claim) >= {"id", "sources", "status", "checks"}
        assert claim["status"] in ("verified", "corrected")
        for check in claim["checks"]:
            assert check["passed"] is True and check["control_rejected"] is True


def test_verify_rejects_an_unknown_selection():
    run = subprocess.run([sys.executable, "-m", "advproof.cli", "verify", "--only", "nope.*"],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 2 and "no claim matches" in run.stderr


def test_errata_page_lists_every_corrected_claim(tmp_path, book_report):
    report = book_report
    ledger.write_pages(report, tmp_path)
    errata = (tmp_path / "errata.md").read_text()
    elsewhere = (tmp_path / "not_reproduced.md").read_text()
    corrected = [c.claim.id for c in report.claims
                 if c.claim.erratum is not None and c.status != "not reproduced"]
    assert corrected, "the first chapter has errata"
    for claim_id in corrected:
        assert f"## `{claim_id}`" in errata and f"statement <{claim_id}>" in errata
        assert f"## `{claim_id}`" not in elsewhere
    missed = [c.claim.id for c in report.claims if c.status == "not reproduced"]
    assert missed, "the thesis's subset experiments do not all reproduce on the digits"
    for claim_id in missed:
        assert f"## `{claim_id}`" in elsewhere and f"## `{claim_id}`" not in errata
    ledger_page = (tmp_path / "ledger.md").read_text()
    for claim_id in load_registry().ids():
        assert f"| `{claim_id}` ({{prf:ref}}`statement <{claim_id}>`)" in ledger_page


def test_book_claim_results_are_shared_across_processes(tmp_path):
    env = {**os.environ, "ADVPROOF_CACHE": str(tmp_path)}
    cmd = [sys.executable, "-m", "advproof.cli", "verify", "--json", "--only", "cheng.lemma1"]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    kept = list((tmp_path / "checks").glob("cheng.lemma1-*/*.pkl"))
    assert len(kept) == len(load_registry().get("cheng.lemma1").checks)
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    a, b = json.loads(first.stdout)["claims"], json.loads(second.stdout)["claims"]
    assert a == b  # the same results, timings included: read back, not rerun
    # a corrupt file is rerun, never trusted
    kept[0].write_bytes(b"not a pickle")
    third = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert third.returncode == 0 and json.loads(third.stdout)["claims"][0]["status"] == \
        a[0]["status"]


def test_throwaway_and_failing_claims_are_never_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVPROOF_CACHE", str(tmp_path))
    assert ledger.verify(_set_with(2, 3)).claims[0].status == "verified"
    assert not (tmp_path / "checks").exists()  # a test's claim set is not a book module
    claim = load_registry().get("cheng.lemma1")
    real = ledger.run_check(claim.checks[0])
    broken = dataclasses.replace(real, passed=False)
    monkeypatch.setattr(ledger, "run_check", lambda c: broken)
    assert ledger.run_claim_cached(claim).status == "failing"
    assert not list((tmp_path / "checks").rglob("*.pkl"))  # a failure is rerun next time
