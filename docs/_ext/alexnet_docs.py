"""Sphinx extension of the AlexNet docs: build-time pages, figures and MathML.

On ``builder-inited`` every generator writes its Markdown pages, fragments and figures
into ``docs/_generated/`` from the project's own data (annotations, cfg files, model,
bundled weights and reports). Hand-written pages include the fragments, so the sources
stay the single source of truth and the docs never restate them. A generator whose
data is absent writes a short "not yet available" note instead; one whose data is
present but broken logs a warning, which fails the ``-W`` build.

Formulas are turned into MathML at build time (docutils' LaTeX-to-MathML converter),
so the site needs no JavaScript math library and renders offline.
"""

from __future__ import annotations

import time

from docutils import nodes
from docutils.utils.math import MathError, latex2mathml
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _cli_fragment(out) -> None:
    import docsgen_cli

    if not docsgen_cli.missing:
        out.write_text("fragments/cli-missing.md", "")
        return
    items = "\n".join(f"- `alexnet {name}`" for name in sorted(docsgen_cli.missing))
    out.write_text(
        "fragments/cli-missing.md",
        ":::{note}\n**Not yet available:** these registered commands could not be loaded "
        f"on this build, so they are not documented below:\n\n{items}\n:::\n",
    )


def generate(app: Sphinx) -> None:
    import docsgen_api
    import docsgen_architecture
    import docsgen_figures
    import docsgen_formats
    import docsgen_guides
    import docsgen_original
    import docsgen_reports
    from docsgen_common import Output

    out = Output()
    steps = [
        ("cli", _cli_fragment),
        ("api", docsgen_api.generate),
        ("original", docsgen_original.generate),
        ("architecture", docsgen_architecture.generate),
        ("figures", docsgen_figures.generate),
        ("formats", docsgen_formats.generate),
        ("reports", docsgen_reports.generate),
        ("guides", docsgen_guides.generate),
    ]
    for name, step in steps:
        t0 = time.perf_counter()
        try:
            step(out)
        except Exception as exc:
            logger.warning("docs generator %r failed: %s: %s", name, type(exc).__name__, exc)
            continue
        logger.info("generated %s in %.1f s", name, time.perf_counter() - t0)
    for path in out.prune():
        logger.info("removed stale generated file %s", path)


# -- docstrings that are not reStructuredText ---------------------------------------------

#: docutils messages that only mean "Sphinx knows this role/directive, plain docutils not"
_BENIGN = ("Unknown interpreted text role", "Unknown directive type", "No role entry",
           "No directive entry", 'Trying "')


_RST: dict[str, object] = {}


def _any_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """Stand-in for every role during the check: which roles exist is Sphinx's business."""
    return [nodes.literal(rawtext, text)], []


def _role_lookup(name, language_module, lineno, reporter):
    return _any_role, []


def _directive_lookup(name, language_module, document):
    """Only docutils' own directives; Sphinx's would need a build environment."""
    import importlib

    from docutils.parsers.rst import directives

    entry = directives._directive_registry.get(name.lower())
    if entry is None:
        return None, []
    module = importlib.import_module(f"docutils.parsers.rst.directives.{entry[0]}")
    return getattr(module, entry[1]), []


def rst_problems(text: str) -> list[str]:
    """Markup problems plain docutils finds in ``text`` (Sphinx-only roles excepted).

    Parsed in isolation: every role becomes a literal and only docutils' built-in
    directives are known, so nothing here touches the Sphinx build environment.
    """
    import io

    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser, directives, roles
    from docutils.readers.standalone import Reader
    from docutils.utils import new_document

    if not _RST:
        settings = get_default_settings(Parser)
        settings.report_level = 5
        settings.halt_level = 5
        settings.warning_stream = io.StringIO()
        settings.file_insertion_enabled = False
        settings.raw_enabled = False
        _RST.update(parser=Parser(), reader=Reader(), settings=settings)
    document = new_document("<docstring>", _RST["settings"])
    messages: list[nodes.system_message] = []
    document.reporter.attach_observer(messages.append)  # sees every level
    saved = roles.role, directives.directive
    roles.role, directives.directive = _role_lookup, _directive_lookup
    try:
        _RST["parser"].parse(text, document)
        # the reference transforms find what parsing alone cannot (e.g. ``ConvNet__``
        # is an anonymous hyperlink reference without a target)
        document.transformer.populate_from_components((_RST["reader"], _RST["parser"]))
        document.transformer.apply_transforms()
    except Exception as exc:  # docutils itself gave up: certainly not clean markup
        return [f"{type(exc).__name__}: {exc}"]
    finally:
        roles.role, directives.directive = saved
    found = []
    for msg in messages:
        body = msg.astext()
        if msg["level"] >= 2 and not any(b in body for b in _BENIGN):
            found.append(body.splitlines()[0] if body else "markup problem")
    return found


def verbatim_if_broken(app: Sphinx, what: str, name: str, obj: object, options: object,
                       lines: list[str]) -> None:
    """Show a docstring verbatim when it is not valid reST, instead of failing ``-W``.

    Docstrings across the project are written by many hands, often in Markdown habits
    (``C/groups*S*S``). Rendering such a docstring as reST mangles it; failing the docs
    build over it punishes the docs for a style slip elsewhere. A literal block keeps
    the text exactly as written; the build log lists each one so it can be fixed.
    """
    if not lines:
        return
    problems = rst_problems("\n".join(lines))
    if problems:
        logger.info("docstring of %s shown verbatim (not reST: %s)", name, problems[0])
        lines[:] = ["::", ""] + [f"    {line}" if line else "" for line in lines]


def click_text_verbatim_if_broken(app: Sphinx, ctx: object, lines: list[str]) -> None:
    """The same rule for command help texts, which sphinx-click renders as reST."""
    if lines and rst_problems("\n".join(lines)):
        name = getattr(ctx, "command_path", "?")
        logger.info("help text of %r shown verbatim (not reST)", name)
        lines[:] = ["::", ""] + [f"    {line}" if line else "" for line in lines] + [""]


# -- MathML ------------------------------------------------------------------------------


def _mathml(self, node: nodes.Element, latex: str, block: bool) -> str:
    try:
        return latex2mathml.tex2mathml(latex, as_block=block)
    except MathError as exc:
        logger.warning("cannot convert formula to MathML (%s): %s", exc, latex, location=node)
        return f"<code>{self.encode(latex)}</code>"


def visit_math(self, node: nodes.Element) -> None:
    self.body.append(
        f'<span class="math">{_mathml(self, node, node.astext(), block=False)}</span>'
    )
    raise nodes.SkipNode


def visit_displaymath(self, node: nodes.Element) -> None:
    from sphinx.util.math import get_node_equation_number

    latex = node.astext()
    nowrap = node.get("no-wrap", node.get("nowrap", False))
    parts = [latex] if nowrap else [p for p in latex.split("\n\n") if p.strip()]
    self.body.append(self.starttag(node, "div", CLASS="math-wrapper"))
    if node.get("number"):
        number = get_node_equation_number(self, node)
        self.body.append(f'<span class="eqno">({number})</span>')
    for part in parts:
        self.body.append(_mathml(self, node, part, block=True))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app: Sphinx) -> dict[str, object]:
    app.add_html_math_renderer(
        "mathml", inline_renderers=(visit_math, None), block_renderers=(visit_displaymath, None)
    )
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", verbatim_if_broken, priority=900)
    app.setup_extension("sphinx_click")
    for event in ("sphinx-click-process-description", "sphinx-click-process-epilog"):
        app.connect(event, click_text_verbatim_if_broken)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
