"""Error rates the 2012 way, and the per-run metrics record (JSON + a readable report).

Top-k error counts ties FRACTIONALLY, as the 2012 cost kernels did
(docs/reference/kernels.md#kernels-cost):
if m classes score higher than the true class and e classes (the true one included)
score exactly the same, the case earns 1 when ``m + e <= k``, ``(k - m) / e`` when
``m < k < m + e`` and 0 when ``m >= k``. An all-equal output (a dead net) therefore
scores the chance level k/classes instead of 0% or 100% error.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

import alexnet
from alexnet.io import atomic_write_text


def topk_credit(probs: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-case credit in [0, 1] for "the true class is among the top k" (ties fractional).

    A case whose probabilities are not all finite gets no credit: NaN compares false with
    everything, so it would otherwise count as having no rival and score as right, and a
    failed computation must never make an error rate look good.
    """
    probs = np.asarray(probs)
    labels = np.asarray(labels, dtype=np.int64)
    p_true = probs[np.arange(probs.shape[0]), labels][:, None]
    bigger = (probs > p_true).sum(axis=1)
    equal = (probs == p_true).sum(axis=1)
    slots = k - bigger
    share = np.divide(slots, equal, out=np.zeros(len(slots)), where=equal > 0)
    credit = np.where(slots <= 0, 0.0, np.where(equal <= slots, 1.0, share))
    credit[~np.isfinite(probs).all(axis=1)] = 0.0
    return credit.astype(np.float64)


def versions() -> dict[str, str]:
    import torch


    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "alexnet": alexnet.__version__,
        "platform": platform.platform(),
    }


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def render_report(metrics: dict[str, Any]) -> str:
    """The human-readable twin of metrics.json."""
    cfg = metrics.get("config", {})
    src = cfg.get("data", {})
    aug = cfg.get("augment", {})
    lines = [
        f"# Training run: {metrics.get('run', '')}",
        "",
        f"- architecture: `{cfg.get('arch')}`",
        f"- data: `{src.get('path')}` ({src.get('kind')}, {src.get('checksum')})",
        f"- epochs: {cfg.get('epochs')}, minibatch {cfg.get('batch')}, seed {cfg.get('seed')}, "
        f"device {cfg.get('device')}",
        f"- augmentation: pca_noise={aug.get('pca_noise')} (c={aug.get('color_noise')}), "
        f"crop_chunk={aug.get('crop_chunk')}, flip={aug.get('flip')}, border={aug.get('border')}, "
        f"test views={cfg.get('test_views')}",
        f"- schedule: {cfg.get('schedule') or 'none'} {json.dumps(cfg.get('schedule_rules', []))}",
        f"- status: {metrics.get('status', '')}",
        *[f"- {note}" for note in (metrics.get("subsets") or {}).values()],
        "",
        "| epoch | train loss | train top-1 err | test top-1 err | test top-5 err | "
        "eps (first tensor) | images/s | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in metrics.get("epochs", []):
        lines.append(
            f"| {e['epoch']} | {e['train_loss']:.4f} | {_pct(e.get('train_top1_err'))} | "
            f"{_pct(e.get('test_top1_err'))} | {_pct(e.get('test_top5_err'))} | "
            f"{e.get('eps_first', 0):.3g} | {e.get('images_per_s', 0):.0f} | "
            f"{e.get('wall_s', 0):.1f} |"
        )
    final = metrics.get("final")
    if final:
        lines += ["", f"Final test error ({final.get('views')} view(s), {final.get('n')} "
                  f"images): top-1 {_pct(final.get('top1_err'))}, top-5 "
                  f"{_pct(final.get('top5_err'))}."]
    lines += ["", f"Total wall time {metrics.get('wall_s', 0):.1f} s. Versions: "
              + ", ".join(f"{k} {v}" for k, v in metrics.get("versions", {}).items()
                          if k != "platform"), ""]
    if src.get("kind") == "image-folder" and "cifar" in str(src.get("path", "")).lower():
        lines += ["Note: figures from an image-folder copy of CIFAR-10 that was re-encoded as "
                  "JPEG can sit slightly above those on the official files.", ""]
    return "\n".join(lines)


def write_report(path: str | Path, metrics: dict[str, Any]) -> None:
    atomic_write_text(path, render_report(metrics))
