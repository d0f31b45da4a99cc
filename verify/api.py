"""The verifier as one library call (what ``alexnet verify`` and the tests use)."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alexnet.verify import backends
from alexnet.verify.report import Report
from alexnet.verify.suites import DEFAULT_SUITES, SUITES, Suite, reference_net

from alexnet.errors import ConfigError


def suite_for(arch: str | None, weights: str | Path | None) -> Suite | str:
    """The suite a user's --arch/--weights pair means."""
    from alexnet.verify import bundled

    if weights is not None:
        path = Path(weights)
        kind = bundled.weights_kind(path)
        if arch is None:
            if kind == "2012":
                raise ConfigError(f"{path}: a 2012 checkpoint does not name its network; pass "
                                  "--arch (e.g. alexnet2012, cifar10-80sec)")
            arch = _modern_arch(path)
        net = reference_net(arch)
        return Suite(f"{arch} ({path.name})", arch, net, "user",
                     f"{arch} (port) against the 2012 engine on layers-{net}.cfg, weights "
                     f"from {path}")
    assert arch is not None
    for s in SUITES.values():
        if s.arch == arch:
            return s
    net = reference_net(arch)
    return Suite(arch, arch, net, "synthetic",
                 f"{arch} (port) against the 2012 engine on layers-{net}.cfg, weights from "
                 "the cfg's 2012 initialisation, generated inputs")


def _modern_arch(path: Path) -> str:
    import json

    from alexnet.errors import CheckpointError

    candidates = []
    if path.is_dir():
        candidates = sorted(path.glob("ckpt-e*-b*.json")) + sorted(
            path.glob("checkpoints/ckpt-e*-b*.json"))
    elif path.suffix == ".json":
        candidates = [path]
    elif path.with_suffix(".json").is_file():
        candidates = [path.with_suffix(".json")]
    for c in reversed(candidates):
        try:
            arch = json.loads(c.read_text(encoding="utf-8")).get("arch")
        except (OSError, ValueError):
            continue
        if isinstance(arch, str):
            return arch
    raise CheckpointError(f"{path}: cannot tell which network these weights are for; pass "
                          "--arch")


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
    from alexnet.verify.runner import run_suite

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
        from alexnet.verify.selftest import run_self_test

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
        from alexnet.verify.accuracy import accuracy_rows

        # --metrics alone judges only the metrics file; --accuracy evaluates the suites too
        profiles = ([] if weights is not None or not accuracy
                    else [n for n in names if n in SUITES])
        report.accuracy = accuracy_rows(profiles, data=data, metrics=metrics,
                                        backend=be.engine, progress=progress, limit=limit)
    report.meta = _meta(be, time.perf_counter() - t0)
    return report


def _meta(be: backends.Resolved, seconds: float) -> dict[str, Any]:
    import numpy
    import torch

    from alexnet import __version__

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
