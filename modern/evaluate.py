"""Test-set evaluation: single or multi-view, softmax probabilities averaged (paper 4.1).

With several views the 2012 code summed the softmax outputs of all views and divided
by their number before scoring
(docs/reference/recreation.md#recreation-test-views), so a case is judged on the averaged
probabilities, not on a vote. Errors count ties fractionally (:mod:`.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alexnet.errors import CheckpointError, DataError
from alexnet.modern import checkpoint as ck
from alexnet.modern.augment import Augmenter
from alexnet.modern.data import BadImage, decode_image, load_dataset, skipped_in
from alexnet.modern.device import resolve_device
from alexnet.modern.metrics import topk_credit


@torch.no_grad()
def predict_probs(model: torch.nn.Module, images: np.ndarray, aug: Augmenter, *,
                  views: int = 1, batch_size: int = 256, device: str | torch.device = "cpu",
                  progress: bool = False, desc: str = "evaluating") -> np.ndarray:
    """Softmax probabilities (N, classes), float32, averaged over ``views``."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    offsets = aug.view_offsets(views)
    n = images.shape[0]
    out = None
    try:
        for i in tqdm(range(0, n, batch_size), desc=desc, unit="batch", disable=not progress,
                      leave=False):
            chunk = np.asarray(images[i : i + batch_size])
            acc = None
            for y, x, mirrored in offsets:
                xb = torch.from_numpy(aug.view_batch(chunk, y, x, mirrored)).to(device)
                p = torch.softmax(model(xb).float(), dim=1)
                acc = p if acc is None else acc + p
            acc = (acc / len(offsets)).cpu().numpy()
            if out is None:
                out = np.empty((n, acc.shape[1]), np.float32)
            out[i : i + chunk.shape[0]] = acc
    finally:
        model.train(was_training)
    if out is None:
        return np.zeros((0, getattr(model, "num_classes", 0)), np.float32)
    return out


def score(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1/top-5 error (fractional ties) and mean -log p(true) of given probabilities."""
    labels = np.asarray(labels, np.int64)
    n = int(labels.shape[0])
    if n == 0:
        return {"n": 0, "top1_err": None, "top5_err": None, "loss": None}
    k5 = min(5, probs.shape[1])
    p_true = probs[np.arange(n), labels].astype(np.float64)
    return {
        "n": n,
        "top1_err": float(1.0 - topk_credit(probs, labels, 1).mean()),
        "top5_err": float(1.0 - topk_credit(probs, labels, k5).mean()),
        "loss": float(-np.log(np.maximum(p_true, 1e-30)).mean()),
    }


def evaluate(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, aug: Augmenter,
             *, views: int = 1, batch_size: int = 256, device: str | torch.device = "cpu",
             progress: bool = False) -> dict[str, Any]:
    probs = predict_probs(model, images, aug, views=views, batch_size=batch_size,
                          device=device, progress=progress)
    res = score(probs, labels)
    res["views"] = views
    return res


# --------------------------------------------------------------------------------------
# From a checkpoint


@dataclass
class Inference:
    """A trained net ready to score images the way it was trained to see them."""

    model: torch.nn.Module
    aug: Augmenter
    classes: list[str]
    stored_size: int
    ckpt: Any
    device: torch.device
    words: list[str] = field(default_factory=list)  # class words beside ids (ImageNet)


def load_for_inference(path: str | Path, *, build: Any | None = None,
                       device: str = "cpu") -> Inference:
    ckpt = ck.read_checkpoint(path)
    dev = resolve_device(device)
    model = ck.build_for(ckpt, build).to(dev)
    model.eval()
    try:
        mean = ckpt.tensors["data/mean"].numpy()
    except KeyError:
        raise CheckpointError(f"{ckpt.path}: no data/mean tensor (not a training checkpoint)"
                              ) from None
    aug = Augmenter(mean=mean, out_size=int(model.input_shape[-1]), pca_noise="off")
    classes = [str(c) for c in ckpt.config.get("classes", [])]
    if len(classes) != int(model.num_classes):
        classes = [f"class {i}" for i in range(int(model.num_classes))]
    words = [str(w) for w in ckpt.config.get("class_words", [])]
    if len(words) != len(classes):
        words = []
    return Inference(model, aug, classes, int(mean.shape[0]), ckpt, dev, words)


def evaluate_checkpoint(path: str | Path, data: str | Path | None = None, *, views: int = 1,
                        batch_size: int = 256, device: str = "cpu", cache_dir: str | None = None,
                        limit: int | None = None, build: Any | None = None,
                        progress: bool = True) -> dict[str, Any]:
    """Test error of a checkpoint on a dataset's test split (default: the run's own data).

    Only the test split (``test/`` or ``val/``, or the test batches) is read, and with
    ``limit`` only its first N images are decoded: scoring never decodes training data.
    Image folders are labelled by the checkpoint's own class list, so a folder holding
    only some of the classes is scored correctly and a class the net does not know is
    refused.
    """
    inf = load_for_inference(path, build=build, device=device)
    data = data or inf.ckpt.config.get("data", {}).get("path")
    if not data:
        raise CheckpointError(f"{inf.ckpt.path}: no data path recorded; pass --data")
    known = list(inf.classes) if inf.ckpt.config.get("classes") else None
    ds = load_dataset(data, size=inf.stored_size, cache_dir=cache_dir, progress=progress,
                      splits=("test",), limit=limit, classes=known)
    if ds.test is None:
        raise DataError(f"{data}: no test/ (or val/) split to evaluate on")
    if len(ds.classes) != len(inf.classes) or (known and ds.classes != known):
        raise DataError(f"{data}: classes {ds.classes[:3]}... do not match the checkpoint's "
                        f"{inf.classes[:3]}...")
    images, labels = ds.test.images, ds.test.labels
    res = evaluate(inf.model, images, labels, inf.aug, views=views, batch_size=batch_size,
                   device=inf.device, progress=progress)
    res.update({"checkpoint": str(inf.ckpt.path), "arch": inf.ckpt.arch, "data": str(data),
                "data_checksum": ds.source.get("checksum"),
                "skipped_images": len(skipped_in(ds, "test")),
                "position": inf.ckpt.meta.get("position")})
    return res


def predict_files(inf: Inference, paths: list[str | Path], *, top: int = 5,
                  views: int = 1) -> list[dict[str, Any]]:
    """Top-``top`` labels with probabilities for each image file."""
    imgs = []
    for p in paths:
        try:
            imgs.append(decode_image(Path(p), inf.stored_size, name=str(p)))
        except BadImage as exc:
            raise DataError(f"{p}: cannot read this image ({exc.reason})") from None
    if not imgs:
        return []
    probs = predict_probs(inf.model, np.stack(imgs), inf.aug, views=views,
                          device=inf.device)
    out = []
    k = min(top, probs.shape[1])
    for p, row in zip(paths, probs, strict=True):
        best = np.argsort(-row, kind="stable")[:k]
        out.append({"image": str(p),
                    "top": [{"label": inf.classes[i], "index": int(i), "prob": float(row[i]),
                             **({"words": inf.words[i]} if inf.words else {})}
                            for i in best]})
    return out
