"""benchmarks/bench_end_to_end.py: the smoke run and the skip, on tiny synthetic data.

The benchmark's figures are only meaningful on the real data set; here it must run both
sides to the end, report consistent numbers and say clearly when there is no data.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_end_to_end.py"
CLASSES = tuple(f"c{i}" for i in range(10))  # the 80sec net has ten outputs


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    e = {**os.environ, "ALEXNET_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=e, timeout=600)


def test_quick_run_measures_both_sides(tmp_path, make_image_folder):
    data = make_image_folder(tmp_path / "data", classes=CLASSES, n_train=6, n_test=3)
    out = tmp_path / "e2e.json"
    r = _run(["--quick", "--threads", "1", "--data", str(data), "--json", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["valid"] is True and res["quick"] is True
    for impl in ("port", "plain"):
        side = res[impl]
        assert side["status"] == "finished"
        assert side["epochs"] == 1 and side["train_images"] == 60  # the whole tiny split
        assert side["wall_s"] > 0 and side["cpu_s"] > 0
        assert side["images_per_s"] == side["train_images"] / side["wall_s"]
        assert 0.0 <= side["final_top1_err"] <= 1.0
        assert side["train_s"] + side["test_s"] <= side["wall_s"]
        assert side["device"] == "cpu"
    assert res["port"]["test_passes"] == 1  # one epoch: one per-epoch test, also the final
    assert math.isclose(res["ratio_port_plain"], res["port"]["wall_s"] / res["plain"]["wall_s"])
    assert "port/plain wall time" in r.stdout
    assert not list(tmp_path.glob("bench-e2e-*"))  # the port's run folder was temporary


def test_no_data_is_one_line_and_no_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    bench = importlib.import_module("bench_end_to_end")
    # wherever this checkout is, pretend no shared copy exists
    monkeypatch.setattr(bench, "find_cifar", lambda data=None: None)
    assert bench.main(["--quick", "--json", str(tmp_path / "e2e.json")]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("skipped: no CIFAR-10") and len(err.splitlines()) == 1
    assert not (tmp_path / "e2e.json").exists()


def test_missing_data_path_is_exit_2(tmp_path):
    r = _run(["--quick", "--data", str(tmp_path / "nowhere.tar.gz")], tmp_path)
    assert r.returncode == 2
    assert "nowhere.tar.gz" in r.stderr and "Traceback" not in r.stderr


def test_device_this_machine_lacks_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    bench = importlib.import_module("bench_end_to_end")
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    decoded = []
    monkeypatch.setattr(bench, "load_dataset", lambda *a, **k: decoded.append(a))
    assert bench.main(["--quick", "--device", "cuda", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device cuda" in err and "no CUDA device" in err
    assert not decoded  # refused before any work
