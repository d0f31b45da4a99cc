"""``alexnet original fetch`` and ``alexnet original manifest``.

Thin wrappers: the work is in :mod:`alexnet.original.museum.fetch` and
:mod:`alexnet.original.museum.upstream`, which the tests call directly.
"""

from __future__ import annotations

from pathlib import Path

import click

from alexnet.download import CACHE_ENV
from alexnet.original.museum.upstream import (
    MANIFEST_PATH,
    UpstreamMismatch,
    build_manifest,
    load_manifest,
    manifest_problems,
    write_manifest,
)

MAX_LISTED = 60


@click.command("fetch")
@click.option("--from", "source", metavar="PATH_OR_URL", default=None,
              help="A local clone or bare mirror, a tarball or zip, a folder, or an http(s) URL "
                   "of an archive. Default: the GitHub archive of the pinned commit.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help=f"Cache root (default: ${CACHE_ENV}, else $XDG_CACHE_HOME/alexnet or "
                   "~/.cache/alexnet). The copy goes to <root>/upstream/<commit>/.")
@click.option("--force", is_flag=True, help="Fetch again even if a verified copy exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.pass_context
def fetch(ctx: click.Context, source: str | None, cache_dir: str | None, force: bool,
          quiet: bool) -> None:
    """Download (or copy) the pinned 2012 release, verify every file, and cache it.

    Nothing is installed unless all 246 files match original/UPSTREAM.json; on any
    missing, extra or changed file the full list is printed and the exit status is 2.
    Offline: pass --from with a clone, a tarball or a folder.
    """
    from alexnet.original.museum.fetch import fetch as do_fetch

    try:
        result = do_fetch(source, cache_dir=cache_dir, force=force, progress=not quiet)
    except UpstreamMismatch as exc:
        click.echo(f"error: {exc}", err=True)
        for p in exc.problems[:MAX_LISTED]:
            click.echo(f"  {p}", err=True)
        if len(exc.problems) > MAX_LISTED:
            click.echo(f"  … and {len(exc.problems) - MAX_LISTED} more", err=True)
        ctx.exit(2)
    m = load_manifest()
    if result.reused:
        click.echo(f"already present and verified: {result.files} files at {result.path}")
    else:
        click.echo(f"verified {result.files} files ({result.bytes:,} bytes) of "
                   f"{m.repository} at commit {m.commit[:8]}")
        click.echo(f"upstream copy: {result.path}")
    click.echo("next: alexnet tour --tour")


@click.command("manifest")
@click.argument("source", type=click.Path(exists=True))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Where to write (default: print to stdout). Use the package's "
                   "original/UPSTREAM.json path to update the committed manifest.")
@click.option("--commit", default=None,
              help="Commit to read from a git source and to record (default: the pinned one).")
def manifest(source: str, output: str | None, commit: str | None) -> None:
    """Regenerate the upstream manifest (sizes, SHA-256, line counts) from SOURCE.

    SOURCE is a git repository (bare or not), a tarball or a folder. Maintainers only:
    the committed manifest pins what every annotation's line numbers refer to.
    """
    from alexnet.original.museum.fetch import tree_from_source

    pinned = load_manifest()
    commit = commit or pinned.commit
    m = build_manifest(tree_from_source(source, commit), commit=commit,
                       repository=pinned.repository, license=pinned.license)
    for problem in manifest_problems(m):
        click.echo(f"warning: {problem}", err=True)
    if output is None:
        click.echo(m.dumps(), nl=False)
        return
    path = write_manifest(m, Path(output))
    same = "(identical to the committed manifest)" if m.digest() == pinned.digest() else ""
    click.echo(f"wrote {path}: {len(m.files)} files, {len(m.source_files)} not cfg {same}".rstrip())
    if Path(output).resolve() != MANIFEST_PATH.resolve() and not same:
        click.echo("note: differs from the committed manifest", err=True)
