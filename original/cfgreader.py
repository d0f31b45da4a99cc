"""A line-aware reader for the INI dialect of the 2012 cfg files.

The 2012 parser (``layer.py`` L95-L133 at the pinned commit) read its files with
Python 2's ``ConfigParser``: ordered sections, ``key=value`` or ``key: value`` lines,
``#``/``;`` comment lines, option names folded to lower case, section names kept as
written, and a later duplicate key silently winning. We need the same reading rules
but also the line of every section and key, so that an error can say
``layers-145.cfg:87: [conv2a] filterSize: ...``. The standard library's
``configparser`` does not report line numbers, hence this small hand-written reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from alexnet.errors import AlexNetError, ConfigError
from alexnet.limits import regular_file

#: A cfg file is written by hand; the largest of the 2012 release is a few kB.
MAX_CFG_BYTES = 1 << 20

_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")
_OPTION = re.compile(r"^(?P<key>[^:=\s][^:=]*?)\s*[:=]\s*(?P<value>.*)$")


@dataclass
class Entry:
    """One ``key=value`` line: the raw text value and where it stood."""

    key: str
    value: str
    line: int


@dataclass
class Section:
    """One ``[name]`` block with its entries keyed by lower-cased option name."""

    name: str
    line: int
    entries: dict[str, Entry] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        return key.lower() in self.entries

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key.lower())


@dataclass
class CfgFile:
    """A parsed cfg file: sections in file order, plus its trailing comment lines."""

    path: str
    sections: dict[str, Section]
    comments: list[tuple[int, str]]
    duplicates: list[tuple[int, str]] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        return self.sections.get(name)


def read_cfg(path: str | Path, text: str | None = None) -> CfgFile:
    """Read a cfg file into sections and entries, remembering line numbers.

    Continuation lines (a line starting with white space continues the previous
    value) are honoured as ConfigParser did. Any other line that is neither a section
    header, an option, a comment nor blank is an error, as is an option before the
    first section header (the stray keystrokes of ``layer-params-147.cfg.save`` L1).
    """
    p = str(path)
    if text is None:
        try:
            regular_file(path, what="cfg file", max_bytes=MAX_CFG_BYTES)
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise ConfigError("file does not exist", path=p) from None
        except OSError as exc:
            raise ConfigError(f"cannot read file ({exc.strerror})", path=p) from None
        except AlexNetError as exc:  # a FIFO, a device, a folder, or far too large
            raise ConfigError(str(exc).removeprefix(f"{p}: "), path=p) from None
    sections: dict[str, Section] = {}
    comments: list[tuple[int, str]] = []
    duplicates: list[tuple[int, str]] = []
    current: Section | None = None
    last: Entry | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            last = None
            continue
        if stripped[0] in "#;":
            comments.append((lineno, stripped))
            continue
        if raw[0] in " \t" and last is not None:
            last.value = (last.value + "\n" + stripped).strip()
            continue
        m = _SECTION.match(stripped)
        if m:
            name = m.group("name").strip()
            if name in sections:
                # ConfigParser merged a repeated section into the first, later keys
                # winning; real 2012 params files (154, 170-quant) rely on that.
                current = sections[name]
                duplicates.append((lineno, name))
            else:
                current = Section(name=name, line=lineno)
                sections[name] = current
            last = None
            continue
        m = _OPTION.match(stripped)
        if m is None:
            raise ConfigError(
                f"cannot read line {stripped[:40]!r}: expected [section], key=value or a # comment",
                path=p,
                line=lineno,
            )
        if current is None:
            raise ConfigError(
                f"option {m.group('key').strip()!r} before the first [section] header",
                path=p,
                line=lineno,
            )
        key = m.group("key").strip().lower()
        value = m.group("value").strip()
        # ConfigParser strips an inline ';' comment only when preceded by white space.
        semi = re.search(r"\s;", value)
        if semi:
            value = value[: semi.start()].rstrip()
        last = Entry(key=key, value=value, line=lineno)
        current.entries[key] = last
    return CfgFile(path=p, sections=sections, comments=comments, duplicates=duplicates)
