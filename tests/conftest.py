"""Shared fixtures: paths to the shared datasets and to an upstream copy, when present."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALEXNET_SHARED", REPO.parent / "shared"))
UPSTREAM_MIRROR = Path("/work/.mirror/computerhistory+AlexNet-Source-Code/repo")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets, or skip."""
    p = SHARED / "datasets"
    if not p.is_dir():
        pytest.skip("shared datasets not present (../shared/datasets)")
    return p


@pytest.fixture(scope="session")
def upstream_tree(tmp_path_factory) -> Path:
    """A checked-out copy of the 2012 release, or skip.

    Looked for in $ALEXNET_UPSTREAM (a folder), else unpacked from the read-only mirror
    that development machines have. CI has neither, so these tests skip there.
    """
    env = os.environ.get("ALEXNET_UPSTREAM")
    if env and Path(env).is_dir():
        return Path(env)
    if UPSTREAM_MIRROR.is_dir():
        out = tmp_path_factory.mktemp("upstream")
        tar = out / "src.tar"
        with open(tar, "wb") as fh:
            subprocess.run(["git", "-C", str(UPSTREAM_MIRROR), "archive", "HEAD"], stdout=fh,
                           check=True)
        with tarfile.open(tar) as tf:
            tf.extractall(out / "tree", filter="data")
        return out / "tree"
    pytest.skip("no upstream copy (set ALEXNET_UPSTREAM or run `alexnet original fetch`)")
