"""Fetching and verifying the release, offline: a synthetic tree, local archives, a git
repository, and an HTTP server on 127.0.0.1 that can resume, ignore ranges or cut off.

None of this needs the network or the mirror of the real release (one test uses the
mirror when it is present).
"""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.errors import ChecksumError, DataError
from alexnet.original.museum import upstream
from alexnet.original.museum.fetch import download, fetch, read_source
from alexnet.original.museum.upstream import (
    Manifest,
    TreeFile,
    UpstreamMismatch,
    build_manifest,
    local_copy,
    write_manifest,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# a git mirror of the release (bare or not), for the tests that read one; skipped without
MIRROR = Path(os.environ.get("ALEXNET_UPSTREAM_MIRROR", "/nonexistent"))

# A tiny stand-in for the release: our own text, nothing upstream.
FILES = {
    "LICENSE": b"Copyright 2099 Test Fixture.\n\nPermission text of the fixture.\n",
    "README.md": b"# fixture\n\nA synthetic tree for the fetch tests.\n",
    "driver.py": b"def main():\n    return 42\n" * 20,
    "src/core.cu": b"// kernels would be here\nint f() { return 1; }\n" * 50,
    "layers/net-1.cfg": b"[data]\ntype=data\n",
    "run.sh": b"#!/bin/sh\necho run\n",
}
EXECUTABLE = {"run.sh"}


@pytest.fixture()
def tree() -> dict[str, TreeFile]:
    return {p: TreeFile(d, p in EXECUTABLE) for p, d in FILES.items()}


@pytest.fixture()
def manifest(tree) -> Manifest:
    return build_manifest(tree, commit=COMMIT, repository="https://example.invalid/fixture")


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ALEXNET_CACHE", str(root))
    return root


def make_folder(base: Path, files: dict[str, bytes] = FILES) -> Path:
    for p, d in files.items():
        f = base / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(d)
        if p in EXECUTABLE:
            f.chmod(0o755)
    return base


def make_tar(files: dict[str, bytes] = FILES, prefix: str = "fixture-" + COMMIT + "/",
             extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        if prefix:
            d = tarfile.TarInfo(prefix.rstrip("/"))
            d.type = tarfile.DIRTYPE
            tf.addfile(d)
        for p, data in files.items():
            info = tarfile.TarInfo(prefix + p)
            info.size = len(data)
            info.mode = 0o755 if p in EXECUTABLE else 0o644
            tf.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# Local sources
# ---------------------------------------------------------------------------------------
def test_fetch_from_folder_installs_verified_copy(tmp_path, manifest, cache):
    src = make_folder(tmp_path / "src")
    res = fetch(src, manifest=manifest, progress=False)
    assert not res.reused and res.files == len(FILES)
    assert res.path == cache / "upstream" / COMMIT
    for p, d in FILES.items():
        assert (res.path / p).read_bytes() == d
    assert os.access(res.path / "run.sh", os.X_OK)
    info = json.loads((cache / "upstream" / f"{COMMIT}.verified.json").read_text())
    assert info["manifest_digest"] == manifest.digest()
    assert local_copy(None, manifest) == res.path
    assert local_copy(None, manifest, deep=True) == res.path


def test_second_fetch_reuses_verified_copy(tmp_path, manifest, cache):
    src = make_folder(tmp_path / "src")
    fetch(src, manifest=manifest, progress=False)
    again = fetch(tmp_path / "does-not-matter", manifest=manifest, progress=False)
    assert again.reused


def test_tampered_copy_is_not_trusted_and_is_replaced(tmp_path, manifest, cache):
    src = make_folder(tmp_path / "src")
    res = fetch(src, manifest=manifest, progress=False)
    target = res.path / "driver.py"
    data = bytearray(target.read_bytes())
    data[0] ^= 1  # same size, different content: only the deep check sees it
    target.write_bytes(bytes(data))
    assert local_copy(None, manifest) == res.path
    assert local_copy(None, manifest, deep=True) is None
    again = fetch(src, manifest=manifest, progress=False)
    assert not again.reused
    assert (again.path / "driver.py").read_bytes() == FILES["driver.py"]


@pytest.mark.parametrize("prefix", ["", "fixture-" + COMMIT + "/"])
def test_fetch_from_tarball_with_or_without_top_folder(tmp_path, manifest, cache, prefix):
    tgz = tmp_path / "release.tar.gz"
    tgz.write_bytes(make_tar(prefix=prefix))
    res = fetch(tgz, manifest=manifest, progress=False)
    assert (res.path / "src/core.cu").read_bytes() == FILES["src/core.cu"]
    assert os.access(res.path / "run.sh", os.X_OK)


def test_fetch_from_zip(tmp_path, manifest, cache):
    z = tmp_path / "release.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p, d in FILES.items():
            zf.writestr(f"fixture-{COMMIT}/{p}", d)
    res = fetch(z, manifest=manifest, progress=False)
    assert (res.path / "README.md").read_bytes() == FILES["README.md"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_fetch_from_bare_git_mirror_reads_the_pinned_commit(tmp_path, cache, tree):
    work = make_folder(tmp_path / "work")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    run = lambda *a, cwd=work: subprocess.run(a, cwd=cwd, env=env, check=True,  # noqa: E731
                                              capture_output=True)
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "fixture")
    commit = run("git", "rev-parse", "HEAD").stdout.decode().strip()
    # a later commit must not leak into what we read
    (work / "README.md").write_bytes(b"changed later\n")
    run("git", "commit", "-q", "-am", "later")
    bare = tmp_path / "mirror.git"
    run("git", "clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    m = build_manifest(tree, commit=commit)
    res = fetch(bare, manifest=m, progress=False)
    assert (res.path / "README.md").read_bytes() == FILES["README.md"]
    # a clone with a work tree works the same way
    shutil.rmtree(res.path)
    res = fetch(work, manifest=m, progress=False, force=True)
    assert (res.path / "README.md").read_bytes() == FILES["README.md"]
    # and a commit the repository does not have is a one-line error
    other = build_manifest(tree, commit="f" * 40)
    with pytest.raises(DataError, match="does not contain commit"):
        fetch(bare, manifest=other, progress=False, force=True)


# ---------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------
def test_mismatch_lists_every_problem_and_installs_nothing(tmp_path, manifest, cache):
    files = dict(FILES)
    files["driver.py"] = FILES["driver.py"].replace(b"42", b"43")  # same size, changed
    files["src/core.cu"] = FILES["src/core.cu"] + b"\n"  # different size
    del files["layers/net-1.cfg"]  # missing
    files["notes.txt"] = b"not part of it\n"  # extra
    src = make_folder(tmp_path / "src", files)
    with pytest.raises(UpstreamMismatch) as err:
        fetch(src, manifest=manifest, progress=False)
    kinds = {(p.kind, p.path) for p in err.value.problems}
    assert kinds == {("changed", "driver.py"), ("changed", "src/core.cu"),
                     ("missing", "layers/net-1.cfg"), ("extra", "notes.txt")}
    msg = str(err.value)
    assert "\n" not in msg and "nothing was installed" in msg
    assert not (cache / "upstream" / COMMIT).exists()
    assert local_copy(None, manifest) is None


def test_unsafe_and_non_regular_archive_members_are_refused(tmp_path, manifest, cache):
    evil = tarfile.TarInfo("fixture/../../evil.txt")
    evil.size = 3
    link = tarfile.TarInfo("fixture/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    tgz = tmp_path / "bad.tar.gz"
    tgz.write_bytes(make_tar(prefix="fixture/", extra=[evil, link]))
    with pytest.raises(UpstreamMismatch) as err:
        fetch(tgz, manifest=manifest, progress=False)
    kinds = {p.kind for p in err.value.problems}
    assert kinds == {"unsafe", "not-a-file"}
    assert not (tmp_path / "evil.txt").exists()
    assert not (cache / "upstream" / COMMIT).exists()


def test_corrupt_archive_is_reported(tmp_path, manifest, cache):
    tgz = tmp_path / "cut.tar.gz"
    tgz.write_bytes(make_tar()[:200])
    with pytest.raises(ChecksumError, match="truncated or corrupt"):
        fetch(tgz, manifest=manifest, progress=False)


def test_missing_source_path(tmp_path, manifest, cache):
    with pytest.raises(DataError, match="no such file or folder"):
        read_source(tmp_path / "nothing-here", manifest)


# ---------------------------------------------------------------------------------------
# Downloads from a local HTTP server
# ---------------------------------------------------------------------------------------
class ArchiveServer:
    """Serves one archive at /archive.tar.gz; behaviour switchable per test."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.mode = "range"  # range | norange | cut-once
        self.requests: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                if self.path != "/archive.tar.gz":
                    self.send_error(404)
                    return
                data, start = server.payload, 0
                rng = self.headers.get("Range")
                if rng and server.mode != "norange":
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.mode == "cut-once":
                    server.mode = "range"
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/archive.tar.gz"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = ArchiveServer(make_tar())
    yield s
    s.close()


def test_fetch_over_http(server, manifest, cache):
    res = fetch(server.url, manifest=manifest, progress=False, backoff=0)
    assert (res.path / "driver.py").read_bytes() == FILES["driver.py"]
    # the downloaded archive is removed once its files are installed
    assert not any((cache / "downloads").iterdir())


def test_download_resumes_after_a_cut_connection(server, tmp_path):
    server.mode = "cut-once"
    dest = download(server.url, tmp_path / "a.tar.gz", progress=False, backoff=0)
    assert dest.read_bytes() == server.payload
    assert server.requests[0] is None
    assert server.requests[1] == f"bytes={len(server.payload) // 2}-"
    assert not (tmp_path / "a.tar.gz.part").exists()


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    server.mode = "norange"
    part = tmp_path / "a.tar.gz.part"
    part.write_bytes(b"garbage from an older attempt")
    dest = download(server.url, tmp_path / "a.tar.gz", progress=False, backoff=0)
    assert dest.read_bytes() == server.payload
    assert server.requests == [f"bytes={len(b'garbage from an older attempt')}-"]


def test_download_restarts_when_part_is_past_the_end(server, tmp_path):
    part = tmp_path / "a.tar.gz.part"
    part.write_bytes(b"x" * (len(server.payload) + 10))
    dest = download(server.url, tmp_path / "a.tar.gz", progress=False, backoff=0)
    assert dest.read_bytes() == server.payload


def test_download_failure_keeps_partial_file_and_says_so(server, tmp_path):
    bad = server.url.replace("archive.tar.gz", "missing.tar.gz")
    with pytest.raises(DataError, match="HTTP 404"):
        download(bad, tmp_path / "m.tar.gz", progress=False, backoff=0)
    server.close()
    with pytest.raises(DataError, match="download failed after 2 attempts") as err:
        download(server.url, tmp_path / "n.tar.gz", progress=False, retries=2, backoff=0,
                 timeout=2)
    assert "\n" not in str(err.value)


def test_downloaded_archive_failing_verification_is_deleted(server, manifest, cache):
    server.payload = make_tar({**FILES, "driver.py": b"tampered\n"})
    with pytest.raises(UpstreamMismatch):
        fetch(server.url, manifest=manifest, progress=False, backoff=0)
    downloads = cache / "downloads"
    assert not list(downloads.glob("*")), "partial or failed archives must not linger"
    assert not (cache / "upstream" / COMMIT).exists()


def test_stale_earlier_download_is_replaced_by_a_fresh_one(server, manifest, cache):
    stale = cache / "downloads" / f"{COMMIT}.tar.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(make_tar({**FILES, "README.md": b"old\n"}))
    res = fetch(server.url, manifest=manifest, progress=False, backoff=0)
    assert (res.path / "README.md").read_bytes() == FILES["README.md"]
    assert len(server.requests) == 1


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------
@pytest.fixture()
def fixture_manifest(tmp_path, manifest, monkeypatch) -> Path:
    path = write_manifest(manifest, tmp_path / "UPSTREAM.json")
    monkeypatch.setattr(upstream, "MANIFEST_PATH", path)
    return path


def test_cli_fetch_and_refusal(tmp_path, cache, fixture_manifest):
    src = make_folder(tmp_path / "src")
    runner = CliRunner()
    ok = runner.invoke(cli, ["original", "fetch", "--from", str(src), "-q"])
    assert ok.exit_code == 0, ok.output
    assert f"upstream copy: {cache / 'upstream' / COMMIT}" in ok.output
    again = runner.invoke(cli, ["original", "fetch", "--from", str(src), "-q"])
    assert "already present and verified" in again.output

    bad = make_folder(tmp_path / "bad", {**FILES, "extra.txt": b"?\n"})
    res = runner.invoke(cli, ["original", "fetch", "--from", str(bad), "-q", "--force",
                              "--cache-dir", str(tmp_path / "other")])
    assert res.exit_code == 2
    assert "error:" in res.output and "extra.txt: not in the manifest" in res.output
    assert not (tmp_path / "other" / "upstream" / COMMIT).exists()


def test_cli_manifest_regenerates_from_a_folder(tmp_path, fixture_manifest):
    src = make_folder(tmp_path / "src")
    out = tmp_path / "new.json"
    res = CliRunner().invoke(cli, ["original", "manifest", str(src), "--commit", COMMIT,
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "identical to the committed manifest" in res.output
    assert upstream.load_manifest(out).digest() == upstream.load_manifest().digest()


@pytest.mark.skipif(not MIRROR.exists(), reason="needs the local mirror of the release")
def test_fetch_the_real_release_from_the_mirror(tmp_path):
    res = fetch(MIRROR, cache_dir=tmp_path, progress=False)
    m = upstream.load_manifest()
    assert res.files == 246 and res.bytes == m.total_bytes
    assert local_copy(tmp_path, m, deep=True) == res.path
