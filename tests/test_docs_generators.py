"""The docs' build-time generators, without building the site.

Fast checks of what the slow site test cannot isolate: the diagram and tables are
computed from the code (and agree with the paper's parameter count), pages whose data
is absent degrade to a "not yet available" note instead of failing, generated files are
rewritten only when they change and stale ones are removed, and text that is not valid
reStructuredText is recognised (so it can be shown verbatim instead of breaking ``-W``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extra is not installed")
DOCS_EXT = Path(__file__).resolve().parent.parent / "docs" / "_ext"
sys.path.insert(0, str(DOCS_EXT))

import alexnet_docs  # noqa: E402
import docsgen_architecture  # noqa: E402
import docsgen_figures  # noqa: E402
import docsgen_reports  # noqa: E402
import docsgen_svg  # noqa: E402
from docsgen_common import Output, code, fence, md_table  # noqa: E402


@pytest.fixture(scope="module")
def graph145():
    layer = pytest.importorskip("alexnet.original.layer")
    cfgs = pytest.importorskip("alexnet.original.cfgs")
    return layer.parse_layers(*cfgs.pair("145"))


def test_parameter_count_of_definition_145_matches_the_paper(graph145) -> None:
    # weights + biases of the two-tower net; the same total docs/architecture/index.md derives from
    # the paper's layer sizes (exact integer arithmetic, no tolerance)
    total = sum(docsgen_architecture.layer_params(lay) for lay in graph145)
    assert total == 60_965_224


def test_diagram_has_two_towers_and_the_seven_cross_gpu_copies(graph145) -> None:
    svg = docsgen_svg.render(graph145, "def 145")
    assert svg.count(">GPU 0<") == 1 and svg.count(">GPU 1<") == 1
    # pool2 -> conv3 both ways, pool3 -> fc6 both ways, hs1 -> fc7 both ways, hs2b -> fc1000
    assert svg.count('marker-end="url(#arrowx)"') == 7
    # ReLUs are folded into their source boxes, labels ride along
    assert 'data-layer="conv1a"' in svg and 'data-layer="conv2a_neuron"' not in svg
    assert docsgen_svg.render(graph145, "def 145") == svg  # deterministic


def test_cross_gpu_table_counts_values_per_image(graph145) -> None:
    table = docsgen_architecture.cross_gpu_table(graph145)
    assert "21,632" in table  # 128 x 13 x 13 maps of pool2 going to the other GPU
    assert "4,608" in table  # 128 x 6 x 6 of pool3


def test_output_rewrites_only_changes_and_prunes_stale_files(tmp_path: Path) -> None:
    out = Output(tmp_path)
    first = out.write_text("fragments/a.md", "one")
    os.utime(first, (1, 1))
    out.write_text("fragments/a.md", "one")
    assert first.stat().st_mtime == 1  # unchanged content: file untouched
    (tmp_path / "old" / "stale.md").parent.mkdir()
    (tmp_path / "old" / "stale.md").write_text("x")
    removed = out.prune()
    assert [p.name for p in removed] == ["stale.md"]
    assert first.read_text() == "one" and not (tmp_path / "old").exists()


def _no_imagenet(monkeypatch, tmp_path: Path) -> None:
    """A build that finds no imported weights, whatever this machine's cache holds."""
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv(docsgen_figures.IMAGENET_ENV, raising=False)
    monkeypatch.delenv(docsgen_figures.IMAGES_ENV, raising=False)


def test_figures_degrade_without_bundled_weights(tmp_path: Path, monkeypatch) -> None:
    _no_imagenet(monkeypatch, tmp_path)
    monkeypatch.setattr(docsgen_figures, "BUNDLED", tmp_path / "none")
    out = Output(tmp_path / "gen")
    docsgen_figures.generate(out)
    for name in ("figure-filters.md", "figure-predictions.md"):
        text = (tmp_path / "gen" / "fragments" / name).read_text()
        assert "Not yet available" in text and "No ImageNet" in text
    assert not (tmp_path / "gen" / "figures").exists()


WNIDS = [f"n{10000000 + i:08d}" for i in range(10)]


def _imported_owt(folder: Path, tmp_path: Path) -> Path:
    """A small torchvision-layout net (10 classes, fc width 16) imported as the port's
    checkpoint by the real importer, with a class file giving words."""
    torch = pytest.importorskip("torch")
    from alexnet.modern.importers import import_torchvision

    g = torch.Generator().manual_seed(0)
    shapes = {"features.0": (64, 3, 11, 11), "features.3": (192, 64, 5, 5),
              "features.6": (384, 192, 3, 3), "features.8": (256, 384, 3, 3),
              "features.10": (256, 256, 3, 3), "classifier.1": (16, 9216),
              "classifier.4": (16, 16), "classifier.6": (10, 16)}
    state = {}
    for name, shape in shapes.items():
        fan_in = 1
        for d in shape[1:]:
            fan_in *= d
        state[f"{name}.weight"] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        state[f"{name}.bias"] = torch.zeros(shape[0])
    pth = tmp_path / "small-owt.pth"
    torch.save(state, pth)
    classes = tmp_path / "synset_words.txt"
    classes.write_text("".join(f"{w} thing {i}, other words\n" for i, w in enumerate(WNIDS)))
    res = import_torchvision(pth, folder, classes=classes,
                             options={"hidden": 16, "num_classes": 10})
    return res.checkpoint


def _photos(folder: Path) -> list[Path]:
    from PIL import Image

    folder.mkdir()
    names = [f"{WNIDS[3]}_thing_3.png", "holiday.jpg"]  # one names its class, one not
    for i, name in enumerate(names):
        Image.new("RGB", (300 + 40 * i, 260), (40 * i, 120, 200)).save(folder / name)
    (folder / "notes.txt").write_text("not a photograph")
    return [folder / n for n in names]


def test_figures_from_imported_imagenet_weights_in_the_cache(tmp_path: Path,
                                                              monkeypatch) -> None:
    """An import in the cache's weights folder gets a filter grid and, with photographs
    named, a predictions figure, each captioned with the weights it shows."""
    _no_imagenet(monkeypatch, tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ALEXNET_CACHE", str(cache))
    monkeypatch.setattr(docsgen_figures, "BUNDLED", tmp_path / "none")
    _imported_owt(cache / "weights" / "alexnet-owt", tmp_path)
    (cache / "weights" / "stray").mkdir()  # no checkpoint: not an error, just not a net
    gen = tmp_path / "gen"
    # without photographs: the filters, and a note saying how to get predictions
    docsgen_figures.generate(Output(gen))
    filters = (gen / "fragments" / "figure-filters.md").read_text()
    assert "The 64 first-layer filters (11\u00d711\u00d73, tensor `conv1.weight`)" in filters
    assert "architecture `alexnet-owt`" in filters and "unpinned file `small-owt.pth`" in filters
    assert "not the 2012 weights" in filters and "No ImageNet" not in filters
    grid = gen / "figures" / "filters-imagenet-alexnet-owt.png"
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    preds = (gen / "fragments" / "figure-predictions.md").read_text()
    assert "Not yet available" in preds and docsgen_figures.IMAGES_ENV in preds

    photos = _photos(tmp_path / "photos")
    monkeypatch.setenv(docsgen_figures.IMAGES_ENV, str(tmp_path / "photos"))
    docsgen_figures.generate(Output(gen))
    preds = (gen / "fragments" / "figure-predictions.md").read_text()
    assert f"{len(photos)} photographs from this machine's" in preds
    # one photograph's name gives its class: the tally counts only that one
    assert "of 1 photographs whose names give their class" in preds
    png = gen / "figures" / "predictions-imagenet-alexnet-owt.png"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[1] > 2 * 96  # one row per photograph


def test_figures_imagenet_checkpoint_named_by_env(tmp_path: Path, monkeypatch) -> None:
    _no_imagenet(monkeypatch, tmp_path)
    monkeypatch.setattr(docsgen_figures, "BUNDLED", tmp_path / "none")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(docsgen_figures.IMAGENET_ENV, str(tmp_path / "empty"))
    errors = pytest.importorskip("alexnet.errors")
    with pytest.raises(errors.CheckpointError, match=r"ALEXNET_DOCS_IMAGENET: .*empty"):
        docsgen_figures.generate(Output(tmp_path / "gen"))
    monkeypatch.setenv(docsgen_figures.IMAGES_ENV, str(tmp_path / "empty"))
    with pytest.raises(errors.DataError, match="ALEXNET_DOCS_IMAGES=.*no \\*.jpg"):
        docsgen_figures.photographs()


def test_figures_refuse_outputs_that_are_not_numbers() -> None:
    np = pytest.importorskip("numpy")
    errors = pytest.importorskip("alexnet.errors")
    probs = np.full((2, 10), 0.1)
    assert docsgen_figures._finite(probs, "net") is probs
    probs[1, 3] = np.nan
    with pytest.raises(errors.DataError, match="net: the net's outputs are not all finite"):
        docsgen_figures._finite(probs, "net")


def test_filter_grid_from_2012_layout_matrix() -> None:
    np = pytest.importorskip("numpy")
    # a (3*5*5, 4) matrix in the 2012 layout: rows channel-major, then y, then x
    w = np.arange(75 * 4, dtype=np.float32).reshape(75, 4)
    name, filters = docsgen_figures._first_conv({"conv1.weights": w, "conv1Inc": w})
    assert name == "conv1.weights" and filters.shape == (4, 3, 5, 5)
    assert filters[1, 2, 3, 4] == w[2 * 25 + 3 * 5 + 4, 1]
    png = docsgen_figures.filter_grid_png(filters, cols=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_reports_degrade_then_render_a_verifier_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(docsgen_reports, "BUNDLED", tmp_path)
    out = Output(tmp_path / "gen")
    docsgen_reports.generate(out)
    fragment = tmp_path / "gen" / "fragments" / "verify-report.md"
    assert "Not yet available" in fragment.read_text()
    report = {
        "passed": True,
        "policy": {"measure": "max_rel", "tolerance": "SAFETY * U * sqrt(terms)",
                   "U": 2.0**-24, "SAFETY": 16.0, "masks": ["ties"]},
        "meta": {"created": "now"},
        "suites": [{"name": "tiny", "passed": True, "description": "d", "checks": [
            {"layer": "conv1", "kind": "forward", "max_rel": 1e-7, "tolerance": 1e-5,
             "passed": True},
            {"layer": "predictions", "kind": "top1", "max_rel": 0.0, "tolerance": 0.0,
             "passed": True, "note": "2/2 cases agree"},
        ]}],
    }
    (tmp_path / "report.json").write_text(json.dumps(report))
    docsgen_reports.generate(out)
    text = fragment.read_text()
    assert "**PASSED**: 1 suites, 2 checks, 0 failed" in text
    assert "| `conv1` | 1.0e-07 (0.01) |" in text and "2/2 cases agree" in text


def test_markdown_helpers_survive_awkward_text() -> None:
    assert code("a`b") == "``a`b``"
    assert fence("x\n```\ny", "text").startswith("````text\n")
    assert "a\\|b" in md_table(["h"], [["a|b"]])


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("Example: -f SAVE/ConvNet__... --show-filters=conv1", True),  # anonymous link
        ("weight (M*C'*S*S, F)", True),  # unterminated emphasis
        ("see foo_ here", True),  # reference to an undefined target
        ("Uses :class:`Pin` and ``code``; see :func:`obtain`.", False),  # Sphinx roles
        ("Args:\n    x (int): the value.\n\nReturns:\n    int: twice x.", False),
        ("Some text.\n\n.. note:: a docutils directive\n", False),
    ],
)
def test_rst_problems_flags_only_real_markup_errors(text: str, broken: bool) -> None:
    assert bool(alexnet_docs.rst_problems(text)) is broken


# --------------------------------------------------------------------------------------
# the cross-reference (Pygments tokens), on text written for this test


def test_xref_finds_cpp_definitions_and_uses() -> None:
    import upstream_xref

    header = "\n".join([
        "#define WIDTH 4",
        "class Message {",
        "protected:",
        "    Matrix* _mask;",
        "    int _a, _b;",
        "public:",
        "    Message(int x) : _a(x) {}",
        "    virtual Matrix& clone() const;",
        "};",
        "enum Kind {FIRST, SECOND};",
        "typedef std::vector<Message*> MessageV;",
    ]) + "\n"
    body = "\n".join([
        "// Message in a comment is not a use",
        "template <class Op> void Matrix::combine(Op op, Matrix& b) {",
        "    b.applyTwice(op);  /* called, defined elsewhere */",
        "    Message* m = new Message(WIDTH);",
        "    m->_mask = NULL;",
        "}",
    ]) + "\n"
    entries = upstream_xref.build({"inc/m.cuh": header, "src/m.cu": body})
    kinds = {name: e.kinds for name, e in entries.items()}
    assert kinds["WIDTH"] == ["macro"]
    assert "class" in kinds["Message"] and "method" in kinds["Message"]
    assert kinds["_mask"] == ["member"] and kinds["_a"] == ["member"]
    assert kinds["_b"] == ["member"]
    assert kinds["clone"] == ["method declaration"]
    assert kinds["FIRST"] == ["enumerator"] and kinds["MessageV"] == ["typedef"]
    assert kinds["combine"] == ["method"]
    assert entries["combine"].definitions[0].scope == "Matrix"
    assert kinds["applyTwice"] == ["external"]
    assert "Op" not in entries  # a template parameter, not a class
    uses = {(s.path, s.line) for s in entries["Message"].uses}
    assert ("src/m.cu", 4) in uses and ("src/m.cu", 1) not in uses  # comments don't count
    assert ("src/m.cu", 5) in {(s.path, s.line) for s in entries["_mask"].uses}


def test_xref_finds_python_definitions() -> None:
    import upstream_xref

    text = "\n".join([
        "LIMIT = 3",
        "class Parser(object):",
        "    KIND = 'x'",
        "    def __init__(self):",
        "        self.count = 0",
        "        local = 1",
        "    def parse(self, s):",
        "        return helper(s) + LIMIT  # helper in a comment",
        "def helper(s):",
        "    return s",
    ]) + "\n"
    entries = upstream_xref.build({"p.py": text})
    assert entries["LIMIT"].kinds == ["variable"]
    assert entries["Parser"].kinds == ["class"]
    assert entries["KIND"].kinds == ["class attribute"]
    assert entries["count"].kinds == ["attribute"]
    assert entries["parse"].kinds == ["method"] and entries["helper"].kinds == ["function"]
    assert "local" not in entries
    assert [s.line for s in entries["helper"].uses] == [8]
    groups = dict(upstream_xref.names_by_initial(entries))
    assert "_" in groups and "P" in groups  # __init__ sorts under "_"


def test_docs_build_writes_into_the_checkout_it_runs_from(tmp_path: Path) -> None:
    from alexnet import docs_build
    from alexnet.errors import AlexNetError

    clone = tmp_path / "clone"
    (clone / "docs").mkdir(parents=True)
    (clone / "docs" / "conf.py").write_text("")
    (clone / "pyproject.toml").write_text("")
    (clone / "docs" / "deep").mkdir()
    assert docs_build.checkout_root(clone / "docs" / "deep") == clone
    assert docs_build.docs_dir(clone / "docs" / "deep") == clone / "docs"
    with pytest.raises(AlexNetError, match="not inside a clone"):
        docs_build.docs_dir(tmp_path)
    cmd = docs_build.sphinx_command("html", tmp_path / "out", tmp_path / "dt",
                                    src=clone / "docs")
    assert str(clone / "docs") in cmd


def test_code_excerpts_link_lines_and_wrap_per_line() -> None:
    import docsgen_original

    lines = ["<span>a</span>", "b", "c"]
    own = docsgen_original.code_block(lines, 1, 2)
    assert 'id="L1"' in own and own.count('class="cl"') == 2
    elsewhere = docsgen_original.code_block(lines, 2, 3, page="src-x-cu")
    assert 'href="files/src-x-cu.html#L2"' in elsewhere and 'id="L' not in elsewhere
    assert 'id="L' not in docsgen_original.code_block(lines, 1, 1, page=None)
    assert docsgen_original._first_sentence("One. Two. Three") == "One."


def test_original_pages_without_a_copy_say_notes_only(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("alexnet.original.museum.annotations")
    import docsgen_original

    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "empty-cache"))
    docsgen_original.generate(Output(tmp_path / "gen"))
    original = tmp_path / "gen" / "original"
    assert "Not on this build" in (original / "xref.md").read_text()
    for page in ("tour.md", "ledger.md"):
        text = (original / page).read_text()
        assert "Notes only" in text and "annot-excerpt" not in text


def test_original_pages_with_a_copy_show_code_beside_every_stop_and_evidence(
        tmp_path: Path, monkeypatch, upstream_tree: Path) -> None:
    """On a build that finds a verified copy, every tour stop and every ledger row with
    evidence carries the 2012 lines themselves (highlighted at build time, never
    committed), not only links."""
    pytest.importorskip("alexnet.original.museum.annotations")
    import docsgen_original

    from alexnet.original.museum.annotations import load_all
    from alexnet.original.museum.fetch import fetch

    cache = tmp_path / "cache"
    fetch(upstream_tree, cache_dir=cache, progress=False)
    monkeypatch.setenv("ALEXNET_CACHE", str(cache))
    docsgen_original.generate(Output(tmp_path / "gen"))
    original = tmp_path / "gen" / "original"
    aset = load_all()
    tour = (original / "tour.md").read_text()
    assert "Notes only" not in tour
    stops = tour.split("\n## ")[1:]
    assert len(stops) == len(aset.tour.stops) >= 30
    for stop in stops:
        assert "annot-excerpt" in stop, f"tour stop without code: {stop.splitlines()[0]}"
    ledger = (original / "ledger.md").read_text()
    rows = ledger.split("\n## ")[1:]
    assert len(rows) == len(aset.ledger)
    for row in rows:
        if "**Evidence:**" in row:
            for item in row.split("**Evidence:**", 1)[1].split("\n- ")[1:]:
                if "cuda-convnet" in item.split("\n", 1)[0]:
                    continue  # evidence in the 2011 release: a link, no copy of it here
                assert "annot-excerpt" in item, f"{row.splitlines()[0]}: {item[:80]}"


def test_xref_covers_every_name_the_release_defines(upstream_tree: Path) -> None:
    """Every class, function and method of the Python files, and every class, struct and
    macro of the C++/CUDA files, found here by a plain line scan (an oracle independent
    of the Pygments-based parser), has an entry with a definition; the names the issue
    found missing from the search are there too."""
    import re

    import upstream_xref

    files = {}
    for p in sorted(upstream_tree.rglob("*")):
        rel = p.relative_to(upstream_tree).as_posix()
        if p.is_file() and upstream_xref.language(rel):
            files[rel] = p.read_text(encoding="latin-1")
    assert len(files) == 55  # the release's C++/CUDA and Python files
    entries = upstream_xref.build(files)
    expected: set[str] = set()
    for rel, text in files.items():
        if rel.endswith(".py"):
            expected |= set(re.findall(r"^\s*(?:def|class)\s+(\w+)", text, re.M))
        else:
            expected |= set(re.findall(r"^\s*(?:class|struct)\s+(\w+)\s*[:{]", text, re.M))
            expected |= set(re.findall(r"^\s*#define\s+(\w+)", text, re.M))
    missing = sorted(n for n in expected
                     if n not in entries or not entries[n].definitions)
    assert not missing, f"{len(missing)} defined names without an entry: {missing[:10]}"
    for name in ("getClone", "applyTernary", "_sexMask", "CopyMessage"):
        assert name in entries and entries[name].uses, name
