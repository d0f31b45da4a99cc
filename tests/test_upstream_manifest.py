"""The committed manifest of the 2012 release is consistent, and can be regenerated."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from alexnet import UPSTREAM_COMMIT, UPSTREAM_REPO
from alexnet.errors import DataError
from alexnet.original.museum.upstream import (
    MANIFEST_PATH,
    TreeFile,
    build_manifest,
    count_lines,
    is_cfg,
    load_manifest,
    manifest_problems,
    split_lines,
    write_manifest,
)

# a git mirror of the release (bare or not), for the tests that read one; skipped without
MIRROR = Path(os.environ.get("ALEXNET_UPSTREAM_MIRROR", "/nonexistent"))


def test_committed_manifest_is_consistent():
    m = load_manifest()
    assert m.commit == UPSTREAM_COMMIT
    assert m.repository == UPSTREAM_REPO
    assert m.archive_url == f"{UPSTREAM_REPO}/archive/{UPSTREAM_COMMIT}.tar.gz"
    assert manifest_problems(m) == []
    assert m.paths == sorted(m.paths)
    assert len(m.files) == 246
    assert len(m.source_files) == 67
    assert len(m.cfg_files) == 179  # 178 .cfg + 1 .cfg.save
    assert m.license == "BSD-2-Clause"
    assert m.copyright.startswith("Copyright 2023 Google LLC")


def test_committed_manifest_summary_fields_agree_with_files():
    raw = json.loads(MANIFEST_PATH.read_text())
    m = load_manifest()
    assert raw["file_count"] == len(m.files)
    assert raw["non_cfg_count"] == len(m.source_files)
    assert raw["cfg_count"] == len(m.cfg_files)
    assert raw["total_bytes"] == sum(f.size for f in m.files)


def test_known_line_counts():
    # Facts from docs/reference/recreation.md#recreation-release.
    m = load_manifest()
    expected = {"README.md": 14, "LICENSE": 9, "layer.py": 1418, "src/layer.cu": 2002,
                "convnet.py": 218, "src/weights.cu": 378, "include/layer.cuh": 654}
    for path, lines in expected.items():
        assert m.get(path).lines == lines, path


def test_count_lines_matches_editor_numbering():
    assert count_lines(b"") == 0
    assert count_lines(b"a") == 1
    assert count_lines(b"a\n") == 1
    assert count_lines(b"a\nb") == 2
    assert count_lines(b"\n\n") == 2
    # a form feed is not a line break for us (str.splitlines would split there)
    assert split_lines(b"a\x0cb\nc\n") == ["a\x0cb", "c"]
    assert len(split_lines(b"x\ny")) == count_lines(b"x\ny")


def test_cfg_classification():
    assert is_cfg("layers/layers-145.cfg")
    assert is_cfg("layers/layer-params-147.cfg.save")
    assert not is_cfg("layer.py")


def test_build_write_load_round_trip(tmp_path):
    tree = {
        "LICENSE": TreeFile(b"Copyright 2099 Somebody.\n\nterms\n"),
        "b/run.sh": TreeFile(b"#!/bin/sh\necho\n", executable=True),
        "a.py": TreeFile(b"x = 1"),
    }
    m = build_manifest(tree, commit="1" * 40, repository="https://example.invalid/r")
    assert m.paths == ["LICENSE", "a.py", "b/run.sh"]
    assert m.copyright == "Copyright 2099 Somebody."
    assert m.get("a.py").lines == 1 and m.get("b/run.sh").executable
    p = write_manifest(m, tmp_path / "UPSTREAM.json")
    again = load_manifest(p)
    assert again == m
    assert again.digest() == m.digest()
    # one file per line keeps regenerated manifests diff-friendly
    assert sum(1 for line in p.read_text().splitlines() if '"sha256"' in line) == 3


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda d: d.update(format=2), "format"),
        (lambda d: d["files"][0].update(sha256="xyz"), "files[0].sha256"),
        (lambda d: d["files"][1].update(lines=-1), "files[1].lines"),
        (lambda d: d["files"][0].pop("path"), "files[0].path"),
        (lambda d: d.pop("commit"), "commit"),
    ],
)
def test_malformed_manifest_is_one_line_error(tmp_path, mutate, where):
    raw = json.loads(MANIFEST_PATH.read_text())
    mutate(raw)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(raw))
    with pytest.raises(DataError) as err:
        load_manifest(p)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(p) in msg and where in msg


def test_missing_manifest_file(tmp_path):
    with pytest.raises(DataError, match="manifest not found"):
        load_manifest(tmp_path / "nope.json")


@pytest.mark.skipif(not MIRROR.exists(), reason="needs the local mirror of the release")
def test_regenerating_from_the_mirror_gives_the_committed_manifest():
    from alexnet.original.museum.fetch import tree_from_source

    m = build_manifest(tree_from_source(MIRROR, UPSTREAM_COMMIT))
    assert m == load_manifest()
