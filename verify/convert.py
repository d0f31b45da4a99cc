"""Hand the same weights to both sides through the project's own checkpoint conversion.

The verifier never copies weights across by hand: whatever side they start on, they
reach the other through the files and converters a user would use, so a conversion bug
shows up as a mismatch.

2012 -> port (the synthetic AlexNet2012 suite, ``--weights`` with a 2012 checkpoint)
    the engine-form layer dicts are saved as a 2012 pickled checkpoint
    (:func:`alexnet.original.checkpoint.save_checkpoint`), read back through the
    restricted unpickler and exported to safetensors
    (:func:`~alexnet.original.checkpoint.export_safetensors`), which the port then loads.
    Cfg-built nets read the per-layer tensors and velocities of the export; the
    hand-written AlexNet2012 reads the export's ``state_dict`` form and its velocities
    are converted from the checkpoint's ``weightsInc`` with the port's own
    :func:`~alexnet.modern.from_2012_matrices` (the export does not carry them).
port -> 2012 (bundled trained CIFAR-10 weights, ``--weights`` with a modern file)
    the port's tensors (and velocities) are turned into 2012 layer dicts
    (:func:`~alexnet.original.checkpoint.tensors_to_layers` for cfg-built nets,
    :func:`~alexnet.modern.to_2012_matrices` for AlexNet2012), saved as a 2012 checkpoint
    and read back, and the engine runs what it read.

Scratch files go to a temporary folder in memory (``/dev/shm``) where there is one.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alexnet.errors import CheckpointError

WEIGHT_TYPES = ("conv", "local", "fc")


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="alexnet-verify-", dir=base) as d:
        yield Path(d)


def structure_copy(layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deep copy of engine-form layer dicts (arrays included)."""
    return copy.deepcopy(layers)


def _model_state(layers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"layers": layers, "epoch": 0, "batchnum": 0, "train_outputs": [],
            "test_outputs": []}


def _is_cfgnet(model: Any) -> bool:
    from alexnet.modern.cfgnet import CfgNet

    return isinstance(model, CfgNet)


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {g["name"]: g["param"] for g in model.param_groups()}


def save_2012(layers: dict[str, dict[str, Any]], folder: Path) -> Path:
    from alexnet.original.checkpoint import save_checkpoint

    return save_checkpoint(folder, _model_state(layers), None)


def load_2012(path: Path, graph_layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Read a 2012 checkpoint and check it is this network; engine-form layers."""
    from alexnet.original.checkpoint import check_same_net, load_checkpoint

    ck = load_checkpoint(path)
    layers = ck["model_state"]["layers"]
    check_same_net(layers, graph_layers, str(ck["path"]))
    return layers


def port_from_2012(model: torch.nn.Module, ckpt: Path, folder: Path,
                   incs: dict[str, np.ndarray] | None = None) -> dict[str, torch.Tensor]:
    """Load a 2012 checkpoint's weights into the port; return its velocities.

    ``incs`` (2012 matrix name -> weightsInc) are needed for AlexNet2012 only, whose
    export carries no velocities; pass the checkpoint's.
    """
    from alexnet.original.checkpoint import export_safetensors
    from safetensors.numpy import load_file

    out = folder / "port.safetensors"
    params = _params(model)
    if _is_cfgnet(model):
        export_safetensors(ckpt, out)
        tensors = load_file(str(out))
        vel = {}
        with torch.no_grad():
            for name, p in params.items():
                if name not in tensors:
                    raise CheckpointError(f"{ckpt}: exported weights have no {name!r}")
                t = torch.from_numpy(tensors[name])
                if t.shape != p.shape:
                    raise CheckpointError(f"{ckpt}: {name} has shape {tuple(t.shape)}, the "
                                          f"port needs {tuple(p.shape)}")
                p.copy_(t)
                vkey = "velocity/" + name
                vel[name] = (torch.from_numpy(tensors[vkey]) if vkey in tensors
                             else torch.zeros_like(p))
        return vel
    from alexnet.modern import from_2012_matrices

    export_safetensors(ckpt, out, model=model)
    state = {k: torch.from_numpy(v) for k, v in load_file(str(out)).items()}
    own = model.state_dict()
    bad = sorted(set(own) ^ set(state))
    if bad:
        raise CheckpointError(f"{ckpt}: exported state does not match the port ({bad[:3]})")
    model.load_state_dict(state, strict=True)
    if incs is None:
        return {name: torch.zeros_like(p) for name, p in params.items()}
    vel = from_2012_matrices(model, incs, load=False, source=f"{ckpt} (weightsInc)")
    return {k: v.contiguous() for k, v in vel.items()}


def matrices(layers: dict[str, dict[str, Any]], key: str = "weights") -> dict[str, np.ndarray]:
    """2012 matrix name -> array, for ``weights`` (with biases) or ``weightsInc``."""
    bkey = "biases" if key == "weights" else "biasesInc"
    out: dict[str, np.ndarray] = {}
    for name, d in layers.items():
        if d["type"] in WEIGHT_TYPES:
            for i, w in enumerate(d[key]):
                out[f"{name}.weights[{i}]"] = w
            out[f"{name}.biases"] = d[bkey]
    return out


def reference_from_port(model: torch.nn.Module, velocities: dict[str, torch.Tensor],
                        graph_layers: dict[str, dict[str, Any]], folder: Path
                        ) -> dict[str, dict[str, Any]]:
    """The port's weights and velocities as engine-form layer dicts, via a 2012 checkpoint."""
    from alexnet.original.checkpoint import tensors_to_layers

    layers = structure_copy(graph_layers)
    if _is_cfgnet(model):
        tensors: dict[str, np.ndarray] = {}
        for name, p in _params(model).items():
            tensors[name] = p.detach().cpu().numpy().copy()
            if name in velocities:
                tensors["velocity/" + name] = velocities[name].detach().cpu().numpy().copy()
        tensors_to_layers(tensors, layers, "port weights")
    else:
        from alexnet.modern import to_2012_matrices

        mats = to_2012_matrices(model)
        incs = to_2012_matrices(model, values=velocities)
        for name, d in layers.items():
            if d["type"] not in WEIGHT_TYPES:
                continue
            n = len(d["inputs"])
            d["weights"] = [mats[f"{name}.weights[{i}]"] for i in range(n)]
            d["weightsInc"] = [incs[f"{name}.weights[{i}]"] for i in range(n)]
            d["biases"] = mats[f"{name}.biases"]
            d["biasesInc"] = incs[f"{name}.biases"]
    path = save_2012(layers, folder)
    return load_2012(path, graph_layers)
