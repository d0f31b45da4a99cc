"""Hostile tar members, for every reader of archives in the package.

Members that are symbolic or hard links, devices, FIFOs, absolute or ``..`` names, and a
member whose header declares a size beyond the bound. Readers of fixed-layout archives
from one publisher (CIFAR-10's python tarball, ILSVRC-2012's archives and devkit) refuse
them with one line; the port's reader of a user's image-folder tarball skips and reports
them with the undecodable images. Nothing is ever written outside the target folder.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.ilsvrc import tar_bytes, val_images, write_archives
from PIL import Image

from alexnet import archives
from alexnet.cli import cli
from alexnet.errors import DataError, LimitError
from alexnet.limits import MAX_MEMBER_BYTES
from alexnet.modern.data import load_dataset

#: The largest size a ustar header can declare (11 octal digits): 8 GiB - 1.
HUGE = 0o77777777777

#: name -> (tar type, link target) of each hostile member; the names are those a reader
#: would read, or lead out of the archive's folder.
HOSTILE = {
    "symlink": (tarfile.SYMTYPE, "../../../../etc/passwd"),
    "hardlink": (tarfile.LNKTYPE, "first"),
    "fifo": (tarfile.FIFOTYPE, ""),
    "device": (tarfile.CHRTYPE, ""),
    "absolute": (tarfile.REGTYPE, ""),
    "dotdot": (tarfile.REGTYPE, ""),
}
WORDS = {"symlink": "a symbolic link", "hardlink": "a hard link",
         "fifo": "a device, FIFO or other special file",
         "device": "a device, FIFO or other special file",
         "absolute": "an absolute path", "dotdot": "a path that leads out of the archive"}


def _member_name(kind: str, name: str) -> str:
    """The hostile member's name: ``name`` itself, or ``name`` made absolute or led one
    folder up (both still look like what a reader wants: the parsers see the parts)."""
    return {"absolute": "/" + name, "dotdot": "../" + name}.get(kind, name)


def _tar(members: dict[str, bytes], hostile: tuple[str, str] | None = None,
         *, gz: bool = False) -> bytes:
    """A tar of regular ``members``, plus one hostile member ``(kind, name)`` last.

    ``kind`` ``"huge"`` writes a regular member whose header declares :data:`HUGE`
    bytes (the header is patched: no 8 GiB are ever written).
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for n, data in members.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        if hostile is not None:
            kind, name = hostile
            ti = tarfile.TarInfo(name if kind == "huge" else _member_name(kind, name))
            if kind == "huge":
                ti.size = 0
                tf.addfile(ti, io.BytesIO(b""))
            else:
                ti.type, ti.linkname = HOSTILE[kind]
                if kind == "hardlink":
                    ti.linkname = next(iter(members))
                data = b"x" * 10 if ti.type == tarfile.REGTYPE else b""
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    raw = bytearray(buf.getvalue())
    if hostile is not None and hostile[0] == "huge":
        _declare_size(raw, hostile[1], HUGE)
    if gz:
        import gzip
        return gzip.compress(bytes(raw), mtime=0)
    return bytes(raw)


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def _only_inside(before: set[Path], root: Path, target: Path, name: str) -> None:
    """Nothing new under ``root`` outside ``target``, nothing at the absolute name."""
    new = _tree(root) - before
    assert all(p == target or p.is_relative_to(target) for p in new), sorted(new)
    assert not Path("/" + name).exists()


def _declare_size(raw: bytearray, name: str, size: int) -> None:
    """Patch the size field (and the checksum) of the header of member ``name``."""
    for off in range(0, len(raw), 512):
        if raw[off:off + 100].rstrip(b"\0") == name.encode():
            raw[off + 124:off + 136] = f"{size:011o}\0".encode()
            raw[off + 148:off + 156] = b" " * 8
            raw[off + 148:off + 156] = f"{sum(raw[off:off + 512]):06o}\0 ".encode()
            return
    raise AssertionError(f"{name} not in the archive")


# --------------------------------------------------------------------------------------
# The one rule (alexnet.archives), on its own


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_each_hostile_member_is_named_for_what_it_is(kind, tmp_path):
    raw = _tar({"first": b"1"}, (kind, "x/member"))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        m = tf.getmembers()[-1]
        assert archives.problem(tf.getmembers()[0]) is None
        assert archives.problem(m).startswith(WORDS[kind])
        with pytest.raises(DataError, match="refused") as err:
            archives.check(m, "a.tar")
        assert str(err.value).startswith("a.tar: member ") and "\n" not in str(err.value)
        skipped: list[tuple[str, str]] = []
        assert [x.name for x in archives.screen(tf.getmembers(), "a.tar", skipped)] == ["first"]
        assert skipped == [(m.name, f"archive member is {archives.problem(m)}, not read")]


def test_a_declared_size_over_the_bound_is_refused_before_reading():
    raw = _tar({"first": b"1"}, ("huge", "big"))
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tf:  # streaming: no seek
        with pytest.raises(LimitError, match=f"declares {HUGE:,} bytes, more than the "
                                             f"{MAX_MEMBER_BYTES:,} bytes"):
            list(archives.screen(tf, "a.tar", []))


# --------------------------------------------------------------------------------------
# CIFAR-10 python tarballs: refused (one publisher, fixed layout)


@pytest.fixture(scope="module")
def cifar_members(cifar_python_tarball) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(cifar_python_tarball(per_batch=4, test=4))) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_cifar_tarballs_refuse_hostile_members(kind, tmp_path, cifar_members):
    src = tmp_path / "tiny-cifar.tar.gz"
    src.write_bytes(_tar(cifar_members, (kind, "cifar-10-batches-py/data_batch_9"), gz=True))
    with pytest.raises(DataError, match=WORDS[kind]) as err:
        load_dataset(src, use_cache=False, progress=False)
    assert "\n" not in str(err.value) and "refused" in str(err.value)
    out, before = tmp_path / "batches", _tree(tmp_path)
    r = CliRunner().invoke(cli, ["original", "convert-cifar", str(src), str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.startswith("error: ") and WORDS[kind] in r.output
    assert not out.exists()  # not even an empty folder
    _only_inside(before, tmp_path, out, "cifar-10-batches-py/data_batch_9")


# --------------------------------------------------------------------------------------
# A user's image-folder tarball: the port skips and reports; the 2012 converter refuses
# (``convert-cifar`` reads CIFAR-10 as an image-folder tarball too)


def _png(colour: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), colour, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


IMAGES = {f"{split}/{cls}/{i}.png": _png(40 * i) for split in ("train", "test")
          for i, cls in enumerate(("airplane", "automobile"), start=1)}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_image_folder_tarball_skips_and_reports_hostile_members(kind, tmp_path):
    src = tmp_path / "photos.tar"
    src.write_bytes(_tar(IMAGES, (kind, "train/airplane/9.png")))
    ds = load_dataset(src, size=32, use_cache=False, progress=False, workers=1)
    assert len(ds.skipped) == 1
    name, why = ds.skipped[0]
    assert name.endswith("train/airplane/9.png") and WORDS[kind] in why
    assert (ds.train.images.shape[0], ds.test.images.shape[0]) == (2, 2)  # the rest is read
    out, before = tmp_path / "batches", _tree(tmp_path)
    r = CliRunner().invoke(cli, ["original", "convert-cifar", str(src), str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert WORDS[kind] in r.output
    assert not out.exists()  # not even an empty folder
    _only_inside(before, tmp_path, out, "train/airplane/9.png")


def test_image_folder_tarball_bounds_a_huge_member(tmp_path):
    src = tmp_path / "photos.tar"
    src.write_bytes(_tar(IMAGES, ("huge", "train/automobile/big.png")))
    with pytest.raises(LimitError, match=f"more than the {MAX_MEMBER_BYTES:,} bytes"):
        load_dataset(src, size=32, use_cache=False, progress=False, workers=1)


# --------------------------------------------------------------------------------------
# ILSVRC-2012 archives and devkit: refused (pinned files of one publisher)


def _prepare(src: Path) -> tuple[int, str]:
    """``alexnet imagenet prepare`` into ``out`` beside ``src`` (which is resumable: the
    classes converted before a refusal stay, with their records)."""
    out = src.parent / "out"
    r = CliRunner().invoke(cli, ["imagenet", "prepare", "--source", str(src), "--out",
                                 str(out), "--workers", "1", "--quiet"])
    assert "Traceback" not in r.output
    return r.exit_code, r.output


@pytest.mark.parametrize("kind", ["symlink", "fifo", "dotdot"])
def test_ilsvrc_validation_tar_refuses_hostile_members(kind, tmp_path):
    src = write_archives(tmp_path / "src")
    (src / "ILSVRC2012_img_val.tar").write_bytes(
        _tar(val_images(), (kind, "ILSVRC2012_val_00000009.JPEG")))
    before = _tree(tmp_path)
    code, output = _prepare(src)
    assert code == 2 and output.startswith("error: ") and WORDS[kind] in output, output
    _only_inside(before, tmp_path, tmp_path / "out", "ILSVRC2012_val_00000009.JPEG")


def test_ilsvrc_class_tar_refuses_a_link(tmp_path):
    src = write_archives(tmp_path / "src")
    inner = _tar({"n01440764_1.JPEG": val_images()["ILSVRC2012_val_00000001.JPEG"]},
                 ("symlink", "n01440764_2.JPEG"))
    outer = {f"{w}.tar": tar_bytes({}) for w in ("n01443537", "n02105855")}
    (src / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes({"n01440764.tar": inner, **outer}))
    before = _tree(tmp_path)
    code, output = _prepare(src)
    assert code == 2 and "n01440764.tar" in output and "a symbolic link" in output, output
    assert output.startswith("error: ") and output.count("\n") == 1
    _only_inside(before, tmp_path, tmp_path / "out", "n01440764_2.JPEG")
    assert not list((tmp_path / "out").rglob("n01440764_2.JPEG"))


def test_ilsvrc_devkit_refuses_a_linked_meta(tmp_path):
    src = write_archives(tmp_path / "src")
    with tarfile.open(src / "ILSVRC2012_devkit_t12.tar.gz") as tf:
        kit = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
    meta = "ILSVRC2012_devkit_t12/data/meta.mat"
    real = {("ILSVRC2012_devkit_t12/data/real.mat" if n == meta else n): d
            for n, d in kit.items()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for n, d in real.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(d)
            tf.addfile(ti, io.BytesIO(d))
        ti = tarfile.TarInfo(meta)
        ti.type, ti.linkname = tarfile.SYMTYPE, "real.mat"
        tf.addfile(ti)
    (src / "ILSVRC2012_devkit_t12.tar.gz").write_bytes(buf.getvalue())
    code, output = _prepare(src)
    assert code == 2 and "meta.mat" in output and "a symbolic link" in output, output
