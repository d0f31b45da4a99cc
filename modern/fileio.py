"""Atomic file writing: a reader sees the old file or the new one, never half of either.

Checkpoints, caches, metrics and reports all go through here (temp file in the same
folder, flush, fsync, ``os.replace``, then fsync of the folder), so an interrupted run
or a full disk cannot leave a truncated file behind under the real name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    try:
        fsync_path(path)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic


def atomic_write_bytes(path: str | Path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically; returns its sha256."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


def atomic_write_text(path: str | Path, text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))
