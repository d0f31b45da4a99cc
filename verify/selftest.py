"""``alexnet verify --self-test``: plant each known fault and check where it is caught.

For each suite the reference is computed once and the unfaulted port is compared first
(if that already fails, the self-test reports it: a planted fault could not be told
apart from a real one). Then each fault that applies to the suite is planted on the
port, the port is re-run, and the first failing check must be the fault's expected
layer and kind. A fault that passes unnoticed, or that is first noticed somewhere else,
fails the self-test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from alexnet.verify import policy
from alexnet.verify.compare import first_failure
from alexnet.verify.faults import FAULTS, Fault
from alexnet.verify.report import SuiteResult
from alexnet.verify.routing import analyse
from alexnet.verify.runner import compare_results, port_result, prepare, reference_result


def run_self_test(
    suites: Iterable[str],
    *,
    backend: Any = "numpy",
    backend_name: str = "numpy",
    faults: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[SuiteResult], list[dict[str, Any]]]:
    """(baseline suite results, one row per planted fault)."""
    chosen: list[Fault] = [FAULTS[f] for f in (faults or FAULTS)]
    baselines: list[SuiteResult] = []
    rows: list[dict[str, Any]] = []
    for name in suites:
        todo = [f for f in chosen if name in f.expect]
        if not todo:
            continue
        if progress:
            progress(f"self-test: preparing {name}")
        prep = prepare(name, backend=backend)
        base_port = port_result(prep)
        ref = reference_result(prep, port=base_port)
        base = compare_results(prep, ref, base_port)
        baselines.append(SuiteResult(name, prep.suite.arch, backend_name,
                                     prep.suite.description + " (unfaulted baseline)", base,
                                     dict(prep.info)))
        fwd = policy.count_terms(prep.graph.layers, prep.x.shape[0]).fwd
        for fault in todo:
            if progress:
                progress(f"self-test: {fault.name} on {name}")
            port = port_result(prep, fault)
            routes = analyse(prep.graph.layers, ref.acts, port.acts, fwd)
            # the reference is re-run only when the faulty port routes some near-tie
            # window differently from the unfaulted one (see alexnet.verify.routing)
            this_ref = ref if routes.key() == ref.routes.key() else reference_result(
                prep, port=port)
            checks = compare_results(prep, this_ref, port, routes)
            rows.append(_row(fault, name, checks))
    return baselines, rows


def _row(fault: Fault, suite: str, checks: list) -> dict[str, Any]:
    exp_layer, exp_kind = fault.expect[suite]
    first = first_failure(checks)
    failed = [c for c in checks if not c.passed]
    detected = None
    if first is not None:
        detected = {"layer": first.layer, "kind": first.kind, "tensor": first.tensor,
                    "max_rel": first.max_rel, "tolerance": first.tolerance}
    ok = first is not None and first.layer == exp_layer and first.kind == exp_kind
    return {"fault": fault.name, "description": fault.description, "suite": suite,
            "expected_layer": exp_layer, "expected_kind": exp_kind, "detected": detected,
            "failed_checks": len(failed), "passed": ok}
