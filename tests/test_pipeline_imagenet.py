"""ImageNet through the pipeline with no manual step, offline, on the fixture archives.

``imagenet-2012``: fetch finds the three official files through the data sets' lookup
(here a mirror folder holding the miniature archives of ``tests/fixtures/ilsvrc.py``,
their pins overridden in a copy of params.yaml) and names where to put them when nobody
has them; prepare runs ``alexnet imagenet prepare`` itself. ``imagenet-bvlc``, every
stage: the same archives, plus a small synthetic caffemodel (real wire format, the
bvlc-alexnet layers, 3 classes, fc6/fc7 16 wide) served on 127.0.0.1 under the registry
pin the test overrides; the train stage imports it, evaluate scores it with 1 and 10
views, verify and report follow.

What this test cannot cover: the 2012 re-creation runs the bundled cfg pair of the
architecture, whose fc6/fc7 are 4096 wide with 1000 classes, so no small caffemodel of
the same architecture exists for it (a full-size one is 244 MB). Here the evaluate and
verify stages must say so (not run, naming the reason) and report nothing for that side.
The re-creation's side of the stage is covered in parts instead: the test-only 2012
batch file the stage writes, read by the 2012 provider, gives exactly the port's 227
views (below), and ``tests/test_verify_bvlc.py`` (slow) runs that path and the verifier
on a full-size imported caffemodel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from fixtures.caffemodel import caffe_net
from fixtures.ilsvrc import CLASSES, write_archives

from alexnet import registry
from alexnet.cli import cli
from alexnet.errors import ConfigError, DataError
from alexnet.modern.augment import Augmenter
from alexnet.modern.caffenets import BVLCNet
from alexnet.original import batches as b2012
from alexnet.original import convdata
from alexnet.pipeline.evaluate import evaluate_stage
from alexnet.pipeline.fetch import fetch, read_fetched
from alexnet.pipeline.params import resolve_profile
from alexnet.pipeline.prepare import prepare, write_test_batch
from alexnet.pipeline.report import write_report
from alexnet.pipeline.train import train_stage
from alexnet.pipeline.verify import verify_stage

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALEXNET_MIRROR", raising=False)
    mirror = write_archives(tmp_path / "mirror")
    p = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for f in p["datasets"]["ilsvrc2012"]["archives"]["files"]:
        f["md5"] = hashlib.md5((mirror / f["file"]).read_bytes()).hexdigest()
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(p, sort_keys=False), encoding="utf-8")
    return tmp_path, mirror, params


def test_imagenet_2012_fetch_names_where_the_files_go_when_absent(world):
    tmp, _, params = world
    prof = resolve_profile(params, "imagenet-2012")
    with pytest.raises(DataError) as exc:
        fetch(prof, tmp / "p" / "fetch", data_dir=tmp / "data", progress=False,
              echo=lambda s: None)
    msg = str(exc.value)
    assert "\n" not in msg and "no public URL" in msg
    assert f"{tmp / 'data' / 'ilsvrc2012'}/" in msg and "ILSVRC2012_devkit_t12.tar.gz" in msg
    assert not (tmp / "p" / "fetch").exists()   # nothing half-written


def test_imagenet_2012_and_bvlc_run_with_no_manual_step(world, monkeypatch, http_server):
    tmp, mirror, params = world
    pipe = tmp / "p"
    prof = resolve_profile(params, "imagenet-2012")
    fetch(prof, pipe / "fetch", data_dir=tmp / "data", mirror=str(mirror), progress=False,
          echo=lambda s: None)
    info = prepare(pipe / "fetch", pipe / "prepare", prof.prepare, progress=False)
    images = pipe / "prepare" / "images"
    assert sorted(p.name for p in (images / "val").iterdir()) == sorted(w for _, w, _ in
                                                                        CLASSES)
    assert (images / "classes.tsv").is_file() and info["test_images"] == 4
    assert read_fetched(pipe / "fetch").data == images
    assert not list(pipe.glob(".prepare-*"))   # the resumable scratch folders are gone

    pipe_b = tmp / "bvlc"
    # imagenet-bvlc on the same files, in a pipeline folder of its own: fetch the
    # pinned weights, import, evaluate, verify, report. fc8 has zero weights and one
    # large bias: the net answers output 1 for every image, which must be scored as the
    # 2nd class in sorted-wnid order
    state = {k: v.clone() for k, v in BVLCNet("bvlc-alexnet", seed=5, hidden=16,
                                              num_classes=len(CLASSES)).state_dict().items()}
    state["fc8.weight"].zero_()
    state["fc8.bias"].zero_()
    state["fc8.bias"][1] = 20.0
    model = caffe_net(state, v1=True, legacy=True)
    ws = registry.WEIGHTS["bvlc-alexnet"]
    with http_server({ws.source.file: model}) as served:
        monkeypatch.setitem(registry.WEIGHTS, "bvlc-alexnet", dataclasses.replace(
            ws, source=dataclasses.replace(
                ws.source, url=f"{served.url}/{ws.source.file}",
                digests=(("sha1", hashlib.sha1(model).hexdigest()),))))
        bvlc = resolve_profile(params, "imagenet-bvlc")
        fetch(bvlc, pipe_b / "fetch", data_dir=tmp / "data", mirror=str(mirror),
              progress=False, echo=lambda s: None)
    assert bvlc.reported["top1_err"] == ws.reported[0].value
    # its data set is ilsvrc2012-val: the training archive is neither fetched nor
    # converted, and no training-set statistics are computed
    assert bvlc.dataset.name == "ilsvrc2012-val"
    fetched = json.loads((pipe_b / "fetch" / "sources.json").read_text())
    assert "ILSVRC2012_img_train.tar" not in {f["file"] for f in fetched["files"]}
    with pytest.raises(ConfigError, match="no training split.*set batches: false"):
        prepare(pipe_b / "fetch", pipe_b / "prepare", {**bvlc.prepare, "batches": True},
                progress=False)
    res = CliRunner().invoke(cli, ["prepare", "--params", str(params), "--profile",
                                   "imagenet-bvlc", "--fetched", str(pipe_b / "fetch"),
                                   "--out", str(pipe_b / "prepare"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "0 training and 4 test images at 256x256; no training-set statistics" in res.output
    bvlc_prep = json.loads((pipe_b / "prepare" / "dataset.json").read_text())
    assert "batches" not in bvlc_prep          # ImageNet: no 2012 batch files prepared
    assert not (pipe_b / "prepare" / "images" / "train").exists()
    assert not (pipe_b / "prepare" / "mean.npy").exists()
    assert not (pipe_b / "prepare" / "pca.json").exists()
    assert bvlc_prep["train_images"] == 0 and bvlc_prep["test_images"] == 4
    assert bvlc_prep["statistics"].startswith("none: the data set has no training split")
    summary = train_stage(bvlc, pipe_b / "fetch", pipe_b / "train", echo=lambda s: None)
    assert summary["arch"] == "bvlc-alexnet" and summary["epochs"] == 0
    # Caffe's mean, not the prepare stage's: no comparison claimed either way
    assert summary["mean_image_matches_prepare"] == "not applicable"
    doc = evaluate_stage(bvlc, pipe_b / "fetch", pipe_b / "train", pipe_b / "evaluate",
                         progress=False, echo=lambda s: None)
    assert set(doc["modern"]) == {"views_1", "views_10"}
    wnids = sorted(w for _, w, _ in CLASSES)
    assert doc["classes"] == wnids
    # validation images 1, 2, 3, 19877 carry devkit ids 2, 3, 1, 3: in the port's order
    # (sorted wnid folders) one image of wnids[0], two of wnids[1], one of wnids[2]
    confusion = json.loads((pipe_b / "plots" / "confusion.json").read_text())
    assert [c["actual"] for c in confusion] == [wnids[0], wnids[1], wnids[1], wnids[2]]
    assert {c["predicted"] for c in confusion} == {wnids[1]}
    for s in doc["modern"].values():      # right on the two images of wnids[1], exactly
        assert s["n"] == 4 and s["top1_err"] == pytest.approx(0.5, abs=1e-12)
    # the 2012 side: the bundled cfg is 1000 classes wide, this net 3; not run, and said
    assert doc["original"]["status"] == "skipped"
    assert "1000 outputs" in doc["original"]["why"] and "3 classes" in doc["original"]["why"]
    metrics = json.loads((pipe_b / "metrics" / "evaluate.json").read_text())
    assert set(metrics["modern"]) == {"views_1", "views_10"} and "original" not in metrics

    lines: list[str] = []
    ver = verify_stage(bvlc, pipe_b / "train", pipe_b / "verify", echo=lines.append)
    eq = ver["equivalence"]
    assert eq["passed"] is None and "fc6.weight is (16, 9216)" in eq["skipped"]
    assert "layers-bvlc-alexnet.cfg" in eq["skipped"]
    assert ver["verdict"].startswith("equivalence not checked")
    vmetrics = json.loads((pipe_b / "metrics" / "verify.json").read_text())
    assert vmetrics["equivalence_passed"] is None

    (md,) = [p for p in write_report(bvlc, pipe_b, tmp / "report") if p.suffix == ".md"]
    text = md.read_text(encoding="utf-8")
    # reported figures of the weight set beside the reproduced ones
    assert "| test error, top-1 | 42.9% | 50.00% (1 view), 50.00% (10 views) |" in text
    assert "models/bvlc_alexnet/readme.md" in text
    assert "Not run: the 2012 engine cannot run this net" in text
    sha1 = hashlib.sha1(model).hexdigest()
    assert "No training: the train stage imported `bvlc-alexnet`" in text and sha1 in text
    assert "| none: `bvlc-alexnet` imported |" in text
    assert "Training-set statistics (mean image, colour PCA): none: the data set has no " \
        "training split" in text


def test_the_test_only_2012_batch_gives_the_ports_227_views(tmp_path):
    """What the evaluate stage writes for the re-creation when prepare wrote no batches,
    read back by the 2012 ImageNet provider with Caffe's 227 crop of a 256 image (an odd
    margin: centre at 14, far corners at 29): the same ten views as the port's, mean
    subtracted, to the last bit (both subtract the same float32 mean window)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    labels = np.array([2, 0, 1])
    mean = rng.uniform(90, 130, (256, 256, 3)).astype(np.float32)
    num = write_test_batch(images, labels, tmp_path, classes=["a", "b", "c"], mean=mean)
    assert b2012.read_meta(tmp_path)["test_batches"] == [num]
    dic = b2012.read_batch(tmp_path, num)
    aug = Augmenter(mean=mean, out_size=227, pca_noise="off")
    for views in (1, 10):
        dp = convdata.get_instance(str(tmp_path), type="inet-lr-cropped", test=True,
                                   dp_params={"crop_size": 227,
                                              "multiview_test": int(views > 1)})
        data, labs = dp.prepare(dic, np.random.default_rng(0))
        assert dp.num_views == views and data.shape == (3 * 227 * 227, 3 * views)
        assert labs.reshape(-1).tolist() == labels.tolist() * views
        for v, (y, x, mirrored) in enumerate(aug.view_offsets(views)):
            port = aug.view_batch(images, y, x, mirrored)            # (n, 3, 227, 227)
            ours = data[:, 3 * v:3 * v + 3].T.reshape(3, 3, 227, 227)
            assert np.array_equal(ours, port), (views, v)
