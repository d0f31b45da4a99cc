"""ImageNet class order: output k of an imported net is the k-th wnid in sorted order.

The devkit numbers its classes by ``ILSVRC2012_ID``, a different order; the validation
ground truth speaks in those ids. The miniature devkit here (``tests/fixtures/ilsvrc.py``)
gives its three classes ids in another order than their sorted wnids, and the
validation images below hold 1, 2 and 3 images of the 1st, 2nd and 3rd sorted wnid, so
that every mapping of outputs to folders gives a different error. A BVLC-format
caffemodel (real wire format, the bvlc-alexnet layers, fc6/fc7 16 wide, 3 outputs) whose
fc8 has zero weights and one large bias answers class k for every image; scored by
``evaluate`` on the prepared ``val/<wnid>/`` folders and asked by ``predict``, it must be
right exactly on the images of wnid sorted[k].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import torch
from click.testing import CliRunner
from fixtures.caffemodel import caffe_net
from fixtures.ilsvrc import CLASSES, jpeg, write_archives

from alexnet import registry
from alexnet.cli import cli
from alexnet.errors import DataError
from alexnet.imagenet.prepare import prepare
from alexnet.modern.caffenets import BVLCNet
from alexnet.modern.evaluate import evaluate_checkpoint, load_for_inference
from alexnet.modern.importers import import_caffe

SORTED = sorted(w for _, w, _ in CLASSES)            # n01440764, n01443537, n02105855
ID_OF = {w: i for i, w, _ in CLASSES}
WORDS = {w: words for _, w, words in CLASSES}
#: images per sorted class: 1, 2, 3 (validation image i is labelled GT[i - 1])
COUNTS = {SORTED[0]: 1, SORTED[1]: 2, SORTED[2]: 3}
GT = [ID_OF[w] for w in SORTED for _ in range(COUNTS[w])]


def test_the_fixture_orders_its_ids_otherwise_than_the_wnids():
    by_id = [w for _, w in sorted((i, w) for i, w, _ in CLASSES)]
    assert by_id != SORTED and registry.imagenet_class_order(by_id) == SORTED


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("class-order")
    val = {f"ILSVRC2012_val_{i:08d}.JPEG": jpeg(40 + i, 36, 20 + i)
           for i in range(1, len(GT) + 1)}
    src = write_archives(root / "src", val=val, gt="".join(f"{i}\n" for i in GT))
    prepare(src, root / "prepared", workers=1, progress=False)
    for w in SORTED:      # prepare sorted each image into its wnid's folder by the ids
        assert len(list((root / "prepared" / "val" / w).iterdir())) == COUNTS[w]
    return root


def constant_caffemodel(k: int) -> bytes:
    """The bvlc-alexnet layers (small fc6/fc7) answering class k whatever the image."""
    state = {n: t.clone() for n, t in BVLCNet("bvlc-alexnet", seed=3, hidden=16,
                                              num_classes=3).state_dict().items()}
    state["fc8.weight"].zero_()
    state["fc8.bias"] = torch.zeros(3)
    state["fc8.bias"][k] = 20.0
    return caffe_net(state, v1=False)


@pytest.mark.parametrize("k", range(3))
def test_output_k_scores_the_images_of_the_kth_sorted_wnid(prepared, tmp_path, k):
    model = tmp_path / f"constant-{k}.caffemodel"
    model.write_bytes(constant_caffemodel(k))
    with_words = import_caffe(model, tmp_path / "named",
                              classes=prepared / "prepared" / "classes.tsv")
    bare = import_caffe(model, tmp_path / "bare")             # no class file
    n = len(GT)
    for ckpt, views in ((with_words.checkpoint, 1), (bare.checkpoint, 1),
                        (with_words.checkpoint, 10)):
        r = evaluate_checkpoint(ckpt, prepared / "prepared", views=views, progress=False,
                                cache_dir=str(tmp_path / "cache"))
        # right on exactly the COUNTS[sorted[k]] images of that wnid: exact fractions
        # (p = e^20 / (e^20 + 2) for class k, no ties)
        assert r["n"] == n
        assert r["top1_err"] == pytest.approx(1 - COUNTS[SORTED[k]] / n, abs=1e-12)
    inf = load_for_inference(with_words.checkpoint)
    assert inf.classes == SORTED and inf.words == [WORDS[w] for w in SORTED]

    photo = next((prepared / "prepared" / "val" / SORTED[k]).iterdir())
    r = CliRunner().invoke(cli, ["predict", str(photo), "--weights",
                                 str(with_words.checkpoint.parent), "--json"])
    assert r.exit_code == 0, r.output
    best = json.loads(r.output)[0]["top"][0]
    assert (best["index"], best["words"]) == (k, WORDS[SORTED[k]])
    assert SORTED[k] in best["label"]


def test_a_class_file_in_devkit_id_order_is_refused_for_a_known_weight_set(
        prepared, tmp_path, monkeypatch):
    data = constant_caffemodel(0)
    model = tmp_path / "bvlc_alexnet.caffemodel"
    model.write_bytes(data)
    ws = registry.WEIGHTS["bvlc-alexnet"]
    monkeypatch.setitem(registry.WEIGHTS, "bvlc-alexnet", dataclasses.replace(
        ws, source=dataclasses.replace(ws.source, digests=(
            ("sha1", hashlib.sha1(data).hexdigest()),))))
    by_id = tmp_path / "classes-by-id.tsv"
    by_id.write_text("ILSVRC2012_ID\twnid\twords\n" + "".join(
        f"{i}\t{w}\t{words}\n" for i, w, words in sorted(CLASSES)), encoding="utf-8")
    out = tmp_path / "imported"
    with pytest.raises(DataError) as exc:
        import_caffe(model, out, classes=by_id)
    msg = str(exc.value)
    assert "\n" not in msg and str(by_id) in msg and "sorted WordNet ids" in msg
    assert not out.exists() or not any(out.iterdir())      # nothing half-written
    # the class file prepare wrote is in the outputs' order: accepted
    res = import_caffe(model, out, classes=prepared / "prepared" / "classes.tsv")
    assert res.weight_set == "bvlc-alexnet"
