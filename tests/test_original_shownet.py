"""shownet: filter grids (16 wide), predictions (top-5), cost curves, all as PNG files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from alexnet.errors import ConfigError
from alexnet.original import batches, cfgs, shownet
from alexnet.original import checkpoint as ckpt
from alexnet.original.convnet import ConvNet
from alexnet.original.initial_weights import init_weights
from alexnet.original.layer import parse_layers


@pytest.fixture()
def run(tmp_path):
    """A saved 80sec checkpoint with cost history, over a tiny CIFAR-shaped data folder."""
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for k in (1, 2):
        batches.write_batch(data, k, rng.integers(0, 256, (3072, 10)).astype(np.uint8),
                            list(range(10)))
    names = ["airplane, plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    batches.write_meta(data, label_names=names, data_mean=np.full(3072, 120.0),
                       num_cases_per_batch=10, extra={"dp_type": "cifar"})
    g = parse_layers(*cfgs.pair("80sec"))
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=0)
    op = ConvNet.get_options_parser()
    op.parse([f"--layer-def={cfgs.path('layers-80sec.cfg')}", "--layer-params=p",
              f"--data-path={data}", "--save-path=s", "--train-range=1", "--test-range=2",
              "--test-freq=2"])
    op.eval_expr_defaults()
    hist = [({"logprob": [2.3 - 0.1 * i, 0.9 - 0.01 * i, 0.5]}, 10) for i in range(6)]
    state = {"layers": layers, "epoch": 6, "batchnum": 1, "train_outputs": hist,
             "test_outputs": hist[1::2]}
    path = ckpt.save_checkpoint(tmp_path / "ConvNet__x", state, op)
    return tmp_path, path


def test_filter_grid_is_16_wide(run, tmp_path):
    out = tmp_path / "grid.png"
    lines = []
    assert shownet.run(["-f", str(run[1]), "--show-filters=conv1", f"--out={out}"],
                       out=lines.append) == 0
    img = Image.open(out)
    # 32 colour filters of 5x5 drawn 4x with a 1-pixel gap: 16 per row, 2 rows
    assert img.size == (16 * 21 + 1, 2 * 21 + 1)
    assert "conv1: 32 filter images of 5x5, 16 per row" in lines[0]
    # --no-rgb draws each channel apart: 96 images, 6 rows
    assert shownet.run(["-f", str(run[1]), "--show-filters=conv1", "--no-rgb=1",
                        f"--out={out}"], out=lines.append) == 0
    assert Image.open(out).size == (16 * 21 + 1, 6 * 21 + 1)


def test_two_towers_are_drawn_together_like_figure_3(tiny_cfg):
    g = parse_layers(tiny_cfg("tiny-two-towers").definition)
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=1)
    imgs, desc = shownet.filter_images(layers, "conv1")
    assert desc == "conv1a+conv1b" and imgs.shape == (32, 3, 3, 3)
    assert imgs.min() == 0.0 and imgs.max() == 1.0          # one global scale
    per, _ = shownet.filter_images(layers, "conv1a", norm_filters=True)
    assert np.allclose(per.min(axis=(1, 2, 3)), 0) and np.allclose(per.max(axis=(1, 2, 3)), 1)
    w = layers["conv1a"]["weights"][0]                       # rows (c, y, x), column f
    raw, _ = shownet.filter_images(layers, "conv1a")
    want = w[:, 5].reshape(3, 3, 3).transpose(1, 2, 0)       # (y, x, rgb) of filter 5
    want = (want - w.min()) / (w.max() - w.min())
    np.testing.assert_allclose(raw[5], want, rtol=1e-6)
    with pytest.raises(ConfigError, match="no layer named 'conv9'"):
        shownet.filter_images(layers, "conv9")
    with pytest.raises(ConfigError, match="softmax layer; it has no filters"):
        shownet.filter_images(layers, "probs")


def test_predictions_print_top5_and_draw(run, tmp_path):
    out = tmp_path / "preds.png"
    lines = []
    assert shownet.run(["-f", str(run[1]), "--show-preds=probs", "--num-images=3",
                        f"--out={out}"], out=lines.append) == 0
    preds = [ln for ln in lines if ln.startswith("batch 2 image")]
    assert len(preds) == 3
    for ln in preds:
        assert ln.count(",") >= 4 and "top-5:" in ln
    assert "true airplane;" in "".join(lines) or all("true" in ln for ln in preds)
    assert Image.open(out).size[0] == 720


def test_cost_plot(run, tmp_path):
    out = tmp_path / "cost.png"
    lines = []
    assert shownet.run(["-f", str(run[1]), "--show-cost=logprob", "--cost-idx=1",
                        f"--out={out}"], out=lines.append) == 0
    assert "6 training values, 3 test values" in lines[0]
    assert Image.open(out).size == (800, 500)
    with pytest.raises(ConfigError, match="no cost named 'nll'"):
        shownet.run(["-f", str(run[1]), "--show-cost=nll", f"--out={out}"], out=lines.append)


def test_command_line_errors(run, capsys):
    assert shownet.main(["-f", str(run[1])]) == 2
    assert "nothing to show" in capsys.readouterr().err
    assert shownet.main(["--show-filters=conv1"]) == 2
    assert "-f (Checkpoint to show) not supplied" in capsys.readouterr().err


def test_project_cli_form_with_space_separated_out(run, tmp_path):
    from click.testing import CliRunner

    from alexnet.cli import cli

    out = tmp_path / "grid.png"
    res = CliRunner().invoke(cli, ["original", "shownet", "-f", str(run[1]),
                                   "--show-filters=conv1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and "16 per row" in res.output
    res = CliRunner().invoke(cli, ["original", "shownet", "-f", str(run[1]),
                                   "--show-preds=probs", "--num-images=2"])
    assert res.exit_code == 0 and res.output.count("top-5:") == 2
    assert not (tmp_path / "preds.png").exists()
