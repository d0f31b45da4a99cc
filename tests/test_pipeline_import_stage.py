"""The imagenet-bvlc profile's "no training": fetch pins and downloads the caffemodel,
the train stage imports it (the ``alexnet weights import caffe`` code path).

Offline: a server on 127.0.0.1 serves a small synthetic caffemodel (fc6/fc7 16 wide,
10 classes, real wire format) under the published file name, and the test points the
registry's bvlc-alexnet pin at that file's sha1 and the server's URL. The data set is
the tiny CIFAR-10 tarball of the pipeline fixtures (only its manifest entry is read).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from fixtures.caffemodel import caffe_net

from alexnet import registry
from alexnet.download import Pin
from alexnet.errors import ConfigError
from alexnet.modern import checkpoint as ck
from alexnet.modern.caffenets import BVLCNet
from alexnet.pipeline.fetch import fetch
from alexnet.pipeline.params import resolve_profile
from alexnet.pipeline.train import train_stage

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALEXNET_MIRROR", raising=False)
    return tmp_path / "cache"


def test_imagenet_bvlc_train_stage_imports_the_fetched_weights(
        tmp_path, cache, monkeypatch, http_server, cifar_python_tarball, md5):
    state = {k: v.clone() for k, v in BVLCNet("bvlc-alexnet", seed=5, hidden=16,
                                              num_classes=10).state_dict().items()}
    model = caffe_net(state, v1=True, legacy=True)
    tar = cifar_python_tarball(per_batch=4, test=4)
    ws = registry.WEIGHTS["bvlc-alexnet"]
    name = ws.source.file
    with http_server({name: model, "cifar-10-python.tar.gz": tar}) as served:
        monkeypatch.setitem(registry.WEIGHTS, "bvlc-alexnet", dataclasses.replace(
            ws, source=dataclasses.replace(
                ws.source, url=f"{served.url}/{name}",
                digests=(("sha1", hashlib.sha1(model).hexdigest()),))))
        prof = resolve_profile(REPO / "params.yaml", "imagenet-bvlc")
        assert prof.train == {"import_weights": "bvlc-alexnet"}
        assert prof.weights[0][1].url == f"{served.url}/{name}"
        cifar = resolve_profile(REPO / "params.yaml", "cifar10-80sec").dataset
        cifar = dataclasses.replace(cifar, source="official", kind="cifar-python", pins=(
            Pin("cifar-10-python.tar.gz", {"md5": md5(tar)},
                url=f"{served.url}/cifar-10-python.tar.gz"),))
        prof = dataclasses.replace(prof, dataset=cifar)
        fetch(prof, tmp_path / "fetch", data_dir=tmp_path / "data", progress=False,
              echo=lambda s: None)
    lines: list[str] = []
    summary = train_stage(prof, tmp_path / "fetch", tmp_path / "train", echo=lines.append)
    assert summary["arch"] == "bvlc-alexnet"
    assert summary["epochs"] == 0 and summary["test_top1_err"] is None  # nothing trained
    assert lines[0].startswith("equivalent command: alexnet weights import caffe ")
    metrics = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["config"]["arch"] == "bvlc-alexnet"
    assert metrics["imported"]["weight_set"] == "bvlc-alexnet"
    ckpt = ck.read_checkpoint(ck.find_checkpoint(tmp_path / "train" / "checkpoints"))
    assert ckpt.arch == "bvlc-alexnet"
    got = ckpt.group("model")
    for k in ("conv1.weight", "fc8.bias"):   # the bytes served, imported unchanged
        assert bool((got[k] == state[k]).all()), k
    curve = json.loads((tmp_path / "metrics" / "train.json").read_text())
    assert curve["profile"] == "imagenet-bvlc"

    # a weight set the profile did not fetch: one line naming the key
    bad = dataclasses.replace(prof, train={"import_weights": "bvlc-caffenet"})
    with pytest.raises(ConfigError, match=r"imagenet-bvlc\.train\.import_weights"):
        train_stage(bad, tmp_path / "fetch", tmp_path / "train2", echo=lambda s: None)
