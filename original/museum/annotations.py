"""Our annotations of the 2012 release: loading, validation and coverage.

The data lives in ``original/annotations/`` as YAML written in our own words (format:
per-file notes in ``files/<upstream path>.yaml``, cfg families in ``families.yaml``, the
paper-versus-code ledger in ``ledger.yaml``, the guided tour in ``tour.yaml``). This
module is the one reader of that data: the terminal viewer (``alexnet tour``), the
documentation and the tests all go through it, so the format is checked in one place.

Two levels of checking, on purpose:

* the ``load_*`` functions check *shape* (keys, types, line ranges written as
  ``[a, b]``) and raise :class:`AnnotationError` with one line
  ``file:field: expected …`` at the first problem, so a broken file never half-loads;
* :func:`validate` checks *meaning* across files (paths exist in the manifest, ranges
  lie inside the file and do not overlap, ledger links resolve, ``recreation:`` names a
  module under ``alexnet.``) and returns every problem as a list of such lines.

``recreation:`` links are checked for form always; the module is imported only if it
exists (the re-creation is being written alongside the annotations, so a link may point
at a module that does not exist yet). Ledger ``evidence`` may also cite the 2011 public
release as ``cc2011:<path>`` (dnouri/cuda-convnet at commit 6627f678), because some
2012 behaviour lives in files the 2012 release does not contain; those are checked for
form only.

Small extensions of the format in ANNOTATIONS.md, accepted because the annotation
writers needed them: a family highlight may carry ``title`` and ``ledger`` like a note;
a family's ``folder`` is descriptive unless one of its ``files`` entries has no ``/``
(entries with a ``/`` are globs on the full path); and a cfg file may have its own
``files/<path>.yaml`` (it then counts as covered, next to any family).

Coverage (:func:`coverage`): ``total_files`` counts the 67 files that are not cfg files,
because those are the ones annotated one by one; the 179 cfg files are covered by
``families.yaml`` and reported separately (``cfg_files``, ``cfg_files_in_families``).
Per file, ``notes`` counts every piece of our commentary anchored there (the file-level
note, its line notes, tour stops, ledger evidence, family text and highlights);
``line_notes`` counts the line-range notes of its own annotation (family highlights for
a cfg file) and ``lines_covered`` the distinct lines those ranges cover.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alexnet.errors import DataError
from alexnet.original.museum.upstream import Manifest, UpstreamSource, local_copy
from alexnet.original.museum.upstream import load_manifest as _load_manifest

ANNOTATIONS_DIR = Path(__file__).parent.parent / "annotations"
CC2011_REPO = "https://github.com/dnouri/cuda-convnet"
CC2011_COMMIT = "6627f678f986b9993fe61e331c731bb8aadf8896"
CC2011_PREFIX = "cc2011:"

ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RECREATION_RE = re.compile(
    r"^alexnet(\.[A-Za-z_][A-Za-z0-9_]*)+(:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$"
)

Lines = tuple[int, int]

# libyaml's loader when available: loading every annotation file is ten times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class AnnotationError(DataError):
    """An annotation file is malformed; the message reads ``file:field: expected …``."""


# ---------------------------------------------------------------------------------------
# Data classes
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Note:
    lines: Lines
    title: str
    text: str
    recreation: str | None = None
    ledger: str | None = None


@dataclass(frozen=True)
class FileAnnotation:
    path: str
    role: str
    era: str
    depends_on: tuple[str, ...]
    notes: tuple[Note, ...]
    source: Path  # the YAML file it came from


@dataclass(frozen=True)
class Evidence:
    path: str  # an upstream path, or cc2011:<path> for the 2011 release
    lines: Lines

    @property
    def is_cc2011(self) -> bool:
        return self.path.startswith(CC2011_PREFIX)


@dataclass(frozen=True)
class LedgerRow:
    id: str
    topic: str
    paper: str
    code: str
    evidence: tuple[Evidence, ...]
    recreation: str
    port: str


@dataclass(frozen=True)
class TourStop:
    id: str
    title: str
    path: str
    lines: Lines
    text: str


@dataclass(frozen=True)
class Tour:
    title: str
    intro: str
    stops: tuple[TourStop, ...]


@dataclass(frozen=True)
class Highlight:
    path: str
    lines: Lines
    text: str
    title: str | None = None
    ledger: str | None = None


@dataclass(frozen=True)
class Family:
    id: str
    title: str
    folder: str
    files: tuple[str, ...]  # globs or names; relative to folder unless they contain '/'
    # ``folder`` is descriptive unless some entry of ``files`` has no '/'.
    text: str
    highlights: tuple[Highlight, ...]

    def pattern_matches(self, pattern: str, path: str) -> bool:
        folder = self.folder.strip("/")
        if "/" in pattern:
            return fnmatch.fnmatchcase(path, pattern)
        if folder and not path.startswith(folder + "/"):
            return False
        rest = path[len(folder) + 1 :] if folder else path
        return "/" not in rest and fnmatch.fnmatchcase(rest, pattern)

    def members(self, paths: Iterable[str]) -> list[str]:
        return [p for p in paths if any(self.pattern_matches(pat, p) for pat in self.files)]


@dataclass(frozen=True)
class AnnotationSet:
    """Everything at once, as the viewer and the docs use it."""

    manifest: Manifest
    files: dict[str, FileAnnotation]
    ledger: tuple[LedgerRow, ...]
    tour: Tour | None
    families: tuple[Family, ...]
    directory: Path = field(default=ANNOTATIONS_DIR)

    def ledger_row(self, row_id: str) -> LedgerRow | None:
        return next((r for r in self.ledger if r.id == row_id), None)

    def family_of(self, path: str) -> Family | None:
        """The first family whose file list matches ``path``."""
        return next((f for f in self.families if f.members([path])), None)


@dataclass(frozen=True)
class FileCoverage:
    path: str
    kind: str  # "source" or "cfg"
    lines: int
    notes: int
    line_notes: int
    lines_covered: int
    annotated: bool
    family: str | None = None

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "notes": self.notes,
            "line_notes": self.line_notes,
            "lines_covered": self.lines_covered,
            "lines": self.lines,
            "annotated": self.annotated,
            "family": self.family,
        }


@dataclass(frozen=True)
class Coverage:
    files: tuple[FileCoverage, ...]

    @property
    def source(self) -> list[FileCoverage]:
        return [f for f in self.files if f.kind == "source"]

    @property
    def cfg(self) -> list[FileCoverage]:
        return [f for f in self.files if f.kind == "cfg"]

    @property
    def total_files(self) -> int:
        return len(self.source)

    @property
    def annotated_files(self) -> int:
        return sum(1 for f in self.source if f.annotated)

    @property
    def lines_total(self) -> int:
        return sum(f.lines for f in self.source)

    @property
    def lines_covered(self) -> int:
        return sum(f.lines_covered for f in self.source)

    def to_json(self) -> dict:
        cfg = self.cfg
        return {
            "annotated_files": self.annotated_files,
            "total_files": self.total_files,
            "total_files_counts": "files other than cfg files; cfg files are covered by "
            "families (cfg_files, cfg_files_in_families)",
            "lines_covered": self.lines_covered,
            "lines_total": self.lines_total,
            "cfg_files": len(cfg),
            "cfg_files_in_families": sum(1 for f in cfg if f.family),
            "files": [f.to_json() for f in self.files],
        }


# ---------------------------------------------------------------------------------------
# Shape checking while loading
# ---------------------------------------------------------------------------------------
def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(ANNOTATIONS_DIR.resolve().parent.parent).as_posix()
    except ValueError:
        return str(path)


class _Reader:
    """Typed access to one YAML document; every failure names the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = _display(path)

    def error(self, where: str, expected: str, got: Any = ...) -> AnnotationError:
        tail = "" if got is ... else f", got {_short(got)}"
        return AnnotationError(f"{self.name}:{where}: expected {expected}{tail}")

    def load(self) -> Any:
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise AnnotationError(f"{self.name}: not UTF-8 text") from None
        except OSError as exc:
            raise AnnotationError(f"{self.name}: unreadable ({exc.strerror})") from None
        try:
            return yaml.load(text, Loader=_SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else "?"
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise AnnotationError(f"{self.name}:{where}: invalid YAML ({problem})") from None

    def mapping(self, obj: Any, where: str, required: set[str], optional: set[str]) -> dict:
        if not isinstance(obj, dict):
            raise self.error(where or "top level", "a mapping", obj)
        for key in sorted(required):
            if key not in obj:
                raise self.error(_join(where, key), "a value (required key missing)")
        unknown = sorted(set(obj) - required - optional, key=str)
        if unknown:
            allowed = ", ".join(sorted(required | optional))
            raise self.error(_join(where, str(unknown[0])), f"one of the keys {allowed}")
        return obj

    def text(self, obj: dict, key: str, where: str, *, required: bool = True) -> str | None:
        v = obj.get(key)
        if v is None and not required:
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or not v.strip():
            raise self.error(_join(where, key), "non-empty text", v)
        return v.strip()

    def ident(self, obj: dict, key: str, where: str) -> str:
        v = self.text(obj, key, where)
        assert v is not None
        if not ID_RE.match(v):
            raise self.error(_join(where, key), "a kebab-case id (a-z, 0-9, '-')", v)
        return v

    def lines(self, obj: dict, key: str, where: str) -> Lines:
        v = obj.get(key)
        w = _join(where, key)
        if isinstance(v, int) and not isinstance(v, bool):
            v = [v, v]
        if (
            not isinstance(v, list)
            or len(v) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        ):
            raise self.error(w, "[first, last] (two line numbers)", v)
        a, b = v
        if a < 1 or b < a:
            raise self.error(w, "1 <= first <= last", v)
        return (a, b)

    def seq(self, obj: dict, key: str, where: str, *, required: bool = True) -> list:
        v = obj.get(key)
        if v is None and not required:
            return []
        if not isinstance(v, list):
            raise self.error(_join(where, key), "a list", v)
        return v

    def str_list(
        self, obj: dict, key: str, where: str, *, required: bool = True
    ) -> tuple[str, ...]:
        items = self.seq(obj, key, where, required=required)
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"{_join(where, key)}[{i}]", "non-empty text", item)
            out.append(item.strip())
        return tuple(out)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


# ---------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------
def load_manifest(path: str | Path | None = None) -> Manifest:
    """The pinned upstream manifest (``original/UPSTREAM.json``)."""
    return _load_manifest(path)


def _annotation_file(path: Path, files_dir: Path) -> FileAnnotation:
    r = _Reader(path)
    doc = r.mapping(r.load(), "", {"path", "role", "notes"}, {"era", "depends_on"})
    upstream_path = r.text(doc, "path", "")
    assert upstream_path is not None
    expected_name = files_dir / (upstream_path + ".yaml")
    if expected_name.resolve() != path.resolve():
        rel = path.relative_to(files_dir).as_posix()
        raise r.error("path", f"'{rel.removesuffix('.yaml')}' (the file's own location)",
                      upstream_path)
    notes = []
    for i, item in enumerate(r.seq(doc, "notes", "")):
        w = f"notes[{i}]"
        n = r.mapping(item, w, {"lines", "title", "text"}, {"recreation", "ledger"})
        notes.append(
            Note(
                lines=r.lines(n, "lines", w),
                title=r.text(n, "title", w) or "",
                text=r.text(n, "text", w) or "",
                recreation=r.text(n, "recreation", w, required=False),
                ledger=r.text(n, "ledger", w, required=False),
            )
        )
    return FileAnnotation(
        path=upstream_path,
        role=r.text(doc, "role", "") or "",
        era=r.text(doc, "era", "", required=False) or "",
        depends_on=r.str_list(doc, "depends_on", "", required=False),
        notes=tuple(notes),
        source=path,
    )


def load_annotations(directory: str | Path | None = None) -> dict[str, FileAnnotation]:
    """Every ``files/**/*.yaml``, keyed by upstream path, in path order."""
    files_dir = Path(directory or ANNOTATIONS_DIR) / "files"
    out: dict[str, FileAnnotation] = {}
    if not files_dir.is_dir():
        return out
    for p in sorted(files_dir.rglob("*.yaml")):
        ann = _annotation_file(p, files_dir)
        out[ann.path] = ann
    return dict(sorted(out.items()))


def load_ledger(directory: str | Path | None = None) -> tuple[LedgerRow, ...]:
    """The paper-versus-code ledger, in file order (empty if the file is absent)."""
    path = Path(directory or ANNOTATIONS_DIR) / "ledger.yaml"
    if not path.exists():
        return ()
    r = _Reader(path)
    doc = r.load()
    if not isinstance(doc, list):
        raise r.error("top level", "a list of rows", doc)
    rows = []
    keys = {"id", "topic", "paper", "code", "evidence", "recreation", "port"}
    for i, item in enumerate(doc):
        w = f"[{i}]"
        d = r.mapping(item, w, keys, set())
        ev = []
        for j, e in enumerate(r.seq(d, "evidence", w)):
            we = f"{w}.evidence[{j}]"
            e = r.mapping(e, we, {"path", "lines"}, set())
            ev.append(Evidence(r.text(e, "path", we) or "", r.lines(e, "lines", we)))
        if not ev:
            raise r.error(f"{w}.evidence", "at least one {path, lines} entry")
        rows.append(
            LedgerRow(
                id=r.ident(d, "id", w),
                topic=r.text(d, "topic", w) or "",
                paper=r.text(d, "paper", w) or "",
                code=r.text(d, "code", w) or "",
                evidence=tuple(ev),
                recreation=r.text(d, "recreation", w) or "",
                port=r.text(d, "port", w) or "",
            )
        )
    return tuple(rows)


def load_tour(directory: str | Path | None = None) -> Tour | None:
    """The guided tour (None if ``tour.yaml`` is absent)."""
    path = Path(directory or ANNOTATIONS_DIR) / "tour.yaml"
    if not path.exists():
        return None
    r = _Reader(path)
    doc = r.mapping(r.load(), "", {"title", "intro", "stops"}, set())
    stops = []
    for i, item in enumerate(r.seq(doc, "stops", "")):
        w = f"stops[{i}]"
        s = r.mapping(item, w, {"id", "title", "path", "lines", "text"}, set())
        stops.append(
            TourStop(
                id=r.ident(s, "id", w),
                title=r.text(s, "title", w) or "",
                path=r.text(s, "path", w) or "",
                lines=r.lines(s, "lines", w),
                text=r.text(s, "text", w) or "",
            )
        )
    return Tour(r.text(doc, "title", "") or "", r.text(doc, "intro", "") or "", tuple(stops))


def load_families(directory: str | Path | None = None) -> tuple[Family, ...]:
    """The cfg families (empty if ``families.yaml`` is absent)."""
    path = Path(directory or ANNOTATIONS_DIR) / "families.yaml"
    if not path.exists():
        return ()
    r = _Reader(path)
    doc = r.load()
    if isinstance(doc, dict) and set(doc) == {"families"}:
        doc = doc["families"]
    if not isinstance(doc, list):
        raise r.error("top level", "a list of families", doc)
    out = []
    for i, item in enumerate(doc):
        w = f"[{i}]"
        d = r.mapping(item, w, {"id", "title", "folder", "files", "text"}, {"highlights"})
        hl = []
        for j, h in enumerate(r.seq(d, "highlights", w, required=False)):
            wh = f"{w}.highlights[{j}]"
            h = r.mapping(h, wh, {"path", "lines", "text"}, {"title", "ledger"})
            hl.append(
                Highlight(
                    path=r.text(h, "path", wh) or "",
                    lines=r.lines(h, "lines", wh),
                    text=r.text(h, "text", wh) or "",
                    title=r.text(h, "title", wh, required=False),
                    ledger=r.text(h, "ledger", wh, required=False),
                )
            )
        files = r.str_list(d, "files", w)
        if not files:
            raise r.error(f"{w}.files", "at least one name or glob")
        out.append(
            Family(
                id=r.ident(d, "id", w),
                title=r.text(d, "title", w) or "",
                folder=(r.text(d, "folder", w) or "").strip().strip("/"),
                files=files,
                text=r.text(d, "text", w) or "",
                highlights=tuple(hl),
            )
        )
    return tuple(out)


def load_all(
    directory: str | Path | None = None, manifest: Manifest | None = None
) -> AnnotationSet:
    d = Path(directory or ANNOTATIONS_DIR)
    return AnnotationSet(
        manifest=manifest or load_manifest(),
        files=load_annotations(d),
        ledger=load_ledger(d),
        tour=load_tour(d),
        families=load_families(d),
        directory=d,
    )


# ---------------------------------------------------------------------------------------
# Cross-file validation
# ---------------------------------------------------------------------------------------
def check_recreation(link: str, *, import_modules: bool = True) -> str | None:
    """Why a ``recreation:`` link is wrong, or None.

    Form is always checked. The module is imported only if it can be found: a link to a
    module that is not written yet is accepted (see the module docstring).
    """
    if not RECREATION_RE.match(link):
        return "expected a dotted module under alexnet. (optionally :qualname)"
    if not import_modules:
        return None
    module, _, qualname = link.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None  # a parent package is not there yet
    if spec is None:
        return None
    try:
        obj: Any = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure to import is worth reporting
        return f"module {module} exists but does not import ({type(exc).__name__}: {exc})"
    for part in filter(None, qualname.split(".")):
        if not hasattr(obj, part):
            return f"{module} has no attribute {qualname}"
        obj = getattr(obj, part)
    return None


def _range_problems(where: str, path: str, lines: Lines, manifest: Manifest) -> list[str]:
    f = manifest.get(path)
    if f is None:
        return [f"{where}: {path!r} is not a file of the pinned release"]
    if lines[1] > f.lines:
        return [f"{where}: lines {lines[0]}-{lines[1]} beyond the end of {path} ({f.lines} lines)"]
    return []


def validate(data: AnnotationSet | None = None, *, import_modules: bool = True) -> list[str]:
    """Every cross-file problem, one line each (empty when all is well)."""
    data = data or load_all()
    m = data.manifest
    out: list[str] = []
    ledger_ids = [r.id for r in data.ledger]
    known = set(ledger_ids)

    for path, ann in data.files.items():
        name = _display(ann.source)
        f = m.get(path)
        if f is None:
            out.append(f"{name}:path: {path!r} is not a file of the pinned release")
            continue
        prev: Note | None = None
        for i, n in enumerate(ann.notes):
            w = f"{name}:notes[{i}].lines"
            if n.lines[1] > f.lines:
                out.append(f"{w}: {n.lines[0]}-{n.lines[1]} beyond the end of {path} "
                           f"({f.lines} lines)")
            if prev is not None:
                if n.lines[0] < prev.lines[0]:
                    out.append(f"{w}: notes not sorted by first line "
                               f"({n.lines[0]} after {prev.lines[0]})")
                elif n.lines[0] <= prev.lines[1]:
                    out.append(f"{w}: {n.lines[0]}-{n.lines[1]} overlaps the previous note "
                               f"({prev.lines[0]}-{prev.lines[1]})")
            prev = n
            if n.ledger and n.ledger not in known:
                out.append(f"{name}:notes[{i}].ledger: no ledger row with id {n.ledger!r}")
            if n.recreation:
                why = check_recreation(n.recreation, import_modules=import_modules)
                if why:
                    out.append(f"{name}:notes[{i}].recreation: {n.recreation!r}: {why}")

    led = _display(data.directory / "ledger.yaml")
    seen: set[str] = set()
    for i, row in enumerate(data.ledger):
        if row.id in seen:
            out.append(f"{led}:[{i}].id: duplicate id {row.id!r}")
        seen.add(row.id)
        for j, ev in enumerate(row.evidence):
            w = f"{led}:[{i}].evidence[{j}]"
            if ev.is_cc2011:
                rest = ev.path[len(CC2011_PREFIX):]
                if not rest or rest.startswith("/") or ".." in rest.split("/"):
                    out.append(f"{w}.path: expected cc2011:<relative path>, got {ev.path!r}")
                continue
            out += _range_problems(w, ev.path, ev.lines, m)

    if data.tour is not None:
        tname = _display(data.directory / "tour.yaml")
        ids: set[str] = set()
        for i, s in enumerate(data.tour.stops):
            if s.id in ids:
                out.append(f"{tname}:stops[{i}].id: duplicate id {s.id!r}")
            ids.add(s.id)
            out += _range_problems(f"{tname}:stops[{i}]", s.path, s.lines, m)

    fname = _display(data.directory / "families.yaml")
    fam_ids: set[str] = set()
    for i, fam in enumerate(data.families):
        if fam.id in fam_ids:
            out.append(f"{fname}:[{i}].id: duplicate id {fam.id!r}")
        fam_ids.add(fam.id)
        relative = [p for p in fam.files if "/" not in p]
        if relative and not any(p.startswith(fam.folder + "/") for p in m.paths):
            out.append(f"{fname}:[{i}].folder: {fam.folder!r} is not a folder of the release "
                       "(needed by the file names without a folder)")
        for j, pat in enumerate(fam.files):
            if not any(fam.pattern_matches(pat, p) for p in m.paths):
                out.append(f"{fname}:[{i}].files[{j}]: {pat!r} matches no file of the release")
        for j, h in enumerate(fam.highlights):
            out += _range_problems(f"{fname}:[{i}].highlights[{j}]", h.path, h.lines, m)
            if h.ledger and h.ledger not in known:
                out.append(f"{fname}:[{i}].highlights[{j}].ledger: no ledger row with id "
                           f"{h.ledger!r}")
    return out


# ---------------------------------------------------------------------------------------
# Quotation check (needs the upstream text)
# ---------------------------------------------------------------------------------------
_COMMENT_LEAD = re.compile(r"^(#+|//+|/\*+|\*+/?|\*/)\s*")
_WINDOW = 36


def _norm(line: str) -> str:
    s = re.sub(r"\s+", " ", line).strip()
    return _COMMENT_LEAD.sub("", s).strip()


def annotation_texts(data: AnnotationSet) -> list[tuple[str, str]]:
    """(where, text) for every piece of prose we wrote."""
    out: list[tuple[str, str]] = []
    for ann in data.files.values():
        name = _display(ann.source)
        out += [(f"{name}:role", ann.role), (f"{name}:era", ann.era)]
        for i, n in enumerate(ann.notes):
            out += [(f"{name}:notes[{i}].title", n.title), (f"{name}:notes[{i}].text", n.text)]
    led = _display(data.directory / "ledger.yaml")
    for i, row in enumerate(data.ledger):
        for key in ("topic", "paper", "code", "recreation", "port"):
            out.append((f"{led}:[{i}].{key}", getattr(row, key)))
    if data.tour is not None:
        tname = _display(data.directory / "tour.yaml")
        out += [(f"{tname}:title", data.tour.title), (f"{tname}:intro", data.tour.intro)]
        for i, s in enumerate(data.tour.stops):
            out += [(f"{tname}:stops[{i}].title", s.title), (f"{tname}:stops[{i}].text", s.text)]
    fname = _display(data.directory / "families.yaml")
    for i, fam in enumerate(data.families):
        out += [(f"{fname}:[{i}].title", fam.title), (f"{fname}:[{i}].text", fam.text)]
        for j, h in enumerate(fam.highlights):
            out.append((f"{fname}:[{i}].highlights[{j}].text", h.text))
    return [(w, t) for w, t in out if t]


def find_quotations(
    data: AnnotationSet,
    read_lines: Callable[[str], list[str]],
    *,
    long_line: int = 40,
    run: int = 3,
    run_line: int = 12,
) -> list[str]:
    """Places where our prose contains upstream text verbatim (after folding white space).

    Flags any single upstream line of at least ``long_line`` characters, and any ``run``
    consecutive upstream lines of at least ``run_line`` characters each (joined by a
    space), found inside an annotation text. Comment markers are stripped from upstream
    lines first, so a quoted comment is caught with or without its ``#``.
    """
    texts = [(w, _norm(t)) for w, t in annotation_texts(data)]
    windows: dict[str, list[int]] = {}
    for k, (_, t) in enumerate(texts):
        for i in range(len(t) - _WINDOW + 1):
            windows.setdefault(t[i : i + _WINDOW], []).append(k)

    found: list[str] = []
    seen: set[tuple[int, str]] = set()

    def probe(needle: str, origin: str) -> None:
        for k in windows.get(needle[:_WINDOW], ()):
            if (k, origin) not in seen and needle in texts[k][1]:
                seen.add((k, origin))
                found.append(f"{texts[k][0]}: contains upstream text from {origin}")

    for f in data.manifest.files:
        lines = [_norm(x) for x in read_lines(f.path)]
        for i, s in enumerate(lines):
            if len(s) >= max(long_line, _WINDOW):
                probe(s, f"{f.path}:{i + 1}")
            chunk = lines[i : i + run]
            if len(chunk) == run and all(len(c) >= run_line for c in chunk):
                joined = " ".join(chunk)
                if len(joined) >= _WINDOW:
                    probe(joined, f"{f.path}:{i + 1}-{i + run}")
    return found


# ---------------------------------------------------------------------------------------
# Coverage and the local copy
# ---------------------------------------------------------------------------------------
def _covered(ranges: Iterable[Lines], limit: int) -> int:
    lines: set[int] = set()
    for a, b in ranges:
        lines.update(range(a, min(b, limit) + 1))
    return len(lines)


def coverage(data: AnnotationSet | None = None) -> Coverage:
    """Per-file coverage over every file of the manifest (see the module docstring)."""
    data = data or load_all()
    extra: dict[str, int] = {}
    for row in data.ledger:
        for ev in row.evidence:
            extra[ev.path] = extra.get(ev.path, 0) + 1
    if data.tour is not None:
        for s in data.tour.stops:
            extra[s.path] = extra.get(s.path, 0) + 1
    highlights: dict[str, list[Lines]] = {}
    for fam in data.families:
        for h in fam.highlights:
            highlights.setdefault(h.path, []).append(h.lines)

    rows = []
    for f in data.manifest.files:
        if f.is_cfg:
            # Usually covered by a family; a per-file annotation counts as well.
            fam = data.family_of(f.path)
            own = data.files.get(f.path)
            hl = highlights.get(f.path, []) + ([n.lines for n in own.notes] if own else [])
            rows.append(
                FileCoverage(
                    path=f.path,
                    kind="cfg",
                    lines=f.lines,
                    notes=(1 if fam else 0) + (1 if own else 0) + len(hl) + extra.get(f.path, 0),
                    line_notes=len(hl),
                    lines_covered=_covered(hl, f.lines),
                    annotated=fam is not None or own is not None,
                    family=fam.id if fam else None,
                )
            )
        else:
            ann = data.files.get(f.path)
            ranges = [n.lines for n in ann.notes] if ann else []
            rows.append(
                FileCoverage(
                    path=f.path,
                    kind="source",
                    lines=f.lines,
                    notes=(1 + len(ranges) if ann else 0) + extra.get(f.path, 0),
                    line_notes=len(ranges),
                    lines_covered=_covered(ranges, f.lines),
                    annotated=ann is not None,
                )
            )
    return Coverage(tuple(rows))


def upstream_copy(cache_dir: str | Path | None = None) -> Path | None:
    """The verified local copy of the 2012 release, or None (run ``alexnet original fetch``)."""
    return local_copy(cache_dir)


def upstream_source(cache_dir: str | Path | None = None) -> UpstreamSource | None:
    root = upstream_copy(cache_dir)
    return UpstreamSource(root) if root is not None else None


def permalink(path: str, lines: Lines | None = None, manifest: Manifest | None = None) -> str:
    """A link to the pinned lines on GitHub (``cc2011:`` paths go to the 2011 mirror)."""
    if path.startswith(CC2011_PREFIX):
        url = f"{CC2011_REPO}/blob/{CC2011_COMMIT}/{path[len(CC2011_PREFIX):]}"
        if lines is None:
            return url
        return url + (f"#L{lines[0]}" if lines[0] == lines[1] else f"#L{lines[0]}-L{lines[1]}")
    m = manifest or load_manifest()
    return m.permalink(path, *(lines or (None, None)))
