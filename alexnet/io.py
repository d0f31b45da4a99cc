"""Files written whole or not at all, and file checksums: the one home of both.

Checkpoints, caches, metrics, reports, pickles, manifests, downloads and generated docs
all go through here, so they share one guarantee: a reader sees the old file or the new
one, never half of either, and the new one survives a power cut once the call returned.
The recipe is the classic one: write a temporary file in the SAME folder (a rename is only
atomic within one file system), flush and ``fsync`` it, ``os.replace`` it over the real
name, then ``fsync`` the folder so that the rename itself is on disk. On any failure the
temporary file is removed and the old file is untouched.

File modes. ``tempfile.mkstemp`` creates its file as 0600; every file written here gets
the usual mode instead (0666 minus the umask, what ``open()`` would give), so run folders,
checkpoints and reports can be shared the way the user's umask says. A writer that wants
otherwise says so with ``mode=``: ``"private"`` (0600) or an explicit number such as 0o644.

Leftovers and collisions. Temporary files are named ``.<name>.<random>.tmp``; a process
killed between creating one and renaming it leaves it behind, so :func:`sweep_stale_tmp`
removes such files once they are older than an hour (a live writer's file is younger).
:func:`folder_lock` takes an exclusive ``flock`` on a folder's ``.lock`` file so that two
processes cannot train into one run folder at the same time; a cache entry that is swapped
in whole has its lock beside it (:func:`entry_lock_path`), and its builder's staging copy
``<entry>.tmp-*`` is swept by :func:`sweep_unlocked_staging` once no live process holds
that lock. The kernel drops a lock when its holder dies, so a crash never leaves a stale
lock (:func:`lock_file` is the one place the rule is written).

Folders are replaced the same way with :func:`staging_dir`: build the new content in a
sibling folder, then swap it in with one rename.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from alexnet.errors import FolderBusy

#: How an atomically written file's permissions are set (see the module docstring).
FileMode = int | Literal["private", "umask"]

CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------
# Durability primitives
# ---------------------------------------------------------------------------------------
def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a folder's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """``fsync`` a folder, so that renames inside it are durable; best effort."""
    try:
        fsync_path(path)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic


def umask_mode() -> int:
    """0666 minus the process umask: the mode ``open(path, "w")`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _resolve_mode(mode: FileMode) -> int | None:
    """The number to ``chmod`` to, or None to keep mkstemp's 0600."""
    if mode == "private":
        return None
    if mode == "umask":
        return umask_mode()
    if isinstance(mode, int) and not isinstance(mode, bool):
        return mode
    raise ValueError(f"mode must be 'private', 'umask' or an int, got {mode!r}")


def commit_file(tmp: str | Path, path: str | Path) -> Path:
    """Move a finished temporary file over ``path`` durably: fsync, rename, fsync folder.

    ``tmp`` must be in the same folder as ``path`` (or at least on the same file system).
    For writers that produce their file under a temporary name by themselves (a download's
    ``.part`` file, a compiler's output).
    """
    path = Path(path)
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


# ---------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------
@contextmanager
def atomic_path(path: str | Path, *, mode: FileMode = "umask") -> Iterator[Path]:
    """A temporary path beside ``path`` for writers that insist on a file name.

    ``with atomic_path(out) as tmp: save_file(tensors, str(tmp))``. The file exists
    (empty) when the block starts; the writer may overwrite it. When the block ends
    normally the file is fsynced, given its mode and renamed over ``path``; when it
    raises, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        chmod = _resolve_mode(mode)
        if chmod is not None:
            os.chmod(tmp, chmod)
        commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path, binary: bool = True, *,
                mode: FileMode = "umask") -> Iterator[IO[Any]]:
    """An open file beside ``path`` for writers that stream (pickle, zip, numpy).

    ``with atomic_open(out) as fh: pickle.dump(obj, fh)``. ``binary=False`` gives a
    UTF-8 text file. On normal exit it is flushed, fsynced and renamed over ``path``;
    on an exception it is removed.
    """
    with atomic_path(path, mode=mode) as tmp:
        fh = open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: FileMode = "umask") -> str:
    """Write ``data`` to ``path`` atomically and durably; return its sha256 (hex)."""
    with atomic_open(path, mode=mode) as fh:
        fh.write(data)
    return hashlib.sha256(data).hexdigest()


def atomic_write_text(path: str | Path, text: str, *, mode: FileMode = "umask") -> str:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8; returns its sha256."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def json_text(data: Any, *, indent: int | None = 2, sort_keys: bool = False,
              allow_nan: bool = True) -> str:
    """``json.dumps`` plus a final newline: the layout of every JSON file we write."""
    return json.dumps(data, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan) + "\n"


def atomic_write_json(path: str | Path, data: Any, *, indent: int | None = 2,
                      sort_keys: bool = False, allow_nan: bool = True,
                      mode: FileMode = "umask") -> str:
    """Write ``data`` as JSON (see :func:`json_text`) atomically; returns its sha256."""
    text = json_text(data, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan)
    return atomic_write_text(path, text, mode=mode)


# ---------------------------------------------------------------------------------------
# Folders replaced as a whole
# ---------------------------------------------------------------------------------------
def fsync_tree(root: str | Path) -> None:
    """fsync every regular file under ``root`` and every folder (best effort for folders)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for fn in filenames:
            p = Path(dirpath) / fn
            if p.is_file() and not p.is_symlink():
                fsync_path(p)
        fsync_dir(dirpath)


@contextmanager
def staging_dir(out: str | Path) -> Iterator[Path]:
    """Build a folder's new content beside it, then swap it in as a whole.

    Yields ``.<name>.staging-<pid>`` next to ``out`` (emptied first). When the block ends
    normally, its files are fsynced, the old ``out`` (if any) is removed and the staging
    folder renamed to ``out``; in every case no staging folder is left behind. A reader
    (DVC, the next stage) therefore sees the old folder, the new one, or briefly none,
    never a half-written one.
    """
    out = Path(out)
    staging = out.with_name(f".{out.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        fsync_tree(staging)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
        fsync_dir(out.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------
def file_digests(path: str | Path, algos: Iterable[str] = ("sha256",), *,
                 on_chunk: Callable[[int], object] | None = None) -> dict[str, str]:
    """Hex digests of a file for every algorithm in ``algos``, in one chunked pass.

    ``on_chunk`` is called with each chunk's length (a progress bar's ``update``).
    """
    hashes = {a: hashlib.new(a) for a in algos}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            for h in hashes.values():
                h.update(chunk)
            if on_chunk is not None:
                on_chunk(len(chunk))
    return {a: h.hexdigest() for a, h in hashes.items()}


def sha256_file(path: str | Path) -> str:
    """The sha256 (hex) of a file, read in chunks (big files never sit in memory)."""
    return file_digests(path, ("sha256",))["sha256"]


# ---------------------------------------------------------------------------------------
# Leftovers of interrupted writes, and one process per folder
# ---------------------------------------------------------------------------------------
#: Temporary files older than this (seconds) belong to a writer that died.
STALE_AFTER_S = 3600.0


def sweep_stale_tmp(folder: str | Path, patterns: Iterable[str] = (".*.tmp",), *,
                    older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove temporary files of interrupted writes in ``folder``; return what was removed.

    Only files matching ``patterns`` (default: the ``.<name>.<random>.tmp`` files of
    :func:`atomic_path`) and last modified more than ``older_than_s`` ago are removed, so
    a writer that is still running in another process keeps its file. Folders matching a
    pattern (a cache's ``.tmp-*`` staging copies) are removed as a whole.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    removed: list[Path] = []
    for pattern in patterns:
        for p in folder.glob(pattern):
            try:
                if now - p.lstat().st_mtime < older_than_s:
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            except FileNotFoundError:
                continue
            removed.append(p)
    return removed


def _flock(fd: int, wait: bool) -> bool:
    """Take an exclusive flock on ``fd``; False (instead of blocking) when it is held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


@contextmanager
def lock_file(lock: str | Path, *, owner: str | Path, what: str = "folder",
              wait: bool = False, on_wait: Callable[[str], None] | None = None
              ) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on the file ``lock`` for the block: the one lock rule.

    ``owner`` is what the lock protects (named in messages). When another process holds
    it, ``wait=False`` refuses at once with :class:`FolderBusy` naming the holder's pid;
    ``wait=True`` tells ``on_wait`` who holds it and blocks until the holder is done (the
    kernel releases a dead holder's lock, so the wait always ends). The holder's pid is
    written into the file for those messages only; the lock itself is the flock.
    """
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _flock(fd, False):
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            if not wait:
                raise FolderBusy(f"{owner}: this {what} is in use by another process (pid "
                                 f"{holder}); wait for it to finish or use another {what}")
            if on_wait is not None:
                on_wait(f"{owner}: waiting for process {holder}, which is building this "
                        f"{what}")
            _flock(fd, True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield Path(lock)
    finally:
        os.close(fd)  # closing drops the flock


@contextmanager
def folder_lock(folder: str | Path, *, what: str = "folder") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (its ``.lock`` file) for the block.

    Refuses at once with :class:`FolderBusy` (naming the folder and the holder's pid) when
    another process holds it, instead of letting two writers interleave their files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with lock_file(folder / ".lock", owner=folder, what=what):
        yield folder


#: A staging copy of ``<entry>`` is named ``<entry>.tmp-<random>``; ``<entry>.lock`` is
#: the lock its builder holds (:func:`sweep_unlocked_staging`).
STAGING_MARK = ".tmp-"


def entry_lock_path(entry: str | Path) -> Path:
    """The lock file of a cache entry that is replaced whole: a sibling, ``<entry>.lock``.

    A sibling, not a file inside the entry, because the entry folder itself is swapped in
    by one rename and does not exist while it is being built.
    """
    entry = Path(entry)
    return entry.parent / f"{entry.name}.lock"


def sweep_unlocked_staging(folder: str | Path, *, held: str | Path | None = None
                           ) -> list[Path]:
    """Remove the ``<entry>.tmp-*`` staging copies in ``folder`` that no live builder owns.

    A builder holds ``<entry>.lock`` (:func:`entry_lock_path`) for as long as its staging
    copy exists, so a copy whose lock can be taken belongs to a process that died; one
    whose lock is held is left alone, however old (age plays no part: decoding a large data
    set takes hours). ``held`` is an entry whose lock the caller already holds and for
    which it has not made its own copy yet: its copies are stale by that fact (a flock is
    per open file, so trying the lock again here would find it taken).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    mine = Path(held).name if held is not None else None
    removed: list[Path] = []
    for p in sorted(folder.glob(f"*{STAGING_MARK}*")):
        if not p.is_dir() or p.is_symlink():
            continue
        name = p.name.split(STAGING_MARK, 1)[0]
        if name == mine:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
            continue
        try:
            fd = os.open(entry_lock_path(folder / name), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            continue
        try:
            if _flock(fd, False) and p.exists():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        finally:
            os.close(fd)
    return removed
