"""``alexnet train / evaluate / predict`` end to end, and their one-line errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alexnet.cli import cli
from alexnet.modern import checkpoint as ck
from alexnet.registry import CIFAR10_CLASSES


@pytest.fixture
def standin(monkeypatch, tiny_build):
    def tiny(arch="tiny", **kw):
        kw.setdefault("classes", 3)
        kw.setdefault("side", 28)
        kw.setdefault("eps", 1e-4)
        return tiny_build(arch, **kw)

    monkeypatch.setattr(ck, "default_builder", tiny)


@pytest.fixture(scope="module")
def data(tmp_path_factory, make_image_folder):
    return make_image_folder(tmp_path_factory.mktemp("data") / "imgs", n_train=12, n_test=4)


def run(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output


def _one_line_error(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in out, out
    return lines[0]


def test_train_resume_evaluate_predict(tmp_path, data, standin):
    out, cache = tmp_path / "runs" / "t", tmp_path / "cache"
    code, text = run("train", "--arch", "tiny", "--data", data, "--out", out, "--epochs", 2,
                     "--batch", 8, "--cache", cache, "--no-progress", "--max-steps", 3)
    assert code == 0 and "--resume" in text
    code, text = run("train", "--out", out, "--resume", "--no-progress", "--cache", cache)
    assert code == 0 and "test error top-1" in text, text
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "finished" and len(m["epochs"]) == 2

    code, text = run("evaluate", "--checkpoint", out, "--views", 10, "--json",
                     tmp_path / "ev.json", "--cache", cache, "--no-progress")
    assert code == 0 and "10 view(s)" in text, text
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["n"] == 12 and 0 <= ev["top1_err"] <= 1 and ev["arch"] == "tiny"

    img = data / "test" / "frog" / "0001.png"
    code, text = run("predict", img, "--checkpoint", out, "--top", 2)
    assert code == 0 and str(img) in text, text
    probs = [float(ln.split("%")[0]) for ln in text.splitlines()[1:]]
    assert len(probs) == 2 and probs[0] >= probs[1]
    assert any(c in text for c in ("cat", "dog", "frog"))


def test_bad_inputs_are_one_line_errors(tmp_path, data, standin, make_cifar_tarball):
    out, cache = tmp_path / "r", tmp_path / "cache"
    # a tarball under the official name with the wrong checksum
    tb = make_cifar_tarball(tmp_path / "cifar-10-python.tar.gz", n=2)
    code, text = run("train", "--data", tb, "--out", tmp_path / "x", "--cache", cache,
                     "--no-progress")
    line = _one_line_error(text)
    assert code == 2 and str(tb) in line and "c58f30108f718f92721af3b95e74349a" in line

    run("train", "--arch", "tiny", "--data", data, "--out", out, "--epochs", 1, "--batch", 8,
        "--cache", cache, "--no-progress")
    # resuming with another architecture
    code, text = run("train", "--out", out, "--resume", "--arch", "cifar10-80sec",
                     "--cache", cache)
    line = _one_line_error(text)
    assert code == 2 and "'tiny'" in line and "'cifar10-80sec'" in line and ".json" in line
    # a truncated image and a CMYK one for predict
    buf = io.BytesIO()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(buf, "JPEG")
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(buf.getvalue()[:200])
    code, text = run("predict", bad, "--checkpoint", out)
    assert code == 2 and str(bad) in _one_line_error(text)
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (50, 40), (0, 0, 255, 0)).save(cmyk)
    code, text = run("predict", cmyk, "--checkpoint", out)
    assert code == 0 and str(cmyk) in text
    # a checkpoint that is not one
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    code, text = run("evaluate", "--checkpoint", junk, "--cache", cache)
    assert code == 2 and str(junk) in _one_line_error(text)
    # missing data
    code, text = run("train", "--data", tmp_path / "nope", "--out", tmp_path / "y")
    assert code == 2 and "nope" in _one_line_error(text)


# ---- the real network (needs modern-net's build_model)


def _real_available() -> bool:
    try:
        from alexnet.modern import available_archs

        return "cifar10-80sec" in available_archs()
    except Exception:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _real_available(), reason="build_model('cifar10-80sec') not available")
def test_real_80sec_net_trains_resumes_evaluates_predicts(tmp_path, make_image_folder):
    classes = CIFAR10_CLASSES
    data = make_image_folder(tmp_path / "d", classes=classes, n_train=24, n_test=6, fmt="jpg")
    out, cache = tmp_path / "runs" / "real", tmp_path / "cache"
    common = ("--cache", cache, "--no-progress")
    code, text = run("train", "--arch", "cifar10-80sec", "--data", data, "--out", out,
                     "--epochs", 1, "--batch", 32, "--max-steps", 4, *common)
    assert code == 0, text
    code, text = run("train", "--out", out, "--resume", *common)
    assert code == 0 and "test error top-1" in text, text
    c = ck.read_checkpoint(out)
    assert c.arch == "cifar10-80sec" and c.meta["position"] == {"epoch": 1, "batch": 0,
                                                               "step": 8}
    assert "velocity/conv1.weights[0]" in c.tensors
    code, text = run("evaluate", "--checkpoint", out, "--views", 9, *common)
    assert code == 0 and "60 test images" in text, text
    code, text = run("predict", data / "test" / "ship" / "0000.jpg", "--checkpoint", out)
    assert code == 0 and len(text.splitlines()) == 6, text
