"""The 2012-style driver on tiny synthetic data: training lines, checkpoints, bit-exact
resume, the params file re-read on resume, option errors, test-only and multiview."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from alexnet.original import batches, cfgs, pickling
from alexnet.original import checkpoint as ckpt
from alexnet.original.convnet import main


def frozen(params_text: str) -> str:
    """The same learning parameters with every learning rate 0."""
    return re.sub(r"^(eps[WB]) = .*$", r"\1 = 0", params_text, flags=re.MULTILINE)


@pytest.fixture()
def setup(tmp_path, tiny_cfg):
    # tiny-driver: every source of randomness the driver controls, random crops and
    # mirrors (cifar-cropped) and dropout (hs)
    net = tiny_cfg("tiny-driver")
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for k in (1, 2, 3):
        lab = rng.integers(0, 10, 16)
        px = (rng.integers(0, 128, (3072, 16)) + lab[None, :] * 12).astype(np.uint8)
        batches.write_batch(data, k, px, lab)
    batches.write_meta(data, label_names=[f"class{i}" for i in range(10)],
                       data_mean=np.full(3072, 110.0), num_cases_per_batch=16,
                       extra={"dp_type": "cifar-cropped"})
    (tmp_path / "tiny.cfg").write_text(net.text)
    (tmp_path / "tiny-params.cfg").write_text(net.params_text)
    (tmp_path / "frozen-params.cfg").write_text(frozen(net.params_text))
    return tmp_path


def _args(t: Path, save: str, epochs: int, **extra) -> list[str]:
    args = [f"--layer-def={t / 'tiny.cfg'}", f"--layer-params={t / 'tiny-params.cfg'}",
            f"--data-path={t / 'data'}", f"--save-path={t / save}", "--train-range=1",
            "--test-range=3", "--test-freq=1", f"--epochs={epochs}", "--mini=8",
            "--crop-border=4", "--seed=7"]
    return args + [f"--{k.replace('_', '-')}={v}" for k, v in extra.items()]


def _run_dir(t: Path, save: str) -> Path:
    (d,) = (t / save).iterdir()
    return d


def _weights(run: Path) -> dict[str, bytes]:
    layers = ckpt.load_checkpoint(run)["model_state"]["layers"]
    return {f"{n}.{k}{i}": a.tobytes() for n, d in layers.items()
            for k in ("weights", "weightsInc") for i, a in enumerate(d.get(k, []))}


def test_training_prints_2012_lines_and_saves_checkpoints(setup, capsys):
    assert main(_args(setup, "A", 2)) == 0
    out = capsys.readouterr().out
    # epoch.batch... then per-case means: NLL, top-1 error, top-3 error; then the time
    assert re.search(r"^1\.1\.\.\. logprob:  \d\.\d{6}, \d\.\d{6}, \d\.\d{6} ", out, re.M), out
    assert re.search(r"^\(\d+\.\d{3} sec\)$", out, re.M)     # after the test block, as 2012
    assert "======================Test output======================" in out
    assert re.search(r"Layer 'conv1' weights\[0\]: \d\.\d{6}e[-+]\d\d \[", out)
    run = _run_dir(setup, "A")
    assert re.fullmatch(r"ConvNet__\d{4}-\d\d-\d\d_\d\d\.\d\d\.\d\d", run.name)
    assert [p.name for p in run.iterdir()] == ["2.1"]       # --max-filesize=0 keeps one
    state = ckpt.load_checkpoint(run)["model_state"]
    assert (state["epoch"], state["batchnum"]) == (2, 1)
    assert len(state["train_outputs"]) == 2 and len(state["test_outputs"]) == 2
    nll, top1, top3 = state["train_outputs"][0][0]["logprob"]
    assert 0 < nll < 10 and 0 <= top3 <= top1 <= 1          # stored as per-case means


def test_resume_is_bit_exact(setup, capsys):
    """Two batches in one run == one batch, save, resume with -f, one more batch."""
    assert main(_args(setup, "A", 2)) == 0
    assert main(_args(setup, "B", 1)) == 0
    run_b = _run_dir(setup, "B")
    assert main(["-f", str(run_b), "--epochs=2"]) == 0
    capsys.readouterr()
    a, b = _weights(_run_dir(setup, "A")), _weights(run_b)
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]
    sa = ckpt.load_checkpoint(_run_dir(setup, "A"))["model_state"]
    sb = ckpt.load_checkpoint(run_b)["model_state"]
    assert sa["train_outputs"] == sb["train_outputs"]


def test_params_file_is_re_read_on_resume(setup, capsys):
    assert main(_args(setup, "C", 1)) == 0
    run = _run_dir(setup, "C")
    before = _weights(run)
    frozen = setup / "frozen-params.cfg"
    assert main(["-f", str(run), f"--layer-params={frozen}", "--epochs=2"]) == 0
    capsys.readouterr()
    after = _weights(run)
    # every rate 0: no update at all, not even decay or momentum
    assert all(before[k] == after[k] for k in before)
    assert ckpt.load_checkpoint(run)["model_state"]["epoch"] == 2


def test_option_errors_are_one_line_with_exit_2(setup, capsys):
    assert main(["--layer-params=x"]) == 2
    err = capsys.readouterr().err
    assert "not supplied" in err and "--layer-def" in err and "--data-path" in err
    assert main(_args(setup, "D", 1, test_only=2)) == 2
    assert "not a boolean (give 0 or 1)" in capsys.readouterr().err
    assert main(_args(setup, "D", 1)) == 0
    capsys.readouterr()
    assert main(["-f", str(_run_dir(setup, "D")), "--crop-border=2"]) == 2
    assert "cannot be changed on resume" in capsys.readouterr().err
    bad = setup / "bad.cfg"
    bad.write_text((setup / "tiny.cfg").read_text().replace("sizeX = 3", "sizeX = 30"))
    args = _args(setup, "E", 1)
    args[0] = f"--layer-def={bad}"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.cfg" in err and "sizeX" in err


def test_test_only_multiview_writes_predictions(setup, capsys):
    assert main(_args(setup, "F", 1)) == 0
    run = _run_dir(setup, "F")
    preds = setup / "preds"
    assert main(["-f", str(run), "--test-only=1", "--multiview-test=1", f"--test-out={preds}",
                 "--logreg-name=logprob"]) == 0
    out = capsys.readouterr().out
    assert "batch 3:" in out and "logprob" in out
    p = pickling.load(preds / "test_preds_3")
    assert p["data"].shape == (16, 10)
    np.testing.assert_allclose(p["data"].sum(axis=1), 1.0, rtol=1e-5)


def test_bundled_80sec_net_runs_through_the_project_cli(setup):
    from click.testing import CliRunner

    from alexnet.cli import cli

    args = ["original", "train", f"--layer-def={cfgs.path('layers-80sec.cfg')}",
            f"--layer-params={cfgs.path('layer-params-80sec.cfg')}",
            f"--data-path={setup / 'data'}", f"--save-path={setup / 'G'}", "--train-range=1-2",
            "--test-range=3", "--epochs=1", "--mini=16", "--data-provider=cifar"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "1.2... logprob:" in res.output and "Saved checkpoint to" in res.output


def test_two_tower_run_reports_towers_and_transfers(setup, capsys, tiny_cfg):
    net = tiny_cfg("tiny-two-tower-driver")
    (setup / "two.cfg").write_text(net.text)
    (setup / "two-params.cfg").write_text(net.params_text)
    args = _args(setup, "T", 1)
    args[0] = f"--layer-def={setup / 'two.cfg'}"
    args[1] = f"--layer-params={setup / 'two-params.cfg'}"
    assert main(args) == 2                                   # 2012 default --num-gpus=1
    assert "gpu: must be in the range 0-0" in capsys.readouterr().err
    assert main(args + ["--num-gpus=2"]) == 0
    out = capsys.readouterr().out
    assert "Tower gpu1 (1 layers): c1b" in out
    assert "c1b_neuron (gpu1) -> fc10 (gpu0)" in out
    m = re.search(r"activations between gpus (\d+\.\d\d) MB", out)
    # c1b's output, 16 x 6 x 6 floats per case, crosses once per minibatch of 8
    assert m and float(m.group(1)) == pytest.approx(16 * 6 * 6 * 8 * 4 / 2**20, abs=0.01)
