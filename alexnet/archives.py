"""Tar members as this package reads them: regular files, plain relative names, bounded.

No reader here unpacks an archive onto disk under its members' names: each one reads the
regular files it needs into memory (CIFAR-10 batches, photographs of an image-folder
tarball or of ILSVRC-2012, the devkit's two files, the 2012 release when it is
fingerprinted) or streams a member's bytes (an ILSVRC-2012 class tar). A tar archive can
still hold members that no such reader may take for a file:

* a symbolic or hard link: ``TarFile.extractfile`` follows it to another member, so one
  photograph could be counted twice under two names, or a batch be another batch;
* a device, a FIFO or another special file: nothing to read, or nothing that ends;
* an absolute name (``/etc/...``) or one whose ``..`` leads out of the archive's folder:
  meaningless for a reader, and a hazard the day somebody extracts the archive by hand;
* a declared size no real member has (a header can claim 8 GiB in a 1 kB file, a gzip
  stream can inflate to it): bounded by :data:`alexnet.limits.MAX_MEMBER_BYTES` before a
  byte is read.

The path and special-file rules are Python's own extraction filter (``tarfile.data_filter``,
the ``"data"`` filter of PEP 706), applied to each member as a check; links are refused on
top of it because no reader needs one. Each reader decides what such a member means and
says why in its docstring: :func:`check` refuses it with one line (archives of a fixed
layout from one publisher, where it means "not that file"), :func:`screen` skips it and
records it (a user's own tarball of photographs, where one odd member should not cost the
data set). A member over the size bound is always refused: no reader could hold it.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator

from alexnet.errors import DataError, LimitError
from alexnet.limits import MAX_MEMBER_BYTES

#: The folder ``tarfile.data_filter`` is asked about: a name it places outside of this
#: folder leaves any folder. It need not (and should not) exist.
_VIRTUAL_ROOT = "/.alexnet-archive-root"

_FILTER_WORDS: tuple[tuple[type[Exception], str], ...] = (
    (tarfile.AbsolutePathError, "an absolute path"),
    (tarfile.OutsideDestinationError, "a path that leads out of the archive ('..')"),
    (tarfile.SpecialFileError, "a device, FIFO or other special file"),
    (tarfile.AbsoluteLinkError, "a link"),
    (tarfile.LinkOutsideDestinationError, "a link"),
)


def problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` is not a readable file, in words (None for a regular file that may
    be read; folders give ``"a folder"``, which readers pass over without counting)."""
    if member.isdir():
        return "a folder"
    if member.issym():
        return f"a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname!r})"
    try:
        kept = tarfile.data_filter(member, _VIRTUAL_ROOT)
    except tarfile.FilterError as exc:
        for kind, words in _FILTER_WORDS:
            if isinstance(exc, kind):
                return words
        return f"refused by the extraction filter ({type(exc).__name__})"
    if kept.name != member.name:  # the filter strips a leading "/" rather than refuse it
        return "an absolute path"
    if not member.isfile():
        return "not a regular file"
    return None


def bound(member: tarfile.TarInfo, source: str, *, max_bytes: int = MAX_MEMBER_BYTES) -> None:
    """Refuse a member whose declared size is beyond ``max_bytes`` (:class:`LimitError`)."""
    if member.size > max_bytes:
        raise LimitError(f"{source}: member {member.name!r} declares {member.size:,} bytes, "
                         f"more than the {max_bytes:,} bytes this package reads from one "
                         "archive member")


def check(member: tarfile.TarInfo, source: str, *,
          max_bytes: int | None = MAX_MEMBER_BYTES) -> tarfile.TarInfo:
    """``member`` if it is a regular file within the bound; else one line, refused.

    ``max_bytes=None`` for a member that is streamed, never read whole.
    """
    why = problem(member)
    if why is not None:
        raise DataError(f"{source}: member {member.name!r} is {why}; this archive may hold "
                        "only regular files with relative names (refused)")
    if max_bytes is not None:
        bound(member, source, max_bytes=max_bytes)
    return member


def files(members: Iterable[tarfile.TarInfo], source: str, *,
          max_bytes: int | None = MAX_MEMBER_BYTES) -> Iterator[tarfile.TarInfo]:
    """The regular files among ``members``; any other member but a folder is refused."""
    for m in members:
        if not m.isdir():
            yield check(m, source, max_bytes=max_bytes)


def screen(members: Iterable[tarfile.TarInfo], source: str, skipped: list[tuple[str, str]],
           *, max_bytes: int = MAX_MEMBER_BYTES) -> Iterator[tarfile.TarInfo]:
    """The regular files among ``members``; the others (folders aside) are appended to
    ``skipped`` as ``(name, why)`` and passed over. A size over the bound is refused."""
    for m in members:
        why = problem(m)
        if why == "a folder":
            continue
        if why is not None:
            skipped.append((m.name, f"archive member is {why}, not read"))
            continue
        bound(m, source, max_bytes=max_bytes)
        yield m


def read(tf: tarfile.TarFile, member: tarfile.TarInfo, source: str) -> bytes:
    """The bytes of a member that passed :func:`check` or :func:`screen`."""
    fh = tf.extractfile(member)
    if fh is None:  # cannot happen for a regular file; never hand out b"" for it
        raise DataError(f"{source}: member {member.name!r} has no data")
    return fh.read()
