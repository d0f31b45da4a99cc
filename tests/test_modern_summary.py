"""``alexnet model summary`` / ``model list``: library function and CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.modern.cli_model import format_summary, model_summary
from alexnet.original import cfgs


@pytest.fixture(scope="module")
def alex_summary():
    return model_summary("alexnet2012")


def test_summary_of_alexnet2012(alex_summary):
    s = alex_summary
    assert s["total_params"] == 60_965_224
    assert s["input_shape"] == [3, 224, 224] and s["num_classes"] == 1000
    shapes = {r["name"]: r["output_shape"] for r in s["layers"]}
    assert shapes["conv1"] == [96, 55, 55] and shapes["pool1"] == [96, 27, 27]
    assert shapes["pool2"] == [256, 13, 13] and shapes["pool3"] == [256, 6, 6]
    assert shapes["fc8"] == [1000]
    assert sum(r["params"] for r in s["layers"]) == 60_965_224
    text = format_summary(s)
    assert "60,965,224" in text and "conv3a+conv3b" in text


def test_cli_summary_table_and_json(alex_summary):
    runner = CliRunner()
    r = runner.invoke(cli, ["model", "summary", "--arch", "alexnet2012"])
    assert r.exit_code == 0, r.output
    assert "total parameters: 60,965,224" in r.output
    assert "96x55x55" in r.output and "256x6x6" in r.output
    r = runner.invoke(cli, ["model", "summary", "--arch", "alexnet2012", "--json"])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["total_params"] == 60_965_224
    assert data["layers"] == alex_summary["layers"]
    assert {"name", "output_shape", "params"} <= set(data["layers"][0])


def test_cli_summary_of_a_cfg_pair_and_a_cifar_arch():
    runner = CliRunner()
    d, p = cfgs.pair("80sec")
    r = runner.invoke(cli, ["model", "summary", "--cfg", str(d), str(p), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["total_params"] == 145_578
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["pool3"]["output_shape"] == [64, 4, 4]
    assert rows["conv1"]["line"] > 0 and rows["probs"]["used"] is False
    r = runner.invoke(cli, ["model", "summary", "--arch", "cifar10-80sec"])
    assert r.exit_code == 0 and "total parameters: 145,578" in r.output


def test_cli_errors_are_one_line_exit_2(tiny_cfg):
    runner = CliRunner()
    r = runner.invoke(cli, ["model", "summary", "--arch", "lenet"])
    assert r.exit_code == 2
    assert "unknown arch 'lenet'" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["model", "summary"])
    assert r.exit_code == 2
    bad = tiny_cfg("tiny-incomplete").definition
    r = runner.invoke(cli, ["model", "summary", "--cfg", str(bad), str(bad)])
    assert r.exit_code == 2 and f"{bad.name}:" in r.output


def test_cli_list_names_the_archs():
    r = CliRunner().invoke(cli, ["model", "list"])
    assert r.exit_code == 0
    for name in ("alexnet2012", "alexnet2012-paper", "alexnet2012-cfg", "cifar10-80sec"):
        assert name in r.output
