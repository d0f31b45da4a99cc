"""``alexnet original parse``: read a cfg pair and print the layer graph.

A visitor can point it at any cfg of the 2012 release (after ``alexnet original
fetch``) or at the project's own files and see what the 2012 parser would have built.
"""

from __future__ import annotations

import json
import sys

import click

from alexnet.errors import ConfigError
from alexnet.original.layer import key_parameters, parse_layers


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in shape) if shape else "-"


def _size(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        parts = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        parts = ()
    if len(parts) == 1:
        return (3, parts[0], parts[0])
    if len(parts) != 3:
        raise click.BadParameter(f"expected N or CxHxW, got {text!r}")
    return parts  # type: ignore[return-value]


@click.command("parse")
@click.argument("layer_def", type=click.Path(dir_okay=False))
@click.argument("layer_params", required=False, type=click.Path(dir_okay=False))
@click.option("--input-size", "input_size", default=None, metavar="N|CxHxW",
              help="Size of the data layer's images (default: the file's '# @input' line, "
                   "else 3x224x224).")
@click.option("--classes", type=int, default=None, help="Number of classes (enables checks).")
@click.option("--num-gpus", type=int, default=None, help="GPUs the run has (range-checks gpu=).")
@click.option("--labels-dims", type=int, default=None,
              help="Values per case of data index 1 (1 for class labels; tag count for Flickr).")
@click.option("--strict", is_flag=True, help="Refuse historical forms instead of warning.")
@click.option("--json", "as_json", is_flag=True, help="Print the graph as JSON.")
def parse(layer_def, layer_params, input_size, classes, num_gpus, labels_dims, strict, as_json):
    """Parse LAYER_DEF (and LAYER_PARAMS) and print the layer graph.

    Exits 0 when the files are valid and 2 with 'file:line: message' otherwise.
    """
    try:
        graph = parse_layers(
            layer_def, layer_params, input_shape=_size(input_size), num_classes=classes,
            num_gpus=num_gpus, data_dims={1: labels_dims} if labels_dims else None,
            compat=not strict,
        )
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(graph.to_json(), indent=2))
        return
    rows = [("layer", "type", "gpu", "output", "inputs", "parameters")]
    for lay in graph:
        params = ", ".join(f"{k}={v}" for k, v in key_parameters(lay).items())
        rows.append((lay.name, lay.type, "-" if lay.gpu < 0 else str(lay.gpu), _shape(lay.shape),
                     ",".join(lay.inputs) or "-", params))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
    click.echo(f"{len(graph.layers)} layers, input {_shape(graph.input_shape)}, "
               f"{graph.num_gpus} gpu(s)" + (f", {graph.num_classes} classes"
                                              if graph.num_classes else ""))
    for w in graph.warnings:
        click.echo(f"warning: {w}", err=True)
