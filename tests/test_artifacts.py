"""Every committed full-mode artifact: schema, provenance, and a config that matches the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advproof import experiments

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = sorted((ROOT / "artifacts").glob("*/*/result.json"))
PROVENANCE = {"commit", "dirty", "device", "torch", "cuda", "numpy", "date", "seed", "config",
              "config_hash"}


@pytest.mark.parametrize("path", ARTIFACTS, ids=lambda p: "/".join(p.parts[-3:-1]))
def test_artifact_schema_and_config_hash(path: Path):
    name, mode = path.parts[-3], path.parts[-2]
    art = json.loads(path.read_text())
    assert art["name"] == name and art["mode"] == mode
    assert set(art["provenance"]) >= PROVENANCE
    assert art["wall_seconds"] > 0 and "summary" in art["result"]
    config = experiments.module(name).CONFIGS[mode]
    assert art["provenance"]["config_hash"] == experiments.config_hash(config), (
        f"{path}: the code's {mode} config changed since this artifact was made; rerun "
        f"`advproof run {name} --mode {mode}`")
    assert experiments.provenance_line(art).startswith(f"{name} ({mode} mode): commit ")


def test_run_writes_an_artifact_atomically_with_provenance(tmp_path: Path, monkeypatch):
    class Tiny:
        def to_json(self):
            return {"summary": {"x": 1}}

    module = experiments.module("cheng_setting")
    monkeypatch.setattr(module, "run", lambda mode, **kw: Tiny())
    experiments.run("cheng_setting", mode="quick", seed=3, out_dir=tmp_path)
    art = json.loads((tmp_path / "cheng_setting" / "quick" / "seed3" / "result.json").read_text())
    assert art["provenance"]["seed"] == 3 and art["result"] == {"summary": {"x": 1}}
    assert list(tmp_path.rglob("*.tmp")) == []
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.run("nope")
    with pytest.raises(ValueError, match="mode"):
        experiments.run("cheng_setting", mode="huge")
