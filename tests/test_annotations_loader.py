"""The annotation loader and validator on small synthetic data sets.

Each malformed input must give ONE line naming the file and the field; cross-file
problems (ranges, overlaps, links) must each be reported by :func:`validate`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from alexnet.original.museum import annotations as A
from alexnet.original.museum.upstream import TreeFile, build_manifest

COMMIT = "ab" * 20


@pytest.fixture()
def manifest():
    tree = {
        "main.py": TreeFile(b"".join(b"line %d\n" % i for i in range(1, 51))),
        "src/core.cu": TreeFile(b"".join(b"c %d\n" % i for i in range(1, 101))),
        "layers/layers-1.cfg": TreeFile(b"[a]\ntype=data\n" * 10),
        "layers/layer-params-1.cfg": TreeFile(b"[a]\n"),
    }
    return build_manifest(tree, commit=COMMIT)


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip())
    return p


GOOD_FILE = """
    path: main.py
    role: >-
      Our description of the driver.
    era: The 2012 tree.
    depends_on: [src/core.cu]
    notes:
      - lines: [1, 10]
        title: Start
        text: Our words about the start.
        ledger: some-row
        recreation: alexnet.errors:DataError
      - lines: [12, 12]
        title: One line
        text: Our words.
"""

GOOD_LEDGER = """
    - id: some-row
      topic: A topic
      paper: What the paper says.
      code: What the code does.
      evidence:
        - {path: src/core.cu, lines: [5, 9]}
        - {path: "cc2011:data.py", lines: [1, 2]}
      recreation: Same.
      port: An option.
"""

GOOD_TOUR = """
    title: A walk
    intro: Our intro.
    stops:
      - id: first
        title: First stop
        path: main.py
        lines: [1, 5]
        text: Our words.
"""

GOOD_FAMILIES = """
    - id: all-cfg
      title: The cfg files
      folder: layers
      files: ["layers-*.cfg", "layers/layer-params-1.cfg"]
      text: Our words about them.
      highlights:
        - {path: layers/layers-1.cfg, lines: [1, 4], text: Our words., ledger: some-row}
"""


@pytest.fixture()
def root(tmp_path) -> Path:
    write(tmp_path, "files/main.py.yaml", GOOD_FILE)
    write(tmp_path, "ledger.yaml", GOOD_LEDGER)
    write(tmp_path, "tour.yaml", GOOD_TOUR)
    write(tmp_path, "families.yaml", GOOD_FAMILIES)
    return tmp_path


def test_good_data_loads_and_validates(root, manifest):
    data = A.load_all(root, manifest)
    ann = data.files["main.py"]
    assert ann.depends_on == ("src/core.cu",)
    assert ann.notes[0].lines == (1, 10) and ann.notes[1].lines == (12, 12)
    assert data.ledger[0].evidence[1].is_cc2011
    assert data.tour.stops[0].id == "first"
    assert data.families[0].members(manifest.paths) == [
        "layers/layer-params-1.cfg", "layers/layers-1.cfg"]
    assert A.validate(data) == []


def test_missing_optional_files_are_empty(tmp_path, manifest):
    data = A.load_all(tmp_path, manifest)
    assert data.files == {} and data.ledger == () and data.tour is None and data.families == ()
    assert A.validate(data) == []


@pytest.mark.parametrize(
    "text, where",
    [
        ("path: main.py\nrole: x\nnotes: [{lines: [1, 2], title: t}]\n", "notes[0].text"),
        ("path: main.py\nrole: x\nnotes: [{lines: [3, 2], title: t, text: u}]\n",
         "notes[0].lines"),
        ("path: main.py\nrole: x\nnotes: [{lines: [1], title: t, text: u}]\n", "notes[0].lines"),
        ("path: main.py\nrole: x\nnotes: [{line: [1, 2], title: t, text: u}]\n",
         "notes[0].line"),
        ("path: main.py\nrole: x\nnotes: {}\n", "notes"),
        ("path: other.py\nrole: x\nnotes: []\n", "path"),
        ("path: main.py\nnotes: []\n", "role"),
        ("path: main.py\nrole: x\nnotes: [\n", "line"),
    ],
)
def test_malformed_file_is_one_line_with_file_and_field(tmp_path, text, where):
    write(tmp_path, "files/main.py.yaml", text)
    with pytest.raises(A.AnnotationError) as err:
        A.load_annotations(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert "main.py.yaml:" in msg and where in msg


@pytest.mark.parametrize(
    "name, text, where",
    [
        ("ledger.yaml", "- {id: Bad_Id, topic: t, paper: p, code: c, evidence: "
         "[{path: main.py, lines: [1, 1]}], recreation: r, port: q}\n", "[0].id"),
        ("ledger.yaml", "- {id: ok, topic: t, paper: p, code: c, evidence: [], "
         "recreation: r, port: q}\n", "[0].evidence"),
        ("ledger.yaml", "{id: ok}\n", "top level"),
        ("tour.yaml", "title: t\nintro: i\nstops: [{id: a, title: t, path: main.py, "
         "text: x}]\n", "stops[0].lines"),
        ("families.yaml", "- {id: f, title: t, folder: layers, files: [], text: x}\n",
         "[0].files"),
    ],
)
def test_malformed_ledger_tour_families(tmp_path, manifest, name, text, where):
    write(tmp_path, name, text)
    with pytest.raises(A.AnnotationError) as err:
        A.load_all(tmp_path, manifest)
    msg = str(err.value)
    assert "\n" not in msg and f"{name}:" in msg and where in msg


def test_validate_finds_cross_file_problems(root, manifest):
    write(root, "files/main.py.yaml", """
        path: main.py
        role: x
        notes:
          - {lines: [5, 10], title: a, text: u}
          - {lines: [8, 12], title: b, text: u}
          - {lines: [2, 3], title: c, text: u}
          - {lines: [40, 51], title: d, text: u, ledger: no-such-row}
          - {lines: [52, 52], title: e, text: u, recreation: numpy.linalg}
          - {lines: [53, 53], title: f, text: u, recreation: "alexnet.errors:NoSuchThing"}
          - {lines: [54, 54], title: g, text: u, recreation: alexnet.not_written_yet}
    """)
    write(root, "files/gone.py.yaml", "path: gone.py\nrole: x\nnotes: []\n")
    write(root, "tour.yaml", GOOD_TOUR.replace("[1, 5]", "[1, 500]").replace(
        "    stops:\n", "    stops:\n      - {id: first, title: t, path: nope.py, lines: [1, 1],"
        " text: x}\n"))
    write(root, "ledger.yaml", GOOD_LEDGER + GOOD_LEDGER.replace("[5, 9]", "[5, 101]"))
    write(root, "families.yaml", GOOD_FAMILIES.replace('"layers-*.cfg"', '"nothing-*.cfg"'))
    problems = A.validate(A.load_all(root, manifest))
    text = "\n".join(problems)
    expectations = [
        "notes[1].lines: 8-12 overlaps the previous note (5-10)",
        "notes[2].lines: notes not sorted by first line",
        "notes[3].lines: 40-51 beyond the end of main.py (50 lines)",
        "notes[3].ledger: no ledger row with id 'no-such-row'",
        "notes[4].recreation: 'numpy.linalg': expected a dotted module under alexnet.",
        "notes[5].recreation: 'alexnet.errors:NoSuchThing': alexnet.errors has no attribute",
        "files/gone.py.yaml:path: 'gone.py' is not a file of the pinned release",
        "tour.yaml:stops[1].id: duplicate id 'first'",
        "tour.yaml:stops[0]: 'nope.py' is not a file",
        "tour.yaml:stops[1]: lines 1-500 beyond the end of main.py",
        "ledger.yaml:[1].id: duplicate id 'some-row'",
        "ledger.yaml:[1].evidence[0]: lines 5-101 beyond the end of src/core.cu",
        "families.yaml:[0].files[0]: 'nothing-*.cfg' matches no file",
    ]
    for e in expectations:
        assert e in text, f"missing: {e}\n--- got:\n{text}"
    assert "not_written_yet" not in text  # a module not written yet is accepted
    assert all("\n" not in p for p in problems)


def test_recreation_check():
    assert A.check_recreation("alexnet.errors") is None
    assert A.check_recreation("alexnet.errors:DataError") is None
    assert A.check_recreation("alexnet.no_such_module") is None
    assert A.check_recreation("alexnet.no_such_pkg.mod:thing") is None
    assert "no attribute" in A.check_recreation("alexnet.errors:Nope")
    assert "expected" in A.check_recreation("torch.nn")
    assert "expected" in A.check_recreation("alexnet")
    assert "expected" in A.check_recreation("alexnet.errors:")


def test_coverage_on_synthetic_data(root, manifest):
    data = A.load_all(root, manifest)
    cov = A.coverage(data)
    by = {f.path: f for f in cov.files}
    assert cov.total_files == 2 and cov.annotated_files == 1
    main = by["main.py"]
    # file-level note + 2 line notes + 1 tour stop
    assert (main.notes, main.line_notes, main.lines_covered, main.lines) == (4, 2, 11, 50)
    core = by["src/core.cu"]
    assert (core.annotated, core.notes, core.line_notes) == (False, 1, 0)  # ledger evidence
    cfg = by["layers/layers-1.cfg"]
    assert cfg.kind == "cfg" and cfg.family == "all-cfg" and cfg.lines_covered == 4
    js = cov.to_json()
    assert js["total_files"] == 2 and js["cfg_files"] == 2 and js["cfg_files_in_families"] == 2


def test_quotation_check_catches_copied_text(root, manifest):
    upstream = {
        "main.py": [
            "    # a fairly long comment line that somebody might be tempted to copy",
            "x = compute_something(alpha)",
            "y = compute_other_thing(beta)",
            "z = combine_them_all(x, y)",
            "short",
        ],
        "src/core.cu": [], "layers/layers-1.cfg": [], "layers/layer-params-1.cfg": [],
    }
    read = upstream.__getitem__
    data = A.load_all(root, manifest)
    assert A.find_quotations(data, read) == []

    write(root, "files/main.py.yaml", GOOD_FILE.replace(
        "Our words about the start.",
        "It says that a fairly long comment line that somebody might be tempted to copy."
    ).replace("text: Our words.", "text: >-\n          x = compute_something(alpha)\n"
              "          y = compute_other_thing(beta)  z = combine_them_all(x, y)"))
    found = A.find_quotations(A.load_all(root, manifest), read)
    assert any("notes[0].text" in f and "main.py:1" in f for f in found), found
    assert any("notes[1].text" in f and "main.py:2-4" in f for f in found), found

    # identifiers and short fragments are fine
    write(root, "files/main.py.yaml", GOOD_FILE.replace(
        "Our words about the start.", "It calls compute_something and combine_them_all."))
    assert A.find_quotations(A.load_all(root, manifest), read) == []


def test_package_module_and_data_folder_coexist():
    # ``alexnet.original.museum.annotations`` is this module even though a data folder of the
    # same name sits next to it (a module wins over a namespace folder).
    assert A.__file__.endswith("annotations.py")
    assert A.ANNOTATIONS_DIR.is_dir()
