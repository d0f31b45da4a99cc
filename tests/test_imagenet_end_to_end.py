"""The ILSVRC-2012 path end to end, on a miniature of the official files built here.

official tars + devkit -> ``alexnet imagenet prepare`` -> ``alexnet original
convert-images`` (the prepared split kept) -> ``alexnet train`` of AlexNet2012 on those
2012 batches (256x256 stored, 224x224 crops; seeded initial weights, one step) ->
``alexnet evaluate`` with 1 and 10 views on the prepared ``val/`` and on the batches ->
the 2012 re-creation (numpy engine, 2012 data provider) on the same weights and images
-> ``alexnet predict`` on a validation photo. A handful of images, so it stays a unit
test. The miniature devkit has three classes; the net keeps AlexNet's 1000 outputs, the
other 997 being placeholder class names given to ``convert-images`` (so evaluation also
scores a ``val/`` folder holding only some of the net's classes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.ilsvrc import write_archives

from alexnet.cli import cli
from alexnet.imagenet.prepare import prepare
from alexnet.modern.data import load_dataset
from alexnet.modern.evaluate import evaluate_checkpoint, load_for_inference, predict_probs
from alexnet.modern.train import TrainConfig, train
from alexnet.original import batches as b2012
from alexnet.pipeline.evaluate import evaluate_recreation

WNIDS = ["n01440764", "n01443537", "n02105855"]
#: the net's 1000 classes: the miniature's three, then placeholders (sorting after them)
CLASSES = WNIDS + [f"n9{i:07d}" for i in range(1000 - len(WNIDS))]


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    root = tmp_path_factory.mktemp("ilsvrc-e2e")
    src = write_archives(root / "src")
    prepared = root / "prepared"
    report = prepare(src, prepared, workers=1, progress=False)
    assert report["splits"]["val"]["written"] == 4
    s = b2012.convert_image_folder(prepared, root / "batches", size=256, batch_size=8,
                                   label_names=CLASSES, progress=False)
    assert s["kept_split"] and s["images"] == {"train": 5, "val": 4}
    cfg = TrainConfig(arch="alexnet2012", data=str(root / "batches"), out=str(root / "run"),
                      epochs=1, batch=5, seed=1, cache_dir=str(root / "cache"),
                      progress=False)
    res = train(cfg, max_steps=1)
    assert res.status == "stopped" and res.checkpoint is not None
    return root


def test_the_run_read_the_batches_as_224_crops_of_256(walk):
    inf = load_for_inference(walk / "run")
    assert inf.classes == CLASSES
    assert inf.stored_size == 256 and tuple(inf.model.input_shape) == (3, 224, 224)
    assert inf.ckpt.config["data"]["kind"] == "batches-2012"


def test_evaluate_on_the_prepared_val_folder_and_the_batches(walk):
    on_folder = evaluate_checkpoint(walk / "run", walk / "prepared", views=1,
                                    cache_dir=str(walk / "cache"), progress=False)
    on_batches = evaluate_checkpoint(walk / "run", walk / "batches", views=1,
                                     cache_dir=str(walk / "cache"), progress=False)
    assert on_folder["n"] == on_batches["n"] == 4
    for r in (on_folder, on_batches):
        assert 0 <= r["top1_err"] <= 1 and 0 <= r["top5_err"] <= r["top1_err"]
        assert np.isfinite(r["loss"])
    # the same pixels either way (the batch files hold the prepared JPEGs' decoding),
    # in another order (batches are shuffled): the same error
    assert on_folder["top1_err"] == pytest.approx(on_batches["top1_err"], abs=1e-12)
    assert on_folder["loss"] == pytest.approx(on_batches["loss"], rel=1e-6)


def test_evaluate_with_10_views_and_a_limit(walk):
    """Ten views (corners, centre, mirrors) of the first two validation images only."""
    r = evaluate_checkpoint(walk / "run", walk / "prepared", views=10, limit=2,
                            cache_dir=str(walk / "cache"), progress=False)
    assert (r["n"], r["views"]) == (2, 10)
    assert 0 <= r["top5_err"] <= r["top1_err"] <= 1 and np.isfinite(r["loss"])


def test_both_implementations_agree_with_1_and_10_views(walk, tmp_path):
    inf = load_for_inference(walk / "run")
    ds = load_dataset(walk / "batches", size=256, cache_dir=walk / "cache", progress=False,
                      splits=("test",))
    n = 2  # the first two images of the test batch (the numpy engine is slow at 224)
    labels = np.asarray(ds.test.labels, np.int64)[:n]
    port = {v: predict_probs(inf.model, ds.test.images[:n], inf.aug, views=v)
            for v in (1, 10)}
    test_batch = b2012.read_meta(walk / "batches")["test_batches"][0]
    res = evaluate_recreation(inf, walk / "batches", test_batch, tmp_path, [1, 10], n, port,
                              labels, n, echo=lambda _m: None)
    assert res["status"] == "ok", res
    for v in (1, 10):
        r = res["views"][f"views_{v}"]
        assert r["n"] == n
        assert r["agreement"] == 1.0                  # the same top-1 class per image
        # the same float32 net computed in different summation orders (numpy's im2col
        # products vs torch's convolutions, eight layers deep): logits agree to about
        # 1e-6 relative, probabilities to within 1e-5 (1.1e-6 measured here)
        assert r["max_abs_prob_diff"] < 1e-5
        assert r["top1_err"] == pytest.approx(r["port_top1_err"], abs=1e-12)


def test_predict_a_validation_photo(walk):
    photo = next((walk / "prepared" / "val" / WNIDS[0]).iterdir())
    r = CliRunner().invoke(cli, ["predict", str(photo), "--checkpoint", str(walk / "run"),
                                 "--json"])
    assert r.exit_code == 0, r.output
    top = json.loads(r.output)[0]["top"]
    assert len(top) == 5
    probs = [t["prob"] for t in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert all(CLASSES[t["index"]] in t["label"] for t in top)   # wnid (and words, if any)
