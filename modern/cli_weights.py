"""``alexnet weights``: the published weight sets, and importing them as checkpoints.

``alexnet weights list [--json]`` shows every weight set the package knows (name,
architecture, source URL, pinned checksum, licence, reported figures with their
protocol, and how the network differs from definition 145).
``alexnet weights import caffe FILE --out DIR`` and ``alexnet weights import torchvision
FILE --out DIR`` write a checkpoint that ``predict``, ``evaluate``, ``verify`` and
``train --init-from`` read. The commands only call :data:`alexnet.registry.WEIGHTS` and
:mod:`alexnet.modern.importers`, which the tests call directly.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from alexnet.modern.importers import ImportResult, import_caffe, import_torchvision
from alexnet.registry import WEIGHTS, BundledFile, WeightSet


def weight_set_info(ws: WeightSet) -> dict[str, Any]:
    """One weight set as a JSON-ready mapping."""
    src = ws.source
    if isinstance(src, BundledFile):
        source: dict[str, Any] = {"bundled": src.file, "sha256": src.sha256}
    else:
        source = {"file": src.file, "url": src.url, **dict(src.digests)}
    return {"name": ws.name, "arch": ws.arch, "about": ws.about, "source": source,
            "licence": ws.licence, "differs_from_145": ws.differs_from_145,
            "reported": [asdict(f) for f in ws.reported], "provenance": ws.provenance,
            "note": ws.note}


def format_weight_sets(infos: list[dict[str, Any]]) -> str:
    lines = []
    for w in infos:
        src = w["source"]
        lines.append(f"{w['name']}  (arch {w['arch'] or '-'})")
        lines.append(f"  {w['about']}")
        if "url" in src:
            pins = ", ".join(f"{k} {v}" for k, v in src.items() if k not in ("file", "url"))
            lines.append(f"  source   {src['url']}  ({pins})")
        else:
            lines.append(f"  source   bundled {src['bundled']}  (sha256 {src['sha256']})")
        lines.append(f"  licence  {w['licence']}")
        for f in w["reported"]:
            lines.append(f"  reported {f['metric']} {f['value']:.4g}: {f['protocol']} "
                         f"[{f['source']}]")
        lines.append(f"  vs 145   {w['differs_from_145']}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _report(res: ImportResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(res.as_dict(), indent=2))
        return
    pinned = (f"the weight set {res.weight_set!r} (checksum verified)" if res.weight_set
              else "an unpinned file (its checksum matches no known weight set)")
    click.echo(f"imported {res.parameters:,} parameters as {res.arch} from {pinned}")
    click.echo(f"checkpoint: {res.checkpoint}")


@click.group()
def weights() -> None:
    """Published AlexNet weights: list them, import them as checkpoints."""


@weights.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def list_weights(as_json: bool) -> None:
    """Every weight set the package knows, with source, checksum, licence and figures."""
    infos = [weight_set_info(ws) for ws in WEIGHTS.values()]
    click.echo(json.dumps(infos, indent=2) if as_json else format_weight_sets(infos))


@weights.group("import")
def import_group() -> None:
    """Write a checkpoint of the port from a published weights file."""


_OUT = click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
                    help="Folder for the checkpoint (must not hold one already; default "
                    "for a known weight set: <cache>/weights/<name>, where --weights NAME "
                    "looks).")
_CLASSES = click.option("--classes", type=click.Path(dir_okay=False, exists=True),
                        default=None, help="Class file to keep in the checkpoint "
                        "(classes.tsv of `alexnet imagenet prepare`, or synset_words.txt).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@import_group.command("caffe")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@_OUT
@click.option("--arch", type=click.Choice(["bvlc-alexnet", "bvlc-caffenet"]), default=None,
              help="Expected architecture (default: what the file's layer order says).")
@click.option("--mean", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Caffe mean image (.binaryproto or .npy, BGR) instead of its "
                   "per-channel values.")
@_CLASSES
@_JSON
def import_caffe_cmd(file: str, out_dir: str, arch: str | None, mean: str | None,
                     classes: str | None, as_json: bool) -> None:
    """BVLC AlexNet or BVLC CaffeNet from a .caffemodel (no Caffe needed)."""
    _report(import_caffe(file, out_dir, arch=arch, mean=mean, classes=classes), as_json)


@import_group.command("torchvision")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@_OUT
@_CLASSES
@_JSON
def import_torchvision_cmd(file: str, out_dir: str, classes: str | None,
                           as_json: bool) -> None:
    """torchvision's AlexNet state dict (alexnet-owt-*.pth), weights-only loading."""
    _report(import_torchvision(file, out_dir, classes=classes), as_json)
