"""The ``evaluate`` stage: test error of the trained net in both implementations.

Like the train stage, it reads the profile's ``evaluate`` section (DVC templating cannot
reach into the nested profile) and calls the library the ``alexnet evaluate`` command calls.

the port
    every view count the profile lists (1, 9 or 10), on the whole test set;
the 2012 re-creation
    the same weights, converted through a 2012 checkpoint (written to
    ``evaluate/checkpoint-2012/``), run by the numpy engine on the first
    ``original_images`` test images read from 2012 batch files through the 2012 data
    provider: the prepare stage's, or, where it writes none (the ImageNet profiles), a
    test-only batch file this stage writes (``evaluate/batches-2012/``) from the images
    the port scored, with the net's mean image. Both sides are scored on the same images
    so their errors and predictions can be compared image by image. Imported weights
    (``imagenet-bvlc``) run the same way: the bundled cfg pair of their architecture,
    Caffe's 227-pixel views of the 256-pixel images.

Summaries for DVC: ``metrics/evaluate.json`` and ``plots/confusion.json``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from alexnet import registry
from alexnet.errors import ConfigError, DataError
from alexnet.layouts2012 import layers_from_port
from alexnet.modern.data import load_dataset
from alexnet.modern.evaluate import load_for_inference, predict_probs, score
from alexnet.original import batches as b2012
from alexnet.original import cfgs, convdata
from alexnet.original.checkpoint import through_checkpoint
from alexnet.original.engine import Engine
from alexnet.original.initial_weights import init_weights
from alexnet.original.layer import parse_layers
from alexnet.pipeline.fetch import read_fetched
from alexnet.pipeline.jsonfiles import read_json, write_json
from alexnet.pipeline.params import Profile, check_keys
from alexnet.pipeline.prepare import write_test_batch

EVALUATE_KEYS = ("views", "original_images", "batch", "device")


def _views(settings: dict[str, Any], path: str, key: str) -> list[int]:
    views = settings.get("views", [1])
    if isinstance(views, int):
        views = [views]
    if not isinstance(views, list) or not views or any(v not in (1, 9, 10) for v in views):
        raise ConfigError("views must be a list drawn from 1, 9 and 10", path=path,
                          key=key + ".views")
    return [int(v) for v in views]


def evaluate_stage(profile: Profile, fetched: str | Path, run: str | Path, out: str | Path, *,
                   pipeline_dir: str | Path | None = None, progress: bool = True,
                   echo=click.echo) -> dict[str, Any]:
    """Score the trained net with both implementations; write the DVC summaries."""
    key = f"profiles.{profile.name}.evaluate"
    settings = dict(profile.evaluate)
    check_keys(settings, EVALUATE_KEYS, profile.params_path, key)
    views = _views(settings, profile.params_path, key)
    batch = int(settings.get("batch", 256))
    n_orig = int(settings.get("original_images", 1000) or 0)
    out = Path(out)
    pipeline_dir = Path(pipeline_dir) if pipeline_dir else out.parent
    fd = read_fetched(fetched)
    device = str(settings.get("device", profile.train.get("device", "cpu")))
    inf = load_for_inference(run, device=device)
    # an image folder is labelled by the checkpoint's class list, whose order is the
    # net's output order (ImageNet: alexnet.registry.imagenet_class_order)
    known = list(inf.classes) if inf.ckpt.config.get("classes") else None
    ds = load_dataset(fd.data, size=inf.stored_size, md5=fd.md5, progress=progress,
                      splits=("test",), classes=known)
    if ds.test is None:
        raise DataError(f"{fd.data}: no test split to evaluate on")
    if list(ds.classes) != list(inf.classes):
        raise DataError(f"{fd.data}: classes {ds.classes[:3]}... differ from the "
                        f"checkpoint's {inf.classes[:3]}...")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    images, labels = ds.test.images, np.asarray(ds.test.labels, np.int64)
    modern: dict[str, Any] = {}
    probs_by_view: dict[int, np.ndarray] = {}
    for v in views:
        t0 = time.perf_counter()
        p = predict_probs(inf.model, images, inf.aug, views=v, batch_size=batch,
                          device=inf.device, progress=progress, desc=f"port, {v} view(s)")
        s = score(p, labels)
        s.update({"views": v, "seconds": time.perf_counter() - t0})
        modern[f"views_{v}"] = s
        probs_by_view[v] = p
        echo(f"port, {v} view(s): top-1 error {100 * s['top1_err']:.2f}%, top-5 "
             f"{100 * s['top5_err']:.2f}% on {s['n']} test images")
    first = probs_by_view[views[0]]
    pred = np.argmax(first, axis=1)
    classes = list(inf.classes)
    confusion = [{"actual": classes[a], "predicted": classes[b]}
                 for a, b in zip(labels.tolist(), pred.tolist(), strict=True)]
    cm = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(cm, (labels, pred), 1)
    np.save(out / "probs.npy", first.astype(np.float32), allow_pickle=False)
    original = _evaluate_original(inf, pipeline_dir / "prepare", out, views, n_orig,
                                  probs_by_view, images, labels, classes, batch, echo)
    doc = {"profile": profile.name, "checkpoint": os.path.relpath(inf.ckpt.path),
           "classes": classes, "modern": modern, "original": original,
           "confusion_views": views[0], "confusion_matrix": cm.tolist()}
    write_json(out / "evaluate.json", doc)
    write_json(pipeline_dir / "plots" / "confusion.json", confusion)
    metrics: dict[str, Any] = {"modern": {k: {"top1_err": s["top1_err"],
                                              "top5_err": s["top5_err"]}
                                          for k, s in modern.items()}}
    if original.get("status") == "ok":
        metrics["original"] = {k: {kk: r[kk] for kk in ("top1_err", "top5_err",
                                                         "port_top1_err", "agreement")}
                               for k, r in original["views"].items()}
        metrics["original"]["images"] = original["images"]
    write_json(pipeline_dir / "metrics" / "evaluate.json", metrics)
    return doc


def _evaluate_original(inf, prepared: Path, out: Path, views: list[int], n: int,
                       port_probs: dict[int, np.ndarray], images: np.ndarray,
                       labels: np.ndarray, classes: list[str], batch: int,
                       echo) -> dict[str, Any]:
    """The 2012 side of the stage: the prepare stage's batch files, or, when it wrote
    none (ImageNet), a test-only batch folder of the first ``n`` test images written
    here (``evaluate/batches-2012``).

    Why batch files rather than handing the engine the port's arrays: the 2012 system
    read ImageNet only as ``data_batch_N`` files with the mean image in
    ``batches.meta``, through its data provider (crops, the ten views, mean
    subtraction). Writing the images the port scored, in its order, with the net's own
    mean, keeps that whole input path the 2012 way and the two sides image for image.
    """
    batches_dir = prepared / "batches"
    info = read_json(prepared / "dataset.json") or {}
    binfo = info.get("batches")
    if binfo and (batches_dir / "batches.meta").is_file():
        if not binfo.get("test_batch"):
            return {"status": "skipped", "why": "no test batch among the 2012 batch files"}
        res = evaluate_recreation(inf, batches_dir, int(binfo["test_batch"]), out, views, n,
                                  port_probs, labels, batch, echo)
        if res.get("status") == "ok":
            res["batches"] = "the prepare stage's 2012 batch files"
        return res
    own = out / "batches-2012"
    k = len(labels) if n <= 0 else min(n, len(labels))
    test_batch = write_test_batch(np.asarray(images[:k]), labels[:k], own, classes=classes,
                                  mean=inf.aug.mean)
    res = evaluate_recreation(inf, own, test_batch, out, views, k, port_probs, labels,
                              batch, echo)
    if res.get("status") == "ok":
        res["batches"] = (f"a test-only 2012 batch file of the first {k} test images, "
                          f"written by this stage ({os.path.relpath(own)}) with the net's "
                          "mean image")
    return res


def evaluate_recreation(inf, batches_dir: Path, test_batch: int, out: Path,
                        views: list[int], n: int, port_probs: dict[int, np.ndarray],
                        labels: np.ndarray, batch: int, echo=click.echo) -> dict[str, Any]:
    """The 2012 re-creation on a port checkpoint: its weights as a 2012 checkpoint
    (``out/checkpoint-2012``) -> the numpy engine, fed by the 2012 data provider from
    ``data_batch_<test_batch>`` of a 2012 batch folder; scored beside the port's
    probabilities of the same images (``port_probs`` per view count, in batch order).
    ``n`` > 0 keeps the first n images. Any 2012 batch folder serves: the prepare
    stage's, or what ``alexnet original convert-images`` wrote."""
    try:
        engine, provider_for = _engine_from_port(inf, out / "checkpoint-2012")
    except ConfigError as exc:
        return {"status": "skipped", "why": f"the 2012 engine cannot run this net ({exc})"}
    meta = b2012.read_meta(batches_dir)
    dic = b2012.read_batch(batches_dir, test_batch, meta)
    total = dic["data"].shape[1]
    n = total if n <= 0 else min(n, total)
    if not np.array_equal(dic["labels"][:n], labels[:n]):
        return {"status": "skipped", "why": "the 2012 test batch is not in the port's order"}
    sub = {"data": np.ascontiguousarray(dic["data"][:, :n]), "labels": dic["labels"][:n]}
    results = {}
    for v in views:
        provider = provider_for(str(batches_dir), v)
        if provider is None:
            continue
        t0 = time.perf_counter()
        mats = provider.prepare(sub, np.random.default_rng(0))
        _, cases, probs = engine.multiview_test(mats, provider.num_views, batch)
        if probs is None:
            return {"status": "skipped", "why": "the net has no logistic-regression cost layer"}
        s = score(probs, labels[:n])
        ps = score(port_probs[v][:n], labels[:n])
        agree = float(np.mean(np.argmax(probs, 1) == np.argmax(port_probs[v][:n], 1)))
        diff = float(np.abs(probs - port_probs[v][:n]).max())
        results[f"views_{v}"] = {"views": v, "n": int(cases), "top1_err": s["top1_err"],
                                 "top5_err": s["top5_err"], "port_top1_err": ps["top1_err"],
                                 "port_top5_err": ps["top5_err"], "agreement": agree,
                                 "max_abs_prob_diff": diff,
                                 "seconds": time.perf_counter() - t0}
        echo(f"2012 re-creation (numpy engine), {v} view(s), first {n} test images: top-1 "
             f"error {100 * s['top1_err']:.2f}% (port {100 * ps['top1_err']:.2f}%), same "
             f"top-1 class for {100 * agree:.2f}% of images, max |p - p_port| {diff:.2g}")
    if not results:
        return {"status": "skipped", "why": "the 2012 providers offer none of the views "
                f"{views} for this net"}
    return {"status": "ok", "images": n, "backend": "numpy", "views": results,
            "checkpoint_2012": os.path.relpath(out / "checkpoint-2012")}


def _engine_from_port(inf, folder: Path):
    """Engine-form layers from the port's weights (via a 2012 checkpoint on disk)."""
    model = inf.model
    arch = str(getattr(model, "arch", ""))
    if arch not in registry.ARCHS:
        raise ConfigError(f"no bundled cfg for arch {arch!r}")
    net = registry.reference_net(arch)  # refuses alexnet2012-paper, saying why
    c, h, w = (int(x) for x in model.input_shape)
    graph = parse_layers(*cfgs.pair(net), input_shape=(c, h, w),
                         num_classes=int(model.num_classes))
    layers = {name: lay.d for name, lay in graph.layers.items()}
    init_weights(layers)
    folder.mkdir(parents=True, exist_ok=True)
    # the port's weights with zero momentum, as a 2012 checkpoint on disk and read back
    eng_layers = through_checkpoint(layers_from_port(model, layers), folder)
    engine = Engine(eng_layers, backend="numpy")
    span = inf.stored_size - w
    # an even margin is the 2012 --crop-border; an odd one (Caffe's 227 of 256) names
    # the crop size, split as the port's test views split it
    crop = {"crop_border": span // 2} if span % 2 == 0 else {"crop_size": w}

    def provider_for(data_dir: str, views: int):
        if span == 0:
            if views != 1:
                return None
            return convdata.get_instance(data_dir, type="cifar", test=True)
        kind = "cifar-cropped" if inf.stored_size <= 32 else "inet-lr-cropped"
        want = 9 if kind == "cifar-cropped" else 10
        if views not in (1, want):
            return None
        return convdata.get_instance(data_dir, type=kind, test=True,
                                     dp_params={**crop, "multiview_test": int(views > 1)})

    return engine, provider_for
