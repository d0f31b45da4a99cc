"""The verifier report embedded in the Verify guide, and other bundled run records.

The verifier writes a machine-readable JSON report; the bundled run that ships with
the project lives in ``verify/bundled/``. This module renders whatever report JSON it
finds there as tables (one per comparison), without assuming more structure than
"a mapping, possibly holding lists of flat records". It never fabricates a result: no
report, no table, just a note.
"""

from __future__ import annotations

import json
from typing import Any

from docsgen_common import ROOT, Output, code, fence, md_escape, md_table, not_available

BUNDLED = ROOT / "verify" / "bundled"


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, list | tuple) and all(isinstance(x, int | float) for x in v):
        return "\u00d7".join(str(x) for x in v)
    if isinstance(v, dict | list):
        return md_escape(json.dumps(v)[:80])
    return md_escape(v)


def render_report(report: dict[str, Any], name: str) -> str:
    out = [f"Report {code(name)}:\n"]
    scalars = [(k, v) for k, v in report.items() if not isinstance(v, dict | list)]
    if scalars:
        out.append(md_table(["field", "value"], [[f"`{k}`", _cell(v)] for k, v in scalars]))
    for key, value in report.items():
        records = value if isinstance(value, list) else None
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            records = [{"name": k, **v} for k, v in value.items()]
        if records and all(isinstance(r, dict) for r in records):
            cols: list[str] = []
            for r in records:
                cols += [k for k, v in r.items() if k not in cols and not isinstance(v, dict)]
            rows = [[_cell(r.get(c, "")) for c in cols] for r in records]
            out.append(f"\n**{md_escape(key)}**\n\n" + md_table([f"`{c}`" for c in cols], rows))
    return "\n".join(out) + "\n"


def generate(out: Output) -> None:
    reports = sorted(BUNDLED.glob("*report*.json")) if BUNDLED.is_dir() else []
    if not reports:
        out.write_text(
            "fragments/verify-report.md",
            not_available(
                "the bundled verifier report.",
                "It is rendered from `verify/bundled/*report*.json`, which this checkout "
                "does not have yet. Run the verifier (below) to produce your own.",
            ),
        )
        return
    parts = []
    for path in reports:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(report, dict):
            parts.append(render_report(report, path.name))
        else:
            parts.append(fence(json.dumps(report, indent=2)[:4000], "json"))
        text_report = path.with_suffix(".txt")
        if text_report.is_file():
            parts.append(fence(text_report.read_text(encoding="utf-8"), "text"))
    out.write_text("fragments/verify-report.md", "\n".join(parts))
