"""Data-parallel training under ``torchrun`` with the gloo backend, two CPU processes.

What must hold: the two replicas end bit-identical (DistributedDataParallel gives both
the same averaged gradient and the update rule is deterministic); the result matches a
single-process run with the same global ``--batch``; rank 0 alone writes one set of
checkpoints and metrics; a stopped job resumes under torchrun to the same weights as
an uninterrupted one. The net is ``cifar10-80sec`` (no dropout, whose masks each rank
draws for its own images), on 20 training images: three steps of 8, 8 and 4, so the
last step's uneven shares are part of the check.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from alexnet.modern import checkpoint as ck
from alexnet.modern.train import StopFlag, TrainConfig, finish_run, run_epochs, setup_run
from alexnet.registry import CIFAR10_CLASSES

WORKER = Path(__file__).parent / "fixtures" / "ddp_worker.py"

pytestmark = pytest.mark.skipif(not torch.distributed.is_available()
                                or not torch.distributed.is_gloo_available(),
                                reason="torch without the gloo backend")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp") / "data"
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 1)):
        for cls in CIFAR10_CLASSES:
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                    root / split / cls / f"{i}.png")
    return root


def _cfg(tmp_path: Path, data: Path, name: str) -> TrainConfig:
    return TrainConfig(arch="cifar10-80sec", data=str(data), out=str(tmp_path / name),
                       epochs=1, batch=8, seed=5, cache_dir=str(tmp_path / "cache"),
                       progress=False)


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", "2", *args]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def _single(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    run = setup_run(cfg)
    assert run.dist is None
    assert run_epochs(run, stop=StopFlag()) == "finished"
    finish_run(run)
    return {k: v.detach().clone() for k, v in run.model.state_dict().items()}


def test_two_gloo_processes_match_one_process(tmp_path, data):
    cfg = _cfg(tmp_path, data, "ddp")
    (tmp_path / "cfg.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    _torchrun(str(WORKER), str(tmp_path / "cfg.json"), str(tmp_path / "weights"), cwd=tmp_path)
    r0 = load_file(tmp_path / "weights" / "rank-0.safetensors")
    r1 = load_file(tmp_path / "weights" / "rank-1.safetensors")
    assert r0.keys() == r1.keys()
    for k in r0:  # replicas: the same averaged gradient, the same update -> identical
        assert torch.equal(r0[k], r1[k]), k
    alone = _single(_cfg(tmp_path, data, "alone"))
    for k in r0:
        # The same arithmetic up to the order of the float32 gradient sums (two half
        # batches summed by gloo vs one batch): differences of a few ulp per step, far
        # inside 1e-5 after three steps of weights of order 1e-2.
        torch.testing.assert_close(r0[k], alone[k], rtol=1e-4, atol=1e-5, msg=k)
    worst = max(float((r0[k] - alone[k]).abs().max()) for k in r0)
    print(f"largest |DDP - single process| weight difference: {worst:.3g}")
    m = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert m["distributed"] == {"world_size": 2, "backend": "gloo"}
    m1 = json.loads((tmp_path / "alone" / "metrics.json").read_text())
    # whole-minibatch figures, gathered from both ranks: the same as one process's
    assert m["epochs"][0]["train_loss"] == pytest.approx(m1["epochs"][0]["train_loss"],
                                                         rel=1e-5)
    assert m["final"]["top1_err"] == pytest.approx(m1["final"]["top1_err"], abs=1e-9)


def test_torchrun_cli_writes_once_and_resumes(tmp_path, data):
    common = ["--arch", "cifar10-80sec", "--batch", "8", "--seed", "5",
              "--cache", str(tmp_path / "cache"), "--no-progress"]
    out = tmp_path / "run"
    _torchrun("-m", "alexnet", "train", "--data", str(data), "--out", str(out), "--epochs",
              "2", "--max-steps", "4", *common, cwd=tmp_path)
    first = ck.read_checkpoint(out)
    assert first.meta["position"] == {"epoch": 1, "batch": 1, "step": 4}
    r = _torchrun("-m", "alexnet", "train", "--out", str(out), "--resume", *common,
                  cwd=tmp_path)
    assert r.stdout.count("test error top-1") == 1          # rank 0 reports, alone
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "finished" and [e["epoch"] for e in m["epochs"]] == [1, 2]
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert all(n.startswith("ckpt-") for n in names) and len(names) == 4  # keep=2 pairs
    # the same job without the stop: resuming continued it exactly
    straight = tmp_path / "straight"
    _torchrun("-m", "alexnet", "train", "--data", str(data), "--out", str(straight),
              "--epochs", "2", *common, cwd=tmp_path)
    a, b = ck.read_checkpoint(out), ck.read_checkpoint(straight)
    assert a.meta["position"] == b.meta["position"]
    for k, v in a.tensors.items():
        if k.startswith(("model/", "velocity/")):
            assert torch.equal(v, b.tensors[k]), k
