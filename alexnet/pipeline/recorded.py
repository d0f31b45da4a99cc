"""Recorded error bars: every CIFAR-10 profile's spread over seeds, from results files.

A report's own sweep covers its own profile. The other CIFAR-10 nets take hours (18pct)
to most of a day (conv-local-11pct) per run on a CPU, so their seeded runs are made
once, outside ``dvc repro``, and kept as results files, one per network:
``<folder>/<arch>-seeds.json`` (``benchmarks/results/`` in the repository), each with
``what``, ``command``, ``machine``, ``arch`` and ``runs`` (the format
:func:`alexnet.pipeline.seeds.read_results` reads). This module summarises them with the
same statistics and band rule as the ``seeds`` stage, so that one report shows every
CIFAR-10 profile beside its reported figure, and says plainly where runs are unfinished
or missing rather than leaving a profile out.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from alexnet.errors import DataError
from alexnet.pipeline.seeds import read_results, summarise, usable
from alexnet.registry import ARCHS, reported_summary


def cifar_reproductions() -> tuple[str, ...]:
    """The CIFAR-10 nets this project reproduces: those of the registry with a recipe and
    a reported figure (the 2011 release's 80sec, 18pct and conv-local-11pct)."""
    return tuple(a.name for a in ARCHS.values()
                 if a.classes == 10 and a.recipe is not None and a.reported)


def results_file(folder: str | Path, arch: str) -> Path:
    """Where the recorded runs of ``arch`` live in a results folder."""
    return Path(folder) / f"{arch}-seeds.json"


def runs_note(runs: list[dict[str, Any]]) -> str:
    """What the runs are, e.g. ``1 finished, 2 running (8 of 140 epochs: 35.65%; ...),
    2 missing``: an unfinished run's progress is shown, never averaged."""
    counts = Counter(_kind(r) for r in runs)
    parts = [f"{counts.pop('finished')} finished"] if "finished" in counts else []
    for status, n in counts.items():
        progress = [_progress(r) for r in runs
                    if _kind(r) == status and r.get("epochs_done")]
        parts.append(f"{n} {status}" + (f" ({'; '.join(progress)})" if progress else ""))
    return ", ".join(parts) or "none"


def _kind(r: dict[str, Any]) -> str:
    if usable(r):
        return "finished"
    status = str(r.get("status"))
    return "finished without a finite error" if status == "finished" else status


def _progress(r: dict[str, Any]) -> str:
    err = r.get("last_test_top1_err")
    return (f"seed {r.get('seed')}: {r['epochs_done']} of {r.get('epochs', '?')} epochs"
            + (f", {100 * err:.2f}%" if isinstance(err, int | float) else ""))


def recorded(folder: str | Path) -> list[dict[str, Any]]:
    """One entry per CIFAR-10 reproduction: its summary and provenance, or why none."""
    entries = []
    for arch in cifar_reproductions():
        path = results_file(folder, arch)
        entry: dict[str, Any] = {"arch": arch, "file": None,
                                 "reported_top1_err": reported_summary(arch).get("top1_err")}
        if not path.is_file():
            entries.append({**entry, "note": f"no recorded runs ({path.name} absent)"})
            continue
        runs, meta = read_results(path)
        if meta.get("arch") not in (None, arch):
            raise DataError(f"{path}: `arch` is {meta['arch']!r}; a file of this name "
                            f"holds the runs of {arch}")
        if not runs:
            raise DataError(f"{path}: an empty `runs` list; expected the recorded runs of "
                            f"{arch}")
        entries.append({**entry, "file": path.name, "meta": meta,
                        "summary": summarise(runs, arch)})
    return entries
