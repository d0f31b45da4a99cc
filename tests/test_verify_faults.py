"""The fail paths: planted faults are caught, at the layer where they live.

A planted fault must (1) fail the suite and (2) make its FIRST failing check the
expected layer and kind; every check before it must still pass, which is what
"detected at the right layer" means. The faults are planted on the port's side only,
inside context managers (alexnet.verify.faults); the port's code is never edited.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.verify import runner, schema
from alexnet.verify.faults import FAULTS
from alexnet.verify.selftest import run_self_test


def _assert_all_caught(baselines, rows):
    assert baselines and all(b.passed for b in baselines), "unfaulted baseline must pass"
    assert rows
    for r in rows:
        got = r["detected"]
        assert r["passed"], (f"{r['fault']} on {r['suite']}: expected {r['expected_kind']} at "
                             f"{r['expected_layer']}, got {got}")
        # caught by a wide margin, not by a hair
        assert got["max_rel"] > 10 * got["tolerance"], r


def test_self_test_on_the_cifar_suites_catches_every_fault():
    baselines, rows = run_self_test(["cifar10-80sec", "cifar10-18pct"])
    _assert_all_caught(baselines, rows)
    planted = {(r["fault"], r["suite"]) for r in rows}
    expected = {(f.name, s) for f in FAULTS.values() for s in f.expect
                if s in ("cifar10-80sec", "cifar10-18pct")}
    assert planted == expected


@pytest.mark.slow
def test_self_test_on_alexnet2012_catches_every_fault():
    baselines, rows = run_self_test(["alexnet2012"])
    _assert_all_caught(baselines, rows)
    assert {r["fault"] for r in rows} == {f.name for f in FAULTS.values()
                                         if "alexnet2012" in f.expect}
    # the list of faults is all there
    assert {"lrn-alpha", "padding-shift", "swapped-towers", "fc-transposed",
            "momentum-after-step", "conv-layout"} <= {r["fault"] for r in rows}


def test_faults_leave_the_port_as_they_found_it():
    prep = runner.prepare("cifar10-80sec")
    before = {k: v.clone() for k, v in prep.model.state_dict().items()}
    forward_before = prep.model.layers["conv2"].forward
    for fault in FAULTS.values():
        if "cifar10-80sec" in fault.expect:
            runner.port_result(prep, fault)
    prep.restore_port()  # a run leaves the updated weights until the next restore
    after = prep.model.state_dict()
    assert all(bool((before[k] == after[k]).all()) for k in before)
    assert prep.model.layers["conv2"].forward == forward_before
    ref = runner.reference_result(prep)
    assert all(c.passed for c in runner.compare_results(prep, ref, runner.port_result(prep)))


def test_cli_exits_1_on_a_mismatch_and_reports_where(monkeypatch, tmp_path):
    real = runner.port_result
    monkeypatch.setattr(runner, "port_result",
                        lambda prep, fault=None: real(prep, FAULTS["padding-shift"]))
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["verify", "cifar10-80sec", "--json", str(out), "-q",
                                   "--no-report"])
    assert res.exit_code == 1, res.output
    assert "verify FAILED" in res.output
    assert "first: forward at conv2" in res.output
    doc = json.loads(out.read_text())
    assert schema.validate(doc) == [] and doc["passed"] is False
    first = next(c for c in doc["suites"][0]["checks"] if not c["passed"])
    assert (first["layer"], first["kind"]) == ("conv2", "forward")
    assert first["max_rel"] > first["tolerance"]


def test_cli_self_test_reports_each_fault(tmp_path):
    out = tmp_path / "st.json"
    res = CliRunner().invoke(cli, ["verify", "--self-test", "cifar10-80sec", "--json",
                                   str(out), "-q", "--no-report"])
    assert res.exit_code == 0, res.output
    assert "self-test: planted faults" in res.output and "MISSED" not in res.output
    doc = json.loads(out.read_text())
    assert schema.validate(doc) == []
    assert len(doc["self_test"]) == sum(1 for f in FAULTS.values()
                                        if "cifar10-80sec" in f.expect)


def test_a_missed_fault_fails_the_self_test(monkeypatch):
    # a fault that changes nothing must be reported as MISSED, never as caught
    from alexnet.verify import faults

    inert = faults.Fault("inert", "changes nothing", {"cifar10-80sec": ("conv1", "forward")})
    monkeypatch.setitem(faults.FAULTS, "inert", inert)
    baselines, rows = run_self_test(["cifar10-80sec"], faults=["inert"])
    assert rows == [{**rows[0], "passed": False, "detected": None}]
