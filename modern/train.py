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

Like the 2012 driver, a non-finite cost stops the run (the last checkpoint survives).
Ctrl-C asks the loop to stop after the current minibatch and save; a second Ctrl-C
aborts at once, leaving the previous checkpoint intact (files are written atomically).
"""

from __future__ import annotations

import dataclasses
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from alexnet.modern import checkpoint as ck
from alexnet.modern.augment import Augmenter, default_crop_chunk, mean_image, rgb_pca
from alexnet.modern.data import Dataset, Split, load_dataset
from alexnet.modern.evaluate import evaluate
from alexnet.modern.metrics import topk_credit, versions, write_json, write_report
from alexnet.modern.update import Update2012, load_schedule, parse_schedule

from alexnet.errors import AlexNetError, CheckpointError, ConfigError, DataError


class TrainingDiverged(AlexNetError):
    """The cost became NaN or infinite (the 2012 driver stopped the same way)."""


@dataclass
class TrainConfig:
    """Every knob of a run; stored in each checkpoint and in metrics.json."""

    arch: str = "cifar10-80sec"
    data: str = ""
    out: str = "runs/default"
    epochs: int = 10
    batch: int = 128
    seed: int = 0
    schedule: str | None = None  # a preset name (update.PRESETS) or a YAML/JSON file
    device: str = "cpu"  # cpu | cuda | auto
    cache_dir: str | None = None
    md5: str | None = None
    image_size: int | None = None  # stored square size; None: 32 for <=32 inputs, else 256
    pca_noise: str | None = None  # code | paper | off; None: off for CIFAR, code for ImageNet
    color_noise: float = 0.1
    crop_chunk: int | None = None  # None: 1 for CIFAR, 32 for ImageNet (the 2012 providers)
    flip: bool | None = None  # None: flip iff there is a crop border (cifar vs cifar-cropped)
    shuffle: str = "once"  # once | epoch | none
    test_views: int = 1
    final_views: int | None = None
    checkpoint_every: int = 0  # minibatches between extra checkpoints (0: epoch ends only)
    keep: int = 2
    workers: int | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    eval_batch: int = 256
    progress: bool = True

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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
    """Set by the first Ctrl-C (or by a caller); the loop saves and returns at a clean point."""

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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from alexnet.errors import BackendUnavailable

        raise BackendUnavailable(f"--device {name}: torch sees no CUDA device on this machine")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: expected cpu, cuda, cuda:N or auto") from None


def stored_size_for(model: torch.nn.Module, image_size: int | None) -> int:
    if image_size:
        return int(image_size)
    side = int(model.input_shape[-1])
    return 32 if side <= 32 else 256


def _limit(split: Split | None, n: int | None) -> Split | None:
    if split is None or n is None or n >= len(split):
        return split
    return Split(split.images[:n], split.labels[:n])


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


def _install_sigint(stop: StopFlag, log: Callable[[str], None]):
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if stop.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        stop.set()
        log("interrupt: finishing this minibatch, then saving a checkpoint "
            "(Ctrl-C again to abort without saving)")

    signal.signal(signal.SIGINT, handler)
    return previous


# --------------------------------------------------------------------------------------


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
    from tqdm import tqdm

    build = build or ck.default_builder
    stop = stop or StopFlag()
    if log is None:
        def log(msg: str) -> None:
            tqdm.write(msg)
    out = Path(cfg.out)
    ckdir = out / "checkpoints"

    ckpt = None
    if resume:
        if not ckdir.is_dir():
            raise CheckpointError(f"{out}: nothing to resume (no checkpoints/ folder)")
        ckpt = ck.read_checkpoint(ckdir)
        cfg = _merge_resume(ckpt, overrides or {}, out)
    elif ckdir.is_dir() and any(ckdir.glob("ckpt-*.json")):
        raise ConfigError(f"{out}: already holds a run; use --resume to continue it or "
                          "choose another --out")

    cfg.validate()
    device = resolve_device(cfg.device)
    if ckpt is not None and "schedule" not in (overrides or {}):
        # the rules as they were when the run started (the file may have moved since)
        schedule = parse_schedule(ckpt.config.get("schedule_rules", []),
                                  source=f"{ckpt.path} schedule")
    else:
        schedule = load_schedule(cfg.schedule)

    # Seed, then build: the initial weights depend only on the seed.
    seed_everything(cfg.seed)
    if ckpt is not None:
        model = build(**ckpt.meta["model_config"])
        ck.check_architecture(ckpt, model)
    else:
        model = build(cfg.arch, seed=cfg.seed)  # build_model seeds its own initialisation
    model.to(device)

    size = stored_size_for(model, cfg.image_size)
    ds = load_dataset(cfg.data, size=size, cache_dir=cfg.cache_dir, md5=cfg.md5,
                      workers=cfg.workers, progress=cfg.progress)
    _check_data(ds, model, ckpt, cfg)
    train_split = _limit(ds.train, cfg.limit_train)
    test_split = _limit(ds.test, cfg.limit_test)
    assert train_split is not None

    if ckpt is not None:
        mean = ckpt.tensors["data/mean"].numpy()
        pca_vals = ckpt.tensors["data/pca_vals"].numpy()
        pca_vecs = ckpt.tensors["data/pca_vecs"].numpy()
    else:
        mean = mean_image(train_split.images)
        pca_vals, pca_vecs = rgb_pca(train_split.images)
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
    accum: dict[str, float] = dict(st.get("accum", {}))
    wall_before = float(st.get("wall_s", 0.0))
    session_start = time.perf_counter()

    n_train = len(train_split)
    nb = math.ceil(n_train / cfg.batch)
    metrics: dict[str, Any] = {
        "run": out.name, "status": "running", "config": {**run_config, **_flat(cfg)},
        "seed": cfg.seed, "versions": versions(), "device": str(device),
        "threads": torch.get_num_threads(), "epochs": history,
        "skipped_images": len(ds.skipped),
        "skipped": [{"file": a, "reason": b} for a, b in ds.skipped],
    }
    out.mkdir(parents=True, exist_ok=True)
    if ds.skipped:
        log(f"skipped {len(ds.skipped)} unreadable image(s): "
            + "; ".join(f"{a} ({b})" for a, b in ds.skipped[:5])
            + (" ..." if len(ds.skipped) > 5 else ""))

    def wall() -> float:
        return wall_before + time.perf_counter() - session_start

    def save(status: str) -> Path:
        state = {"history": history, "accum": accum, "wall_s": wall(), "status": status}
        return ck.save_checkpoint(ckdir, model=model, optimizer=opt, position=pos,
                                  config=run_config, state=state, extra_tensors=extra,
                                  keep=cfg.keep)

    def write_metrics(status: str) -> None:
        metrics["status"] = status
        metrics["wall_s"] = wall()
        write_json(out / "metrics.json", metrics)
        write_report(out / "report.md", metrics)

    last_ckpt: Path | None = ckpt.path if ckpt is not None else None
    previous_handler = _install_sigint(stop, log)
    status = "finished"
    try:
        epoch_bar = tqdm(total=cfg.epochs, initial=min(pos["epoch"], cfg.epochs), desc="epochs",
                         unit="epoch", disable=not cfg.progress)
        while pos["epoch"] < cfg.epochs:
            e = pos["epoch"]
            schedule.apply(opt, e)
            cnoise = schedule.color_noise_for(aug.color_noise, e)
            order = _order(n_train, cfg.seed, e, cfg.shuffle)
            model.train()
            bar = tqdm(total=nb, initial=pos["batch"], desc=f"epoch {e + 1}", unit="batch",
                       leave=False, disable=not cfg.progress)
            t0 = time.perf_counter()
            while pos["batch"] < nb:
                b = pos["batch"]
                idx = order[b * cfg.batch : (b + 1) * cfg.batch]
                images = np.asarray(train_split.images[idx])
                labels = torch.from_numpy(np.asarray(train_split.labels[idx], np.int64))
                rng = np.random.default_rng([cfg.seed, e, b])
                x = torch.from_numpy(aug.train_batch(images, rng, color_noise=cnoise))
                x, labels = x.to(device), labels.to(device)
                logits = model(x)
                loss = coeff * F.cross_entropy(logits.float(), labels)
                lv = float(loss.detach())
                if not math.isfinite(lv):
                    raise TrainingDiverged(
                        f"cost became {lv} at epoch {e + 1}, minibatch {b + 1}; the last good "
                        f"checkpoint is {last_ckpt} (lower the learning rate with --schedule)")
                model.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    probs = torch.softmax(logits.detach().float(), 1).cpu().numpy()
                credit = topk_credit(probs, labels.cpu().numpy(), 1).sum()
                k = len(idx)
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
                if stop.is_set() or (max_steps is not None and pos["step"] >= max_steps):
                    accum["train_s"] = accum.get("train_s", 0.0) + time.perf_counter() - t0
                    status = "interrupted" if stop.is_set() else "stopped"
                    break
                if cfg.checkpoint_every and pos["step"] % cfg.checkpoint_every == 0 \
                        and pos["batch"] < nb:
                    accum["train_s"] = accum.get("train_s", 0.0) + time.perf_counter() - t0
                    t0 = time.perf_counter()
                    last_ckpt = save("running")
            bar.close()
            if status != "finished":
                last_ckpt = save(status)
                write_metrics(status)
                log(f"{status} at epoch {e + 1}, minibatch {pos['batch']}/{nb}; resume with "
                    f"--resume (checkpoint {last_ckpt})")
                return RunResult(status, out, last_ckpt, metrics)
            accum["train_s"] = accum.get("train_s", 0.0) + time.perf_counter() - t0
            t1 = time.perf_counter()
            test = (evaluate(model, test_split.images, test_split.labels, aug,
                             views=cfg.test_views, batch_size=cfg.eval_batch, device=device,
                             progress=cfg.progress)
                    if test_split is not None else {})
            rates = opt.rates()
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
                "color_noise": cnoise if aug.pca_noise != "off" else 0.0,
                "images_per_s": accum["n"] / max(accum["train_s"], 1e-9),
                "train_s": accum["train_s"],
                "eval_s": time.perf_counter() - t1,
            }
            history.append(row)
            pos["epoch"], pos["batch"] = e + 1, 0
            accum = {}
            row["wall_s"] = wall()
            last_ckpt = save("running")
            write_metrics("running")
            epoch_bar.update(1)
            log(f"epoch {e + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, test top-1 "
                + (f"{100 * row['test_top1_err']:.2f}%" if test else "-")
                + f", {row['images_per_s']:.0f} images/s")
        epoch_bar.close()
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)

    fv = cfg.final_views or cfg.test_views
    if test_split is not None:
        if history and fv == cfg.test_views and history[-1].get("test_top1_err") is not None:
            h = history[-1]
            final = {"n": len(test_split), "views": fv, "top1_err": h["test_top1_err"],
                     "top5_err": h["test_top5_err"], "loss": h["test_loss"]}
        else:
            final = evaluate(model, test_split.images, test_split.labels, aug, views=fv,
                             batch_size=cfg.eval_batch, device=device, progress=cfg.progress)
        metrics["final"] = final
    write_metrics("finished")
    return RunResult("finished", out, last_ckpt, metrics)


def _flat(cfg: TrainConfig) -> dict[str, Any]:
    d = cfg.to_json()
    return {k: d[k] for k in ("epochs", "batch", "seed", "device", "pca_noise", "color_noise",
                              "crop_chunk", "flip", "test_views", "shuffle")} | {
        "schedule": cfg.schedule}


def _merge_resume(ckpt: ck.Checkpoint, overrides: dict[str, Any], out: Path) -> TrainConfig:
    saved = dict(ckpt.config.get("train", {}))
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
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
