"""User-facing errors.

Every problem a user can cause (a bad cfg file, a truncated image, a checkpoint of the
wrong net, a tampered download) is raised as an :class:`AlexNetError`. The CLI prints
its one-line message and exits with status 2, so nobody sees a traceback for a mistake
in their input, and library callers can still catch one type.

A run that stopped because it was asked to (:class:`RunStopped`) is no error: the CLI
says ``stopped: ...`` and how to resume, exit status 130.

The CLI's error boundary (:mod:`alexnet.cli`) also turns the failures of the machine
rather than of the input (``OSError``: permissions, read-only or full disks, a file where
a folder is expected; ``MemoryError``) into one line with exit 2. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AlexNetError(Exception):
    """A problem with the user's input, reported as one line."""

    exit_code = 2


class ConfigError(AlexNetError):
    """A cfg file (2012 layer-definition or layer-params language) is invalid.

    The message reads ``file:line: [section] key: message`` so editors can jump to it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        section: str | None = None,
        key: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.section = section
        self.key = key
        self.detail = message
        where = ""
        if self.path:
            where = self.path + (f":{line}" if line else "") + ": "
        ctx = ""
        if section:
            ctx = f"[{section}] "
        if key:
            ctx += f"{key}: "
        super().__init__(f"{where}{ctx}{message}")


class DataError(AlexNetError):
    """A data file (image, batch, tarball) is unreadable or not what was expected."""


class CheckpointError(AlexNetError):
    """A checkpoint is truncated, tampered with, unsafe, or from another network."""


class ChecksumError(AlexNetError):
    """A downloaded or bundled file does not match its pinned checksum."""


class BackendUnavailable(AlexNetError):
    """The requested compute backend cannot run on this machine (says why)."""


class LimitError(AlexNetError):
    """A size read from a file exceeds the bound this package sets for it.

    Raised before anything of that size is allocated; the message names the file, the
    field, the value and the bound, so a genuinely larger input can be recognised as such.
    """


class RunStopped(AlexNetError):
    """A run stopped before its end because it was asked to (Ctrl-C, SIGTERM, a step
    limit) and can be resumed: not an error, so the CLI reports it as ``stopped: ...``
    (the message says how to resume) with exit status 130, like an interrupted command."""

    exit_code = 130


class FolderBusy(AlexNetError):
    """Another process holds the lock of a folder (a run, a cache entry) this one needs."""
