"""The training loop of the modern port: 2012 update rule, 2012 data handling, resumable.

One run lives in one folder (``runs/NAME``): ``checkpoints/`` (see :mod:`.checkpoint`),
``metrics.json`` and ``report.md``. Everything that shapes the numbers is derived from
the seed and the position, so a run is reproducible and a resumed run is bit-identical
to an uninterrupted one on the CPU:

* the model is initialised right after seeding torch, numpy and ``random``;
* the sample order is a permutation drawn from ``(seed)`` (``shuffle="once"``: like the
  2012 batch files, shuffled once and then read in the same order every epoch) or from
  ``(seed, epoch)`` (``"epoch"``);
* each minibatch's crops, flips and colour noise come from a generator seeded with
  ``(seed, epoch, batch)``, so no data-side RNG state has to be carried at all;
* dropout draws from torch's global generator, whose state goes into every checkpoint.

Under ``torchrun`` the run is data-parallel (:mod:`.distributed`): every process takes
its share of each minibatch, DistributedDataParallel averages the gradients, rank 0
alone writes checkpoints, metrics and the report; ``--batch`` stays the global batch.

Like the 2012 driver, a non-finite cost stops the run (the last checkpoint survives).
Ctrl-C asks the loop to stop after the current minibatch and save; a second Ctrl-C
aborts at once, leaving the previous checkpoint intact (files are written atomically).
SIGTERM (``kill``, a batch scheduler's stop) asks the same as the first Ctrl-C in a run
of one process; under ``torchrun`` it keeps its default (the launcher sends it when a
peer has failed, and a collective with a dead peer would never finish). Either way the
run says how to resume it; ``alexnet train`` exits with status 130.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from alexnet import registry
from alexnet.errors import AlexNetError, CheckpointError, ConfigError, DataError
from alexnet.io import folder_lock
from alexnet.modern import checkpoint as ck
from alexnet.modern.augment import Augmenter, default_crop_chunk, mean_image, rgb_pca
from alexnet.modern.data import Dataset, Split, load_dataset
from alexnet.modern.device import resolve_device
from alexnet.modern.distributed import Distributed, from_environment
from alexnet.modern.evaluate import evaluate
from alexnet.modern.metrics import topk_credit, versions, write_json, write_report
from alexnet.modern.subset import stratified_subset
from alexnet.modern.update import Schedule, Update2012, load_schedule, parse_schedule


class TrainingDiverged(AlexNetError):
    """The cost became NaN or infinite (the 2012 driver stopped the same way)."""


@dataclass
class TrainConfig:
    """Every knob of a run; stored in each checkpoint and in metrics.json."""

    arch: str = "cifar10-80sec"
    data: str = ""
    out: str = "runs/default"
    epochs: int | None = None  # None: the arch's recipe (alexnet.registry), else 10
    batch: int = 128
    seed: int = 0
    # a preset name (update.PRESETS) or a YAML/JSON file; None: the arch's recipe, "none":
    # constant rates
    schedule: str | None = None
    device: str = "cpu"  # cpu | cuda | auto
    cache_dir: str | None = None
    md5: str | None = None
    image_size: int | None = None  # stored square size; None: 32 for <=32 inputs, else 256
    pca_noise: str | None = None  # code | paper | off; None: off for CIFAR, code for ImageNet
    color_noise: float = 0.1
    crop_chunk: int | None = None  # None: 1 for CIFAR, 32 for ImageNet (the 2012 providers)
    flip: bool | None = None  # None: flip iff there is a crop border (cifar vs cifar-cropped)
    shuffle: str = "once"  # once | epoch | none
    test_views: int | None = None  # None: the arch's recipe, else 1
    final_views: int | None = None  # None: the arch's recipe, else test_views
    checkpoint_every: int = 0  # minibatches between extra checkpoints (0: epoch ends only)
    keep: int = 2
    workers: int | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    eval_batch: int = 256
    progress: bool = True
    init_from: str | None = None  # a checkpoint whose weights start a new run (fine-tuning)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_recipe(self) -> TrainConfig:
        """This configuration with every unset recipe field (epochs, schedule, views)
        taken from the arch's 2011/2012 recipe in :mod:`alexnet.registry`, so that a
        plain ``alexnet train --arch NAME`` trains the way its authors did. A net
        without a recipe gets 10 epochs, constant rates and one view."""
        rec = registry.recipe(self.arch)
        fill: dict[str, Any] = {}
        if self.epochs is None:
            fill["epochs"] = rec.epochs if rec else 10
        if self.schedule is None:
            fill["schedule"] = rec.schedule if rec else "none"
        if self.test_views is None:
            fill["test_views"] = rec.test_views if rec else 1
        if self.final_views is None and rec is not None and rec.final_views is not None:
            fill["final_views"] = rec.final_views
        return dataclasses.replace(self, **fill)

    def validate(self) -> None:
        """Reject impossible settings up front, naming the setting."""
        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"{key} = {getattr(self, key)!r}: expected {what}")

        need(self.epochs >= 0, "epochs", "an integer >= 0")
        need(self.batch >= 1, "batch", "an integer >= 1")
        need(self.test_views in (1, 9, 10), "test_views", "1, 9 or 10")
        need(self.final_views in (None, 1, 9, 10), "final_views", "1, 9 or 10")
        need(self.shuffle in ("once", "epoch", "none"), "shuffle", "once, epoch or none")
        need(self.pca_noise in (None, "code", "paper", "off"), "pca_noise",
             "code, paper or off")
        need(self.color_noise >= 0, "color_noise", "a number >= 0")
        need(self.crop_chunk is None or self.crop_chunk >= 1, "crop_chunk", "an integer >= 1")
        need(self.checkpoint_every >= 0, "checkpoint_every", "an integer >= 0")
        need(self.keep >= 1, "keep", "an integer >= 1")
        need(self.eval_batch >= 1, "eval_batch", "an integer >= 1")
        for k in ("limit_train", "limit_test", "image_size", "workers"):
            need(getattr(self, k) is None or getattr(self, k) >= 1, k, "an integer >= 1")


#: Settings a resumed run may change (like the 2012 params file, re-read on resume).
#: Everything else is fixed at creation (like --layer-def and --crop-border in 2012).
RESUMABLE = {"epochs", "schedule", "device", "cache_dir", "test_views", "final_views",
             "checkpoint_every", "keep", "workers", "eval_batch", "progress", "color_noise",
             "data", "out", "md5"}


class StopFlag:
    """Set by the first Ctrl-C or SIGTERM (or by a caller); the loop saves and returns at a
    clean point."""

    def __init__(self) -> None:
        self._ev = threading.Event()

    def set(self) -> None:
        self._ev.set()

    def is_set(self) -> bool:
        return self._ev.is_set()


@dataclass
class RunResult:
    status: str  # finished | interrupted | stopped
    out: Path
    checkpoint: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def stored_size_for(model: torch.nn.Module, image_size: int | None) -> int:
    if image_size:
        return int(image_size)
    side = int(model.input_shape[-1])
    return 32 if side <= 32 else 256


def make_augmenter(cfg: TrainConfig, model: torch.nn.Module, mean: np.ndarray,
                   pca_vals: np.ndarray | None, pca_vecs: np.ndarray | None) -> Augmenter:
    s = mean.shape[0]
    out = int(model.input_shape[-1])
    border = (s - out) // 2
    pca = cfg.pca_noise or ("code" if s > 32 else "off")
    return Augmenter(
        mean=mean, out_size=out, pca_vals=pca_vals, pca_vecs=pca_vecs, pca_noise=pca,
        color_noise=cfg.color_noise,
        crop_chunk=cfg.crop_chunk or default_crop_chunk(s),
        flip=cfg.flip if cfg.flip is not None else border > 0,
    )


def _order(n: int, seed: int, epoch: int, shuffle: str) -> np.ndarray:
    if shuffle == "none":
        return np.arange(n)
    if shuffle == "once":
        return np.random.default_rng([seed, 1]).permutation(n)
    if shuffle == "epoch":
        return np.random.default_rng([seed, 2, epoch]).permutation(n)
    raise ConfigError(f"shuffle must be once, epoch or none, got {shuffle!r}")


def _install_stop_handlers(stop: StopFlag, log: Callable[[str], None], *, sigterm: bool
                           ) -> dict[int, Any]:
    """Make SIGINT (and ``sigterm``: SIGTERM) ask ``stop``; the handlers they replace."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    said = {signal.SIGINT: "interrupt (Ctrl-C)", signal.SIGTERM: "stop requested (SIGTERM)"}
    previous = {sig: signal.getsignal(sig)
                for sig in ((signal.SIGINT, signal.SIGTERM) if sigterm else (signal.SIGINT,))}

    def handler(signum, frame):
        if stop.is_set():
            for sig, old in previous.items():
                signal.signal(sig, old)
            raise KeyboardInterrupt
        stop.set()
        log(f"{said[signum]}: finishing this minibatch, then saving a checkpoint "
            "(Ctrl-C again to abort without saving)")

    for sig in previous:
        signal.signal(sig, handler)
    return previous


# --------------------------------------------------------------------------------------
# A run: set up (fresh or resumed), the epochs, the final evaluation


@dataclass
class TrainingRun:
    """Everything one training session holds between setup, the epochs and the finish.

    ``pos`` (epoch, batch, step), ``history``, ``accum`` and the wall time are what a
    checkpoint stores; the rest is rebuilt from the configuration on resume.
    """

    cfg: TrainConfig
    out: Path
    device: torch.device
    schedule: Schedule
    model: torch.nn.Module
    opt: Update2012
    aug: Augmenter
    coeff: float  # the logistic-regression cost's coefficient
    train_split: Split
    test_split: Split | None
    run_config: dict[str, Any]
    extra: dict[str, torch.Tensor]  # the data tensors saved with every checkpoint
    metrics: dict[str, Any]
    pos: dict[str, int]
    history: list[dict[str, Any]]
    accum: dict[str, float]
    wall_before: float
    last_ckpt: Path | None
    log: Callable[[str], None]
    session_start: float  # time.perf_counter() when this session began
    dist: Distributed | None = None  # this process's place in a torchrun job
    forward: torch.nn.Module | None = None  # the model as the minibatches see it (DDP)

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train_split) / self.cfg.batch)

    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.session_start

    @property
    def main(self) -> bool:
        """The process that writes files (the only one, unless under torchrun)."""
        return self.dist is None or self.dist.main

    def save(self, status: str) -> Path | None:
        if not self.main:
            return self.last_ckpt
        state = {"history": self.history, "accum": self.accum, "wall_s": self.wall(),
                 "status": status}
        self.last_ckpt = ck.save_checkpoint(
            self.out / "checkpoints", model=self.model, optimizer=self.opt, position=self.pos,
            config=self.run_config, state=state, extra_tensors=self.extra, keep=self.cfg.keep)
        return self.last_ckpt

    def write_metrics(self, status: str) -> None:
        if not self.main:
            return
        self.metrics["status"] = status
        self.metrics["wall_s"] = self.wall()
        write_json(self.out / "metrics.json", self.metrics)
        write_report(self.out / "report.md", self.metrics)


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    build: Callable[..., torch.nn.Module] | None = None,
    stop: StopFlag | None = None,
    max_steps: int | None = None,
    on_step: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Train (or with ``resume=True`` continue) the run in ``cfg.out``.

    On resume the configuration comes from the latest checkpoint; ``overrides`` (the
    options the user gave again) may change only the :data:`RESUMABLE` settings.
    ``max_steps`` stops (with a checkpoint) once that many minibatches have been done
    in total; ``on_step`` is called after every minibatch with the global step.
    """
    # one process per run folder; under DDP the ranks share it, rank 0 holds the lock
    rank0 = os.environ.get("RANK", "0") == "0"
    out, created = Path(cfg.out), not Path(cfg.out).exists()
    try:
        return _train_locked(cfg, rank0, resume, overrides, build, stop, max_steps, on_step,
                             log)
    except BaseException:
        if created and out.is_dir() and set(os.listdir(out)) <= {".lock"}:
            (out / ".lock").unlink(missing_ok=True)  # a run that never started leaves no folder
            out.rmdir()
        raise


def _train_locked(cfg, rank0, resume, overrides, build, stop, max_steps, on_step, log):
    with folder_lock(Path(cfg.out), what="run folder") if rank0 else nullcontext():
        run = setup_run(cfg, resume=resume, overrides=overrides, build=build,
                        log=log or tqdm.write)
        try:
            status = run_epochs(run, stop=stop or StopFlag(), max_steps=max_steps,
                                on_step=on_step)
            if status != "finished":
                return RunResult(status, run.out, run.last_ckpt, run.metrics)
            return finish_run(run)
        finally:
            if run.dist is not None:
                run.dist.close()


def _initial_from(cfg: TrainConfig, build: Callable[..., torch.nn.Module],
                  given: dict[str, Any]) -> torch.nn.Module:
    """The network of checkpoint ``cfg.init_from`` with its weights (imported or trained),
    to train on from there; its architecture is the run's (``--arch``, when given, must
    agree)."""
    start = ck.read_checkpoint(cfg.init_from)
    if "arch" in given and given["arch"] != start.arch:
        raise ConfigError(f"--init-from {cfg.init_from}: a checkpoint of arch "
                          f"{start.arch!r}, not the --arch {given['arch']!r} given")
    cfg.arch = start.arch
    model = build(**{**start.meta["model_config"], "init": False})
    ck.restore(start, model)
    return model


def setup_run(cfg: TrainConfig, *, resume: bool = False,
              overrides: dict[str, Any] | None = None,
              build: Callable[..., torch.nn.Module] | None = None,
              log: Callable[[str], None] = tqdm.write) -> TrainingRun:
    """The model, data, augmentation and update rule of a new or resumed run.

    The order is part of the run's reproducibility: seed, then build (the initial
    weights depend only on the seed), then the data; a resumed run then restores the
    weights, the update rule's state and the RNG state from its checkpoint.
    """
    build = build or ck.default_builder
    out = Path(cfg.out)
    cfg, ckpt = _open_run(cfg, out, resume, overrides or {})
    cfg = cfg.with_recipe()
    cfg.validate()
    device = resolve_device(cfg.device)
    dist = from_environment(device)
    if dist is not None:
        device = dist.device(device)
        if not dist.main:  # one set of bars and messages: rank 0's
            cfg.progress = False
            log = _silent
    if ckpt is not None and "schedule" not in (overrides or {}):
        # the rules as they were when the run started (the file may have moved since)
        schedule = parse_schedule(ckpt.config.get("schedule_rules", []),
                                  source=f"{ckpt.path} schedule")
    else:
        schedule = load_schedule(cfg.schedule)

    # Seed, then build: the initial weights depend only on the seed.
    seed_everything(cfg.seed)
    if ckpt is not None:
        model = ck.rebuild(ckpt, build)
        ck.check_architecture(ckpt, model)
    elif cfg.init_from:
        model = _initial_from(cfg, build, overrides or {})
    else:
        model = build(cfg.arch, seed=cfg.seed)  # build_model seeds its own initialisation
    model.to(device)

    size = stored_size_for(model, cfg.image_size)
    if dist is not None and dist.local_rank != 0:
        dist.barrier()  # the first process of each node decodes into the cache first
    ds = load_dataset(cfg.data, size=size, cache_dir=cfg.cache_dir, md5=cfg.md5,
                      workers=cfg.workers, progress=cfg.progress)
    if dist is not None and dist.local_rank == 0:
        dist.barrier()
    _check_data(ds, model, ckpt, cfg)
    train_split = stratified_subset(ds.train, cfg.limit_train, cfg.seed, stream=0)
    test_split = stratified_subset(ds.test, cfg.limit_test, cfg.seed, stream=1)
    assert train_split is not None
    subsets = _subset_notes(ds, train_split, test_split)
    for note in subsets.values():
        log(note)

    mean, pca_vals, pca_vecs = _data_statistics(ckpt, train_split)
    aug = make_augmenter(cfg, model, mean, pca_vals, pca_vecs)

    opt = Update2012(model.param_groups())
    coeff = float((getattr(model, "cost", None) or {}).get("coeff", 1.0))  # logreg coeff
    run_config = {
        "train": cfg.to_json(),
        "arch": getattr(model, "arch", cfg.arch),
        "model_config": getattr(model, "config", {}),
        "data": ds.source,
        "classes": ds.classes,
        "stored_size": size,
        "input_shape": list(model.input_shape),
        "augment": {"pca_noise": aug.pca_noise, "color_noise": aug.color_noise,
                    "crop_chunk": aug.crop_chunk, "flip": aug.flip, "border": aug.border},
        "schedule_rules": schedule.to_json(),
        "cost_coeff": coeff,
    }
    extra = {"data/mean": torch.from_numpy(np.asarray(mean, np.float32)),
             "data/pca_vals": torch.from_numpy(np.asarray(pca_vals, np.float64)),
             "data/pca_vecs": torch.from_numpy(np.asarray(pca_vecs, np.float64))}

    if ckpt is not None:
        ck.restore(ckpt, model, opt, rng=True)
        pos = dict(ckpt.meta["position"])
        st = dict(ckpt.meta.get("state", {}))
    else:
        pos = {"epoch": 0, "batch": 0, "step": 0}
        st = {}
    history: list[dict[str, Any]] = list(st.get("history", []))
    session_start = time.perf_counter()
    run = TrainingRun(
        cfg=cfg, out=out, device=device, schedule=schedule, model=model, opt=opt, aug=aug,
        coeff=coeff, train_split=train_split, test_split=test_split, run_config=run_config,
        extra=extra, pos=pos, history=history, accum=dict(st.get("accum", {})),
        wall_before=float(st.get("wall_s", 0.0)),
        last_ckpt=ckpt.path if ckpt is not None else None, log=log,
        session_start=session_start, dist=dist,
        forward=dist.wrap(model, device) if dist is not None else model,
        metrics={
            "run": out.name, "status": "running", "config": {**run_config, **_flat(cfg)},
            "seed": cfg.seed, "versions": versions(), "device": str(device),
            "threads": torch.get_num_threads(), "epochs": history,
            "skipped_images": len(ds.skipped), "subsets": subsets,
            "skipped": [{"file": a, "reason": b} for a, b in ds.skipped],
            "distributed": ({"world_size": dist.world, "backend": dist.backend}
                            if dist is not None else None),
        })
    if run.main:
        out.mkdir(parents=True, exist_ok=True)
    if ds.skipped:
        log(f"skipped {len(ds.skipped)} unreadable image(s): "
            + "; ".join(f"{a} ({b})" for a, b in ds.skipped[:5])
            + (" ..." if len(ds.skipped) > 5 else ""))
    return run


def _subset_notes(ds: Dataset, train_split: Split,
                  test_split: Split | None) -> dict[str, str]:
    """One line per split that ``--limit-train``/``--limit-test`` cut, for the log and
    metrics.json (a figure on a subset must never pass for one on the whole split)."""
    notes = {}
    for name, full, part in (("train", ds.train, train_split), ("test", ds.test, test_split)):
        if full is not None and part is not None and len(part) < len(full):
            k = len(np.unique(part.labels))
            notes[name] = (f"using a stratified subset of {len(part)} of {len(full)} {name} "
                           f"images ({k} classes in proportion, drawn from the seed)")
    return notes


def _open_run(cfg: TrainConfig, out: Path, resume: bool,
              overrides: dict[str, Any]) -> tuple[TrainConfig, ck.Checkpoint | None]:
    """The run's settings and its latest checkpoint (resume), or a check that ``out`` is free."""
    ckdir = out / "checkpoints"
    if resume:
        if not ckdir.is_dir():
            raise CheckpointError(f"{out}: nothing to resume (no checkpoints/ folder)")
        ckpt = ck.read_checkpoint(ckdir)
        return _merge_resume(ckpt, overrides, out), ckpt
    if ckdir.is_dir() and any(ckdir.glob("ckpt-*.json")):
        raise ConfigError(f"{out}: already holds a run; use --resume to continue it or "
                          "choose another --out")
    return cfg, None


def _data_statistics(ckpt: ck.Checkpoint | None,
                     train_split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean image, RGB PCA eigenvalues and eigenvectors: computed when a run starts,
    then carried in every checkpoint (a resumed run reads them back)."""
    if ckpt is not None:
        return (ckpt.tensors["data/mean"].numpy(), ckpt.tensors["data/pca_vals"].numpy(),
                ckpt.tensors["data/pca_vecs"].numpy())
    mean = mean_image(train_split.images)
    pca_vals, pca_vecs = rgb_pca(train_split.images)
    return mean, pca_vals, pca_vecs


def run_epochs(run: TrainingRun, *, stop: StopFlag, max_steps: int | None = None,
               on_step: Callable[[int], None] | None = None) -> str:
    """Train from ``run.pos`` to the last epoch; ``finished``, ``interrupted`` or ``stopped``.

    Each finished epoch is scored on the test split and checkpointed; a run that stops
    early (Ctrl-C, ``max_steps``) is checkpointed where it stopped, mid-epoch.
    """
    cfg, pos = run.cfg, run.pos
    previous_handlers = _install_stop_handlers(stop, run.log, sigterm=run.dist is None)
    try:
        epoch_bar = tqdm(total=cfg.epochs, initial=min(pos["epoch"], cfg.epochs), desc="epochs",
                         unit="epoch", disable=not cfg.progress)
        while pos["epoch"] < cfg.epochs:
            e = pos["epoch"]
            run.schedule.apply(run.opt, e)
            cnoise = run.schedule.color_noise_for(run.aug.color_noise, e)
            status = _train_minibatches(run, e, cnoise, stop, max_steps, on_step)
            if status != "finished":
                last = run.save(status)
                run.write_metrics(status)
                run.log(f"{status} at epoch {e + 1}, minibatch {pos['batch']}/"
                        f"{run.batches_per_epoch}; resume with --resume (checkpoint {last})")
                return status
            _end_epoch(run, e, cnoise)
            epoch_bar.update(1)
        epoch_bar.close()
    finally:
        for sig, old in previous_handlers.items():
            signal.signal(sig, old)
    return "finished"


def _train_minibatches(run: TrainingRun, e: int, cnoise: float, stop: StopFlag,
                       max_steps: int | None, on_step: Callable[[int], None] | None) -> str:
    """Epoch ``e`` from ``run.pos["batch"]`` to its end, unless asked to stop first."""
    cfg, pos, accum, model = run.cfg, run.pos, run.accum, run.model
    nb = run.batches_per_epoch
    order = _order(len(run.train_split), cfg.seed, e, cfg.shuffle)
    model.train()
    bar = tqdm(total=nb, initial=pos["batch"], desc=f"epoch {e + 1}", unit="batch",
               leave=False, disable=not cfg.progress)
    status = "finished"
    t0 = time.perf_counter()
    while pos["batch"] < nb:
        b = pos["batch"]
        idx = order[b * cfg.batch : (b + 1) * cfg.batch]
        images = np.asarray(run.train_split.images[idx])
        labels_np = np.asarray(run.train_split.labels[idx], np.int64)
        rng = np.random.default_rng([cfg.seed, e, b])
        x_np = run.aug.train_batch(images, rng, color_noise=cnoise)
        if run.dist is not None:  # this rank's share of the (whole-batch) augmentation
            share = run.dist.share(len(idx))
            x_np, labels_np = x_np[share], labels_np[share]
        x, labels = torch.from_numpy(x_np).to(run.device), torch.from_numpy(labels_np).to(
            run.device)
        logits = (run.forward or model)(x)
        k = len(labels_np)
        ce = F.cross_entropy(logits.float(), labels) if k else logits.float().sum() * 0.0
        loss = run.coeff * ce
        lv = float(loss.detach())
        with torch.no_grad():
            probs = torch.softmax(logits.detach().float(), 1).cpu().numpy()
        credit = float(topk_credit(probs, labels_np, 1).sum()) if k else 0.0
        stopping = False
        if run.dist is not None:
            # whole-minibatch figures on every rank (and one decision to stop), and each
            # rank's loss weighted by its share, so DDP's mean gradient is the batch's
            loss = loss * (k * run.dist.world / len(idx))
            lsum, credit, k_all, stops = run.dist.sum(
                [lv * k, credit, k, float(stop.is_set())], run.device)
            lv, stopping, k = lsum / k_all, stops > 0, int(k_all)
        if not math.isfinite(lv):
            raise TrainingDiverged(
                f"cost became {lv} at epoch {e + 1}, minibatch {b + 1}; the last good "
                f"checkpoint is {run.last_ckpt} (lower the learning rate with --schedule)")
        model.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        accum["loss_sum"] = accum.get("loss_sum", 0.0) + lv * k
        accum["correct"] = accum.get("correct", 0.0) + float(credit)
        accum["n"] = accum.get("n", 0.0) + k
        pos["batch"] = b + 1
        pos["step"] += 1
        bar.update(1)
        if cfg.progress:
            bar.set_postfix(loss=f"{accum['loss_sum'] / accum['n']:.4f}")
        if on_step is not None:
            on_step(pos["step"])
        if run.dist is None:  # alone, a Ctrl-C during this step stops after it
            stopping = stop.is_set()
        if stopping or (max_steps is not None and pos["step"] >= max_steps):
            accum["train_s"] = accum.get("train_s", 0.0) + time.perf_counter() - t0
            status = "interrupted" if stopping else "stopped"
            break
        if cfg.checkpoint_every and pos["step"] % cfg.checkpoint_every == 0 \
                and pos["batch"] < nb:
            accum["train_s"] = accum.get("train_s", 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()
            run.save("running")
    bar.close()
    if status == "finished":
        accum["train_s"] = accum.get("train_s", 0.0) + time.perf_counter() - t0
    return status


def _end_epoch(run: TrainingRun, e: int, cnoise: float) -> None:
    """Score epoch ``e`` on the test split, record its row, checkpoint, report."""
    cfg, accum, test_split = run.cfg, run.accum, run.test_split
    t1 = time.perf_counter()
    test = (evaluate(run.model, test_split.images, test_split.labels, run.aug,
                     views=cfg.test_views, batch_size=cfg.eval_batch, device=run.device,
                     progress=cfg.progress)
            if test_split is not None and run.main else {})
    rates = run.opt.rates()
    row = {
        "epoch": e + 1,
        "train_loss": accum["loss_sum"] / accum["n"],
        "train_top1_err": 1.0 - accum["correct"] / accum["n"],
        "test_top1_err": test.get("top1_err"),
        "test_top5_err": test.get("top5_err"),
        "test_loss": test.get("loss"),
        "test_views": cfg.test_views,
        "eps_first": next(iter(rates.values())),
        "eps": rates,
        "color_noise": cnoise if run.aug.pca_noise != "off" else 0.0,
        "images_per_s": accum["n"] / max(accum["train_s"], 1e-9),
        "train_s": accum["train_s"],
        "eval_s": time.perf_counter() - t1,
    }
    run.history.append(row)
    run.pos["epoch"], run.pos["batch"] = e + 1, 0
    run.accum = {}
    row["wall_s"] = run.wall()
    run.save("running")
    run.write_metrics("running")
    run.log(f"epoch {e + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, test top-1 "
            + (f"{100 * row['test_top1_err']:.2f}%" if test else "-")
            + f", {row['images_per_s']:.0f} images/s")


def finish_run(run: TrainingRun) -> RunResult:
    """The final test error (the last epoch's, or again with ``final_views``); done."""
    cfg, history, test_split = run.cfg, run.history, run.test_split
    fv = cfg.final_views or cfg.test_views
    if test_split is not None and run.main:
        if history and fv == cfg.test_views and history[-1].get("test_top1_err") is not None:
            h = history[-1]
            final = {"n": len(test_split), "views": fv, "top1_err": h["test_top1_err"],
                     "top5_err": h["test_top5_err"], "loss": h["test_loss"]}
        else:
            final = evaluate(run.model, test_split.images, test_split.labels, run.aug,
                             views=fv, batch_size=cfg.eval_batch, device=run.device,
                             progress=cfg.progress)
        run.metrics["final"] = final
    run.write_metrics("finished")
    return RunResult("finished", run.out, run.last_ckpt, run.metrics)


def _silent(message: str) -> None:
    """The log of the ranks other than 0 (rank 0 speaks for the job)."""


def _flat(cfg: TrainConfig) -> dict[str, Any]:
    d = cfg.to_json()
    return {k: d[k] for k in ("epochs", "batch", "seed", "device", "pca_noise", "color_noise",
                              "crop_chunk", "flip", "test_views", "shuffle")} | {
        "schedule": cfg.schedule}


def _merge_resume(ckpt: ck.Checkpoint, overrides: dict[str, Any], out: Path) -> TrainConfig:
    saved = dict(ckpt.config.get("train", {}))
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    if cfg.schedule is None:  # a run begun before recipes were defaults: constant rates
        cfg.schedule = "none"
    for k, v in overrides.items():
        if k not in known:
            raise ConfigError(f"unknown setting {k!r}")
        if k in RESUMABLE:
            setattr(cfg, k, v)
        elif v != getattr(cfg, k):
            raise ConfigError(f"{ckpt.path}: {k} is fixed for this run ({getattr(cfg, k)!r}); "
                              f"cannot change it to {v!r} on --resume")
    cfg.out = str(out)
    return cfg


def _check_data(ds: Dataset, model: torch.nn.Module, ckpt: ck.Checkpoint | None,
                cfg: TrainConfig) -> None:
    if len(ds.classes) != int(model.num_classes):
        raise DataError(f"{cfg.data}: {len(ds.classes)} classes, but the net "
                        f"{getattr(model, 'arch', '')!r} has {model.num_classes} outputs")
    if ckpt is not None:
        want = ckpt.config.get("data", {}).get("checksum")
        if want and want != ds.source.get("checksum"):
            raise DataError(f"{cfg.data}: checksum {ds.source.get('checksum')}, but run "
                            f"{cfg.out} was trained on {want}")
