"""Shared fixtures: the plugins of ``tests/fixtures/``, large data sets and an upstream copy.

Nothing here names a machine: the large data sets are looked for relative to the
checkout (or where ``$ALEXNET_SHARED`` points), the upstream release where
``$ALEXNET_UPSTREAM`` points or where ``alexnet original fetch`` verified it; tests that
need either skip cleanly without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alexnet.devdata import datasets_dir
from alexnet.original.museum.upstream import local_copy

pytest_plugins = ["fixtures.cfgnets", "fixtures.standin", "fixtures.pipeline"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The large data sets' folder, or skip."""
    p = datasets_dir()
    if not p.is_dir():
        pytest.skip(f"large data sets not present ({p}; set ALEXNET_SHARED)")
    return p


@pytest.fixture(scope="session")
def upstream_tree() -> Path:
    """A copy of the 2012 release, or skip.

    ``$ALEXNET_UPSTREAM`` (a folder), else the copy that ``alexnet original fetch``
    verified into the cache. CI has neither, so these tests skip there.
    """
    env = os.environ.get("ALEXNET_UPSTREAM")
    if env and Path(env).is_dir():
        return Path(env)
    copy = local_copy()
    if copy is not None:
        return copy
    pytest.skip("no upstream copy (set ALEXNET_UPSTREAM or run `alexnet original fetch`)")
