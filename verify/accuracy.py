"""Reported vs reproduced accuracy, and the two implementations' agreement on a test set.

Reported figures come from the registry (:mod:`alexnet.registry`): the 2011 release's
CIFAR-10 example nets state their test error in their cfg headers, the paper states
AlexNet's ILSVRC-2012 validation error. A reproduced figure passes when it lies in a
band around the reported one; each band says why it is as wide as it is.
Independently of any reported figure, the port and the 2012 re-creation, given the same
weights, must classify the test set the same way: agreement at least 99.9% of images
and top-1 errors within 0.2 points (only near-ties can flip under fp32 reassociation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alexnet import registry
from alexnet.devdata import dataset
from alexnet.errors import DataError
from alexnet.modern.augment import Augmenter
from alexnet.modern.data import load_dataset
from alexnet.modern.evaluate import score
from alexnet.original.engine import Engine
from alexnet.verify import bundled
from alexnet.verify.runner import prepare

MIN_AGREEMENT = 0.999
MAX_ERROR_DIFF = 0.002
_METRIC_WORDS = {"top1_err": "top-1", "top5_err": "top-5"}


#: architecture -> the reported figures the verifier judges (those with a band); the
#: figures, their sources, bands and reasons live in :data:`alexnet.registry.ARCHS`
REPORTED: dict[str, list[registry.Figure]] = registry.judged_figures()


def find_cifar(data: str | Path | None = None) -> Path | None:
    """The CIFAR-10 test data: ``--data``, else the shared development copy."""
    if data is not None:
        p = Path(data).expanduser()
        if not p.exists():
            raise DataError(f"{p}: no such dataset file or folder")
        return p
    p = dataset("cifar10-jpg.tar.gz")
    return p if p is not None and p.is_file() else None


def _band_row(profile: str, rep: registry.Figure, implementation: str, reproduced: float, *,
              cases: int, data: str) -> dict[str, Any]:
    assert rep.band is not None
    lo, hi = rep.band
    return {"profile": profile, "kind": "reported-vs-reproduced",
            "implementation": implementation, "metric": rep.metric, "reported": rep.value,
            "reproduced": float(reproduced), "band": [lo, hi],
            "passed": bool(lo <= reproduced <= hi), "reason": rep.reason, "source": rep.source,
            "cases": int(cases), "data": data}


def _skipped(profile: str, message: str) -> dict[str, Any]:
    return {"profile": profile, "kind": "skipped", "passed": True, "message": message}


def port_probs(model: Any, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            logits = model(torch.from_numpy(np.ascontiguousarray(x[s:s + batch])))
            out.append(torch.softmax(logits.float(), 1).numpy())
    return np.concatenate(out)


def reference_probs(layers: dict[str, dict[str, Any]], x: np.ndarray, labels: np.ndarray,
                    backend: Any, batch: int = 1000) -> np.ndarray:
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
    path = find_cifar(data)
    if path is None:
        return [_skipped(profile, "no CIFAR-10 test set found (pass --data, or place the shared "
                                  "copy at $ALEXNET_SHARED/datasets/cifar10-jpg.tar.gz)")]
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
        rows.append(_band_row(profile, rep, "modern port", s_port[rep.metric],
                              cases=len(labels), data=name))
        rows.append(_band_row(profile, rep, "2012 re-creation", s_ref[rep.metric],
                              cases=len(labels), data=name))
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
        rows.append(_band_row(arch, rep, "modern port (metrics file)", float(res[rep.metric]),
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
            figs = REPORTED[profile]
            said = " / ".join(f"{100 * f.value:.1f}% {_METRIC_WORDS[f.metric]}" for f in figs)
            rows.append(_skipped(profile, f"reported {said} ({figs[0].cite}): reproducing it "
                                          "needs trained AlexNet2012 weights and the "
                                          "ILSVRC-2012 validation set, neither of which ships "
                                          "with the project; evaluate with `alexnet evaluate` "
                                          "and pass --metrics"))
            continue
        if profile in REPORTED:
            rows.extend(cifar_rows(profile, data=data, backend=backend, progress=progress,
                                   limit=limit))
    return rows
