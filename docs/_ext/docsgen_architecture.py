"""Architecture pages: diagrams and layer tables computed from the code.

Sources of truth, in order of preference:

* the bundled cfg files (``alexnet.original.cfgs``) parsed by the project's one cfg
  parser (``alexnet.original.layer.parse_layers``): layers, GPUs, shapes, cfg lines;
* the modern port (``alexnet.modern``), when it exists, for the PyTorch module tree
  and its parameter count.

Nothing here restates a number: every shape and count is computed at build time.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import docsgen_svg
from docsgen_common import Output, code, fmt_int, md_escape, md_table, not_available

#: the net the architecture page is about, and the others worth drawing
MAIN_NET = "145"
MODERN_ARCH = "alexnet2012"
NET_TITLES = {
    "145": "Definition 145: the network of the 2012 paper",
    "80sec": "layers-80sec: the 2011 CIFAR-10 example net",
}


def layer_params(lay: Any) -> int:
    """Trainable values (weights + biases) owned by one layer of a parsed graph."""
    d = lay.d
    if lay.type not in ("conv", "local", "fc", "treefc"):
        return 0
    shared = [s for s in d.get("weightSourceLayers", []) or [] if s]
    total = 0
    n_inputs = len(d.get("inputs", lay.inputs))
    for i in range(n_inputs):
        if i < len(shared) and shared[i]:
            continue
        if lay.type == "conv":
            total += d["filterChannels"][i] * d["filterPixels"][i] * d["filters"]
        elif lay.type == "local":
            total += d["modules"] * d["filterChannels"][i] * d["filterPixels"][i] * d["filters"]
        else:
            total += d["numInputs"][i] * d["outputs"]
    if lay.type == "conv" and d.get("sharedBiases", True):
        total += d["filters"]
    elif lay.type in ("conv", "local"):
        total += d["modules"] * d["filters"]
    else:
        total += d["outputs"]
    return total


def _key_params(lay: Any, layer_mod: Any) -> str:
    params = layer_mod.key_parameters(lay)
    parts = []
    for k, v in params.items():
        if isinstance(v, list):
            v = v[0] if len(set(map(str, v))) == 1 else "/".join(map(str, v))
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def load_graphs() -> tuple[dict[str, Any], Any, str]:
    """{net: graph} for every bundled (definition, params) pair; the layer module."""
    try:
        cfgs = importlib.import_module("alexnet.original.cfgs")
        layer_mod = importlib.import_module("alexnet.original.layer")
    except ImportError as exc:
        return {}, None, f"the cfg parser is not importable ({exc})."
    graphs: dict[str, Any] = {}
    names = [n[len("layers-") : -len(".cfg")] for n in cfgs.available() if n.startswith("layers-")]
    for net in sorted(names, key=lambda n: (n != MAIN_NET, n)):
        try:
            graphs[net] = layer_mod.parse_layers(*cfgs.pair(net))
        except Exception:  # a definition without params, or one still being written
            continue
    return graphs, layer_mod, ""


def layer_table(graph: Any, layer_mod: Any, net: str) -> str:
    rows = []
    total = 0
    cfg_name = Path(graph.def_path).name
    for lay in graph:
        n = layer_params(lay)
        total += n
        shape = "\u00d7".join(map(str, lay.shape)) if lay.shape else "\u2013"
        gpu = str(lay.gpu) if lay.gpu >= 0 else "host"
        rows.append(
            [
                f"`{lay.name}`",
                f"`{lay.type}`",
                gpu,
                ", ".join(f"`{i}`" for i in lay.inputs) or "\u2013",
                shape,
                md_escape(_key_params(lay, layer_mod)),
                fmt_int(n) if n else "",
                str(lay.source[1]),
            ]
        )
    rows.append(["**total**", "", "", "", "", "", f"**{fmt_int(total)}**", ""])
    head = (
        f"Layers of `{cfg_name}` in definition order, as parsed by "
        "{py:func}`alexnet.original.layer.parse_layers` at build time. "
        "Shapes are channels\u00d7height\u00d7width per GPU for one image; "
        "`_neuron` rows are the ReLU layers the 2012 parser detaches from `neuron=relu`. "
        f"Parameters are weights plus biases; the total is {fmt_int(total)}.\n\n"
    )
    table = md_table(
        ["layer", "type", "GPU", "inputs", "output", "key values", "parameters", "cfg line"],
        rows,
        align="llllllrr",
    )
    return head + table


def cross_gpu_table(graph: Any, batch: int = 128) -> str:
    """Every activation copied from one GPU to another in the forward pass."""
    copies: dict[tuple[str, int], list[str]] = {}
    for lay in graph:
        for name in lay.inputs:
            src = graph[name]
            if src.gpu >= 0 and lay.gpu >= 0 and src.gpu != lay.gpu:
                copies.setdefault((src.name, lay.gpu), []).append(lay.name)
    if not copies:
        return "*This net runs on one GPU: nothing crosses between cards.*\n"
    rows, per_dir = [], {}
    for (src_name, dst_gpu), consumers in copies.items():
        src = graph[src_name]
        values = 1
        for s in src.shape:
            values *= s
        mb = values * batch * 4 / 1e6
        key = (src.gpu, dst_gpu)
        per_dir[key] = per_dir.get(key, 0) + values
        shape = "\u00d7".join(map(str, src.shape))
        rows.append([f"`{src_name}` (GPU {src.gpu})",
                     ", ".join(f"`{c}`" for c in consumers) + f" (GPU {dst_gpu})",
                     shape, fmt_int(values), f"{mb:.2f} MB"])
    for (a, b), values in sorted(per_dir.items()):
        rows.append([f"**all, GPU {a} \u2192 GPU {b}**", "", "", f"**{fmt_int(values)}**",
                     f"**{values * batch * 4 / 1e6:.2f} MB**"])
    return md_table(["from", "to", "shape", "values per image", f"per minibatch of {batch}"],
                    rows, align="lllrr")


def _run_cli(args: list[str]) -> tuple[str | None, str]:
    """Run an ``alexnet`` command in-process; (stdout, "") or (None, why it failed)."""
    from click.testing import CliRunner

    from alexnet.cli import cli

    result = CliRunner().invoke(cli, args)
    if result.exit_code != 0:
        detail = (result.output or repr(result.exception)).strip()[-300:]
        return None, f"`alexnet {' '.join(args)}` failed: {detail}"
    return result.stdout, ""


def modern_section(out: Output) -> None:
    try:
        importlib.import_module("alexnet.modern.cli_model")
    except Exception as exc:
        out.write_text(
            "fragments/architecture-modern.md",
            not_available("the PyTorch port's layer table.",
                          f"The modern port (`alexnet.modern`) is not importable yet ({exc})."),
        )
        return
    text, why = _run_cli(["model", "summary", "--arch", MODERN_ARCH, "--json"])
    if text is None:
        raise RuntimeError(why)
    summary = json.loads(text)
    listing, why = _run_cli(["model", "list"])
    if listing is None:
        raise RuntimeError(why)
    out.write_text("fragments/architecture-modern.md", render_modern(summary, listing))


def render_modern(summary: dict[str, Any], listing: str = "") -> str:
    """Render ``alexnet model summary --json`` and ``alexnet model list``."""
    arch = summary.get("arch", MODERN_ARCH)
    shape = "\u00d7".join(map(str, summary.get("input_shape", [])))
    lines = [
        f"The port's {code(arch)} is one tower: each pair of 2012 layers becomes a "
        "grouped convolution or one wide linear layer, with the same parameters. "
        f"`alexnet model summary --arch {md_escape(arch)}` reports, at build time, "
        f"for a {shape} input and {summary.get('num_classes')} classes:\n"
    ]
    rows = []
    for lay in summary.get("layers", []):
        rows.append([
            f"{code(lay.get('name', ''))}",
            f"{code(lay.get('type', ''))}",
            "\u00d7".join(map(str, lay.get("output_shape", []))),
            fmt_int(lay["params"]) if lay.get("params") else "",
            ", ".join(f"`{n}`" for n in str(lay.get("layers_2012", "")).split("+") if n),
        ])
    lines.append(md_table(["module", "type", "output", "parameters", "2012 layers"], rows,
                          align="lllrl"))
    total = summary.get("total_params")
    if total is not None:
        lines.append(f"\nTotal parameters: **{fmt_int(int(total))}**.\n")
    entries = [ln.split(None, 1) for ln in listing.splitlines() if ln.strip()]
    if entries:
        lines.append("\nEvery architecture the port can build (`alexnet model list`):\n")
        lines.append(md_table(["name", "what it is"],
                              [[f"{code(e[0])}", md_escape(e[1] if len(e) > 1 else "")]
                               for e in entries]))
    return "\n".join(lines)


def generate(out: Output) -> None:
    graphs, layer_mod, why = load_graphs()
    if not graphs:
        msg = not_available(
            "the network diagram and layer table.",
            "They are computed from the bundled cfg files by the project's cfg parser; "
            + (why or "no bundled definition/params pair parses yet."),
        )
        out.write_text("fragments/architecture-towers.md", msg)
        out.write_text("fragments/architecture-layers.md", msg)
        out.write_text("fragments/architecture-others.md", "")
        out.write_text("fragments/architecture-crossgpu.md", msg)
    else:
        others = []
        for i, (net, graph) in enumerate(graphs.items()):
            title = NET_TITLES.get(net, f"layers-{net}")
            svg = docsgen_svg.render(
                graph,
                title,
                f"generated at build time from {Path(graph.def_path).name}",
            )
            out.write_text(f"figures/net-{net}.svg", svg)
            figure = (
                f":::{{figure}} /_generated/figures/net-{net}.svg\n"
                f":alt: Diagram of {md_escape(title)}, one column per GPU\n"
                f":name: fig-net-{net}\n\n"
                f"{md_escape(title)}. One column per GPU; orange dashed arrows are the "
                "copies between GPUs. Drawn at build time from the layer graph.\n:::\n"
            )
            table = layer_table(graph, layer_mod, net)
            if net == MAIN_NET or (i == 0 and MAIN_NET not in graphs):
                out.write_text("fragments/architecture-towers.md", figure)
                out.write_text("fragments/architecture-layers.md", table)
                out.write_text("fragments/architecture-crossgpu.md", cross_gpu_table(graph))
            else:
                others.append(f"### {md_escape(title)}\n\n{figure}\n{table}\n")
        if MAIN_NET not in graphs:
            others.insert(0, not_available("definition 145.", "Its cfg pair does not parse yet."))
        out.write_text("fragments/architecture-others.md", "\n".join(others))
    modern_section(out)
