"""``alexnet imagenet``: the ILSVRC-2012 files as the port reads them.

``alexnet imagenet prepare --source DIR --out DIR`` reads the official archives (or
their extracted folders) and writes the 2012 preprocessing with a class file and a
report (:func:`alexnet.imagenet.prepare.prepare`, which the tests call directly).
"""

from __future__ import annotations

import json

import click

from alexnet.imagenet.prepare import SPLITS, prepare


def format_report(r: dict) -> str:
    lines = [f"{r['classes']} classes -> {r['class_file']}"]
    for split, s in r["splits"].items():
        lines.append(f"{split}: {s['images']:,} images ({s['written']:,} written, "
                     f"{s['already_there']:,} already there, {len(s['unreadable'])} "
                     f"unreadable and skipped)")
        for where, why in s["unreadable"][:5]:
            lines.append(f"  unreadable: {where} ({why})")
    q = r["quirks"]
    for key, label in (("cmyk", "CMYK JPEGs"), ("png_named_jpeg", "PNGs named .JPEG")):
        item = q[key]
        line = f"{label}: {item['count']} ({len(item['known'])} known"
        if item["unexpected"]:
            line += f"; unexpected: {', '.join(item['unexpected'][:5])}"
        lines.append(line + ")")
    lines.append(f"grayscale: {q['grayscale']['count']}")
    if q["other_modes"]:
        lines.append("other colour modes: " + ", ".join(
            f"{k} {v}" for k, v in sorted(q["other_modes"].items())))
    return "\n".join(lines)


@click.group()
def imagenet() -> None:
    """The ILSVRC-2012 (ImageNet) files: prepare them for the port."""


@imagenet.command("prepare")
@click.option("--source", required=True, type=click.Path(file_okay=False),
              help="Folder holding ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and "
                   "ILSVRC2012_devkit_t12.tar.gz (or their extracted folders).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: train/<wnid>/, val/<wnid>/, classes.tsv, prepare.json.")
@click.option("--split", "splits", multiple=True, type=click.Choice(SPLITS),
              help="Only this split (repeatable; default: every split present).")
@click.option("--devkit", type=click.Path(exists=True), default=None,
              help="The devkit, when it is not in --source.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes (default: all cores).")
@click.option("--size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Stored image side (the 2012 recipe: 256).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG quality of the stored images.")
@click.option("--exact-resize", is_flag=True,
              help="Decode JPEGs at full size before resizing (slower; by default libjpeg "
                   "may decode large ones at a reduced scale first).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def prepare_cmd(source: str, out_dir: str, splits: tuple[str, ...], devkit: str | None,
                workers: int | None, size: int, quality: int, exact_resize: bool,
                as_json: bool, quiet: bool) -> None:
    """Write the 2012 preprocessing (shorter side 256, centre 256x256) of ILSVRC-2012."""
    report = prepare(source, out_dir, splits=splits or None, devkit=devkit, workers=workers,
                     size=size, quality=quality, fast_jpeg=not exact_resize,
                     progress=not quiet)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
