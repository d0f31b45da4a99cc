"""Hostile servers and hostile cache folders, through ``alexnet fetch``.

Each case runs against the pipeline fixtures' server on 127.0.0.1 (told to misbehave):
a file longer or shorter than its pinned size, a ``Content-Length`` that lies, a redirect
loop, a redirect to another scheme; and a download cache that is a regular file or cannot
be written. Every case must end the same way: exit status 2 and one line naming the URL
or the file and what was expected, no traceback, no fetch output folder, no finished file
in the cache (only a resumable ``.part`` may stay, and then the message says so).
"""

from __future__ import annotations

import builtins
import email.message
import errno
import hashlib
import io
import os
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.download import Pin, SafeRedirects, download
from alexnet.errors import ChecksumError, DataError

REPO = Path(__file__).resolve().parent.parent
NAME = "cifar-10-python.tar.gz"
PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes: a few read chunks, fast


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ALEXNET_MIRROR", raising=False)
    return tmp_path / "cache"


def _params(tmp_path: Path, url: str, *, size: int | None = len(PAYLOAD)) -> Path:
    """The shipped params.yaml with CIFAR-10's pin pointed at the test server."""
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["datasets"]["cifar10"]["source"] = "official"
    entry = {"url": url, "md5": hashlib.md5(PAYLOAD).hexdigest()}
    if size is not None:
        entry["size"] = size
    p["datasets"]["cifar10"]["official"].update(entry)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def _fetch(tmp_path: Path, url: str, **kw) -> str:
    """Run ``alexnet fetch`` once (one attempt: no waiting between retries) and check
    what every hostile case shares; return the error line."""
    res = CliRunner().invoke(cli, [
        "fetch", "--params", str(_params(tmp_path, url, **kw)), "--out", str(tmp_path / "out"),
        "--no-progress", "--data-dir", str(tmp_path / "data"), "--retries", "1"])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert not (tmp_path / "out").exists()  # the fetch output: nothing, not half
    assert not list(tmp_path.glob(".out.staging-*"))
    return lines[0]


def _finished_in_cache(cache: Path) -> list[Path]:
    return [p for p in cache.rglob(NAME + "*") if not p.name.endswith(".part")]


@pytest.mark.parametrize("served", [
    PAYLOAD + b"x" * 100, PAYLOAD[:-100]])
def test_a_file_longer_or_shorter_than_its_pinned_size_is_refused(
        tmp_path, cache, http_server, served):
    with http_server({NAME: served}) as srv:
        line = _fetch(tmp_path, f"{srv.url}/{NAME}")
    assert f"{srv.url}/{NAME}" in line
    assert f"announces {len(served):,} bytes" in line and f"pin expects {len(PAYLOAD):,}" in line
    assert not list(cache.rglob(NAME + "*"))  # not even a part: it is the wrong file


def test_a_stream_longer_than_the_pin_is_cut_at_the_pinned_size(tmp_path, http_server):
    """No Content-Length: the pin's size bounds what is read, not the server."""
    with http_server({NAME: PAYLOAD + b"x" * 100_000}, send_length=False) as srv:
        with pytest.raises(ChecksumError, match=f"more than the pinned {len(PAYLOAD):,} bytes"):
            download(f"{srv.url}/{NAME}", tmp_path / NAME, progress=False,
                     pin=Pin(NAME, {"md5": hashlib.md5(PAYLOAD).hexdigest()}, size=len(PAYLOAD)))
    assert not list(tmp_path.iterdir())


def test_content_length_announcing_more_than_is_sent(tmp_path, cache, http_server):
    with http_server({NAME: PAYLOAD}, length_lie=500) as srv:
        line = _fetch(tmp_path, f"{srv.url}/{NAME}", size=None)
    assert f"{srv.url}/{NAME}" in line
    assert f"announced {len(PAYLOAD) + 500:,} bytes but sent {len(PAYLOAD):,}" in line
    # what arrived is kept for the next attempt, and the message says where
    parts = list(cache.rglob(NAME + ".part"))
    assert len(parts) == 1 and f"{parts[0]} is kept" in line
    assert not _finished_in_cache(cache)


def test_content_length_announcing_less_than_is_sent(tmp_path, cache, http_server):
    with http_server({NAME: PAYLOAD}, length_lie=-500) as srv:
        line = _fetch(tmp_path, f"{srv.url}/{NAME}", size=None)
        assert f"{srv.url}/{NAME}" in line
        assert f"expected {hashlib.md5(PAYLOAD).hexdigest()}" in line and "deleted" in line
        # with the size pinned it never gets that far
        line = _fetch(tmp_path, f"{srv.url}/{NAME}")
    assert f"announces {len(PAYLOAD) - 500:,} bytes" in line
    assert not list(cache.rglob(NAME + "*"))


def test_a_redirect_loop_is_one_line(tmp_path, cache, http_server):
    with http_server({}, redirects={NAME: "{url}/" + NAME}) as srv:
        line = _fetch(tmp_path, f"{srv.url}/{NAME}")
    assert f"{srv.url}/{NAME}" in line and "redirect loop" in line
    assert not list(cache.rglob(NAME + "*"))


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/" + NAME,
                                    "gopher://127.0.0.1/" + NAME])
def test_a_redirect_to_another_scheme_is_refused(tmp_path, cache, http_server, target):
    with http_server({NAME: PAYLOAD}, redirects={"away": target}) as srv:
        line = _fetch(tmp_path, f"{srv.url}/away")
    assert f"{srv.url}/away" in line and target in line
    assert "only http and https" in line
    assert not list(cache.rglob(NAME + "*"))


def test_a_redirect_from_https_to_http_is_refused(tmp_path, cache, http_server):
    """The test server speaks plain http, so the https side is a stand-in: an opener whose
    first request is https, answered by the real redirect handler with the server's
    http URL as the target. Content must not be fetched over the downgrade."""
    with http_server({NAME: PAYLOAD}) as srv:
        target = f"{srv.url}/{NAME}"
        headers = email.message.Message()
        headers["Location"] = target
        handler = SafeRedirects()
        req = urllib.request.Request("https://downloads.example.org/" + NAME)
        with pytest.raises(Exception, match="from https to plain http") as info:
            handler.http_error_302(req, io.BytesIO(b""), 302, "Found", headers)
        assert target in str(info.value)
        # the same target from an http URL is followed (a new request for it comes back)
        handler.parent = urllib.request.build_opener(SafeRedirects)
        plain = urllib.request.Request(f"{srv.url}/away")
        plain.timeout = 5
        with handler.http_error_302(plain, io.BytesIO(b""), 302, "Found", headers) as resp:
            assert resp.read() == PAYLOAD


@pytest.mark.parametrize("blocked", ["cache", "cache/downloads"])
def test_a_regular_file_where_the_cache_folder_should_be(tmp_path, cache, http_server, blocked):
    (tmp_path / blocked).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocked).write_text("not a folder")
    with http_server({NAME: PAYLOAD}) as srv:
        line = _fetch(tmp_path, f"{srv.url}/{NAME}")
    assert f"{tmp_path / blocked}: a file is where a folder is expected" in line
    assert "ALEXNET_CACHE" in line  # says what to do
    assert (tmp_path / blocked).read_text() == "not a folder"  # the user's file, untouched


def test_an_unwritable_cache_folder(tmp_path, cache, http_server, monkeypatch):
    downloads = cache / "downloads"
    downloads.mkdir(parents=True)
    downloads.chmod(0o555)
    if os.geteuid() == 0:
        # root ignores permission bits: give this process the refusal the kernel gives
        # every other user for a file created in that folder
        real_open, real_mkdir = builtins.open, os.mkdir

        def refuse(path: Path | str) -> None:
            if Path(path).resolve().is_relative_to(downloads):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

        def guarded_open(file, mode="r", *a, **kw):
            if isinstance(file, str | Path) and any(c in mode for c in "wax+"):
                refuse(file)
            return real_open(file, mode, *a, **kw)

        def guarded_mkdir(path, *a, **kw):
            refuse(path)
            return real_mkdir(path, *a, **kw)

        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    try:
        with http_server({NAME: PAYLOAD}) as srv:
            line = _fetch(tmp_path, f"{srv.url}/{NAME}")
    finally:
        downloads.chmod(0o755)
    assert str(downloads) in line and "not writable (Permission denied)" in line
    assert "ALEXNET_CACHE" in line
    assert not list(cache.rglob(NAME + "*"))


def test_the_library_raises_the_same_errors(tmp_path, http_server):
    """``download`` itself, not only the CLI: the project's error types, one line."""
    with http_server({}, redirects={"loop": "{url}/loop"}) as srv:
        with pytest.raises(DataError, match="redirect loop") as err:
            download(f"{srv.url}/loop", tmp_path / "x", progress=False, backoff=0)
    assert "\n" not in str(err.value)
