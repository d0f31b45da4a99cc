"""Pinned files: find them locally or download them, and never hand out an unchecked byte.

Everything the reproduction pipeline reads from outside the repository (the CIFAR-10
tarball, an image-folder copy, user-supplied ILSVRC-2012 archives, pretrained weights) is
described by a :class:`Pin`: a file name, an optional canonical URL and one or more
checksums. :func:`obtain` looks for the file, in this order,

1. in the caller's local folders (the pipeline passes ``data/``) and at an explicit
   ``source`` (a file path or URL the user named),
2. in the download cache (``$ALEXNET_CACHE/downloads``, default ``~/.cache/alexnet``),
3. in each mirror (a folder, or a base URL: ``<mirror>/<file name>``),
4. at the canonical URL,

and returns the first copy whose checksums match. A copy that does not match is never
used: a cached or downloaded one is deleted (so the next attempt starts clean), a local
one is reported and left alone (it is the user's file). If no copy matches, the error
names every place tried and what was wrong there.

Downloads stream into ``<name>.part`` with a tqdm bar. An interrupted download keeps its
part file and the next attempt resumes it with an HTTP Range request; a server that
ignores the Range header (answers 200) restarts it from byte 0. The finished file is
checked, then renamed into place atomically and durably (:func:`alexnet.io.commit_file`).
A server is not trusted beyond that: a pin's size bounds what is read (another announced
size is refused before a byte is kept), a ``Content-Length`` that is not what arrives
is noticed, redirects are followed to http and https only (never from https to http),
and a download folder that is a file or cannot be written is named in one line
(:func:`writable_folder`).

:func:`download` is the project's one HTTP downloader: the upstream fetcher
(:mod:`alexnet.original.museum.fetch`) calls it too, without a checksum pin (GitHub's
archives are built on the fly, so their bytes are not stable; the release is verified
file by file after unpacking) and with its own ``hint``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from alexnet import __version__
from alexnet.errors import ChecksumError, ConfigError, DataError
from alexnet.io import atomic_open, commit_file
from alexnet.io import file_digests as plain_file_digests

CHUNK = 1 << 16
USER_AGENT = f"alexnet-preserved/{__version__} (+pinned download)"
#: The checksum algorithms a pin may name, strongest first (the cache is keyed by the first).
ALGORITHMS = ("sha256", "sha1", "md5")
MIRROR_ENV = "ALEXNET_MIRROR"
CACHE_ENV = "ALEXNET_CACHE"


@dataclass(frozen=True)
class Pin:
    """A file known by name and checksum, with the URL it is published at (if any)."""

    name: str
    digests: Mapping[str, str]
    url: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ConfigError(f"pinned file name {self.name!r} must be a plain file name")
        clean = {}
        for algo, value in self.digests.items():
            if algo not in ALGORITHMS:
                raise ConfigError(f"{self.name}: unknown checksum {algo!r} (use {ALGORITHMS})")
            value = str(value).strip().lower()
            want = hashlib.new(algo).digest_size * 2
            if len(value) != want or any(c not in "0123456789abcdef" for c in value):
                raise ConfigError(f"{self.name}: {algo} must be {want} hex digits, got {value!r}")
            clean[algo] = value
        if not clean:
            raise ConfigError(f"{self.name}: no checksum pinned (give md5, sha1 or sha256)")
        object.__setattr__(self, "digests", dict(sorted(clean.items(),
                                                        key=lambda kv: ALGORITHMS.index(kv[0]))))

    @property
    def key(self) -> str:
        """``algo-hex`` of the strongest pinned checksum (names the cache entry)."""
        algo, value = next(iter(self.digests.items()))
        return f"{algo}-{value}"

    def describe(self) -> str:
        return ", ".join(f"{a} {v}" for a, v in self.digests.items())


@dataclass
class Obtained:
    """Where a verified copy of a pinned file is, and where it came from."""

    pin: Pin
    path: Path
    origin: str
    digests: dict[str, str]
    size: int


@dataclass
class _Attempts:
    """What went wrong where, for the final error message."""

    notes: list[str] = field(default_factory=list)

    def add(self, where: str, why: str) -> None:
        self.notes.append(f"{where}: {why}")


# ---------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------
def file_digests(path: str | Path, algos: Iterable[str], *, progress: bool = False,
                 desc: str | None = None) -> dict[str, str]:
    """Hex digests of a file in one pass (a progress bar for big files when asked)."""
    path = Path(path)
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=desc or f"checking {path.name}",
              disable=not progress or size < (64 << 20), leave=False) as bar:
        return plain_file_digests(path, algos, on_chunk=bar.update)


def mismatch(path: str | Path, pin: Pin, *, progress: bool = False) -> str | None:
    """None when ``path`` matches every checksum of ``pin``; else what differs, in words."""
    path = Path(path)
    if pin.size is not None and path.stat().st_size != pin.size:
        return f"{path.stat().st_size} bytes, expected {pin.size}"
    got = file_digests(path, pin.digests, progress=progress)
    for algo, want in pin.digests.items():
        if got[algo] != want:
            return f"{algo} {got[algo]}, expected {want}"
    return None


def verify(path: str | Path, pin: Pin, *, progress: bool = False) -> dict[str, str]:
    """Raise :class:`ChecksumError` unless ``path`` matches ``pin``; return its digests."""
    problem = mismatch(path, pin, progress=progress)
    if problem:
        raise ChecksumError(f"{path}: {problem} (corrupt, truncated or a different file)")
    return dict(pin.digests)


# ---------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------
class _Restart(Exception):
    pass


class _Incomplete(Exception):
    pass


class _Refused(Exception):
    """A redirect this downloader does not follow (its message says why)."""


class SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http and https only, and never from https down to http.

    urllib follows a redirect to ``ftp://`` too, and refuses ``file://`` with a
    multi-line message; a pinned download has no business leaving the web, so any other
    scheme is refused here, in one line naming the target. The pin would still catch
    altered content after a downgrade, but only once the whole file had crossed the
    network in clear text: an https URL stays https.
    """

    def http_error_302(self, req, fp, code, msg, headers):  # noqa: ANN001 (urllib's hook)
        location = headers.get("Location") or headers.get("URI")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            scheme = urllib.parse.urlsplit(target).scheme.lower()
            if scheme not in ("http", "https"):
                fp.close()
                raise _Refused(f"redirected to {target!r}, which is refused: only http and "
                               "https redirects are followed")
            if scheme == "http" and urllib.parse.urlsplit(req.full_url).scheme == "https":
                fp.close()
                raise _Refused(f"redirected to {target!r}, which is refused: a redirect "
                               "from https to plain http is not followed")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "file://"))


def writable_folder(folder: str | Path, *, what: str = "download folder") -> Path:
    """Create ``folder`` (and its parents) or say in one line why it cannot be used.

    A regular file where the folder (or one of its parents) should be, and a folder this
    process may not write, are the user's to fix; they are named, with what to do, rather
    than left to surface as an ``OSError`` about some file deeper inside.
    """
    folder = Path(folder)
    advice = f"set {CACHE_ENV} (or the command's cache option) to another folder"
    for p in (folder, *folder.parents):
        if p.is_dir():
            break
        if p.exists() or p.is_symlink():
            raise DataError(f"{p}: a file is where a folder is expected (the {what}); "
                            f"move it away or {advice}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot be created or is not writable "
                        f"({exc.strerror or exc}); the {what} must be a writable folder: "
                        f"{advice}") from None
    return folder


def _write_error(part: Path, exc: OSError) -> DataError:
    return DataError(f"{part.parent}: not writable ({exc.strerror or exc}) while saving "
                     f"{part.name}; free space or set {CACHE_ENV} (or the command's cache option) "
                     "to another folder")


def _announced_total(resp: http.client.HTTPResponse, offset: int, status: int) -> int | None:
    """The whole file's size as the server states it (Content-Range, else Content-Length)."""
    if status == 206:
        total = resp.headers.get("Content-Range", "").rpartition("/")[2]
        if total.isdigit():
            return int(total)
    length = resp.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def download(
    url: str,
    dest: str | Path,
    *,
    pin: Pin | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
    opener: Callable[..., http.client.HTTPResponse] | None = None,
    hint: str = "",
) -> Path:
    """Stream ``url`` to ``dest`` through ``dest.part``, resuming after interruptions.

    With ``pin`` the finished file is checked before it is renamed into place; on a
    mismatch the part file is deleted and :class:`ChecksumError` raised. A pin with a
    size also bounds the transfer: a server announcing another size is refused before a
    byte is saved, and a stream running past the size is cut there (and deleted).
    Network failures, and a server sending fewer bytes than it announced, keep the part
    file so that the next call resumes it. Redirects are followed to http and https
    only, never from https to http; a redirect loop is refused. A folder that cannot
    hold the download is named in one line. ``hint`` ends the error message when every
    attempt failed (say what the user can do instead).
    """
    open_url = opener or urllib.request.build_opener(SafeRedirects).open
    dest = Path(dest)
    writable_folder(dest.parent)
    part = dest.with_name(dest.name + ".part")
    limit = pin.size if pin is not None else None
    last_error: BaseException | None = None
    attempts = max(1, retries)
    for attempt in range(attempts):
        if attempt and backoff:
            time.sleep(backoff * attempt)
        offset = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        req = urllib.request.Request(url, headers=headers)
        try:
            with open_url(req, timeout=timeout) as resp:
                status = getattr(resp, "status", None) or 200
                if offset and status == 206:
                    crange = resp.headers.get("Content-Range", "")
                    if not crange.startswith(f"bytes {offset}-"):
                        part.unlink(missing_ok=True)
                        raise _Restart(f"server resumed at the wrong place ({crange!r})")
                    mode = "ab"
                else:
                    offset, mode = 0, "wb"  # no range support: start over
                total = _announced_total(resp, offset, status)
                if limit is not None and total is not None and total != limit:
                    part.unlink(missing_ok=True)
                    raise ChecksumError(
                        f"{url}: the server announces {total:,} bytes, the pin expects "
                        f"{limit:,}; nothing was kept (a different file on the server, or a "
                        "wrong pin)")
                try:
                    out = open(part, mode)
                except OSError as exc:
                    raise _write_error(part, exc) from None
                with (
                    out,
                    tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                         desc=f"download {dest.name}", disable=not progress,
                         leave=False) as bar,
                ):
                    size = offset
                    while chunk := resp.read(CHUNK):
                        size += len(chunk)
                        if limit is not None and size > limit:
                            break
                        try:
                            out.write(chunk)
                        except OSError as exc:
                            raise _write_error(part, exc) from None
                        bar.update(len(chunk))
                if limit is not None and size > limit:
                    part.unlink(missing_ok=True)
                    raise ChecksumError(f"{url}: the server sent more than the pinned "
                                        f"{limit:,} bytes; the download was stopped there "
                                        "and deleted (a different file, or a wrong pin)")
                size = part.stat().st_size
                if total is not None and size != total:
                    raise _Incomplete(f"the server announced {total:,} bytes but sent "
                                      f"{size:,}")
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                part.unlink(missing_ok=True)  # our part is useless to this server: restart
                last_error = exc
                continue
            if 300 <= exc.code < 400:
                raise DataError(f"{url}: too many redirects (HTTP {exc.code}: a redirect loop, "
                                "or a chain longer than "
                                f"{SafeRedirects.max_redirections})") from None
            reason = str(exc.reason).splitlines()[0] if str(exc.reason) else ""
            raise DataError(f"{url}: download refused (HTTP {exc.code} {reason})") from None
        except _Refused as exc:
            raise DataError(f"{url}: {exc}") from None
        except (_Restart, _Incomplete) as exc:
            last_error = exc
            continue
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last_error = exc
            continue
        if pin is not None:
            problem = mismatch(part, pin)
            if problem:
                part.unlink(missing_ok=True)
                raise ChecksumError(f"{url}: {problem}; the download was deleted (a corrupt "
                                    "transfer, a changed file on the server or a wrong pin)")
        commit_file(part, dest)
        return dest
    kept = (f"; the partial file {part} is kept and the next attempt resumes it"
            if part.exists() else "")
    tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
    why = " ".join(str(last_error).split())  # one line, whatever the library said
    raise DataError(f"{url}: download failed after {tries} ({why}){kept}"
                    + (f"; {hint}" if hint else ""))


# ---------------------------------------------------------------------------------------
# Finding a verified copy
# ---------------------------------------------------------------------------------------
def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else $ALEXNET_CACHE, else $XDG_CACHE_HOME/alexnet (~/.cache/alexnet)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alexnet"


def mirrors_from(setting: str | Iterable[str] | None) -> list[str]:
    """The mirrors to try: $ALEXNET_MIRROR when set (it wins), else ``setting``.

    Either may hold several entries separated by commas.
    """
    env = os.environ.get(MIRROR_ENV, "").strip()
    raw: list[str]
    if env:
        raw = env.split(",")
    elif setting is None:
        raw = []
    elif isinstance(setting, str):
        raw = setting.split(",")
    else:
        raw = [str(s) for s in setting]
    return [m.strip() for m in raw if m and m.strip()]


def _join(base: str, name: str) -> str:
    if is_url(base):
        return base.rstrip("/") + "/" + urllib.parse.quote(name)
    return str(Path(base).expanduser() / name)


def _copy_verified(src: Path, dest: Path, pin: Pin, progress: bool) -> None:
    """Copy ``src`` to ``dest`` atomically, only if the copy matches the pin."""
    with (
        open(src, "rb") as fin,
        atomic_open(dest, mode="umask") as fout,
        tqdm(total=src.stat().st_size, unit="B", unit_scale=True,
             desc=f"copy {src.name}", disable=not progress, leave=False) as bar,
    ):
        while chunk := fin.read(1 << 20):
            fout.write(chunk)
            bar.update(len(chunk))
        fout.flush()
        problem = mismatch(fout.name, pin)  # the copy, before it takes the real name
        if problem:
            raise ChecksumError(f"{src}: {problem}")


def obtain(
    pin: Pin,
    *,
    local_dirs: Iterable[str | Path] = (),
    source: str | Path | None = None,
    mirrors: Iterable[str] = (),
    cache_dir: str | Path | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
    opener: Callable[..., http.client.HTTPResponse] | None = None,
) -> Obtained:
    """A verified copy of ``pin``: local (used in place) or in the download cache.

    See the module docstring for the search order. Raises :class:`ChecksumError` when a
    downloaded copy does not match (after deleting it), :class:`DataError` when no copy
    could be found or reached anywhere.
    """
    tried = _Attempts()
    bad_download: str | None = None

    def local_candidate(path: Path, where: str) -> Obtained | None:
        if not path.is_file():
            return None
        problem = mismatch(path, pin, progress=progress)
        if problem:
            tried.add(where, problem)
            return None
        return Obtained(pin, path, where, dict(pin.digests), path.stat().st_size)

    # 1. the user's own copies: used in place, never modified or deleted
    places: list[tuple[Path, str]] = [(Path(d) / pin.name, str(Path(d) / pin.name))
                                      for d in local_dirs]
    src_url = None
    if source is not None:
        s = str(source)
        if is_url(s) and not s.startswith("file://"):
            src_url = s
        else:
            p = Path(s.removeprefix("file://")).expanduser()
            places.append((p / pin.name if p.is_dir() else p, str(p)))
    for path, where in places:
        found = local_candidate(path, where)
        if found is not None:
            return found
    if source is not None and src_url is None and not places[-1][0].is_file():
        tried.add(str(source), "no such file")

    # 2. the download cache (entries are named by checksum, so a different pin never
    #    reuses them); a damaged entry is removed
    cached = cache_root(cache_dir) / "downloads" / pin.key / pin.name
    if cached.is_file():
        problem = mismatch(cached, pin, progress=progress)
        if problem is None:
            return Obtained(pin, cached, f"cache {cached}", dict(pin.digests),
                            cached.stat().st_size)
        cached.unlink()
        tried.add(str(cached), f"{problem} (removed)")

    # 3. mirrors and the canonical URL, into the cache: a cache folder that cannot hold
    #    the copy is the one thing to fix, so it is said alone, not among the places tried
    mirrors = list(mirrors)
    if mirrors or src_url or pin.url:
        writable_folder(cached.parent, what="download cache")
    remote: list[str] = []
    if src_url:
        remote.append(src_url)
    for m in mirrors:
        loc = _join(m, pin.name)
        if is_url(loc) and not loc.startswith("file://"):
            remote.append(loc)
            continue
        path = Path(loc.removeprefix("file://"))
        if not path.is_file():
            tried.add(loc, "not there")
            continue
        try:
            _copy_verified(path, cached, pin, progress)
        except ChecksumError as exc:
            tried.add(loc, str(exc).split(": ", 1)[-1])
            continue
        return Obtained(pin, cached, f"mirror {path}", dict(pin.digests), cached.stat().st_size)
    if pin.url:
        remote.append(pin.url)
    for url in remote:
        try:
            download(url, cached, pin=pin, progress=progress, retries=retries,
                     timeout=timeout, backoff=backoff, opener=opener)
        except ChecksumError as exc:
            bad_download = str(exc)
            tried.add(url, str(exc).split(": ", 1)[-1])
            continue
        except DataError as exc:
            tried.add(url, str(exc).split(": ", 1)[-1])
            continue
        return Obtained(pin, cached, url, dict(pin.digests), cached.stat().st_size)

    where = "; ".join(tried.notes) or "no local copy, no mirror and no URL"
    if bad_download is not None and len(remote) == 1:
        raise ChecksumError(bad_download)
    advice = (f"put a copy in {', '.join(str(d) for d in local_dirs) or 'a local folder'} "
              f"or set {MIRROR_ENV} to a folder or URL that holds {pin.name}")
    cls = ChecksumError if bad_download is not None else DataError
    raise cls(f"{pin.name} ({pin.describe()}): no verified copy found [{where}]; {advice}")


def link_or_copy(src: Path, dest: Path) -> None:
    """Place ``src`` at ``dest`` (a hard link when possible, else a copy), atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        commit_file(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
