"""Draw a parsed network (``alexnet.original.layer.LayerGraph``) as an SVG diagram.

The picture is computed from the layer graph, never drawn by hand: one column per
GPU (the 2012 ``gpu=`` key), one row per depth in the graph, an arrow for every input.
Arrows that cross between columns are the inter-GPU copies of model parallelism and
are drawn in a contrasting colour. Detached ReLU layers (``neuron=relu`` on a conv,
fc or pool layer becomes a separate ``<name>_neuron`` layer in the 2012 parser) are
folded back into their source box, so the drawing reads like the cfg file.

Only the standard library is used; the output is deterministic (same graph, same bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

BOX_W, BOX_H = 236, 46
COL_GAP, ROW_GAP = 84, 22
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 24, 64, 64

FILL = {
    "data": "#eceff1",
    "conv": "#d6e4ff",
    "local": "#d6e4ff",
    "pool": "#d9f2e3",
    "cmrnorm": "#eadcf8",
    "rnorm": "#eadcf8",
    "cnorm": "#eadcf8",
    "fc": "#ffe3c2",
    "treefc": "#ffe3c2",
    "hs": "#f1f1f1",
    "softmax": "#ffd6d6",
}
STROKE = "#37474f"
CROSS = "#d84315"
TOWER_FILL = ("#f5f9ff", "#fffaf3", "#f7fff7", "#fbf5ff")


@dataclass
class Node:
    """One box: a layer plus the neuron layers folded into it."""

    name: str
    type: str
    gpu: int
    shape: tuple[int, ...]
    summary: str
    inputs: list[str] = field(default_factory=list)
    neurons: list[str] = field(default_factory=list)
    row: int = 0
    x: float = 0.0
    y: float = 0.0


def _describe(layer: Any) -> str:
    d = layer.d
    t = layer.type
    if t in ("conv", "local"):
        k = d["filterSize"][0]
        s = d["stride"][0]
        return f"{t} {k}\u00d7{k}" + (f" /{s}" if s != 1 else "")
    if t == "pool":
        return f"{d.get('pool', 'max')} pool {d['sizeX']}\u00d7{d['sizeX']} /{d['stride']}"
    if t == "cmrnorm":
        return f"LRN across maps, n={d['size']}"
    if t == "rnorm":
        return f"response norm {d['size']}\u00d7{d['size']}"
    if t == "cnorm":
        return f"contrast norm {d['size']}\u00d7{d['size']}"
    if t in ("fc", "treefc"):
        return f"fully connected {d['outputs']}"
    if t == "hs":
        return f"dropout, keep {d.get('keep', 0.5)}"
    if t.startswith("cost."):
        return t
    if t == "data":
        return "input"
    return t


def _shape(shape: tuple[int, ...]) -> str:
    return "\u00d7".join(str(s) for s in shape) if shape else "scalar"


def build_nodes(graph: Any) -> list[Node]:
    """Fold neurons, drop label inputs, assign rows (longest path from the inputs)."""
    layers = list(graph)
    by_name = {lay.name: lay for lay in layers}
    folded: dict[str, str] = {}  # neuron layer -> box it is folded into
    for lay in layers:
        if lay.type == "neuron" and len(lay.inputs) == 1:
            src = lay.inputs[0]
            consumers = [c for c in layers if src in c.inputs]
            if len(consumers) == 1 and by_name[src].type != "data":
                folded[lay.name] = folded.get(src, src)

    def rep(name: str) -> str:
        return folded.get(name, name)

    hidden = {
        lay.name for lay in layers if lay.type == "data" and lay.d.get("dataIdx", 0) != 0
    }
    nodes: dict[str, Node] = {}
    for lay in layers:
        if lay.name in hidden:
            continue
        if lay.name in folded:
            box = nodes[folded[lay.name]]
            box.neurons.append(lay.d.get("neuron", {}).get("type", "neuron"))
            box.shape = tuple(lay.shape)
            continue
        inputs = [rep(i) for i in lay.inputs if i not in hidden]
        nodes[lay.name] = Node(
            name=lay.name,
            type=lay.type,
            gpu=lay.gpu,
            shape=tuple(lay.shape),
            summary=_describe(lay),
            inputs=inputs,
        )
    for node in nodes.values():  # definition order is a topological order
        node.row = 1 + max((nodes[i].row for i in node.inputs if i in nodes), default=-1)
    return list(nodes.values())


def render(graph: Any, title: str, subtitle: str = "") -> str:
    """The SVG document for ``graph``."""
    nodes = build_nodes(graph)
    gpus = sorted({n.gpu for n in nodes if n.gpu >= 0}) or [0]
    ncols = len(gpus)
    width = 2 * MARGIN_X + ncols * BOX_W + (ncols - 1) * COL_GAP
    col_x = {g: MARGIN_X + i * (BOX_W + COL_GAP) for i, g in enumerate(gpus)}
    centre_x = (width - BOX_W) / 2
    rows = max(n.row for n in nodes) + 1
    height = MARGIN_TOP + rows * (BOX_H + ROW_GAP) - ROW_GAP + MARGIN_BOTTOM
    by_name = {n.name: n for n in nodes}
    for n in nodes:
        n.x = col_x[n.gpu] if (n.gpu >= 0 and ncols > 1) else (
            col_x[gpus[0]] if ncols == 1 else centre_x
        )
        n.y = MARGIN_TOP + n.row * (BOX_H + ROW_GAP)

    out: list[str] = []
    add = out.append
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="t d" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
    )
    add(f'<title id="t">{escape(title)}</title>')
    desc = (
        f"{len(nodes)} boxes in {ncols} column(s), one per GPU; arrows are layer inputs; "
        "orange arrows cross between GPUs."
    )
    add(f'<desc id="d">{escape(desc)}</desc>')
    add(
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{STROKE}"/></marker>'
        '<marker id="arrowx" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{CROSS}"/></marker>'
        "</defs>"
    )
    add(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>')
    # Towers: one shaded band per GPU column, from its first to its last box.
    if ncols > 1:
        for i, g in enumerate(gpus):
            members = [n for n in nodes if n.gpu == g]
            top = min(n.y for n in members) - 10
            bottom = max(n.y for n in members) + BOX_H + 10
            x = col_x[g] - 12
            add(
                f'<rect x="{x}" y="{top}" width="{BOX_W + 24}" height="{bottom - top}" '
                f'rx="14" fill="{TOWER_FILL[i % len(TOWER_FILL)]}" stroke="#cfd8dc" '
                'stroke-dasharray="4 3"/>'
            )
            add(
                f'<text x="{x + (BOX_W + 24) / 2}" y="{MARGIN_TOP - 14}" text-anchor="middle" '
                f'font-size="13" font-weight="bold" fill="{STROKE}">GPU {g}</text>'
            )
    add(
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16" '
        f'font-weight="bold" fill="{STROKE}">{escape(title)}</text>'
    )
    if subtitle:
        add(
            f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle" font-size="11" '
            f'fill="#546e7a">{escape(subtitle)}</text>'
        )
    # Edges first, so boxes sit on top of them.
    for n in nodes:
        for src_name in n.inputs:
            src = by_name.get(src_name)
            if src is None:
                continue
            cross = src.gpu >= 0 and n.gpu >= 0 and src.gpu != n.gpu
            x1, y1 = src.x + BOX_W / 2, src.y + BOX_H
            x2, y2 = n.x + BOX_W / 2, n.y
            if cross:  # start and end a little off-centre so the X stays readable
                x1 += 30 if n.x > src.x else -30
                x2 -= 30 if n.x > src.x else -30
            colour, marker = (CROSS, "arrowx") if cross else (STROKE, "arrow")
            dash = ' stroke-dasharray="5 3"' if cross else ""
            if n.row - src.row > 1 and not cross:  # skip rows by bending around boxes
                bend = x1 - BOX_W / 2 - 8
                path = f"M{x1},{y1} L{bend},{y1 + 8} L{bend},{y2 - 8} L{x2},{y2}"
                add(
                    f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.4"'
                    f'{dash} marker-end="url(#{marker})"/>'
                )
            else:
                add(
                    f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" '
                    f'stroke-width="{1.8 if cross else 1.4}"{dash} '
                    f'marker-end="url(#{marker})"/>'
                )
    for n in nodes:
        fill = FILL.get(n.type, "#ffd6d6" if n.type.startswith("cost.") else "#ffffff")
        label = n.name + ("  +" + "+".join(n.neurons) if n.neurons else "")
        add(f'<g class="layer" data-layer="{escape(n.name)}" data-type="{escape(n.type)}">')
        add(f"<title>{escape(n.name)}: {escape(n.summary)}, output {_shape(n.shape)}</title>")
        add(
            f'<rect x="{n.x}" y="{n.y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{fill}" stroke="{STROKE}" stroke-width="1"/>'
        )
        add(
            f'<text x="{n.x + 8}" y="{n.y + 18}" font-size="12.5" font-weight="bold" '
            f'fill="#263238">{escape(label)}</text>'
        )
        add(
            f'<text x="{n.x + 8}" y="{n.y + 36}" font-size="11" fill="#37474f">'
            f"{escape(n.summary)} \u00b7 {_shape(n.shape)}</text>"
        )
        add("</g>")
    add("</svg>")
    return "\n".join(out) + "\n"
