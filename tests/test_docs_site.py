"""The documentation site: it builds without warnings, and a real browser can use it.

The site is built once per module with the same command as CI, ``alexnet docs build
--doctest``, into a temporary folder (so the examples in the pages run too), served on
127.0.0.1, and opened in headless Chromium through its command-line modes
(``--dump-dom`` after a virtual-time budget, ``--screenshot``), so no WebDriver or
websocket library is needed. Checked: key pages render with their title and main
content, every internal link and anchor resolves, the search page finds pages for a
query, and every image decodes (in Pillow, and in the browser). At 1366, 1440 and 1920
px the layout is measured in the browser (code column width, no code box or formula that
scrolls inside itself, no table cell cut short) and screenshotted. Screenshots go to
``$ALEXNET_ARTIFACTS/docs-screenshots`` (CI keeps them) or to a temporary folder. On a
build with a fetched copy of the 2012 source, the cross-reference's names are checked in
the search index too.

Without Sphinx the module is skipped; without Chromium only the browser tests are.
"""

from __future__ import annotations

import functools
import html.parser
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the docs extra (sphinx, furo, myst-parser) is not installed")
pytestmark = pytest.mark.slow

from alexnet.docs_build import build_docs  # noqa: E402

# (page, text its <title> must contain, text its main content must contain)
KEY_PAGES = [
    ("index.html", "AlexNet, preserved", "annotated original"),
    ("history/road-to-2012.html", "The road to 2012", "ImageNet"),
    ("history/competition.html", "The competition", "SuperVision"),
    ("history/timeline.html", "Timeline", "30 September 2012"),
    ("original/index.html", "The annotated original", "246 files"),
    ("architecture/index.html", "The architecture", "two towers"),
    ("architecture/formulas.html", "Three ways", "LocalResponseNorm"),
    ("guides/verify.html", "Verify", "tolerance"),
    ("reference/cli.html", "Command line", "Build the site with Sphinx"),
    ("reference/formats.html", "File formats", "UPSTREAM.json"),
]
LINK_ATTRS = {"a": "href", "link": "href", "script": "src", "img": "src", "iframe": "src"}
EXTERNAL = ("//",)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # http:, mailto:, data:, ... are external


def is_external(link: str) -> bool:
    return link.startswith(EXTERNAL) or bool(SCHEME.match(link))


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    status = build_docs(out, doctest=True, quiet=True)
    # -W: any Sphinx warning fails the build, and any failing example in the pages fails
    # the doctest run; the messages are in the captured output
    assert status == 0, "the docs build or its doctests failed (see captured output)"
    return out


@pytest.fixture(scope="module")
def server(site: Path):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def chromium() -> str:
    for candidate in (os.environ.get("ALEXNET_CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    pytest.skip("no Chromium found: install Debian's chromium (.ci/install-chromium) "
                "or point ALEXNET_CHROMIUM at a Chrome/Chromium binary")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = os.environ.get("ALEXNET_ARTIFACTS")
    path = Path(base) / "docs-screenshots" if base else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chromium-profile")


def run_browser(chromium: str, profile: Path, url: str, *args: str, timeout: int = 90) -> str:
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args, url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"chromium failed on {url}: {proc.stderr[-800:]}"
    return proc.stdout


def dump_dom(chromium: str, profile: Path, url: str, budget_ms: int = 5000) -> str:
    return run_browser(chromium, profile, url, f"--virtual-time-budget={budget_ms}",
                       "--dump-dom")


# --------------------------------------------------------------------------------------
# static checks of the built HTML


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        attr = LINK_ATTRS.get(tag)
        if attr and a.get(attr):
            self.links.append((tag, a[attr]))
        if tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


@functools.cache
def _parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def _html_files(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


def test_key_pages_exist_with_titles(site: Path) -> None:
    for page, title, _ in KEY_PAGES:
        path = site / page
        assert path.is_file(), f"{page} was not built"
        assert title in _parse(path).title, f"{page}: <title> {_parse(path).title!r}"


def test_internal_links_and_anchors_resolve(site: Path) -> None:
    problems = []
    for page in _html_files(site):
        for tag, link in _parse(page).links:
            if is_external(link) or link == "#":
                continue
            parsed = urllib.parse.urlsplit(link)
            target = page
            if parsed.path:
                target = (page.parent / urllib.parse.unquote(parsed.path)).resolve()
                if target.is_dir():
                    target = target / "index.html"
                if site.resolve() not in target.parents and target != site.resolve():
                    problems.append(f"{page.relative_to(site)}: {link} leaves the site")
                    continue
                if not target.is_file():
                    problems.append(f"{page.relative_to(site)}: <{tag}> {link} is missing")
                    continue
            frag = urllib.parse.unquote(parsed.fragment)
            if frag and target.suffix == ".html" and frag not in _parse(target).ids:
                problems.append(f"{page.relative_to(site)}: {link}: no anchor #{frag}")
    assert not problems, "\n".join(problems[:40])


def test_every_image_decodes(site: Path) -> None:
    from PIL import Image

    seen = 0
    for page in _html_files(site):
        for tag, link in _parse(page).links:
            if tag != "img" or is_external(link):
                continue
            path = (page.parent / urllib.parse.unquote(urllib.parse.urlsplit(link).path))
            assert path.is_file(), f"{page.relative_to(site)}: image {link} missing"
            if path.suffix == ".svg":
                root = ET.parse(path).getroot()
                assert root.tag.endswith("svg") and float(root.get("width", "1")) > 0
            else:
                with Image.open(path) as im:
                    im.verify()
            seen += 1
    assert seen >= 1, "the site should show at least the generated network diagram"


def test_search_index_holds_key_terms(site: Path) -> None:
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    for term in ("dropout", "relu", "supervis", "cuda", "imagenet"):
        assert f'"{term}' in index, f"search index lacks {term!r}"


def test_cross_reference_names_are_searchable(site: Path) -> None:
    if not (site / "_generated" / "original" / "xref" / "c.html").is_file():
        pytest.skip("no fetched copy of the 2012 source on this build: no cross-reference")
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    for name in ("getClone", "applyTernary", "_sexMask", "CopyMessage"):
        assert f'"{name}"' in index, f"the search index lacks the name {name!r}"
    assert "getClone" in (site / "genindex.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------
# in a real browser


def test_key_pages_render_in_browser(server: str, chromium: str, profile: Path,
                                     artifacts: Path) -> None:
    for page, title, text in KEY_PAGES:
        shot = artifacts / (page.replace("/", "_").removesuffix(".html") + ".png")
        # one browser run per page: the DOM after scripts ran, and a screenshot
        dom = run_browser(chromium, profile, server + page, "--window-size=1280,1600",
                          "--virtual-time-budget=3000", "--dump-dom", f"--screenshot={shot}")
        c = _Collector()
        c.feed(dom)
        assert title in c.title, f"{page}: browser title {c.title!r}"
        main = dom.split('role="main"', 1)
        assert len(main) == 2, f"{page}: no main article in the rendered DOM"
        assert text in main[1], f"{page}: main content lacks {text!r}"
        assert shot.is_file() and shot.stat().st_size > 10_000, f"{page}: empty screenshot"


def test_search_finds_pages_in_browser(server: str, chromium: str, profile: Path,
                                       artifacts: Path) -> None:
    dom = run_browser(chromium, profile, server + "search.html?q=dropout",
                      "--window-size=1280,1200", "--virtual-time-budget=10000", "--dump-dom",
                      f"--screenshot={artifacts / 'search.png'}")
    results = dom.split('class="search"', 1)
    assert len(results) == 2, "the search page rendered no result list"
    hits = results[1].split("</ul>", 1)[0].split("<li")[1:]
    assert hits, "searching for 'dropout' found nothing"
    assert any("road-to-2012" in h or "formulas" in h for h in hits), hits[:3]


CHECK_PAGE = """<!doctype html><meta charset="utf-8"><title>image check</title>
<pre id="out">pending</pre>
<script>
(async () => {
  const results = [];
  for (const p of new URLSearchParams(location.search).getAll("p")) {
    const url = new URL(p, location.href);
    const doc = new DOMParser().parseFromString(await (await fetch(url)).text(), "text/html");
    for (const img of doc.querySelectorAll("img")) {
      const src = new URL(img.getAttribute("src"), url).href;
      results.push(await new Promise((done) => {
        const im = new Image();
        im.onload = () => done({page: p, src, w: im.naturalWidth, h: im.naturalHeight});
        im.onerror = () => done({page: p, src, w: 0, h: 0});
        im.src = src;
      }));
    }
  }
  document.getElementById("out").textContent = JSON.stringify(results);
})();
</script>
"""


def test_images_load_in_browser(site: Path, server: str, chromium: str, profile: Path) -> None:
    pages = sorted({str(p.relative_to(site)) for p in _html_files(site)
                    if any(tag == "img" for tag, _ in _parse(p).links)})
    assert pages, "no page shows an image"
    (site / "_image_check.html").write_text(CHECK_PAGE, encoding="utf-8")
    query = urllib.parse.urlencode([("p", p) for p in pages])
    dom = dump_dom(chromium, profile, server + "_image_check.html?" + query, budget_ms=15000)
    text = dom.split('<pre id="out">', 1)[1].split("</pre>", 1)[0]
    assert text != "pending", "the image check did not finish in the browser"
    results = json.loads(html.unescape(text)) if "&" in text else json.loads(text)
    assert results, "no images were checked"
    broken = [r for r in results if r["w"] <= 0 or r["h"] <= 0]
    assert not broken, f"images the browser could not decode: {broken[:5]}"


# --------------------------------------------------------------------------------------
# layout at the common laptop and desktop widths

LAYOUT_WIDTHS = (1366, 1440, 1920)
#: the narrowest code column accepted on an annotated page (about 90 characters)
MIN_CODE_PX = 600

LAYOUT_PAGE = """<!doctype html><meta charset="utf-8"><title>layout check</title>
<style>html,body{margin:0}iframe{border:0;width:100vw;height:100vh;display:block}</style>
<pre id="out">pending</pre>
<script>
const page = new URLSearchParams(location.search).get("p");
const frame = document.createElement("iframe");
frame.onload = () => {
  const d = frame.contentDocument;
  const over = (el) => el.scrollWidth > el.clientWidth + 1;
  const code = [...d.querySelectorAll(".annot-code pre")];
  const maths = [...d.querySelectorAll(".math-wrapper")];
  const cells = [...d.querySelectorAll("table td")];
  document.getElementById("out").textContent = JSON.stringify({
    page,
    code: code.length,
    code_min_px: code.length ? Math.min(...code.map((p) => p.clientWidth)) : null,
    code_scrolling: code.filter(over).length,
    math: maths.length,
    math_scrolling: maths.filter(over).length,
    cut_cells: cells.filter((c) => over(c) || c.textContent.trim().endsWith("\\u2026")).length,
  });
};
frame.src = page;
document.body.appendChild(frame);
</script>
"""


def _annotated_page(site: Path) -> str | None:
    """An annotated file page that shows code (only on a build with a fetched copy)."""
    for path in sorted((site / "_generated" / "original" / "files").glob("*.html")):
        if "annot-code" in path.read_text(encoding="utf-8"):
            return str(path.relative_to(site))
    return None


@pytest.mark.parametrize("width", LAYOUT_WIDTHS)
def test_layout_at_common_widths(site: Path, server: str, chromium: str, profile: Path,
                                 artifacts: Path, width: int) -> None:
    (site / "_layout_check.html").write_text(LAYOUT_PAGE, encoding="utf-8")
    pages = ["architecture/formulas.html", "_generated/original/ledger.html"]
    code_page = _annotated_page(site)
    if code_page:
        pages += [code_page, "_generated/original/tour.html"]
    for page in pages:
        shot = artifacts / f"layout-{width}-{page.replace('/', '_').removesuffix('.html')}.png"
        run_browser(chromium, profile, server + page, f"--window-size={width},1000",
                    "--virtual-time-budget=3000", f"--screenshot={shot}")
        assert shot.is_file() and shot.stat().st_size > 10_000, f"{page}: empty screenshot"
        w = _png_size(shot)[0]
        assert w == width, f"{page}: screenshot is {w} px wide, not {width}"
        dom = run_browser(chromium, profile,
                          server + "_layout_check.html?" + urllib.parse.urlencode({"p": page}),
                          f"--window-size={width},1000", "--virtual-time-budget=8000",
                          "--dump-dom")
        text = html.unescape(dom.split('<pre id="out">', 1)[1].split("</pre>", 1)[0])
        assert text != "pending", f"{page}: the layout check did not finish at {width} px"
        got = json.loads(text)
        assert got["math_scrolling"] == 0, f"{page} at {width} px: formulas scroll: {got}"
        assert got["cut_cells"] == 0, f"{page} at {width} px: table cells are cut: {got}"
        if got["code"]:
            assert got["code_scrolling"] == 0, f"{page} at {width} px: code scrolls: {got}"
            assert got["code_min_px"] >= MIN_CODE_PX, (
                f"{page} at {width} px: code column only {got['code_min_px']} px: {got}")
    if not code_page:
        pytest.skip("no fetched copy of the 2012 source on this build: code layout unchecked "
                    "(run `alexnet original fetch` before the tests)")


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size
