"""The error-bar sweep: params' `sweep` section, dvc.yaml's matrix stage and the summary.

A tiny real sweep (two seeds, two data orders, 100 CIFAR-format images, 1 epoch) checks
what the stages promise: each run trains with its own seed and order, a finished run is
kept when DVC asks again, the summary averages exactly the runs the section lists, and a
profile that is not swept trains nothing and says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fixtures.pipeline import tiny_cifar_params

from alexnet.cli import cli
from alexnet.errors import ConfigError
from alexnet.pipeline.fetch import fetch
from alexnet.pipeline.params import resolve_profile, sweep_spec
from alexnet.pipeline.seeds import run_name, summarise, sweep_records, sweep_run

REPO = Path(__file__).resolve().parent.parent


def _params(tmp_path: Path, **sweep) -> Path:
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["sweep"].update(sweep)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def test_repository_sweep_is_valid_and_dvc_names_runs_like_run_name():
    sw = sweep_spec(REPO / "params.yaml")
    assert len(sw.seeds) >= 5 and {"once", "epoch"} <= set(sw.shuffle)
    assert resolve_profile(REPO / "params.yaml", "cifar10-80sec").sweep is True
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["sweep"]
    (out,) = stage["outs"]
    pattern = next(iter(out))
    assert pattern == "runs/sweep/" + run_name("${item.shuffle}", "${item.seed}")
    assert f"--out {pattern}" in stage["cmd"]
    assert stage["matrix"] == {"seed": "${sweep.seeds}", "shuffle": "${sweep.shuffle}"}
    # the sweep trains exactly what the train stage trains (one list of code deps)
    train = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["train"]
    assert stage["deps"] == train["deps"]


@pytest.mark.parametrize("sweep, key", [
    ({"seeds": [0, 0]}, "sweep.seeds"),
    ({"seeds": [-1]}, "sweep.seeds"),
    ({"seeds": "0,1"}, "sweep.seeds"),
    ({"seeds": [True]}, "sweep.seeds"),
    ({"shuffle": ["sometimes"]}, "sweep.shuffle"),
    ({"shuffle": ["once", "once"]}, "sweep.shuffle"),
    ({"every": 2}, "sweep.every"),
])
def test_bad_sweep_section_names_the_key(tmp_path, sweep, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        sweep_spec(_params(tmp_path, **sweep))


@pytest.mark.parametrize("profile, value, why", [
    ("cifar10-80sec", "yes", "expected true or false"),
    ("imagenet-bvlc", True, "imports published weights"),
])
def test_bad_profile_sweep_flag_names_the_key(tmp_path, profile, value, why):
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["profiles"][profile]["sweep"] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    with pytest.raises(ConfigError, match=rf"profiles\.{profile}\.sweep.*{why}"):
        resolve_profile(path, profile)


@pytest.fixture()
def tiny(tmp_path, monkeypatch, cifar_python_tarball):
    tar = cifar_python_tarball(per_batch=20, test=20)
    params, prof = tiny_cifar_params(tmp_path, monkeypatch, tar,
                                     train={"epochs": 1, "batch": 25, "device": "cpu"},
                                     sweep={"seeds": [0, 1], "shuffle": ["once", "epoch"]})
    fetch(prof, tmp_path / "fetch", data_dir=tmp_path / "data", progress=False,
          echo=lambda _m: None)
    return params, tmp_path


def test_tiny_sweep_trains_each_run_with_its_seed_and_order(tiny):
    params, tmp = tiny
    prof, sw = resolve_profile(params), sweep_spec(params)
    root = tmp / "sweep"
    for shuffle, seed in sw.runs():
        sweep_run(prof, sw, seed, shuffle, tmp / "fetch", root / run_name(shuffle, seed),
                  progress=False, echo=lambda _m: None)
    records = sweep_records(root, sw)
    assert [(r["shuffle"], r["seed"], r["status"]) for r in records] == [
        ("once", 0, "finished"), ("epoch", 0, "finished"),
        ("once", 1, "finished"), ("epoch", 1, "finished")]
    # the sweep's runs leave the main train stage's DVC summaries alone
    assert not (tmp / "metrics").exists() and not (root / "metrics").exists()
    # seeds 0 and 1 start from different weights, so they end differently
    errs = {(r["shuffle"], r["seed"]): r["top1_err"] for r in records}
    loss = {}
    for shuffle, seed in sw.runs():
        m = yaml.safe_load((root / run_name(shuffle, seed) / "metrics.json").read_text())
        loss[(shuffle, seed)] = m["epochs"][-1]["train_loss"]
    assert loss[("once", 0)] != loss[("once", 1)]
    assert loss[("once", 0)] != loss[("epoch", 0)]  # same weights, another order

    # a CPU run is deterministic: DVC running a stage again gives the same run
    again = sweep_run(prof, sw, 0, "once", tmp / "fetch", root / run_name("once", 0),
                      progress=False, echo=lambda _m: None)
    assert again["test_top1_err"] == errs[("once", 0)]

    # the command writes the summary and the DVC metrics of exactly these four runs
    (root / "epoch-seed7").mkdir()  # a leftover of an older seed list: never averaged
    res = CliRunner().invoke(cli, ["pipeline", "seeds", "--params", str(params),
                                    "--sweep", str(root), "--out", str(tmp / "seeds"),
                                    "--metrics", str(tmp / "m.json")])
    assert res.exit_code == 0, res.output
    summary = yaml.safe_load((tmp / "seeds" / "seeds.json").read_text())
    assert summary["orders"]["once"]["n"] == 2 and summary["orders"]["epoch"]["n"] == 2
    assert summary["orders"]["once"]["mean"] == pytest.approx(
        (errs[("once", 0)] + errs[("once", 1)]) / 2, abs=1e-12)
    m = yaml.safe_load((tmp / "m.json").read_text())
    assert set(m) >= {"once", "epoch", "arch", "reported_top1_err"}
    assert "epoch-seed7" not in (tmp / "seeds" / "seeds.md").read_text()


def test_missing_run_is_listed_not_averaged(tiny):
    params, tmp = tiny
    sw = sweep_spec(params)
    records = sweep_records(tmp / "nothing-here", sw)
    assert {r["status"] for r in records} == {"missing"}
    s = summarise(records, "cifar10-80sec")
    assert all(e["n"] == 0 and e["mean"] is None for e in s["orders"].values())


def test_profile_not_swept_trains_nothing_and_says_so(tiny):
    params, tmp = tiny
    p = yaml.safe_load(params.read_text())
    p["profiles"]["cifar10-80sec"]["sweep"] = False
    params.write_text(yaml.safe_dump(p, sort_keys=False))
    prof, sw = resolve_profile(params), sweep_spec(params)
    root = tmp / "sweep"
    for shuffle, seed in sw.runs():
        sweep_run(prof, sw, seed, shuffle, tmp / "fetch", root / run_name(shuffle, seed),
                  progress=False, echo=lambda _m: None)
    assert not any(root.glob("*/checkpoints"))
    res = CliRunner().invoke(cli, ["pipeline", "seeds", "--params", str(params),
                                    "--sweep", str(root), "--out", str(tmp / "seeds")])
    assert res.exit_code == 0, res.output
    assert "not swept" in res.output
    assert "Not swept" in (tmp / "seeds" / "seeds.md").read_text()


def test_run_outside_the_sweep_is_refused(tiny):
    params, tmp = tiny
    res = CliRunner().invoke(cli, ["pipeline", "sweep", "--params", str(params),
                                    "--seed", "9", "--shuffle", "once",
                                    "--fetched", str(tmp / "fetch"),
                                    "--out", str(tmp / "x")])
    assert res.exit_code == 2
    assert "once-seed9 is not a run of params' sweep" in res.output
    assert not (tmp / "x").exists()
