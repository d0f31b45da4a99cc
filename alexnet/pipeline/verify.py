"""The ``verify`` stage: the trained weights through both implementations, and the
reproduced error against the reported one.

Equivalence
    the verifier (:mod:`alexnet.verify`) takes the trained checkpoint as user weights:
    the port and the re-created 2012 engine run the same forward, backward and update
    step on the same inputs, every layer compared under the verifier's tolerance policy.
    Its full report (JSON, Markdown, HTML) lands in ``verify/``. A mismatch is a bug in
    the project, so it fails the stage (exit status 1) after writing the report.
Accuracy
    the run's final test error judged by the verifier against the reported figures of
    the registry (:data:`alexnet.registry.ARCHS`: the figure, its source, and a band
    around it with the reason for its width). Falling outside the band is a finding about the
    reproduction, not a bug: it is recorded (``accuracy_within_band: false``) and the
    pipeline goes on to the report. A net the table does not know is recorded without a
    verdict.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import click
import torch

from alexnet import registry
from alexnet.errors import AlexNetError, ConfigError
from alexnet.modern import checkpoint as ck
from alexnet.modern.build import build_model
from alexnet.pipeline.jsonfiles import read_json, write_json
from alexnet.pipeline.params import Profile, check_keys
from alexnet.verify.accuracy import REPORTED, metrics_rows
from alexnet.verify.report import Report, write_reports
from alexnet.verify.runner import run_suite

VERIFY_KEYS = ("backend", "equivalence")


class EquivalenceFailed(AlexNetError):
    """The two implementations disagree on the trained weights (a bug, not bad input)."""

    exit_code = 1


def _latest_checkpoint(run: Path) -> Path:

    return ck.find_checkpoint(run / "checkpoints")


def run_equivalence(arch: str, weights: Path, out: Path, backend: str) -> dict[str, Any]:
    """The verifier on ``weights``; its reports go to ``out``; returns a short summary."""

    t0 = time.perf_counter()
    res = run_suite(arch, weights=weights, arch=arch, backend=backend, backend_name=backend)
    rep = Report(suites=[res], meta={"weights": str(weights), "stage": "dvc verify"})
    doc = rep.to_json()
    write_reports(out, doc)
    failed = [c for c in res.checks if not c.passed]
    return {"passed": res.passed, "checks": len(res.checks), "failed": len(failed),
            "first_failure": failed[0].to_json() if failed else None,
            "seconds": time.perf_counter() - t0, "report": str(out / "report.md")}


def reference_mismatch(ckpt: Path) -> str | None:
    """Why the 2012 engine has no definition of these weights, or None.

    The engine runs the architecture's bundled cfg pair, which fixes every layer's size
    (the BVLC nets: 4096-wide fc6/fc7, 1000 classes). Weights of the same layers with
    other sizes (a fine-tuned caffemodel, the small nets of the tests) cannot be loaded
    into it; that is a limit of the definition, not a disagreement between the two
    implementations, so it is recorded as not checked, naming the first tensor that
    differs, rather than failed."""
    c = ck.read_checkpoint(ckpt)
    if c.arch not in registry.ARCHS or registry.ARCHS[c.arch].reference_net is None:
        return None          # the verifier itself says why it cannot run
    with torch.device("meta"):   # shapes only, no memory
        ref = build_model(c.arch, init=False).state_dict()
    own = c.group("model")
    for key, want in ref.items():          # in layer order, so the first layer is named
        tensor = own.get(key)
        if tensor is not None and tuple(want.shape) != tuple(tensor.shape):
            return (f"{key} is {tuple(tensor.shape)} in these weights, "
                    f"{tuple(want.shape)} in {c.arch}'s bundled 2012 definition "
                    f"(layers-{registry.ARCHS[c.arch].reference_net}.cfg)")
    return None


def _whose(run: Path) -> str:
    metrics = read_json(run / "metrics.json")
    return "imported" if isinstance(metrics, dict) and metrics.get("imported") else "trained"


def accuracy_verdict(run: Path) -> dict[str, Any]:
    """The verifier's reported-vs-reproduced rows for the run's final test error."""

    metrics = run / "metrics.json"
    arch = json.loads(metrics.read_text(encoding="utf-8")).get("config", {}).get("arch")
    if arch not in REPORTED:
        return {"rows": [], "within_band": None,
                "note": f"the verifier has no reported figure for {arch!r}"}
    rows = metrics_rows(metrics)
    return {"rows": rows, "within_band": all(r["passed"] for r in rows) if rows else None}


def verify_stage(profile: Profile, run: str | Path, out: str | Path, *,
                 pipeline_dir: str | Path | None = None, echo=click.echo) -> dict[str, Any]:

    key = f"profiles.{profile.name}.verify"
    settings = dict(profile.verify)
    check_keys(settings, VERIFY_KEYS, profile.params_path, key)
    requested = str(settings.get("backend", "numpy"))
    if requested not in registry.backend_names():
        raise ConfigError(f"must be one of {', '.join(registry.backend_names())}",
                          path=profile.params_path, key=key + ".backend")
    backend = registry.backend(requested).name
    run, out = Path(run), Path(out)
    pipeline_dir = Path(pipeline_dir) if pipeline_dir else out.parent
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    summary: dict[str, Any] = {"profile": profile.name}

    eq: dict[str, Any] = {"passed": None, "skipped": "turned off (verify.equivalence: false)"}
    if settings.get("equivalence", True):
        ckpt = _latest_checkpoint(run)
        arch = ck.read_checkpoint(ckpt).arch
        why = reference_mismatch(ckpt)
        if why is not None:
            eq = {"passed": None, "skipped": why}
            echo(f"equivalence ({arch}): not checked, {why}")
        else:
            eq = run_equivalence(arch, ckpt, out, backend)
            echo(f"equivalence ({arch}, {_whose(run)} weights, {backend} engine): "
                 + ("passed" if eq["passed"] else "FAILED")
                 + f", {eq['checks']} checks, {eq['failed']} failed; {eq['report']}")
    summary["equivalence"] = eq

    acc = accuracy_verdict(run)
    for r in acc["rows"]:
        echo(f"accuracy: {r['metric']} {100 * r['reproduced']:.2f}% against the reported "
             f"{100 * r['reported']:.1f}% (band {100 * r['band'][0]:.0f}-"
             f"{100 * r['band'][1]:.0f}%): " + ("within" if r["passed"] else "OUTSIDE"))
    summary["accuracy"] = acc
    parts = ["equivalent" if eq.get("passed") else "NOT equivalent"
             if eq.get("passed") is False else "equivalence not checked",
             "accuracy within the band around the reported figure"
             if acc["within_band"] else "accuracy outside the band around the reported figure"
             if acc["within_band"] is False else "no reported figure to judge against"]
    summary["verdict"] = "; ".join(parts)
    write_json(out / "verify.json", summary)
    top1 = next((r for r in acc["rows"] if r["metric"] == "top1_err"), {})
    flat = {"verdict": summary["verdict"],
            "equivalence_passed": eq.get("passed"),
            "equivalence_checks": eq.get("checks"),
            "equivalence_failed": eq.get("failed"),
            "reproduced_top1_err": top1.get("reproduced"),
            "reported_top1_err": top1.get("reported"),
            "accuracy_within_band": acc["within_band"]}
    write_json(pipeline_dir / "metrics" / "verify.json", flat)
    if eq.get("passed") is False:
        raise EquivalenceFailed(
            f"{run}: the port and the 2012 re-creation disagree on the trained weights "
            f"({eq['failed']} of {eq['checks']} checks failed); see {eq['report']}")
    return summary
