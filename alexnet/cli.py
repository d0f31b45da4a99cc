"""The ``alexnet`` command line.

The CLI is thin by design: each subsystem defines its click commands next to the
library code they call (``alexnet.modern.cli``, ``alexnet.original.cli``, ...), and
this module only assembles them and holds the one error boundary:

* an :class:`~alexnet.errors.AlexNetError` (bad input, a tampered file, a bound
  exceeded), an ``OSError`` (permission denied, a read-only or full disk, a file where a
  folder is expected, ...) or a ``MemoryError`` becomes one line, ``error: ...``, naming
  the file and what to do, and exit status 2;
* Ctrl-C becomes ``interrupted: ...`` and exit status 130 (not an error: the user asked);
  a run that stopped early at the user's request (:class:`~alexnet.errors.RunStopped`)
  says ``stopped: ...`` and how to resume it, exit status 130 too;
* anything else is a bug in this package: its traceback is shown, followed by one line
  saying how to report it, and exit status 70 (``EX_SOFTWARE``).

Commands are imported lazily (click's documented lazy-group pattern) so that
``alexnet tour`` does not pay for importing torch.
"""

from __future__ import annotations

import errno
import importlib
import os
import traceback

import click

from alexnet import __version__
from alexnet.errors import AlexNetError, RunStopped

# name -> (module, attribute) of every top-level command.
COMMANDS: dict[str, tuple[str, str]] = {
    "model": ("alexnet.modern.cli_model", "model"),
    "train": ("alexnet.modern.cli", "train"),
    "evaluate": ("alexnet.modern.cli", "evaluate"),
    "predict": ("alexnet.modern.cli", "predict"),
    "weights": ("alexnet.modern.cli_weights", "weights"),
    "original": ("alexnet.original.cli", "original"),
    "imagenet": ("alexnet.imagenet.cli", "imagenet"),
    "tour": ("alexnet.original.museum.cli_tour", "tour"),
    "docs": ("alexnet.docs_build", "docs"),
    "cuda": ("alexnet.cuda.cli", "cuda"),
    "fetch": ("alexnet.pipeline.cli", "fetch"),
    "prepare": ("alexnet.pipeline.cli", "prepare"),
    "pipeline": ("alexnet.pipeline.cli", "pipeline"),
    "report": ("alexnet.pipeline.cli", "report"),
    "verify": ("alexnet.verify.cli", "verify"),
}


#: What to do about an OSError, by errno.
_OS_ADVICE: dict[int, str] = {
    errno.EACCES: "check the permissions, or choose another location",
    errno.EPERM: "check the permissions, or choose another location",
    errno.EROFS: "the file system is read-only; choose a writable location",
    errno.ENOSPC: "the disk is full; free space or choose another location",
    errno.EDQUOT: "the disk quota is exceeded; free space or choose another location",
    errno.ENOTDIR: "a part of the path is a file where a folder is expected",
    errno.EISDIR: "a folder is where a file is expected",
    errno.ENOENT: "check the path",
    errno.EEXIST: "remove it or choose another name",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer workers",
    errno.ENOMEM: "not enough memory; use a smaller batch or fewer workers",
}

REPORT_BUG = ("this is a bug in alexnet {version}, not a problem with your input: please "
              "report it with the command you ran and the traceback above")


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: the file(s) it names, the system's words, what to do."""
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    what = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    advice = _OS_ADVICE.get(exc.errno or -1)
    line = f"{where}: {what}" if where else what
    return f"{line} ({advice})" if advice else line


def report_failure(exc: BaseException) -> int:
    """Print one line for an expected failure (or a traceback for a bug); the exit status."""
    if isinstance(exc, RunStopped):  # asked for, resumable: not an error
        click.echo(f"stopped: {exc}", err=True)
        return exc.exit_code
    if isinstance(exc, AlexNetError):
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        click.echo("\ninterrupted: stopped at your request (Ctrl-C); files already written "
                   "are complete, and a run resumes from its last checkpoint", err=True)
        return 130
    if isinstance(exc, MemoryError):
        click.echo("error: out of memory (use a smaller batch or input, or a machine with "
                   "more memory)", err=True)
        return 2
    if isinstance(exc, OSError):
        click.echo(f"error: {describe_os_error(exc)}", err=True)
        return 2
    traceback.print_exception(exc)
    click.echo(REPORT_BUG.format(version=__version__), err=True)
    return 70


class LazyGroup(click.Group):
    """Loads each command's module on first use and reports user errors as one line."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort):
            raise  # click's own: usage errors (exit 2), --help, ctx.exit
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one boundary
            ctx.exit(report_failure(exc))


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="alexnet")
def cli() -> None:
    """AlexNet (ILSVRC-2012), preserved and running."""


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
