"""Pinned downloads and the fetch stage, offline: a server on 127.0.0.1, local mirrors,
the download cache, resume after a cut-off, servers that ignore Range, bad pins."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.download import Pin, download, mirrors_from, obtain
from alexnet.errors import ChecksumError, ConfigError, DataError
from alexnet.pipeline.fetch import fetch, read_fetched
from alexnet.pipeline.params import resolve_profile

REPO = Path(__file__).resolve().parent.parent
PAYLOAD = bytes(range(256)) * 2000  # 512,000 bytes, several read chunks


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALEXNET_MIRROR", raising=False)
    return tmp_path / "cache"


def pin(data: bytes = PAYLOAD, url: str | None = None, name: str = "blob.bin") -> Pin:
    return Pin(name, {"md5": hashlib.md5(data).hexdigest()}, url=url)


def test_download_resumes_with_range_after_a_cut(tmp_path, http_server):
    with http_server({"blob.bin": PAYLOAD}, cut_after=100_000) as served:
        out = download(f"{served.url}/blob.bin", tmp_path / "blob.bin", pin=pin(), progress=False,
                       backoff=0)
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "blob.bin.part").exists()
    # first request from byte 0, the second continued where the cut left off
    assert served.requests[0][1] is None
    assert served.requests[1][1] == "bytes=100000-"


def test_download_restarts_when_the_server_ignores_range(tmp_path, http_server):
    part = tmp_path / "blob.bin.part"
    part.write_bytes(b"garbage that must not survive")
    with http_server({"blob.bin": PAYLOAD}, ignore_range=True) as served:
        download(f"{served.url}/blob.bin", tmp_path / "blob.bin", pin=pin(), progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD
    assert served.requests[0][1] == f"bytes={len(b'garbage that must not survive')}-"


def test_checksum_mismatch_deletes_the_download_and_says_why(tmp_path, http_server, md5):
    bad = bytearray(PAYLOAD)
    bad[1234] ^= 0xFF
    with http_server({"blob.bin": bytes(bad)}) as served:
        with pytest.raises(ChecksumError) as err:
            download(f"{served.url}/blob.bin", tmp_path / "blob.bin", pin=pin(), progress=False)
    msg = str(err.value)
    assert f"expected {md5(PAYLOAD)}" in msg and "deleted" in msg
    assert "\n" not in msg
    assert not (tmp_path / "blob.bin").exists()
    assert not (tmp_path / "blob.bin.part").exists()


def test_network_failure_keeps_the_part_file_for_next_time(tmp_path, http_server):
    with http_server({}) as served:
        url = f"{served.url}/blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:1000])
    with pytest.raises(DataError, match="kept and the next attempt resumes it"):
        download(url, tmp_path / "blob.bin", pin=pin(), progress=False, retries=2, backoff=0,
                 timeout=2)
    assert (tmp_path / "blob.bin.part").stat().st_size == 1000


def test_obtain_prefers_local_then_cache_then_mirror_then_url(tmp_path, cache):
    p = pin(url="http://127.0.0.1:9/never-used")
    local = tmp_path / "data"
    local.mkdir()
    (local / "blob.bin").write_bytes(PAYLOAD)
    got = obtain(p, local_dirs=[local], progress=False)
    assert got.path == local / "blob.bin" and got.origin == str(local / "blob.bin")

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "blob.bin").write_bytes(PAYLOAD)
    got = obtain(p, mirrors=[str(mirror)], progress=False)
    assert got.origin.startswith("mirror") and got.path.is_relative_to(cache)
    # now it is in the cache: no mirror needed
    got2 = obtain(p, progress=False)
    assert got2.origin.startswith("cache") and got2.path == got.path


def test_obtain_skips_a_wrong_local_copy_and_downloads(tmp_path, cache, http_server):
    local = tmp_path / "data"
    local.mkdir()
    (local / "blob.bin").write_bytes(b"not it")
    with http_server({"blob.bin": PAYLOAD}) as served:
        got = obtain(pin(url=f"{served.url}/blob.bin"), local_dirs=[local], progress=False)
    assert got.path.read_bytes() == PAYLOAD
    assert (local / "blob.bin").read_bytes() == b"not it"  # the user's file is left alone


def test_obtain_with_nothing_reachable_names_every_place(tmp_path, cache):
    with pytest.raises(DataError) as err:
        obtain(pin(url="http://127.0.0.1:9/blob.bin"), local_dirs=[tmp_path],
               mirrors=[str(tmp_path / "nowhere")], progress=False, retries=1, backoff=0,
               timeout=2)
    msg = str(err.value)
    assert "nowhere" in msg and "127.0.0.1:9" in msg and "ALEXNET_MIRROR" in msg


def test_url_mirror_and_env_override(tmp_path, cache, monkeypatch, http_server):
    with http_server({"blob.bin": PAYLOAD}) as served:
        monkeypatch.setenv("ALEXNET_MIRROR", served.url)
        assert mirrors_from("/ignored/when/env/is/set") == [served.url]
        got = obtain(pin(), mirrors=mirrors_from(""), progress=False)
    assert got.origin == f"{served.url}/blob.bin"


def test_pin_validation():
    with pytest.raises(ConfigError, match="32 hex digits"):
        Pin("x", {"md5": "abc"})
    with pytest.raises(ConfigError, match="no checksum"):
        Pin("x", {})
    with pytest.raises(ConfigError, match="plain file name"):
        Pin("../x", {"md5": "0" * 32})


# --------------------------------------------------------------------------------------
# The fetch stage and params.yaml


def _params(tmp_path: Path, url: str, digest: str) -> Path:
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["datasets"]["cifar10"]["source"] = "official"
    p["datasets"]["cifar10"]["official"].update({"url": url, "md5": digest})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def test_fetch_stage_writes_a_content_only_manifest(tmp_path, cache, http_server,
                                                    cifar_python_tarball, md5):
    tar = cifar_python_tarball(per_batch=4, test=4)
    with http_server({"cifar-10-python.tar.gz": tar}) as served:
        params = _params(tmp_path, f"{served.url}/cifar-10-python.tar.gz", md5(tar))
        prof = resolve_profile(params)
        lines: list[str] = []
        fetch(prof, tmp_path / "out", data_dir=tmp_path / "data", progress=False,
              echo=lines.append)
    assert any("from http://127.0.0.1" in ln for ln in lines)
    fd = read_fetched(tmp_path / "out")
    assert fd.path.read_bytes() == tar and fd.md5 == md5(tar)
    manifest = json.loads((tmp_path / "out" / "sources.json").read_text())
    assert "127.0.0.1" not in json.dumps(manifest)  # where it came from is not content


def test_fetch_cli_corrupt_download_is_one_line_exit_2(tmp_path, cache, http_server,
                                                       cifar_python_tarball, md5):
    tar = cifar_python_tarball(per_batch=4, test=4)
    bad = tar[:-10] + b"0123456789"
    with http_server({"cifar-10-python.tar.gz": bad}) as served:
        params = _params(tmp_path, f"{served.url}/cifar-10-python.tar.gz", md5(tar))
        res = CliRunner().invoke(cli, ["fetch", "--params", str(params), "--out",
                                       str(tmp_path / "out"), "--no-progress",
                                       "--data-dir", str(tmp_path / "data")])
    assert res.exit_code == 2
    assert f"expected {md5(tar)}" in res.output and "deleted" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
    assert not list(cache.rglob("cifar-10-python.tar.gz*"))


def test_user_supplied_files_must_be_in_data(tmp_path, cache):
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(p, sort_keys=False))
    prof = resolve_profile(params, "imagenet-2012")
    with pytest.raises(DataError, match=r"ILSVRC2012_img_train\.tar: not in .*no public URL"):
        fetch(prof, tmp_path / "out", data_dir=tmp_path / "data", progress=False)


@pytest.mark.parametrize("edit, match", [
    (lambda p: p.update(profile="nope"), "profile: no profile 'nope'"),
    (lambda p: p["profiles"]["cifar10-80sec"].pop("verify"), "missing section"),
    (lambda p: p["datasets"]["cifar10"].update(source="other"), "must name one of"),
    (lambda p: p["datasets"]["cifar10"]["official"].update(md5="xyz"), "32 hex digits"),
])
def test_params_errors_name_the_key(tmp_path, edit, match):
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(p)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    with pytest.raises(ConfigError, match=match) as err:
        resolve_profile(path)
    assert str(err.value).startswith(str(path))


def test_every_shipped_profile_resolves():
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    for name in p["profiles"]:
        prof = resolve_profile(REPO / "params.yaml", name)
        assert prof.dataset.pins


def test_imagenet_archives_are_verified_in_place_and_the_image_tree_fingerprinted(
        tmp_path, cache, md5):
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    folder = tmp_path / "data" / "ilsvrc2012"
    folder.mkdir(parents=True)
    files = p["datasets"]["ilsvrc2012"]["archives"]["files"]
    for i, f in enumerate(files):  # stand-ins for the three archives, pinned by their md5
        data = f"stand-in {i}".encode()
        (folder / f["file"]).write_bytes(data)
        f["md5"] = md5(data)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(p, sort_keys=False))
    prof = resolve_profile(params, "imagenet-2012")
    out = tmp_path / "runs" / "fetch"
    fetch(prof, out, data_dir=tmp_path / "data", progress=False, echo=lambda _m: None)
    fd = read_fetched(out)
    assert fd.path.resolve() == (folder / files[0]["file"]).resolve()  # used in place
    assert not (out / files[0]["file"]).exists()
    with pytest.raises(DataError, match=r"images: missing; the prepare stage makes it"):
        _ = fd.data

    img = folder / "images" / "train" / "n01440764" / "a.JPEG"
    img.parent.mkdir(parents=True)
    img.write_bytes(b"jpeg bytes")
    fetch(prof, out, data_dir=tmp_path / "data", progress=False, echo=lambda _m: None)
    first = read_fetched(out)
    assert first.data.resolve() == (folder / "images").resolve()
    (img.parent / "b.JPEG").write_bytes(b"more")
    fetch(prof, out, data_dir=tmp_path / "data", progress=False, echo=lambda _m: None)
    second = read_fetched(out)
    # a changed tree changes the manifest, so DVC re-runs the stages after fetch
    assert first.manifest["images"]["fingerprint"] != second.manifest["images"]["fingerprint"]
    assert second.manifest["images"]["files"] == 2
