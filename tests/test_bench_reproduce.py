"""Benchmarks (smoke: the code paths, never a timed assertion) and the reproduce command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advproof import bench, experiments

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TQDM_DISABLE": "1"}


@pytest.mark.parametrize("name", bench.BENCHMARKS)
def test_each_benchmark_runs_in_smoke_mode_and_writes_its_result(name, tmp_path):
    result = bench.run(name, smoke=True)
    path = bench.write(result, tmp_path)
    stored = json.loads(path.read_text())
    assert path.name == f"{name}-cpu-smoke.json" and stored["smoke"] is True
    assert {"device", "torch", "commit", "date", "targets"} <= set(stored)
    for value in stored.get("ratios", {}).values():
        assert value > 0  # a ratio, not a time: nothing about speed is asserted here
    page = bench.render_page(tmp_path)
    assert f"`{name}` on cpu (smoke)" in page


@pytest.fixture(scope="module")
def eigen_smoke():
    return bench.run("top_eigenvalue", smoke=True)


def test_lanczos_reaches_1e_4_within_25_hvps_and_beats_power_iteration(eigen_smoke):
    hvps = eigen_smoke["hvps_to_1e-4"]
    assert hvps["lanczos"] is not None and hvps["lanczos"] <= 25, hvps
    assert hvps["power_iteration"] is None or hvps["power_iteration"] >= hvps["lanczos"], hvps


def test_batched_per_sample_hessians_equal_the_loop():
    assert bench.run("per_sample_hessian", smoke=True)["max_abs_difference"] < 1e-12


def test_unknown_benchmark_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown benchmark"):
        bench.run("nope")


def test_staleness_missing_fresh_stale(tmp_path):
    assert dict(experiments.staleness("smoke", root=tmp_path))["cheng_setting"] == "missing"
    folder = tmp_path / "cheng_setting" / "smoke"
    config = experiments.module("cheng_setting").CONFIGS["smoke"]
    experiments.write_json_atomic(folder / "result.json", {"provenance": {
        "config_hash": experiments.config_hash(config)}})
    assert dict(experiments.staleness("smoke", root=tmp_path))["cheng_setting"] == "fresh"
    experiments.write_json_atomic(folder / "result.json", {"provenance": {"config_hash": "x"}})
    assert dict(experiments.staleness("smoke", root=tmp_path))["cheng_setting"] == "stale"


def test_reproduce_list_prints_one_command_per_experiment_and_seed(tmp_path):
    run = subprocess.run([sys.executable, "-m", "advproof.cli", "reproduce", "--list",
                          "--only", "cheng_setting", "--seeds", "0", "3", "--out",
                          str(tmp_path)], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         check=True)
    assert run.stdout.splitlines() == [
        f"advproof run cheng_setting --mode full --seed {s} --device cpu --out {tmp_path}"
        for s in (0, 3)]


def test_reproduce_runs_what_is_missing_then_nothing(tmp_path):
    cmd = [sys.executable, "-m", "advproof.cli", "reproduce", "--mode", "smoke", "--only",
           "cheng_setting", "--out", str(tmp_path)]
    first = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
    assert "missing -> done" in first.stdout
    assert (tmp_path / "cheng_setting" / "smoke" / "result.json").is_file()
    second = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
    assert "fresh" in second.stdout and "done" not in second.stdout


def test_slurm_launcher_goes_through_submitit(tmp_path):
    jobs = experiments.submit_slurm(["cheng_setting"], mode="smoke", device="cpu", seeds=[2],
                                    data_dir=None, out_dir=tmp_path, folder=str(tmp_path / "log"),
                                    cluster="debug")
    assert len(jobs) == 1
    summary = jobs[0].result()
    assert "accuracy" in summary
    assert (tmp_path / "cheng_setting" / "smoke" / "seed2" / "result.json").is_file()
