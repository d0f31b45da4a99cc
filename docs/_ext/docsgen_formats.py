"""Reference tables for the file formats, read from the code that defines them.

* the cfg language: layer types, neuron specs, schedules and ignored keys, from the
  one cfg parser (``alexnet.original.layer``);
* the upstream manifest: its top-level fields and counts, from ``original/UPSTREAM.json``
  through ``alexnet.original.museum.upstream``;
* the annotation data: what it currently holds, from ``alexnet.original.museum.annotations``.
"""

from __future__ import annotations

import importlib
import json

from docsgen_common import ROOT, Output, code, fmt_int, md_escape, md_table, not_available


def cfg_tables() -> str:
    layer = importlib.import_module("alexnet.original.layer")
    types = getattr(layer, "LAYER_TYPES", ())
    weight = getattr(layer, "WEIGHT_TYPES", frozenset())
    image = getattr(layer, "IMAGE_TYPES", frozenset())
    parts = [f"The parser knows {len(types)} layer types "
             "(`alexnet.original.layer.LAYER_TYPES`):\n"]
    rows = []
    for t in types:
        kind = "weights" if t in weight else "maps" if t in image else ""
        if t.startswith("cost."):
            kind = "cost"
        rows.append([f"`{t}`", kind])
    parts.append(md_table(["type", "kind"], rows))
    neurons = getattr(layer, "NEURONS", {})
    if neurons:
        parts.append("\nNeuron specs accepted by `neuron=` (`NEURONS`):\n")
        parts.append(md_table(
            ["spec", "parameters", "function"],
            [[f"`{name}`", ", ".join(p) or "\u2013", md_escape(formula)]
             for name, (p, formula, *_rest) in neurons.items()],
        ))
    schedules = getattr(layer, "SCHEDULES", {})
    if schedules:
        parts.append("\nLearning-rate schedules for `schedW`/`schedB` (`SCHEDULES`), written "
                     "`name[key=value,...]` with every key named:\n")
        parts.append(md_table(
            ["schedule", "keys"],
            [[f"`{name}`", ", ".join(f"`{k}` ({t.__name__})" for k, t in keys) or "\u2013"]
             for name, keys in schedules.items()],
        ))
    ignored = getattr(layer, "IGNORED_KEYS", {})
    if ignored:
        parts.append("\nKeys found in real 2012 files that the shipped parser never read; "
                     "ours accepts them with a warning (`IGNORED_KEYS`):\n")
        parts.append(md_table(["key", "why"],
                              [[f"`{k}`", md_escape(v)] for k, v in ignored.items()]))
    return "\n".join(parts)


def manifest_table() -> str:
    raw = json.loads((ROOT / "original" / "UPSTREAM.json").read_text(encoding="utf-8"))
    rows = []
    for key, value in raw.items():
        if key == "files":
            shown = f"list of {fmt_int(len(value))} entries"
        elif isinstance(value, int):
            shown = fmt_int(value)
        else:
            shown = f"{code(value)}"
        rows.append([f"`{key}`", shown])
    parts = ["Top-level fields of `original/UPSTREAM.json` as committed:\n",
             md_table(["field", "value"], rows)]
    files = raw.get("files") or []
    if files:
        first = files[0]
        parts.append("\nEach entry of `files` has the fields "
                     + ", ".join(f"`{k}`" for k in first) + "; for example:\n")
        parts.append("```json\n" + json.dumps(first) + "\n```\n")
    return "\n".join(parts)


def annotation_counts() -> str:
    ann = importlib.import_module("alexnet.original.museum.annotations")
    data = ann.load_all()
    cov = ann.coverage(data)
    notes = sum(len(a.notes) for a in data.files.values())
    rows = [
        ["annotated files (of the non-cfg files)", f"{cov.annotated_files} of {cov.total_files}"],
        ["line notes", fmt_int(notes)],
        ["lines covered by notes", f"{fmt_int(cov.lines_covered)} of {fmt_int(cov.lines_total)}"],
        ["ledger rows", str(len(data.ledger))],
        ["tour stops", str(len(data.tour.stops) if data.tour else 0)],
        ["cfg families", str(len(data.families))],
    ]
    return ("What the annotation data holds on this build (from "
            "`alexnet.original.museum.annotations.coverage`):\n\n" + md_table(["", "count"], rows,
                                                                       align="lr"))


def generate(out: Output) -> None:
    for name, func, what in (
        ("formats-cfg.md", cfg_tables, "the cfg language tables."),
        ("formats-manifest.md", manifest_table, "the manifest summary."),
        ("formats-annotations.md", annotation_counts, "the annotation counts."),
    ):
        try:
            text = func()
        except (ImportError, FileNotFoundError) as exc:
            text = not_available(what, f"Their source is missing on this build ({exc}).")
        out.write_text(f"fragments/{name}", text)
