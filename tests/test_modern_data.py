"""Dataset sources, the decode-once cache, bad images and checksums (modern/data.py)."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from alexnet.errors import ChecksumError, DataError
from alexnet.modern import data as D


def _load(path, tmp_path, **kw):
    return D.load_dataset(path, cache_dir=tmp_path / "cache", progress=False, **kw)


def test_cifar_tarball_pixels_labels_and_classes(tmp_path, make_cifar_tarball, cifar_batch_bytes):
    tb = make_cifar_tarball(tmp_path / "c.tar.gz", n=6)
    ds = _load(tb, tmp_path)
    assert ds.train.images.shape == (30, 32, 32, 3) and ds.test.images.shape == (6, 32, 32, 3)
    assert ds.classes[0] == "airplane" and len(ds.classes) == 10
    raw = pickle.loads(cifar_batch_bytes(6, 1))
    row = raw["data"][2]
    # each row: 1024 red, 1024 green, 1024 blue, row-major 32x32
    assert ds.train.images[2, 0, 1, 0] == row[1]
    assert ds.train.images[2, 1, 0, 1] == row[1024 + 32]
    assert ds.train.images[2, 31, 31, 2] == row[3071]
    assert list(ds.train.labels[:6]) == raw["labels"]
    assert ds.source["kind"] == "cifar-python"
    assert ds.source["checksum"] == "sha256:" + hashlib.sha256(tb.read_bytes()).hexdigest()


def test_cifar_extracted_folder_matches_tarball(tmp_path, make_cifar_tarball):
    tb = make_cifar_tarball(tmp_path / "c.tar.gz", n=4)
    with tarfile.open(tb) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    a = _load(tb, tmp_path)
    b = _load(tmp_path / "x" / "cifar-10-batches-py", tmp_path)
    assert np.array_equal(a.train.images, b.train.images)
    assert np.array_equal(a.test.labels, b.test.labels)


def test_official_name_is_md5_checked(tmp_path, make_cifar_tarball):
    tb = make_cifar_tarball(tmp_path / D.CIFAR10_PYTHON_NAME, n=2)
    actual = hashlib.md5(tb.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as ei:
        _load(tb, tmp_path)
    msg = str(ei.value)
    assert str(tb) in msg and D.CIFAR10_PYTHON_MD5 in msg and actual in msg
    assert "\n" not in msg
    assert len(_load(tb, tmp_path, md5=actual).train) == 10  # the right md5 passes


def test_given_md5_is_checked_for_any_name(tmp_path, make_cifar_tarball):
    tb = make_cifar_tarball(tmp_path / "mine.tar.gz", n=2)
    with pytest.raises(ChecksumError, match="expected 0123"):
        _load(tb, tmp_path, md5="0123456789abcdef0123456789abcdef")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch EVIL_RAN",))


def test_pickles_cannot_run_code(tmp_path, monkeypatch, make_cifar_tarball):
    monkeypatch.chdir(tmp_path)
    evil = pickle.dumps({"data": _Evil(), "labels": []}, protocol=2)
    tb = make_cifar_tarball(tmp_path / "c.tar.gz", n=2, extra={"data_batch_3": evil})
    with pytest.raises(DataError, match="only numpy arrays are allowed") as ei:
        _load(tb, tmp_path)
    assert "data_batch_3" in str(ei.value)
    assert not (tmp_path / "EVIL_RAN").exists()


def test_image_folder_and_its_tarball_agree(tmp_path, make_image_folder):
    root = make_image_folder(tmp_path / "imgs", n_train=5, n_test=2)
    tgz = tmp_path / "imgs.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        for p in sorted(root.rglob("*"), reverse=True):  # archive order != sorted order
            tf.add(p, arcname=str(p.relative_to(root)), recursive=False)
    a, b = _load(root, tmp_path), _load(tgz, tmp_path)
    assert a.classes == b.classes == ["cat", "dog", "frog"]
    assert np.array_equal(a.train.images, b.train.images)
    assert np.array_equal(a.train.labels, b.train.labels)
    assert list(a.train.labels) == [0] * 5 + [1] * 5 + [2] * 5
    png = np.asarray(Image.open(root / "train" / "dog" / "0003.png"))
    assert np.array_equal(a.train.images[5 + 3], png)


def test_cache_is_reused_and_written_atomically(tmp_path, monkeypatch, make_image_folder):
    root = make_image_folder(tmp_path / "imgs", n_train=3, n_test=1)
    first = _load(root, tmp_path)
    entries = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(entries) == 1 and (entries[0] / "meta.json").is_file()

    def boom(*a, **k):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(D, "decode_image", boom)
    again = _load(root, tmp_path)
    assert np.array_equal(first.train.images, again.train.images)


def test_interrupted_decode_leaves_no_cache_entry(tmp_path, monkeypatch, make_image_folder):
    root = make_image_folder(tmp_path / "imgs", n_train=3, n_test=1)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(D, "decode_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _load(root, tmp_path)
    # the entry's empty lock file stays (unlinking a lock file races with its next taker)
    leftovers = [p.name for p in (tmp_path / "cache").iterdir()
                 if p.name != "checksums.json" and p.suffix != ".lock"]
    assert leftovers == []


def test_bad_images_converted_or_skipped_and_counted(tmp_path, make_image_folder):
    root = make_image_folder(tmp_path / "imgs", classes=("a", "b"), n_train=2, n_test=1)
    d = root / "train" / "a"
    gray = np.arange(32 * 32, dtype=np.uint8).reshape(32, 32)
    Image.fromarray(gray, "L").save(d / "gray.png")
    Image.new("CMYK", (32, 32), (0, 255, 0, 0)).save(d / "cmyk.jpg")
    Image.fromarray(gray, "L").convert("P").save(d / "pal.gif")
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(buf, "JPEG")
    (d / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (d / "junk.jpg").write_bytes(b"this is not an image")
    ds = _load(root, tmp_path)
    assert len(ds.train) == 4 + 3  # 2 + 2 originals, gray + cmyk + palette
    assert sorted(n for n, _ in ds.skipped) == ["train/a/junk.jpg", "train/a/trunc.jpg"]
    assert all(r for _, r in ds.skipped)
    # sorted names in class a: 0000, 0001, cmyk, gray, pal
    assert np.array_equal(ds.train.images[3], np.stack([gray] * 3, axis=-1))
    cm = ds.train.images[2].astype(int)
    assert cm[..., 0].mean() > 200 and cm[..., 1].mean() < 50  # magenta-free CMYK -> red-ish
    assert ds.train.labels.tolist() == [0] * 5 + [1] * 2


def test_decode_image_reports_truncated_file_by_name(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 9, np.uint8)).save(buf, "JPEG")
    f = tmp_path / "t.jpg"
    f.write_bytes(buf.getvalue()[:300])
    with pytest.raises(D.BadImage) as ei:
        D.decode_image(f, 32, name=str(f))
    assert str(f) in str(ei.value)


def test_imagenet_style_resize_keeps_the_centre(tmp_path):
    a = np.zeros((50, 150, 3), np.uint8)
    a[:, :50, 0] = 255
    a[:, 50:100, 1] = 255
    a[:, 100:, 2] = 255
    f = tmp_path / "wide.png"
    Image.fromarray(a).save(f)
    out = D.decode_image(f, 32)
    assert out.shape == (32, 32, 3)
    # shorter side 50 -> 32, width 150 -> 96, central 32 columns = the green third
    assert out[:, 2:-2, 1].min() > 240 and out[:, 2:-2, [0, 2]].max() < 15


def test_image_folder_resized_to_256(tmp_path):
    root = tmp_path / "inet"
    for split in ("train", "val"):
        d = root / split / "n01440764"
        d.mkdir(parents=True)
        Image.fromarray(np.full((300, 400, 3), 77, np.uint8)).save(d / "x.JPEG")
    ds = _load(root, tmp_path, size=256)
    assert ds.train.images.shape == (1, 256, 256, 3) and len(ds.test) == 1
    assert abs(int(ds.train.images[0].mean()) - 77) <= 1  # flat colour survives resampling


@pytest.mark.parametrize("layout", ["empty", "nofile"])
def test_unrecognised_sources_are_one_line_errors(tmp_path, layout):
    p = tmp_path / "empty"
    if layout == "empty":
        p.mkdir()
    with pytest.raises(DataError) as ei:
        _load(p, tmp_path)
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_truncated_archive_is_a_data_error(tmp_path, make_image_folder):
    root = make_image_folder(tmp_path / "imgs", n_train=4, n_test=1)
    tgz = tmp_path / "imgs.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(root / "train", arcname="train")
        tf.add(root / "test", arcname="test")
    blob = tgz.read_bytes()
    tgz.write_bytes(blob[: len(blob) * 2 // 3])
    with pytest.raises(DataError, match="truncated or unreadable"):
        _load(tgz, tmp_path)


def test_register_source_hook(tmp_path):
    marker = tmp_path / "batches2012"
    marker.mkdir()
    seen = {}

    def load(path, **kw):
        seen.update(kw)
        return "loaded"

    D.register_source("batches-2012", lambda p: p == marker, load)
    try:
        assert D.detect_source(marker) == "batches-2012"
        assert D.load_dataset(marker, size=256, progress=False) == "loaded"
        assert seen["size"] == 256
    finally:
        D._EXTRA_SOURCES.pop()


def test_shared_cifar_jpg_tarball_is_detected(shared_datasets):
    tb = shared_datasets / "cifar10-jpg.tar.gz"
    if not tb.is_file():
        pytest.skip("shared data absent")
    assert D.detect_source(tb) == "image-folder"
    names, not_read = D._tar_names(tb)
    assert len(names) == 60000 and not_read == []
    assert sum(n.startswith("test/") for n in names) == 10000
