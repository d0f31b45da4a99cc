"""The 2012 checkpoint format: write, read safely, check, and convert to safetensors.

Format (re-created from cc2011 ``gpumodel.py`` L250-L277 and the 2012 ``convnet.py``
L37-L42, L158-L162; docs/reference/formats.md#formats-checkpoints and
docs/reference/recreation.md#recreation-checkpoints). A checkpoint is the file
``<save-path>/ConvNet__<YYYY-MM-DD_HH.MM.SS>/<epoch>.<batchnum>`` holding one pickled
dict with exactly two keys:

``model_state``
    ``epoch``, ``batchnum`` (the last trained batch), ``train_outputs`` and
    ``test_outputs`` (lists of ``(dict cost name -> [values], cases)``, values already
    divided by cases as 2012 printing left them), and ``layers``: layer name -> the 2012
    layer dict, with ``weights``/``weightsInc`` (lists, one float32 matrix per input) and
    ``biases``/``biasesInc``. As in 2012, conv ``padding`` is stored NEGATED and every
    dict lists its input dicts under ``inputLayers`` (shared objects in the pickle).
``op``
    the :class:`alexnet.original.options.OptionsParser` with every option's value.

It is pickled with protocol 2 (Python 2 can read it) and written atomically (temp
file, fsync, rename): an interrupted save leaves the previous checkpoint, never half of
one. Reading goes through :mod:`alexnet.original.pickling`'s allow-list: a checkpoint
can build numpy arrays, containers and option objects, nothing else.

The safetensors export holds the weights in the port's layouts (per-cfg-layer tensors
``<layer>.weights[<i>]``/``<layer>.biases`` with ``velocity/...`` increments, or a port
model's ``state_dict`` keys); every layout conversion is :mod:`alexnet.layouts2012`'s,
and all of them are pure reshapes and transposes, so a round trip is bit-exact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.errors import CheckpointError, ConfigError
from alexnet.io import atomic_path
from alexnet.layouts2012 import (
    WEIGHT_TYPES,
    layers_to_state_dict,
    layers_to_tensors,
    state_dict_to_layers,
    tensors_to_layers,
)
from alexnet.limits import regular_file
from alexnet.original import pickling
from alexnet.original.initial_weights import check_arrays, init_weights, matrix_shapes
from alexnet.original.layer import parse_layers

_CKPT_NAME = re.compile(r"^\d+\.\d+$")


# --------------------------------------------------------------------------------------
# Layer dicts: engine form <-> 2012 form


def to_2012_layers(layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Shallow copies in the 2012 form (negated padding, inputLayers); arrays shared."""
    out: dict[str, dict[str, Any]] = {}
    for name, d in layers.items():
        c = dict(d)
        if c.get("type") in ("conv", "local") and "padding" in c:
            c["padding"] = [-abs(int(p)) for p in c["padding"]]
        out[name] = c
    for c in out.values():
        if "inputs" in c:
            c["inputLayers"] = [out[i] for i in c["inputs"]]
    return out


def from_2012_layers(layers: dict[str, dict[str, Any]], source: str) -> dict[str, dict[str, Any]]:
    """The engine form of stored dicts (positive padding, no inputLayers). A 2011-style
    list of layer dicts (cc2011 convnet.py L54-L60) is accepted too."""
    if isinstance(layers, list) and all(isinstance(d, dict) and "name" in d for d in layers):
        # 2011 referred to inputs by their index in that list (cc2011 layer.py L333)
        names = [d["name"] for d in layers]
        fixed = {}
        for d in layers:
            d = dict(d)
            if "inputs" in d:
                d["inputs"] = [names[i] if isinstance(i, int) and 0 <= i < len(names) else i
                               for i in d["inputs"]]
            fixed[d["name"]] = d
        layers = fixed
    if not isinstance(layers, dict) or not layers:
        raise CheckpointError(f"{source}: model_state['layers'] is not a dict of layers")
    out: dict[str, dict[str, Any]] = {}
    for name, d in layers.items():
        if not isinstance(d, dict) or "type" not in d:
            raise CheckpointError(f"{source}: layer {name!r} is not a 2012 layer dict")
        c = {k: v for k, v in d.items() if k != "inputLayers"}
        if c["type"] in ("conv", "local") and "padding" in c:
            c["padding"] = [abs(int(p)) for p in c["padding"]]
        out[str(name)] = c
    for name, c in out.items():
        for i in c.get("inputs", []):
            if i not in out:
                raise CheckpointError(f"{source}: layer {name!r} reads {i!r}, which the "
                                      "checkpoint does not contain")
    try:
        check_arrays(out, source)
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    return out


# --------------------------------------------------------------------------------------
# Files


def checkpoint_dir_name(now: float | None = None) -> str:
    """``ConvNet__<timestamp>``: model name, '_', no filename options, '_', time."""
    import time

    return "ConvNet__" + time.strftime("%Y-%m-%d_%H.%M.%S", time.localtime(now))


def save_checkpoint(folder: str | Path, model_state: dict[str, Any], op: Any, *,
                    max_filesize_mb: float = 0, zipped: bool = False) -> Path:
    """Write ``<folder>/<epoch>.<batchnum>`` atomically; then, like 2012, delete older
    checkpoints while the folder holds more than ``max_filesize_mb`` (0: keep one)."""
    folder = Path(folder)
    state = dict(model_state)
    state["layers"] = to_2012_layers(model_state["layers"])
    name = f"{state['epoch']}.{state['batchnum']}"
    path = folder / name
    pickling.dump_atomic({"model_state": state, "op": op}, path, zipped=zipped)
    older = sorted((p for p in folder.iterdir() if _CKPT_NAME.match(p.name) and p.name != name),
                   key=_natural_key)
    for p in older:
        total = sum(q.stat().st_size for q in folder.iterdir() if _CKPT_NAME.match(q.name))
        if total <= max_filesize_mb * 1024 * 1024:
            break
        p.unlink()
    return path


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def find_checkpoint(path: str | Path) -> Path:
    """A file, or the newest ``<epoch>.<batch>`` file of a run folder (natural sort)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.is_file() and _CKPT_NAME.match(p.name)),
                       key=_natural_key)
        if not files:
            raise CheckpointError(f"{path}: no checkpoint files (<epoch>.<batch>) in this folder")
        return files[-1]
    raise CheckpointError(f"{path}: no such checkpoint file or folder")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely and check its structure; layers come back in engine form.

    Returns ``{'model_state': ..., 'op': ..., 'path': Path}``.
    """
    f = find_checkpoint(path)
    obj = pickling.load(f, what="checkpoint", error=CheckpointError)
    src = str(f)
    if not isinstance(obj, dict) or "model_state" not in obj:
        raise CheckpointError(f"{src}: not a 2012 checkpoint (expected a dict with "
                              "'model_state' and 'op')")
    ms = obj["model_state"]
    if not isinstance(ms, dict):
        raise CheckpointError(f"{src}: model_state is not a dict")
    for key in ("layers", "epoch", "batchnum"):
        if key not in ms:
            raise CheckpointError(f"{src}: model_state has no {key!r}")
    ms = dict(ms)
    ms["layers"] = from_2012_layers(ms["layers"], src)
    ms.setdefault("train_outputs", [])
    ms.setdefault("test_outputs", [])
    return {"model_state": ms, "op": obj.get("op"), "path": f}


def check_same_net(layers: dict[str, dict[str, Any]], graph_layers: dict[str, dict[str, Any]],
                   source: str) -> None:
    """Refuse a checkpoint whose layers do not match a definition (another net)."""
    a = {n: d["type"] for n, d in layers.items()}
    b = {n: d["type"] for n, d in graph_layers.items()}
    if a != b:
        missing = sorted(set(b) - set(a))
        extra = sorted(set(a) - set(b))
        differ = sorted(n for n in set(a) & set(b) if a[n] != b[n])
        what = (f"missing layers {missing[:5]}" if missing else f"unexpected layers {extra[:5]}"
                if extra else f"layer types differ at {differ[:5]}")
        raise CheckpointError(f"{source}: checkpoint is from another network ({what})")
    for n, d in graph_layers.items():
        if d["type"] not in WEIGHT_TYPES:
            continue
        want, bshape, _ = matrix_shapes(d)
        have = [tuple(w.shape) for w in layers[n]["weights"]]
        if have != [tuple(s) for s in want] or tuple(layers[n]["biases"].shape) != bshape:
            raise CheckpointError(f"{source}: checkpoint is from another network (layer {n}: "
                                  f"weights {have}, this definition needs {want})")


def save_layers(layers: dict[str, dict[str, Any]], folder: str | Path) -> Path:
    """Weights alone (engine-form layer dicts) as a 2012 checkpoint ``<folder>/0.0``,
    without options: what a conversion hands to the 2012 side."""
    state = {"layers": layers, "epoch": 0, "batchnum": 0, "train_outputs": [],
             "test_outputs": []}
    return save_checkpoint(folder, state, None)


def load_layers(path: str | Path, graph_layers: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, Any]]:
    """A checkpoint's layers (engine form), refused unless they are ``graph_layers``' net."""
    ck = load_checkpoint(path)
    layers = ck["model_state"]["layers"]
    check_same_net(layers, graph_layers, str(ck["path"]))
    return layers


def through_checkpoint(layers: dict[str, dict[str, Any]], folder: str | Path
                       ) -> dict[str, dict[str, Any]]:
    """``layers`` written as a 2012 checkpoint in ``folder`` and read back the way a
    user's file is read (restricted unpickler, structure and shape checks)."""
    return load_layers(save_layers(layers, folder), layers)


# --------------------------------------------------------------------------------------
# safetensors export and import


def export_safetensors(ckpt_path: str | Path, out: str | Path, *, model: Any = None) -> Path:
    """A 2012 checkpoint -> a safetensors file.

    Without ``model``: per-cfg-layer tensors (+ velocities). With a port model, or a
    :class:`~alexnet.layouts2012.PortLayout` (e.g. ``arch_layout("alexnet2012")``): its
    ``state_dict`` keys.
    """
    from safetensors.numpy import save_file

    ck = load_checkpoint(ckpt_path)
    ms = ck["model_state"]
    layers = ms["layers"]
    meta = {"format": "alexnet-2012-weights", "source": str(ck["path"]),
            "epoch": str(ms["epoch"]), "batchnum": str(ms["batchnum"]),
            "layers": json.dumps([n for n, d in layers.items() if d["type"] in WEIGHT_TYPES])}
    if model is None:
        tensors = layers_to_tensors(layers)
        meta["naming"] = "cfg-layers"
    else:
        tensors = layers_to_state_dict(model, layers, str(ck["path"]))
        meta["naming"] = "state_dict"
        meta["arch"] = str(getattr(model, "arch", type(model).__name__))
    out = Path(out)
    with atomic_path(out, mode="umask") as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return out


#: The prefix of the weights in a port checkpoint's tensors file (alexnet.modern.checkpoint).
PORT_WEIGHTS = "model/"
_CFG_STATE_KEY = re.compile(r"^layers\.([^.]+)\.(?:weights\.(\d+)|(biases))$")


def from_port_checkpoint(tensors: dict[str, np.ndarray], *, cfg_naming: bool
                         ) -> dict[str, np.ndarray]:
    """A port checkpoint's tensors file (``model/<state_dict key>``, ``velocity/...``,
    ``data/...``) as the names an import expects.

    With ``cfg_naming`` (a cfg-built port), ``model/layers.conv1.weights.0`` becomes the
    matrix name ``conv1.weights[0]`` and the velocities, already named so, are kept;
    otherwise (a hand-written port given by ``--arch``) the state_dict keys are kept.
    """
    out: dict[str, np.ndarray] = {}
    for k, v in tensors.items():
        if k.startswith(PORT_WEIGHTS):
            key = k.removeprefix(PORT_WEIGHTS)
            m = _CFG_STATE_KEY.match(key) if cfg_naming else None
            if m:
                name, i = m.group(1), m.group(2)
                key = f"{name}.biases" if m.group(3) else f"{name}.weights[{i}]"
            out[key] = v
        elif cfg_naming and k.startswith("velocity/"):
            out[k] = v
    return out


def import_safetensors(path: str | Path, layers: dict[str, dict[str, Any]], *,
                       model: Any = None) -> None:
    """The inverse of :func:`export_safetensors`: fill ``layers`` (the engine dicts of the
    matching definition) from the file. With ``model`` (a port model or layout), the file
    holds its state_dict."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    regular_file(path, what="safetensors file", error=CheckpointError)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if any(k.startswith(PORT_WEIGHTS) for k in tensors):
        tensors = from_port_checkpoint(tensors, cfg_naming=model is None)
    for k, v in tensors.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise CheckpointError(f"{path}: tensor {k!r} holds NaN or infinity; refusing "
                                  "to import it")
    if model is None:
        tensors_to_layers(tensors, layers, str(path))
        return
    state_dict_to_layers(model, tensors, layers, str(path))
    try:
        check_arrays(layers, str(path))
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None


def import_as_checkpoint(weights: str | Path, layer_def: str | Path, layer_params: str | Path,
                         save_path: Path, op: Any, *, model: Any = None) -> Path:
    """Make a 2012 checkpoint (zero momentum, epoch 1, before the first batch) from a
    safetensors file, for the definition given; resume it with ``-f``.

    ``op`` is the training driver's options parser (``ConvNet.get_options_parser()``),
    which the checkpoint stores with the values of this definition.
    """
    graph = parse_layers(layer_def, layer_params)
    layers = {name: lay.d for name, lay in graph.layers.items()}
    init_weights(layers, seed=0)
    import_safetensors(weights, layers, model=model)
    for name, value in (("layer_def", str(layer_def)), ("layer_params", str(layer_params)),
                        ("save_path", str(save_path)), ("num_gpus", graph.num_gpus)):
        op.set_value(name, value, parse=False)
    for o in op.options.values():
        if not o.value_given:
            o.set_default()
    op.eval_expr_defaults()
    state = {"layers": layers, "epoch": 1, "batchnum": 0, "train_outputs": [],
             "test_outputs": []}
    return save_checkpoint(Path(save_path) / checkpoint_dir_name(), state, op)
