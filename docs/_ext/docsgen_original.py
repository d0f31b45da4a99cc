"""The annotated original: pages generated from ``original/annotations/``.

One page per annotated upstream file, the guided tour, the paper-vs-code ledger and
the cfg families, all rendered from the annotation data (format:
``.helpers/ANNOTATIONS.md``; loader: ``alexnet.original.museum.annotations``). The docs
restate nothing: change the YAML and the pages follow.

Upstream text is never part of the repository. When a *verified* copy of the pinned
release is present at build time (``alexnet original fetch`` checks every file against
the manifest ``original/UPSTREAM.json`` and caches it), each file page shows the source
beside the notes; without one, the notes stand alone with permalinks to the pinned
commit on GitHub.
"""

from __future__ import annotations

import dataclasses
import importlib
from html import escape
from pathlib import Path
from typing import Any

import docsgen_xref
from docsgen_common import (
    Output,
    code,
    fmt_int,
    md_escape,
    md_table,
    not_available,
    page_name,
    raw_html,
    role_title,
)
from sphinx.util import logging

logger = logging.getLogger(__name__)

LEXERS = {
    ".cu": "cuda",
    ".cuh": "cuda",
    ".cutemp": "cuda",
    ".h": "cpp",
    ".cpp": "cpp",
    ".py": "python2",
    ".sh": "bash",
    ".cfg": "ini",
    ".save": "ini",
    ".html": "html",
    ".md": "markdown",
}


# --------------------------------------------------------------------------------------
# Reading the data


def _plain(obj: Any) -> Any:
    """Loader results (dataclasses, mappings, lists) as plain dicts and lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


class Data:
    """Everything the pages need, read once per build through the project's loader."""

    def __init__(self, loader: Any, aset: Any) -> None:
        self.loader = loader
        self.manifest = aset.manifest
        self.commit: str = aset.manifest.commit
        self.files: dict[str, dict[str, Any]] = {p: _plain(a) for p, a in aset.files.items()}
        self.tour: dict[str, Any] | None = _plain(aset.tour) if aset.tour else None
        self.ledger: list[dict[str, Any]] = [_plain(r) for r in aset.ledger]
        paths = aset.manifest.paths
        self.families: list[dict[str, Any]] = []
        for fam in aset.families:
            plain = _plain(fam)
            plain["members"] = fam.members(paths)
            self.families.append(plain)
        self.source: Any = None
        self.source_why = ""
        self._highlighted: dict[str, list[str]] = {}

    def highlighted(self, path: str) -> list[str] | None:
        """The file's lines as highlighted HTML, once per build (None without a copy)."""
        if self.source is None or path not in self.manifest:
            return None
        if path not in self._highlighted:
            text = "\n".join(self.source.lines(path)) + "\n"
            self._highlighted[path] = highlight_lines(path, text)
        return self._highlighted[path]

    def lines_of(self, path: str) -> int | None:
        entry = self.manifest.get(path)
        return entry.lines if entry is not None else None

    def permalink(self, path: str, lines: tuple[int, int] | None = None) -> str:
        return self.loader.permalink(path, tuple(lines) if lines else None, self.manifest)

    def find_source(self) -> None:
        """The verified local copy (``alexnet original fetch``), if the cache has one."""
        try:
            self.source = self.loader.upstream_source()
        except Exception as exc:
            self.source_why = f"the upstream cache could not be read ({exc})"
            return
        if self.source is None:
            self.source_why = (
                "no verified copy of the release was found (run `alexnet original fetch`, "
                "or set ALEXNET_CACHE to a cache that has one)"
            )


# --------------------------------------------------------------------------------------
# Source rendering (only from a verified copy, only into the built site)


def highlight_lines(path: str, text: str) -> list[str]:
    """One HTML string per source line (pygments closes spans at line ends)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_by_name

    suffix = Path(path).suffix
    name = LEXERS.get(suffix)
    if Path(path).name.startswith("Makefile"):
        name = "make"
    try:
        lexer = get_lexer_by_name(name) if name else TextLexer()
    except Exception:
        lexer = TextLexer()
    lexer.stripnl = False
    lexer.ensurenl = True
    html = highlight(text, lexer, HtmlFormatter(nowrap=True))
    lines = html.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def code_block(lines: list[str], first: int, last: int, *, page: str | None = "") -> str:
    """Numbered lines ``first..last``; each number links to that line on the file's page.

    ``page=""``: this *is* the file's page (the numbers are the anchors ``L<n>``); a page
    name: the numbers link to that file page from a page in ``_generated/original/``;
    None: the file has no page, the numbers are plain.
    """
    body = []
    for n in range(first, last + 1):
        code = lines[n - 1] if n - 1 < len(lines) else ""
        if page == "":
            num = f'<span class="ln" id="L{n}"><a href="#L{n}">{n}</a></span>'
        elif page:
            num = f'<span class="ln"><a href="files/{page}.html#L{n}">{n}</a></span>'
        else:
            num = f'<span class="ln">{n}</span>'
        # one block per line: a long line wraps under its own text, not under the number
        body.append(f'<span class="cl">{num}{code}</span>')
    return '<div class="highlight annot-code"><pre>' + "".join(body) + "</pre></div>"


#: longer excerpts on the tour and in the ledger fold away behind their first lines
EXCERPT_OPEN = 40


def excerpt_html(data: Data, path: str, lines: tuple[int, int] | None) -> str:
    """The cited lines of the 2012 source, for the tour and the ledger ('' without them)."""
    shown = data.highlighted(path)
    if shown is None or not lines:
        return ""
    a, b = lines[0], min(lines[1], len(shown))
    if a > b:
        return ""
    page = page_name(path) if path in data.files else None
    block = code_block(shown, a, b, page=page)
    label = escape(f"{path}, {_range_text(a, b)}")
    if b - a + 1 <= EXCERPT_OPEN:
        return raw_html(f'<div class="annot-excerpt" aria-label="{label}">{block}</div>')
    return raw_html(
        f'<details class="annot-gap annot-excerpt"><summary>{label} '
        f"({b - a + 1} lines)</summary>{block}</details>"
    )


def source_notice(data: Data, what: str) -> str:
    """Said once per page: whether the 2012 code is shown beside ``what``."""
    if data.source is not None:
        return (
            ":::{admonition} About the code shown here\n:class: tip\n"
            f"The 2012 code beside {what} is read at build time from a copy of the release "
            f"whose checksums match the manifest for commit `{data.commit[:12]}`; it is "
            "part of the built pages only, never of this project's repository.\n:::\n"
        )
    return (
        f":::{{note}}\nNotes only: the 2012 code is not shown beside {what} on this build, "
        f"because {md_escape(data.source_why or 'no verified copy was available')}. "
        "Each location links to its lines at the pinned commit instead.\n:::\n"
    )


# --------------------------------------------------------------------------------------
# Pages


def file_doc(path: str) -> str:
    return f"/_generated/original/files/{page_name(path)}"


def note_label(path: str, start: int) -> str:
    return f"note-{page_name(path)}-l{start}"


def ledger_label(row_id: str) -> str:
    return f"ledger-{page_name(str(row_id))}"


def tour_label(stop_id: str) -> str:
    return f"tour-{page_name(str(stop_id))}"


def obj_ref(target: str) -> str:
    """A cross-reference to one of our modules/objects (``mod:qualname`` accepted)."""
    dotted = str(target).replace(":", ".")
    return f"{{py:obj}}`{dotted}`"


def _lines(item: dict[str, Any]) -> tuple[int, int]:
    a, b = item.get("lines", [0, 0])[:2]
    return int(a), int(b)


def _range_text(a: int, b: int) -> str:
    return f"line {a}" if a == b else f"lines {a}\u2013{b}"


def note_covering(data: Data, path: str, a: int) -> dict[str, Any] | None:
    for note in data.files.get(path, {}).get("notes", []) or []:
        s, e = _lines(note)
        if s <= a <= e:
            return note
    return None


def where(data: Data, path: str, lines: tuple[int, int] | None) -> str:
    """Link text for an upstream location: our page (if annotated) + GitHub permalink."""
    parts = []
    if path in data.files:
        target = file_doc(path)
        note = note_covering(data, path, lines[0]) if lines else None
        if note is not None:
            label = note_label(path, _lines(note)[0])
            parts.append(f"{{ref}}`{role_title(path)} <{label}>`")
        else:
            parts.append(f"{{doc}}`{role_title(path)} <{target}>`")
    else:
        parts.append(f"`{path}`")
    if lines:
        parts.append(f"[{_range_text(*lines)}]({data.permalink(path, lines)})")
    else:
        parts.append(f"[GitHub]({data.permalink(path)})")
    return " ".join(parts)


def render_file(data: Data, path: str) -> str:
    ann = data.files[path]
    notes = sorted(ann.get("notes", []) or [], key=lambda n: _lines(n)[0])
    # Orphan pages: reached from the file index, the tour, the ledger and each other, but
    # kept out of the sidebar tree (67 entries there would bury the rest of the site, and
    # furo renders that tree once per page, so it would also dominate the build time).
    out: list[str] = ["---", "orphan: true", "---", ""]
    out.append(f"# `{path}`\n")
    out.append(f"{ann.get('role', '').strip()}\n")
    facts = []
    n_lines = data.lines_of(path)
    if n_lines:
        facts.append(f"{fmt_int(n_lines)} lines")
    facts.append(f"[view at the pinned commit]({data.permalink(path)})")
    facts.append(f"{len(notes)} notes")
    out.append(" \u00b7 ".join(facts) + "\n")
    if ann.get("era"):
        out.append(f"**When and where it comes from.** {ann['era'].strip()}\n")
    deps = ann.get("depends_on") or []
    if deps:
        items = []
        for dep in deps:
            dep = str(dep)
            items.append(
                f"{{doc}}`{role_title(dep)} <{file_doc(dep)}>`" if dep in data.files else
                md_escape(dep)
            )
        out.append("**Depends on:** " + "; ".join(items) + ".\n")
    stops = [s for s in (data.tour or {}).get("stops", []) or [] if s.get("path") == path]
    if stops:
        out.append(
            "**On the guided tour:** "
            + "; ".join(f"{{ref}}`{role_title(s.get('title', s['id']))} <{tour_label(s['id'])}>`"
                        for s in stops)
            + ".\n"
        )
    rows = [r for r in data.ledger if any(e.get("path") == path for e in r.get("evidence", []))]
    if rows:
        out.append(
            "**Ledger rows citing this file:** "
            + "; ".join(f"{{ref}}`{role_title(r.get('topic', r['id']))} <{ledger_label(r['id'])}>`"
                        for r in rows)
            + ".\n"
        )

    lines: list[str] | None = data.highlighted(path)
    if lines is not None:
        out.append(
            ":::{admonition} About the source shown here\n:class: tip\n"
            f"The code beside the notes is read at build time from a copy of the release "
            f"whose checksums match the manifest for commit `{data.commit[:12]}`. "
            "It is part of the built pages only, never of this project's repository; the "
            "release is under the licences stated in its own files.\n:::\n"
        )
    else:
        out.append(
            ":::{note}\nThe upstream source is not shown on this build: "
            f"{md_escape(data.source_why or 'no verified copy was available')}. "
            "Each note links to its lines at the pinned commit instead.\n:::\n"
        )

    cursor = 1
    total = n_lines or (len(lines) if lines else 0)
    for note in notes:
        a, b = _lines(note)
        if lines is not None and a > cursor:
            out.append(gap_html(lines, cursor, a - 1))
        out.append(f"({note_label(path, a)})=")
        out.append(f"## {md_escape(note.get('title', _range_text(a, b)))}\n")
        meta = [f"[{_range_text(a, b).capitalize()}]({data.permalink(path, (a, b))})"]
        if note.get("recreation"):
            meta.append(f"re-created in {obj_ref(note['recreation'])}")
        if note.get("ledger"):
            meta.append(f"ledger: {{ref}}`{role_title(note['ledger'])} "
                        f"<{ledger_label(note['ledger'])}>`")
        sep = " \u00b7 "
        note_md = f"{str(note.get('text', '')).strip()}\n\n{sep.join(meta)}\n"
        if lines is not None:
            out.append("::::{container} annot-row")
            out.append(raw_html(code_block(lines, a, min(b, len(lines)))))
            out.append(":::{container} annot-note")
            out.append(note_md)
            out.append(":::\n::::\n")
        else:
            out.append(note_md)
        cursor = max(cursor, b + 1)
    if lines is not None and cursor <= total:
        out.append(gap_html(lines, cursor, min(total, len(lines))))
    return "\n".join(out) + "\n"


def gap_html(lines: list[str], a: int, b: int) -> str:
    if b < a:
        return ""
    summary = f"{_range_text(a, b).capitalize()} (no note)"
    return raw_html(
        f'<details class="annot-gap"><summary>{escape(summary)}</summary>'
        f"{code_block(lines, a, b)}</details>"
    )


def render_tour(data: Data) -> str:
    tour = data.tour or {}
    out = [f"# {md_escape(tour.get('title', 'A guided tour of one training step'))}\n"]
    if tour.get("intro"):
        out.append(str(tour["intro"]).strip() + "\n")
    out.append(source_notice(data, "each stop"))
    for i, stop in enumerate(tour.get("stops", []) or [], start=1):
        path = stop.get("path", "")
        lines = _lines(stop) if stop.get("lines") else None
        out.append(f"({tour_label(stop['id'])})=")
        out.append(f"## {i}. {md_escape(stop.get('title', stop['id']))}\n")
        out.append(f"**Where:** {where(data, path, lines)}\n")
        code_html = excerpt_html(data, path, lines)
        text = str(stop.get("text", "")).strip() + "\n"
        if code_html:
            out.append("::::{container} annot-row annot-stop")
            out.append(code_html)
            out.append(":::{container} annot-note")
            out.append(text)
            out.append(":::\n::::\n")
        else:
            out.append(text)
    return "\n".join(out)


def render_ledger(data: Data) -> str:
    out = [
        "# Paper versus code: the ledger\n",
        "Every place where the 2012 paper, the 2012 code and today's PyTorch disagree, "
        "with the evidence in the release and what this project's re-creation and port do "
        "about it. Each row is generated from `original/annotations/ledger.yaml`.\n",
        source_notice(data, "each piece of evidence"),
    ]
    summary = []
    for row in data.ledger:
        summary.append(
            [f"{{ref}}`{role_title(row.get('topic', row['id']))} <{ledger_label(row['id'])}>`",
             md_escape(_first_sentence(row.get("paper", ""))),
             md_escape(_first_sentence(row.get("code", "")))]
        )
    out.append(md_table(["topic", "the paper says", "the 2012 code does"], summary))
    for row in data.ledger:
        out.append(f"\n({ledger_label(row['id'])})=")
        out.append(f"## {md_escape(row.get('topic', row['id']))}\n")
        for key, title in (("paper", "Paper"), ("code", "2012 code"),
                           ("recreation", "Our re-creation"), ("port", "Our PyTorch port")):
            if row.get(key):
                out.append(f"**{title}.** {str(row[key]).strip()}\n")
        ev = row.get("evidence") or []
        if ev:
            items = []
            for e in ev:
                loc = _lines(e) if e.get("lines") else None
                item = f"- {where(data, e.get('path', ''), loc)}"
                code_html = excerpt_html(data, e.get("path", ""), loc)
                if code_html:
                    item += "\n\n" + "\n".join("  " + ln if ln else ""
                                                  for ln in code_html.splitlines())
                items.append(item)
            out.append("**Evidence:**\n\n" + "\n".join(items) + "\n")
    return "\n".join(out)


def _first_sentence(text: str) -> str:
    """The summary table's cells: whole first sentences, never cut mid-thought."""
    text = " ".join(str(text).split())
    head, sep, _rest = text.partition(". ")
    return head + "." if sep else text


def _short(text: str, n: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "\u2026"


def render_families(data: Data) -> str:
    out = [
        "# The cfg files, family by family\n",
        "The release's 178 cfg files are grouped into families rather than annotated one "
        "by one. Generated from `original/annotations/families.yaml`.\n",
    ]
    for fam in data.families:
        out.append(f"({'family-' + page_name(str(fam.get('id', 'x')))})=")
        out.append(f"## {md_escape(fam.get('title', fam.get('id', '')))}\n")
        members = fam.get("members") or []
        patterns = ", ".join(f"`{f}`" for f in fam.get("files") or [])
        folder = f"`{fam['folder']}/`" if fam.get("folder") else "the top level"
        out.append(f"**{len(members)} files** in {folder}, matched by {patterns}.\n")
        out.append(str(fam.get("text", "")).strip() + "\n")
        hl = fam.get("highlights") or []
        if hl:
            items = []
            for h in hl:
                lines = _lines(h) if h.get("lines") else None
                items.append(f"- {where(data, h.get('path', ''), lines)}: "
                             f"{str(h.get('text', '')).strip()}")
            out.append("**Highlights:**\n\n" + "\n".join(items) + "\n")
        if members:
            links = ", ".join(f"[`{m.rsplit('/', 1)[-1]}`]({data.permalink(m)})"
                              for m in members)
            out.append(f"**Members:** {links}\n")
    return "\n".join(out)


def render_files_page(data: Data) -> str:
    """Every non-cfg file of the release: its page when annotated, its size always."""
    out = ["# The files, one by one\n",
           "The release's files other than the cfg files, each with what it did. Annotated "
           "files link to their page of notes; the cfg files are explained in families "
           "({doc}`/_generated/original/families`).\n"]
    shown = ("shown beside the notes" if data.source is not None
             else "not shown on this build (" + md_escape(data.source_why) + ")")
    out.append(f"On this build the upstream source is {shown}.\n")
    groups: dict[str, list[list[str]]] = {}
    for entry in data.manifest.source_files:
        path = entry.path
        folder = path.rsplit("/", 1)[0] + "/" if "/" in path else "top level"
        ann = data.files.get(path)
        if ann is not None:
            name = f"{{doc}}`{role_title(path)} <{file_doc(path)}>`"
            notes = str(len(ann.get("notes", []) or []))
            role = md_escape(_short(ann.get("role", ""), 150))
        else:
            name = f"[{code(path)}]({data.permalink(path)})"
            notes, role = "\u2013", "*not annotated yet*"
        groups.setdefault(folder, []).append([name, fmt_int(entry.lines), notes, role])
    for folder, rows in groups.items():
        out.append(f"## {md_escape(folder.capitalize() if folder == 'top level' else folder)}\n")
        out.append(md_table(["file", "lines", "notes", "what it did"], rows, align="lrrl"))
    return "\n".join(out) + "\n"


def render_index_fragment(data: Data, pages: list[str]) -> str:
    toc = ["```{toctree}", ":maxdepth: 1", ":titlesonly:", ":caption: Annotated original", ""]
    toc += pages
    toc.append("```\n")
    n_notes = sum(len(a.get("notes", []) or []) for a in data.files.values())
    stops = len((data.tour or {}).get("stops", []) or [])
    facts = (f"On this build: {len(data.files)} annotated files with {fmt_int(n_notes)} line "
             f"notes, a tour of {stops} stops, {len(data.ledger)} ledger rows and "
             f"{len(data.families)} cfg families.")
    return "\n".join(toc) + "\n" + facts + "\n"


def generate(out: Output) -> None:
    try:
        loader = importlib.import_module("alexnet.original.museum.annotations")
    except ImportError as exc:
        out.write_text(
            "fragments/original-toc.md",
            not_available("the annotated pages.",
                          f"Their loader `alexnet.original.museum.annotations` is missing "
                          f"({exc})."),
        )
        return
    aset = loader.load_all()  # a malformed file raises: the build must not hide it
    data = Data(loader, aset)
    for problem in loader.validate(aset, import_modules=False):
        logger.info("annotation check: %s", problem)
    if not (data.files or data.tour or data.ledger or data.families):
        out.write_text(
            "fragments/original-toc.md",
            not_available(
                "the annotated pages.",
                "They are generated from `original/annotations/` (file notes, the tour, "
                "the ledger and the cfg families), which holds no data in this checkout.",
            ),
        )
        return
    data.find_source()
    pages = []
    if data.tour:
        out.write_text("original/tour.md", render_tour(data))
        pages.append("/_generated/original/tour")
    if data.ledger:
        out.write_text("original/ledger.md", render_ledger(data))
        pages.append("/_generated/original/ledger")
    if data.families:
        out.write_text("original/families.md", render_families(data))
        pages.append("/_generated/original/families")
    out.write_text("original/files.md", render_files_page(data))
    pages.append("/_generated/original/files")
    docsgen_xref.generate(out, data)
    pages.append("/_generated/original/xref")
    for path in sorted(data.files):
        out.write_text(f"original/files/{page_name(path)}.md", render_file(data, path))
    out.write_text("fragments/original-toc.md", render_index_fragment(data, pages))
