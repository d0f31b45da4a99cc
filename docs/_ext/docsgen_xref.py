"""The cross-reference pages: every name of the 2012 source, where defined, where used.

Built only from a verified copy of the release (``alexnet original fetch``), like the
code beside the notes: the names are read from the upstream text by
:mod:`upstream_xref` (Pygments' lexers), and nothing of that text is committed. Without
a copy the page says so and lists nothing.

Each name is a Sphinx object of type ``upstream`` (registered in ``alexnet_docs``), so
it is in the site's search (as an object, ranked above full-text hits) and in the
general index, and notes can link to it with ``{upstream}`name```. Every site links to
the line on the annotated file page when the file has one, else to GitHub.
"""

from __future__ import annotations

from html import escape
from typing import Any

import upstream_xref
from docsgen_common import fmt_int, md_escape, page_name, raw_html

#: the object type registered with Sphinx (directive ``{upstream}``, role ``{upstream}``)
OBJECT_TYPE = "upstream"

_KIND_WORDS = {
    "external": "called here, defined in a library the release does not contain",
    "method declaration": "method declaration",
}


def group_doc(key: str) -> str:
    return "underscore" if key == "_" else key.lower()


def _site_link(data: Any, site: upstream_xref.Site, text: str) -> str:
    if site.path in data.files:
        href = f"../files/{page_name(site.path)}.html#L{site.line}"
    else:
        href = data.permalink(site.path, (site.line, site.line))
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def entry_html(data: Any, entry: upstream_xref.Entry) -> str:
    defs = []
    for d in entry.definitions:
        what = _KIND_WORDS.get(d.kind, d.kind)
        if d.scope and d.kind != "class":
            what += f" of <code>{escape(d.scope)}</code>"
        where = _site_link(data, d.site, f"{d.site.path}:{d.site.line}")
        defs.append(f"<li>{what}: {where}</li>")
    by_file: dict[str, list[int]] = {}
    for site in entry.uses:
        by_file.setdefault(site.path, []).append(site.line)
    uses = []
    for path, lines in by_file.items():
        if path in data.files:
            nums = ", ".join(_site_link(data, upstream_xref.Site(path, n), str(n))
                             for n in lines)
            uses.append(f"<li><code>{escape(path)}</code>: {nums}</li>")
        else:
            link = f'<a href="{escape(data.permalink(path))}"><code>{escape(path)}</code></a>'
            uses.append(f"<li>{link}: {', '.join(str(n) for n in lines)}</li>")
    n_uses = len(entry.uses)
    body = ['<div class="xref-entry">', '<ul class="xref-defs">', *defs, "</ul>"]
    if uses:
        body.append(f'<p class="xref-count">{n_uses} use{"s" if n_uses != 1 else ""} '
                    f"in {len(by_file)} file{'s' if len(by_file) != 1 else ''}:</p>")
        body += ['<ul class="xref-uses">', *uses, "</ul>"]
    else:
        body.append('<p class="xref-count">No other mention in the release.</p>')
    body.append("</div>")
    return "\n".join(body)


def render_group(data: Any, key: str, entries: list[upstream_xref.Entry]) -> str:
    title = "names with a leading underscore" if key == "_" else f"names beginning {key}"
    out = ["---", "orphan: true", "---", "",
           f"# Cross-reference: {title}\n",
           f"{len(entries)} names. Back to {{doc}}`the cross-reference <../xref>`.\n"]
    for entry in entries:
        out.append(f":::{{{OBJECT_TYPE}}} {entry.name}")
        out.append(raw_html(entry_html(data, entry)))
        out.append(":::\n")
    return "\n".join(out) + "\n"


def render_index(data: Any, groups: list[tuple[str, list[upstream_xref.Entry]]],
                 entries: dict[str, upstream_xref.Entry], n_files: int) -> str:
    kinds: dict[str, int] = {}
    for e in entries.values():
        for k in e.kinds:
            kinds[k] = kinds.get(k, 0) + 1
    uses = sum(len(e.uses) for e in entries.values())
    out = [
        "# Cross-reference of the 2012 source\n",
        "Every name the release's C++/CUDA and Python files define, with the line that "
        "defines it and every line that mentions it, in the manner of the Lions "
        "commentary's cross-reference. Names that the code calls but whose definitions are "
        "not in the release (the NVMatrix library, the CUDA runtime, the convolution "
        "kernels) are listed too, so that they can be found. Each name is in the site's "
        "search and in the {ref}`genindex`; each line links to the annotated page of its "
        "file, or to GitHub for the files without one.\n",
        "The names are found by Pygments' lexers (the highlighter of these pages), which "
        "tell code from comments and strings; definitions are then read from the token "
        "stream. Local variables inside functions are left out; functions defined inside "
        "functions are kept, as local functions.\n",
    ]
    out.append(
        f"On this build: {fmt_int(len(entries))} names from {n_files} files, "
        f"{fmt_int(uses)} uses. By kind: "
        + ", ".join(f"{md_escape(k)} {v}" for k, v in sorted(kinds.items())) + ".\n"
    )
    links = " \u00b7 ".join(
        f"{{doc}}`{'_' if key == '_' else key} ({len(es)}) <xref/{group_doc(key)}>`"
        for key, es in groups
    )
    out.append(f"**By first letter:** {links}\n")
    return "\n".join(out)


def render_missing(why: str) -> str:
    return (
        "# Cross-reference of the 2012 source\n\n"
        ":::{note}\n**Not on this build:** the cross-reference is read from the 2012 source "
        f"itself, and {md_escape(why)}.\n:::\n"
    )


def generate(out: Any, data: Any) -> None:
    """Write ``original/xref.md`` and one page per initial (called by docsgen_original)."""
    if data.source is None:
        out.write_text("original/xref.md", render_missing(
            data.source_why or "no verified copy of the release was available"))
        return
    files = {}
    for entry in data.manifest.source_files:
        if upstream_xref.language(entry.path):
            files[entry.path] = "\n".join(data.source.lines(entry.path)) + "\n"
    entries = upstream_xref.build(files)
    groups = list(upstream_xref.names_by_initial(entries))
    for key, es in groups:
        out.write_text(f"original/xref/{group_doc(key)}.md", render_group(data, key, es))
    out.write_text("original/xref.md", render_index(data, groups, entries, len(files)))
