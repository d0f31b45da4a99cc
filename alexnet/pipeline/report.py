"""The ``report`` stage: what the pipeline reproduced, next to what was reported.

Reads only the other stages' outputs (``runs/pipeline/...``) and the figures reported
for the profile's network (from :mod:`alexnet.registry`), and writes ``runs/report/``:

``report.md``
    for reading in a terminal or on a forge, with the figures as PNG files;
``report.html``
    one self-contained file (figures inline: SVG for the charts, PNG for the images);
``figures/``
    ``learning_curve.png`` / ``.svg``, ``loss.png`` / ``.svg``, ``confusion.png`` /
    ``.svg``, ``conv1_filters.png`` (the first layer's filters drawn by the
    re-creation's shownet from the 2012 checkpoint the evaluate stage wrote, as the
    paper's Figure 3 was drawn), ``mean_image.png``.

Both documents are rendered from one list of blocks, so they never disagree.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.io import staging_dir
from alexnet.original import shownet
from alexnet.original.checkpoint import load_checkpoint
from alexnet.pipeline.figures import Heatmap, LineChart, image_png
from alexnet.pipeline.params import Profile
from alexnet.pipeline.recorded import recorded, runs_note
from alexnet.pipeline.seeds import BAND_RULE, NOT_SWEPT_TEXT, mean_std_text, usable

# --------------------------------------------------------------------------------------
# Blocks


@dataclass
class Block:
    kind: str  # h1 | h2 | p | table | figure | code | list
    text: str = ""
    header: list[str] | None = None
    rows: list[list[str]] | None = None
    items: list[str] | None = None
    png: str = ""  # figure: file name under figures/
    svg: str = ""  # figure: inline SVG for the HTML report (else the PNG is embedded)


def _inline_html(text: str) -> str:
    out = escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return out


def render_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            lines += [f"# {b.text}", ""]
        elif b.kind == "h2":
            lines += [f"## {b.text}", ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "list":
            lines += [f"- {i}" for i in b.items or []] + [""]
        elif b.kind == "code":
            lines += ["```", b.text, "```", ""]
        elif b.kind == "table":
            header = b.header or []
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            for r in b.rows or []:
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
            lines.append("")
        elif b.kind == "figure":
            lines += [f"![{b.text}](figures/{b.png})", "", f"*{b.text}*", ""]
    return "\n".join(lines).rstrip() + "\n"


CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.5; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
th { background: #f3f3f3; }
code, pre { background: #f6f6f6; font-family: ui-monospace, monospace; font-size: 90%; }
pre { padding: .6rem; overflow-x: auto; }
figure { margin: 1rem 0; }
figcaption { font-style: italic; color: #555; }
img.pixels { image-rendering: pixelated; }
"""


def render_html(blocks: list[Block], figures: Path, title: str) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    for b in blocks:
        if b.kind in ("h1", "h2"):
            parts.append(f"<{b.kind}>{_inline_html(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif b.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items or [])
                         + "</ul>")
        elif b.kind == "code":
            parts.append(f"<pre><code>{escape(b.text)}</code></pre>")
        elif b.kind == "table":
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in b.header or [])
            body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>"
                           for r in b.rows or [])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "figure":
            if b.svg:
                inner = b.svg
            else:
                data = base64.b64encode((figures / b.png).read_bytes()).decode("ascii")
                inner = (f'<img class="pixels" alt="{escape(b.text)}" '
                         f'src="data:image/png;base64,{data}">')
            parts.append(f"<figure>{inner}<figcaption>{_inline_html(b.text)}</figcaption>"
                         "</figure>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# Reading the stages' outputs


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pct(x: Any, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * float(x):.{digits}f}%"


def duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    s = float(seconds)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{int(s // 60)} min {int(round(s % 60)):02d} s"
    return f"{s / 3600:.1f} h"


def _views(v: Any) -> str:
    return f"{v} view" + ("" if v == 1 else "s")


def _hardware(train_metrics: dict[str, Any]) -> str:
    dev = str(train_metrics.get("device", "?"))
    threads = train_metrics.get("threads")
    if dev.startswith("cuda"):
        return f"GPU ({dev})"
    return f"CPU, {threads} torch threads"


def _first_conv_filters(evaluate_dir: Path, figures: Path) -> tuple[str, str] | None:
    """conv1's filters via the re-creation's shownet, from the 2012 checkpoint."""
    ck_dir = evaluate_dir / "checkpoint-2012"
    if not ck_dir.is_dir():
        return None
    layers = load_checkpoint(ck_dir)["model_state"]["layers"]
    convs = [n for n, d in layers.items() if d["type"] == "conv"]
    if not convs:
        return None
    name = convs[0]
    if name.endswith("a") and name[:-1] + "b" in layers:
        name = name[:-1]  # both towers, as the paper's Figure 3 shows them
    images, desc = shownet.filter_images(layers, name, norm_filters=True)
    scale = max(2, 48 // max(images.shape[1], 1))
    shownet.grid_png(images, figures / "conv1_filters.png", scale=scale)
    return "conv1_filters.png", desc


# --------------------------------------------------------------------------------------
# The sections, in the order the report shows them


@dataclass
class StageOutputs:
    """The other stages' outputs the report reads (``{}`` / ``[]`` where one is missing)."""

    folder: Path
    fetch: dict[str, Any]
    dataset: dict[str, Any]
    pca: dict[str, Any]
    run: dict[str, Any]
    train: dict[str, Any]
    evaluate: dict[str, Any]
    verify: dict[str, Any]
    verify_doc: dict[str, Any]
    curve: list[dict[str, Any]]
    seeds: dict[str, Any]

    @classmethod
    def load(cls, pipeline_dir: Path) -> StageOutputs:
        return cls(folder=pipeline_dir,
                   fetch=_load(pipeline_dir / "fetch" / "sources.json") or {},
                   dataset=_load(pipeline_dir / "prepare" / "dataset.json") or {},
                   pca=_load(pipeline_dir / "prepare" / "pca.json") or {},
                   run=_load(pipeline_dir / "train" / "metrics.json") or {},
                   train=_load(pipeline_dir / "metrics" / "train.json") or {},
                   evaluate=_load(pipeline_dir / "evaluate" / "evaluate.json") or {},
                   verify=_load(pipeline_dir / "metrics" / "verify.json") or {},
                   verify_doc=_load(pipeline_dir / "verify" / "verify.json") or {},
                   curve=_load(pipeline_dir / "plots" / "learning_curve.json") or [],
                   seeds=_load(pipeline_dir / "seeds" / "seeds.json") or {})


def build_blocks(profile: Profile, pipeline_dir: Path, figures: Path,
                 recorded_dir: Path | None = None) -> list[Block]:
    """The whole report, section by section; figures are written into ``figures``;
    ``recorded_dir`` holds the results files of every CIFAR-10 net's seeded runs."""
    o = StageOutputs.load(pipeline_dir)
    return ([Block("h1", f"Reproduction report: {profile.name}"), Block("p", profile.about)]
            + reported_vs_reproduced(profile, o)
            + data_section(o)
            + training_section(o, figures)
            + seeds_section(o)
            + recorded_section(recorded_dir)
            + evaluation_section(o, figures)
            + recreation_section(o)
            + verification_section(o)
            + filters_section(o, figures)
            + mean_and_pca_section(o, figures)
            + reproduce_section(profile))


def reported_vs_reproduced(profile: Profile, o: StageOutputs) -> list[Block]:
    """The headline table: the profile's reported figures next to this run's."""
    rep, tsum, ver = profile.reported, o.train, o.verify
    modern = o.evaluate.get("modern", {})
    views_txt = ", ".join(f"{pct(s.get('top1_err'))} ({_views(s.get('views'))})"
                          for s in modern.values())
    orig = o.evaluate.get("original", {})
    n_test = o.dataset.get("test_images")
    orig_txt = "-"
    if orig.get("status") == "ok":
        orig_txt = "; ".join(f"{pct(r['top1_err'])} ({_views(r['views'])}, "
                             + (f"all {r['n']} test images" if r["n"] == n_test
                                else f"first {r['n']} test images")
                             + f"; the port: {pct(r['port_top1_err'])} on the same)"
                             for r in orig["views"].values())
    rows = [["test error, top-1", pct(rep.get("top1_err"), 1) if "top1_err" in rep else "-",
             views_txt or pct(tsum.get("test_top1_err"))]]
    if "top5_err" in rep or any(s.get("top5_err") for s in modern.values()):
        rows.append(["test error, top-5", pct(rep.get("top5_err"), 1) if "top5_err" in rep
                     else "-", ", ".join(f"{pct(s.get('top5_err'))} ({_views(s.get('views'))})"
                                         for s in modern.values())])
    for e in o.seeds.get("orders", {}).values():
        rows.append([f"test error, top-1, over seeds ({e['order']})",
                     pct(rep.get("top1_err"), 1) if "top1_err" in rep else "-",
                     mean_std_text(e)])
    rows.append(["2012 re-creation (numpy engine), top-1", "-", orig_txt])
    imported = o.run.get("imported")
    if imported:   # no training here: the published weights were imported
        rows.append(["training time", str(rep.get("time") or "-"),
                     f"none: `{imported.get('weight_set') or imported.get('arch')}` "
                     "imported"])
    else:
        rows.append(["training time", str(rep.get("time") or "-"),
                     f"{duration(tsum.get('wall_s'))} for {tsum.get('epochs', '?')} epochs"])
        rows.append(["hardware", str(rep.get("hardware") or "-"), _hardware(o.run)])
    if ver.get("equivalence_passed") is not None:
        rows.append(["port and 2012 re-creation, layer by layer on the trained weights", "-",
                     ("equivalent" if ver["equivalence_passed"] else "NOT equivalent")
                     + f" ({ver.get('equivalence_checks')} checks)"])
    return [Block("h2", "Reported vs reproduced"),
            Block("table", header=["", "reported", "reproduced"], rows=rows),
            Block("p", f"Reported figure: {rep.get('source', '-')}.")]


def data_section(o: StageOutputs) -> list[Block]:
    """The data set, its copy, and the pinned files it came from."""
    fetch, dataset = o.fetch, o.dataset
    files = fetch.get("files", [])
    items = [f"`{f['file']}`: " + ", ".join(f"{a} `{f[a]}`" for a in ("md5", "sha1", "sha256")
                                          if a in f) + f", {f.get('size', 0):,} bytes"
             for f in files]
    blocks = [Block("h2", "Data"),
              Block("p", f"Data set `{fetch.get('dataset', '?')}`, copy "
                    f"`{fetch.get('source', '?')}` ({fetch.get('kind', '?')}): "
                    f"{dataset.get('train_images', '?')} training and "
                    f"{dataset.get('test_images', '?')} test images, stored at "
                    f"{dataset.get('image_size', '?')}x{dataset.get('image_size', '?')}. "
                    "Every file was checked against its pin before use:"),
              Block("list", items=items or ["-"])]
    if fetch.get("kind") == "image-folder":
        blocks.append(Block("p", "This copy was re-encoded as JPEG (quality 75) by a third "
                            "party; its pixels differ slightly from the official files, and "
                            "errors measured on it can sit a little above figures reported "
                            "on the official files."))
    if dataset.get("statistics"):
        blocks.append(Block("p", f"Training-set statistics (mean image, colour PCA): "
                            f"{dataset['statistics']}."))
    if dataset.get("skipped_images"):
        blocks.append(Block("p", f"{len(dataset['skipped_images'])} unreadable image(s) "
                            "were skipped."))
    return blocks


def training_section(o: StageOutputs, figures: Path) -> list[Block]:
    """The run's settings, then its learning curves (charts and a per-epoch table); for
    imported weights, where they came from instead."""
    run, tsum, curve = o.run, o.train, o.curve
    cfg = run.get("config", {})
    imp = run.get("imported")
    if imp:
        dig = imp.get("digests") or {}
        digests = ", ".join(f"{a} `{dig[a]}`" for a in ("sha1", "sha256") if dig.get(a))
        return [Block("h2", "Weights"),
                Block("p", f"No training: the train stage imported "
                      f"`{imp.get('weight_set') or 'an unpinned file'}` as `{imp.get('arch')}` "
                      f"({imp.get('parameters', 0):,} parameters) from its file, {digests}, "
                      "checked against the registry's pin (the `alexnet weights import "
                      "caffe` code path).")]
    sched = cfg.get("schedule_rules") or []
    blocks = [Block("h2", "Training"),
              Block("list", items=[
                  f"network `{cfg.get('arch', '?')}`, {cfg.get('epochs', '?')} epochs, "
                  f"minibatch {cfg.get('batch', '?')}, seed {cfg.get('seed', '?')}",
                  "learning-rate schedule: " + (", ".join(
                      f"after epoch {r['epoch']}: " + ", ".join(
                          f"{k} {r[k]}" for k in ("factor", "eps", "epsW", "epsB",
                                                  "color_noise") if k in r)
                      for r in sched) or "none"),
                  f"device {run.get('device', '?')}, {run.get('threads', '?')} threads; "
                  f"{duration(tsum.get('wall_s'))} wall time, "
                  + (f"{tsum['images_per_s']:.0f} training images/s"
                     if tsum.get("images_per_s") else "-"),
                  "versions: " + ", ".join(f"{k} {v}" for k, v in run.get(
                      "versions", {}).items() if k != "platform"),
              ])]
    if not curve:
        return blocks
    xs = [float(r["epoch"]) for r in curve]
    ch = LineChart("Top-1 error per epoch", "epoch", "top-1 error", percent=True,
                   series={"training (running)":
                           (xs, [r.get("train_top1_err") for r in curve]),
                           "test": (xs, [r.get("test_top1_err") for r in curve])})
    ch.png(figures / "learning_curve.png")
    (figures / "learning_curve.svg").write_text(ch.svg(), encoding="utf-8")
    blocks.append(Block("figure", "Learning curve: top-1 error per epoch",
                        png="learning_curve.png", svg=ch.svg()))
    lc = LineChart("Loss per epoch", "epoch", "-log p(true class)",
                   series={"training": (xs, [r.get("train_loss") for r in curve]),
                           "test": (xs, [r.get("test_loss") for r in curve])})
    lc.png(figures / "loss.png")
    (figures / "loss.svg").write_text(lc.svg(), encoding="utf-8")
    blocks.append(Block("figure", "Learning curve: loss per epoch", png="loss.png",
                        svg=lc.svg()))
    rows = [[str(r["epoch"]), f"{r['train_loss']:.4f}" if r.get("train_loss") else "-",
             pct(r.get("train_top1_err")), pct(r.get("test_top1_err")),
             pct(r.get("test_top5_err")), f"{r['eps']:.3g}" if r.get("eps") else "-",
             duration(r.get("wall_s"))] for r in curve]
    blocks.append(Block("table", header=["epoch", "train loss", "train top-1",
                                         "test top-1", "test top-5", "eps (conv1)",
                                         "wall"], rows=rows))
    return blocks


def seeds_section(o: StageOutputs) -> list[Block]:
    """Error bars: the sweep's runs per data order, and whether the reported figure fits."""
    sd = o.seeds
    if not sd:
        return []
    blocks = [Block("h2", "Error bars over seeds")]
    if sd.get("not_swept"):
        return blocks + [Block("p", NOT_SWEPT_TEXT)]
    blocks.append(Block("p", f"The same recipe trained again with other seeds (dvc.yaml's "
                        f"`sweep` stage, settings in params.yaml's `sweep`); band rule: "
                        f"{sd.get('band_rule', '-')}."))
    blocks.append(Block("table", header=["data order", "mean ± sample std", "verdict"],
                        rows=[[e["order"], mean_std_text(e), e["verdict"]]
                              for e in sd.get("orders", {}).values()]))
    blocks.append(Block("table", header=["data order", "seed", "status", "top-1 error"],
                        rows=[[str(r.get("shuffle")), str(r.get("seed")), str(r.get("status")),
                               pct(r.get("top1_err")) if usable(r) else "not averaged"]
                              for r in sd.get("runs", [])]))
    return blocks


def recorded_section(folder: Path | None) -> list[Block]:
    """Every CIFAR-10 reproduction's recorded runs over seeds, beside its reported figure."""
    if folder is None:
        return []
    entries = recorded(folder)
    rows, sources = [], []
    for e in entries:
        rep_text = pct(e["reported_top1_err"])
        if "summary" not in e:
            rows.append([f"`{e['arch']}`", rep_text, "-", "-", "-", e["note"]])
            continue
        for key, order in e["summary"]["orders"].items():
            runs = [r for r in e["summary"]["runs"] if str(r.get("shuffle")) == key]
            rows.append([f"`{e['arch']}`", rep_text, order["order"], mean_std_text(order),
                         order["verdict"], runs_note(runs)])
        meta = e["meta"]
        sources.append(f"`{e['file']}`: " + " ".join(
            f"{label}{str(meta.get(k) or '-').rstrip('.')}." for k, label in
            (("what", ""), ("command", "Command: "), ("machine", "Machine: "))))
    return [Block("h2", "Every CIFAR-10 net: recorded runs over seeds"),
            Block("p", "Runs kept as results files in "
                  f"`{folder}/` (made outside this pipeline run: on a CPU one run of 18pct "
                  "takes hours, one of conv-local-11pct most of a day), summarised with the seeds "
                  f"stage's statistics and band rule ({BAND_RULE}). Unfinished runs are "
                  "listed with their progress and never averaged."),
            Block("table", header=["network", "reported", "data order", "mean ± sample std",
                                   "verdict", "runs"], rows=rows),
            Block("list", items=sources or ["-"])]


def evaluation_section(o: StageOutputs, figures: Path) -> list[Block]:
    """The port on the whole test set: errors per view count, the confusion matrix."""
    ev = o.evaluate
    modern = ev.get("modern", {})
    if not modern:
        return []
    blocks = [Block("h2", "Evaluation"),
              Block("p", "The PyTorch port on the whole test set. Several views: the "
                    "softmax outputs of the views are averaged before scoring (paper "
                    "section 4.1; 9 views = the 2012 CIFAR provider's 3x3 grid of "
                    "crops, 10 = four corners and the centre, and their mirror "
                    "images). Ties count fractionally, as the 2012 cost layer did."),
              Block("table", header=["views", "images", "top-1 error", "top-5 error",
                                     "loss"],
                    rows=[[str(s["views"]), str(s["n"]), pct(s["top1_err"]),
                           pct(s["top5_err"]),
                           f"{s['loss']:.4f}" if s.get("loss") is not None else "-"]
                          for s in modern.values()])]
    cm = np.asarray(ev.get("confusion_matrix") or [], dtype=np.int64)
    classes = ev.get("classes") or []
    if cm.size and len(classes) <= 20:
        hm = Heatmap(f"Confusion matrix ({ev.get('confusion_views', 1)} view(s))",
                     classes, cm)
        hm.png(figures / "confusion.png")
        (figures / "confusion.svg").write_text(hm.svg(), encoding="utf-8")
        blocks.append(Block("figure", "Confusion matrix on the test set (rows: true "
                            "class, columns: predicted class)", png="confusion.png",
                            svg=hm.svg()))
        per = cm.sum(axis=1)
        blocks.append(Block("table", header=["class", "images", "top-1 error"],
                            rows=[[c, str(int(per[i])),
                                   pct(1 - cm[i, i] / per[i]) if per[i] else "-"]
                                  for i, c in enumerate(classes)]))
    return blocks


def recreation_section(o: StageOutputs) -> list[Block]:
    """The 2012 engine on the same weights (or why it did not run)."""
    orig = o.evaluate.get("original", {})
    if not orig:
        return []
    blocks = [Block("h2", "The 2012 re-creation on the same weights")]
    if orig.get("status") != "ok":
        return blocks + [Block("p", f"Not run: {orig.get('why', '?')}.")]
    blocks.append(Block(
        "p", "The trained weights, converted to a 2012 checkpoint "
        f"(`{orig.get('checkpoint_2012')}`), run by the re-created 2012 engine "
        f"({orig.get('backend')} backend) on test images read through the 2012 data "
        f"provider from {orig.get('batches') or 'the prepared 2012 batch files'}."))
    blocks.append(Block("table", header=["views", "images", "2012 top-1", "port top-1",
                                         "same top-1 class", "max abs prob diff"],
                        rows=[[str(r["views"]), str(r["n"]), pct(r["top1_err"]),
                               pct(r["port_top1_err"]), pct(r["agreement"]),
                               f"{r['max_abs_prob_diff']:.2g}"]
                              for r in orig["views"].values()]))
    return blocks


def verification_section(o: StageOutputs) -> list[Block]:
    """The verify stage's verdict: equivalence checks and accuracy against the band."""
    if not o.verify:
        return []
    return [Block("h2", "Verification")] + _verify_blocks(o.verify, o.verify_doc,
                                                          o.folder / "verify")


def filters_section(o: StageOutputs, figures: Path) -> list[Block]:
    """conv1's learned filters, as the paper's Figure 3 shows them."""
    filt = _first_conv_filters(o.folder / "evaluate", figures)
    if not filt:
        return []
    return [Block("h2", "First-layer filters"),
            Block("figure", f"The learned filters of `{filt[1]}` (each scaled to "
                  "its own range), drawn by the re-creation's shownet from the 2012 "
                  "checkpoint, as the paper's Figure 3 was", png=filt[0])]


def mean_and_pca_section(o: StageOutputs, figures: Path) -> list[Block]:
    """The prepare stage's mean image and colour PCA."""
    mean_path = o.folder / "prepare" / "mean.npy"
    if not mean_path.is_file():
        return []
    mean = np.load(mean_path, allow_pickle=False)
    image_png(mean, figures / "mean_image.png",
              scale=max(1, 128 // max(mean.shape[0], 1)))
    blocks = [Block("h2", "Mean image and colour PCA"),
              Block("figure", "The mean training image, subtracted from every input "
                    "(paper section 2)", png="mean_image.png")]
    if o.run.get("imported"):
        blocks[1] = Block("figure", "The mean training image of the prepared data (the "
                          "imported net subtracts the mean it was trained with instead, "
                          "kept in its checkpoint)", png="mean_image.png")
    if o.pca.get("eigenvalues"):
        vecs = np.asarray(o.pca["eigenvectors_columns"])
        rows = [[str(i + 1), f"{v:.1f}", f"{math.sqrt(max(v, 0)):.2f}",
                 ", ".join(f"{x:+.3f}" for x in vecs[:, i])]
                for i, v in enumerate(o.pca["eigenvalues"])]
        blocks.append(Block("table", header=["component", "eigenvalue", "std (2012 "
                                             "color_pca)", "eigenvector (R, G, B)"],
                            rows=rows))
    return blocks


def reproduce_section(profile: Profile) -> list[Block]:
    """How to run it again."""
    return [Block("h2", "Reproduce"),
            Block("code", f"dvc exp run -S profile={profile.name}   # or: dvc repro\n"
                  "dvc metrics show\ndvc plots show"),
            Block("p", "Settings: `params.yaml`; pipeline: `dvc.yaml`; the hashes of "
                  "every input and output of this run: `dvc.lock`.")]


def _verify_blocks(ver: dict[str, Any], doc: dict[str, Any], folder: Path) -> list[Block]:
    eq = doc.get("equivalence") or {}
    acc = doc.get("accuracy") or {}
    out = [Block("p", f"Verdict: **{ver.get('verdict', '-')}**.")]
    rows = []
    if eq.get("passed") is not None:
        rows.append(["equivalence (same trained weights, same inputs, every layer)",
                     f"{'passed' if eq['passed'] else 'FAILED'}: {eq.get('checks')} checks, "
                     f"{eq.get('failed')} failed"])
    elif eq.get("skipped"):
        rows.append(["equivalence", f"not checked: {eq['skipped']}"])
    for r in acc.get("rows", []):
        rows.append([f"{r['metric'].replace('_err', ' error').replace('top', 'top-')}, "
                     f"{r['implementation']}",
                     f"{pct(r['reproduced'])} vs reported {pct(r['reported'], 1)}; band "
                     f"{pct(r['band'][0], 0)}-{pct(r['band'][1], 0)}: "
                     + ("within" if r["passed"] else "outside") + f" ({r['reason']})"])
    if acc.get("note"):
        rows.append(["accuracy", acc["note"]])
    if rows:
        out.append(Block("table", header=["check", "result"], rows=rows))
    if (folder / "report.md").is_file():
        out.append(Block("p", f"The verifier's full report: `{folder / 'report.md'}` "
                         "(also `.html`, `.json`)."))
    return out


def write_report(profile: Profile, pipeline_dir: str | Path, out: str | Path, *,
                 recorded_dir: str | Path | None = None) -> list[Path]:
    """Build the report folder atomically; return the written documents."""
    pipeline_dir, out = Path(pipeline_dir), Path(out)
    with staging_dir(out) as staging:
        figures = staging / "figures"
        figures.mkdir()
        blocks = build_blocks(profile, pipeline_dir, figures,
                              Path(recorded_dir) if recorded_dir is not None else None)
        (staging / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
        (staging / "report.html").write_text(
            render_html(blocks, figures, f"Reproduction report: {profile.name}"),
            encoding="utf-8")
    return [out / "report.md", out / "report.html"]
