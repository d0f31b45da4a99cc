"""Every CIFAR-10 net's recorded seeded runs in the report (alexnet.pipeline.recorded).

The runs of 18pct and conv-local-11pct are too long for a pipeline run on a CPU, so they
are kept as results files; these tests hold the summary to the seeds stage's statistics
(exact means and sample stds of known errors), show unfinished runs with their progress
and never in a mean, name a bad file in one line, and check that the committed files
parse and cover every CIFAR-10 reproduction of the registry.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.errors import DataError
from alexnet.pipeline.recorded import cifar_reproductions, recorded, results_file, runs_note

REPO = Path(__file__).resolve().parent.parent


def _write(folder: Path, arch: str, runs: list[dict]) -> Path:
    p = results_file(folder, arch)
    p.write_text(json.dumps({"what": f"{arch} test runs", "command": "made by a test",
                             "machine": "none", "arch": arch, "runs": runs}))
    return p


def _finished(seed: int, err: float, shuffle: str = "once") -> dict:
    return {"seed": seed, "shuffle": shuffle, "status": "finished", "top1_err": err}


def test_the_cifar_reproductions_are_the_three_2011_nets():
    assert cifar_reproductions() == (
        "cifar10-80sec", "cifar10-18pct", "cifar10-conv-local-11pct")


def test_summaries_progress_and_absent_files(tmp_path):
    errs = [0.27, 0.265, 0.28]
    _write(tmp_path, "cifar10-80sec", [_finished(i, e) for i, e in enumerate(errs)])
    _write(tmp_path, "cifar10-18pct", [
        _finished(0, 0.21),
        {"seed": 1, "shuffle": "once", "status": "running", "top1_err": None,
         "epochs": 140, "epochs_done": 12, "last_test_top1_err": 0.3012},
        {"seed": 2, "shuffle": "once", "status": "finished", "top1_err": math.nan},
        {"seed": 3, "shuffle": "once", "status": "missing", "top1_err": None}])
    by_arch = {e["arch"]: e for e in recorded(tmp_path)}
    assert list(by_arch) == list(cifar_reproductions())

    once = by_arch["cifar10-80sec"]["summary"]["orders"]["once"]
    # exact: the same stdlib statistics as the seeds stage, on three known errors
    assert once["n"] == 3 and once["mean"] == statistics.fmean(errs)
    assert once["std"] == statistics.stdev(errs)
    lo, hi = once["band"]                   # 27.17 +- 2 x 0.76: 26% lies inside
    assert lo == pytest.approx(once["mean"] - 2 * once["std"], abs=1e-15)
    assert once["inside"] is True and lo <= 0.26 <= hi

    p18 = by_arch["cifar10-18pct"]["summary"]
    o18 = p18["orders"]["once"]
    assert o18["n"] == 1 and o18["mean"] == 0.21 and o18["std"] is None  # NaN not averaged
    assert runs_note(p18["runs"]) == (
        "1 finished, 1 running (seed 1: 12 of 140 epochs, 30.12%), "
        "1 finished without a finite error, 1 missing")

    absent = by_arch["cifar10-conv-local-11pct"]
    assert "summary" not in absent and absent["reported_top1_err"] == 0.11
    assert absent["note"] == "no recorded runs (cifar10-conv-local-11pct-seeds.json absent)"


def test_a_bad_results_file_is_one_line_naming_it(tmp_path):
    p = _write(tmp_path, "cifar10-18pct", [])
    with pytest.raises(DataError, match="empty `runs` list") as info:
        recorded(tmp_path)
    assert str(p) in str(info.value) and "\n" not in str(info.value)
    p.write_text(json.dumps({"arch": "cifar10-80sec", "runs": [_finished(0, 0.2)]}))
    with pytest.raises(DataError, match="holds the runs of cifar10-18pct") as info:
        recorded(tmp_path)
    assert str(p) in str(info.value)
    p.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON") as info:
        recorded(tmp_path)
    assert str(p) in str(info.value)


def test_the_committed_results_cover_every_cifar_net():
    entries = recorded(REPO / "benchmarks" / "results")
    assert [e["arch"] for e in entries] == list(cifar_reproductions())
    for e in entries:
        assert "summary" in e, e["note"]
        assert e["meta"]["what"] and e["meta"]["command"] and e["meta"]["machine"]
        for r in e["summary"]["runs"]:       # no machine's folders in the files
            assert not str(r.get("run", "")).startswith("/")
    eighty = entries[0]["summary"]["orders"]
    assert eighty["once"]["n"] >= 5 and eighty["epoch"]["n"] >= 5   # the minimum
    eighteen = entries[1]["summary"]
    assert eighteen["orders"]["once"]["n"] >= 3 and eighteen["orders"]["once"]["std"] > 0
    for r in eighteen["runs"]:  # every finished run is the full recipe
        assert r["status"] != "finished" or r["epochs"] == 140, r


def test_the_report_shows_the_section_only_when_asked(tmp_path):
    # the section needs no stage output: an empty pipeline folder, the shipped params
    pipe, params, profile = tmp_path / "pipeline", REPO / "params.yaml", "cifar10-80sec"
    pipe.mkdir()
    _write(tmp_path, "cifar10-80sec", [_finished(0, 0.27), _finished(1, 0.25)])
    out = tmp_path / "with"
    res = CliRunner().invoke(cli, ["report", "--params", str(params), "--profile", profile,
                                   "--pipeline", str(pipe), "--out", str(out),
                                   "--recorded", str(tmp_path)])
    assert res.exit_code == 0, res.output
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Every CIFAR-10 net: recorded runs over seeds" in text
    assert "| `cifar10-80sec` | 26.00% | 2011 order" in text and "26.00 ± 1.41% (n = 2)" in text
    assert "| `cifar10-18pct` | 18.00% | - | - | - | no recorded runs" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Every CIFAR-10 net: recorded runs over seeds" in html
    res = CliRunner().invoke(cli, ["report", "--params", str(params), "--profile", profile,
                                   "--pipeline", str(pipe), "--out", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    assert "recorded runs over seeds" not in (tmp_path / "w" / "report.md").read_text()
    res = CliRunner().invoke(cli, ["report", "--params", str(params), "--profile", profile,
                                   "--pipeline", str(pipe), "--out", str(tmp_path / "x"),
                                   "--recorded", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "nowhere" in res.output and "Traceback" not in res.output
