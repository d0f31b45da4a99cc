"""``alexnet model``: look at the networks of the PyTorch port without training them.

``alexnet model summary --arch alexnet2012`` prints every layer with its output shape
and parameter count and the total (60,965,224 for the paper's net); ``--cfg DEF PARAMS``
does the same for any cfg pair, ``--json`` prints it as JSON. ``alexnet model list``
names the architectures with their descriptions, ``--json`` every field of their specs
in :data:`alexnet.registry.ARCHS`. The commands only call :func:`model_summary` and
:func:`arch_listing`, which tests call directly.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from alexnet import registry
from alexnet.errors import ConfigError
from alexnet.modern.build import available_archs, build_model


def model_summary(arch: str | None = None, cfg: tuple[str, str] | None = None) -> dict[str, Any]:
    """``{"arch", "input_shape", "num_classes", "layers": [...], "total_params"}``.

    Each layer: name, type, output_shape (C, H, W or n), params; cfg nets add the line
    of the layer in the definition file.
    """
    model = build_model(arch, cfg=cfg) if cfg is None else build_model(cfg=cfg)
    rows = model.summary()
    total = sum(p.numel() for p in model.parameters())
    return {
        "arch": model.arch,
        "input_shape": list(model.input_shape),
        "num_classes": model.num_classes,
        "layers": rows,
        "total_params": total,
    }


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable table."""
    shape = "x".join(str(v) for v in s["input_shape"])
    lines = [f"{s['arch']}: input {shape}, {s['num_classes']} classes", ""]
    name_w = max([len("layer")] + [len(r["name"]) for r in s["layers"]])
    type_w = max([len("type")] + [len(r["type"]) for r in s["layers"]])
    lines.append(f"{'layer':<{name_w}}  {'type':<{type_w}}  {'output':>14}  {'params':>12}")
    for r in s["layers"]:
        out = "x".join(str(v) for v in r["output_shape"]) or "-"
        params = f"{r['params']:,}" if r["params"] else ""
        note = f"  ({r['layers_2012']})" if r.get("layers_2012") else ""
        if r.get("used") is False:
            note += "  (not on the path to the logits)"
        row = f"{r['name']:<{name_w}}  {r['type']:<{type_w}}  {out:>14}  {params:>12}{note}"
        lines.append(row.rstrip())
    lines.append("")
    lines.append(f"total parameters: {s['total_params']:,}")
    return "\n".join(lines)


@click.group()
def model() -> None:
    """Inspect the networks of the PyTorch port."""


@model.command("summary")
@click.option("--arch", default=None, help="Architecture name (see `alexnet model list`).")
@click.option(
    "--cfg",
    nargs=2,
    type=click.Path(dir_okay=False),
    default=None,
    metavar="DEF PARAMS",
    help="A layer-definition and layer-params file instead of --arch.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def summary(arch: str | None, cfg: tuple[str, str] | None, as_json: bool) -> None:
    """Every layer with its output shape and parameter count, and the total."""
    if (arch is None) == (cfg is None):
        raise ConfigError("give --arch NAME or --cfg DEF PARAMS (one of them)")
    s = model_summary(arch, tuple(cfg) if cfg else None)
    click.echo(json.dumps(s, indent=2) if as_json else format_summary(s))


def arch_listing() -> list[dict[str, Any]]:
    """Every architecture usable here, as the registry describes it (JSON-ready)."""
    return [dataclasses.asdict(registry.ARCHS[n]) for n in available_archs()]


@model.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print every field of the registry's "
              "architecture specs as JSON.")
def list_archs(as_json: bool) -> None:
    """The architecture names `build_model` and `--arch` accept here (from the registry)."""
    specs = arch_listing()
    if as_json:
        click.echo(json.dumps(specs, indent=2))
        return
    w = max(len(a["name"]) for a in specs)
    for a in specs:
        click.echo(f"{a['name']:<{w}}  {a['description']}")
