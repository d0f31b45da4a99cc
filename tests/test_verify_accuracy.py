"""Reported vs reproduced accuracy, and the two implementations' agreement on test data."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.errors import DataError
from alexnet.verify import schema
from alexnet.verify.accuracy import (
    MAX_ERROR_DIFF,
    MIN_AGREEMENT,
    REPORTED,
    accuracy_rows,
    cifar_rows,
    find_cifar,
    metrics_rows,
)
from alexnet.verify.report import Report


def test_reported_figures_are_the_documented_ones():
    # the 2011 release's CIFAR-10 headers (docs/history/road-to-2012.md#history-cuda-convnet)
    # and the paper's section 6 (docs/history/competition.md#history-paper-numbers)
    assert REPORTED["cifar10-80sec"][0].value == 0.26
    assert REPORTED["cifar10-18pct"][0].value == 0.18
    assert {r.metric: r.value for r in REPORTED["alexnet2012"]} == {"top1_err": 0.407,
                                                                  "top5_err": 0.182}
    for rows in REPORTED.values():
        for r in rows:
            lo, hi = r.band
            assert lo <= r.value <= hi and r.reason and r.source


def _metrics(tmp_path, top1, arch="cifar10-80sec"):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"arch": arch, "top1_err": top1, "top5_err": 0.02, "n": 10000,
                             "data": "cifar10-jpg.tar.gz"}))
    return p


def test_metrics_file_inside_and_outside_the_band(tmp_path):
    ok = metrics_rows(_metrics(tmp_path, 0.27))
    assert len(ok) == 1 and ok[0]["passed"] and ok[0]["reproduced"] == 0.27
    bad = metrics_rows(_metrics(tmp_path, 0.40))
    assert not bad[0]["passed"] and bad[0]["band"] == [0.23, 0.31]


def test_metrics_file_errors(tmp_path):
    with pytest.raises(DataError, match="no such metrics file"):
        metrics_rows(tmp_path / "none.json")
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        metrics_rows(p)
    p.write_text(json.dumps({"arch": "lenet", "top1_err": 0.1}))
    with pytest.raises(DataError, match="expected an evaluation result"):
        metrics_rows(p)


def test_alexnet2012_without_data_is_skipped_with_a_reason():
    rows = accuracy_rows(["alexnet2012"])
    assert rows[0]["kind"] == "skipped" and rows[0]["passed"]
    assert "40.7%" in rows[0]["message"]


def test_missing_data_path_is_an_error(tmp_path):
    with pytest.raises(DataError):
        find_cifar(tmp_path / "nowhere.tar.gz")


def test_the_development_copy_is_found_where_alexnet_shared_points(tmp_path, monkeypatch):
    # one rule (alexnet.devdata) for the verifier, the benchmarks and the tests
    from alexnet.devdata import datasets_dir

    monkeypatch.setenv("ALEXNET_SHARED", str(tmp_path))
    assert datasets_dir() == tmp_path / "datasets"
    assert find_cifar() is None  # absent: the suite reports "skipped", not an error
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "cifar10-jpg.tar.gz").mkdir()  # a folder is not the tarball
    assert find_cifar() is None
    (tmp_path / "datasets" / "cifar10-jpg.tar.gz").rmdir()
    (tmp_path / "datasets" / "cifar10-jpg.tar.gz").write_bytes(b"x")
    assert find_cifar() == tmp_path / "datasets" / "cifar10-jpg.tar.gz"


def test_cli_metrics_in_band_exit_0_and_out_of_band_exit_1(tmp_path):
    res = CliRunner().invoke(cli, ["verify", "cifar10-18pct", "-q", "--no-report",
                                   "--metrics", str(_metrics(tmp_path, 0.27))])
    assert res.exit_code == 0, res.output
    assert "reported 26.00%, reproduced 27.00%" in res.output
    res = CliRunner().invoke(cli, ["verify", "cifar10-18pct", "-q", "--no-report",
                                   "--metrics", str(_metrics(tmp_path, 0.45))])
    assert res.exit_code == 1, res.output


def test_both_implementations_agree_on_real_test_images(shared_datasets):
    data = shared_datasets / "cifar10-jpg.tar.gz"
    if not data.is_file():
        pytest.skip("no shared CIFAR-10 copy")
    rows = cifar_rows("cifar10-80sec", data=data, backend="numpy", limit=300)
    agree = next(r for r in rows if r["kind"] == "agreement")
    assert agree["cases"] == 300
    assert agree["agreement"] >= MIN_AGREEMENT and agree["error_diff"] <= MAX_ERROR_DIFF
    band = [r for r in rows if r["kind"] == "reported-vs-reproduced"]
    assert {r["implementation"] for r in band} == {"modern port", "2012 re-creation"}
    doc = Report(accuracy=rows).to_json()
    assert schema.validate(doc) == []
