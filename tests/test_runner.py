"""The runner: checkpoint and resume (SIGKILL included), clear errors, stage checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from advproof import experiments, models, train

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TQDM_DISABLE": "1"}


def _data(n: int = 64):
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, 5, generator=gen)
    return X, (X[:, 0] + X[:, 1] > 0).long()


def _fit(checkpoint=None, stop_at=None, epochs=6):
    X, y = _data()
    model = models.MLP(5, (8,), 2, generator=torch.Generator().manual_seed(1))

    def schedule(t):
        if stop_at is not None and t >= stop_at:
            raise KeyboardInterrupt("killed")
        return 0.1

    result = train.train(model, X, y, num_epochs=epochs, lr=0.1, batch_size=16, attack="pgd",
                         attack_kwargs={"steps": 2, "random_start": True}, eps_schedule=schedule,
                         seed=3, progress=False, checkpoint=checkpoint)
    return model, result


def test_train_resumes_to_the_same_weights_as_an_uninterrupted_run(tmp_path):
    ref_model, ref = _fit()
    ckpt = tmp_path / "train.pt"
    with pytest.raises(KeyboardInterrupt):
        _fit(checkpoint=ckpt, stop_at=4)  # dies during epoch 4, after epoch 3 was saved
    assert torch.load(ckpt, weights_only=False)["epoch"] == 3
    model, resumed = _fit(checkpoint=ckpt)
    assert resumed.history == ref.history
    for a, b in zip(model.parameters(), ref_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_from_another_run_is_refused(tmp_path):
    ckpt = tmp_path / "train.pt"
    _fit(checkpoint=ckpt, epochs=2)
    with pytest.raises(ValueError, match="belongs to another run"):
        _fit(checkpoint=ckpt, epochs=3)


def test_stage_checkpoint_computes_once(tmp_path):
    calls = []
    ckpt = experiments.Checkpoint(tmp_path / "ckpt")
    assert ckpt.stage("a", lambda: calls.append(1) or {"x": 1}) == {"x": 1}
    assert experiments.Checkpoint(tmp_path / "ckpt").stage("a", lambda: calls.append(2)) == {
        "x": 1}
    assert calls == [1]
    ckpt.clear()
    assert not (tmp_path / "ckpt").exists()
    assert experiments.Checkpoint(None).stage("a", lambda: 5) == 5


def _run(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "advproof.cli", "run", "cheng_setting", "--mode", "smoke",
           "--out", str(out), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path):
    ref = _run(tmp_path / "ref")
    ref.communicate(timeout=600)
    assert ref.returncode == 0
    victim = _run(tmp_path / "killed")
    ckpt = tmp_path / "killed" / "cheng_setting" / "smoke" / "ckpt" / "train_multiclass.pt"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    out = tmp_path / "killed" / "cheng_setting" / "smoke"
    assert not (out / "result.json").exists(), "a killed run left a result"
    again = _run(tmp_path / "killed")
    again.communicate(timeout=600)
    assert again.returncode == 0
    read = [json.loads((d / "cheng_setting" / "smoke" / "result.json").read_text())
            for d in (tmp_path / "ref", tmp_path / "killed")]
    assert read[0]["result"] == read[1]["result"]
    assert not (out / "ckpt").exists(), "checkpoints are removed once the artifact is written"


@pytest.mark.parametrize(("args", "message"), [
    (["run", "nope"], "unknown experiment 'nope'"),
    (["run", "cheng_setting", "--device", "cuda"], "no CUDA GPU"),
    (["run", "cheng_setting", "--mode", "full", "--data", "/nonexistent"], "ADVPROOF_DATA"),
    (["run", "cheng_setting", "--mode", "cifar10"], "experiment cheng_setting has no 'cifar10'"),
    (["run", "thesis_overfitting", "--mode", "cifar10", "--data", "/nonexistent"],
     "cifar-10-batches-py"),
])
def test_bad_input_gives_one_clear_line(args, message, tmp_path):
    run = subprocess.run([sys.executable, "-m", "advproof.cli", *args, "--out", str(tmp_path)],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
