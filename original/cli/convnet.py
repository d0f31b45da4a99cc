"""``alexnet original train | shownet | convert-cifar | convert-images | export-weights |
import-weights``: the re-created 2012 system from the project CLI.

``train`` and ``shownet`` take the 2012 command lines unchanged (``-f DIR``,
``--name=value``, 0/1 booleans) and run :func:`alexnet.original.convnet.main` /
:func:`alexnet.original.shownet.main`; the other commands are thin wrappers over
:mod:`alexnet.original.batches` and :mod:`alexnet.original.checkpoint`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from alexnet.layouts2012 import arch_layout
from alexnet.original.checkpoint import export_safetensors, import_as_checkpoint
from alexnet.original.convnet import ConvNet

_PASS = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command("train", context_settings=_PASS, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def train(args: tuple[str, ...]) -> None:
    """Train or resume a net with the 2012 command line (run with --help for the options).

    Example: alexnet original train --layer-def=layers-80sec.cfg
    --layer-params=layer-params-80sec.cfg --data-path=DATA --save-path=SAVE
    --train-range=1-5 --test-range=6 --epochs=10
    """
    from alexnet.original.convnet import main

    raise SystemExit(main(list(args)))


@click.command("shownet", context_settings=_PASS, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def shownet(args: tuple[str, ...]) -> None:
    """Filters, predictions and cost curves of a checkpoint, as PNG files (2012 options).

    Example: alexnet original shownet -f SAVE/ConvNet__... --show-filters=conv1
    --out grid.png
    """
    from alexnet.original.shownet import main

    argv = []
    it = iter(args)
    for a in it:
        # accept "--out grid.png" as well as the 2012 form "--out=grid.png"
        if a.startswith("--") and "=" not in a and a not in ("--help",):
            nxt = next(it, None)
            argv.append(f"{a}={nxt}" if nxt is not None else a)
        else:
            argv.append(a)
    raise SystemExit(main(argv))


@click.command("convert-cifar")
@click.argument("source", type=click.Path(exists=True))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--batch-size", default=10000, show_default=True, help="Images per batch file.")
@click.option("--limit", type=int, default=None, help="Keep only this many images per split.")
@click.option("--seed", default=0, show_default=True, help="Shuffle seed (image folders).")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--md5", default=None, help="Expected md5 of the tarball (the published one is "
              "checked anyway when the file has the official name).")
def convert_cifar(source: str, out: str, batch_size: int, limit: int | None, seed: int,
                  progress: bool, md5: str | None) -> None:
    """CIFAR-10 (python tarball, or an image-folder dir/tarball) -> 2012 data batches."""
    from alexnet.original.batches import convert_cifar10

    summary = convert_cifar10(source, out, batch_size=batch_size, limit=limit, seed=seed,
                              progress=progress, md5=md5)
    click.echo(json.dumps(summary, indent=2))


@click.command("convert-images")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--batch-size", default=1024, show_default=True)
@click.option("--size", default=256, show_default=True, help="Image side after resizing.")
@click.option("--test-fraction", default=0.0, show_default=True,
              help="Held-out share of a folder that is not split yet (a folder with "
              "train/ and val/ or test/ keeps its own split).")
@click.option("--seed", default=0, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def convert_images(source: str, out: str, batch_size: int, size: int, test_fraction: float,
                   seed: int, progress: bool) -> None:
    """A folder of photographs -> 2012 batches (shorter side to 256, centre 256x256).

    A folder already split into train/ and val/ (or test/), as `alexnet imagenet
    prepare` writes it, keeps that split; batches.meta records the batch numbers of each.
    """
    from alexnet.original.batches import convert_image_folder

    summary = convert_image_folder(source, out, batch_size=batch_size, size=size,
                                   test_fraction=test_fraction, seed=seed,
                                   progress=progress)
    click.echo(json.dumps(summary, indent=2))


@click.command("export-weights")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--arch", default=None, help="The hand-written port (alexnet2012 or "
              "alexnet2012-paper): write its state_dict keys; default: per-cfg-layer names "
              "(the parameter names of the cfg-built port).")
def export_weights(checkpoint: str, out: str, arch: str | None) -> None:
    """A 2012 checkpoint -> safetensors (bit-exact; see alexnet.original.checkpoint)."""
    layout = arch_layout(arch) if arch else None
    path = export_safetensors(checkpoint, out, model=layout)
    click.echo(f"wrote {path}")


@click.command("import-weights")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer-def", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--layer-params", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--save-path", required=True, type=click.Path(file_okay=False))
@click.option("--arch", default=None, help="The file holds the state_dict of this "
              "hand-written port (alexnet2012 or alexnet2012-paper).")
def import_weights(weights: str, layer_def: str, layer_params: str, save_path: str,
                   arch: str | None) -> None:
    """safetensors -> a 2012 checkpoint (resume it with: train -f DIR --data-path=...
    --train-range=... --test-range=...)."""
    layout = arch_layout(arch) if arch else None
    path = import_as_checkpoint(weights, layer_def, layer_params, Path(save_path),
                                ConvNet.get_options_parser(), model=layout)
    click.echo(f"wrote {path}")
