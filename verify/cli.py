"""``alexnet verify``: the equivalence verifier's command (thin; see :mod:`.api`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from alexnet.verify.backends import NAMES as BACKEND_NAMES
from alexnet.verify.suites import DEFAULT_SUITES, SUITES

DEFAULT_REPORT_DIR = Path("runs") / "verify"


@click.command()
@click.argument("suites", nargs=-1, type=click.Choice(sorted(SUITES)))
@click.option("--arch", help="Verify this port architecture (e.g. alexnet2012-cfg, "
              "cifar10-19pct) against the 2012 engine running its cfg.")
@click.option("--weights", type=click.Path(), help="Weights to verify with: a 2012 checkpoint "
              "(file or run folder; needs --arch) or a modern checkpoint / safetensors file.")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="numpy", show_default=True,
              help="Where the 2012 re-creation computes (alexnet.registry.BACKENDS): numpy "
              "reference, the cuda/ kernels under CPU device emulation (emulated; alias "
              "cuda-convnet), or on a GPU (cuda).")
@click.option("--fallback", is_flag=True, help="If --backend cannot run here, run numpy "
              "instead (the report says so) rather than stopping with exit status 2.")
@click.option("--self-test", "self_test", is_flag=True, help="Plant known faults in the port "
              "one at a time and check that each is caught at the right layer.")
@click.option("--accuracy", is_flag=True, help="Also compare reproduced test error with the "
              "reported figures and the two implementations with each other on the test set.")
@click.option("--data", type=click.Path(), help="Test data for --accuracy (default: the shared "
              "CIFAR-10 copy, when present).")
@click.option("--limit", type=click.IntRange(min=1), help="--accuracy on N evenly spaced test "
              "images only (a quick look; the bands assume the whole test set).")
@click.option("--metrics", type=click.Path(), help="A metrics JSON of the pipeline (alexnet "
              "evaluate --json) to compare with the reported figures.")
@click.option("--json", "json_path", type=click.Path(), help="Write the machine-readable "
              "report here (schema: report.schema.json in the alexnet.verify package).")
@click.option("--report", "report_dir", type=click.Path(), help="Write report.json, report.md "
              f"and report.html into this folder [default: {DEFAULT_REPORT_DIR}/].")
@click.option("--no-report", is_flag=True, help="Write no report files.")
@click.option("-v", "--verbose", is_flag=True, help="One terminal row per layer and check "
              "(max abs, max rel, tolerance).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
def verify(suites: tuple[str, ...], arch: str | None, weights: str | None, backend: str,
           fallback: bool, self_test: bool, accuracy: bool, data: str | None,
           limit: int | None, metrics: str | None, json_path: str | None, report_dir: str | None,
           no_report: bool, verbose: bool, quiet: bool) -> None:
    """Check that the 2012 re-creation and the modern port compute the same network.

    With no arguments, runs the bundled suites offline: AlexNet2012 on generated inputs
    and the CIFAR-10 80sec and 18pct nets with bundled trained weights, comparing every
    layer's output, every gradient and the weights after one 2012 update.
    Exit status: 0 all passed, 1 a mismatch, 2 a usage or input error.
    """
    from alexnet.verify.api import verify as run
    from alexnet.verify.report import render_terminal, write_json, write_reports

    def progress(msg: str) -> None:
        if not quiet:
            click.echo(f"[verify] {msg}", err=True)

    if not quiet:
        what = ", ".join(suites) if suites else (arch or "the bundled suites: "
                                                 + ", ".join(DEFAULT_SUITES))
        progress(f"{'self-test on ' if self_test else ''}{what}; backend {backend}")
    report = run(suites=list(suites) or None, arch=arch, weights=weights, backend=backend,
                 fallback=fallback, accuracy=accuracy, data=data, metrics=metrics,
                 self_test=self_test, limit=limit, progress=progress)
    doc = report.to_json()
    if doc["meta"].get("backend_note"):
        click.echo(f"note: {doc['meta']['backend_note']}", err=True)
    click.echo(render_terminal(doc, verbose=verbose))
    if json_path:
        write_json(json_path, doc)
        click.echo(f"JSON report: {json_path}")
    if not no_report:
        out = Path(report_dir) if report_dir else DEFAULT_REPORT_DIR
        paths = write_reports(out, doc)
        click.echo(f"reports: {', '.join(str(p) for p in paths)}")
    sys.exit(0 if doc["passed"] else 1)
