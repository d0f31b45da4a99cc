"""Which torch device the port computes on, from a setting (``cpu``, ``cuda:N``, ``auto``).

Its own module because both training and inference resolve the setting, and the
inference side must not import the training loop to do so.
"""

from __future__ import annotations

import torch

from alexnet.errors import BackendUnavailable, ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when torch sees a device, else the CPU; ``cuda*`` needs a device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable(f"--device {name}: torch sees no CUDA device on this machine")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: expected cpu, cuda, cuda:N or auto") from None
