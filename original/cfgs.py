"""The project's own cfg files (``original/layers/``), found by name.

These are written for this project from the facts of the 2012 and 2011 releases (never
copied); each file's header says which upstream file it answers to.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alexnet.errors import ConfigError


def layers_dir() -> Path:
    """The folder holding the bundled cfg files."""
    return Path(str(resources.files("alexnet.original") / "layers"))


def path(name: str) -> Path:
    """Path of a bundled cfg file, e.g. ``path("layers-80sec.cfg")``."""
    p = layers_dir() / name
    if not p.is_file():
        known = ", ".join(sorted(f.name for f in layers_dir().glob("*.cfg")))
        raise ConfigError(f"no bundled cfg file {name!r} (bundled: {known})")
    return p


def available() -> list[str]:
    """Names of all bundled cfg files."""
    return sorted(f.name for f in layers_dir().glob("*.cfg"))


def pair(net: str) -> tuple[Path, Path]:
    """The (definition, params) pair of a bundled net, e.g. ``pair("145")``."""
    return path(f"layers-{net}.cfg"), path(f"layer-params-{net}.cfg")
