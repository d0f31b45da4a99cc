"""The whole pipeline under `dvc repro`, offline, on a tiny profile.

The repository's dvc.yaml, params.yaml and data.dvc, and the code the stages list among
their deps, are copied into a fresh git + DVC repository in a temporary folder (the real
repository is never touched); params.yaml
gets a profile ``tiny`` (the default profile's net, two epochs) whose CIFAR-10 tarball
is a few hundred images in the official format, served from 127.0.0.1 and pinned by its
own md5. Then, in order:

1. ``dvc repro`` runs every stage; the outputs and metrics exist and are sane;
2. ``dvc repro`` again runs nothing;
3. a training setting changes: only train, evaluate, verify and report run;
3b. a stage's code changes: that stage and those downstream of it run, no others;
4. the served file is corrupted and fetch is forced: the checksum error stops it, and
   the bad download is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DVC = shutil.which("dvc", path=str(BIN)) or shutil.which("dvc")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DVC is None, reason="dvc is not installed (pip install -e '.[pipeline]')"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]

# the tiny profile is swept over two seeds, one data order (see tiny_params)
SWEEP = ("sweep@0-once", "sweep@1-once")
STAGES = ("fetch", "prepare", "train", *SWEEP, "seeds", "evaluate", "verify", "report")


def tiny_params(url: str, digest: str) -> dict:
    p = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    p["profile"] = "tiny"
    p["mirror"] = ""
    p["datasets"]["cifar10"]["source"] = "official"
    p["datasets"]["cifar10"]["official"].update({"url": url, "md5": digest})
    base = p["profiles"]["cifar10-80sec"]
    tiny = json.loads(json.dumps(base))
    tiny["about"] = "test profile: the 80sec net, 2 epochs on a 200-image fixture"
    tiny["train"].update({"epochs": 2, "batch": 50, "device": "cpu"})
    tiny["evaluate"] = {"views": [1, 10], "original_images": 30, "batch": 60}
    tiny["sweep"] = True
    p["profiles"]["tiny"] = tiny
    p["sweep"] = {"seeds": [0, 1], "shuffle": ["once"]}
    return p


def code_deps() -> set[str]:
    """The code dvc.yaml lists among its stages' deps (everything but data and outputs)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {d for s in stages.values() for d in s.get("deps", [])
            if not d.startswith("runs/") and d != "data"}


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w@-]+)'", output))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, cifar_python_tarball, http_server, md5):
    tar = cifar_python_tarball(per_batch=40, test=60)
    root = tmp_path_factory.mktemp("pipeline")
    ws = root / "repo"
    ws.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALEXNET_", "DVC_"))}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "ALEXNET_CACHE": str(root / "cache"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / "dvc-site-cache"),
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "HOME": str(root / "home"),
        "PYTHONWARNINGS": "ignore",
    })

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(args, cwd=ws, env=env, capture_output=True, text=True,
                             timeout=600)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({res.returncode}):\n"
                                 f"{res.stdout}\n{res.stderr}")
        return res

    with http_server({"cifar-10-python.tar.gz": tar}) as served:
        for name in ("dvc.yaml", "data.dvc", ".dvcignore"):
            shutil.copy(REPO / name, ws / name)
        for dep in code_deps():  # DVC hashes them; the stages run the installed package
            (ws / dep).parent.mkdir(parents=True, exist_ok=True)
            if (REPO / dep).is_dir():
                shutil.copytree(REPO / dep, ws / dep)
            else:
                shutil.copy(REPO / dep, ws / dep)
        params = tiny_params(f"{served.url}/cifar-10-python.tar.gz", md5(tar))
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        (ws / "data").mkdir()  # the (empty) local-inputs folder data.dvc pins
        run("git", "init", "-q")
        run(DVC, "init", "-q")
        run("git", "add", "-A")
        run("git", "commit", "-q", "-m", "fixture")
        yield {"ws": ws, "run": run, "served": served, "tar": tar, "root": root}


def test_1_full_run(workspace, md5):
    ws, run = workspace["ws"], workspace["run"]
    res = run(DVC, "repro")
    out = res.stdout + res.stderr
    assert ran_stages(out) == set(STAGES), out

    manifest = json.loads((ws / "runs/pipeline/fetch/sources.json").read_text())
    assert manifest["files"][0]["md5"] == md5(workspace["tar"])
    assert (ws / "runs/pipeline/prepare/batches/batches.meta").is_file()
    assert (ws / "runs/pipeline/prepare/mean.npy").is_file()

    train = json.loads((ws / "runs/pipeline/metrics/train.json").read_text())
    assert train["epochs"] == 2
    assert 0.0 <= train["test_top1_err"] <= 1.0
    assert 0.0 <= train["test_top5_err"] <= train["test_top1_err"]
    assert train["mean_image_matches_prepare"] is True
    curve = json.loads((ws / "runs/pipeline/plots/learning_curve.json").read_text())
    assert [r["epoch"] for r in curve] == [1, 2]

    ev = json.loads((ws / "runs/pipeline/metrics/evaluate.json").read_text())
    assert set(ev["modern"]) == {"views_1", "views_10"}
    # the 2012 engine scored the same weights on the same images: predictions agree
    # (float32 sums in another order may flip a near-tie, hence not exactly 1.0)
    assert ev["original"]["views_1"]["agreement"] >= 0.95
    confusion = json.loads((ws / "runs/pipeline/plots/confusion.json").read_text())
    assert len(confusion) == 60 and {"actual", "predicted"} <= set(confusion[0])

    ver = json.loads((ws / "runs/pipeline/metrics/verify.json").read_text())
    assert ver["reported_top1_err"] == 0.26
    assert ver["equivalence_passed"] is True and ver["equivalence_failed"] == 0
    assert (ws / "runs/pipeline/verify/report.json").is_file()

    report = (ws / "runs/report/report.md").read_text()
    assert "Reported vs reproduced" in report and "26.0%" in report
    html = (ws / "runs/report/report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    for fig in ("learning_curve.png", "confusion.png", "conv1_filters.png"):
        assert (ws / "runs/report/figures" / fig).stat().st_size > 0

    seeds = json.loads((ws / "runs/pipeline/metrics/seeds.json").read_text())
    assert seeds["once"]["n"] == 2 and seeds["once"]["std"] is not None
    assert "Error bars over seeds" in report and "over seeds (2011 order" in report

    shown = json.loads(run(DVC, "metrics", "show", "--json").stdout)
    assert "runs/pipeline/metrics/train.json" in json.dumps(shown)
    assert "runs/pipeline/metrics/seeds.json" in json.dumps(shown)
    assert (ws / "dvc.lock").is_file()


def test_2_second_repro_runs_nothing(workspace):
    res = workspace["run"](DVC, "repro")
    out = res.stdout + res.stderr
    assert ran_stages(out) == set(), out
    assert "up to date" in out or "didn't change" in out


def test_3_training_change_reruns_only_downstream(workspace):
    ws, run = workspace["ws"], workspace["run"]
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["profiles"]["tiny"]["train"]["seed"] = 1
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    diff = run(DVC, "params", "diff").stdout
    assert "profiles.tiny.train.seed" in diff
    res = run(DVC, "repro")
    out = res.stdout + res.stderr
    # the sweep's runs override the seed, but DVC re-runs whatever tracks the train section
    assert ran_stages(out) == {"train", *SWEEP, "seeds", "evaluate", "verify", "report"}, out
    assert "starting afresh" in out  # the persisted run of the old seed is not resumed


def test_3b_code_change_reruns_its_stage_and_downstream(workspace):
    ws, run = workspace["ws"], workspace["run"]
    with open(ws / "alexnet/pipeline/report.py", "a", encoding="utf-8") as fh:
        fh.write("\n# an edit\n")
    res = run(DVC, "repro")
    out = res.stdout + res.stderr
    assert ran_stages(out) == {"report"}, out
    with open(ws / "modern/evaluate.py", "a", encoding="utf-8") as fh:
        fh.write("\n# an edit\n")
    res = run(DVC, "repro")
    out = res.stdout + res.stderr
    assert ran_stages(out) == {"train", *SWEEP, "seeds", "evaluate", "verify", "report"}, out


def test_4_corrupt_download_stops_fetch(workspace, md5):
    run, served, tar = workspace["run"], workspace["served"], workspace["tar"]
    bad = bytearray(tar)
    bad[len(bad) // 2] ^= 0xFF
    served.files["cifar-10-python.tar.gz"] = bytes(bad)
    shutil.rmtree(workspace["root"] / "cache" / "downloads", ignore_errors=True)
    res = run(DVC, "repro", "--force", "--single-item", "fetch", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert f"expected {md5(tar)}" in out and "deleted" in out, out
    assert not list((workspace["root"] / "cache").rglob("cifar-10-python.tar.gz*"))
