"""The pass path: the bundled suites agree layer by layer, and the CLI says so.

Tolerances are the verifier's own policy (alexnet.verify.policy: SAFETY * 2^-24 *
sqrt(terms), relative to each tensor's largest reference magnitude); these tests check
that the policy is met with room to spare and that every layer was actually compared.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.verify import schema
from alexnet.verify.runner import run_suite


@pytest.fixture(scope="module")
def result_80sec():
    return run_suite("cifar10-80sec")


def test_80sec_suite_passes_and_covers_every_layer(result_80sec):
    from alexnet.verify.suites import Graph

    r = result_80sec
    assert r.passed, [c for c in r.checks if not c.passed][:3]
    layers = Graph.for_net("80sec").layers
    forward = {c.layer for c in r.checks if c.kind == "forward"}
    grads = {c.layer for c in r.checks if c.kind == "grad"}
    computing = {n for n, d in layers.items()
                 if d["type"] not in ("data", "softmax") and not d["type"].startswith("cost.")}
    assert forward == computing
    assert grads == computing | {"data"}  # the input gradient too
    wl = [n for n, d in layers.items() if d["type"] in ("conv", "fc")]
    for kind in ("weight-grad", "velocity", "weights"):
        got = {(c.layer, c.tensor) for c in r.checks if c.kind == kind}
        assert got == {(n, t) for n in wl for t in ("weights[0]", "biases")}
    kinds = [c.kind for c in r.checks]
    assert kinds[0] == "hyperparams" and kinds[-1] == "top1" and "loss" in kinds


def test_errors_are_far_below_tolerance(result_80sec):
    # fp32 reassociation only: the worst check uses under half of its tolerance
    worst = max(c.ratio for c in result_80sec.checks if c.tolerance > 0)
    assert worst < 0.5


def test_velocities_start_non_zero(result_80sec):
    # the bundled weights carry the run's momentum buffers, so the update's momentum term
    # is exercised (a zero start could not tell momentum-before from momentum-after)
    from alexnet.verify import bundled

    b = bundled.load("cifar10-80sec")
    assert any(float(v.abs().max()) > 0 for v in b.group("velocity").values())


def test_18pct_suite_passes():
    r = run_suite("cifar10-18pct")
    assert r.passed, [c for c in r.checks if not c.passed][:3]
    assert any(c.layer == "rnorm1" and c.kind == "forward" for c in r.checks)
    # with the bundled weights two pool1 windows are near-ties that the two sides round
    # apart; they are reported and aligned, and everything below still agrees
    (routing,) = [c for c in r.checks if c.kind == "pool-routing"]
    assert routing.passed and routing.extra["rerouted"] == routing.extra["near_ties"]


@pytest.mark.slow
def test_alexnet2012_suite_passes_with_both_towers_compared():
    r = run_suite("alexnet2012")
    assert r.passed, [c for c in r.checks if not c.passed][:3]
    fwd = {c.layer for c in r.checks if c.kind == "forward"}
    # every tower of def 145, including the cross-tower fc2048bb (inputs hs1b, hs1a)
    assert {"conv1a", "conv1b", "rnorm1a", "cnorm2b", "conv3b", "fc2048bb", "hs2b",
            "fc1000"} <= fwd
    # the port's variant "code" credits every tied maximum as 2012 does (pool_ties='all'),
    # so no gradient needs the tie mask any more
    assert not [c for c in r.checks if c.masked]
    assert r.info["batch"] == 2


def test_cli_exit_0_and_a_json_report_that_validates(tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["verify", "cifar10-80sec", "--json", str(out), "--report",
                                   str(tmp_path / "rep"), "-q"])
    assert res.exit_code == 0, res.output
    assert "verify PASSED" in res.output
    doc = json.loads(out.read_text())
    assert schema.validate(doc) == []
    assert doc["passed"] is True and doc["suites"][0]["name"] == "cifar10-80sec"
    for name in ("report.json", "report.md", "report.html"):
        assert (tmp_path / "rep" / name).is_file()
    assert "Tolerance policy" in (tmp_path / "rep" / "report.md").read_text()


def test_cli_verbose_table_has_one_row_per_check(tmp_path):
    res = CliRunner().invoke(cli, ["verify", "cifar10-80sec", "-v", "-q", "--no-report"])
    assert res.exit_code == 0, res.output
    row = re.compile(r"^  \S+ +\S+ +\S+ +\S+ +\S+ (ok|FAIL)\b")
    rows = [ln for ln in res.output.splitlines() if row.match(ln)]
    summary = next(ln for ln in res.output.splitlines() if ln.startswith("PASS"))
    n = int(summary.split(": ")[1].split(" checks")[0])
    assert len(rows) == n
