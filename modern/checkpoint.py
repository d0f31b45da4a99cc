"""Checkpoints: safetensors tensors + one JSON document, written so a crash cannot tear them.

A checkpoint is a pair in a folder (by default ``runs/NAME/checkpoints/``)::

    ckpt-e0003-b000000.safetensors   model/<state_dict key>   the weights
                                     velocity/<tensor name>   the update rule's v (the
                                                              2012 ``weightsInc``)
                                     data/mean, data/pca_*    what the inputs need
    ckpt-e0003-b000000.json          arch, model config, position (epoch, batch, step),
                                     RNG states, the full run config, the history so
                                     far, and the tensors file's name + sha256

The tensors file is written first, the JSON last, each atomically (temp file, fsync,
``os.replace``); the JSON names the tensors file with its sha256, so a JSON on disk
always describes a complete tensors file, and a tensors file without a JSON is
ignored. Loading reads only safetensors and JSON: nothing in a checkpoint can execute
code (the 2012 checkpoints were pickles).

Nothing read is trusted before it is checked: every JSON field the package uses
(``position``, ``rng``, ``config``, ``model_config``, ...) has its type and range checked
by :func:`validate_meta`; a network rebuilt from ``model_config`` is first built on
torch's ``meta`` device (no memory) and refused when its parameters pass
:data:`alexnet.limits.MAX_PARAM_BYTES`; weights whose dtype differs from the model's, or
that hold NaN or infinity, are refused by :func:`restore` instead of being cast or used.
Interrupted writes leave ``.*.tmp`` files, swept by the next save (older than an hour).

Positions count completed work: ``epoch`` = epochs finished, ``batch`` = minibatches
finished in the epoch under way, so resuming continues with the next minibatch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alexnet.errors import AlexNetError, CheckpointError
from alexnet.io import atomic_write_bytes, atomic_write_text, sweep_stale_tmp
from alexnet.limits import MAX_DIMENSION, MAX_PARAM_BYTES, MAX_TEXT_BYTES, read_bytes
from alexnet.modern import build_model

FORMAT = "alexnet-modern-checkpoint"
VERSION = 1
_STEM = re.compile(r"^ckpt-e(\d+)-b(\d+)$")


# --------------------------------------------------------------------------------------
# RNG states as JSON


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def get_rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy's global and Python's ``random`` states, JSON-safe."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    out: dict[str, Any] = {
        "torch": _b64(torch.get_rng_state()),
        "numpy": {"name": name, "keys": [int(k) for k in keys], "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": [py[0], list(py[1]), py[2]],
    }
    if torch.cuda.is_available():
        out["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return out


def check_rng_state(state: Any, where: str) -> None:
    """Refuse a malformed ``rng`` field with one line (what :func:`set_rng_state` needs)."""
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{where}: field 'rng' {what} (the file is damaged or was "
                               "edited; resume from another checkpoint)")

    if not isinstance(state, dict):
        raise bad("is not an object")
    if not isinstance(state.get("torch"), str):
        raise bad("has no 'torch' state (a base64 string)")
    try:
        base64.b64decode(state["torch"], validate=True)
    except ValueError:
        raise bad("'torch' is not base64") from None
    n = state.get("numpy")
    if not (isinstance(n, dict) and n.get("name") == "MT19937"
            and isinstance(n.get("keys"), list) and len(n["keys"]) == 624
            and all(isinstance(k, int) and 0 <= k < 2**32 for k in n["keys"])
            and isinstance(n.get("pos"), int) and 0 <= n["pos"] <= 624
            and isinstance(n.get("has_gauss"), int)
            and isinstance(n.get("cached_gaussian"), int | float)):
        raise bad("'numpy' is not an MT19937 state (624 keys, pos, has_gauss, "
                  "cached_gaussian)")
    py = state.get("python")
    if not (isinstance(py, list) and len(py) == 3 and isinstance(py[0], int)
            and isinstance(py[1], list) and len(py[1]) == 625
            and all(isinstance(k, int) and 0 <= k < 2**32 for k in py[1])
            and (py[2] is None or isinstance(py[2], int | float))):
        raise bad("'python' is not a random.getstate() (version, 625 ints, gauss)")
    if "cuda" in state and not (isinstance(state["cuda"], list)
                                and all(isinstance(c, str) for c in state["cuda"])):
        raise bad("'cuda' is not a list of base64 strings")


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(_unb64(state["torch"]))
    n = state["numpy"]
    np.random.set_state((n["name"], np.array(n["keys"], dtype=np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        states = [_unb64(s) for s in state["cuda"]]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


# --------------------------------------------------------------------------------------
# Writing


def stem_for(epoch: int, batch: int) -> str:
    return f"ckpt-e{epoch:04d}-b{batch:06d}"


def save_checkpoint(
    folder: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: Any | None,
    position: dict[str, int],
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    keep: int = 2,
) -> Path:
    """Write one checkpoint pair; keep the newest ``keep`` pairs; return the JSON path."""
    from safetensors.torch import save as st_save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_stale_tmp(folder)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{folder}: refusing to save a checkpoint whose {k} holds "
                                  "NaN or infinity (the run diverged; lower the learning "
                                  "rates or resume from an earlier checkpoint)")
        tensors[f"model/{k}"] = v.detach().cpu().contiguous().clone()
    if optimizer is not None:
        for k, v in optimizer.velocities().items():
            tensors[f"velocity/{k}"] = v.detach().cpu().contiguous().clone()
    for k, v in (extra_tensors or {}).items():
        tensors[k] = torch.as_tensor(v).detach().cpu().contiguous().clone()
    stem = stem_for(int(position["epoch"]), int(position["batch"]))
    blob = st_save(tensors)
    st_name = stem + ".safetensors"
    sha = atomic_write_bytes(folder / st_name, blob)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "arch": getattr(model, "arch", type(model).__name__),
        "model_config": getattr(model, "config", {}),
        "position": {k: int(v) for k, v in position.items()},
        "tensors": {"file": st_name, "sha256": sha, "bytes": len(blob), "count": len(tensors)},
        "optimizer": None if optimizer is None else {
            "rule": "paper-2012",
            "groups": [{k: g[k] for k in ("name", "layer", "kind", "eps", "base_eps", "mom", "wc")}
                       for g in optimizer.param_groups],
        },
        "rng": get_rng_state(),
        "config": config,
        "state": state or {},
    }
    json_path = folder / (stem + ".json")
    atomic_write_text(json_path, json.dumps(meta, indent=1))
    _prune(folder, keep=max(1, keep), protect=stem)
    return json_path


def _pairs(folder: Path) -> list[tuple[tuple[int, int], Path]]:
    out = []
    for p in folder.glob("ckpt-e*-b*.json"):
        m = _STEM.match(p.stem)
        if m:
            out.append(((int(m.group(1)), int(m.group(2))), p))
    return sorted(out)


def _prune(folder: Path, keep: int, protect: str) -> None:
    pairs = _pairs(folder)
    for _, p in pairs[:-keep]:
        if p.stem == protect:
            continue
        p.unlink(missing_ok=True)  # JSON first: a pair is only valid with its JSON
        (folder / (p.stem + ".safetensors")).unlink(missing_ok=True)
    live = {p.stem for _, p in _pairs(folder)}
    for st in folder.glob("ckpt-e*-b*.safetensors"):
        if st.stem not in live and st.stem != protect:
            st.unlink(missing_ok=True)  # orphan of an interrupted save


# --------------------------------------------------------------------------------------
# Reading


@dataclass
class Checkpoint:
    path: Path  # the JSON
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    @property
    def arch(self) -> str:
        return str(self.meta.get("arch"))

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + "/")}


def find_checkpoint(path: str | Path) -> Path:
    """A run folder, a checkpoints folder, a .json or a .safetensors -> the JSON to load."""
    p = Path(path).expanduser()
    if p.is_file():
        if p.suffix == ".safetensors":
            j = p.with_suffix(".json")
            if not j.is_file():
                raise CheckpointError(f"{p}: no {j.name} next to it (the pair is incomplete)")
            return j
        if p.suffix == ".json":
            return p
        raise CheckpointError(f"{p}: expected a checkpoint .json/.safetensors or a run folder")
    if p.is_dir():
        for folder in (p, p / "checkpoints"):
            pairs = _pairs(folder) if folder.is_dir() else []
            if pairs:
                return pairs[-1][1]
        raise CheckpointError(f"{p}: no checkpoint (ckpt-e*-b*.json) in it or in checkpoints/")
    raise CheckpointError(f"{p}: no such checkpoint file or folder")


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and verify a checkpoint (JSON, sha256 of the tensors file, safetensors)."""
    from safetensors.torch import load as st_load

    jp = find_checkpoint(path)
    raw = read_bytes(jp, what="checkpoint JSON", error=CheckpointError,
                     max_bytes=MAX_TEXT_BYTES)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{jp}: unreadable checkpoint JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{jp}: not a {FORMAT} file (format={fmt!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{jp}: checkpoint version {meta.get('version')}, "
                              f"this alexnet reads version {VERSION}")
    validate_meta(jp, meta)
    info = meta["tensors"]
    name = str(info.get("file", ""))
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise CheckpointError(f"{jp}: bad tensors file name {name!r}")
    sp = jp.parent / name
    if not sp.exists():
        raise CheckpointError(f"{jp}: its tensors file {name} is missing")
    blob = read_bytes(sp, what="checkpoint tensors file", error=CheckpointError)
    sha = hashlib.sha256(blob).hexdigest()
    if sha != info.get("sha256"):
        raise CheckpointError(f"{sp}: sha256 {sha[:16]}..., the checkpoint JSON expects "
                              f"{str(info.get('sha256'))[:16]}... (truncated or modified)")
    try:
        tensors = st_load(blob)
    except Exception as exc:
        raise CheckpointError(f"{sp}: not a valid safetensors file ({exc})") from None
    return Checkpoint(path=jp, meta=meta, tensors=tensors)


def validate_meta(jp: Path, meta: dict[str, Any]) -> None:
    """Check the type and range of every field the package reads from a checkpoint JSON.

    A damaged or hand-edited field is one line naming the file and the field, never a
    ``KeyError`` or ``TypeError`` later, in the middle of a resumed run.
    """
    def need(key: str, types: type | tuple[type, ...], what: str) -> Any:
        v = meta.get(key)
        if not isinstance(v, types) or isinstance(v, bool):
            raise CheckpointError(f"{jp}: field {key!r} must be {what}, got "
                                  f"{type(v).__name__}")
        return v

    need("arch", str, "a string (the architecture name)")
    pos = need("position", dict, "an object {epoch, batch, step}")
    for k in ("epoch", "batch"):
        if k not in pos:
            raise CheckpointError(f"{jp}: field 'position' has no {k!r}")
    for k, v in pos.items():
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**53:
            raise CheckpointError(f"{jp}: position.{k} must be a non-negative integer, "
                                  f"got {v!r}")
    need("config", dict, "an object (the run's settings)")
    if meta.get("state") is not None:
        need("state", dict, "an object")
    if "model_config" in meta:
        need("model_config", dict, "an object (the network's build arguments)")
    if "rng" in meta:
        check_rng_state(meta["rng"], str(jp))
    info = need("tensors", dict, "an object {file, sha256, bytes, count}")
    if not isinstance(info.get("sha256"), str):
        raise CheckpointError(f"{jp}: field tensors.sha256 must be a hex string")


def rebuild(ckpt: Checkpoint, build: Any | None = None) -> torch.nn.Module:
    """The checkpoint's network from its ``model_config``, refused before allocation when
    the config is malformed or asks for more than :data:`~alexnet.limits.MAX_PARAM_BYTES`.

    The network is first built on torch's ``meta`` device, which records shapes without
    memory, and its parameter bytes are counted; only then is it built for real.
    """
    build = build or default_builder
    cfg = ckpt.meta.get("model_config")
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{ckpt.path}: no model_config to rebuild the network from")
    for key in ("num_classes",):
        v = cfg.get(key)
        if v is not None and (not isinstance(v, int) or not 0 < v <= MAX_DIMENSION):
            raise CheckpointError(f"{ckpt.path}: model_config.{key} = {v!r}, expected an "
                                  f"integer in 1..{MAX_DIMENSION:,}")
    shape = cfg.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or not all(
            isinstance(d, int) and 0 < d <= MAX_DIMENSION for d in shape)):
        raise CheckpointError(f"{ckpt.path}: model_config.input_shape = {shape!r}, expected "
                              f"a list of integers in 1..{MAX_DIMENSION:,}")

    def attempt(**kwargs: Any) -> torch.nn.Module:
        try:
            return build(**cfg, **kwargs)
        except AlexNetError as exc:
            raise CheckpointError(f"{ckpt.path}: model_config does not rebuild a network "
                                  f"({exc})") from None
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{ckpt.path}: model_config does not rebuild a network "
                                  f"({type(exc).__name__}: {exc})") from None

    with torch.device("meta"):
        # build_model(init=False) skips drawing random numbers for the probe; a builder
        # that does not know init= is probed as it is
        probe = None
        if "init" not in cfg:
            try:
                probe = build(**cfg, init=False)
            except (TypeError, ValueError, KeyError, AlexNetError):
                probe = None  # reported (as one line) by the plain attempt below
        if probe is None:
            probe = attempt()
    nbytes = sum(p.numel() * p.element_size() for p in probe.parameters())
    if nbytes > MAX_PARAM_BYTES:
        raise CheckpointError(f"{ckpt.path}: model_config asks for {nbytes:,} bytes of "
                              f"parameters, more than the bound {MAX_PARAM_BYTES:,}")
    return attempt()


def check_weights(ckpt: Checkpoint, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The checkpoint's ``model/`` tensors, refused unless each has the model's name, shape
    and dtype and holds only finite numbers (no silent casts, no NaN scored as a result)."""
    weights = ckpt.group("model")
    own = model.state_dict()
    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    if missing or extra:
        raise CheckpointError(f"{ckpt.path}: tensors do not match {ckpt.arch!r} (missing "
                              f"{missing[:3]}, unexpected {extra[:3]})")
    for k, v in own.items():
        w = weights[k]
        if tuple(w.shape) != tuple(v.shape):
            raise CheckpointError(f"{ckpt.path}: {k} has shape {tuple(w.shape)}, "
                                  f"the model needs {tuple(v.shape)}")
        if w.dtype != v.dtype:
            raise CheckpointError(f"{ckpt.path}: {k} is {str(w.dtype).removeprefix('torch.')}"
                                  f", the model needs {str(v.dtype).removeprefix('torch.')} "
                                  "(convert the weights explicitly; they are not cast)")
        if w.is_floating_point() and not bool(torch.isfinite(w).all()):
            raise CheckpointError(f"{ckpt.path}: {k} holds NaN or infinity (the run that "
                                  "wrote it diverged); use an earlier checkpoint")
    return weights


def check_architecture(ckpt: Checkpoint, model: torch.nn.Module) -> None:
    mine = getattr(model, "arch", type(model).__name__)
    if ckpt.arch != mine:
        raise CheckpointError(f"{ckpt.path}: checkpoint is for architecture {ckpt.arch!r}, "
                              f"not {mine!r}")


def restore(ckpt: Checkpoint, model: torch.nn.Module, optimizer: Any | None = None,
            *, rng: bool = False) -> None:
    """Load weights (and velocities, and RNG states) into an already-built model."""
    check_architecture(ckpt, model)
    weights = check_weights(ckpt, model)
    if rng:
        check_rng_state(ckpt.meta.get("rng"), str(ckpt.path))
    model.load_state_dict(weights, strict=True)
    if optimizer is not None:
        optimizer.load_velocities(ckpt.group("velocity"), source=str(ckpt.path))
    if rng:
        set_rng_state(ckpt.meta["rng"])


def default_builder(*args: Any, **kwargs: Any) -> torch.nn.Module:
    """``alexnet.modern.build_model`` (imported late: the network code is another module)."""

    return build_model(*args, **kwargs)


def build_for(ckpt: Checkpoint, build: Any | None = None) -> torch.nn.Module:
    """Rebuild the checkpoint's network from its stored model config and load the weights."""
    model = rebuild(ckpt, build)
    restore(ckpt, model)
    return model
