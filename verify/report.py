"""The verifier's results and their four renderings: terminal table, JSON, Markdown, HTML.

The JSON document is the source: Markdown and HTML are rendered from it (never from
the live objects), so what the docs embed is exactly what the JSON says. Its shape is
``report.schema.json`` beside this module.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet.io import atomic_write_text
from alexnet.verify import policy
from alexnet.verify.compare import KIND_TEXT, KINDS, Check

#: columns of the compact terminal table (kinds that have one row per layer)
TABLE_KINDS = ("forward", "grad", "weight-grad", "velocity", "weights")
SHORT = {"forward": "forward", "grad": "grad", "weight-grad": "w-grad", "velocity": "velocity",
         "weights": "weights"}


@dataclass
class SuiteResult:
    name: str
    arch: str
    backend: str
    description: str
    checks: list[Check] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "arch": self.arch, "backend": self.backend,
                "description": self.description, "passed": self.passed,
                "checks": [c.to_json() for c in self.checks], "info": self.info}


@dataclass
class Report:
    suites: list[SuiteResult] = field(default_factory=list)
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    self_test: list[dict[str, Any]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        ok = all(s.passed for s in self.suites) and all(a["passed"] for a in self.accuracy)
        if self.self_test is not None:
            ok = ok and all(t["passed"] for t in self.self_test)
        return ok and bool(self.suites or self.accuracy or self.self_test)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "suites": [s.to_json() for s in self.suites],
            "accuracy": self.accuracy,
            "policy": policy.describe(),
            "meta": self.meta,
        }
        if self.self_test is not None:
            out["self_test"] = self.self_test
        return out


# --------------------------------------------------------------------------------------
# Writing files atomically


# Reports are meant to be read and shared: 0644, not the private 0600 of a temp file.
REPORT_MODE = 0o644


def write_json(path: str | Path, doc: dict[str, Any]) -> Path:
    p = Path(path)
    atomic_write_text(p, json.dumps(doc, indent=1, allow_nan=False) + "\n", mode=REPORT_MODE)
    return p


def write_reports(folder: str | Path, doc: dict[str, Any]) -> list[Path]:
    """report.json, report.md and report.html in ``folder``."""
    d = Path(folder)
    paths = [write_json(d / "report.json", doc)]
    atomic_write_text(d / "report.md", render_markdown(doc), mode=REPORT_MODE)
    paths.append(d / "report.md")
    atomic_write_text(d / "report.html", render_html(doc), mode=REPORT_MODE)
    paths.append(d / "report.html")
    return paths


# --------------------------------------------------------------------------------------
# Number formatting


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return "inf"
    return f"{x:.{digits}e}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _layer_order(checks: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    grads = [c["layer"] for c in checks if c["kind"] == "grad"]
    if grads and grads[0] not in {c["layer"] for c in checks if c["kind"] == "forward"}:
        seen[grads[0]] = None  # the input layer (gradient only) goes first
    for c in checks:
        if c["kind"] in TABLE_KINDS:
            seen.setdefault(c["layer"], None)
    return list(seen)


def _worst(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None

    def key(c: dict[str, Any]) -> tuple[int, float]:
        ratio = math.inf if c.get("max_rel") is None else (
            c["max_rel"] / c["tolerance"] if c["tolerance"] > 0 else
            (0.0 if c["max_rel"] == 0 else math.inf))
        return (0 if c["passed"] else 1, ratio)

    return max(rows, key=key)


def suite_summary(s: dict[str, Any]) -> str:
    checks = s["checks"]
    failed = [c for c in checks if not c["passed"]]
    worst = _worst(checks)
    text = f"{s['name']}: {len(checks)} checks, {len(checks) - len(failed)} passed"
    if failed:
        f = failed[0]
        where = f["layer"] + (f".{f['tensor']}" if f.get("tensor") else "")
        text += f", {len(failed)} FAILED (first: {f['kind']} at {where}"
        text += f", max_rel {fmt(f.get('max_rel'))} > tol {fmt(f['tolerance'])})"
    elif worst is not None and worst["tolerance"] > 0 and worst.get("max_rel") is not None:
        where = worst["layer"] + (f".{worst['tensor']}" if worst.get("tensor") else "")
        text += (f"; worst {fmt(worst['max_rel'])} = {worst['max_rel'] / worst['tolerance']:.2f}"
                 f" of tolerance ({worst['kind']} at {where})")
    return text


# --------------------------------------------------------------------------------------
# Terminal


def render_terminal(doc: dict[str, Any], *, verbose: bool = False) -> str:
    lines: list[str] = []
    for s in doc["suites"]:
        lines.append("")
        lines.append(f"== {s['name']} ({s['arch']}, backend {s['backend']}) ==")
        lines.append(s["description"])
        if verbose:
            lines.extend(_terminal_rows(s["checks"]))
        else:
            lines.extend(_terminal_compact(s["checks"]))
        lines.append(("PASS  " if s["passed"] else "FAIL  ") + suite_summary(s))
    if doc.get("accuracy"):
        lines.append("")
        lines.append("== reported vs reproduced accuracy ==")
        lines.extend(_terminal_accuracy(doc["accuracy"]))
    if doc.get("self_test") is not None:
        lines.append("")
        lines.append("== self-test: planted faults ==")
        for t in doc["self_test"]:
            mark = "caught" if t["passed"] else "MISSED"
            got = t.get("detected") or {}
            where = (f"{got.get('kind')} at {got.get('layer')}" if got else "nothing failed")
            lines.append(f"  {mark:7s} {t['fault']:22s} on {t['suite']:14s} expected "
                         f"{t['expected_kind']} at {t['expected_layer']:12s} got {where}")
    lines.append("")
    n_checks = sum(len(s["checks"]) for s in doc["suites"])
    n_fail = sum(1 for s in doc["suites"] for c in s["checks"] if not c["passed"])
    verdict = "PASSED" if doc["passed"] else "FAILED"
    extra = ""
    if doc.get("accuracy"):
        bad = sum(1 for a in doc["accuracy"] if not a["passed"])
        extra += f", {len(doc['accuracy'])} accuracy rows ({bad} failed)"
    if doc.get("self_test") is not None:
        missed = sum(1 for t in doc["self_test"] if not t["passed"])
        extra += f", {len(doc['self_test'])} planted faults ({missed} missed)"
    secs = doc.get("meta", {}).get("seconds")
    timing = f" in {secs:.1f} s" if isinstance(secs, int | float) else ""
    lines.append(f"verify {verdict}: {len(doc['suites'])} suites, {n_checks} checks "
                 f"({n_fail} failed){extra}{timing}")
    return "\n".join(lines)


def _terminal_compact(checks: list[dict[str, Any]]) -> list[str]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in checks:
        by.setdefault((c["layer"], c["kind"]), []).append(c)
    w = max([len(n) for n in _layer_order(checks)] + [5])
    head = f"  {'layer':{w}s}" + "".join(f" {SHORT[k]:>14s}" for k in TABLE_KINDS)
    out = [head, "  " + "-" * (len(head) - 2)]
    for layer in _layer_order(checks):
        cells = []
        for k in TABLE_KINDS:
            worst = _worst(by.get((layer, k), []))
            if worst is None:
                cells.append(f" {'':>14s}")
                continue
            mark = "ok" if all(c["passed"] for c in by[(layer, k)]) else "FAIL"
            cells.append(f" {fmt(worst.get('max_rel')):>9s} {mark:>4s}")
        out.append(f"  {layer:{w}s}" + "".join(cells))
    for c in checks:
        if c["kind"] in TABLE_KINDS:
            continue
        mark = "ok" if c["passed"] else "FAIL"
        detail = c.get("note") or f"max_rel {fmt(c.get('max_rel'))} (tol {fmt(c['tolerance'])})"
        out.append(f"  {c['kind']:12s} {c['layer']:{max(w - 11, 1)}s} {mark:4s} {detail}")
    out.append("  (cells: worst max|port-ref| / max|ref| over the layer's tensors; tolerance "
               "per tensor in --verbose and the reports)")
    return out


def _terminal_rows(checks: list[dict[str, Any]]) -> list[str]:
    w = max([len(c["layer"] + (("." + c["tensor"]) if c.get("tensor") else ""))
             for c in checks] + [5])
    out = [f"  {'layer':{w}s} {'check':11s} {'max_abs':>9s} {'max_rel':>9s} {'tol':>9s} result",
           "  " + "-" * (w + 50)]
    for c in checks:
        name = c["layer"] + (("." + c["tensor"]) if c.get("tensor") else "")
        res = "ok" if c["passed"] else "FAIL"
        note = f"  ({c['note']})" if c.get("note") else ""
        if c.get("masked"):
            note += f"  [{c['masked']} tied positions skipped]"
        out.append(f"  {name:{w}s} {c['kind']:11s} {fmt(c.get('max_abs')):>9s} "
                   f"{fmt(c.get('max_rel')):>9s} {fmt(c['tolerance']):>9s} {res}{note}")
    return out


def _terminal_accuracy(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for a in rows:
        mark = "ok" if a["passed"] else "FAIL"
        if a["kind"] == "reported-vs-reproduced":
            lo, hi = a["band"]
            out.append(f"  {mark:4s} {a['profile']:14s} {a['implementation']:26s} "
                       f"{a['metric']}: reported {_pct(a['reported'])}, reproduced "
                       f"{_pct(a['reproduced'])} (band {_pct(lo)}..{_pct(hi)})")
        elif a["kind"] == "agreement":
            out.append(f"  {mark:4s} {a['profile']:14s} {'port vs re-creation':26s} "
                       f"top-1 agreement {_pct(a['agreement'])} "
                       f"(min {_pct(a['min_agreement'])}), error difference "
                       f"{_pct(a['error_diff'])} (max {_pct(a['max_error_diff'])})")
        else:
            out.append(f"  {mark:4s} {a['profile']:14s} {a.get('message', '')}")
        if a.get("reason"):
            out.append(f"         why the band: {a['reason']}")
    return out


# --------------------------------------------------------------------------------------
# Markdown


def render_markdown(doc: dict[str, Any]) -> str:
    verdict = "PASSED" if doc["passed"] else "FAILED"
    meta = doc.get("meta", {})
    lines = [f"# Equivalence report: {verdict}", ""]
    if meta:
        lines.append("| | |")
        lines.append("|---|---|")
        for k in ("created", "command", "alexnet", "torch", "numpy", "host", "seconds"):
            if k in meta:
                lines.append(f"| {k} | `{meta[k]}` |")
        lines.append("")
    pol = doc["policy"]
    lines += [
        "## Tolerance policy", "",
        f"- error: {pol['measure']}",
        f"- tolerance: {pol['tolerance']} with U = 2^-24 and SAFETY = {pol['SAFETY']:g}",
        f"- terms: {pol['terms']}",
        f"- {pol['precision']}",
    ]
    lines += [f"- masked: {m}" for m in pol["masks"]]
    lines += ["", "Kinds of check:", ""]
    lines += [f"- `{k}`: {KIND_TEXT[k]}" for k in KINDS]
    lines.append("")
    for s in doc["suites"]:
        lines += [f"## Suite `{s['name']}`: {'passed' if s['passed'] else 'FAILED'}", "",
                  s["description"], ""]
        info = s.get("info", {})
        if info:
            lines += ["| | |", "|---|---|"]
            for k, v in info.items():
                lines.append(f"| {k} | {_md_value(v)} |")
            lines.append("")
        lines.append(suite_summary(s))
        lines.append("")
        lines.append("| layer | tensor | check | max abs | max rel | tolerance | result |")
        lines.append("|---|---|---|---:|---:|---:|---|")
        for c in s["checks"]:
            res = "ok" if c["passed"] else "**FAIL**"
            note = f" ({c['note']})" if c.get("note") else ""
            if c.get("masked"):
                note += f" ({c['masked']} tied positions skipped)"
            lines.append(f"| {c['layer']} | {c.get('tensor') or ''} | {c['kind']} | "
                         f"{fmt(c.get('max_abs'), 2)} | {fmt(c.get('max_rel'), 2)} | "
                         f"{fmt(c['tolerance'], 2)} | {res}{note} |")
        lines.append("")
    if doc.get("accuracy"):
        lines += ["## Reported vs reproduced accuracy", "",
                  "| profile | implementation | metric | reported | reproduced | band | result | "
                  "why the band |", "|---|---|---|---:|---:|---|---|---|"]
        for a in doc["accuracy"]:
            res = "ok" if a["passed"] else "**FAIL**"
            if a["kind"] == "reported-vs-reproduced":
                lo, hi = a["band"]
                lines.append(f"| {a['profile']} | {a['implementation']} | {a['metric']} | "
                             f"{_pct(a['reported'])} | {_pct(a['reproduced'])} | "
                             f"{_pct(lo)}..{_pct(hi)} | {res} | {a.get('reason', '')} |")
            elif a["kind"] == "agreement":
                lines.append(f"| {a['profile']} | port vs re-creation | top-1 agreement | | "
                             f"{_pct(a['agreement'])} | >= {_pct(a['min_agreement'])} | {res} | "
                             f"error difference {_pct(a['error_diff'])} |")
            else:
                lines.append(f"| {a['profile']} | | | | | | {res} | {a.get('message', '')} |")
        lines.append("")
    if doc.get("self_test") is not None:
        lines += ["## Self-test: planted faults", "",
                  "| fault | suite | expected | detected | result |", "|---|---|---|---|---|"]
        for t in doc["self_test"]:
            got = t.get("detected") or {}
            where = f"{got.get('kind')} at {got.get('layer')}" if got else "nothing failed"
            lines.append(f"| {t['fault']}: {t['description']} | {t['suite']} | "
                         f"{t['expected_kind']} at {t['expected_layer']} | {where} | "
                         f"{'caught' if t['passed'] else '**MISSED**'} |")
        lines.append("")
    return "\n".join(lines)


def _md_value(v: Any) -> str:
    if isinstance(v, dict | list):
        return "`" + json.dumps(v, separators=(", ", ": ")) + "`"
    return str(v)


# --------------------------------------------------------------------------------------
# HTML


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
th { background: #f0f0f0; } td.num { text-align: right; font-family: monospace; }
tr.fail td { background: #fdd; } .pass { color: #060; } .fail { color: #a00; }
code { background: #f6f6f6; padding: 0 0.2em; }
"""


def render_html(doc: dict[str, Any]) -> str:
    e = html.escape
    verdict = "PASSED" if doc["passed"] else "FAILED"
    cls = "pass" if doc["passed"] else "fail"
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>Equivalence report: {verdict}</title><style>{_CSS}</style></head><body>",
             f"<h1>Equivalence report: <span class=\"{cls}\">{verdict}</span></h1>"]
    meta = doc.get("meta", {})
    if meta:
        parts.append("<table>")
        for k in ("created", "command", "alexnet", "torch", "numpy", "host", "seconds"):
            if k in meta:
                parts.append(f"<tr><th>{e(k)}</th><td><code>{e(str(meta[k]))}</code></td></tr>")
        parts.append("</table>")
    pol = doc["policy"]
    parts.append("<h2>Tolerance policy</h2><ul>")
    parts.append(f"<li>error: <code>{e(pol['measure'])}</code></li>")
    parts.append(f"<li>tolerance: <code>{e(pol['tolerance'])}</code>, U = 2<sup>-24</sup>, "
                 f"SAFETY = {pol['SAFETY']:g}</li>")
    parts.append(f"<li>terms: {e(pol['terms'])}</li><li>{e(pol['precision'])}</li>")
    parts += [f"<li>masked: {e(m)}</li>" for m in pol["masks"]]
    parts.append("</ul>")
    for s in doc["suites"]:
        c2 = "pass" if s["passed"] else "fail"
        parts.append(f"<h2>Suite <code>{e(s['name'])}</code>: <span class=\"{c2}\">"
                     f"{'passed' if s['passed'] else 'FAILED'}</span></h2>")
        parts.append(f"<p>{e(s['description'])}</p><p>{e(suite_summary(s))}</p>")
        if s.get("info"):
            parts.append("<table>")
            for k, v in s["info"].items():
                parts.append(f"<tr><th>{e(k)}</th><td>{e(_md_value(v))}</td></tr>")
            parts.append("</table>")
        parts.append("<table><tr><th>layer</th><th>tensor</th><th>check</th><th>max abs</th>"
                     "<th>max rel</th><th>tolerance</th><th>result</th></tr>")
        for c in s["checks"]:
            row = "" if c["passed"] else " class=\"fail\""
            note = f" ({e(c['note'])})" if c.get("note") else ""
            if c.get("masked"):
                note += f" ({c['masked']} tied positions skipped)"
            parts.append(
                f"<tr{row}><td>{e(c['layer'])}</td><td>{e(c.get('tensor') or '')}</td>"
                f"<td>{e(c['kind'])}</td><td class=\"num\">{fmt(c.get('max_abs'), 2)}</td>"
                f"<td class=\"num\">{fmt(c.get('max_rel'), 2)}</td>"
                f"<td class=\"num\">{fmt(c['tolerance'], 2)}</td>"
                f"<td>{'ok' if c['passed'] else 'FAIL'}{note}</td></tr>")
        parts.append("</table>")
    if doc.get("accuracy"):
        parts.append("<h2>Reported vs reproduced accuracy</h2><table><tr><th>profile</th>"
                     "<th>implementation</th><th>metric</th><th>reported</th><th>reproduced</th>"
                     "<th>band</th><th>result</th><th>why the band</th></tr>")
        for a in doc["accuracy"]:
            row = "" if a["passed"] else " class=\"fail\""
            res = "ok" if a["passed"] else "FAIL"
            if a["kind"] == "reported-vs-reproduced":
                lo, hi = a["band"]
                parts.append(f"<tr{row}><td>{e(a['profile'])}</td><td>{e(a['implementation'])}"
                             f"</td><td>{e(a['metric'])}</td><td class=\"num\">"
                             f"{_pct(a['reported'])}</td><td class=\"num\">"
                             f"{_pct(a['reproduced'])}</td><td>{_pct(lo)}..{_pct(hi)}</td>"
                             f"<td>{res}</td><td>{e(a.get('reason', ''))}</td></tr>")
            elif a["kind"] == "agreement":
                parts.append(f"<tr{row}><td>{e(a['profile'])}</td><td>port vs re-creation</td>"
                             f"<td>top-1 agreement</td><td></td><td class=\"num\">"
                             f"{_pct(a['agreement'])}</td><td>&ge; {_pct(a['min_agreement'])}"
                             f"</td><td>{res}</td><td>error difference "
                             f"{_pct(a['error_diff'])}</td></tr>")
            else:
                parts.append(f"<tr{row}><td>{e(a['profile'])}</td><td colspan=\"5\"></td>"
                             f"<td>{res}</td><td>{e(a.get('message', ''))}</td></tr>")
        parts.append("</table>")
    if doc.get("self_test") is not None:
        parts.append("<h2>Self-test: planted faults</h2><table><tr><th>fault</th><th>suite</th>"
                     "<th>expected</th><th>detected</th><th>result</th></tr>")
        for t in doc["self_test"]:
            got = t.get("detected") or {}
            where = f"{got.get('kind')} at {got.get('layer')}" if got else "nothing failed"
            row = "" if t["passed"] else " class=\"fail\""
            parts.append(f"<tr{row}><td>{e(t['fault'])}: {e(t['description'])}</td>"
                         f"<td>{e(t['suite'])}</td><td>{e(t['expected_kind'])} at "
                         f"{e(t['expected_layer'])}</td><td>{e(where)}</td>"
                         f"<td>{'caught' if t['passed'] else 'MISSED'}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
