"""A tiny network that honours the model contract (MODEL_CONTRACT.md), for fast tests.

The training-side tests must not depend on the real nets' size or speed; this module
gives them something with the same interface: ``param_groups()`` with per-tensor
eps/mom/wc, ``input_shape``, ``num_classes``, ``config`` (rebuilds it), ``arch``, and a
2012-style dropout (mask without rescale) so that resume tests exercise torch's RNG.
"""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, arch: str = "tiny", side: int = 32, classes: int = 10, maps: int = 4,
                 eps: float = 0.01, mom: float = 0.9, wc: float = 0.0005, dropout: bool = True,
                 seed: int | None = None):
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.arch = arch
        self.input_shape = (3, side, side)
        self.num_classes = classes
        self.config = {"arch": arch, "side": side, "classes": classes, "maps": maps,
                       "eps": eps, "mom": mom, "wc": wc, "dropout": dropout, "seed": seed}
        self.conv1 = nn.Conv2d(3, maps, 5, padding=2)
        self.fc = nn.Linear(maps * 16, classes)
        nn.init.normal_(self.conv1.weight, std=0.01)
        nn.init.normal_(self.fc.weight, std=0.1)
        nn.init.zeros_(self.conv1.bias)
        nn.init.zeros_(self.fc.bias)
        self.dropout = dropout
        self._hp = (eps, mom, wc)
        self.cost = {"type": "cost.logreg", "coeff": 1.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        h = nn.functional.adaptive_avg_pool2d(h, 4).flatten(1)
        if self.dropout:
            h = h * (torch.rand_like(h) < 0.5) if self.training else h * 0.5
        return self.fc(h)

    def param_groups(self) -> list[dict]:
        eps, mom, wc = self._hp
        out = []
        for layer, mod in (("conv1", self.conv1), ("fc", self.fc)):
            out.append({"name": f"{layer}.weights[0]", "layer": layer, "param": mod.weight,
                        "kind": "weights", "eps": eps, "mom": mom, "wc": wc})
            out.append({"name": f"{layer}.biases", "layer": layer, "param": mod.bias,
                        "kind": "biases", "eps": 2 * eps, "mom": mom, "wc": 0.0})
        return out


def build(arch: str = "tiny", **kwargs) -> TinyNet:
    return TinyNet(arch=arch, **kwargs)


# --------------------------------------------------------------------------------------
# Small synthetic datasets


def make_image_folder(root, classes=("cat", "dog", "frog"), n_train=8, n_test=4, side=32,
                      seed=0, fmt="png"):
    """train/<class>/NNNN.<fmt> and test/<class>/...; class c is brighter by 60*c."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for c, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                a = (rng.integers(0, 60, (side, side, 3)) + 60 * c).clip(0, 255).astype(np.uint8)
                Image.fromarray(a).save(d / f"{i:04d}.{fmt}")
    return root


def cifar_batch_bytes(n, seed, label_names=None):
    """A CIFAR-10 python batch (protocol-2 pickle of a dict with 'data' and 'labels')."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    labels = [int(x) for x in rng.integers(0, 10, n)]
    return pickle.dumps({"batch_label": "x", "data": data, "labels": labels}, protocol=2)


def make_cifar_tarball(path, n=6, *, extra=None):
    """A tarball with the official layout (cifar-10-batches-py/...) and n images per batch."""
    import io
    import pickle
    import tarfile

    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    members = {"batches.meta": pickle.dumps({"label_names": names, "num_vis": 3072},
                                            protocol=2)}
    for i in range(1, 6):
        members[f"data_batch_{i}"] = cifar_batch_bytes(n, i)
    members["test_batch"] = cifar_batch_bytes(n, 99)
    members.update(extra or {})
    with tarfile.open(path, "w:gz") as tf:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return path
