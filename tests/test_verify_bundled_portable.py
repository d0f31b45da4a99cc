"""Bundled provenance files carry no folder of the machine that trained the net."""

from __future__ import annotations

from alexnet.verify.bundled import portable


def test_run_and_data_folders_become_placeholders(tmp_path):
    run, data = str(tmp_path / "runs" / "18pct"), str(tmp_path)
    places = {run: "RUN", data: "DATA"}
    doc = {"command": f"alexnet train --data {data}/cifar.tgz --out {run}",
           "config": {"schedule": f"{run}/schedule.json", "epochs": 140},
           "history": [{"path": run}], "n": 3}
    out = portable(doc, places)
    assert out == {"command": "alexnet train --data DATA/cifar.tgz --out RUN",
                   "config": {"schedule": "RUN/schedule.json", "epochs": 140},
                   "history": [{"path": "RUN"}], "n": 3}


def test_root_or_dot_is_never_replaced():
    assert portable({"a": "./x /y"}, {".": "RUN", "/": "DATA"}) == {"a": "./x /y"}
