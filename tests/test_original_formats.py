"""The 2012 data-batch format: writing, reading, converters, providers, bad files."""

from __future__ import annotations

import pickle
import pickletools
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alexnet.errors import DataError
from alexnet.original import batches, convdata, pickling
from alexnet.registry import CIFAR10_CLASSES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _tiny_folder(tmp_path: Path, n: int = 12, size: int = 32, classes: int = 10) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "batches"
    for k in (1, 2):
        data = rng.integers(0, 256, (3 * size * size, n)).astype(np.uint8)
        batches.write_batch(folder, k, data, rng.integers(0, classes, n))
    batches.write_meta(folder, label_names=[f"c{i}" for i in range(classes)],
                       data_mean=np.full(3 * size * size, 127.5), num_cases_per_batch=n,
                       extra={"dp_type": "cifar"})
    return folder


def test_batch_round_trip_and_pixel_layout(tmp_path):
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    img[0, 1] = (10, 20, 30)                        # row 0, column 1
    col = batches.image_to_column(Image.fromarray(img))
    # channel-major: index c*H*W + y*W + x
    assert col[0 * 1024 + 0 * 32 + 1] == 10 and col[1 * 1024 + 1] == 20 and col[2048 + 1] == 30
    assert np.array_equal(batches.column_to_image(col, 32), img)
    data = np.stack([col, col[::-1]], axis=1)
    batches.write_batch(tmp_path, 7, data, [3, 4], filenames=["a", "b"])
    batches.write_meta(tmp_path, label_names=[str(i) for i in range(10)],
                       data_mean=data.mean(axis=1), num_cases_per_batch=2)
    back = batches.read_batch(tmp_path, 7)
    assert back["data"].dtype == np.uint8 and np.array_equal(back["data"], data)
    assert back["labels"].tolist() == [3, 4]
    assert batches.batch_numbers(tmp_path) == [7]
    meta = batches.read_meta(tmp_path)
    assert meta["data_mean"].shape == (3072, 1) and meta["data_mean"].dtype == np.float32


def test_split_batches_are_concatenated(tmp_path):
    folder = _tiny_folder(tmp_path)
    one = pickling.load(folder / "data_batch_1")
    for k, sl in ((1, slice(0, 5)), (2, slice(5, 12))):
        part = {"data": one["data"][:, sl], "labels": one["labels"][sl]}
        pickling.dump_atomic(part, folder / f"data_batch_9.{k}")
    back = batches.read_batch(folder, 9)
    assert np.array_equal(back["data"], one["data"])


def test_files_are_protocol_2_with_python2_names(tmp_path):
    folder = _tiny_folder(tmp_path)
    raw = (folder / "data_batch_1").read_bytes()
    globals_used, max_proto = set(), 0
    for op, arg, _pos in pickletools.genops(raw):
        max_proto = max(max_proto, op.proto)
        if op.name == "GLOBAL":
            globals_used.add(arg)
    assert max_proto <= 2
    # what a 2012 numpy under Python 2 can import; no _codecs detour for the bytes
    assert globals_used <= {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


@pytest.mark.parametrize("damage", ["shape", "dtype", "labels", "count", "truncated", "type"])
def test_bad_batch_files_are_refused_with_the_file_name(tmp_path, damage):
    folder = _tiny_folder(tmp_path)
    path = folder / "data_batch_2"
    good = pickling.load(path)
    if damage == "shape":
        good["data"] = good["data"][:100]
    elif damage == "dtype":
        good["data"] = good["data"].astype(np.float64)
    elif damage == "labels":
        good["labels"] = [99] * len(good["labels"])
    elif damage == "count":
        good["labels"] = good["labels"][:-1]
    elif damage == "type":
        good = [1, 2, 3]
    pickling.dump_atomic(good, path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_2"):
        batches.read_batch(folder, 2)


def test_missing_meta_and_missing_batch(tmp_path):
    with pytest.raises(DataError, match="no batches.meta"):
        batches.read_meta(tmp_path)
    folder = _tiny_folder(tmp_path)
    with pytest.raises(DataError, match="data_batch_5: no such batch"):
        batches.read_batch(folder, 5)


def _make_cifar_tree(root: Path, per_class: int = 2) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, cls in enumerate(CIFAR10_CLASSES):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                a = np.full((32, 32, 3), k * 20, dtype=np.uint8)
                a[0, 0] = rng.integers(0, 256, 3)
                Image.fromarray(a).save(d / f"{i:04d}.png")


def test_convert_cifar_image_folder_and_tarball(tmp_path):
    tree = tmp_path / "tree"
    _make_cifar_tree(tree)
    s1 = batches.convert_cifar10(tree, tmp_path / "out1", batch_size=8)
    assert s1["train_images"] == 20 and s1["test_images"] == 20
    assert s1["train_batches"] == [1, 2, 3] and s1["test_batch"] == 4
    b = batches.read_batch(tmp_path / "out1", 1)
    # PNG is lossless: every pixel but the first is k*20 for class k
    for j, lab in enumerate(b["labels"]):
        assert b["data"][5, j] == lab * 20
    meta = batches.read_meta(tmp_path / "out1")
    assert meta["label_names"] == list(CIFAR10_CLASSES) and meta["dp_type"] == "cifar"
    tgz = tmp_path / "cifar.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tree / "train", arcname="train")
        tar.add(tree / "test", arcname="test")
    s2 = batches.convert_cifar10(tgz, tmp_path / "out2", batch_size=8)
    assert s2["train_batches"] == s1["train_batches"]
    b2 = batches.read_batch(tmp_path / "out2", 1)
    assert np.array_equal(b["data"], b2["data"])            # same seed, same order


def test_convert_official_python_tarball(tmp_path):
    """The official layout: Python 2 pickles of row-per-image uint8 batches."""
    rng = np.random.default_rng(1)
    src = tmp_path / "cifar-10-batches-py"
    src.mkdir()
    rows = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        rows[name] = rng.integers(0, 256, (4, 3072)).astype(np.uint8)
        with open(src / name, "wb") as f:
            pickle.dump({b"data": rows[name], b"labels": [1, 2, 3, 4]}, f, protocol=2)
    with open(src / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR10_CLASSES]}, f,
                    protocol=2)
    # not the official name: under it the published md5 is checked (and refuses this file)
    tgz = tmp_path / "small-cifar-10-python.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    s = batches.convert_cifar10(tgz, tmp_path / "out", batch_size=8)
    assert s["official"] and s["train_images"] == 20
    b = batches.read_batch(tmp_path / "out", 1)
    # one image per COLUMN in the 2012 format
    assert np.array_equal(b["data"][:, 0], rows["data_batch_1"][0])
    t = batches.read_batch(tmp_path / "out", s["test_batch"])
    assert np.array_equal(t["data"].T, rows["test_batch"])


def test_convert_image_folder_of_photos(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    Image.new("RGB", (500, 300), (200, 10, 10)).save(src / "n01440764_tench.JPEG")
    Image.new("L", (90, 140), 77).save(src / "n01530575_brambling.JPEG")        # grayscale
    Image.new("RGB", (300, 300), (0, 0, 250)).save(src / "n01601694_ouzel.png")
    s = batches.convert_image_folder(src, tmp_path / "out", batch_size=2, size=64)
    assert s["classes"] == 3 and s["batches"] == [1, 2]
    meta = batches.read_meta(tmp_path / "out")
    assert meta["num_vis"] == 3 * 64 * 64 and meta["img_size"] == 64
    stdevs, vecs = meta["color_pca"]
    assert stdevs.shape == (3,) and vecs.shape == (3, 3)
    allb = [batches.read_batch(tmp_path / "out", k) for k in (1, 2)]
    data = np.concatenate([b["data"] for b in allb], axis=1)
    labels = np.concatenate([b["labels"] for b in allb])
    gray = data[:, list(labels).index(meta["label_names"].index("n01530575"))]
    assert np.all(gray == 77)                   # L -> RGB, all three channels equal
    with pytest.raises(DataError, match="cannot tell its class"):
        (src / "holiday.jpg").write_bytes((src / "n01601694_ouzel.png").read_bytes())
        batches.convert_image_folder(src, tmp_path / "out2")


@pytest.mark.skipif(not (SHARED / "imagenet-samples").is_dir(), reason="shared samples absent")
def test_convert_a_few_real_imagenet_samples(tmp_path):
    src = tmp_path / "samples"
    src.mkdir()
    for p in sorted((SHARED / "imagenet-samples").iterdir())[:4]:
        shutil.copy(p, src / p.name)
    s = batches.convert_image_folder(src, tmp_path / "out", batch_size=4)
    assert s["train_images"] == 4
    b = batches.read_batch(tmp_path / "out", 1)
    assert b["data"].shape == (3 * 256 * 256, 4)


def test_cifar_providers(tmp_path):
    folder = _tiny_folder(tmp_path)
    dp = convdata.get_instance(str(folder), [1, 2], type=None, dp_params={"seed": 5})
    assert isinstance(dp, convdata.CIFARDataProvider)
    e, num, (data, labels) = dp.get_next_batch()
    assert (e, num) == (1, 1) and data.dtype == np.float32 and data.shape == (3072, 12)
    raw = batches.read_batch(folder, 1)
    np.testing.assert_array_equal(data, raw["data"].astype(np.float32) - 127.5)
    assert labels.shape == (1, 12) and labels.dtype == np.float32
    dp.get_next_batch()
    assert (dp.curr_epoch, dp.curr_batchnum) == (2, 1)          # wrapped into epoch 2
    params = {"seed": 5, "crop_border": 4, "multiview_test": 1}
    crop = convdata.get_instance(str(folder), [1], type="cifar-cropped", dp_params=params)
    _, _, (c1, _) = crop.get_next_batch()
    again = convdata.get_instance(str(folder), [1], type="cifar-cropped", dp_params=params)
    _, _, (c2, _) = again.get_next_batch()
    assert c1.shape == (3 * 24 * 24, 12) and np.array_equal(c1, c2)   # seeded per batch
    test = convdata.get_instance(str(folder), [2], type="cifar-cropped", dp_params=params,
                                 test=True)
    _, _, (tv, tl) = test.get_next_batch()
    assert test.num_views == 9 and tv.shape == (3 * 24 * 24, 12 * 9) and tl.shape == (1, 108)
    # view 4 of the 3x3 grid is the centre crop
    x = batches.read_batch(folder, 2)["data"].reshape(3, 32, 32, 12).astype(np.float32)
    centre = x[:, 4:28, 4:28, :].reshape(-1, 12) - 127.5
    np.testing.assert_array_equal(tv[:, 4 * 12:5 * 12], centre)
    with pytest.raises(DataError, match="no such data provider"):
        convdata.get_instance(str(folder), [1], type="flickr-ce-cropped")


def test_imagenet_provider_views_and_colour_noise(tmp_path):
    size, n = 40, 4
    rng = np.random.default_rng(2)
    folder = tmp_path / "inet"
    data = rng.integers(0, 256, (3 * size * size, n)).astype(np.uint8)
    batches.write_batch(folder, 1, data, [0, 1, 2, 3])
    eig = np.linalg.qr(rng.standard_normal((3, 3)))[0].astype(np.float32)
    batches.write_meta(folder, label_names=["a", "b", "c", "d"], data_mean=np.zeros(3 * size ** 2),
                       num_cases_per_batch=n, extra={"img_size": size, "color_pca": (
                           np.array([3.0, 2.0, 1.0], np.float32), eig)})
    t = convdata.get_instance(str(folder), [1], type="inet-lr-cropped",
                              dp_params={"crop_border": 4, "multiview_test": 1}, test=True)
    _, _, (views, labels) = t.get_next_batch()
    assert t.num_views == 10 and views.shape == (3 * 32 * 32, 40)
    v0 = views[:, :n].reshape(3, 32, 32, n)
    v5 = views[:, 5 * n:6 * n].reshape(3, 32, 32, n)
    np.testing.assert_array_equal(v5, v0[:, :, ::-1, :])       # views 5-9 mirror 0-4
    plain = convdata.get_instance(str(folder), [1], type="inet-lr-cropped",
                                  dp_params={"crop_border": 4, "seed": 1, "color_noise": 0.0})
    noisy = convdata.get_instance(str(folder), [1], type="inet-lr-cropped",
                                  dp_params={"crop_border": 4, "seed": 1, "color_noise": 0.5})
    _, _, (a, _) = plain.get_next_batch()
    _, _, (b, _) = noisy.get_next_batch()
    # same crops (same seed); noise adds one RGB offset per image, then / (1 + c)
    delta = (b * 1.5 - a).reshape(3, -1, n)
    np.testing.assert_allclose(delta.std(axis=1), 0, atol=1e-3)
    assert np.abs(delta).max() > 0
