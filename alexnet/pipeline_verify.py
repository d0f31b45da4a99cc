"""The ``verify`` stage: the trained weights through both implementations, and the
reproduced error against the reported one.

Equivalence
    the verifier (:mod:`alexnet.verify`) takes the trained checkpoint as user weights:
    the port and the re-created 2012 engine run the same forward, backward and update
    step on the same inputs, every layer compared under the verifier's tolerance policy.
    Its full report (JSON, Markdown, HTML) lands in ``verify/``. A mismatch is a bug in
    the project, so it fails the stage (exit status 1) after writing the report.
Accuracy
    the evaluate stage's test error (the profile's first view count, which is how the
    reported figures were measured) against the profile's ``reported.top1_err``, within
    ``accuracy_tolerance`` (absolute, e.g. 0.02 = two points). Falling short is a finding
    about the reproduction, not a bug: it is recorded (``within_tolerance: false``) and the
    pipeline goes on to the report.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import click

from alexnet.errors import AlexNetError, ConfigError
from alexnet.pipeline_params import Profile, check_keys
from alexnet.pipeline_stages import write_json

VERIFY_KEYS = ("backend", "accuracy_tolerance", "equivalence")


class EquivalenceFailed(AlexNetError):
    """The two implementations disagree on the trained weights (a bug, not bad input)."""

    exit_code = 1


def _latest_checkpoint(run: Path) -> Path:
    from alexnet.modern import checkpoint as ck

    return ck.find_checkpoint(run / "checkpoints")


def run_equivalence(arch: str, weights: Path, out: Path, backend: str) -> dict[str, Any]:
    """The verifier on ``weights``; its reports go to ``out``; returns a short summary."""
    from alexnet.verify.report import Report, write_reports
    from alexnet.verify.runner import run_suite

    t0 = time.perf_counter()
    res = run_suite(arch, weights=weights, arch=arch, backend=backend, backend_name=backend)
    rep = Report(suites=[res], meta={"weights": str(weights), "stage": "dvc verify"})
    doc = rep.to_json()
    write_reports(out, doc)
    failed = [c for c in res.checks if not c.passed]
    return {"passed": res.passed, "checks": len(res.checks), "failed": len(failed),
            "first_failure": failed[0].to_json() if failed else None,
            "seconds": time.perf_counter() - t0, "report": str(out / "report.md")}


def verify_stage(profile: Profile, fetched: str | Path, run: str | Path, out: str | Path, *,
                 pipeline_dir: str | Path | None = None, echo=click.echo) -> dict[str, Any]:
    key = f"profiles.{profile.name}.verify"
    settings = dict(profile.verify)
    check_keys(settings, VERIFY_KEYS, profile.params_path, key)
    tol = settings.get("accuracy_tolerance", 0.02)
    if not isinstance(tol, int | float) or tol < 0:
        raise ConfigError("must be a number >= 0 (absolute error, 0.02 = two points)",
                          path=profile.params_path, key=key + ".accuracy_tolerance")
    run, out = Path(run), Path(out)
    pipeline_dir = Path(pipeline_dir) if pipeline_dir else out.parent
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    summary: dict[str, Any] = {"profile": profile.name}

    # -- equivalence
    if settings.get("equivalence", True):
        from alexnet.modern import checkpoint as ck

        ckpt = _latest_checkpoint(run)
        arch = ck.read_checkpoint(ckpt).arch
        try:
            eq = run_equivalence(arch, ckpt, out, str(settings.get("backend", "numpy")))
        except (ImportError, AttributeError) as exc:  # verifier not installed in this tree
            eq = {"passed": None, "skipped": f"the verifier is not available ({exc})"}
        summary["equivalence"] = eq
        if eq.get("passed") is not None:
            echo(f"equivalence ({arch}, trained weights): "
                 + ("passed" if eq["passed"] else "FAILED")
                 + f", {eq['checks']} checks, {eq['failed']} failed; {eq['report']}")
    # -- accuracy
    ev = json.loads((pipeline_dir / "metrics" / "evaluate.json").read_text(encoding="utf-8"))
    modern = ev.get("modern", {})
    first = next(iter(modern.values()), {})
    reported = profile.reported.get("top1_err")
    acc: dict[str, Any] = {"reproduced_top1_err": first.get("top1_err"),
                           "reported_top1_err": reported, "tolerance": tol,
                           "views": next(iter(modern), "")}
    if reported is not None and first.get("top1_err") is not None:
        acc["difference"] = first["top1_err"] - reported
        acc["within_tolerance"] = bool(first["top1_err"] <= reported + tol)
        echo(f"accuracy: top-1 error {100 * first['top1_err']:.2f}% against the reported "
             f"{100 * reported:.1f}% (tolerance {100 * tol:.1f} points): "
             + ("within" if acc["within_tolerance"] else "NOT within"))
    summary["accuracy"] = acc
    eq = summary.get("equivalence", {})
    summary["verdict"] = (
        "equivalent" if eq.get("passed") else
        "NOT equivalent" if eq.get("passed") is False else "equivalence not checked")
    summary["verdict"] += "; " + ("accuracy within tolerance of the reported figure"
                                  if acc.get("within_tolerance") else
                                  "accuracy short of the reported figure"
                                  if acc.get("within_tolerance") is False else
                                  "no reported figure to compare")
    write_json(out / "verify.json", summary)
    flat = {"verdict": summary["verdict"],
            "equivalence_passed": eq.get("passed"),
            "equivalence_checks": eq.get("checks"),
            "equivalence_failed": eq.get("failed"),
            "reproduced_top1_err": acc.get("reproduced_top1_err"),
            "reported_top1_err": acc.get("reported_top1_err"),
            "accuracy_within_tolerance": acc.get("within_tolerance")}
    write_json(pipeline_dir / "metrics" / "verify.json", flat)
    if eq.get("passed") is False:
        raise EquivalenceFailed(
            f"{run}: the port and the 2012 re-creation disagree on the trained weights "
            f"({eq['failed']} of {eq['checks']} checks failed); see {eq['report']}")
    return summary
