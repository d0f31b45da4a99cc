"""The ``train`` stage: the profile's train settings handed to the port's trainer.

``alexnet train`` takes its settings as options; a DVC stage can only name the profile
(params.yaml nests settings per profile, and DVC templating cannot look up
``profiles.${profile}.train.epochs``). :func:`train_stage` reads the profile and calls
the same library function the command calls (:func:`alexnet.modern.train.train`), so a
stage runs exactly what the equivalent command line (printed at the start) would run.

``runs/pipeline/train`` is a normal run folder (checkpoints, metrics.json, report.md).
dvc.yaml marks it ``persist``, so an interrupted stage resumes from its last checkpoint
on the next ``dvc repro``; a finished run, or one made with other settings or other data,
is removed first. Summaries for DVC: ``metrics/train.json`` (``dvc metrics``) and
``plots/learning_curve.json`` (``dvc plots``).

No training: a profile whose ``train`` section is only ``{import_weights: NAME}`` (NAME
one of the profile's fetched ``weights``) turns the published weights into the run
instead. The stage list of dvc.yaml is fixed, so "train from weights" is this stage's
way of saying "nothing to train": it runs the ``alexnet weights import caffe`` code
path (:func:`alexnet.modern.importers.import_caffe`) on the fetched, pin-checked file and
writes the same run-folder shape (``checkpoints/``, ``metrics.json``) the later stages
read, with no epochs and no learning curve.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

import click
import numpy as np

from alexnet.errors import ConfigError, RunStopped
from alexnet.imagenet.devkit import CLASS_FILE
from alexnet.modern import checkpoint as ck
from alexnet.modern.importers import import_caffe
from alexnet.modern.train import TrainConfig
from alexnet.modern.train import train as train_run
from alexnet.pipeline.fetch import FetchedData, read_fetched
from alexnet.pipeline.jsonfiles import read_json, write_json
from alexnet.pipeline.params import Profile, check_keys, train_fields


class TrainingStopped(RunStopped):
    """Training stopped early (Ctrl-C, SIGTERM or a step limit); the run folder can be
    resumed (reported as ``stopped: ...``, exit status 130)."""


#: TrainConfig fields that do not change what is computed (a run may resume across them).
NON_SEMANTIC = {"device", "cache_dir", "workers", "progress", "keep", "checkpoint_every",
                "eval_batch", "out", "data"}
STAGE_FILE = "pipeline-stage.json"
#: The train-section key of a profile that imports published weights instead of training.
IMPORT_KEY = "import_weights"


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
                max_steps: int | None = None, seed: int | None = None,
                shuffle: str | None = None, summaries: bool = True,
                echo=click.echo) -> dict[str, Any]:
    """Train (or resume) the run in ``out``; write the DVC summaries.

    ``max_steps`` stops after that many minibatches in all (with a checkpoint, like
    Ctrl-C): the stage then fails, and the next call resumes the run. ``seed`` and
    ``shuffle`` replace the profile's (the error-bar sweep's runs, see
    :mod:`alexnet.pipeline.seeds`); ``summaries=False`` leaves the pipeline's
    ``metrics/`` and ``plots/`` alone, which belong to the main train stage.
    """
    out = Path(out)
    pipeline_dir = Path(pipeline_dir) if pipeline_dir else out.parent
    fd = read_fetched(fetched)
    if IMPORT_KEY in profile.train:
        return import_stage(profile, fd, Path(fetched), out, pipeline_dir, echo=echo)
    settings = train_settings(profile)
    if seed is not None:
        settings["seed"] = seed
    if shuffle is not None:
        settings["shuffle"] = shuffle
    schedule = settings.get("schedule")
    identity = {"settings": {k: v for k, v in settings.items() if k not in NON_SEMANTIC},
                "data": fd.manifest["files"][0], "images": fd.manifest.get("images")}
    previous = read_json(out / STAGE_FILE)
    metrics = read_json(out / "metrics.json")
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
    res = train_run(cfg, resume=resume, overrides=overrides if resume else None,
                max_steps=max_steps)
    if res.status != "finished":
        raise TrainingStopped(f"{out}: training {res.status} (last checkpoint "
                              f"{res.checkpoint}); the next `dvc repro` (or `alexnet "
                              "pipeline train`) resumes it")
    if not summaries:
        return run_summary(profile, res.metrics)
    return _train_summaries(profile, out, pipeline_dir, res.metrics)


def run_summary(profile: Profile, metrics: dict[str, Any]) -> dict[str, Any]:
    """The few figures of a finished run that ``metrics/train.json`` shows."""
    epochs = metrics.get("epochs", [])
    final = metrics.get("final") or {}
    train_s = sum(float(e.get("train_s") or 0.0) for e in epochs)
    n_img = sum(float(e.get("images_per_s") or 0.0) * float(e.get("train_s") or 0.0)
                for e in epochs)
    return {
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


def _train_summaries(profile: Profile, out: Path, pipeline_dir: Path,
                     metrics: dict[str, Any]) -> dict[str, Any]:
    epochs = metrics.get("epochs", [])
    curve = [{"epoch": e["epoch"],
              "train_loss": e.get("train_loss"),
              "train_top1_err": e.get("train_top1_err"),
              "test_loss": e.get("test_loss"),
              "test_top1_err": e.get("test_top1_err"),
              "test_top5_err": e.get("test_top5_err"),
              "eps": e.get("eps_first"),
              "wall_s": e.get("wall_s")} for e in epochs]
    summary = run_summary(profile, metrics)
    summary.update(_mean_check(out, pipeline_dir, imported=IMPORT_KEY in profile.train))
    write_json(pipeline_dir / "metrics" / "train.json", summary)
    write_json(pipeline_dir / "plots" / "learning_curve.json", curve)
    return summary


def _mean_check(run: Path, pipeline_dir: Path, *, imported: bool = False) -> dict[str, Any]:
    """Does the run's mean image equal the prepare stage's? (They share one function.)

    Not applicable to imported weights: they subtract the mean they were trained with
    (Caffe's, kept in the checkpoint), never the prepare stage's, so a difference there
    is expected and says nothing about the data path."""
    mean_path = pipeline_dir / "prepare" / "mean.npy"
    if imported:
        return {"mean_image_matches_prepare": "not applicable",
                "mean_image_note": "imported weights use the mean image they were trained "
                                   "with (kept in the checkpoint), not the prepare stage's"}
    if not mean_path.is_file():
        return {}
    try:
        c = ck.read_checkpoint(run / "checkpoints")
        run_mean = c.tensors["data/mean"].numpy()
    except Exception:  # a checkpoint without a mean: nothing to compare
        return {}
    prep = np.load(mean_path, allow_pickle=False)
    same = run_mean.shape == prep.shape and bool(np.array_equal(run_mean, prep))
    diff = float(np.abs(run_mean - prep).max()) if run_mean.shape == prep.shape else None
    return {"mean_image_matches_prepare": same, "mean_image_max_abs_diff": diff}


def import_stage(profile: Profile, fd: FetchedData, fetched: Path, out: Path,
                 pipeline_dir: Path, *, echo=click.echo) -> dict[str, Any]:
    """The run folder made from a fetched published weight set (no training)."""
    key = f"profiles.{profile.name}.train"
    check_keys(dict(profile.train), (IMPORT_KEY,), profile.params_path, key)
    name = profile.train[IMPORT_KEY]
    entry = next((w for w in fd.manifest.get("weights", []) if w.get("name") == name), None)
    if entry is None:
        listed = ", ".join(w.get("name", "?") for w in fd.manifest.get("weights", []))
        raise ConfigError(f"{name!r} is not among the fetched weights ({listed or 'none'}); "
                          "list it in the profile's weights", path=profile.params_path,
                          key=f"{key}.{IMPORT_KEY}")
    src = fetched / entry["path"]
    # ILSVRC-2012: the class file (ids, wnids, words) of the prepared image tree
    classes = fd.data / CLASS_FILE if fd.kind == "ilsvrc2012" else None
    if out.exists():
        shutil.rmtree(out)
    echo(f"equivalent command: alexnet weights import caffe {shlex.quote(str(src))} --out "
         f"{shlex.quote(str(out / 'checkpoints'))}"
         + (f" --classes {shlex.quote(str(classes))}" if classes and classes.is_file() else ""))
    res = import_caffe(src, out / "checkpoints",
                       classes=classes if classes is not None and classes.is_file() else None)
    metrics = {"run": out.name, "status": "finished", "imported": res.as_dict(),
               "config": {"arch": res.arch, IMPORT_KEY: name}, "epochs": [], "final": None,
               "device": None, "wall_s": None}
    write_json(out / "metrics.json", metrics)
    echo(f"{src.name}: imported as {res.arch} ({res.parameters:,} parameters); no training")
    return _train_summaries(profile, out, pipeline_dir, metrics)
