"""The JSON files the stages write and read back (summaries, records, stage identities).

Written atomically (temp file + rename) so that DVC never caches half a file; read
leniently (a missing or damaged file is ``None``), because a stage reading its own earlier
record must treat "absent" and "unreadable" alike: as no usable record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alexnet.io import atomic_write_json


def write_json(path: str | Path, data: Any) -> None:
    """Atomically (temp file + rename), so DVC never caches half a file."""
    atomic_write_json(path, data, indent=2, mode="umask")


def read_json(path: Path) -> Any:
    """The file's JSON value, or ``None`` when it is missing or not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
