"""Fetch the pinned 2012 release, verify every file, and unpack it into the cache.

Sources (``alexnet original fetch --from …``):

* nothing: the GitHub archive of the pinned commit (``Manifest.archive_url``);
* an ``http(s)://`` URL of such an archive (a mirror, or a local test server);
* a tarball (``.tar``, ``.tar.gz``, …) or a ``.zip`` file, with or without one top-level
  folder (GitHub's archives have one, ``AlexNet-Source-Code-<commit>/``);
* a git repository, bare mirror or clone: the pinned commit is read with ``git archive``,
  so local edits in a clone's work tree do not matter;
* a plain folder holding the files.

Whatever the source, nothing reaches the cache until every file matched the manifest;
a mismatch raises :class:`~alexnet.original.museum.upstream.UpstreamMismatch` listing every
missing, extra and changed file. GitHub's archives are generated on the fly and their
compressed bytes are not stable, so we verify the files inside, never the archive.

Downloads go through the project's one downloader, :func:`alexnet.download.download`:
they stream into ``<cache>/downloads/<commit>.tar.gz.part``, an interrupted download is
resumed with an HTTP Range request (or restarted when the server ignores it), and the
finished file is renamed into place. The archive is passed without a checksum pin: GitHub
builds it on the fly, so its bytes are not stable; the pin that matters is the manifest,
checked file by file after unpacking. An archive that fails that check is deleted so
that the next attempt starts clean.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from alexnet import __version__, archives
from alexnet import download as pinned
from alexnet.errors import ChecksumError, DataError
from alexnet.io import atomic_write_text, staging_dir
from alexnet.original.museum.upstream import (
    Manifest,
    Problem,
    TreeFile,
    UpstreamMismatch,
    cache_root,
    compare,
    copy_dir,
    is_safe_path,
    load_manifest,
    local_copy,
    marker_path,
)

#: What a failed download's message suggests instead.
OFFLINE_HINT = "without network, pass --from with a local clone, tarball or folder"


@dataclass
class SourceTree:
    """Files read from a source, plus entries refused while reading (links, bad paths)."""

    description: str
    files: dict[str, TreeFile] = field(default_factory=dict)
    refused: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class FetchResult:
    path: Path
    source: str
    files: int
    bytes: int
    reused: bool


# ---------------------------------------------------------------------------------------
# Reading sources
# ---------------------------------------------------------------------------------------
def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def is_git_repo(path: Path) -> bool:
    return (path / ".git").exists() or (
        (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()
    )


def _strip_prefix(names: list[str], manifest: Manifest) -> int:
    """How many leading components to drop: 0, or 1 when all names share one folder.

    The choice is whichever makes more names match the manifest, so an archive with a
    top-level folder and one without are both read correctly.
    """
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) != 1 or any("/" not in n for n in names):
        return 0
    strip1 = sum(1 for n in names if n.split("/", 1)[1] in manifest)
    strip0 = sum(1 for n in names if n in manifest)
    return 1 if strip1 > strip0 else 0


def read_tar(data_or_path: bytes | Path, manifest: Manifest, description: str) -> SourceTree:
    """Read the regular files of a tar archive; only sizes listed in the manifest are read."""
    tree = SourceTree(description)
    try:
        if isinstance(data_or_path, bytes):
            tf = tarfile.open(fileobj=io.BytesIO(data_or_path), mode="r:*")
        else:
            tf = tarfile.open(data_or_path, mode="r:*")
        with tf:
            members = [m for m in tf.getmembers() if not m.isdir()]
            strip = _strip_prefix([m.name for m in members], manifest)
            for m in members:
                name = m.name.split("/", strip)[-1] if strip else m.name
                name = name.removeprefix("./")
                if not is_safe_path(name):
                    tree.refused.append(Problem("unsafe", m.name))
                    continue
                if not m.isfile():
                    tree.refused.append(Problem("not-a-file", name))
                    continue
                expected = manifest.get(name)
                if expected is None:
                    tree.files[name] = TreeFile(b"", False)  # reported as extra; never read
                    continue
                if m.size != expected.size:
                    # Do not read what cannot match; say how big it was.
                    tree.files[name] = TreeFile(b"")
                    tree.refused.append(
                        Problem("changed", name, f"{m.size} bytes, expected {expected.size}")
                    )
                    continue
                f = tf.extractfile(m)
                data = f.read() if f is not None else b""
                tree.files[name] = TreeFile(data, bool(m.mode & 0o111))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ChecksumError(f"{description}: archive is truncated or corrupt ({exc})") from None
    return tree


def read_zip(path: Path, manifest: Manifest) -> SourceTree:
    tree = SourceTree(f"{path} (zip archive)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            strip = _strip_prefix([i.filename for i in infos], manifest)
            for info in infos:
                name = info.filename.split("/", strip)[-1] if strip else info.filename
                if not is_safe_path(name):
                    tree.refused.append(Problem("unsafe", info.filename))
                    continue
                mode = info.external_attr >> 16
                if mode and (mode & 0o170000) not in (0, 0o100000):
                    tree.refused.append(Problem("not-a-file", name))
                    continue
                expected = manifest.get(name)
                if expected is None:
                    tree.files[name] = TreeFile(b"")
                    continue
                if info.file_size != expected.size:
                    tree.files[name] = TreeFile(b"")
                    tree.refused.append(
                        Problem("changed", name,
                                f"{info.file_size} bytes, expected {expected.size}")
                    )
                    continue
                tree.files[name] = TreeFile(zf.read(info), bool(mode & 0o111))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ChecksumError(f"{path}: archive is truncated or corrupt ({exc})") from None
    return tree


def read_git(path: Path, manifest: Manifest) -> SourceTree:
    """The pinned commit of a git repository (bare or not), via ``git archive``."""
    commit = manifest.commit
    try:
        probe = subprocess.run(
            ["git", "-C", str(path), "cat-file", "-e", f"{commit}^{{commit}}"],
            capture_output=True,
        )
    except FileNotFoundError:
        raise DataError(
            f"{path}: reading a git repository needs the git program; "
            "pass a tarball or a folder instead"
        ) from None
    if probe.returncode != 0:
        raise DataError(
            f"{path}: git repository does not contain commit {commit}; "
            "fetch it there first (git fetch origin) or pass another source"
        )
    out = subprocess.run(
        ["git", "-C", str(path), "archive", "--format=tar", commit], capture_output=True
    )
    if out.returncode != 0:
        msg = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DataError(f"{path}: git archive failed ({msg[-1] if msg else out.returncode})")
    return read_tar(out.stdout, manifest, f"{path} (git, commit {commit[:8]})")


def read_folder(path: Path, manifest: Manifest) -> SourceTree:
    tree = SourceTree(f"{path} (folder)")
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                dirnames.remove(d)
                rel = (base / d).relative_to(path).as_posix()
                tree.refused.append(Problem("not-a-file", rel))
        for fn in filenames:
            p = base / fn
            rel = p.relative_to(path).as_posix()
            if p.is_symlink() or not p.is_file():
                tree.refused.append(Problem("not-a-file", rel))
                continue
            expected = manifest.get(rel)
            size = p.stat().st_size
            if expected is None:
                tree.files[rel] = TreeFile(b"")
            elif size != expected.size:
                tree.files[rel] = TreeFile(b"")
                tree.refused.append(
                    Problem("changed", rel, f"{size} bytes, expected {expected.size}")
                )
            else:
                tree.files[rel] = TreeFile(p.read_bytes(), os.access(p, os.X_OK))
    return tree


def read_source(source: str | Path, manifest: Manifest) -> SourceTree:
    """Read a local source of any supported kind (see the module docstring)."""
    path = Path(str(source).removeprefix("file://")).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (expected a clone, tarball or folder)")
    if path.is_dir():
        return read_git(path, manifest) if is_git_repo(path) else read_folder(path, manifest)
    if zipfile.is_zipfile(path):
        return read_zip(path, manifest)
    return read_tar(path, manifest, f"{path} (archive)")


def check_tree(tree: SourceTree, manifest: Manifest, *, progress: bool = True) -> list[Problem]:
    """Compare with the manifest (with a progress bar) and merge the refused entries."""
    with tqdm(
        total=len(manifest.files), desc="verify", unit="file", disable=not progress, leave=False
    ) as bar:
        problems = compare(manifest, tree.files, progress=bar)
    refused_changed = {p.path for p in tree.refused if p.kind == "changed"}
    # A size mismatch was recorded while reading, with the real size; keep that one.
    problems = [p for p in problems if not (p.kind == "changed" and p.path in refused_changed)]
    problems += tree.refused
    return sorted(problems, key=lambda p: (p.path, p.kind))


# ---------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------
def download(
    url: str,
    dest: Path,
    *,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
    opener: Callable[..., http.client.HTTPResponse] | None = None,
) -> Path:
    """Stream the release archive at ``url`` to ``dest`` (resuming, see the module docstring).

    :func:`alexnet.download.download` without a checksum pin (the archive's bytes are not
    stable; its files are verified against the manifest after unpacking).
    """
    return pinned.download(url, dest, pin=None, progress=progress, retries=retries,
                           timeout=timeout, backoff=backoff, opener=opener, hint=OFFLINE_HINT)


# ---------------------------------------------------------------------------------------
# Installing
# ---------------------------------------------------------------------------------------
def install(
    tree: SourceTree, manifest: Manifest, cache_dir: str | Path | None, source: str
) -> Path:
    """Write the verified files into the cache, replacing any older copy as a whole."""
    final = copy_dir(manifest.commit, cache_dir)
    marker = marker_path(manifest.commit, cache_dir)
    with staging_dir(final) as staging:
        for f in manifest.files:
            p = staging / f.path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(tree.files[f.path].data)
            p.chmod(0o755 if f.executable else 0o644)
        marker.unlink(missing_ok=True)  # the old copy is about to go: it is unverified now
    info = {
        "commit": manifest.commit,
        "manifest_digest": manifest.digest(),
        "source": source,
        "files": len(manifest.files),
        "bytes": manifest.total_bytes,
        "verified_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool": f"alexnet-preserved {__version__}",
    }
    atomic_write_text(marker, json.dumps(info, indent=2) + "\n")
    return final


def _verify_or_raise(tree: SourceTree, manifest: Manifest, source: str, progress: bool) -> None:
    problems = check_tree(tree, manifest, progress=progress)
    if problems:
        raise UpstreamMismatch(source, manifest.commit, problems)


def fetch(
    source: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    manifest: Manifest | None = None,
    force: bool = False,
    progress: bool = True,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
) -> FetchResult:
    """Make a verified copy of the pinned release available; return where it is.

    An existing verified copy is re-hashed and reused unless ``force``.
    """
    m = manifest or load_manifest()
    if not force:
        existing = local_copy(cache_dir, m, deep=True)
        if existing is not None:
            return FetchResult(existing, str(existing), len(m.files), m.total_bytes, True)

    src = str(source) if source is not None else m.archive_url
    if is_url(src):
        dest = cache_root(cache_dir) / "downloads" / f"{m.commit}.tar.gz"
        reused_download = dest.exists()
        for attempt in (0, 1):
            if not dest.exists():
                download(src, dest, progress=progress, retries=retries, timeout=timeout,
                         backoff=backoff)
            try:
                tree = read_tar(dest, m, src)
                _verify_or_raise(tree, m, src, progress)
            except ChecksumError:
                dest.unlink(missing_ok=True)
                if reused_download and attempt == 0:
                    reused_download = False  # a stale earlier download: get a fresh one
                    continue
                raise
            break
        path = install(tree, m, cache_dir, src)
        dest.unlink(missing_ok=True)
    else:
        local = Path(src.removeprefix("file://")).expanduser()
        tree = read_source(local, m)
        _verify_or_raise(tree, m, tree.description, progress)
        path = install(tree, m, cache_dir, str(local.resolve()))
    return FetchResult(path, src, len(m.files), m.total_bytes, False)


def tree_from_source(source: str | Path, commit: str) -> dict[str, TreeFile]:
    """Every file of a local source, read in full, for (re)generating the manifest.

    Unlike :func:`read_source` this does not consult a manifest, so new or changed files
    are fingerprinted too.
    """
    path = Path(str(source)).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir() and not is_git_repo(path):
        out = {}
        for p in sorted(path.rglob("*")):
            if p.is_file() and not p.is_symlink():
                rel = p.relative_to(path).as_posix()
                out[rel] = TreeFile(p.read_bytes(), os.access(p, os.X_OK))
        return out
    if path.is_dir():
        raw = subprocess.run(
            ["git", "-C", str(path), "archive", "--format=tar", commit], capture_output=True
        )
        if raw.returncode != 0:
            raise DataError(f"{path}: git archive of commit {commit} failed")
        tf = tarfile.open(fileobj=io.BytesIO(raw.stdout), mode="r:*")
    else:
        try:
            tf = tarfile.open(path, mode="r:*")
        except (tarfile.TarError, OSError) as exc:
            raise DataError(f"{path}: not a readable tar archive ({exc})") from None
    out = {}
    with tf:
        members = [mm for mm in tf.getmembers() if mm.isfile()]
        names = [mm.name for mm in members]
        strip = len({n.split("/", 1)[0] for n in names}) == 1 and all("/" in n for n in names)
        for mm in members:
            name = mm.name.split("/", 1)[1] if strip else mm.name
            if is_safe_path(name):
                archives.bound(mm, str(path))
                fh = tf.extractfile(mm)
                out[str(PurePosixPath(name))] = TreeFile(
                    fh.read() if fh else b"", bool(mm.mode & 0o111)
                )
    return out
