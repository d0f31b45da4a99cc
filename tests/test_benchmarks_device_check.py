"""benchmarks/device_check.sh: the prepared GPU run says plainly when it cannot run.

Its steps are the GPU halves of tests and benchmarks that have their own tests; what is
checked here is the script's own behaviour on a machine without a GPU (this suite's
machine): it measures nothing, writes no figure and says why in one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "device_check.sh"


def _run(out: Path, **env: str) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True,
                          env=e, timeout=120)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would run")
def test_without_a_gpu_nothing_is_measured(tmp_path):
    r = _run(tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [
        "device_check: torch sees no CUDA device here; nothing to check (ALLOW_CPU=1 to run "
        "anyway)"]
    assert list((tmp_path / "out").iterdir()) == []


def test_an_interpreter_without_torch_is_one_line(tmp_path):
    r = _run(tmp_path / "out", PYTHON="/bin/false")
    assert r.returncode == 1
    assert r.stderr.strip() == ("device_check: /bin/false cannot import torch; set PYTHON to "
                                "the interpreter that holds it")


def test_an_unwritable_out_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = _run(blocker / "out")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"device_check: cannot write to {blocker / 'out'}; expected a writable folder for the "
        "figures"]


def test_each_failed_step_is_counted_through_its_log(tmp_path):
    # an interpreter that answers the script's checks (-c) and fails every step: the status
    # must be the step's, not that of the tee that keeps its log
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\n[ "$1" = -c ] && exec {sys.executable} "$@"\n'
                    'echo "step ran: $*"\nexit 3\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    r = _run(out, PYTHON=str(fake), ALLOW_CPU="1")
    steps = ("cuda-build", "cuda-tests", "kernels", "end-to-end")
    assert r.returncode == len(steps), r.stdout + r.stderr
    for name in steps:
        assert f"== {name}: FAILED (exit 3)" in r.stdout
        assert (out / f"{name}.txt").read_text().startswith("step ran: ")
    assert (out / "machine.txt").is_file()
    assert len(list(out.iterdir())) <= 8  # what a lent machine sends back
