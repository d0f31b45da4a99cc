"""ImageNet through the pipeline with no manual step, offline, on the fixture archives.

``imagenet-2012``: fetch finds the three official files through the data sets' lookup
(here a mirror folder holding the miniature archives of ``tests/fixtures/ilsvrc.py``,
their pins overridden in a copy of params.yaml) and names where to put them when nobody
has them; prepare runs ``alexnet imagenet prepare`` itself. ``imagenet-bvlc``: the same
archives, plus a small synthetic caffemodel (real wire format, 3 classes, fc6/fc7 16
wide) served on 127.0.0.1 under the registry pin the test overrides; the train stage
imports it and evaluate scores it with 1 and 10 views.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from fixtures.caffemodel import caffe_net
from fixtures.ilsvrc import CLASSES, write_archives

from alexnet import registry
from alexnet.errors import DataError
from alexnet.modern.caffenets import BVLCNet
from alexnet.pipeline.evaluate import evaluate_stage
from alexnet.pipeline.fetch import fetch, read_fetched
from alexnet.pipeline.params import resolve_profile
from alexnet.pipeline.prepare import prepare
from alexnet.pipeline.train import train_stage

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

    # imagenet-bvlc on the same files: fetch the pinned weights, import, evaluate
    state = {k: v.clone() for k, v in BVLCNet("bvlc-alexnet", seed=5, hidden=16,
                                              num_classes=len(CLASSES)).state_dict().items()}
    model = caffe_net(state, v1=True, legacy=True)
    ws = registry.WEIGHTS["bvlc-alexnet"]
    with http_server({ws.source.file: model}) as served:
        monkeypatch.setitem(registry.WEIGHTS, "bvlc-alexnet", dataclasses.replace(
            ws, source=dataclasses.replace(
                ws.source, url=f"{served.url}/{ws.source.file}",
                digests=(("sha1", hashlib.sha1(model).hexdigest()),))))
        bvlc = resolve_profile(params, "imagenet-bvlc")
        fetch(bvlc, pipe / "fetch", data_dir=tmp / "data", mirror=str(mirror),
              progress=False, echo=lambda s: None)
    assert bvlc.reported["top1_err"] == ws.reported[0].value
    summary = train_stage(bvlc, pipe / "fetch", pipe / "train", echo=lambda s: None)
    assert summary["arch"] == "bvlc-alexnet" and summary["epochs"] == 0
    doc = evaluate_stage(bvlc, pipe / "fetch", pipe / "train", pipe / "evaluate",
                         progress=False, echo=lambda s: None)
    assert set(doc["modern"]) == {"views_1", "views_10"}
    for s in doc["modern"].values():
        assert s["n"] == 4 and 0.0 <= s["top1_err"] <= 1.0
    metrics = json.loads((pipe / "metrics" / "evaluate.json").read_text())
    assert set(metrics["modern"]) == {"views_1", "views_10"}
