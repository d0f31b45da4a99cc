"""The history pages: their citations of the 2012 release point at real lines, the dates
they give are the dates those lines record, and the corrections of the second edition
stay made.

Fast and without Sphinx: the hand-written Markdown is read as text. The line ranges are
checked against the committed manifest (line counts of every upstream file), so this
runs everywhere; the dates are checked against the lines themselves only where a copy
of the release is at hand (``upstream_tree`` skips otherwise).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alexnet import UPSTREAM_COMMIT
from alexnet.original.museum.upstream import load_manifest

DOCS = Path(__file__).resolve().parent.parent / "docs"
HISTORY = DOCS / "history"
LINK = re.compile(
    r"https://github\.com/computerhistory/AlexNet-Source-Code/blob/([0-9a-f]{40})/"
    r"([^)#\s]+)#L(\d+)(?:-L(\d+))?"
)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAY_MONTH = re.compile(r"\b(\d{1,2}) (" + "|".join(MONTHS) + r")\b")


def hand_written_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md")
                  if not {"_generated", "_build"} & set(p.relative_to(DOCS).parts))


def test_upstream_links_point_inside_the_pinned_files() -> None:
    manifest = {f.path: f for f in load_manifest().files}
    seen = 0
    for page in hand_written_pages():
        for m in LINK.finditer(page.read_text(encoding="utf-8")):
            commit, path, a, b = m.group(1), m.group(2), int(m.group(3)), m.group(4)
            where = f"{page.relative_to(DOCS)}: {path}#L{a}"
            assert commit == UPSTREAM_COMMIT, f"{where}: links commit {commit[:8]}"
            assert path in manifest, f"{where}: no such file in the release"
            last = int(b) if b else a
            assert 1 <= a <= last <= manifest[path].lines, (
                f"{where}: lines {a}-{last} outside the file's {manifest[path].lines}")
            seen += 1
    assert seen >= 30  # the timeline alone cites some two dozen ranges


def timeline_entries() -> list[tuple[str, str]]:
    """(term, body) of each entry of the timeline's definition list."""
    text = (HISTORY / "timeline.md").read_text(encoding="utf-8")
    entries = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip().splitlines()
        if len(lines) >= 2 and lines[1].startswith(": "):
            entries.append((lines[0].strip(), " ".join(x.strip() for x in lines[1:])[2:]))
    return entries


def test_every_timeline_entry_carries_its_source() -> None:
    entries = timeline_entries()
    assert len(entries) >= 20
    for term, body in entries:
        assert "{ref}`" in body or LINK.search(body), f"timeline {term!r}: no source"


def test_timeline_dates_are_the_dates_the_cited_lines_record(upstream_tree: Path) -> None:
    """Each day named in an entry that cites the release appears, as the ISO date of a
    checkpoint folder or a header's creation date, in the lines the entry links."""
    checked = 0
    for term, body in timeline_entries():
        links = list(LINK.finditer(body))
        if not links:
            continue
        year = re.findall(r"\b(20\d\d)\b", term)[-1]
        cited = ""
        for m in links:
            a = int(m.group(3))
            b = int(m.group(4) or a)
            lines = (upstream_tree / m.group(2)).read_text(encoding="latin-1").splitlines()
            cited += "\n".join(lines[a - 1 : b]) + "\n"
        for day, month in DAY_MONTH.findall(body):
            iso = f"{year}-{MONTHS.index(month) + 1:02d}-{int(day):02d}"
            assert iso in cited, f"timeline {term!r}: {day} {month} ({iso}) not in the cited lines"
            checked += 1
    assert checked >= 15


def page(name: str) -> str:
    return " ".join((DOCS / name).read_text(encoding="utf-8").split())


def test_second_edition_corrections_stay_made() -> None:
    front = page("index.md")
    # the 15.3% was an average of seven nets; one net scored 18.2% on validation
    assert re.search(r"average of seven[^.]*15\.3%", front) and "18.2%" in front
    assert "five to six days" in front and "GTX 580" in front
    after = page("history/aftermath.md")
    assert "64, 192, 384, 384 and 256 kernels" in after  # the one-weird-trick paper
    assert "64, 192, 384, 256, 256" in after and "*does* normalise" in after
    assert "`alexnet-owt`" in after and "[CHM blog 2025]" in after
    assert "collected CIFAR-10 with Vinod Nair and Hinton" in page("history/road-to-2012.md")
    comp = page("history/competition.md")
    rows = re.findall(r"\| (\w[\w/ .-]*?) \| \*{0,2}(\d+\.\d)%", comp)
    teams = [t for t, _ in rows[:7]]
    assert teams.count("SuperVision") == 2 and len(set(teams)) == len(teams) - 1
    assert "SuperVision's other entry" in comp
    assert "2012-full" in comp and "layer-params-145.cfg" in comp  # the two 145f readings
    assert "Its `141` also has two readings" in comp
    tl = page("history/timeline.md")
    assert "Definitions 116 and 117" in tl and "mid-July 2012" in tl
    assert "9 September" in tl


def test_no_page_documents_an_environment_variable_nothing_reads() -> None:
    root = DOCS.parent
    code = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for d in ("alexnet", "modern", "original", "verify", "docs/_ext")
                     for p in (root / d).rglob("*.py"))
    prose = "\n".join(p.read_text(encoding="utf-8") for p in hand_written_pages())
    prose += (root / "README.md").read_text(encoding="utf-8")
    for name in sorted(set(re.findall(r"\bALEXNET_[A-Z_]+\b", prose))):
        assert name in code, f"{name} is documented but no code reads it"


@pytest.mark.parametrize("name", ["ALEXNET_DOCS_IMAGENET", "ALEXNET_DOCS_IMAGES"])
def test_figure_settings_are_documented(name: str) -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert name in readme
