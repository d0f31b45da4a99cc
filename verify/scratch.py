"""A temporary folder for the files the verifier writes on the way between the two sides.

Weights cross from one implementation to the other through real files (a pickled 2012
checkpoint, a safetensors export), so a conversion bug shows up as a mismatch; the files
themselves are thrown away, and go to memory (``/dev/shm``) where there is one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder, removed on exit (in ``/dev/shm`` when it is writable)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="alexnet-verify-", dir=base) as d:
        yield Path(d)
