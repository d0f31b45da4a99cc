"""Weights of the wrong dtype are refused by every command that loads them, not cast.

``check_weights`` refuses them at the library level (tests/test_hardening.py); these tests
go through the commands a user types (``verify``, ``evaluate``, ``predict``,
``train --resume``), because a command that built its model another way, or cast on load,
would score or continue from silently converted weights.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file, save_file

from alexnet.cli import cli
from alexnet.modern import checkpoint as ck
from alexnet.registry import CIFAR10_CLASSES

ARCH = "cifar10-80sec"


def run(*args) -> tuple[int, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory, make_image_folder):
    """A real two-step run of the 80sec net: its run folder, data and cache."""
    tmp = tmp_path_factory.mktemp("dtype")
    data = make_image_folder(tmp / "d", classes=CIFAR10_CLASSES, n_train=3, n_test=1)
    out, cache = tmp / "run", tmp / "cache"
    code, text = run("train", "--arch", ARCH, "--data", data, "--out", out, "--epochs", 2,
                     "--batch", 16, "--max-steps", 2, "--cache", cache, "--no-progress")
    assert code == 0, text
    return out, data, cache


@pytest.fixture(params=[torch.float64, torch.float16])
def bad_run(request, trained, tmp_path):
    """A copy of the run whose latest checkpoint holds model weights of another dtype."""
    src, data, cache = trained
    out = tmp_path / "run"
    shutil.copytree(src, out)
    meta_p = ck.find_checkpoint(out)
    meta = json.loads(meta_p.read_text())
    st = meta_p.parent / meta["tensors"]["file"]
    tensors = load_file(st)
    tensors = {k: v.to(request.param) if k.startswith("model/") else v
               for k, v in tensors.items()}
    save_file(tensors, st)
    meta["tensors"]["sha256"] = hashlib.sha256(st.read_bytes()).hexdigest()
    meta_p.write_text(json.dumps(meta))
    return out, meta_p, str(request.param).removeprefix("torch."), data, cache


def _refused(code: int, text: str, meta_p: Path, dtype: str) -> None:
    """Exit 2, one line naming the checkpoint, a tensor, its dtype and the expected one."""
    assert code == 2, text
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, text  # progress lines before it are fine; one error line
    assert re.fullmatch(rf"error: {re.escape(str(meta_p))}: layers\.\S+ is {dtype}, the model "
                        r"needs float32 \(.*\)", lines[0]), lines[0]


def test_verify_refuses_wrong_dtype(bad_run):
    out, meta_p, dtype, _, _ = bad_run
    _refused(*run("verify", "--weights", meta_p), meta_p, dtype)


def test_evaluate_refuses_wrong_dtype(bad_run):
    out, meta_p, dtype, data, cache = bad_run
    _refused(*run("evaluate", "--checkpoint", out, "--data", data, "--cache", cache,
                  "--no-progress"), meta_p, dtype)


def test_predict_refuses_wrong_dtype(bad_run, tmp_path):
    out, meta_p, dtype, _, _ = bad_run
    img = tmp_path / "x.png"
    Image.new("RGB", (32, 32), (120, 30, 200)).save(img)
    _refused(*run("predict", "--checkpoint", out, img), meta_p, dtype)


def test_train_resume_refuses_wrong_dtype(bad_run):
    out, meta_p, dtype, _, cache = bad_run
    before = sorted(p.name for p in out.rglob("*"))
    _refused(*run("train", "--out", out, "--resume", "--cache", cache, "--no-progress"),
             meta_p, dtype)
    assert sorted(p.name for p in out.rglob("*")) == before  # nothing written
