"""Reported vs reproduced accuracy, and the two implementations' agreement on a test set.

Reported figures come from ``paper-2012.md`` (the project's fact sheet): the 2011
release's CIFAR-10 example nets state their test error in their cfg headers, the paper
states AlexNet's ILSVRC-2012 validation error, and the BVLC model zoo states its
re-training's. A reproduced figure passes when it lies in a band around the reported
one; each band says why it is as wide as it is. Independently of any reported figure,
the port and the 2012 re-creation, given the same weights, must classify the test set
the same way: agreement at least 99.9% of images and top-1 errors within 0.2 points
(only near-ties can flip under fp32 reassociation).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.errors import DataError

MIN_AGREEMENT = 0.999
MAX_ERROR_DIFF = 0.002


@dataclass(frozen=True)
class Reported:
    profile: str
    metric: str
    value: float
    source: str
    band: tuple[float, float]  # absolute error rates
    reason: str


REPORTED: dict[str, list[Reported]] = {
    "cifar10-80sec": [Reported(
        "cifar10-80sec", "top1_err", 0.26,
        "2011 cuda-convnet release, header of example-layers/layers-80sec.cfg: 26% test "
        "error in 80 s on a GTX 580 (paper-2012.md)",
        (0.23, 0.31),
        "same cfg and recipe (10 epochs, every rate divided by 10 after epoch 8), but one "
        "seeded CPU run on the JPEG-q75 re-encoded CIFAR-10 copy (a little harder than the "
        "official files) and one test view: allow 3 points below and 5 above for the copy "
        "and run-to-run spread")],
    "cifar10-18pct": [Reported(
        "cifar10-18pct", "top1_err", 0.18,
        "2011 cuda-convnet release, header of example-layers/layers-18pct.cfg: 18% test "
        "error in 20 minutes on a GTX 580 (paper-2012.md)",
        (0.15, 0.35),
        "the bundled weights had a CPU budget of 20 epochs (rates divided by 10 after "
        "epoch 16), not the 2011 recipe of about 130 epochs whose first rate drop comes "
        "after epoch 120, and were trained on the JPEG-q75 copy; so early in that recipe "
        "the net is far from converged, and the band allows 17 points above the reported "
        "figure (and 3 below): a check that the net and its training work, not a "
        "reproduction of the 18%")],
    "alexnet2012": [
        Reported("alexnet2012", "top1_err", 0.407,
                 "paper §6: ILSVRC-2012 validation, 1 CNN, 40.7% top-1", (0.38, 0.45),
                 "10-view testing on ILSVRC-2012 val; ties counted fractionally"),
        Reported("alexnet2012", "top5_err", 0.182,
                 "paper §6: ILSVRC-2012 validation, 1 CNN, 18.2% top-5", (0.16, 0.21),
                 "10-view testing on ILSVRC-2012 val; ties counted fractionally"),
    ],
}


def find_cifar(data: str | Path | None = None) -> Path | None:
    """The CIFAR-10 test data: ``--data``, else the shared development copy."""
    if data is not None:
        p = Path(data).expanduser()
        if not p.exists():
            raise DataError(f"{p}: no such dataset file or folder")
        return p
    here = Path(__file__).resolve().parent.parent
    candidates = []
    env = os.environ.get("ALEXNET_SHARED")
    if env:
        candidates.append(Path(env) / "datasets" / "cifar10-jpg.tar.gz")
    candidates += [here.parent / "shared" / "datasets" / "cifar10-jpg.tar.gz",
                   Path("/work/shared/datasets/cifar10-jpg.tar.gz")]
    return next((c for c in candidates if c.is_file()), None)


def _band_row(rep: Reported, implementation: str, reproduced: float, *, cases: int,
              data: str) -> dict[str, Any]:
    lo, hi = rep.band
    return {"profile": rep.profile, "kind": "reported-vs-reproduced",
            "implementation": implementation, "metric": rep.metric, "reported": rep.value,
            "reproduced": float(reproduced), "band": [lo, hi],
            "passed": bool(lo <= reproduced <= hi), "reason": rep.reason, "source": rep.source,
            "cases": int(cases), "data": data}


def _skipped(profile: str, message: str) -> dict[str, Any]:
    return {"profile": profile, "kind": "skipped", "passed": True, "message": message}


def port_probs(model: Any, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            logits = model(torch.from_numpy(np.ascontiguousarray(x[s:s + batch])))
            out.append(torch.softmax(logits.float(), 1).numpy())
    return np.concatenate(out)


def reference_probs(layers: dict[str, dict[str, Any]], x: np.ndarray, labels: np.ndarray,
                    backend: Any, batch: int = 1000) -> np.ndarray:
    from alexnet.original.engine import Engine

    e = Engine(layers, backend=backend, seed=0)
    feats = np.ascontiguousarray(x.reshape(x.shape[0], -1).T, dtype=np.float32)
    labs = np.ascontiguousarray(labels.reshape(1, -1), dtype=np.float32)
    _costs, _n, probs = e.multiview_test([feats, labs], 1, batch)
    return probs


def cifar_rows(profile: str, *, data: str | Path | None, backend: Any,
               progress: Callable[[str], None] | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
    """Both implementations on the CIFAR-10 test set with the bundled weights (``limit``:
    only the first N test images, for quick checks; the bands assume the full set)."""
    from alexnet.modern.augment import Augmenter
    from alexnet.modern.data import load_dataset
    from alexnet.modern.evaluate import score
    from alexnet.verify import bundled
    from alexnet.verify.runner import prepare

    path = find_cifar(data)
    if path is None:
        return [_skipped(profile, "no CIFAR-10 test set found (pass --data, or place the shared "
                                  "copy at ../shared/datasets/cifar10-jpg.tar.gz)")]
    if progress:
        progress(f"accuracy: {profile} on {path.name}")
    prep = prepare(profile, backend=backend)
    b = bundled.load(profile)
    ds = load_dataset(path, size=32, progress=False)
    if ds.test is None:
        raise DataError(f"{path}: no test split")
    mean = b.tensors["data/mean"].numpy()
    aug = Augmenter(mean=mean, out_size=int(prep.model.input_shape[-1]), pca_noise="off")
    y0, x0, mirrored = aug.view_offsets(1)[0]
    x = aug.view_batch(np.asarray(ds.test.images), y0, x0, mirrored)
    labels = np.asarray(ds.test.labels, dtype=np.int64)
    if limit and limit < len(labels):
        # evenly spaced, so every class is represented (the test split is ordered by class)
        idx = np.linspace(0, len(labels) - 1, int(limit)).astype(np.int64)
        x, labels = x[idx], labels[idx]
    p_port = port_probs(prep.model, x)
    if progress:
        progress(f"accuracy: {profile}, 2012 re-creation on {len(labels)} images")
    p_ref = reference_probs(prep.ref_layers, x, labels, backend)
    s_port, s_ref = score(p_port, labels), score(p_ref, labels)
    name = path.name
    rows = []
    for rep in REPORTED[profile]:
        rows.append(_band_row(rep, "modern port", s_port[rep.metric], cases=len(labels),
                              data=name))
        rows.append(_band_row(rep, "2012 re-creation", s_ref[rep.metric], cases=len(labels),
                              data=name))
    agree = float((p_port.argmax(1) == p_ref.argmax(1)).mean())
    diff = abs(s_port["top1_err"] - s_ref["top1_err"])
    rows.append({"profile": profile, "kind": "agreement", "agreement": agree,
                 "min_agreement": MIN_AGREEMENT, "error_diff": float(diff),
                 "max_error_diff": MAX_ERROR_DIFF, "cases": int(len(labels)), "data": name,
                 "passed": bool(agree >= MIN_AGREEMENT and diff <= MAX_ERROR_DIFF)})
    return rows


def metrics_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows from a pipeline metrics JSON (``alexnet evaluate --json`` or a run's
    ``metrics.json``): the port's reproduced figures only."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError:
        raise DataError(f"{p}: no such metrics file") from None
    except ValueError as exc:
        raise DataError(f"{p}: not valid JSON ({exc})") from None
    res = doc.get("final", doc) if isinstance(doc, dict) else None
    arch = (doc.get("arch") or doc.get("config", {}).get("arch")) if isinstance(doc, dict) else None
    if not isinstance(res, dict) or "top1_err" not in res or arch not in REPORTED:
        raise DataError(f"{p}: expected an evaluation result with arch and top1_err for one "
                        f"of {', '.join(REPORTED)}")
    rows = []
    for rep in REPORTED[arch]:
        if res.get(rep.metric) is None:
            continue
        rows.append(_band_row(rep, "modern port (metrics file)", float(res[rep.metric]),
                              cases=int(res.get("n") or 0), data=str(doc.get("data", p.name))))
    return rows


def accuracy_rows(profiles: list[str], *, data: str | Path | None = None,
                  metrics: str | Path | None = None, backend: Any = "numpy",
                  progress: Callable[[str], None] | None = None,
                  limit: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if metrics is not None:
        rows.extend(metrics_rows(metrics))
    for profile in profiles:
        if profile == "alexnet2012":
            rows.append(_skipped(profile, "reported 40.7% top-1 / 18.2% top-5 (paper §6, "
                                          "ILSVRC-2012 val, 1 CNN): reproducing it needs trained "
                                          "AlexNet2012 weights and the ILSVRC-2012 validation set, "
                                          "neither of which ships with the project; evaluate "
                                          "with `alexnet evaluate` and pass --metrics"))
            continue
        if profile in REPORTED:
            rows.extend(cifar_rows(profile, data=data, backend=backend, progress=progress,
                                   limit=limit))
    return rows
