"""ILSVRC-2012 input: the devkit and ``alexnet imagenet prepare`` on files built here.

The fixture writes a miniature of the three official files in their real formats: a
training tar holding one tar per class, a flat validation tar, and a devkit ``.tar.gz``
with ``data/meta.mat`` (a MATLAB struct array written by scipy, non-leaf synset
included) and the validation ground truth. The images carry the known quirks: a CMYK
JPEG (the known validation one and an unexpected one), the PNG named .JPEG, a grayscale
image and an unreadable file. Class ids are deliberately not in WordNet-id order.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy.io import savemat

from alexnet.cli import cli
from alexnet.errors import DataError
from alexnet.imagenet import devkit as dk
from alexnet.imagenet.prepare import prepare
from alexnet.modern.data import decode_image, load_dataset

# (ILSVRC2012_ID, wnid, words): ids not in wnid order, as in the real devkit
CLASSES = [(1, "n02105855", "Shetland sheepdog, Shetland sheep dog, Shetland"),
           (2, "n01440764", "tench, Tinca tinca"),
           (3, "n01443537", "goldfish, Carassius auratus")]
VAL_NAMES = ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG",
             "ILSVRC2012_val_00000003.JPEG", "ILSVRC2012_val_00019877.JPEG"]


def meta_mat(classes=CLASSES, parent: bool = True) -> bytes:
    dt = [(f, "O") for f in ("ILSVRC2012_ID", "WNID", "words", "gloss", "num_children",
                             "children", "wordnet_height", "num_train_images")]
    rows = [(i, w, words, 0) for i, w, words in classes]
    if parent:
        rows.append((len(classes) + 1, "n00015388", "animal, animate being", len(classes)))
    arr = np.empty((len(rows), 1), dtype=dt)
    for k, (i, w, words, nc) in enumerate(rows):
        arr[k, 0] = (np.array([[i]], np.uint16), w, words, "a gloss",
                     np.array([[nc]], np.uint8), np.zeros((1, nc)), np.array([[0]]),
                     np.array([[2]]))
    buf = io.BytesIO()
    savemat(buf, {"synsets": arr})
    return buf.getvalue()


def ground_truth(n: int = 19877) -> str:
    """Labels (devkit ids) for images 1..n: image i has id (i % 3) + 1."""
    return "".join(f"{i % 3 + 1}\n" for i in range(1, n + 1))


def jpeg(w: int, h: int, seed: int, mode: str = "RGB", fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _tar_bytes(files: dict[str, bytes], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def train_images() -> dict[str, dict[str, bytes]]:
    return {
        "n01440764": {"n01440764_10026.JPEG": jpeg(64, 40, 1),
                      "n01440764_cmyk.JPEG": jpeg(40, 50, 2, mode="CMYK")},
        "n01443537": {"n01443537_2.JPEG": jpeg(30, 30, 3, mode="L"),
                      "n01443537_broken.JPEG": jpeg(30, 30, 4)[:60]},
        "n02105855": {"n02105855_2933.JPEG": jpeg(50, 36, 5, fmt="PNG"),
                      "n02105855_7.JPEG": jpeg(256, 256, 6)},
    }


def val_images() -> dict[str, bytes]:
    return {VAL_NAMES[0]: jpeg(80, 60, 7), VAL_NAMES[1]: jpeg(60, 80, 8),
            VAL_NAMES[2]: jpeg(33, 47, 9), VAL_NAMES[3]: jpeg(40, 40, 10, mode="CMYK")}


def write_archives(root, train=None, val=None, meta=None, gt=None, devkit=True):
    root.mkdir(parents=True, exist_ok=True)
    train = train_images() if train is None else train
    (root / "ILSVRC2012_img_train.tar").write_bytes(_tar_bytes(
        {f"{wnid}.tar": _tar_bytes(files) for wnid, files in train.items()}))
    (root / "ILSVRC2012_img_val.tar").write_bytes(_tar_bytes(val or val_images()))
    if devkit:
        kit = {"ILSVRC2012_devkit_t12/data/meta.mat": meta or meta_mat(),
               "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt":
                   (gt if gt is not None else ground_truth()).encode()}
        (root / "ILSVRC2012_devkit_t12.tar.gz").write_bytes(_tar_bytes(kit, gz=True))
    return root


def write_folders(root):
    for wnid, files in train_images().items():
        for name, data in files.items():
            (root / "train" / wnid).mkdir(parents=True, exist_ok=True)
            (root / "train" / wnid / name).write_bytes(data)
    (root / "val").mkdir(parents=True)
    for name, data in val_images().items():
        (root / "val" / name).write_bytes(data)
    (root / "ILSVRC2012_devkit_t12" / "data").mkdir(parents=True)
    (root / "ILSVRC2012_devkit_t12" / "data" / "meta.mat").write_bytes(meta_mat())
    (root / "ILSVRC2012_devkit_t12" / "data" /
     "ILSVRC2012_validation_ground_truth.txt").write_text(ground_truth())
    return root


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
    (src / "ILSVRC2012_devkit_t12.tar.gz").write_bytes(_tar_bytes(kit, gz=True))
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
    outer = {f"{w}.tar": _tar_bytes(files) for w, files in train_images().items()}
    outer["n01443537.tar"] = b"\x00garbage" * 200
    (src / "ILSVRC2012_img_train.tar").write_bytes(_tar_bytes(outer))
    with pytest.raises(DataError, match="n01443537: unreadable tar data") as info:
        prepare(src, tmp_path / "out", splits=["train"], workers=2, progress=False)
    assert "\n" not in str(info.value)
