"""original/__init__.py's map of the re-creation stays true to the tree and the pin."""

from __future__ import annotations

import json
from pathlib import Path

from alexnet.original import PROJECT_MACHINERY, UPSTREAM_FILES

ORIGINAL = Path(__file__).resolve().parent.parent / "original"


def test_every_module_is_either_a_recreation_or_machinery():
    here = {p.stem for p in ORIGINAL.glob("*.py") if p.stem != "__init__"}
    here |= {p.name for p in ORIGINAL.iterdir() if (p / "__init__.py").is_file()}
    assert not set(UPSTREAM_FILES) & set(PROJECT_MACHINERY)
    assert here == set(UPSTREAM_FILES) | set(PROJECT_MACHINERY)


def test_upstream_files_exist_in_the_pin_and_are_cited_by_their_module():
    pinned = {f["path"] for f in json.loads((ORIGINAL / "UPSTREAM.json").read_text())["files"]}
    for module, files in UPSTREAM_FILES.items():
        source = (ORIGINAL / f"{module}.py").read_text(encoding="utf-8")
        for f in files:
            if not f.startswith("cc2011:"):
                assert f in pinned, (module, f)
            assert Path(f.removeprefix("cc2011:")).name in source, (module, f)
