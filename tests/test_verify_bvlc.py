"""``alexnet verify --arch bvlc-alexnet|bvlc-caffenet --weights DIR`` on imported weights,
and the evaluate stage's 2012 side (the test-only batch file, Caffe's 227 views) on them.

The only honest input is a full-size network: the 2012 engine runs the bundled cfg pairs
(``layers-bvlc-alexnet*.cfg``, ``layers-bvlc-caffenet*.cfg``), whose fc6/fc7 are 4096
wide with 1000 classes, and verify has no option to shrink them. So each test writes a
seeded full-size ``.caffemodel`` (V1 ``layers``, 4-number blob shapes, as the model zoo
files are; 244 MB in ``tmp_path``), imports it with ``alexnet weights import caffe`` and
verifies the imported checkpoint with the command line, then scores two images with
both implementations the way the pipeline's evaluate stage does for ``imagenet-bvlc``.
Measured on a loaded 2-core machine: about 21 s per architecture (write, import and
verify) plus the scoring, 3.3 GB peak memory.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.caffemodel import caffe_net

from alexnet.cli import cli
from alexnet.modern.caffenets import BVLCNet
from alexnet.modern.evaluate import load_for_inference, predict_probs
from alexnet.pipeline.evaluate import evaluate_recreation
from alexnet.pipeline.prepare import write_test_batch

# the pooling/normalisation order each published model writes in its prototxt
ORDER = {"bvlc-alexnet": "norm-pool", "bvlc-caffenet": "pool-norm"}


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(ORDER))
def test_verify_passes_on_an_imported_full_size_caffemodel(tmp_path, arch):
    state = {k: v.clone() for k, v in BVLCNet(arch, seed=7).state_dict().items()}
    model = tmp_path / f"{arch}.caffemodel"
    model.write_bytes(caffe_net(state, v1=True, legacy=True, order=ORDER[arch]))
    del state
    run = CliRunner()
    out = tmp_path / "imported"
    r = run.invoke(cli, ["weights", "import", "caffe", str(model), "--out", str(out),
                         "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["arch"] == arch   # told apart by the layer order alone
    model.unlink()                                 # 244 MB less while verify runs

    report = tmp_path / "verify.json"
    r = run.invoke(cli, ["verify", "--arch", arch, "--weights", str(out), "--no-report",
                         "--json", str(report), "-q"])
    assert r.exit_code == 0, r.output
    res = json.loads(report.read_text(encoding="utf-8"))
    (suite,) = res["suites"]
    assert res["passed"] and suite["passed"] and suite["arch"] == arch
    assert suite["description"].startswith(f"{arch} (port) against the 2012 engine on "
                                           f"layers-{arch}.cfg")
    # every layer's forward, every gradient and the update, each within its tolerance
    checks = suite["checks"]
    assert len(checks) == 95 and all(c["passed"] for c in checks)

    # the evaluate stage's 2012 side (imagenet-bvlc: no prepared batches): two 256x256
    # images in a test-only batch file with the checkpoint's (Caffe's) mean, read by the
    # 2012 provider as 227 crops, 1 and 10 views, beside the port on the same images
    inf = load_for_inference(out)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    labels = np.array([3, 999])
    port = {v: predict_probs(inf.model, images, inf.aug, views=v) for v in (1, 10)}
    num = write_test_batch(images, labels, tmp_path / "batches",
                           classes=[f"n{i:08d}" for i in range(1000)], mean=inf.aug.mean)
    res = evaluate_recreation(inf, tmp_path / "batches", num, tmp_path / "evaluate", [1, 10],
                              2, port, labels, 2, echo=lambda _m: None)
    assert res["status"] == "ok", res
    for v in (1, 10):
        r = res["views"][f"views_{v}"]
        assert r["n"] == 2 and r["agreement"] == 1.0
        # the same float32 net in two summation orders (numpy im2col products, torch's
        # convolutions), eight layers deep: probabilities agree to well within 1e-5
        assert r["max_abs_prob_diff"] < 1e-5
