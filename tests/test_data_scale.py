"""The data path at ImageNet scale, on tiny folders built here.

Scoring reads only the split it scores (a ``val/``-only folder works, ``--limit`` limits
decoding, the training split is never opened); ``train --data`` reads the 2012 batch
folders that ``convert-cifar`` and ``convert-images`` write; ``convert-images`` keeps a
split the photographs already have. Training data in these tests is deliberately
unreadable where a test claims it is not read: decoding it would be reported as skipped
images (or refused as an unknown class), so the assertions see it.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alexnet.cli import cli
from alexnet.errors import DataError
from alexnet.modern.data import load_dataset
from alexnet.modern.evaluate import evaluate_checkpoint
from alexnet.modern.train import TrainConfig, train
from alexnet.original import batches as b2012
from alexnet.registry import CIFAR10_CLASSES

CLASSES = list(CIFAR10_CLASSES)  # the CIFAR-size nets have ten outputs


def _png(seed: int, size: int = 32) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _folder(root, splits=("train", "test"), per_class=1, size=32, classes=CLASSES):
    for k, split in enumerate(splits):
        for c, cls in enumerate(classes):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                (d / f"{i}.png").write_bytes(_png(100 * k + 10 * c + i, size))
    return root


def _run(invoke_args):
    return CliRunner().invoke(cli, [str(a) for a in invoke_args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-step cifar10-80sec run on a tiny image folder (its checkpoint is what we score)."""
    root = tmp_path_factory.mktemp("scale")
    data = _folder(root / "data")
    cfg = TrainConfig(arch="cifar10-80sec", data=str(data), out=str(root / "run"), epochs=1,
                      batch=4, cache_dir=str(root / "cache"), progress=False)
    res = train(cfg, max_steps=1)
    assert res.status == "stopped"
    return root


def test_evaluate_reads_a_val_only_folder(trained, tmp_path):
    val = tmp_path / "valonly"
    for c, cls in enumerate(("cat", "dog")):     # two of the ten classes
        (val / "val" / cls).mkdir(parents=True)
        (val / "val" / cls / "a.png").write_bytes(_png(500 + c))
    res = evaluate_checkpoint(trained / "run", val, cache_dir=str(tmp_path / "c"),
                              progress=False)
    assert res["n"] == 2 and res["skipped_images"] == 0


def test_evaluate_never_decodes_training_images(trained, tmp_path):
    data = _folder(tmp_path / "d", splits=("test",))
    (data / "train" / "cat").mkdir(parents=True)
    (data / "train" / "cat" / "broken.png").write_bytes(b"not an image")
    (data / "train" / "zebra").mkdir()                      # a class the net never saw
    (data / "train" / "zebra" / "x.png").write_bytes(_png(1))
    res = evaluate_checkpoint(trained / "run", data, cache_dir=str(tmp_path / "c"),
                              progress=False)
    assert res["n"] == 10 and res["skipped_images"] == 0


def test_limit_limits_decoding(trained, tmp_path):
    data = _folder(tmp_path / "d", splits=("test",))
    # sorted order: airplane, automobile, bird, cat, deer, dog, ...: a broken dog image
    # past the limit
    (data / "test" / "dog" / "9-broken.png").write_bytes(b"truncated")
    res = evaluate_checkpoint(trained / "run", data, cache_dir=str(tmp_path / "c"),
                              progress=False, limit=3)
    assert res["n"] == 3 and res["skipped_images"] == 0
    whole = evaluate_checkpoint(trained / "run", data, cache_dir=str(tmp_path / "c"),
                                progress=False)
    assert whole["n"] == 10 and whole["skipped_images"] == 1     # the broken one, once read


def test_evaluate_refuses_a_class_the_net_does_not_know(trained, tmp_path):
    data = _folder(tmp_path / "d", splits=("test",))
    (data / "test" / "horse2").mkdir()
    (data / "test" / "horse2" / "x.png").write_bytes(_png(3))
    r = _run(["evaluate", "--checkpoint", trained / "run", "--data", data, "--cache",
              tmp_path / "c", "--no-progress"])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "'horse2' is not in the expected classes" in r.output


def test_val_only_folder_loads_only_its_split(tmp_path):
    val = tmp_path / "v"
    (val / "val" / "dog").mkdir(parents=True)
    (val / "val" / "dog" / "a.png").write_bytes(_png(1))
    ds = load_dataset(val, size=32, cache_dir=tmp_path / "c", splits=("test",),
                      classes=CLASSES, progress=False)
    assert ds.train is None and ds.test.labels.tolist() == [CLASSES.index("dog")]
    with pytest.raises(DataError, match="no images under train/<class>/"):
        load_dataset(val, size=32, cache_dir=tmp_path / "c", progress=False)


# --------------------------------------------------------------------------------------
# The 2012 batch folders as training data


def test_train_reads_a_convert_cifar_batch_folder(tmp_path):
    src = _folder(tmp_path / "src", per_class=4)
    r = _run(["original", "convert-cifar", src, tmp_path / "b", "--batch-size", "16",
              "--no-progress"])
    assert r.exit_code == 0, r.output
    meta = b2012.read_meta(tmp_path / "b")
    assert meta["train_batches"] == [1, 2, 3] and meta["test_batches"] == [4]
    ds = load_dataset(tmp_path / "b", size=32, cache_dir=tmp_path / "c", progress=False)
    assert (len(ds.train), len(ds.test)) == (40, 40)
    assert ds.source["kind"] == "batches-2012" and ds.source["split_rule"] == "batches.meta"
    # the pixels are the images' own: column c*1024 + y*32 + x is pixel (y, x), channel c
    b1 = b2012.read_batch(tmp_path / "b", 1)
    assert np.array_equal(ds.train.images[0], b2012.column_to_image(b1["data"][:, 0], 32))
    r = _run(["train", "--arch", "cifar10-80sec", "--data", tmp_path / "b", "--out",
              tmp_path / "run", "--epochs", "1", "--batch", "4", "--cache", tmp_path / "c",
              "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "test error top-1" in r.output


def test_a_larger_batch_folder_is_brought_to_the_nets_size(tmp_path):
    """convert-images writes 40x40 here; a CIFAR-size net is served 32x32 (like folders)."""
    src = _folder(tmp_path / "src", splits=("train", "val"), size=48)
    s = b2012.convert_image_folder(src, tmp_path / "b", size=40, batch_size=4, progress=False)
    assert s["kept_split"] and s["ranges"] == {"train": "1-3", "val": "4-6"}
    ds = load_dataset(tmp_path / "b", size=32, cache_dir=tmp_path / "c", progress=False)
    assert ds.train.images.shape == (10, 32, 32, 3) and len(ds.test) == 10
    assert ds.source["stored_size"] == 40


def test_convert_images_keeps_an_existing_split(tmp_path):
    src = _folder(tmp_path / "src", splits=("train", "val", "test"))
    s = b2012.convert_image_folder(src, tmp_path / "b", size=32, batch_size=5, progress=False)
    assert s["images"] == {"train": 10, "val": 10, "test": 10}
    meta = b2012.read_meta(tmp_path / "b")
    assert meta["split_batches"] == {"train": [1, 2], "val": [3, 4], "test": [5, 6]}
    assert meta["train_batches"] == [1, 2] and meta["test_batches"] == [3, 4]
    assert meta["label_names"] == CLASSES
    for num, split in ((1, "train"), (3, "val"), (5, "test")):
        names = b2012.read_batch(tmp_path / "b", num)  # labels checked against the meta
        assert names["labels"].size
        raw = pickle.loads((tmp_path / "b" / f"data_batch_{num}").read_bytes(),
                           encoding="latin1")
        assert all(f.startswith(f"{split}/") for f in raw["filenames"])
    with pytest.raises(DataError, match="already split"):
        b2012.convert_image_folder(src, tmp_path / "b2", test_fraction=0.1, progress=False)


def test_convert_images_leaves_nothing_half_written(tmp_path):
    src = _folder(tmp_path / "src", splits=("train", "val"))
    (src / "val" / "dog" / "zz.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="zz.png: cannot decode image"):
        b2012.convert_image_folder(src, tmp_path / "b", size=32, batch_size=2, progress=False)
    assert not (tmp_path / "b").exists()
    assert not list(tmp_path.glob(".b.tmp-*"))


def test_a_broken_batches_meta_is_one_line(tmp_path):
    src = _folder(tmp_path / "src")
    b2012.convert_cifar10(src, tmp_path / "b", batch_size=3, progress=False)
    (tmp_path / "b" / "batches.meta").write_bytes(b"\x80\x02garbage")
    r = _run(["train", "--arch", "cifar10-80sec", "--data", tmp_path / "b", "--out",
              tmp_path / "run", "--epochs", "1", "--cache", tmp_path / "c", "--no-progress"])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert "batches.meta" in r.output
    assert not (tmp_path / "run").exists()
    assert not [p for p in (tmp_path / "c").glob("*")
                if p.is_dir() and p.name.startswith("batches-2012")]


def test_batches_meta_naming_a_missing_batch(tmp_path):
    src = _folder(tmp_path / "src")
    b2012.convert_cifar10(src, tmp_path / "b", batch_size=3, progress=False)
    meta = b2012.read_meta(tmp_path / "b")
    b2012.write_meta(tmp_path / "b", label_names=meta["label_names"],
                     data_mean=meta["data_mean"], num_cases_per_batch=3,
                     extra={"img_size": 32, "train_batches": [1, 2, 9], "test_batches": [3]})
    with pytest.raises(DataError, match="train_batches names batch 9, but there is no "
                                        "data_batch_9"):
        load_dataset(tmp_path / "b", size=32, cache_dir=tmp_path / "c", progress=False)


def test_an_old_batch_folder_uses_the_2011_convention(tmp_path):
    src = _folder(tmp_path / "src")
    b2012.convert_cifar10(src, tmp_path / "b", batch_size=10, progress=False)
    meta = b2012.read_meta(tmp_path / "b")
    b2012.write_meta(tmp_path / "b", label_names=meta["label_names"],
                     data_mean=meta["data_mean"], num_cases_per_batch=10,
                     extra={"img_size": 32})
    ds = load_dataset(tmp_path / "b", size=32, cache_dir=tmp_path / "c", progress=False)
    assert ds.source["split_rule"] == "last batch is the test set"
    assert (len(ds.train), len(ds.test)) == (10, 10)


def test_batch_folder_model_classes_must_agree(tmp_path):
    """Two class names in the meta; a net with ten outputs is refused, saying so."""
    src = _folder(tmp_path / "src", splits=("train", "val"), classes=("cat", "dog"))
    b2012.convert_image_folder(src, tmp_path / "b", size=32, progress=False)
    cfg = TrainConfig(arch="cifar10-80sec", data=str(tmp_path / "b"), out=str(tmp_path / "r"),
                      epochs=1, cache_dir=str(tmp_path / "c"), progress=False)
    with pytest.raises(DataError, match="2 classes, but the net 'cifar10-80sec' has 10"):
        train(cfg, max_steps=1)
