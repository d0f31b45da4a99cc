"""Text rendering for ``alexnet tour``: upstream source with our notes interleaved.

Rendering is separate from the click command so that tests (and other front ends) get
plain strings. With a verified local copy of the release, files are shown with line
numbers and, on a terminal, pygments highlighting; our notes appear as blocks just
before the lines they describe, and annotated lines are marked in the gutter. Without a
copy the notes are shown with permalinks to the pinned lines on GitHub, so the tour is
readable on a machine that never fetched anything. Every note keeps its permalink either
way, so a note read in the terminal can be shared. Text is wrapped to the terminal's
width (:func:`terminal_width`); source lines are never wrapped, so they stay exact.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable

import click

from alexnet.original.museum.annotations import (
    AnnotationSet,
    Coverage,
    FileAnnotation,
    Lines,
    Note,
    TourStop,
    permalink,
)

ReadLines = Callable[[str], list[str]]
WIDTH = 96  # when the output is not a terminal (a pipe, a file, a test)
MIN_WIDTH, MAX_WIDTH = 48, 160  # narrower is unreadable; wider lines are hard to follow
GUTTER = 7  # width of "  1234 " line numbers
TARGET = ">"  # in the gutter, before the number of the line asked for with --line


def terminal_width(default: int = WIDTH) -> int:
    """Columns to wrap prose to: the terminal's, within reason; ``default`` elsewhere."""
    cols = shutil.get_terminal_size((default, 24)).columns
    return max(MIN_WIDTH, min(MAX_WIDTH, cols))


def _style(text: str, color: bool, **kw) -> str:
    return click.style(text, **kw) if color else text


def _wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    return textwrap.wrap(
        " ".join(text.split()), width=width, initial_indent=indent, subsequent_indent=indent,
        break_on_hyphens=False, break_long_words=False,
    ) or [indent.rstrip()]


def _span(lines: Lines) -> str:
    return f"L{lines[0]}" if lines[0] == lines[1] else f"L{lines[0]}-L{lines[1]}"


# ---------------------------------------------------------------------------------------
# Highlighting
# ---------------------------------------------------------------------------------------
def _lexer(path: str):
    from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
    from pygments.util import ClassNotFound

    opts = {"stripnl": False, "ensurenl": False}
    name = path.rsplit("/", 1)[-1]
    special = {".cu": "cuda", ".cuh": "cuda", ".cutemp": "c", ".cfg": "ini", ".save": "ini",
               ".h": "cpp", ".sh": "bash"}
    for suffix, alias in special.items():
        if name.endswith(suffix):
            return get_lexer_by_name(alias, **opts)
    if name.startswith("Makefile"):
        return get_lexer_by_name("make", **opts)
    try:
        return get_lexer_for_filename(name, **opts)
    except ClassNotFound:
        return TextLexer(**opts)


def highlight(path: str, lines: list[str], color: bool) -> list[str]:
    """The same number of lines, with ANSI colours when ``color`` (tabs expanded)."""
    plain = [ln.expandtabs(4) for ln in lines]
    if not color or not plain:
        return plain
    from pygments import highlight as pyg_highlight
    from pygments.formatters import TerminalFormatter

    out = pyg_highlight("\n".join(plain) + "\n", _lexer(path), TerminalFormatter())
    result = out.split("\n")
    if len(result) > len(plain):
        result = result[: len(plain)]
    return result + plain[len(result):]


# ---------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------
def note_block(note: Note, path: str, data: AnnotationSet, *, color: bool,
               with_link: bool = True, width: int = WIDTH) -> list[str]:
    pad = " " * GUTTER
    head = f"{pad}>> {_span(note.lines)}  {note.title}"
    out = [_style(head, color, fg="yellow", bold=True)]
    out += [_style(ln, color, fg="cyan") for ln in _wrap(note.text, pad + ">> ", width)]
    extras = []
    if note.ledger:
        row = data.ledger_row(note.ledger)
        extras.append(f"ledger: {note.ledger}" + (f" ({row.topic})" if row else ""))
    if note.recreation:
        extras.append(f"re-created in {note.recreation}")
    if with_link:
        extras.append(permalink(path, note.lines, data.manifest))
    out += [_style(f"{pad}>> {e}", color, dim=True) for e in extras]
    return out


def file_header(path: str, ann: FileAnnotation | None, data: AnnotationSet, *, color: bool,
                have_source: bool, width: int = WIDTH) -> list[str]:
    f = data.manifest.get(path)
    assert f is not None
    rule = "=" * width
    out = [rule, _style(f"{path}  ({f.lines} lines, commit {data.manifest.commit[:8]})",
                        color, bold=True)]
    out.append(permalink(path, None, data.manifest))
    if ann is not None:
        out.append("")
        out += _wrap(ann.role, "  ", width)
        if ann.era:
            out += _wrap("Era: " + ann.era, "  ", width)
        if ann.depends_on:
            out += _wrap("Depends on: " + ", ".join(ann.depends_on), "  ", width)
    else:
        fam = data.family_of(path)
        if fam is not None:
            out.append("")
            out += _wrap(f"Family '{fam.title}': {fam.text}", "  ", width)
        else:
            out.append("  (no notes for this file yet)")
    if not have_source:
        out.append("")
        out += _wrap(
            "No local copy of the 2012 source: run `alexnet original fetch` to see the code "
            "itself; until then each note links to its lines on GitHub.",
            "  ", width,
        )
    out.append(rule)
    return out


def notes_for(path: str, data: AnnotationSet) -> list[Note]:
    """Line notes of a file; for a cfg file, its family highlights as notes."""
    ann = data.files.get(path)
    out = list(ann.notes) if ann is not None else []
    for fam in data.families:
        for h in fam.highlights:
            if h.path == path:
                out.append(Note(lines=h.lines, title=h.title or fam.title, text=h.text,
                                ledger=h.ledger))
    return sorted(out, key=lambda n: n.lines)


def _window(notes: list[Note], n_lines: int, line: int | None) -> tuple[int, int]:
    if line is None:
        return 1, n_lines
    covering = [n for n in notes if n.lines[0] <= line <= n.lines[1]]
    if covering:
        a = min(n.lines[0] for n in covering)
        b = max(n.lines[1] for n in covering)
        return max(1, a - 3), min(n_lines, b + 3)
    return max(1, line - 10), min(n_lines, line + 20)


def source_lines(path: str, source: list[str], first: int, last: int, *, color: bool,
                 marked: set[int] | None = None, highlighted: list[str] | None = None,
                 target: int | None = None) -> list[str]:
    """Numbered lines; ``|`` marks lines under a note, ``>`` the line asked for."""
    shown = highlighted if highlighted is not None else highlight(path, source, color)
    out = []
    for i in range(first, last + 1):
        mark = "|" if marked and i in marked else " "
        if i == target:
            num = _style(f"{TARGET}{i:>{GUTTER - 3}}", color, bold=True, reverse=True)
        else:
            num = _style(f"{i:>{GUTTER - 2}}", color, dim=True)
        out.append(f"{num}{mark} {shown[i - 1] if i - 1 < len(shown) else ''}")
    return out


# ---------------------------------------------------------------------------------------
# Whole views
# ---------------------------------------------------------------------------------------
def render_file(path: str, data: AnnotationSet, read: ReadLines | None, *, color: bool = False,
                line: int | None = None, width: int = WIDTH) -> str:
    """One upstream file with our notes; only the notes (and links) when ``read`` is None.

    With ``line`` only the part around it is shown, and that line is marked ``>``.
    """
    f = data.manifest.get(path)
    if f is None:
        raise KeyError(path)
    ann = data.files.get(path)
    notes = notes_for(path, data)
    out = file_header(path, ann, data, color=color, have_source=read is not None, width=width)
    first, last = _window(notes, f.lines, line)
    visible = [n for n in notes if n.lines[1] >= first and n.lines[0] <= last]

    if read is None:
        if line is not None:
            out.append(f"  Line {line}: {permalink(path, (line, line), data.manifest)}")
        if not visible:
            out.append("  (no line notes" + (" near that line)" if line else ")"))
        for n in visible:
            out.append("")
            out += note_block(n, path, data, color=color, width=width)
        return "\n".join(out) + "\n"

    source = read(path)
    shown = highlight(path, source, color)
    marked = {i for n in notes for i in range(n.lines[0], n.lines[1] + 1)}
    starts: dict[int, list[Note]] = {}
    for n in visible:
        starts.setdefault(max(n.lines[0], first), []).append(n)
    if line is not None:
        out.append(f"  (lines {first}-{last}, line {line} marked {TARGET}; "
                   f"the whole file: alexnet tour {path})")
    for i in range(first, last + 1):
        for n in starts.get(i, []):
            out += note_block(n, path, data, color=color, width=width)
        out += source_lines(path, source, i, i, color=color, marked=marked, highlighted=shown,
                            target=line)
    return "\n".join(out) + "\n"


def render_stop(k: int, total: int, stop: TourStop, data: AnnotationSet, read: ReadLines | None,
                *, color: bool, cache: dict[str, list[str]] | None = None,
                width: int = WIDTH) -> list[str]:
    head = f"[{k}/{total}] {stop.title}"
    out = ["", _style("-" * width, color, dim=True)]
    out += [_style(ln, color, bold=True, fg="yellow") for ln in _wrap(head, "", width)]
    out.append(_style(f"    {stop.path} {_span(stop.lines)}", color, fg="green"))
    out += _wrap(stop.text, "    ", width)
    out.append(_style("    " + permalink(stop.path, stop.lines, data.manifest), color,
                      dim=True))
    if read is not None:
        out.append("")
        src = read(stop.path)
        cache = {} if cache is None else cache
        if stop.path not in cache:
            cache[stop.path] = highlight(stop.path, src, color)
        shown = cache[stop.path]
        out += source_lines(stop.path, src, stop.lines[0], stop.lines[1], color=color,
                            highlighted=shown)
    others = [n for n in notes_for(stop.path, data)
              if n.lines[1] >= stop.lines[0] and n.lines[0] <= stop.lines[1]]
    if others:
        titles = "; ".join(f"{n.title} ({_span(n.lines)})" for n in others[:4])
        more = f" and {len(others) - 4} more" if len(others) > 4 else ""
        out += [_style(ln, color, dim=True) for ln in _wrap(
            f"More notes here: {titles}{more}. "
            f"See: alexnet tour {stop.path} --line {stop.lines[0]}", "    ", width)]
    return out


def render_tour(data: AnnotationSet, read: ReadLines | None, *, color: bool = False,
                stop: int | None = None, width: int = WIDTH) -> str:
    """The guided tour; with ``stop`` (1-based) only that stop, with a pointer onwards."""
    tour = data.tour
    if tour is None:
        return "No guided tour (original/annotations/tour.yaml is missing).\n"
    n = len(tour.stops)
    if stop is not None and not 1 <= stop <= n:
        raise IndexError(f"the tour has stops 1 to {n}, not {stop}")
    no_copy = _wrap(
        "No local copy of the 2012 source: each stop links to its lines on GitHub. "
        "Run `alexnet original fetch` to read the code here.", "  ", width)
    shown: dict[str, list[str]] = {}  # highlight each file once, however many stops it has
    if stop is not None:
        out = [_style(tour.title, color, bold=True)]
        if read is None:
            out += no_copy
        out += render_stop(stop, n, tour.stops[stop - 1], data, read, color=color, cache=shown,
                           width=width)
        nxt = (f"next: alexnet tour --stop {stop + 1}" if stop < n
               else "That was the last stop.")
        out += ["", _style(nxt, color, dim=True)]
        return "\n".join(out) + "\n"
    out = ["=" * width, _style(tour.title, color, bold=True), "=" * width]
    out += _wrap(tour.intro, "  ", width)
    if read is None:
        out.append("")
        out += no_copy
    for k, item in enumerate(tour.stops, 1):
        out += render_stop(k, n, item, data, read, color=color, cache=shown, width=width)
    out += ["", "=" * width, f"End of the tour ({n} stops). One stop: alexnet tour --stop N"]
    return "\n".join(out) + "\n"


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:5.1f}%" if b else "   - "


def render_listing(data: AnnotationSet, cov: Coverage, *, color: bool = False,
                   width: int = WIDTH) -> str:
    """The annotated files with their coverage, and what else there is to read."""
    out = [_style("Annotated files of the 2012 release "
                  f"(commit {data.manifest.commit[:8]})", color, bold=True), ""]
    out.append(f"  {'file':<34} {'lines':>6} {'notes':>6} {'covered':>8}")
    for fc in cov.source:
        if fc.annotated:
            out.append(f"  {fc.path:<34} {fc.lines:>6} {fc.line_notes:>6} "
                       f"{_pct(fc.lines_covered, fc.lines):>8}")
    missing = [fc.path for fc in cov.source if not fc.annotated]
    out.append("")
    out.append(f"  {cov.annotated_files} of {cov.total_files} source files annotated; "
               f"{cov.lines_covered} of {cov.lines_total} lines under a note.")
    if missing:
        out += _wrap("Not yet annotated: " + ", ".join(missing), "  ", width)
    cfg = cov.cfg
    in_fam = sum(1 for c in cfg if c.family)
    out.append(f"  cfg files: {in_fam} of {len(cfg)} covered by {len(data.families)} "
               "families (families.yaml).")
    stops = len(data.tour.stops) if data.tour else 0
    out.append(f"  Guided tour: {stops} stops (alexnet tour --tour, or --stop N); ledger: "
               f"{len(data.ledger)} paper-versus-code rows.")
    out.append("  Read a file: alexnet tour FILE [--line N]; coverage: alexnet tour --coverage")
    return "\n".join(out) + "\n"


def render_coverage(data: AnnotationSet, cov: Coverage) -> str:
    out = [f"{'file':<40} {'lines':>6} {'notes':>6} {'line notes':>10} {'covered':>8}"]
    for fc in cov.source:
        out.append(f"{fc.path:<40} {fc.lines:>6} {fc.notes:>6} {fc.line_notes:>10} "
                   f"{_pct(fc.lines_covered, fc.lines):>8}")
    out.append("")
    out.append(f"source files annotated: {cov.annotated_files} / {cov.total_files}; "
               f"lines covered {cov.lines_covered} / {cov.lines_total} "
               f"({_pct(cov.lines_covered, cov.lines_total).strip()})")
    out.append("(total_files counts the files other than cfg files; cfg files are covered "
               "by families:)")
    for fam in data.families:
        members = fam.members(data.manifest.paths)
        out.append(f"  family {fam.id:<30} {len(members):>4} files, "
                   f"{len(fam.highlights)} highlights")
    cfg = cov.cfg
    out.append(f"cfg files in a family: {sum(1 for c in cfg if c.family)} / {len(cfg)}")
    return "\n".join(out) + "\n"
