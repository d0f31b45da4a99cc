"""The modern PyTorch port of AlexNet (the network of the 2012 paper, exactly).

Public names are imported lazily so that importing a submodule (or running a CLI
command that needs no network) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_model": "alexnet.modern.build",
    "available_archs": "alexnet.modern.build",
    "AlexNet2012": "alexnet.modern.net2012",
    "CfgNet": "alexnet.modern.cfgnet",
    "tune_allocator": "alexnet.modern.allocator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'alexnet.modern' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
