"""Bundled trained weights and test images: loading with checksums, and making them.

Each bundled net is a pair in ``verify/bundled/``:

``<name>.safetensors``
    the tensors of the last checkpoint of a training run of the project's own pipeline
    (``alexnet train``): ``model/<state_dict key>``, ``velocity/<tensor name>`` (the
    update rule's momentum buffers at the end of the run) and ``data/mean`` (the
    training mean image the inputs are centred with);
``<name>.json``
    its provenance: the data and its sha256, the training parameters and seed, the
    commit, the achieved test error, and the sha256 the file had when it was bundled.

Which files exist and the sha256 each must have is pinned in the registry
(:data:`alexnet.registry.WEIGHTS`, :data:`alexnet.registry.TEST_IMAGES`); a file is
checked against its pin before it is used (a truncated or modified file is refused with
a :class:`~alexnet.errors.ChecksumError`). After re-bundling, copy the new sha256 into
the registry (``tests/test_registry.py`` checks that every pin matches its file).

``cifar10-sample.npy`` holds the suites' inputs: one CIFAR-10 test image per class
(uint8, N x 32 x 32 x 3), listed with labels in ``cifar10-sample.json``.

The ``make_*`` functions are the maintainer's side: ``python -m alexnet.verify.bundled
--help``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alexnet import registry
from alexnet.errors import CheckpointError, ChecksumError, ConfigError, DataError
from alexnet.io import atomic_write_bytes
from alexnet.modern import checkpoint as ck
from alexnet.modern.augment import Augmenter
from alexnet.modern.checkpoint import FORMAT
from alexnet.modern.data import load_dataset
from alexnet.verify.report import write_json
from alexnet.verify.suites import bundled_dir

SAMPLE = "cifar10-sample"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ChecksumError(f"{path}: missing (the bundled provenance file)") from None
    except ValueError as exc:
        raise ChecksumError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ChecksumError(f"{path}: expected a JSON object")
    return doc


def _verified_bytes(path: Path, sha: str, what: str) -> bytes:
    try:
        blob = path.read_bytes()
    except OSError:
        raise ChecksumError(f"{path}: missing ({what})") from None
    got = hashlib.sha256(blob).hexdigest()
    if got != sha:
        raise ChecksumError(f"{path}: sha256 {got[:16]}..., the registry pins "
                            f"{sha[:16]}... (truncated or modified {what})")
    return blob


def _pin(name: str) -> registry.BundledFile:
    """The registry's pin of a bundled weight set."""
    source = registry.weight_set(name).source
    if not isinstance(source, registry.BundledFile):
        raise ConfigError(f"weights {name!r} are not bundled with the package "
                          f"(download {source.file} from {source.url})")
    return source


@dataclass
class Bundle:
    name: str
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    path: Path

    @property
    def arch(self) -> str:
        return str(self.meta["arch"])

    @property
    def model_config(self) -> dict[str, Any]:
        return dict(self.meta.get("model_config") or {})

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + "/")}

    def velocities(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        vel = self.group("velocity")
        out = {}
        for g in model.param_groups():
            v = vel.get(g["name"])
            out[g["name"]] = v.clone() if v is not None else torch.zeros_like(g["param"])
        return out

    def info(self) -> dict[str, Any]:
        m = self.meta
        tr = m.get("training", {})
        met = m.get("metrics", {})
        return {
            "weights": f"bundled/{self.name}.safetensors (sha256 "
                       f"{_pin(self.name).sha256[:16]}..., verified)",
            "trained": f"alexnet train, {tr.get('epochs')} epochs, seed {tr.get('seed')}, "
                       f"schedule {tr.get('schedule')}; test top-1 error "
                       f"{_pct(met.get('top1_err'))} on {m.get('data', {}).get('name')}",
        }


def _pct(x: Any) -> str:
    return "n/a" if not isinstance(x, int | float) else f"{100 * x:.2f}%"


def load(name: str, folder: Path | None = None) -> Bundle:
    """A bundled net, its sha256 checked against the registry's pin first."""
    from safetensors.torch import load as st_load

    pin = _pin(name)
    folder = folder or bundled_dir()
    meta = _read_json(folder / f"{name}.json")
    w = meta.get("weights") or {}
    if w.get("file") != pin.file:
        raise ChecksumError(f"{folder / (name + '.json')}: weights.file is {w.get('file')!r}, "
                            f"expected {pin.file}")
    blob = _verified_bytes(folder / pin.file, pin.sha256, "bundled weights")
    try:
        tensors = st_load(blob)
    except Exception as exc:
        raise CheckpointError(f"{folder / pin.file}: not a valid safetensors file ({exc})"
                              ) from None
    for key in ("arch", "model_config"):
        if key not in meta:
            raise ChecksumError(f"{folder / (name + '.json')}: no {key!r}")
    return Bundle(name, meta, tensors, folder / pin.file)


def restore_into(b: Bundle, model: torch.nn.Module) -> None:
    """Load a bundle's weights with the port's own checkpoint checks (arch, names, shapes)."""

    fake = ck.Checkpoint(path=b.path, meta={"arch": b.arch}, tensors=b.tensors)
    ck.restore(fake, model)


def sample_images(folder: Path | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    folder = folder or bundled_dir()
    pin = registry.TEST_IMAGES[SAMPLE]
    meta = _read_json(folder / f"{SAMPLE}.json")
    blob = _verified_bytes(folder / pin.file, pin.sha256, "bundled test images")
    import io

    try:
        images = np.load(io.BytesIO(blob), allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{folder / (SAMPLE + '.npy')}: unreadable ({exc})") from None
    labels = np.asarray(meta["labels"], dtype=np.int64)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{folder / (SAMPLE + '.npy')}: expected uint8 (N, H, W, 3) with "
                        f"{labels.shape[0]} images, got {images.dtype} {images.shape}")
    return images, labels, meta


def sample_inputs(b: Bundle, model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """The sample images as the port's test-time view sees them (centre crop, minus mean)."""

    images, labels, _ = sample_images()
    mean = b.tensors.get("data/mean")
    if mean is None:
        raise CheckpointError(f"{b.path}: no data/mean tensor")
    aug = Augmenter(mean=mean.numpy(), out_size=int(model.input_shape[-1]), pca_noise="off")
    y, x, mirrored = aug.view_offsets(1)[0]
    return aug.view_batch(images, y, x, mirrored), labels


# --------------------------------------------------------------------------------------
# --weights: what kind of file, and loading a modern one


def weights_kind(path: Path) -> str:
    """"2012" (pickled checkpoint file or run folder) or "modern" (safetensors/JSON)."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    if path.is_dir():
        if any(path.glob("ckpt-e*-b*.json")) or any(path.glob("checkpoints/ckpt-e*-b*.json")):
            return "modern"
        return "2012"
    if path.suffix in (".safetensors", ".json"):
        return "modern"
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[:1] == b"\x80" or head[:2] in (b"PK", b"\x1f\x8b"):
        return "2012"
    raise CheckpointError(f"{path}: neither a 2012 checkpoint (a pickle) nor a safetensors "
                          "file or modern checkpoint")


def load_modern_into(path: Path, model: torch.nn.Module
                     ) -> tuple[dict[str, torch.Tensor], np.ndarray | None]:
    """Weights from a modern checkpoint (pair or run folder), a bundle-style safetensors
    file, or a safetensors export of a 2012 checkpoint; returns (velocities, mean)."""

    if path.is_dir() or path.suffix == ".json" or _is_checkpoint_json(path.with_suffix(".json")):
        c = ck.read_checkpoint(path)
        ck.restore(c, model)
        vel = c.group("velocity")
        mean = c.tensors.get("data/mean")
    else:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
        if any(k.startswith("model/") for k in tensors):
            arch = getattr(model, "arch", "")
            ck.restore(ck.Checkpoint(path=path, meta={"arch": arch}, tensors=tensors), model)
            vel = {k[9:]: v for k, v in tensors.items() if k.startswith("velocity/")}
            mean = tensors.get("data/mean")
        else:
            vel, mean = _load_export(path, tensors, model), None
    out = {}
    for g in model.param_groups():
        v = vel.get(g["name"])
        if v is not None and tuple(v.shape) != tuple(g["param"].shape):
            raise CheckpointError(f"{path}: velocity {g['name']} has shape {tuple(v.shape)}, "
                                  f"the model needs {tuple(g['param'].shape)}")
        out[g["name"]] = v.clone() if v is not None else torch.zeros_like(g["param"])
    return out, (mean.numpy() if mean is not None else None)


def _is_checkpoint_json(path: Path) -> bool:
    """True for the JSON half of a modern checkpoint pair (not, e.g., a bundle's
    provenance file next to its safetensors)."""

    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _load_export(path: Path, tensors: dict[str, torch.Tensor], model: torch.nn.Module
                 ) -> dict[str, torch.Tensor]:
    """A safetensors export of a 2012 checkpoint: per-layer names or the state_dict."""
    own = model.state_dict()
    if set(own) <= set(tensors):
        state = {k: tensors[k] for k in own}
        for k, v in own.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise CheckpointError(f"{path}: {k} has shape {tuple(state[k].shape)}, the "
                                      f"model needs {tuple(v.shape)}")
        model.load_state_dict(state, strict=True)
        return {}
    groups = {g["name"]: g["param"] for g in model.param_groups()}
    missing = sorted(set(groups) - set(tensors))
    if missing:
        raise CheckpointError(f"{path}: tensors do not match {getattr(model, 'arch', '?')!r} "
                              f"(missing {missing[:3]}); is it from another network?")
    with torch.no_grad():
        for name, p in groups.items():
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise CheckpointError(f"{path}: {name} has shape "
                                      f"{tuple(tensors[name].shape)}, the model needs "
                                      f"{tuple(p.shape)}")
            p.copy_(tensors[name])
    return {k[9:]: v for k, v in tensors.items() if k.startswith("velocity/")}


# --------------------------------------------------------------------------------------
# Making the bundle (maintainer side)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def make_bundle(run_dir: str | Path, name: str, *, out_dir: Path | None = None,
                commit: str | None = None, note: str = "") -> Path:
    """Copy a finished training run's last checkpoint into ``bundled/<name>.*``."""
    from safetensors.torch import save as st_save


    run = Path(run_dir)
    c = ck.read_checkpoint(run)
    metrics_path = run / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    keep = {k: v.contiguous() for k, v in c.tensors.items()
            if k.startswith(("model/", "velocity/")) or k == "data/mean"}
    blob = st_save(keep)
    out_dir = out_dir or bundled_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    st_path = out_dir / f"{name}.safetensors"
    atomic_write_bytes(st_path, blob, mode="umask")
    cfg = c.config.get("train", {})
    data = c.config.get("data", {})
    final = metrics.get("final") or {}
    epochs = metrics.get("epochs") or []
    if not final and epochs:  # a run still in progress: its last per-epoch test
        last = epochs[-1]
        final = {"top1_err": last.get("test_top1_err"), "top5_err": last.get("test_top5_err"),
                 "views": last.get("test_views"), "n": None}
    hist = [{k: e.get(k) for k in ("epoch", "train_loss", "train_top1_err", "test_top1_err",
                                    "test_top5_err", "eps_first", "images_per_s")}
            for e in metrics.get("epochs", [])]
    doc = {
        "name": name,
        "arch": c.arch,
        "model_config": c.meta.get("model_config", {}),
        "classes": c.config.get("classes"),
        "weights": {"file": st_path.name, "sha256": hashlib.sha256(blob).hexdigest(),
                    "bytes": len(blob), "tensors": len(keep),
                    "from": f"{c.path.name} of the run (epoch {c.meta['position'].get('epoch')})"},
        "data": {"name": Path(str(data.get("path", ""))).name, "checksum": data.get("checksum"),
                 "kind": data.get("kind"),
                 "note": "CIFAR-10 re-encoded by a third party as JPEG quality 75 (the shared "
                         "development copy), not the official python tarball; figures on it "
                         "can sit slightly above those on the official files"},
        "training": {
            "command": (f"alexnet train --arch {c.arch} --data {data.get('path')} --out RUN "
                        f"--epochs {cfg.get('epochs')} --seed {cfg.get('seed')} --schedule "
                        f"{cfg.get('schedule')}"),
            "epochs": cfg.get("epochs"), "batch": cfg.get("batch"), "seed": cfg.get("seed"),
            "schedule": cfg.get("schedule"), "device": cfg.get("device"),
            "config": cfg,
            "wall_seconds": metrics.get("wall_s"), "threads": metrics.get("threads"),
            "versions": metrics.get("versions"),
        },
        "status": metrics.get("status"),
        "epochs_completed": c.meta["position"].get("epoch"),
        "metrics": {"top1_err": final.get("top1_err"), "top5_err": final.get("top5_err"),
                    "views": final.get("views"), "test_images": final.get("n"),
                    "history": hist},
        "commit": commit or _git("rev-parse", "HEAD"),
        "note": note,
    }
    places = {str(run.resolve()): "RUN", str(run): "RUN"}
    if data.get("path"):
        places[str(Path(str(data["path"])).parent)] = "DATA"
    if metrics:
        # the run's own metrics file, for the docs (their *metrics*.json tables)
        write_json(out_dir / f"{name}-metrics.json", portable(metrics, places))
    return write_json(out_dir / f"{name}.json", portable(doc, places))


def portable(value: Any, places: dict[str, str]) -> Any:
    """``value`` with the maintainer's folders replaced by ``RUN`` and ``DATA``.

    Why: the bundled files are committed, and a path of the machine that trained the
    net says nothing to anyone else (the data is named by its checksum, the run by its
    settings); longer folders are replaced first, so a run inside the data folder
    still reads ``RUN``.
    """
    if isinstance(value, dict):
        return {k: portable(v, places) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, places) for v in value]
    if isinstance(value, str):
        for old in sorted((p for p in places if p and p not in (".", "/")), key=len,
                          reverse=True):
            value = value.replace(old, places[old])
    return value


def make_sample(data: str | Path, *, out_dir: Path | None = None, per_class: int = 1) -> Path:
    """The first ``per_class`` test images of every class, from a CIFAR-10 copy."""

    ds = load_dataset(data, size=32, progress=False)
    if ds.test is None:
        raise DataError(f"{data}: no test split")
    labels = np.asarray(ds.test.labels)
    idx = []
    for c in range(len(ds.classes)):
        idx.extend(int(i) for i in np.flatnonzero(labels == c)[:per_class])
    images = np.ascontiguousarray(np.asarray(ds.test.images)[idx], dtype=np.uint8)
    out_dir = out_dir or bundled_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / f"{SAMPLE}.npy"
    import io

    buf = io.BytesIO()
    np.save(buf, images, allow_pickle=False)
    blob = buf.getvalue()
    atomic_write_bytes(p, blob, mode="umask")
    doc = {"file": p.name, "sha256": hashlib.sha256(blob).hexdigest(),
           "shape": list(images.shape), "labels": [int(labels[i]) for i in idx],
           "classes": ds.classes, "test_indices": idx,
           "source": {"name": Path(str(data)).name, "checksum": ds.source.get("checksum"),
                      "split": "test", "order": "as the project's data loader lists it"}}
    return write_json(out_dir / f"{SAMPLE}.json", doc)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m alexnet.verify.bundled",
                                 description="Make the verifier's bundled weights/images.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("weights", help="bundle a finished `alexnet train` run")
    a.add_argument("run")
    a.add_argument("name")
    a.add_argument("--commit")
    a.add_argument("--note", default="")
    b = sub.add_parser("sample", help="bundle one test image per class")
    b.add_argument("data")
    ns = ap.parse_args(argv)
    if ns.cmd == "weights":
        made = make_bundle(ns.run, ns.name, commit=ns.commit, note=ns.note)
        sha = json.loads(Path(made).read_text(encoding="utf-8"))["weights"]["sha256"]
    else:
        made = make_sample(ns.data)
        sha = json.loads(Path(made).read_text(encoding="utf-8"))["sha256"]
    print(made)
    print(f"pin it in alexnet/registry.py: sha256 {sha}")


if __name__ == "__main__":
    main()
