"""The pinned 2012 release: its manifest, and where the verified local copy lives.

Why a manifest at all: every annotation, ledger row and tour stop in this project points
at line numbers of one exact snapshot of computerhistory/AlexNet-Source-Code. Line
numbers are only meaningful for fixed bytes, so ``UPSTREAM.json`` records, for every one
of the 246 files, its size, SHA-256 and line count. With it we can

* range-check annotations without any copy of the upstream text (line counts),
* verify a fetched copy file by file and say precisely what differs (hashes), and
* keep the upstream text itself out of this repository (we ship facts about the files,
  never the files).

The manifest is regenerated from a tree with :func:`build_manifest` (or
``alexnet original manifest SOURCE``); the test suite checks the committed copy is
consistent (sorted, 246 files, 67 of them not cfg files).

The verified copy lives in a cache outside the repository:
``$ALEXNET_CACHE/upstream/<commit>/`` (default root ``$XDG_CACHE_HOME/alexnet`` or
``~/.cache/alexnet``), next to a marker ``<commit>.verified.json`` written only after
every file matched. :func:`local_copy` returns that directory or None.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from alexnet import UPSTREAM_COMMIT, UPSTREAM_REPO
from alexnet.download import cache_root as download_cache_root
from alexnet.errors import ChecksumError, DataError
from alexnet.io import atomic_write_text, sha256_file

MANIFEST_PATH = Path(__file__).parent.parent / "UPSTREAM.json"
MANIFEST_FORMAT = 1
#: file types GitHub shows rendered, without line anchors, unless asked for ``?plain=1``
RENDERED_BY_GITHUB = (".md", ".markdown", ".csv", ".tsv", ".rst", ".ipynb")
LICENSE_SPDX = "BSD-2-Clause"
CFG_SUFFIXES = (".cfg", ".cfg.save")


def is_cfg(path: str) -> bool:
    """cfg files (layer definitions and params) are annotated as families, not one by one."""
    return path.endswith(CFG_SUFFIXES)


def count_lines(data: bytes) -> int:
    """Lines as an editor numbers them: a last line without a newline still counts."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@dataclass(frozen=True)
class UpstreamFile:
    """One file of the release, as facts: where it is and which bytes it must hold."""

    path: str
    size: int
    sha256: str
    lines: int
    executable: bool = False

    @property
    def is_cfg(self) -> bool:
        return is_cfg(self.path)

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "lines": self.lines,
            "executable": self.executable,
        }


@dataclass(frozen=True)
class TreeFile:
    """A file read from some copy of the release (archive, clone, folder)."""

    data: bytes
    executable: bool = False


@dataclass(frozen=True)
class Problem:
    """One way a copy differs from the manifest; ``str()`` gives a one-line report."""

    kind: str  # missing | extra | changed | unsafe | not-a-file
    path: str
    detail: str = ""

    def __str__(self) -> str:
        text = {
            "missing": "missing",
            "extra": "not in the manifest (extra file)",
            "changed": "content differs",
            "unsafe": "unsafe path (absolute or with '..'); refused",
            "not-a-file": "not a regular file (link or special file); refused",
        }.get(self.kind, self.kind)
        return f"{self.path}: {text}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Manifest:
    """The pinned release: repository, commit, licence facts and every file's fingerprint."""

    repository: str
    commit: str
    license: str
    copyright: str
    files: tuple[UpstreamFile, ...]
    _index: dict[str, UpstreamFile] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {f.path: f for f in self.files})

    # -- lookups ---------------------------------------------------------------------
    def get(self, path: str) -> UpstreamFile | None:
        return self._index.get(path)

    def __contains__(self, path: object) -> bool:
        return path in self._index

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    @property
    def source_files(self) -> list[UpstreamFile]:
        """The 67 files annotated one by one (everything except cfg files)."""
        return [f for f in self.files if not f.is_cfg]

    @property
    def cfg_files(self) -> list[UpstreamFile]:
        return [f for f in self.files if f.is_cfg]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    # -- addresses -------------------------------------------------------------------
    @property
    def archive_url(self) -> str:
        return f"{self.repository}/archive/{self.commit}.tar.gz"

    def permalink(self, path: str, first: int | None = None, last: int | None = None) -> str:
        """A GitHub link to the pinned lines, for readers without a local copy.

        GitHub renders Markdown and CSV files, and a rendered page has no line anchors:
        a link to their lines asks for the plain view (``?plain=1``).
        """
        url = f"{self.repository}/blob/{self.commit}/{path}"
        if first is None:
            return url
        if path.lower().endswith(RENDERED_BY_GITHUB):
            url += "?plain=1"
        if last is None or last == first:
            return f"{url}#L{first}"
        return f"{url}#L{first}-L{last}"

    # -- serialisation ---------------------------------------------------------------
    def to_json(self) -> dict:
        cfg = sum(1 for f in self.files if f.is_cfg)
        return {
            "format": MANIFEST_FORMAT,
            "repository": self.repository,
            "commit": self.commit,
            "archive_url": self.archive_url,
            "license": self.license,
            "copyright": self.copyright,
            "file_count": len(self.files),
            "non_cfg_count": len(self.files) - cfg,
            "cfg_count": cfg,
            "total_bytes": self.total_bytes,
            "files": [f.to_json() for f in self.files],
        }

    def dumps(self) -> str:
        """JSON with one file per line, so that a regenerated manifest diffs readably."""
        data = self.to_json()
        files = data.pop("files")
        head = json.dumps(data, indent=2, ensure_ascii=False)
        rows = ",\n".join("    " + json.dumps(f, ensure_ascii=False) for f in files)
        return head[:-2] + ',\n  "files": [\n' + rows + "\n  ]\n}\n"

    def digest(self) -> str:
        """A fingerprint of the manifest's content (not its formatting)."""
        canon = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()


# ---------------------------------------------------------------------------------------
# Building, loading and writing
# ---------------------------------------------------------------------------------------
def file_entry(path: str, data: bytes, executable: bool = False) -> UpstreamFile:
    return UpstreamFile(
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        lines=count_lines(data),
        executable=executable,
    )


def build_manifest(
    tree: Mapping[str, TreeFile],
    *,
    repository: str = UPSTREAM_REPO,
    commit: str = UPSTREAM_COMMIT,
    license: str = LICENSE_SPDX,
    copyright: str | None = None,
) -> Manifest:
    """Fingerprint every file of ``tree``; the copyright line is read from LICENSE line 1."""
    if copyright is None:
        lic = tree.get("LICENSE")
        first = lic.data.decode("utf-8", "replace").splitlines()[0] if lic and lic.data else ""
        copyright = first.strip()
    files = tuple(
        file_entry(p, tree[p].data, tree[p].executable) for p in sorted(tree)
    )
    return Manifest(repository, commit, license, copyright, files)


def _fail(path: Path | str, where: str, expected: str) -> DataError:
    return DataError(f"{path}: {where}: expected {expected}")


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and check a manifest; any malformed entry is reported as one line."""
    p = Path(path) if path is not None else MANIFEST_PATH
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{p}: manifest not found") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not readable as JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise _fail(p, "top level", "a JSON object")
    if raw.get("format") != MANIFEST_FORMAT:
        raise _fail(p, "format", f"{MANIFEST_FORMAT}, got {raw.get('format')!r}")
    for key in ("repository", "commit", "license", "copyright"):
        if not isinstance(raw.get(key), str):
            raise _fail(p, key, "a string")
    entries = raw.get("files")
    if not isinstance(entries, list):
        raise _fail(p, "files", "a list")
    files = []
    for i, e in enumerate(entries):
        where = f"files[{i}]"
        if not isinstance(e, dict):
            raise _fail(p, where, "an object")
        if not isinstance(e.get("path"), str) or not e["path"]:
            raise _fail(p, f"{where}.path", "a non-empty string")
        for key in ("size", "lines"):
            if not isinstance(e.get(key), int) or isinstance(e.get(key), bool) or e[key] < 0:
                raise _fail(p, f"{where}.{key}", "a non-negative integer")
        sha = e.get("sha256")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise _fail(p, f"{where}.sha256", "64 lower-case hex digits")
        files.append(
            UpstreamFile(e["path"], e["size"], sha, e["lines"], bool(e.get("executable", False)))
        )
    return Manifest(
        raw["repository"], raw["commit"], raw["license"], raw["copyright"], tuple(files)
    )


def write_manifest(manifest: Manifest, path: str | Path | None = None) -> Path:
    p = Path(path) if path is not None else MANIFEST_PATH
    atomic_write_text(p, manifest.dumps())
    return p


def manifest_problems(manifest: Manifest) -> list[str]:
    """Internal consistency of a manifest (what the test of the committed copy asserts)."""
    out = []
    paths = manifest.paths
    if paths != sorted(paths):
        out.append("files are not sorted by path")
    if len(set(paths)) != len(paths):
        out.append("duplicate paths")
    for f in manifest.files:
        if not is_safe_path(f.path):
            out.append(f"{f.path}: unsafe path")
        if f.lines > 0 and f.size == 0:
            out.append(f"{f.path}: lines without bytes")
    return out


# ---------------------------------------------------------------------------------------
# Comparing a copy with the manifest
# ---------------------------------------------------------------------------------------
def is_safe_path(path: str) -> bool:
    p = PurePosixPath(path)
    return bool(path) and not p.is_absolute() and ".." not in p.parts and "\\" not in path


def compare(
    manifest: Manifest,
    tree: Mapping[str, TreeFile],
    *,
    progress: Iterable | None = None,
) -> list[Problem]:
    """Every difference between ``tree`` and the manifest, sorted by path.

    ``progress``, if given, is advanced once per manifest file (a tqdm bar).
    """
    problems: list[Problem] = []
    for f in manifest.files:
        got = tree.get(f.path)
        if got is None:
            problems.append(Problem("missing", f.path))
        else:
            sha = hashlib.sha256(got.data).hexdigest()
            if len(got.data) != f.size or sha != f.sha256:
                problems.append(
                    Problem(
                        "changed",
                        f.path,
                        f"{len(got.data)} bytes, sha256 {sha[:12]}…; "
                        f"expected {f.size} bytes, sha256 {f.sha256[:12]}…",
                    )
                )
        if progress is not None:
            progress.update(1)  # type: ignore[attr-defined]
    for path in tree:
        if path not in manifest:
            problems.append(Problem("extra", path))
    return sorted(problems, key=lambda p: (p.path, p.kind))


class UpstreamMismatch(ChecksumError):
    """A copy of the release differs from the manifest; ``problems`` lists every difference."""

    def __init__(self, source: str, commit: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        counts: dict[str, int] = {}
        for p in problems:
            counts[p.kind] = counts.get(p.kind, 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        first = "; ".join(str(p) for p in problems[:3])
        more = f"; … {len(problems) - 3} more" if len(problems) > 3 else ""
        super().__init__(
            f"{source}: does not match the pinned release {commit[:8]} ({summary}): "
            f"{first}{more}; nothing was installed"
        )


# ---------------------------------------------------------------------------------------
# The local verified copy
# ---------------------------------------------------------------------------------------
def cache_root(override: str | Path | None = None) -> Path:
    """Where fetched data lives: the one rule of :func:`alexnet.download.cache_root`
    (option, then $ALEXNET_CACHE, then the XDG cache folder), so the 2012 release and the
    data sets share one cache."""
    return download_cache_root(override)


def copy_dir(commit: str = UPSTREAM_COMMIT, cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "upstream" / commit


def marker_path(commit: str = UPSTREAM_COMMIT, cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "upstream" / f"{commit}.verified.json"


def local_copy(
    cache_dir: str | Path | None = None,
    manifest: Manifest | None = None,
    *,
    deep: bool = False,
) -> Path | None:
    """The folder of the verified upstream copy, or None if there is none (or it changed).

    The quick check (default) trusts the marker written after verification and only
    compares file sizes; ``deep=True`` re-hashes every file (about 1 MB in all).
    """
    m = manifest or load_manifest()
    root = copy_dir(m.commit, cache_dir)
    marker = marker_path(m.commit, cache_dir)
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("manifest_digest") != m.digest():
        return None
    if not root.is_dir():
        return None
    for f in m.files:
        p = root / f.path
        try:
            if p.stat().st_size != f.size:
                return None
        except OSError:
            return None
        if deep and sha256_file(p) != f.sha256:
            return None
    return root


class UpstreamSource:
    """Reads lines of the verified copy for display and checks (decoded leniently)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: dict[str, list[str]] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self._cache:
            data = (self.root / path).read_bytes()
            self._cache[path] = split_lines(data)
        return self._cache[path]


def split_lines(data: bytes) -> list[str]:
    """Split on newlines only, so numbering agrees with :func:`count_lines`.

    (``str.splitlines`` also splits on form feeds and other separators, which would
    shift every later line number.)
    """
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
