"""``alexnet original …``: commands about the 2012 release and its re-creation.

The group loads each subcommand lazily from its own module (so ``alexnet original
fetch`` does not import the re-creation engine, and vice versa).

To add a subcommand: write it as a click command in a module of this package
(``original/cli/<name>.py``) and add ONE line to :data:`SUBCOMMANDS` below.
"""

from __future__ import annotations

import click

from alexnet.cli import LazyGroup

# name -> (module, attribute) of every ``alexnet original`` subcommand.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "fetch": ("alexnet.original.museum.cli_fetch", "fetch"),
    "manifest": ("alexnet.original.museum.cli_fetch", "manifest"),
    "parse": ("alexnet.original.cli.parse", "parse"),
    "train": ("alexnet.original.cli.convnet", "train"),
    "shownet": ("alexnet.original.cli.convnet", "shownet"),
    "convert-cifar": ("alexnet.original.cli.convnet", "convert_cifar"),
    "convert-images": ("alexnet.original.cli.convnet", "convert_images"),
    "export-weights": ("alexnet.original.cli.convnet", "export_weights"),
    "import-weights": ("alexnet.original.cli.convnet", "import_weights"),
    # more subcommands (train, shownet, …) go here, one line each
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS)
def original() -> None:
    """The 2012 release: fetch and verify it, and run its re-creation."""
