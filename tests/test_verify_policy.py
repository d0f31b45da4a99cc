"""The verifier's building blocks: tolerance policy, comparisons, schema, renderings."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from alexnet.verify import policy, schema
from alexnet.verify.compare import Check, compare, first_failure
from alexnet.verify.report import (
    Report,
    SuiteResult,
    render_html,
    render_markdown,
    render_terminal,
)


def test_tolerance_grows_with_the_square_root_of_the_terms():
    # the documented formula, exactly
    assert policy.tolerance(1) == policy.SAFETY * policy.U
    assert policy.tolerance(400) == pytest.approx(20 * policy.tolerance(1))
    assert policy.tolerance(0) == policy.tolerance(1)  # never below one rounding


def test_compare_is_relative_to_the_largest_reference_magnitude():
    ref = np.array([100.0, -1.0, 0.001], dtype=np.float32)
    got = ref.copy()
    got[2] += 1e-4  # huge element-wise, tiny against the tensor's scale (100)
    c = compare("conv1", "forward", ref, got, terms=1e6)
    assert c.scale == pytest.approx(100.0)
    assert c.max_abs == pytest.approx(1e-4, rel=1e-3)
    assert c.max_rel == pytest.approx(1e-6, rel=1e-3)
    assert c.passed  # tolerance for 1e6 terms is 16 * 2^-24 * 1000 ~ 9.5e-4


def test_compare_fails_beyond_tolerance_and_reports_the_numbers():
    ref = np.ones((4, 4), dtype=np.float32)
    got = ref * np.float32(1.001)
    c = compare("fc6", "forward", ref, got, terms=100)
    assert not c.passed
    assert c.max_rel == pytest.approx(1e-3, rel=1e-3)
    assert c.tolerance == pytest.approx(policy.tolerance(100))


def test_shape_mismatch_and_non_finite_values_fail_with_a_note():
    ref = np.zeros((2, 3), np.float32)
    c = compare("pool1", "forward", ref, np.zeros((3, 2), np.float32), terms=1)
    assert not c.passed and "shape" in c.note and c.max_abs is None
    bad = ref.copy()
    bad[0, 0] = np.nan
    c = compare("pool1", "forward", ref, bad, terms=1)
    assert not c.passed and "non-finite" in c.note


def test_mask_excludes_positions_and_counts_them():
    ref = np.array([0.0, 0.0, 2.0], np.float32)
    got = np.array([5.0, 0.0, 2.0], np.float32)  # differs only where the mask says skip
    c = compare("cnorm2a", "grad", ref, got, terms=10, mask=ref != 0)
    assert c.passed and c.masked == 2 and c.max_abs == 0.0


def test_all_zero_tensors_agree():
    z = np.zeros(5, np.float32)
    assert compare("x", "grad", z, z, terms=1).passed


def test_first_failure_is_in_suite_order():
    checks = [Check("a", "forward", 0, 0, 1, True), Check("b", "forward", 1, 1, 0.1, False),
              Check("c", "forward", 1, 1, 0.1, False)]
    assert first_failure(checks).layer == "b"
    assert first_failure(checks[:1]) is None


def _graph_layers(net: str):
    from alexnet.verify.suites import Graph

    return Graph.for_net(net).layers


def test_terms_follow_the_layer_graph():
    layers = _graph_layers("80sec")
    t = policy.count_terms(layers, batch=2)
    # conv1 sums 3 channels x 5 x 5 taps
    assert t.fwd["conv1"] == 75
    # the ReLU and the max pool add no sums; conv2 adds 32 x 5 x 5
    assert t.fwd["conv2"] == 75 + 800
    # the avg pool adds its 3x3 window
    assert t.fwd["pool2"] == t.fwd["conv2_neuron"] + 9
    # gradients come back down: more terms than the forward pass at every layer
    assert all(t.bwd[n] > t.fwd[n] for n in ("conv1", "conv2", "fc64"))
    # conv weight gradients add the sum over cases and the 32 x 32 positions
    assert t.wgrad["conv1.weights[0]"] == t.bwd["conv1"] + 2 * 32 * 32


def test_tie_mask_covers_the_relu_to_maxpool_chain_of_def_145():
    masked = policy.tie_masked_layers(_graph_layers("145"))
    # pool2 (max) <- cnorm2 <- rnorm2 <- conv2's ReLU: exact zeros tie in pool2's windows
    assert {"cnorm2a", "rnorm2a", "conv2a_neuron"} <= masked
    # conv layers are never masked (their zeros are not exact)
    assert not any(n.startswith("conv") and not n.endswith("_neuron") for n in masked)


# --------------------------------------------------------------------------------------
# Schema and renderings


def _doc(passed: bool = True) -> dict:
    checks = [
        Check("all", "hyperparams", 0.0, 0.0, 0.0, True, note="equal"),
        Check("conv1", "forward", 1e-7, 2e-7, 1e-5, True, scale=3.0, terms=75.0, elements=10),
        Check("conv1", "weight-grad", 1e-7, 2e-7, 1e-5, passed, tensor="weights[0]",
              masked=2),
        Check("predictions", "top1", 0.0, 0.0, 0.0, True,
              extra={"cases": 2, "disagreements": 0, "near_ties": 0}),
    ]
    rep = Report(suites=[SuiteResult("s", "cifar10-80sec", "numpy", "a suite", checks,
                                     {"batch": 2})],
                 accuracy=[{"profile": "cifar10-80sec", "kind": "reported-vs-reproduced",
                            "implementation": "modern port", "metric": "top1_err",
                            "reported": 0.26, "reproduced": 0.27, "band": [0.23, 0.31],
                            "passed": True, "reason": "why", "source": "where", "cases": 10,
                            "data": "x"},
                           {"profile": "cifar10-80sec", "kind": "agreement", "agreement": 1.0,
                            "min_agreement": 0.999, "error_diff": 0.0, "max_error_diff": 0.002,
                            "cases": 10, "data": "x", "passed": True},
                           {"profile": "alexnet2012", "kind": "skipped", "passed": True,
                            "message": "no data"}],
                 self_test=[{"fault": "f", "description": "d", "suite": "s",
                             "expected_layer": "conv1", "expected_kind": "forward",
                             "detected": {"layer": "conv1", "kind": "forward", "tensor": None,
                                          "max_rel": 0.5, "tolerance": 1e-5},
                             "failed_checks": 3, "passed": True}],
                 meta={"created": "now", "seconds": 1.5})
    return rep.to_json()


def test_report_json_validates_and_round_trips():
    doc = _doc()
    assert schema.validate(doc) == []
    assert doc["passed"] is True
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc


def test_a_failed_check_fails_the_report():
    doc = _doc(passed=False)
    assert doc["passed"] is False and doc["suites"][0]["passed"] is False


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("suites"), "missing required property 'suites'"),
    (lambda d: d["suites"][0]["checks"][1].update(kind="sideways"), "is not one of"),
    (lambda d: d["suites"][0]["checks"][1].update(max_rel="small"), "expected number or null"),
    (lambda d: d["suites"][0]["checks"][1].update(colour="red"), "unexpected property 'colour'"),
    (lambda d: d["suites"][0]["checks"][1].update(tolerance=-1.0), "< minimum"),
    (lambda d: d["accuracy"][0].update(band=[0.1]), "fewer than 2 items"),
    (lambda d: d.update(passed="yes"), "expected boolean"),
])
def test_schema_rejects_malformed_reports(mutate, message):
    doc = copy.deepcopy(_doc())
    mutate(doc)
    errors = schema.validate(doc)
    assert any(message in e for e in errors), errors


def test_schema_uses_only_validated_keywords():
    # the validator refuses keywords it does not check, so the schema file cannot drift
    with pytest.raises(ValueError, match="not supported"):
        schema.validate({}, {"type": "object", "pattern": "x"})
    schema.validate(_doc())  # the shipped schema uses only supported keywords


def test_schema_agrees_with_jsonschema_when_installed():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(_doc(), schema.report_schema())
    bad = _doc()
    bad["suites"][0]["checks"][0]["kind"] = "nope"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema.report_schema())


def test_renderings_show_every_check_and_the_verdict():
    doc = _doc(passed=False)
    term = render_terminal(doc)
    assert "conv1" in term and "FAIL" in term and term.rstrip().splitlines()[-1].startswith(
        "verify FAILED")
    verbose = render_terminal(doc, verbose=True)
    assert "weights[0]" in verbose and "2 tied positions skipped" in verbose
    md = render_markdown(doc)
    assert md.startswith("# Equivalence report: FAILED")
    assert md.count("| conv1 |") == 2 and "SAFETY" in md and "band" in md
    html = render_html(doc)
    assert "<table>" in html and "class=\"fail\"" in html and "&lt;" not in html.split(
        "<body>")[0]


def test_ratio_of_a_check():
    assert Check("a", "forward", 1.0, 2e-6, 1e-5, True).ratio == pytest.approx(0.2)
    assert math.isinf(Check("a", "forward", None, None, 1e-5, False).ratio)


# --------------------------------------------------------------------------------------
# Max-pool routing at near-ties (alexnet.verify.routing)


def _pool_graph():
    return {"x": {"type": "data", "dataIdx": 0},
            "p": {"type": "pool", "pool": "max", "inputs": ["x"], "channels": 1,
                  "imgSize": 4, "sizeX": 2, "start": 0, "stride": 2, "outputsX": 2}}


def test_near_tie_reroute_passes_and_steers_the_reference():
    from alexnet.verify.routing import analyse

    ref = np.zeros((1, 16), np.float32)
    ref[0, 0], ref[0, 1] = 10.0, 10.0 - 1e-6  # window 0: a near-tie (gap 1e-7 of scale)
    port = ref.copy()
    port[0, 1] = 10.0 + 1e-6  # the port's rounding makes the other element the larger
    routes = analyse(_pool_graph(), {"x": ref}, {"x": port}, {"x": 1e6})
    (check,) = routes.checks
    assert check.passed and check.extra["rerouted"] == 1 and check.extra["near_ties"] == 1
    flat, values = routes.hints["p"]
    # output (channel 0, window 0, case 0) takes the value of the element the port chose
    assert flat.tolist() == [0] and values.tolist() == [np.float32(10.0 - 1e-6)]


def test_a_clear_reroute_fails():
    from alexnet.verify.routing import analyse

    ref = np.zeros((1, 16), np.float32)
    ref[0, 0], ref[0, 1] = 10.0, 5.0
    port = ref.copy()
    port[0, 1] = 11.0  # the port pooled an element that is clearly not the maximum
    routes = analyse(_pool_graph(), {"x": ref}, {"x": port}, {"x": 100})
    (check,) = routes.checks
    assert not check.passed and check.max_rel == pytest.approx(0.5)
    assert "p" not in routes.hints  # never steered: a real error stays visible below


def test_exact_ties_are_not_reroutes():
    from alexnet.verify.routing import analyse

    ref = np.zeros((2, 16), np.float32)  # all-zero windows: exact ties everywhere
    routes = analyse(_pool_graph(), {"x": ref}, {"x": ref.copy()}, {"x": 10})
    assert routes.checks[0].passed and routes.checks[0].extra["rerouted"] == 0
