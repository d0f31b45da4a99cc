"""Where the large development data sets are looked for: one rule for the verifier,
the benchmarks and the tests.

They are not part of the package or of a user's run (the pipeline fetches its inputs
by pin): a CIFAR-10 image-folder tarball and a few ImageNet photos that let the verifier's
accuracy suite, the benchmarks and some tests run without a download. Looked for where
``$ALEXNET_SHARED`` points, else in a ``shared`` folder beside the checkout; whoever
asks decides what a missing copy means (the tests skip, the verifier says "skipped").
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "ALEXNET_SHARED"
CHECKOUT = Path(__file__).resolve().parent.parent


def datasets_dir() -> Path:
    """``$ALEXNET_SHARED/datasets``, else ``shared/datasets`` beside the checkout."""
    shared = os.environ.get(ENV)
    return (Path(shared) if shared else CHECKOUT.parent / "shared") / "datasets"


def dataset(name: str) -> Path | None:
    """One development data set by file or folder name, or None when it is absent."""
    p = datasets_dir() / name
    return p if p.exists() else None
