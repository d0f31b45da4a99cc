"""The ``train`` and ``evaluate`` stages: the profile's settings handed to the library.

``alexnet train`` and ``alexnet evaluate`` take their settings as options; a DVC stage
can only name the profile (params.yaml nests settings per profile, and DVC templating
cannot look up ``profiles.${profile}.train.epochs``). These functions read the profile
and call the same library functions the commands call, so a stage runs exactly what the
equivalent command line (printed at the start) would run.

train
    ``runs/pipeline/train`` is a normal run folder (checkpoints, metrics.json,
    report.md). dvc.yaml marks it ``persist``, so an interrupted stage resumes from its
    last checkpoint on the next ``dvc repro``; a finished run, or one made with other
    settings or other data, is removed first. Summaries for DVC: ``metrics/train.json``
    (``dvc metrics``) and ``plots/learning_curve.json`` (``dvc plots``).
evaluate
    the port: every view count the profile lists (1, 9 or 10), on the whole test set;
    the 2012 re-creation: the same weights, converted through a 2012 checkpoint
    (written to ``evaluate/checkpoint-2012/``), run by the numpy engine on test images
    read from the prepared 2012 batch files through the 2012 data provider; both are
    scored on the same images so their errors and predictions can be compared.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from alexnet.errors import AlexNetError, ConfigError, DataError
from alexnet.pipeline.fetch import read_fetched
from alexnet.pipeline.params import Profile, check_keys, train_fields


class TrainingStopped(AlexNetError):
    """Training stopped early (Ctrl-C or a step limit); the run folder can be resumed."""

    exit_code = 130


#: TrainConfig fields that do not change what is computed (a run may resume across them).
NON_SEMANTIC = {"device", "cache_dir", "workers", "progress", "keep", "checkpoint_every",
                "eval_batch", "out", "data"}
STAGE_FILE = "pipeline-stage.json"
EVALUATE_KEYS = ("views", "original_images", "batch", "device")


def write_json(path: str | Path, data: Any) -> None:
    """Atomically (temp file + rename), so DVC never caches half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------
# train


def train_settings(profile: Profile) -> dict[str, Any]:
    """The profile's train section, checked against TrainConfig's fields."""
    key = f"profiles.{profile.name}.train"
    settings = dict(profile.train)
    check_keys(settings, train_fields(), profile.params_path, key)
    if "arch" not in settings:
        raise ConfigError("missing (the network to train, e.g. cifar10-80sec)",
                          path=profile.params_path, key=key + ".arch")
    return settings


def command_line(settings: dict[str, Any], data: Path, out: Path) -> str:
    """The ``alexnet train`` command equivalent to a stage run (printed for the record)."""
    parts = ["alexnet", "train", "--data", str(data), "--out", str(out)]
    for k, v in settings.items():
        if v is None:
            continue
        opt = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            parts.append(opt if v else "--no-" + k.replace("_", "-"))
        else:
            parts += [opt, str(v)]
    return " ".join(shlex.quote(p) for p in parts)


def train_stage(profile: Profile, fetched: str | Path, out: str | Path, *,
                pipeline_dir: str | Path | None = None, progress: bool = True,
                max_steps: int | None = None, echo=click.echo) -> dict[str, Any]:
    """Train (or resume) the run in ``out``; write the DVC summaries.

    ``max_steps`` stops after that many minibatches in all (with a checkpoint, like
    Ctrl-C): the stage then fails, and the next call resumes the run.
    """
    from alexnet.modern.train import TrainConfig, train

    out = Path(out)
    pipeline_dir = Path(pipeline_dir) if pipeline_dir else out.parent
    fd = read_fetched(fetched)
    settings = train_settings(profile)
    schedule = settings.get("schedule")
    identity = {"settings": {k: v for k, v in settings.items() if k not in NON_SEMANTIC},
                "data": fd.manifest["files"][0], "images": fd.manifest.get("images")}
    previous = _read_json(out / STAGE_FILE)
    metrics = _read_json(out / "metrics.json")
    has_run = (out / "checkpoints").is_dir() and any((out / "checkpoints").glob("ckpt-*.json"))
    finished = isinstance(metrics, dict) and metrics.get("status") == "finished"
    resume = has_run and previous == identity and not finished
    if resume:
        echo(f"{out}: resuming the interrupted run from its last checkpoint")
    elif out.exists():
        if has_run:
            why = ("a finished run (DVC re-runs this stage, e.g. `dvc repro --force`)"
                   if previous == identity else "a run with other settings or data")
            echo(f"{out}: holds {why}; starting afresh")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(schedule, list):
        write_json(out / "schedule.json", schedule)
        settings["schedule"] = str(out / "schedule.json")
    write_json(out / STAGE_FILE, identity)
    echo("equivalent command: " + command_line(settings, fd.data, out)
         + (" --resume" if resume else ""))
    cfg = TrainConfig(data=str(fd.data), out=str(out), md5=fd.md5, progress=progress,
                      **settings)
    overrides = {"data": cfg.data, "out": cfg.out, "md5": cfg.md5, "progress": progress}
    for k in ("device", "workers", "epochs", "schedule", "cache_dir", "keep",
              "checkpoint_every", "eval_batch"):
        if k in settings:
            overrides[k] = settings[k]
    res = train(cfg, resume=resume, overrides=overrides if resume else None,
                max_steps=max_steps)
    if res.status != "finished":
        raise TrainingStopped(f"{out}: training {res.status} (last checkpoint "
                              f"{res.checkpoint}); the next `dvc repro` resumes it")
    return _train_summaries(profile, out, pipeline_dir, res.metrics)


def _train_summaries(profile: Profile, out: Path, pipeline_dir: Path,
                     metrics: dict[str, Any]) -> dict[str, Any]:
    epochs = metrics.get("epochs", [])
    final = metrics.get("final") or {}
    curve = [{"epoch": e["epoch"],
              "train_loss": e.get("train_loss"),
              "train_top1_err": e.get("train_top1_err"),
              "test_loss": e.get("test_loss"),
              "test_top1_err": e.get("test_top1_err"),
              "test_top5_err": e.get("test_top5_err"),
              "eps": e.get("eps_first"),
              "wall_s": e.get("wall_s")} for e in epochs]
    train_s = sum(float(e.get("train_s") or 0.0) for e in epochs)
    n_img = sum(float(e.get("images_per_s") or 0.0) * float(e.get("train_s") or 0.0)
                for e in epochs)
    summary = {
        "profile": profile.name,
        "arch": metrics.get("config", {}).get("arch"),
        "device": metrics.get("device"),
        "epochs": len(epochs),
        "test_top1_err": final.get("top1_err"),
        "test_top5_err": final.get("top5_err"),
        "test_views": final.get("views"),
        "train_top1_err": epochs[-1].get("train_top1_err") if epochs else None,
        "train_loss": epochs[-1].get("train_loss") if epochs else None,
        "wall_s": metrics.get("wall_s"),
        "train_s": train_s,
        "images_per_s": n_img / train_s if train_s else None,
    }
    summary.update(_mean_check(out, pipeline_dir))
    write_json(pipeline_dir / "metrics" / "train.json", summary)
    write_json(pipeline_dir / "plots" / "learning_curve.json", curve)
    return summary


def _mean_check(run: Path, pipeline_dir: Path) -> dict[str, Any]:
    """Does the run's mean image equal the prepare stage's? (They share one function.)"""
    mean_path = pipeline_dir / "prepare" / "mean.npy"
    if not mean_path.is_file():
        return {}
    from alexnet.modern import checkpoint as ck

    try:
        c = ck.read_checkpoint(run / "checkpoints")
        run_mean = c.tensors["data/mean"].numpy()
    except Exception:  # a checkpoint without a mean: nothing to compare
        return {}
    prep = np.load(mean_path, allow_pickle=False)
    same = run_mean.shape == prep.shape and bool(np.array_equal(run_mean, prep))
    diff = float(np.abs(run_mean - prep).max()) if run_mean.shape == prep.shape else None
    return {"mean_image_matches_prepare": same, "mean_image_max_abs_diff": diff}


# --------------------------------------------------------------------------------------
# evaluate


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
    from alexnet.modern.data import load_dataset
    from alexnet.modern.evaluate import load_for_inference, predict_probs, score

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
    ds = load_dataset(fd.data, size=inf.stored_size, md5=fd.md5, progress=progress)
    if ds.test is None:
        raise DataError(f"{fd.data}: no test split to evaluate on")
    if list(ds.classes) != list(inf.classes):
        raise DataError(f"{fd.data}: classes differ from the checkpoint's")
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
                                  probs_by_view, labels, batch, echo)
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
                       port_probs: dict[int, np.ndarray], labels: np.ndarray, batch: int,
                       echo) -> dict[str, Any]:
    """The 2012 side: 2012 checkpoint -> numpy engine, fed by the 2012 data provider."""
    batches_dir = prepared / "batches"
    info = _read_json(prepared / "dataset.json") or {}
    binfo = info.get("batches")
    if not binfo or not (batches_dir / "batches.meta").is_file():
        return {"status": "skipped", "why": "no 2012 batch files (prepare.batches is off)"}
    if not binfo.get("test_batch"):
        return {"status": "skipped", "why": "no test batch among the 2012 batch files"}
    try:
        engine, provider_for = _engine_from_port(inf, out / "checkpoint-2012")
    except ConfigError as exc:
        return {"status": "skipped", "why": f"the 2012 engine cannot run this net ({exc})"}
    from alexnet.original import batches as b2012

    meta = b2012.read_meta(batches_dir)
    dic = b2012.read_batch(batches_dir, int(binfo["test_batch"]), meta)
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
        from alexnet.modern.evaluate import score

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
    from alexnet.modern.build import CFG_ARCHS, MODULE_ARCHS
    from alexnet.original import cfgs, convdata
    from alexnet.original.engine import Engine
    from alexnet.original.initial_weights import init_weights
    from alexnet.original.layer import parse_layers
    from alexnet.verify.convert import reference_from_port

    model = inf.model
    arch = str(getattr(model, "arch", ""))
    net = CFG_ARCHS.get(arch) or ("145" if arch in MODULE_ARCHS else None)
    if net is None:
        raise ConfigError(f"no bundled cfg for arch {arch!r}")
    c, h, w = (int(x) for x in model.input_shape)
    graph = parse_layers(*cfgs.pair(net), input_shape=(c, h, w),
                         num_classes=int(model.num_classes))
    layers = {name: lay.d for name, lay in graph.layers.items()}
    init_weights(layers)
    folder.mkdir(parents=True, exist_ok=True)
    import torch

    zeros = {g["name"]: torch.zeros_like(g["param"]) for g in model.param_groups()}
    eng_layers = reference_from_port(model, zeros, layers, folder)
    engine = Engine(eng_layers, backend="numpy")
    border = (inf.stored_size - w) // 2

    def provider_for(data_dir: str, views: int):
        if border == 0:
            if views != 1:
                return None
            return convdata.get_instance(data_dir, type="cifar", test=True)
        kind = "cifar-cropped" if inf.stored_size <= 32 else "inet-lr-cropped"
        want = 9 if kind == "cifar-cropped" else 10
        if views not in (1, want):
            return None
        return convdata.get_instance(data_dir, type=kind, test=True,
                                     dp_params={"crop_border": border,
                                                "multiview_test": int(views > 1)})

    return engine, provider_for
