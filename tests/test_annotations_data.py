"""The committed annotation data is well-formed and consistent with the pinned release.

These tests read whatever annotation files exist (their number grows while the
annotations are written) and hold every one of them to the format. The quotation check
needs the upstream text: it uses a verified fetched copy, else the local mirror, else
it is skipped (CI has neither).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from alexnet.original.museum import annotations as A
from alexnet.original.museum.upstream import UpstreamSource, local_copy

# a git mirror of the release (bare or not), for the tests that read one; skipped without
MIRROR = Path(os.environ.get("ALEXNET_UPSTREAM_MIRROR", "/nonexistent"))


@pytest.fixture(scope="module")
def data() -> A.AnnotationSet:
    return A.load_all()


def _problems(data, needle: str) -> list[str]:
    return [p for p in A.validate(data, import_modules=False) if needle in p]


def test_every_annotation_file_names_a_file_of_the_release(data):
    for path, ann in data.files.items():
        assert path in data.manifest, f"{ann.source}: {path}"
        # the YAML sits at files/<upstream path>.yaml (checked while loading)
        assert ann.source.as_posix().endswith(f"files/{path}.yaml")


def test_note_ranges_are_in_range_sorted_and_disjoint(data):
    for path, ann in data.files.items():
        n_lines = data.manifest.get(path).lines
        prev_end = 0
        for note in ann.notes:
            a, b = note.lines
            assert 1 <= a <= b <= n_lines, f"{path} {note.lines} ({n_lines} lines)"
            assert a > prev_end, f"{path}: {note.lines} starts inside or before the previous note"
            prev_end = b


def test_ledger_ids_unique_and_links_resolve(data):
    ids = [r.id for r in data.ledger]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    known = set(ids)
    for path, ann in data.files.items():
        for note in ann.notes:
            if note.ledger:
                assert note.ledger in known, f"{path} {note.lines}: ledger {note.ledger!r}"
    for fam in data.families:
        for h in fam.highlights:
            if h.ledger:
                assert h.ledger in known, f"families.yaml {fam.id}: ledger {h.ledger!r}"


def test_ledger_covers_the_known_differences(data):
    # The known paper-versus-code differences each have a row.
    required = {
        "input-size-224-vs-227", "lrn-alpha-divided-by-n", "lrn-k", "lrn-before-relu-layer1",
        "extra-norm-after-conv2", "low-res-side-path", "init-std-conv3-5",
        "bias-learning-rate-and-decay", "learning-rate-history", "pca-noise-scaling",
        "crops-shared-per-chunk", "mean-central-window", "dropout-scaling",
        "fc1000-single-gpu", "no-reshuffling", "epochs", "topk-fractional-ties",
        "cnn-star-pretraining",
    }
    assert required <= {r.id for r in data.ledger}


def test_ledger_evidence_is_in_range(data):
    assert _problems(data, "ledger.yaml") == []
    for row in data.ledger:
        assert row.evidence, row.id
        for ev in row.evidence:
            if not ev.is_cc2011:
                assert ev.lines[1] <= data.manifest.get(ev.path).lines, (row.id, ev)


def test_tour_stops_exist_and_are_in_range(data):
    tour = data.tour
    assert tour is not None
    assert 20 <= len(tour.stops) <= 32
    assert len({s.id for s in tour.stops}) == len(tour.stops)
    for s in tour.stops:
        f = data.manifest.get(s.path)
        assert f is not None, s.path
        assert 1 <= s.lines[0] <= s.lines[1] <= f.lines, (s.id, s.lines, f.lines)


def test_tour_follows_one_training_step(data):
    paths = [s.path for s in data.tour.stops]
    assert paths[0] == "convnet.py"
    for needed in ("layer.py", "src/pyconvnet.cu", "src/convnet.cu", "src/worker.cu",
                   "src/layer.cu", "src/layer_kernels.cu", "src/cost.cu", "src/weights.cu"):
        assert needed in paths, needed
    # forward before backward, backward before the update, the update before saving
    first = {p: paths.index(p) for p in paths[::-1]}
    assert first["layer.py"] < first["src/convnet.cu"] < first["src/weights.cu"]
    assert "checkpoint" in data.tour.stops[-1].title.lower()


def test_families_match_files_of_the_release(data):
    assert _problems(data, "families.yaml") == []


def test_recreation_links_name_modules_under_alexnet(data):
    # Form always; modules are imported only if they exist (the re-creation is written
    # alongside the annotations, so a link may be ahead of its module).
    for path, ann in data.files.items():
        for note in ann.notes:
            if note.recreation:
                why = A.check_recreation(note.recreation, import_modules=True)
                assert why is None, f"{path} {note.lines}: {note.recreation}: {why}"


def test_validate_reports_nothing(data):
    assert A.validate(data, import_modules=False) == []


def _upstream_reader():
    root = local_copy()
    if root is not None:
        return UpstreamSource(root).lines
    if MIRROR.exists():
        from alexnet.original.museum.fetch import read_source
        from alexnet.original.museum.upstream import split_lines

        tree = read_source(MIRROR, A.load_manifest())
        return lambda path: split_lines(tree.files[path].data)
    return None


def test_no_annotation_quotes_upstream_text(data):
    read = _upstream_reader()
    if read is None:
        pytest.skip("no fetched copy of the release and no mirror")
    found = A.find_quotations(data, read)
    assert found == [], "\n".join(found[:20])


def test_coverage_counts(data):
    cov = A.coverage(data)
    assert cov.total_files == 67
    assert len(cov.files) == 246
    assert cov.annotated_files == sum(1 for p in data.files if not p.endswith((".cfg", ".save")))
    for fc in cov.files:
        assert 0 <= fc.lines_covered <= fc.lines
        assert fc.line_notes <= fc.notes
    js = cov.to_json()
    assert set(js) >= {"annotated_files", "total_files", "files"}
    assert set(js["files"][0]) >= {"path", "notes", "line_notes", "lines_covered", "lines"}
