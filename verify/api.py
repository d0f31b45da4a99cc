"""The verifier as one library call (what ``alexnet verify`` and the tests use)."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy
import torch

from alexnet import __version__
from alexnet.errors import ConfigError
from alexnet.verify import backends
from alexnet.verify.accuracy import accuracy_rows
from alexnet.verify.report import Report
from alexnet.verify.runner import run_suite
from alexnet.verify.selftest import run_self_test
from alexnet.verify.suite_choice import suite_for
from alexnet.verify.suites import DEFAULT_SUITES, SUITES, Suite

__all__ = ["verify", "suite_for"]


def verify(
    *,
    suites: list[str] | None = None,
    arch: str | None = None,
    weights: str | Path | None = None,
    backend: str = "numpy",
    fallback: bool = False,
    accuracy: bool = False,
    data: str | Path | None = None,
    metrics: str | Path | None = None,
    self_test: bool = False,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run the chosen suites (default: the bundled ones) and return the report.

    User errors (unknown arch, unreadable or mismatched weights, missing backend) raise
    :class:`~alexnet.errors.AlexNetError`; mismatches are failed checks in the report.
    """
    t0 = time.perf_counter()
    be = backends.resolve(backend, fallback=fallback)
    for name in suites or []:
        if name not in SUITES:
            raise ConfigError(f"unknown suite {name!r} (known: {', '.join(SUITES)})")
    report = Report()
    if weights is not None or arch is not None:
        if suites:
            raise ConfigError("give either suite names or --arch/--weights, not both")
        chosen: list[Suite | str] = [suite_for(arch, weights)]
    else:
        chosen = list(suites or DEFAULT_SUITES)
    names = [c if isinstance(c, str) else c.name for c in chosen]

    if self_test:
        if weights is not None or any(not isinstance(c, str) for c in chosen):
            raise ConfigError("--self-test runs on the bundled suites; do not combine it with "
                              "--weights or --arch")
        report.suites, report.self_test = run_self_test(
            names, backend=be.engine, backend_name=be.name, progress=progress)
    else:
        for c in chosen:
            if progress:
                progress(f"suite {c if isinstance(c, str) else c.name}: running")
            s = c if isinstance(c, str) else c
            res = run_suite(s, backend=be.engine, backend_name=be.name,
                            weights=weights,
                            arch=None if isinstance(c, str) else c.arch)
            report.suites.append(res)
    if accuracy or metrics is not None:
        # --metrics alone judges only the metrics file; --accuracy evaluates the suites too
        profiles = ([] if weights is not None or not accuracy
                    else [n for n in names if n in SUITES])
        report.accuracy = accuracy_rows(profiles, data=data, metrics=metrics,
                                        backend=be.engine, progress=progress, limit=limit)
    report.meta = _meta(be, time.perf_counter() - t0)
    return report


def _meta(be: backends.Resolved, seconds: float) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["alexnet", *sys.argv[1:]]) if sys.argv and
        Path(sys.argv[0]).name == "alexnet" else "alexnet.verify.api.verify()",
        "alexnet": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
        "host": f"{platform.machine()} {platform.system()}, {torch.get_num_threads()} threads",
        "backend": be.name, "seconds": round(seconds, 2),
    }
    if be.note:
        meta["backend_note"] = be.note
    return meta
