"""The ``alexnet`` command line.

The CLI is thin by design: each subsystem defines its click commands next to the
library code they call (``alexnet.modern.cli``, ``alexnet.original.cli``, ...), and
this module only assembles them and turns :class:`~alexnet.errors.AlexNetError` into a
one-line message with exit status 2.

Commands are imported lazily (click's documented lazy-group pattern) so that
``alexnet tour`` does not pay for importing torch.
"""

from __future__ import annotations

import importlib

import click

from alexnet import __version__
from alexnet.errors import AlexNetError

# name -> (module, attribute) of every top-level command.
COMMANDS: dict[str, tuple[str, str]] = {
    "model": ("alexnet.modern.cli_model", "model"),
    "train": ("alexnet.modern.cli", "train"),
    "evaluate": ("alexnet.modern.cli", "evaluate"),
    "predict": ("alexnet.modern.cli", "predict"),
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
        except AlexNetError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


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
