"""Proof steps, dependencies and the blueprint graph (the rendered pages are in test_book)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from advproof import blueprint, ledger
from advproof.claims import CheckFailed, ClaimSet, Registry, RegistryError, load_registry

ROOT = Path(__file__).resolve().parents[1]
THEOREM_LEVEL = ("theorem", "lemma", "corollary", "proposition")


def test_the_dependency_graph_has_no_cycle_and_no_dangling_use():
    registry = load_registry()
    registry.validate()
    assert registry.find_cycle() == []
    ids = set(registry.ids())
    assert all(dep in ids for dep, _ in registry.edges())


def test_a_cycle_is_detected():
    claims = ClaimSet("toy")
    claims.claim("toy.thm1", title="a", sources=("s",), statement="s", uses=("toy.thm2",))
    claims.claim("toy.thm2", title="b", sources=("s",), statement="s", uses=("toy.thm1",))
    registry = Registry([claims])
    assert set(registry.find_cycle()) == {"toy.thm1", "toy.thm2"}
    with pytest.raises(RegistryError, match="cycle"):
        registry.validate()


def test_every_theorem_level_claim_has_a_proof_of_two_steps_or_more():
    short = [(c.id, len(c.steps)) for c in load_registry()
             if c.kind in THEOREM_LEVEL and len(c.steps) < 2]
    assert short == [], f"claims with fewer than two proof steps: {short}"


def test_step_names_and_keys():
    claims = ClaimSet("toy")
    claim = claims.claim("toy.thm1", title="t", sources=("s",), statement="s")

    def holds(x):
        if not x:
            raise CheckFailed("no")

    claim.step(1, "Unroll the recursion", subject=1, control=0, control_label="c")(holds)
    claim.step("2a", "Take the limit (printed)", subject=1, control=0, control_label="c",
               numeric=True, uses=("toy.thm0",))(holds)
    assert [c.name for c in claim.steps] == ["step1_unroll_the_recursion",
                                            "step2a_numeric_take_the_limit_printed"]
    assert [c.step_key for c in claim.steps] == ["toy.thm1.step1", "toy.thm1.step2a"]
    assert claim.all_uses() == ("toy.thm0",)
    with pytest.raises(RegistryError, match="step number"):
        claim.step("two", "x", subject=1, control=0, control_label="c")


def test_a_claim_resting_on_a_failing_one_is_flagged():
    claims = ClaimSet("toy")
    base = claims.claim("toy.lemma1", title="base", sources=("s",), statement="s")
    top = claims.claim("toy.thm1", title="top", sources=("s",), statement="s",
                       uses=("toy.lemma1",))

    def is_one(x):
        if x != 1:
            raise CheckFailed(f"{x} != 1")

    base.check(kind="numeric", subject=2, control=3, control_label="c")(is_one)  # fails
    top.check(kind="numeric", subject=1, control=3, control_label="c")(is_one)
    report = ledger.verify(Registry([claims]), only="toy.thm1")
    (result,) = report.claims
    assert result.status == "verified" and result.rests_on == (("toy.lemma1", "failing"),)
    assert "rests on a corrected or failing result: toy.lemma1 (failing)" in repr(
        ledger.Badge(result))


def test_verify_json_carries_steps_and_uses():
    run = subprocess.run([sys.executable, "-m", "advproof.cli", "verify", "--json",
                          "--only", "cheng.lemma[23]"], capture_output=True, text=True, cwd=ROOT,
                         check=False)
    assert run.returncode == 0, run.stderr
    claims = {c["id"]: c for c in json.loads(run.stdout)["claims"]}
    steps = [k for k in claims["cheng.lemma2"]["checks"] if k["kind"] == "step"]
    assert len(steps) >= 2 and all("uses" in k and "title" in k for k in steps)
    assert "cheng.assump2" in claims["cheng.lemma3"]["uses"]
    assert {"id": "cheng.assump2", "status": "corrected"} in claims["cheng.lemma3"]["rests_on"]


def test_printed_proofs_that_break_are_refuted_steps():
    broken = {c.id: [s.name for s in c.steps if s.refutes] for c in load_registry()}
    assert broken["cheng.lemma2"] == ["step2a_r_2_is_additive_r_2_delta_t_1_r"]
    assert broken["cheng.assump2"] == ["step2a_drop_the_other_classes_000_app_d"]


def test_dot_has_one_node_per_claim_and_one_edge_per_use():
    registry = load_registry()
    report = ledger.verify(registry, kinds=())  # statuses not needed: every claim unchecked
    locations = blueprint.statement_locations(ROOT / "notebooks")
    dot = blueprint.dot(report, registry, locations, "book/_generated")
    for claim_id in registry.ids():
        assert f'"{claim_id}" [' in dot
        where = locations[claim_id][0].replace(".ipynb", ".html")
        assert f'URL="../../notebooks/{where}#{claim_id}"' in dot
    assert dot.count(" -> ") == len(registry.edges())
