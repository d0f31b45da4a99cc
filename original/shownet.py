"""Looking into a checkpoint: filter grids, predictions and cost curves, as PNG files.

Re-creates the useful modes of the 2012 ``shownet.py`` (L33-L534; options L536-L562;
docs/reference/recreation.md#recreation-shownet): ``--show-filters`` (L110-L197: weights as a grid
16 filters wide and at most 24 rows, scaled to [0, 1] globally or per filter, colour
when the layer reads 3 channels; how the paper's Figure 3 was made from conv1a/conv1b),
``--show-preds`` (L199-L272: test images with their five most probable labels, the
paper's Figure 4 left) and ``--show-cost`` (L81-L108: training values per batch against
test values, x axis in epochs). 2012 drew with matplotlib; here everything is drawn with
Pillow, so the pictures are files (``--out``) and the numbers go to stdout.

Options keep their 2012 names and the ``--name=value`` form; ``-f`` is required. For a
two-tower checkpoint ``--show-filters=conv1`` draws ``conv1a`` and ``conv1b`` together
(48 + 48 filters, as in the paper's figure) when there is no layer named ``conv1``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.errors import AlexNetError, ConfigError, DataError
from alexnet.original import checkpoint as ckpt
from alexnet.original import convdata
from alexnet.original.engine import Engine
from alexnet.original.options import (
    BooleanOptionParser,
    IntegerOptionParser,
    OptionException,
    OptionsParser,
    RangeOptionParser,
    StringOptionParser,
)

FILTERS_PER_ROW = 16
MAX_ROWS = 24

# --------------------------------------------------------------------------------------
# Filters


def filter_images(layers: dict[str, dict[str, Any]], name: str, *, input_idx: int = 0,
                  norm_filters: bool = False, no_rgb: bool = False, channels: int = 0,
                  local_plane: int = 0) -> tuple[np.ndarray, str]:
    """The filters of a layer as an array (count, S, S, 3 or 1) scaled to [0, 1].

    Returns (images, description). Several layers may be given comma-separated; a name
    with no layer but ``<name>a``/``<name>b`` towers draws both towers.
    """
    names = [n.strip() for n in name.split(",") if n.strip()]
    if len(names) == 1 and names[0] not in layers:
        towers = [n for n in (names[0] + "a", names[0] + "b") if n in layers]
        if towers:
            names = towers
    mats = []
    for n in names:
        if n not in layers:
            raise ConfigError(f"no layer named {n!r} in this checkpoint (weight layers: "
                              f"{', '.join(k for k, d in layers.items() if 'weights' in d)})")
        d = layers[n]
        if d["type"] not in ("conv", "local", "fc"):
            raise ConfigError(f"layer {n!r} is a {d['type']} layer; it has no filters to show")
        if input_idx >= len(d["weights"]):
            raise ConfigError(f"layer {n!r} has {len(d['weights'])} weight matrices; "
                              f"--input-idx={input_idx} is out of range")
        w = np.asarray(d["weights"][input_idx], dtype=np.float64)
        if d["type"] == "fc":
            ch = channels or 3
            pixels = w.shape[0] // ch
            size = int(round(math.sqrt(pixels)))
            if size * size * ch != w.shape[0]:
                raise ConfigError(f"fc layer {n!r}: its {w.shape[0]} inputs are not "
                                  f"{ch}-channel square images (set --channels)")
        else:
            ch = d["filterChannels"][input_idx]
            size = d["filterSize"][input_idx]
            if d["type"] == "local":
                per = ch * size * size
                if not 0 <= local_plane < d["modules"]:
                    raise ConfigError(f"--local-plane={local_plane} out of range 0-"
                                      f"{d['modules'] - 1}")
                w = w[local_plane * per:(local_plane + 1) * per]
        mats.append(w.reshape(ch, size, size, -1).transpose(3, 1, 2, 0))   # (F, S, S, C)
    f = np.concatenate(mats, axis=0)
    if f.shape[-1] != 3 or no_rgb:
        f = f.transpose(0, 3, 1, 2).reshape(-1, f.shape[1], f.shape[2], 1)  # channels apart
    f = f[:FILTERS_PER_ROW * MAX_ROWS]
    if norm_filters:
        lo = f.min(axis=(1, 2, 3), keepdims=True)
        hi = f.max(axis=(1, 2, 3), keepdims=True)
    else:
        lo, hi = f.min(), f.max()
    f = (f - lo) / np.maximum(hi - lo, 1e-12)
    return f, "+".join(names)


def grid_png(images: np.ndarray, out: str | Path, *, scale: int = 4, gap: int = 1) -> Path:
    """Tile (count, S, S, C) images in [0, 1] 16 to a row into a PNG."""
    from PIL import Image

    n, s = images.shape[0], images.shape[1]
    cols = min(FILTERS_PER_ROW, n)
    rows = math.ceil(n / cols)
    cell = s * scale + gap
    canvas = np.full((rows * cell + gap, cols * cell + gap, 3), 255, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        img = images[k]
        if img.shape[-1] == 1:
            img = np.repeat(img, 3, axis=-1)
        big = np.kron((img * 255).round().astype(np.uint8), np.ones((scale, scale, 1), np.uint8))
        y, x = gap + r * cell, gap + c * cell
        canvas[y:y + s * scale, x:x + s * scale] = big
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(out)
    return out


# --------------------------------------------------------------------------------------
# Cost curves


def cost_series(model_state: dict[str, Any], cost: str,
                idx: int) -> tuple[list[float], list[float]]:
    train = [o[0][cost][idx] for o in model_state["train_outputs"] if cost in o[0]]
    test = [o[0][cost][idx] for o in model_state["test_outputs"] if cost in o[0]]
    if not train and not test:
        names = sorted({k for o in model_state["train_outputs"] for k in o[0]})
        raise ConfigError(f"no cost named {cost!r} in this checkpoint (costs: "
                          f"{', '.join(names) or 'none recorded'})")
    return train, test


def cost_png(train: list[float], test: list[float], test_freq: int, batches_per_epoch: int,
             out: str | Path, title: str) -> Path:
    """Training values per batch (blue) and test values (red, each held for test_freq
    batches as 2012 plotted them) against epochs, drawn with Pillow."""
    from PIL import Image, ImageDraw

    w, h, m = 800, 500, 60
    img = Image.new("RGB", (w, h), "white")
    dr = ImageDraw.Draw(img)
    test_x = [(i + 1) * test_freq for i in range(len(test))]
    xs_all = list(range(1, len(train) + 1)) + test_x
    ys_all = train + test
    if not ys_all:
        raise ConfigError("nothing to plot")
    xmax = max(xs_all) / batches_per_epoch
    ymin, ymax = min(ys_all), max(ys_all)
    if ymax == ymin:
        ymax = ymin + 1

    def pt(batch: float, y: float) -> tuple[float, float]:
        return (m + (w - 2 * m) * (batch / batches_per_epoch) / max(xmax, 1e-9),
                h - m - (h - 2 * m) * (y - ymin) / (ymax - ymin))

    dr.rectangle([m, m, w - m, h - m], outline="black")
    for k in range(5):
        yv = ymin + (ymax - ymin) * k / 4
        _, yy = pt(0, yv)
        dr.line([m - 4, yy, m, yy], fill="black")
        dr.text((4, yy - 6), f"{yv:.3g}", fill="black")
        xv = xmax * k / 4
        xx = m + (w - 2 * m) * k / 4
        dr.line([xx, h - m, xx, h - m + 4], fill="black")
        dr.text((xx - 10, h - m + 8), f"{xv:.3g}", fill="black")
    dr.text((w / 2 - 20, h - 20), "epoch", fill="black")
    dr.text((m, 20), title, fill="black")
    if len(train) > 1:
        dr.line([pt(i + 1, v) for i, v in enumerate(train)], fill=(40, 80, 200), width=1)
    if test:
        steps = []
        for i, v in enumerate(test):
            steps += [pt(i * test_freq, v), pt((i + 1) * test_freq, v)]
        dr.line(steps, fill=(200, 40, 40), width=2)
    dr.text((w - m - 120, m + 8), "train", fill=(40, 80, 200))
    dr.text((w - m - 120, m + 22), "test", fill=(200, 40, 40))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out


# --------------------------------------------------------------------------------------
# Predictions


def predictions(layers: dict[str, dict[str, Any]], provider, softmax: str, *, count: int = 8,
                only_errors: bool = False, seed: int = 0, backend: str = "numpy"
                ) -> list[dict[str, Any]]:
    """Top-5 labels of ``count`` random test images (of one test batch), test pass."""
    if softmax not in layers or layers[softmax]["type"] != "softmax":
        raise ConfigError(f"--show-preds needs a softmax layer name (softmax layers: "
                          f"{', '.join(n for n, d in layers.items() if d['type'] == 'softmax')})")
    engine = Engine(layers, backend=backend, seed=seed)
    _, num, (data, labels) = provider.get_next_batch()[:3]
    probs = engine.features([data, labels], [softmax])[softmax]       # (cases, classes)
    truth = labels.reshape(-1).astype(int)
    top = np.argsort(-probs, axis=1, kind="stable")
    pool = np.arange(probs.shape[0])
    if only_errors:
        pool = pool[top[:, 0] != truth]
    rng = np.random.default_rng(seed)
    pick = rng.choice(pool, size=min(count, pool.size), replace=False) if pool.size else pool
    names = provider.label_names() if hasattr(provider, "label_names") else None
    rows = []
    for i in sorted(pick):
        best = top[i, :5]
        rows.append({
            "batch": int(num), "index": int(i), "true": int(truth[i]),
            "true_name": _name(names, truth[i]),
            "top5": [(int(k), _name(names, k), float(probs[i, k])) for k in best],
            "image": data[:, i],
        })
    return rows


def _name(names, k) -> str:
    if not names:
        return str(int(k))
    return str(names[int(k)]).split(",")[0]


def preds_png(rows: list[dict[str, Any]], provider, out: str | Path) -> Path:
    """Each image with a bar chart of its five best labels; the true one in red."""
    from PIL import Image, ImageDraw

    cw, ch = 360, 150
    img = Image.new("RGB", (cw * 2, ch * math.ceil(len(rows) / 2) or ch), "white")
    dr = ImageDraw.Draw(img)
    for k, r in enumerate(rows):
        x0, y0 = (k % 2) * cw, (k // 2) * ch
        pic = provider.plottable(r["image"].reshape(-1, 1))[0]
        thumb = Image.fromarray((pic * 255).round().astype(np.uint8)).resize((112, 112),
                                                                            Image.NEAREST)
        img.paste(thumb, (x0 + 8, y0 + 8))
        dr.text((x0 + 8, y0 + 124), f"true: {r['true_name']}"[:40], fill="black")
        for j, (label, name, p) in enumerate(r["top5"]):
            yy = y0 + 12 + j * 22
            color = (200, 40, 40) if label == r["true"] else (60, 90, 200)
            dr.rectangle([x0 + 130, yy, x0 + 130 + int(200 * p), yy + 14], fill=color)
            dr.text((x0 + 134, yy + 1), f"{name[:24]} {p:.2f}", fill="black")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out


# --------------------------------------------------------------------------------------
# Command line (2012 option names)


def options_parser() -> OptionsParser:
    op = OptionsParser()
    op.add_option("f", "load_file", StringOptionParser, "Checkpoint to show")
    op.add_option("show-cost", "show_cost", StringOptionParser, "Cost layer to plot", default="")
    op.add_option("cost-idx", "cost_idx", IntegerOptionParser, "Cost value to plot "
                  "(0 = NLL, 1 = top-1, 2 = top-k)", default=0)
    op.add_option("show-filters", "show_filters", StringOptionParser, "Layer whose weights to "
                  "draw", default="")
    op.add_option("input-idx", "input_idx", IntegerOptionParser, "Which input's weights",
                  default=0)
    op.add_option("norm-filters", "norm_filters", BooleanOptionParser, "Normalise each filter "
                  "separately", default=0)
    op.add_option("no-rgb", "no_rgb", BooleanOptionParser, "Draw channels separately",
                  default=0)
    op.add_option("channels", "channels", IntegerOptionParser, "Channels when drawing fc "
                  "weights as images", default=0)
    op.add_option("local-plane", "local_plane", IntegerOptionParser, "Which module of a local "
                  "layer", default=0)
    op.add_option("show-preds", "show_preds", StringOptionParser, "Softmax layer whose "
                  "predictions to show", default="")
    op.add_option("only-errors", "only_errors", BooleanOptionParser, "Show only misclassified "
                  "images", default=0)
    op.add_option("num-images", "num_images", IntegerOptionParser, "How many images for "
                  "--show-preds", default=8)
    op.add_option("data-path", "data_path", StringOptionParser, "Data path (default: the "
                  "checkpoint's)", default="")
    op.add_option("test-range", "test_batch_range", RangeOptionParser, "Test batch range "
                  "(default: the checkpoint's)", default=[])
    op.add_option("out", "out", StringOptionParser, "PNG file to write", default="")
    op.add_option("seed", "seed", IntegerOptionParser, "Which images to pick", default=0)
    return op


def run(argv: list[str], out=print) -> int:
    op = options_parser()
    o = op.parse(argv)
    v = {name: opt.value for name, opt in o.items()}
    if not (v["show_cost"] or v["show_filters"] or v["show_preds"]):
        raise OptionException("nothing to show: give --show-filters=LAYER, "
                              "--show-preds=SOFTMAX or --show-cost=COST")
    ck = ckpt.load_checkpoint(v["load_file"])
    ms, saved = ck["model_state"], ck["op"]
    layers = ms["layers"]
    if v["show_filters"]:
        imgs, desc = filter_images(layers, v["show_filters"], input_idx=v["input_idx"],
                                   norm_filters=bool(v["norm_filters"]), no_rgb=bool(v["no_rgb"]),
                                   channels=v["channels"], local_plane=v["local_plane"])
        target = v["out"] or f"filters-{desc.replace('+', '_')}.png"
        path = grid_png(imgs, target)
        out(f"{desc}: {imgs.shape[0]} filter images of {imgs.shape[1]}x{imgs.shape[2]}, "
            f"{FILTERS_PER_ROW} per row -> {path}")
    if v["show_cost"]:
        train, test = cost_series(ms, v["show_cost"], v["cost_idx"])
        freq = _saved(saved, "testing_freq", 50)
        per_epoch = len(_saved(saved, "train_batch_range", [1]))
        target = v["out"] or f"cost-{v['show_cost']}.png"
        if v["show_filters"]:
            target = str(Path(target).with_name(Path(target).stem + "-cost.png"))
        path = cost_png(train, test, freq, per_epoch, target,
                        f"{v['show_cost']} [{v['cost_idx']}]")
        out(f"{v['show_cost']}[{v['cost_idx']}]: {len(train)} training values, {len(test)} "
            f"test values; last train {train[-1] if train else float('nan'):.6f}, last test "
            f"{test[-1] if test else float('nan'):.6f} -> {path}")
    if v["show_preds"]:
        data_path = v["data_path"] or _saved(saved, "data_path", "")
        test_range = v["test_batch_range"] or _saved(saved, "test_batch_range", None)
        if not data_path:
            raise DataError("--show-preds needs test data: pass --data-path")
        dp_params = {"crop_border": _saved(saved, "crop_border", 4), "multiview_test": 0,
                     "color_noise": 0.0, "seed": v["seed"]}
        provider = convdata.get_instance(data_path, test_range, type=_saved(saved, "dp_type", ""),
                                         dp_params=dp_params, test=True)
        rows = predictions(layers, provider, v["show_preds"], count=v["num_images"],
                           only_errors=bool(v["only_errors"]), seed=v["seed"],
                           backend=_saved(saved, "backend", "numpy"))
        for r in rows:
            best = ", ".join(f"{name} {p:.3f}" for _, name, p in r["top5"])
            out(f"batch {r['batch']} image {r['index']}: true {r['true_name']}; top-5: {best}")
        if v["out"]:                        # the picture is optional: stdout has the numbers
            target = v["out"]
            if v["show_filters"] or v["show_cost"]:
                target = str(Path(target).with_name(Path(target).stem + "-preds.png"))
            out(f"-> {preds_png(rows, provider, target)}")
    return 0


def _saved(op: Any, name: str, default: Any) -> Any:
    try:
        value = op.options[name].value
    except (AttributeError, KeyError):
        return default
    return default if value is None else value


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(options_parser().usage("shownet.py"))
        return 0 if argv else 2
    try:
        return run(argv)
    except AlexNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
