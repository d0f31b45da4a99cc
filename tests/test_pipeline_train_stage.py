"""The train stage's run folder: an interrupted run resumes, a finished one starts afresh."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alexnet.pipeline.fetch import fetch
from alexnet.pipeline.params import resolve_profile
from alexnet.pipeline.train import TrainingStopped, train_stage

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def setup(tmp_path, monkeypatch, cifar_python_tarball, md5):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALEXNET_MIRROR", raising=False)
    tar = cifar_python_tarball(per_batch=20, test=20)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cifar-10-python.tar.gz").write_bytes(tar)
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["datasets"]["cifar10"]["source"] = "official"
    p["datasets"]["cifar10"]["official"].update({"url": "", "md5": md5(tar)})
    p["profiles"]["cifar10-80sec"]["train"].update({"epochs": 2, "batch": 25,
                                                     "device": "cpu"})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(p, sort_keys=False))
    prof = resolve_profile(params)
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
