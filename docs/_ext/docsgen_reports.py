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

from docsgen_common import (
    ROOT,
    Output,
    code,
    fence,
    fmt_int,
    md_escape,
    md_table,
    not_available,
)

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


KIND_ORDER = ["forward", "grad", "weight-grad", "velocity", "weights"]


def _sci(x: Any) -> str:
    return f"{float(x):.1e}" if isinstance(x, int | float) else ""


def render_verifier_report(report: dict[str, Any], name: str) -> str:
    """The equivalence verifier's report (``alexnet verify --report``), condensed.

    Per suite, one row per layer with the worst relative error of each kind of check
    and its fraction of the tolerance, as the verifier's terminal summary shows it; the
    full per-tensor table stays in the report files themselves.
    """
    suites = report.get("suites") or []
    checks = [c for s in suites for c in s.get("checks") or []]
    failed = [c for c in checks if not c.get("passed", True)]
    verdict = "PASSED" if report.get("passed") else "FAILED"
    out = [f"**{verdict}**: {len(suites)} suites, {fmt_int(len(checks))} checks, "
           f"{len(failed)} failed (from {code(name)}).\n"]
    meta = report.get("meta") or {}
    if meta:
        out.append(md_table(["run", ""], [[k, code(v)] for k, v in meta.items()]))
    policy = report.get("policy") or {}
    if policy:
        items = [f"- error measure: {code(policy.get('measure', ''))}",
                 f"- tolerance: {code(policy.get('tolerance', ''))} with U = "
                 f"{policy.get('U', 0):.3g} and SAFETY = {policy.get('SAFETY', '')}"]
        if policy.get("terms"):
            items.append(f"- terms: {md_escape(policy['terms'])}")
        if policy.get("precision"):
            items.append(f"- {md_escape(policy['precision'])}")
        items += [f"- masked: {md_escape(m)}" for m in policy.get("masks") or []]
        out.append("\nThe policy the run applied:\n\n" + "\n".join(items) + "\n")
    for suite in suites:
        status = "passed" if suite.get("passed") else "**FAILED**"
        out.append(f"\n### Suite {code(suite.get('name', '?'))}: {status}\n")
        if suite.get("description"):
            out.append(md_escape(suite["description"]) + "\n")
        layers: dict[str, dict[str, Any]] = {}
        others = []
        for c in suite.get("checks") or []:
            kind = c.get("kind", "")
            if kind in KIND_ORDER:
                cell = layers.setdefault(c.get("layer", "?"), {})
                ratio = (c.get("max_rel", 0) / c["tolerance"]) if c.get("tolerance") else 0.0
                prev = cell.get(kind)
                if prev is None or ratio > prev[1] or not c.get("passed", True):
                    cell[kind] = (c.get("max_rel", 0.0), ratio, c.get("passed", True))
            else:
                others.append(c)
        rows = []
        for layer, cells in layers.items():
            row = [code(layer)]
            for kind in KIND_ORDER:
                if kind in cells:
                    rel, ratio, ok = cells[kind]
                    row.append(f"{_sci(rel)} ({ratio:.2f})" + ("" if ok else " **fail**"))
                else:
                    row.append("")
            rows.append(row)
        if rows:
            out.append("Worst relative error per layer and kind of check, with its fraction "
                       "of the tolerance in brackets:\n\n"
                       + md_table(["layer", *KIND_ORDER], rows, align="lrrrrr"))
        for c in others:
            result = "ok" if c.get("passed", True) else "**failed**"
            detail = c.get("note") or f"max_rel {_sci(c.get('max_rel'))}"
            out.append(f"- {code(c.get('kind', ''))} ({code(c.get('layer', ''))}): "
                       f"{result}, {md_escape(detail)}")
        out.append("")
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
        if isinstance(report, dict) and "suites" in report and "policy" in report:
            parts.append(render_verifier_report(report, path.name))
        elif isinstance(report, dict):
            parts.append(render_report(report, path.name))
        else:
            parts.append(fence(json.dumps(report, indent=2)[:4000], "json"))
    out.write_text("fragments/verify-report.md", "\n".join(parts))
