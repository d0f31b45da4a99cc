"""``alexnet docs build``: build the documentation site the way CI does.

One command for everyone: Sphinx with warnings as errors (``-W --keep-going``, so every
problem is listed before the build fails), from the ``docs/`` folder of a clone, fully
offline. ``--doctest`` also runs the examples embedded in the pages. Sphinx runs in a
child process so that each build starts from a clean interpreter: the docs import
project modules at build time, and a long-lived process would document stale ones.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click

from alexnet.errors import AlexNetError

#: the checkout this package was installed from (an editable install), if any
INSTALLED_DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"


def checkout_root(start: str | Path | None = None) -> Path | None:
    """The clone of this project that contains ``start`` (default: the working folder).

    A clone is recognised by ``pyproject.toml`` beside ``docs/conf.py``. Walking up from
    the working folder, not from this module, is what makes ``alexnet docs build`` write
    into the checkout it is run from: with several clones on one machine the installed
    package may live in another one, whose ``docs/_build`` must not be touched.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "docs" / "conf.py").is_file():
            return folder
    return None


def docs_dir(start: str | Path | None = None) -> Path:
    """The Sphinx source folder of the checkout run from (docs are not part of a wheel)."""
    root = checkout_root(start)
    if root is None:
        raise AlexNetError(
            f"{Path(start or Path.cwd()).resolve()}: not inside a clone of this project (no "
            "pyproject.toml with docs/conf.py here or above); the documentation is built "
            "from a clone of the repository, not from an installed package"
        )
    return root / "docs"


def sphinx_command(builder: str, out: Path, doctrees: Path, *, quiet: bool = False,
                   src: Path | None = None) -> list[str]:
    """The exact sphinx-build invocation (also what CI runs)."""
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", builder,
           "-d", str(doctrees), str(src or docs_dir()), str(out)]
    if quiet:
        cmd.insert(3, "-q")
    return cmd


def build_docs(
    out: str | Path | None = None,
    *,
    doctest: bool = False,
    clean: bool = False,
    quiet: bool = False,
    checkout: str | Path | None = None,
) -> int:
    """Build the HTML site (and optionally run the page examples); return Sphinx's status.

    The site is built from, and written into, the checkout of the working folder
    (:func:`docs_dir`), or of ``checkout`` when given. ``out`` defaults to
    ``docs/_build/html`` there. ``clean`` removes previous output and the
    cached doctrees first, which is what a fresh clone sees.
    """
    if importlib.util.find_spec("sphinx") is None:
        raise AlexNetError(
            "Sphinx is not installed: install the docs extra, "
            "pip install -e '.[docs]' (sphinx, furo, myst-parser, sphinx-click)"
        )
    src = docs_dir(checkout)
    build_root = src / "_build"
    html = Path(out) if out else build_root / "html"
    doctrees = build_root / "doctrees"
    if clean:
        for path in (html, doctrees, build_root / "doctest"):
            shutil.rmtree(path, ignore_errors=True)
    status = subprocess.call(sphinx_command("html", html, doctrees, quiet=quiet, src=src))
    if status == 0 and doctest:
        # the pages generated for the HTML build are current: don't make them twice
        env = {**os.environ, "ALEXNET_DOCS_REUSE_GENERATED": "1"}
        status = subprocess.call(
            sphinx_command("doctest", build_root / "doctest", doctrees, quiet=quiet, src=src),
            env=env,
        )
    return status


@click.group("docs")
def docs() -> None:
    """Build this project's documentation site."""


@docs.command("build")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder for the HTML site (default: docs/_build/html of the clone "
                   "the command is run in).")
@click.option("--doctest", is_flag=True, help="Also run the examples in the pages.")
@click.option("--clean", is_flag=True, help="Start from scratch, as a fresh clone would.")
@click.option("--quiet", "-q", is_flag=True, help="Only print warnings and errors.")
@click.pass_context
def build(ctx: click.Context, out: str | None, doctest: bool, clean: bool, quiet: bool) -> None:
    """Build the site with Sphinx, warnings as errors, offline.

    Pages generated from project data (annotations, cfg files, bundled weights and
    reports) show a short note when their data is absent. With a verified upstream
    copy in the cache (`alexnet original fetch`), annotated pages show the 2012 source
    beside the notes. Exit status: Sphinx's.
    """
    t0 = time.perf_counter()
    src = docs_dir()
    if src.resolve() != INSTALLED_DOCS_DIR.resolve():
        click.echo(f"note: building {src}; the installed alexnet package is another checkout "
                   f"({INSTALLED_DOCS_DIR.parent}), whose code the generated pages document",
                   err=True)
    status = build_docs(out, doctest=doctest, clean=clean, quiet=quiet)
    where = Path(out) if out else src / "_build" / "html"
    elapsed = time.perf_counter() - t0
    if status == 0:
        click.echo(f"docs built in {elapsed:.1f} s: {where / 'index.html'}")
    else:
        click.echo(f"docs build failed (status {status}) after {elapsed:.1f} s", err=True)
    ctx.exit(status)
