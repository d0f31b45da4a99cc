"""The 2012 checkpoint format: write, read safely, check, and convert to safetensors.

Format (re-created from cc2011 ``gpumodel.py`` L250-L277 and the 2012 ``convnet.py``
L37-L42, L158-L162; fact sheet original-2012.md section 4). A checkpoint is the file
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

Array layouts and their torch counterparts (the mapping used by the conversion, same
as ``alexnet.modern.matrices2012``):

================  ==========================================  ===========================
2012 matrix       2012 shape (memory order)                   torch tensor
================  ==========================================  ===========================
conv weights[i]   (C'*S*S, F) C order, rows (c', y, x)        (F, C', S, S) = W.T reshaped
local weights[i]  (M*C'*S*S, F) C order                       (M, C'*S*S, F), same bytes
fc weights[i]     (numIn, numOut) Fortran                     (numOut, numIn) = W.T
conv biases       (F, 1); unshared (F*M, 1)                   (F,); unshared (F, MY, MX)
local biases      (F*M, 1)                                    (F, MY, MX)
fc biases         (1, numOut) Fortran                         (numOut,)
================  ==========================================  ===========================

In a safetensors file the tensors are named ``<layer>.weights[<i>]`` and
``<layer>.biases`` (the 2012 layer names of the cfg, i.e. the names the modern port's
cfg-built nets use in ``param_groups``), and the increment buffers
``velocity/<layer>.weights[<i>]`` / ``velocity/<layer>.biases``. For the modern port's
hand-written :class:`AlexNet2012` (towers held as groups) the conversion goes through
its ``matrix_pieces`` via ``alexnet.modern.matrices2012`` and the file holds the
model's ``state_dict`` keys. All conversions are pure reshapes and transposes, so a
round trip is bit-exact.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from alexnet.original import pickling
from alexnet.original.initial_weights import check_arrays, matrix_shapes

from alexnet.errors import CheckpointError, ConfigError

WEIGHT_TYPES = ("conv", "local", "fc")
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


# --------------------------------------------------------------------------------------
# safetensors conversion


def _torch_layout(d: dict[str, Any], kind: str, a: np.ndarray, i: int = 0) -> np.ndarray:
    t = d["type"]
    if kind == "weights":
        if t == "conv":
            s = d["filterSize"][i]
            return np.ascontiguousarray(a.T).reshape(d["filters"], d["filterChannels"][i], s, s)
        if t == "local":
            return np.ascontiguousarray(a).reshape(d["modules"], -1, d["filters"])
        return np.ascontiguousarray(a.T)
    if t == "fc" or (t == "conv" and d.get("sharedBiases", True)):
        return np.ascontiguousarray(a).reshape(-1)
    return np.ascontiguousarray(a).reshape(d["filters"], d["modulesX"], d["modulesX"])


def _from_torch_layout(d: dict[str, Any], kind: str, t: np.ndarray, i: int = 0) -> np.ndarray:
    shapes, bshape, order = matrix_shapes(d)
    t = np.asarray(t, dtype=np.float32)
    if kind == "weights":
        rows, cols = shapes[i]
        if d["type"] == "conv":
            return np.ascontiguousarray(t.reshape(cols, rows).T)
        if d["type"] == "local":
            return np.ascontiguousarray(t.reshape(rows, cols))
        return np.asfortranarray(t.reshape(cols, rows).T)
    out = t.reshape(bshape)
    return np.asfortranarray(out) if order == "F" else np.ascontiguousarray(out)


def _expected_torch_shape(d: dict[str, Any], kind: str, i: int = 0) -> tuple[int, ...]:
    shapes, bshape, _ = matrix_shapes(d)
    dummy = np.zeros(shapes[i] if kind == "weights" else bshape, dtype=np.float32)
    return _torch_layout(d, kind, dummy, i).shape


def layers_to_tensors(layers: dict[str, dict[str, Any]], *, velocity: bool = True
                      ) -> dict[str, np.ndarray]:
    """Per-cfg-layer tensors in torch layout (see the module docstring for names)."""
    out: dict[str, np.ndarray] = {}
    for name, d in layers.items():
        if d["type"] not in WEIGHT_TYPES:
            continue
        for i, (w, inc) in enumerate(zip(d["weights"], d["weightsInc"], strict=True)):
            out[f"{name}.weights[{i}]"] = _torch_layout(d, "weights", w, i)
            if velocity:
                out[f"velocity/{name}.weights[{i}]"] = _torch_layout(d, "weights", inc, i)
        out[f"{name}.biases"] = _torch_layout(d, "biases", d["biases"])
        if velocity:
            out[f"velocity/{name}.biases"] = _torch_layout(d, "biases", d["biasesInc"])
    return out


def tensors_to_layers(tensors: dict[str, np.ndarray], layers: dict[str, dict[str, Any]],
                      source: str) -> None:
    """Fill the weight arrays of ``layers`` (engine dicts of the right net) from tensors
    named as by :func:`layers_to_tensors`; velocities default to zeros when absent."""
    for name, d in layers.items():
        if d["type"] not in WEIGHT_TYPES:
            continue
        n = len(d["inputs"])
        ws, incs = [], []
        for i in range(n):
            key = f"{name}.weights[{i}]"
            ws.append(_get(tensors, key, d, "weights", i, source))
            vkey = "velocity/" + key
            incs.append(_get(tensors, vkey, d, "weights", i, source) if vkey in tensors
                        else np.zeros_like(ws[-1]))
        d["weights"], d["weightsInc"] = ws, incs
        d["biases"] = _get(tensors, f"{name}.biases", d, "biases", 0, source)
        vkey = f"velocity/{name}.biases"
        d["biasesInc"] = (_get(tensors, vkey, d, "biases", 0, source) if vkey in tensors
                          else np.zeros_like(d["biases"]))


def _get(tensors, key, d, kind, i, source) -> np.ndarray:
    if key not in tensors:
        raise CheckpointError(f"{source}: tensor {key!r} missing (is it from another network?)")
    t = np.asarray(tensors[key])
    want = _expected_torch_shape(d, kind, i)
    if tuple(t.shape) != tuple(want):
        raise CheckpointError(f"{source}: tensor {key!r} has shape {tuple(t.shape)}, this "
                              f"network needs {tuple(want)}")
    if t.dtype != np.float32:
        raise CheckpointError(f"{source}: tensor {key!r} has dtype {t.dtype}, expected float32")
    return _from_torch_layout(d, kind, t, i)


def export_safetensors(ckpt_path: str | Path, out: str | Path, *, model: Any = None) -> Path:
    """A 2012 checkpoint -> a safetensors file.

    Without ``model``: per-cfg-layer tensors (+ velocities). With a modern port model that
    knows its 2012 matrices (``matrix_pieces``): its ``state_dict`` keys, via
    ``alexnet.modern.matrices2012.from_2012_matrices``.
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
        tensors = _model_state_from_2012(model, layers, str(ck["path"]))
        meta["naming"] = "state_dict"
        meta["arch"] = str(getattr(model, "arch", type(model).__name__))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, out)
    return out


def _mats_2012(layers: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    mats: dict[str, np.ndarray] = {}
    for name, d in layers.items():
        if d["type"] in WEIGHT_TYPES:
            for i, w in enumerate(d["weights"]):
                mats[f"{name}.weights[{i}]"] = w
            mats[f"{name}.biases"] = d["biases"]
    return mats


def _model_state_from_2012(model: Any, layers: dict[str, dict[str, Any]], source: str
                           ) -> dict[str, np.ndarray]:
    return layers_to_state_dict(model, layers, source)


def layers_to_state_dict(model: Any, layers: dict[str, dict[str, Any]],
                         source: str = "2012 layers") -> dict[str, np.ndarray]:
    """The modern model's state_dict (numpy) holding the 2012 layers' weights."""
    from alexnet.modern.matrices2012 import from_2012_matrices

    by_group = from_2012_matrices(model, _mats_2012(layers), load=False, source=source)
    names = {id(p): k for k, p in model.named_parameters()}
    groups = {g["name"]: g["param"] for g in model.param_groups()}
    out = {}
    for gname, t in by_group.items():
        key = names[id(groups[gname])]
        out[key] = t.detach().cpu().numpy().copy()
    for key, buf in model.state_dict().items():
        if key not in out:
            out[key] = buf.detach().cpu().numpy().copy()
    return out


def import_safetensors(path: str | Path, layers: dict[str, dict[str, Any]], *,
                       model: Any = None) -> None:
    """The inverse of :func:`export_safetensors`: fill ``layers`` (the engine dicts of the
    matching definition) from the file. With ``model``, the file holds its state_dict."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if model is None:
        tensors_to_layers(tensors, layers, str(path))
        return
    state_dict_to_layers(model, tensors, layers, str(path))


def state_dict_to_layers(model: Any, tensors: dict[str, np.ndarray],
                         layers: dict[str, dict[str, Any]], source: str = "state_dict") -> None:
    """Fill 2012 layer dicts from a modern model's state_dict (numpy arrays)."""
    import torch
    from alexnet.modern.matrices2012 import to_2012_matrices

    path = source
    names = {id(p): k for k, p in model.named_parameters()}
    values = {}
    for g in model.param_groups():
        key = names[id(g["param"])]
        if key not in tensors:
            raise CheckpointError(f"{path}: tensor {key!r} missing")
        values[g["name"]] = torch.from_numpy(tensors[key])
    mats = to_2012_matrices(model, values)
    for name, d in layers.items():
        if d["type"] not in WEIGHT_TYPES:
            continue
        d["weights"] = [mats[f"{name}.weights[{i}]"] for i in range(len(d["inputs"]))]
        d["biases"] = mats[f"{name}.biases"]
        d["weightsInc"] = [np.zeros_like(w) for w in d["weights"]]
        d["biasesInc"] = np.zeros_like(d["biases"])
    try:
        check_arrays(layers, str(path))
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None


def import_as_checkpoint(weights: str | Path, layer_def: str | Path, layer_params: str | Path,
                         save_path: Path, *, model: Any = None) -> Path:
    """Make a 2012 checkpoint (zero momentum, epoch 1, before the first batch) from a
    safetensors file, for the definition given; resume it with ``-f``."""
    from alexnet.original.convnet import ConvNet
    from alexnet.original.initial_weights import init_weights
    from alexnet.original.layer import parse_layers

    graph = parse_layers(layer_def, layer_params)
    layers = {name: lay.d for name, lay in graph.layers.items()}
    init_weights(layers, seed=0)
    import_safetensors(weights, layers, model=model)
    op = ConvNet.get_options_parser()
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
