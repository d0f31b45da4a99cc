"""The train stage's run folder: an interrupted run resumes, a finished one starts afresh."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.pipeline import tiny_cifar_params

from alexnet.pipeline.fetch import fetch
from alexnet.pipeline.train import TrainingStopped, train_stage

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def setup(tmp_path, monkeypatch, cifar_python_tarball):
    tar = cifar_python_tarball(per_batch=20, test=20)
    _, prof = tiny_cifar_params(tmp_path, monkeypatch, tar,
                                train={"epochs": 2, "batch": 25, "device": "cpu"})
    fetch(prof, tmp_path / "fetch", data_dir=tmp_path / "data", progress=False,
          echo=lambda _m: None)
    return prof, tmp_path


def test_interrupted_run_resumes_and_finished_run_restarts(setup):
    prof, tmp = setup
    out = tmp / "pipeline" / "train"
    lines: list[str] = []
    with pytest.raises(TrainingStopped, match="resumes it"):
        train_stage(prof, tmp / "fetch", out, progress=False, max_steps=3, echo=lines.append)
    # 100 training images in minibatches of 25: 4 steps per epoch, 8 in all
    s = train_stage(prof, tmp / "fetch", out, progress=False, echo=lines.append)
    assert any("resuming the interrupted run" in ln for ln in lines)
    assert s["epochs"] == 2 and 0.0 <= s["test_top1_err"] <= 1.0
    assert (tmp / "pipeline" / "metrics" / "train.json").is_file()

    lines.clear()
    again = train_stage(prof, tmp / "fetch", out, progress=False, echo=lines.append)
    assert any("holds a finished run" in ln and "starting afresh" in ln for ln in lines)
    # a CPU run is deterministic: training again gives the same numbers
    assert again["test_top1_err"] == s["test_top1_err"]
    assert again["train_loss"] == s["train_loss"]
