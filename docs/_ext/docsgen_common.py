"""Shared plumbing for the pages and figures the docs generate at build time.

Generated files live under ``docs/_generated/`` (git-ignored). Each build rewrites
only the files whose content changed, so Sphinx's incremental rebuild stays cheap,
and removes files that no generator produced this time, so a page for data that has
since disappeared cannot linger as an orphan (an orphan is a warning, and warnings
fail the build).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from alexnet.io import atomic_write_bytes

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"

UPSTREAM_REPO_URL = "https://github.com/computerhistory/AlexNet-Source-Code"


class Output:
    """The set of files one build writes under ``docs/_generated``."""

    def __init__(self, root: Path = GENERATED) -> None:
        self.root = root
        self.written: set[Path] = set()

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write_text(self, rel: str, text: str) -> Path:
        return self.write_bytes(rel, text.encode("utf-8"))

    def write_bytes(self, rel: str, data: bytes) -> Path:
        target = self.root / rel
        self.written.add(target.resolve())
        if target.is_file() and target.read_bytes() == data:
            return target
        atomic_write_bytes(target, data, mode="umask")  # generated files are public
        return target

    def prune(self) -> list[Path]:
        """Delete every generated file not written by this build; return them."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for path in sorted(self.root.rglob("*"), reverse=True):
            if path.is_file() and path.resolve() not in self.written:
                path.unlink()
                removed.append(path)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return removed


def not_available(what: str, how: str) -> str:
    """A MyST note saying that a generated part of the docs has no data yet."""
    return f":::{{note}}\n**Not yet available:** {what} {how}\n:::\n"


def fence(body: str, info: str, char: str = "`") -> str:
    """Wrap ``body`` in a fence longer than any run of ``char`` inside it."""
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", body)), default=0)
    mark = char * max(3, longest + 1)
    return f"{mark}{info}\n{body.rstrip(chr(10))}\n{mark}\n"


def raw_html(html: str) -> str:
    """A MyST raw-HTML block (kept out of the search index by Sphinx)."""
    return fence(html, "{raw} html")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#{}$])")


def md_escape(text: str) -> str:
    """Escape text that must appear literally in Markdown (file names, table cells)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def code(text: object) -> str:
    """An inline code span for arbitrary text (code spans take no escapes)."""
    text = " ".join(str(text).split())
    longest = max((len(m) for m in re.findall("`+", text)), default=0)
    mark = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{mark}{pad}{text}{pad}{mark}"


def role_title(text: str) -> str:
    """Text safe as the title of a ``{ref}``/``{doc}`` role (no escapes are undone there)."""
    return str(text).replace("`", "'").replace("<", "\u2039").replace(">", "\u203a")


def md_table(header: Iterable[str], rows: Iterable[Iterable[object]], align: str = "") -> str:
    """A pipe table; cells are used as given (callers escape what needs it)."""
    header = list(header)
    aligns = list(align) + ["l"] * (len(header) - len(align))
    rule = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in aligns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    for row in rows:
        cells = [str(c).replace("\n", " ").replace("|", "\\|") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def permalink(commit: str, path: str, lines: tuple[int, int] | None = None) -> str:
    """GitHub permalink into the pinned upstream commit."""
    url = f"{UPSTREAM_REPO_URL}/blob/{commit}/{path}"
    if lines:
        a, b = lines
        url += f"#L{a}" if a == b else f"#L{a}-L{b}"
    return url


def page_name(upstream_path: str) -> str:
    """Docname-safe slug for an upstream path (``src/layer.cu`` -> ``src-layer-cu``)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", upstream_path).strip("-").lower()
    return slug or "file"


def fmt_int(n: int) -> str:
    return f"{n:,}"
