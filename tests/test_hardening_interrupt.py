"""Stopping a run on purpose: Ctrl-C (SIGINT) and SIGTERM to a real ``alexnet train``
process, and a step limit through the pipeline's stage.

Each must end with a line that says how to resume, never the word "error" (nothing went
wrong: the user asked), exit status 130, and a checkpoint the resumed run starts from.
The child trains the registry's smallest CIFAR net on the tiny CIFAR-10 tarball of the
test fixtures, so the whole file takes seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from alexnet.cli import cli, report_failure
from alexnet.modern import checkpoint as ck
from alexnet.pipeline.train import TrainingStopped

#: Seconds the child may take to import torch, load the data and reach its first
#: checkpoint on a loaded machine; and to stop once signalled (one minibatch and a save).
START_S, STOP_S = 120, 60


@pytest.fixture(scope="module")
def cifar(tmp_path_factory, make_cifar_tarball) -> Path:
    return make_cifar_tarball(tmp_path_factory.mktemp("data") / "tiny-cifar.tar.gz", n=8)


def _wait_for(cond, seconds: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before it was signalled:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run did not reach its first checkpoint in time")
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signalled_run_says_how_to_resume_and_exits_130(tmp_path, cifar, sig):
    out = tmp_path / "run"
    env = {**os.environ, "ALEXNET_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "alexnet", "train", "--arch", "cifar10-80sec", "--data",
         str(cifar), "--out", str(out), "--epochs", "1000", "--batch", "4",
         "--checkpoint-every", "1", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # a checkpoint on disk: the loop is running, and its handlers are installed
        _wait_for(lambda: (out / "checkpoints").is_dir()
                  and any((out / "checkpoints").glob("*.json")), START_S, proc)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=STOP_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = stdout + stderr
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "error" not in text.lower(), text
    assert f"continue with: alexnet train --out {out} --resume" in text
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "interrupted"
    # the checkpoint it names is where the resumed run starts
    assert ck.read_checkpoint(out).meta["position"]["epoch"] == 0


def test_a_pipeline_stage_stopped_on_purpose_is_not_an_error(capsys):
    assert report_failure(TrainingStopped("runs/x: training stopped (last checkpoint c); "
                                          "the next `dvc repro` resumes it")) == 130
    err = capsys.readouterr().err
    assert err.startswith("stopped: runs/x: ") and "error" not in err.lower()


def test_max_steps_says_how_to_resume(tmp_path, cifar):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, [
        "train", "--arch", "cifar10-80sec", "--data", str(cifar), "--out", str(out),
        "--epochs", "2", "--batch", "4", "--max-steps", "2", "--no-progress",
        "--cache", str(tmp_path / "cache")])
    # a step limit is the end the user asked for: exit 0, and the way on
    assert r.exit_code == 0 and "error" not in r.output.lower(), r.output
    assert f"continue with: alexnet train --out {out} --resume" in r.output
