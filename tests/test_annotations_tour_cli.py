"""``alexnet tour``: listing, coverage, file view, guided tour, with and without a copy.

Without a fetched copy the viewer shows notes and permalinks; with one it interleaves
notes with numbered source lines. The "with" case is tested with a stand-in reader that
returns synthetic lines of the right count, so no upstream text is needed.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.original.museum import annotations as A
from alexnet.original.museum import tour_view

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture()
def runner(tmp_path, monkeypatch) -> CliRunner:
    # An empty cache: these tests never see a copy of the release.
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "empty-cache"))
    return CliRunner()


@pytest.fixture(scope="module")
def data() -> A.AnnotationSet:
    return A.load_all()


def fake_reader(data):
    def read(path: str) -> list[str]:
        n = data.manifest.get(path).lines
        return [f"<synthetic line {i} of {path}>" for i in range(1, n + 1)]
    return read


def test_listing(runner, data):
    res = runner.invoke(cli, ["tour"])
    assert res.exit_code == 0, res.output
    assert "Annotated files of the 2012 release" in res.output
    assert f"of {len(data.manifest.source_files)} source files annotated" in res.output
    for path in list(data.files)[:3]:
        assert path in res.output
    assert not ANSI.search(res.output)  # not a terminal: plain text


def test_coverage_json_shape(runner, data):
    res = runner.invoke(cli, ["tour", "--coverage", "--json"])
    assert res.exit_code == 0, res.output
    js = json.loads(res.output)
    assert js["total_files"] == 67
    assert len(js["files"]) == 246
    assert js["annotated_files"] == A.coverage(data).annotated_files
    row = js["files"][0]
    assert {"path", "notes", "line_notes", "lines_covered", "lines"} <= set(row)
    assert sum(1 for r in js["files"] if r["kind"] == "cfg") == js["cfg_files"] == 179


def test_coverage_table(runner):
    res = runner.invoke(cli, ["tour", "--coverage"])
    assert res.exit_code == 0
    assert "source files annotated:" in res.output and "cfg files in a family" in res.output


def test_tour_without_copy_links_to_github(runner, data):
    res = runner.invoke(cli, ["tour", "--tour"])
    assert res.exit_code == 0, res.output
    stops = data.tour.stops
    assert f"[1/{len(stops)}] {stops[0].title}" in res.output
    assert f"[{len(stops)}/{len(stops)}]" in res.output
    s = stops[0]
    assert A.permalink(s.path, s.lines, data.manifest) in res.output
    assert "alexnet original fetch" in " ".join(res.output.split())


def test_file_view_without_copy(runner, data):
    path = next(iter(data.files))
    ann = data.files[path]
    res = runner.invoke(cli, ["tour", path])
    assert res.exit_code == 0, res.output
    for note in ann.notes[:3]:
        assert note.title in res.output
        assert A.permalink(path, note.lines, data.manifest) in res.output


def test_file_resolution_and_errors(runner):
    ok = runner.invoke(cli, ["tour", "layer.cu", "--line", "1130"])
    assert ok.exit_code == 0 and "src/layer.cu" in ok.output
    ambiguous = runner.invoke(cli, ["tour", "convnet.cu"])  # there is only src/convnet.cu
    assert ambiguous.exit_code == 0
    unknown = runner.invoke(cli, ["tour", "layerz.py"])
    assert unknown.exit_code == 2 and "did you mean layer.py" in unknown.output
    no_file = runner.invoke(cli, ["tour", "--line", "3"])
    assert no_file.exit_code == 2 and "--line needs a FILE" in no_file.output
    too_far = runner.invoke(cli, ["tour", "convnet.py", "--line", "9999"])
    assert too_far.exit_code == 2 and "218 lines" in too_far.output


def test_ambiguous_name(runner):
    res = runner.invoke(cli, ["tour", "convnet.cuh"])
    assert res.exit_code == 0  # include/convnet.cuh is unique
    res = runner.invoke(cli, ["tour", "layer.cuh"])
    assert res.exit_code == 0


def test_check_command(runner):
    res = runner.invoke(cli, ["tour", "--check"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("ok:")


def test_render_file_interleaves_notes_with_numbered_lines(data):
    path = next(p for p, a in data.files.items() if len(a.notes) >= 2)
    ann = data.files[path]
    out = tour_view.render_file(path, data, fake_reader(data), color=False)
    lines = out.splitlines()
    for note in ann.notes:
        head = next(i for i, ln in enumerate(lines) if ln.strip().startswith(
            f">> L{note.lines[0]}") and note.title in ln)
        # the first source line after the note block is the note's first line, marked
        nxt = next(ln for ln in lines[head + 1:] if not ln.strip().startswith(">>"))
        assert re.match(rf"\s*{note.lines[0]}\| <synthetic line {note.lines[0]} of ", nxt), nxt
    n_source = sum(1 for ln in lines if "<synthetic line" in ln)
    assert n_source == data.manifest.get(path).lines


def test_render_file_window_around_a_line(data):
    path, ann = next((p, a) for p, a in data.files.items() if a.notes)
    note = ann.notes[0]
    out = tour_view.render_file(path, data, fake_reader(data), line=note.lines[0])
    # (the line asked for carries the ">" mark in the gutter)
    numbers = [int(m.group(1)) for m in re.finditer(r"^[>\s]*(\d+)[| ] <synthetic", out, re.M)]
    assert numbers[0] == max(1, note.lines[0] - 3)
    assert numbers[-1] == min(data.manifest.get(path).lines, note.lines[1] + 3)


def test_render_tour_with_source_and_colour(data):
    out = tour_view.render_tour(data, fake_reader(data), color=True)
    assert ANSI.search(out)
    plain = ANSI.sub("", out)
    for s in data.tour.stops:
        assert f"<synthetic line {s.lines[0]} of {s.path}>" in plain
        assert f"<synthetic line {s.lines[1]} of {s.path}>" in plain
    assert "End of the tour" in plain


def test_highlight_keeps_line_count():
    src = ["", "int main() {", "  /* a", "     comment */", "  return 0;", "}", ""]
    for path in ("x.cu", "x.py", "layers/x.cfg", "Makefile-distrib", "x.unknownext"):
        out = tour_view.highlight(path, src, color=True)
        assert len(out) == len(src)
        assert [ANSI.sub("", ln) for ln in out] == src


def test_original_group_lists_fetch():
    res = CliRunner().invoke(cli, ["original", "--help"])
    assert res.exit_code == 0
    assert "fetch" in res.output and "manifest" in res.output


def test_line_view_marks_the_line_asked_for(data):
    path, ann = next((p, a) for p, a in data.files.items() if a.notes)
    target = ann.notes[0].lines[0]
    out = tour_view.render_file(path, data, fake_reader(data), line=target)
    marked = [ln for ln in out.splitlines() if ln.startswith(tour_view.TARGET)]
    assert len(marked) == 1 and f"<synthetic line {target} of " in marked[0]
    assert f"line {target} marked" in out


def test_notes_keep_their_permalinks_with_a_copy(data):
    path = next(p for p, a in data.files.items() if a.notes)
    out = tour_view.render_file(path, data, fake_reader(data))
    for note in data.files[path].notes:
        assert A.permalink(path, note.lines, data.manifest) in out


def test_markdown_line_links_ask_for_the_plain_view(data):
    md = next((p for p in data.manifest.paths if p.endswith(".md")), None)
    if md is None:
        pytest.skip("the manifest lists no Markdown file")
    assert data.manifest.permalink(md, 3, 5).endswith(f"{md}?plain=1#L3-L5")
    assert "?plain=1" not in data.manifest.permalink(md)
    assert "?plain=1" not in data.manifest.permalink("layer.py", 3, 5)


def test_one_stop_and_its_errors(runner, data):
    n = len(data.tour.stops)
    res = runner.invoke(cli, ["tour", "--stop", "2"])
    assert res.exit_code == 0, res.output
    assert f"[2/{n}] {data.tour.stops[1].title}" in res.output
    assert f"[1/{n}]" not in res.output and "alexnet tour --stop 3" in res.output
    too_far = runner.invoke(cli, ["tour", "--stop", str(n + 1)])
    assert too_far.exit_code == 2 and f"{n} stops" in too_far.output
    with_file = runner.invoke(cli, ["tour", "layer.py", "--stop", "1"])
    assert with_file.exit_code == 2


def test_prose_wraps_to_the_terminal_width(runner, monkeypatch, data):
    for columns in (60, 140):
        monkeypatch.setenv("COLUMNS", str(columns))
        res = runner.invoke(cli, ["tour", "--tour", "--no-pager"])
        assert res.exit_code == 0
        prose = [ln for ln in res.output.splitlines() if not ln.lstrip().startswith("http")]
        assert max(len(ln) for ln in prose) <= columns
        assert any(len(ln) > columns - 15 for ln in prose)  # and it uses the width
    assert tour_view.terminal_width() >= tour_view.MIN_WIDTH
