"""``alexnet tour``: read the 2012 source with our notes, in the terminal.

Thin: loading and checking are in :mod:`alexnet.original.museum.annotations`, rendering in
:mod:`alexnet.original.museum.tour_view`.
"""

from __future__ import annotations

import difflib
import json
import sys

import click

from alexnet.download import CACHE_ENV
from alexnet.original.museum.annotations import AnnotationError, coverage, load_all, validate
from alexnet.original.museum.upstream import Manifest, UpstreamSource, local_copy


def resolve_path(name: str, manifest: Manifest) -> str:
    """An upstream path from what a reader typed: exact, or a unique trailing part."""
    name = name.strip().removeprefix("./")
    if name in manifest:
        return name
    hits = [p for p in manifest.paths if p.endswith("/" + name)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise click.BadParameter(f"{name!r} is ambiguous: {', '.join(hits)}", param_hint="FILE")
    close = difflib.get_close_matches(name, manifest.paths, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise click.BadParameter(f"{name!r} is not a file of the 2012 release{hint}",
                             param_hint="FILE")


def _emit(text: str, pager: bool, color: bool = False) -> None:
    if pager and sys.stdout.isatty():
        # color=None lets click run less with -R so the highlighting survives the pager;
        # False strips the escape codes.
        click.echo_via_pager(text, color=None if color else False)
    else:
        click.echo(text, nl=False, color=color)


@click.command("tour")
@click.argument("file", required=False)
@click.option("--line", "-n", type=click.IntRange(min=1), default=None,
              help="Show only the part of FILE around this line (and its notes).")
@click.option("--tour", "walk", is_flag=True, help="Walk the guided tour of one training step.")
@click.option("--stop", type=click.IntRange(min=1), default=None, metavar="N",
              help="Show only stop N of the guided tour.")
@click.option("--coverage", "show_coverage", is_flag=True, help="Per-file annotation coverage.")
@click.option("--json", "as_json", is_flag=True, help="With --coverage: print JSON.")
@click.option("--check", is_flag=True,
              help="Validate the annotation files (paths, ranges, links) and exit.")
@click.option("--pager/--no-pager", default=True,
              help="Page long output (only on a terminal).")
@click.option("--color/--no-color", default=None,
              help="Syntax highlighting and colours (default: on a terminal).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help=f"Cache root holding the fetched copy (default: ${CACHE_ENV} or "
                   "~/.cache/alexnet).")
def tour(file: str | None, line: int | None, walk: bool, stop: int | None, show_coverage: bool,
         as_json: bool, check: bool, pager: bool, color: bool | None,
         cache_dir: str | None) -> None:
    """Read the 2012 AlexNet source with our notes.

    \b
    alexnet tour                  list the annotated files with coverage
    alexnet tour FILE [--line N]  one file, notes interleaved with the code (line N marked >)
    alexnet tour --tour           the guided tour of one training step
    alexnet tour --stop N         stop N of the tour
    alexnet tour --coverage       coverage of every file (--json for JSON)
    alexnet tour --check          validate the annotation data

    The code is shown from the verified copy made by `alexnet original fetch`; without
    it the notes are shown with links to the pinned lines on GitHub (every note keeps its
    link either way). Prose wraps to the terminal's width ($COLUMNS overrides it; 96
    when not on a terminal). Coverage counts the
    67 files that are not cfg files; cfg files are covered by families (families.yaml).
    """
    from alexnet.original.museum import tour_view

    if line is not None and file is None:
        raise click.UsageError("--line needs a FILE")
    if stop is not None and (file or show_coverage or check):
        raise click.UsageError("--stop goes alone (or with --tour)")
    if as_json and not show_coverage and (file or walk or check):
        raise click.UsageError("--json goes with --coverage (or with no other arguments)")
    data = load_all()

    if check:
        problems = validate(data)
        for p in problems:
            click.echo(p)
        if problems:
            raise AnnotationError(f"{len(problems)} problem(s) in the annotation data")
        click.echo(f"ok: {len(data.files)} annotated files, {len(data.ledger)} ledger rows, "
                   f"{len(data.tour.stops) if data.tour else 0} tour stops, "
                   f"{len(data.families)} families")
        return

    use_color = sys.stdout.isatty() if color is None else color
    width = tour_view.terminal_width()
    root = local_copy(cache_dir, data.manifest)
    read = UpstreamSource(root).lines if root is not None else None

    if show_coverage or (as_json and not file and not walk):
        cov = coverage(data)
        if as_json:
            click.echo(json.dumps(cov.to_json(), indent=2))
        else:
            _emit(tour_view.render_coverage(data, cov), pager)
        return
    if stop is not None:
        n = len(data.tour.stops) if data.tour else 0
        if stop > n:
            raise click.BadParameter(f"the tour has {n} stops", param_hint="--stop")
        _emit(tour_view.render_tour(data, read, color=use_color, stop=stop, width=width),
              pager, use_color)
        return
    if walk:
        _emit(tour_view.render_tour(data, read, color=use_color, width=width), pager, use_color)
        return
    if file is None:
        _emit(tour_view.render_listing(data, coverage(data), color=use_color, width=width),
              pager, use_color)
        return
    path = resolve_path(file, data.manifest)
    if line is not None and line > data.manifest.get(path).lines:  # type: ignore[union-attr]
        raise click.BadParameter(
            f"{path} has {data.manifest.get(path).lines} lines", param_hint="--line"  # type: ignore[union-attr]
        )
    _emit(tour_view.render_file(path, data, read, color=use_color, line=line, width=width),
          pager, use_color)
