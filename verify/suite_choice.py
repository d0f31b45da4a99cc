"""Which suite a user's ``--arch``/``--weights`` pair means.

Kept apart from :mod:`.api` (the whole run) because :mod:`.runner` needs it too when
:func:`~alexnet.verify.runner.prepare` is handed a name rather than a suite, and the run
itself depends on the runner.
"""

from __future__ import annotations

import json
from pathlib import Path

from alexnet.errors import CheckpointError, ConfigError
from alexnet.verify import bundled
from alexnet.verify.suites import SUITES, Suite, reference_net

__all__ = ["suite_for"]


def suite_for(arch: str | None, weights: str | Path | None) -> Suite | str:
    """The suite a user's --arch/--weights pair means: a bundled suite's name, or a suite
    made for the pair (user weights, or the arch's cfg initialisation)."""
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
    """The arch a modern checkpoint (or run folder) names in its JSON sidecar."""
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
