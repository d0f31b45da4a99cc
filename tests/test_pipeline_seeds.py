"""Error bars over seeds (alexnet.pipeline.seeds): sample std, band rule, failed runs."""

from __future__ import annotations

import json
import statistics

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.pipeline.seeds import summarise


def _runs(order, errs, status="finished"):
    return [{"seed": i, "shuffle": order, "top1_err": e, "status": status}
            for i, e in enumerate(errs)]


def test_sample_std_and_band_rule():
    errs = [0.25, 0.26, 0.27]
    s = summarise(_runs("once", errs), "cifar10-80sec")
    e = s["orders"]["once"]
    # exact arithmetic on three values: 1e-12 covers float rounding only
    assert e["mean"] == pytest.approx(0.26, abs=1e-12)
    assert e["std"] == pytest.approx(statistics.stdev(errs), abs=1e-12)  # n - 1
    assert e["std"] == pytest.approx(0.01, abs=1e-12)
    assert s["reported_top1_err"] == 0.26 and e["inside"] is True
    assert "lies inside" in e["verdict"]


def test_failed_and_nan_runs_are_never_averaged():
    runs = _runs("epoch", [0.30, 0.31]) + _runs("epoch", [float("nan")]) \
        + _runs("epoch", [0.01], status="diverged")
    e = summarise(runs, "cifar10-80sec")["orders"]["epoch"]
    assert e["n"] == 2 and e["mean"] == pytest.approx(0.305, abs=1e-12)
    assert e["inside"] is False and "lies outside" in e["verdict"]


def test_one_run_gives_no_spread_and_no_verdict():
    e = summarise(_runs("once", [0.26]), "cifar10-80sec")["orders"]["once"]
    assert e["std"] is None and e["inside"] is None and "no verdict" in e["verdict"]


def test_command_on_a_results_file(tmp_path):
    res = {"arch": "cifar10-80sec", "what": "test",
           "runs": _runs("once", [0.27, 0.28]) + _runs("epoch", [0.26, 0.27])}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(res))
    r = CliRunner().invoke(cli, ["pipeline", "seeds", "--results", str(path),
                                  "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "out" / "seeds.json").read_text())
    assert set(data["orders"]) == {"once", "epoch"}
    assert "± " in (tmp_path / "out" / "seeds.md").read_text()


def test_bad_results_file_is_one_line_exit_2(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{not json")
    r = CliRunner().invoke(cli, ["pipeline", "seeds", "--results", str(path), "--arch",
                                  "cifar10-80sec", "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "not valid JSON" in r.output
    assert not (tmp_path / "out").exists()
