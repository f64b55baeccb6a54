"""The inventory of every numbered item, checked against the claim registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from advproof import coverage
from advproof.claims import ClaimSet, Registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def items() -> list[coverage.Item]:
    return coverage.load_inventory()


def test_every_source_has_an_inventory(items):
    assert {it.source for it in items} == {"000", "001", "002", "003", "004"}
    for source in ("000", "002", "003", "004"):
        kinds = {it.item.split()[0] for it in items if it.source == source}
        assert {"Theorem", "Figure"} <= kinds, (source, kinds)


def test_the_inventory_agrees_with_the_registry(items, registry):
    assert coverage.problems(items, registry) == []


def test_claims_sit_under_their_own_source(items):
    wrong = [(it.source, it.item, c) for it in items for c in it.claims
             if not coverage.claim_prefix_ok(it.source, c)]
    assert wrong == []


def _toy() -> Registry:
    claims = ClaimSet("toy")
    claims.claim("toy.thm1", title="t", sources=("000 Theorem 1",), statement="s")
    claims.claim("toy.thm2", title="t", sources=("000 Theorem 2",), statement="s")
    return Registry([claims])


@pytest.mark.parametrize(("entry", "message"), [
    (dict(claims=("toy.thm9",), reason=None), "unknown claim 'toy.thm9'"),
    (dict(claims=(), reason=None), "needs claims or a reason"),
    (dict(claims=("toy.thm2",), reason="prose only"), "needs claims or a reason"),
    (dict(claims=(), reason="too hard"), "is not one of"),
    (dict(claims=(), reason="pending"), "needs a short explanation"),
])
def test_problems_are_found(entry, message):
    items = [coverage.Item("000", "Theorem 1", "", "3", ("toy.thm1",), None),
             coverage.Item("000", "Theorem 2", "", "3", **entry)]
    found = coverage.problems(items, _toy())
    assert any(message in p for p in found), found


def test_a_claim_without_an_item_is_a_problem():
    items = [coverage.Item("000", "Theorem 1", "", "3", ("toy.thm1",), None)]
    assert coverage.problems(items, _toy()) == ["claim toy.thm2 belongs to no inventory item"]


def test_coverage_json_fields():
    run = subprocess.run([sys.executable, "-m", "advproof.cli", "coverage", "--json",
                          "--no-checks"], cwd=ROOT, capture_output=True, text=True, check=False)
    out = json.loads(run.stdout)
    assert run.returncode == 0, out["problems"]
    row = out["items"][0]
    assert set(row) >= {"source", "item", "section", "claims", "reason"}
    assert set(out["summary"]) == {"000", "001", "002", "003", "004"}
