"""ILSVRC-2012 input: the devkit and ``alexnet imagenet prepare`` on files built here.

The official files are built in their real formats by tests/fixtures/ilsvrc.py (the
quirks included: CMYK, grayscale, a PNG named .JPEG, an unreadable file).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.ilsvrc import (
    VAL_NAMES,
    ground_truth,
    jpeg,
    meta_mat,
    tar_bytes,
    train_images,
    write_archives,
    write_folders,
)
from PIL import Image

from alexnet.cli import cli
from alexnet.errors import DataError
from alexnet.imagenet import devkit as dk
from alexnet.imagenet.prepare import prepare
from alexnet.modern.data import decode_image, load_dataset


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The archives prepared once with two processes: (source, out, report)."""
    root = tmp_path_factory.mktemp("ilsvrc")
    src = write_archives(root / "src")
    out = root / "out"
    report = prepare(src, out, workers=2, progress=False)
    return src, out, report


# --------------------------------------------------------------------------------------
# The devkit


def test_devkit_classes_in_wnid_order_with_their_ids(tmp_path):
    src = write_archives(tmp_path)
    kit = dk.read_devkit(src / "ILSVRC2012_devkit_t12.tar.gz")
    assert kit.wnids == ["n01440764", "n01443537", "n02105855"]   # the non-leaf is gone
    assert [s.ilsvrc_id for s in kit.classes] == [2, 3, 1]
    assert len(kit.val_labels) == 19877
    # image i has devkit id (i % 3) + 1: image 1 -> id 2 -> n01440764
    assert kit.val_wnid("ILSVRC2012_val_00000001.JPEG") == "n01440764"
    assert kit.val_wnid("ILSVRC2012_val_00000003.JPEG") == "n02105855"
    with pytest.raises(DataError, match="without a label"):
        kit.val_wnid("ILSVRC2012_val_00019878.JPEG")
    text = dk.class_file_text(kit.classes)
    assert text.splitlines()[0] == "ILSVRC2012_ID\twnid\twords"
    assert text.splitlines()[1] == "2\tn01440764\ttench, Tinca tinca"


@pytest.mark.parametrize("meta,gt,match", [
    (b"not a mat file", None, "not a readable MATLAB file"),
    (None, "1\n2\nseven\n", r":3: expected a class id"),
    (None, "1\n4\n", "outside 1..3"),
])
def test_devkit_bad_files(tmp_path, meta, gt, match):
    src = write_archives(tmp_path, meta=meta, gt=gt)
    with pytest.raises(DataError, match=match):
        dk.read_devkit(src / "ILSVRC2012_devkit_t12.tar.gz")


def test_devkit_ids_must_be_contiguous():
    bad = meta_mat([(1, "n01440764", "a"), (3, "n01443537", "b")], parent=False)
    with pytest.raises(DataError, match=r"not 1..2"):
        dk.parse_meta_mat(bad)


# --------------------------------------------------------------------------------------
# prepare


def test_prepare_writes_the_2012_preprocessing(prepared):
    src, out, report = prepared
    assert (out / "classes.tsv").read_text().splitlines()[1:] == [
        "2\tn01440764\ttench, Tinca tinca", "3\tn01443537\tgoldfish, Carassius auratus",
        "1\tn02105855\tShetland sheepdog, Shetland sheep dog, Shetland"]
    assert json.loads((out / "prepare.json").read_text()) == report
    train, val = report["splits"]["train"], report["splits"]["val"]
    assert (train["images"], train["written"]) == (6, 5)
    assert [u[0] for u in train["unreadable"]] == ["train/n01443537/n01443537_broken.JPEG"]
    assert (val["images"], val["written"]) == (4, 4)
    # validation images sorted by the ground truth (image i -> id (i % 3) + 1)
    assert sorted(p.name for p in (out / "val" / "n01443537").iterdir()) == [
        VAL_NAMES[1], VAL_NAMES[3]]     # 19877 % 3 + 1 = 3 -> n01443537
    assert [p.name for p in (out / "val" / "n02105855").iterdir()] == [VAL_NAMES[2]]
    for p in out.glob("*/n*/*"):
        with Image.open(p) as img:
            assert (img.format, img.size, img.mode) == ("JPEG", (256, 256), "RGB")
    # shorter side 256, centre crop: the port's own decoder, up to JPEG re-encoding
    original = train_images()["n01440764"]["n01440764_10026.JPEG"]
    want = decode_image(original, 256).astype(np.int16)
    got = np.asarray(Image.open(out / "train/n01440764/n01440764_10026.JPEG"), np.int16)
    assert np.abs(got - want).mean() < 4


def test_prepare_counts_and_names_the_quirks(prepared):
    q = prepared[2]["quirks"]
    assert q["cmyk"]["count"] == 2
    assert q["cmyk"]["known"] == ["ILSVRC2012_val_00019877.JPEG"]
    assert q["cmyk"]["unexpected"] == ["n01440764_cmyk.JPEG"]
    assert q["png_named_jpeg"] == {"count": 1, "names": ["n02105855_2933.JPEG"],
                                   "known": ["n02105855_2933.JPEG"], "unexpected": []}
    assert q["grayscale"] == {"count": 1, "first": ["n01443537_2.JPEG"]}


def test_prepared_folder_loads_in_the_port(prepared, tmp_path):
    _, out, _ = prepared
    ds = load_dataset(out, size=256, cache_dir=tmp_path / "cache", progress=False)
    assert ds.classes == ["n01440764", "n01443537", "n02105855"]
    assert len(ds.train) == 5 and len(ds.test) == 4
    assert sorted(ds.test.labels.tolist()) == [0, 1, 1, 2]


def test_prepare_resumes(prepared, tmp_path):
    src, out, _ = prepared
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    again = prepare(src, copy, workers=1, progress=False)
    assert again["splits"]["train"]["written"] == 0
    assert again["splits"]["train"]["resumed_tasks"] == 3
    assert again["quirks"] == prepared[2]["quirks"]       # kept from the first run
    # an interrupted class: its record and one image gone -> only that image is redone
    (copy / ".progress/train/n02105855.json").unlink()
    (copy / "train/n02105855/n02105855_7.JPEG").unlink()
    again = prepare(src, copy, workers=1, progress=False)
    assert again["splits"]["train"]["written"] == 1
    assert again["splits"]["train"]["already_there"] == 4   # 3 resumed + the PNG


def test_prepare_from_extracted_folders(prepared, tmp_path):
    src = write_folders(tmp_path / "src")
    out = tmp_path / "out"
    report = prepare(src, out, workers=1, progress=False)
    _, first, first_report = prepared
    assert (out / "classes.tsv").read_text() == (first / "classes.tsv").read_text()
    names = sorted(str(p.relative_to(out)) for p in out.glob("*/n*/*"))
    assert names == sorted(str(p.relative_to(first)) for p in first.glob("*/n*/*"))
    assert report["quirks"] == first_report["quirks"]


def test_prepare_only_val(tmp_path):
    src = write_archives(tmp_path / "src")
    report = prepare(src, tmp_path / "out", splits=["val"], workers=1, progress=False)
    assert list(report["splits"]) == ["val"]
    assert not (tmp_path / "out" / "train").exists()


# --------------------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing written


@pytest.fixture
def alexnet_cli():
    """The real ``alexnet`` group, as a user calls it."""
    return lambda *args: CliRunner().invoke(cli, list(args))


def _bad(alexnet_cli, src, match):
    out = src.parent / "out"
    r = alexnet_cli("imagenet", "prepare", "--source", str(src), "--out", str(out),
                    "--workers", "1", "--quiet")
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1
    assert match in r.output
    assert not out.exists()


def test_bad_input_devkit_missing(tmp_path, alexnet_cli):
    _bad(alexnet_cli, write_archives(tmp_path / "src", devkit=False), "no devkit")


def test_bad_input_ground_truth_missing(tmp_path, alexnet_cli):
    src = write_archives(tmp_path / "src", devkit=False)
    kit = {"ILSVRC2012_devkit_t12/data/meta.mat": meta_mat()}
    (src / "ILSVRC2012_devkit_t12.tar.gz").write_bytes(tar_bytes(kit, gz=True))
    _bad(alexnet_cli, src, "has no data/ILSVRC2012_validation_ground_truth.txt")


def test_bad_input_val_image_without_label(tmp_path, alexnet_cli):
    _bad(alexnet_cli, write_archives(tmp_path / "src", gt=ground_truth(3)),
         "ILSVRC2012_val_00019877.JPEG: validation image without a label")


def test_bad_input_class_lists_disagree(tmp_path, alexnet_cli):
    train = train_images()
    train["n09999999"] = {"n09999999_1.JPEG": jpeg(10, 10, 0)}
    del train["n01443537"]
    _bad(alexnet_cli, write_archives(tmp_path / "src", train=train),
         "disagree with the devkit's: 1 not in the devkit (n09999999); 1 of the devkit's "
         "missing (n01443537)")


def test_cli_prepare_reports(tmp_path, alexnet_cli):
    src = write_archives(tmp_path / "src")
    r = alexnet_cli("imagenet", "prepare", "--source", str(src), "--out",
                    str(tmp_path / "out"), "--workers", "1", "--quiet", "--split", "val")
    assert r.exit_code == 0, r.output
    assert "val: 4 images (4 written" in r.output
    assert "CMYK JPEGs: 1 (1 known)" in r.output


def test_corrupt_class_tar_stops_with_one_line(tmp_path):
    """A class tar that is not a tar fails in its worker process; the error comes back."""
    src = write_archives(tmp_path / "src")
    outer = {f"{w}.tar": tar_bytes(files) for w, files in train_images().items()}
    outer["n01443537.tar"] = b"\x00garbage" * 200
    (src / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(outer))
    with pytest.raises(DataError, match="n01443537: unreadable tar data") as info:
        prepare(src, tmp_path / "out", splits=["train"], workers=2, progress=False)
    assert "\n" not in str(info.value)
