"""The cfg builder: bundled nets, def 145 against AlexNet2012, multi-input layers, the
low-resolution side path, local layers, neuron types, weight sharing, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alexnet.errors import ConfigError
from alexnet.layouts2012 import from_2012_matrices, to_2012_matrices
from alexnet.modern import AlexNet2012, available_archs, build_model
from alexnet.modern import layers as L


def write_pair(tmp_path, definition: str, params: str, name: str = "net"):
    d = tmp_path / f"layers-{name}.cfg"
    p = tmp_path / f"layer-params-{name}.cfg"
    d.write_text(definition)
    p.write_text(params)
    return str(d), str(p)


WEIGHT_PARAMS = "epsW = {e}\nepsB = 0.02\nmomW = {m}\nmomB = 0.9\nwc = {w}\n"


def wp(n: int = 1) -> str:
    return WEIGHT_PARAMS.format(e=",".join(["0.01"] * n), m=",".join(["0.9"] * n),
                                w=",".join(["0.0005"] * n))


# ------------------------------------------------------------------ bundled nets


@pytest.mark.parametrize("arch,total", [
    ("cifar10-80sec", 145_578),
    ("cifar10-18pct", 89_578),
    # conv 4,864 + 102,464; local3 36*64*9*64 + 64*36; local4 36*64*9*32 + 32*36; fc 11,530
    ("cifar10-conv-local-11pct", 2_112_970),
])
def test_cifar_nets_build_with_their_parameter_counts(arch, total):
    if arch not in available_archs():
        pytest.skip(f"{arch} cfg not bundled")
    m = build_model(arch).eval()
    assert sum(p.numel() for p in m.parameters()) == total
    assert m.num_classes == 10
    y = m(torch.randn(2, *m.input_shape) * 60)
    assert y.shape == (2, 10)
    assert m.cost["coeff"] == 1.0


def test_every_available_arch_builds_and_has_learning_parameters():
    for arch in available_archs():
        if arch.startswith(("alexnet2012", "summer")):
            continue  # the 60M-parameter nets are covered below
        m = build_model(arch)
        groups = m.param_groups()
        assert sum(g["param"].numel() for g in groups) == sum(
            p.numel() for p in m.parameters())
        assert all(g["wc"] == 0.0 for g in groups if g["kind"] == "biases")


def test_summer_net_builds_with_blur_nailbed_and_two_input_conv2():
    if "summer-120" not in available_archs():
        pytest.skip("summer-2012 cfgs not bundled")
    m = build_model("summer-120")
    assert sum(p.numel() for p in m.parameters()) == 60_870_376
    # docs/reference/recreation.md#recreation-def-120
    types = {lay.type for lay in m.graph}
    assert {"blur", "nailbed", "cnorm"} <= types
    conv2a = m.graph.layers["conv2a"]
    assert len(conv2a.inputs) == 2
    assert m.layers["conv2a"].weights[0].shape[1:] == (3, 5, 5)  # nails0 path, 5x5 stride 2
    y = m.eval()(torch.randn(1, 3, 224, 224) * 60)
    assert y.shape == (1, 1000) and torch.isfinite(y).all()


# ------------------------------------------------------------------ def 145 two ways


@pytest.fixture(scope="module")
def pair145():
    alex = AlexNet2012(seed=3).eval()
    cfg = build_model("alexnet2012-cfg").eval()
    from_2012_matrices(cfg, to_2012_matrices(alex))
    return alex, cfg


def test_def145_cfg_net_equals_alexnet2012_forward(pair145):
    alex, cfg = pair145
    assert sum(p.numel() for p in cfg.parameters()) == 60_965_224
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224) * 60
    a, b = alex(x), cfg(x)
    # fp32: merged tower GEMMs vs per-input sums reorder additions; ~1e-6 relative
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * a.abs().max().item())


def test_def145_cfg_net_equals_alexnet2012_gradients(pair145):
    alex, cfg = pair145
    torch.manual_seed(1)
    x = torch.randn(1, 3, 224, 224) * 60
    y = torch.tensor([7])
    for m in (alex, cfg):
        m.zero_grad()
        F.cross_entropy(m(x), y).backward()
    ga = to_2012_matrices(alex, {g["name"]: g["param"].grad for g in alex.param_groups()})
    gb = to_2012_matrices(cfg, {g["name"]: g["param"].grad for g in cfg.param_groups()})
    assert set(ga) == set(gb)
    for k in ga:
        scale = max(np.abs(gb[k]).max(), 1e-12)
        # fp32 through 8 weight layers; relative to the largest gradient entry
        assert np.abs(ga[k] - gb[k]).max() / scale < 1e-3, k


def test_def145_learning_parameters_from_the_params_file(pair145):
    _, cfg = pair145
    groups = {g["name"]: g for g in cfg.param_groups()}
    assert len(groups) == 37
    assert groups["conv3b.weights[1]"]["eps"] == 0.01
    assert groups["fc1000.biases"]["eps"] == 0.02 and groups["fc1000.biases"]["wc"] == 0.0
    assert groups["conv2a.weights[0]"]["wc"] == 0.0005
    assert cfg.cost == {"type": "cost.logreg", "layer": "logprob", "coeff": 1.0, "topk": 5}


# ------------------------------------------------------------------ hand-built nets

def test_side_path_multi_input_conv_and_fc_by_hand(tiny_cfg):
    m = build_model(cfg=tiny_cfg("tiny-side-path").pair()).eval()
    assert m.input_shape == (3, 12, 12) and m.num_classes == 10
    assert m.cost["coeff"] == 2.0
    torch.manual_seed(2)
    x = torch.randn(2, 3, 12, 12)
    lay = {n: m.layers[n] for n in ("conv1", "conv2", "fcside", "fc10")}
    # blur: separable 3-tap Gaussian, zeros outside; nailbed: 6x6 from start (12-10)/2 = 1
    taps = torch.tensor(L.gaussian_taps(3, 1.0))
    k2 = (taps[:, None] * taps[None, :]).expand(3, 1, 3, 3)
    blur = F.conv2d(x, k2, padding=1, groups=3)
    nails = blur[:, :, 1::2, 1::2]
    assert nails.shape[-1] == 6
    # conv1: 1 + ceil((4 + 12 - 5)/2) = 7 outputs -> one extra zero row/column (ceil rule)
    c1 = F.relu(F.conv2d(F.pad(x, (2, 3, 2, 3)), lay["conv1"].weights[0], lay["conv1"].biases,
                         stride=2))
    assert c1.shape[-1] == 7
    # conv2 sums its two inputs' products, bias once; then tanh[1.7, 0.66]
    c2 = (F.conv2d(nails, lay["conv2"].weights[0], lay["conv2"].biases, padding=1)
          + F.conv2d(c1, lay["conv2"].weights[1]))
    c2 = 1.7 * torch.tanh(0.66 * c2)
    side = torch.clamp(F.linear(nails.flatten(1), lay["fcside"].weights[0],
                                lay["fcside"].biases), 0, 2)
    logits = (F.linear(c2.flatten(1), lay["fc10"].weights[0], lay["fc10"].biases)
              + F.linear(side, lay["fc10"].weights[1]))
    # fp32, a few layers deep
    assert torch.allclose(m(x), logits, rtol=1e-5, atol=1e-5)
    assert torch.all(lay["conv2"].biases == 0.5) and torch.all(lay["fc10"].biases == 0.25)


def test_norms_local_eltsum_concat_and_disabled_dropout_by_hand(tiny_cfg):
    m = build_model(cfg=tiny_cfg("tiny-misc").pair())
    m.train()  # hs2 has enable=false: it must scale by keep even in training
    torch.manual_seed(4)
    x = torch.randn(2, 3, 8, 8)
    ly = m.layers
    assert ly["conv1"].biases.shape == (16, 8, 8)  # sharedBiases=0: one per position
    assert ly["local2"].weights[0].shape == (16, 16 * 9, 16)  # (modules, C/groups*S*S, F)
    with torch.no_grad():
        ly["conv1"].biases.normal_()
    c1 = F.conv2d(x, ly["conv1"].weights[0], padding=1) + ly["conv1"].biases
    # cfg scales are divided by size (cmrnorm) / size² (rnorm, cnorm) as in 2012
    cmr = F.local_response_norm(c1, 3, 0.3, 0.75, 2.0)
    rn = L.response_norm(cmr, 3, 0.9, 0.75)
    cn = L.response_norm(rn, 2, 0.4, 0.5, centered=True)
    p1 = F.avg_pool2d(cn, 3, 2, ceil_mode=True).abs()  # 8 -> ceil(5/2)+1 = 4
    loc = F.softplus(L.local_unshared(p1, ly["local2"].weights[0], filter_size=3, stride=1,
                                      padding=1, groups=1, modules_x=4)
                     + ly["local2"].biases, threshold=4)
    s2 = (loc - 0.5 * p1) * 0.5
    cat = torch.cat([s2.flatten(1), p1.flatten(1)], 1)
    logits = F.linear(cat, ly["fc4"].weights[0], ly["fc4"].biases)
    # fp32 through three normalisations
    assert torch.allclose(m(x), logits, rtol=1e-4, atol=1e-6)
    mats = to_2012_matrices(m)
    assert mats["conv1.biases"].shape == (16 * 64, 1)  # (F*M, 1), index f*M + m
    assert mats["conv1.biases"][3 * 64 + 10, 0] == ly["conv1"].biases[3, 1, 2].item()
    assert mats["local2.weights[0]"].shape == (16 * 16 * 9, 16)
    assert mats["local2.biases"].shape == (16 * 16, 1)


def test_all_neuron_types_through_the_builder(tmp_path):
    specs = ["ident", "logistic", "abs", "relu", "nrelu", "softrelu", "square", "sqrt",
             "tanh[1.5,0.5]", "brelu[3]", "linear[2,1]", "drelu[2]"]
    parts = ["# @input 3x4x4\n# @classes 16\n[data]\ntype = data\ndataIdx = 0\n",
             "[labels]\ntype = data\ndataIdx = 1\n"]
    params = []
    names = [f"fc{i}" for i in range(len(specs))]
    for name, spec in zip(names, specs, strict=True):  # parallel branches on the data
        parts.append(f"[{name}]\ntype = fc\ninputs = data\noutputs = 16\ninitW = 0.1\n"
                     f"initB = 1\nneuron = {spec}\ngpu = 0\n")
        params.append(f"[{name}]\n{wp()}")
    parts.append(f"[cat]\ntype = concat\ninputs = {','.join(names)}\n")
    parts.append("[out]\ntype = fc\ninputs = cat\noutputs = 16\ninitW = 0.1\n")
    params.append(f"[out]\n{wp()}")
    parts.append("[probs]\ntype = softmax\ninputs = out\n")
    parts.append("[logprob]\ntype = cost.logreg\ninputs = labels,probs\ngpu = 0\n")
    params.append("[logprob]\ncoeff = 1\n")
    d = tmp_path / "layers-neurons.cfg"
    p = tmp_path / "layer-params-neurons.cfg"
    d.write_text("\n".join(parts))
    p.write_text("\n".join(params))
    m = build_model(cfg=(str(d), str(p))).eval()
    neurons = [m.layers[f"{n}_neuron"] for n in names]
    kinds = [(n.kind, n.a, n.b) for n in neurons]
    assert [k[0] for k in kinds] == [s.split("[")[0] for s in specs]
    assert kinds[8] == ("tanh", 1.5, 0.5) and kinds[9] == ("brelu", 3.0, 0.0)
    assert kinds[10] == ("linear", 2.0, 1.0) and kinds[11] == ("drelu", 2.0, 0.0)
    with torch.no_grad():
        m.layers["fc7"].weights[0].abs_()  # sqrt needs non-negative input
    x = torch.rand(3, 3, 4, 4)
    outs = []
    for name, neuron in zip(names, neurons, strict=True):
        fc = m.layers[name]
        outs.append(neuron(F.linear(x.flatten(1), fc.weights[0], fc.biases)))
    expected = F.linear(torch.cat(outs, 1), m.layers["out"].weights[0], m.layers["out"].biases)
    assert torch.allclose(m(x), expected, rtol=1e-5, atol=1e-6)
    # spot values of the formulas on the branch pre-activations
    pre = F.linear(x.flatten(1), m.layers["fc9"].weights[0], m.layers["fc9"].biases)
    assert torch.allclose(neurons[9](pre), pre.clamp(0, 3))
    pre = F.linear(x.flatten(1), m.layers["fc8"].weights[0], m.layers["fc8"].biases)
    assert torch.allclose(neurons[8](pre), 1.5 * torch.tanh(0.5 * pre))


def test_weight_source_shares_one_tensor(tiny_cfg):
    m = build_model(cfg=tiny_cfg("tiny-weight-source").pair())
    assert m.layers["fcC"].weights[0] is m.layers["fcB"].weights[0]
    names = [g["name"] for g in m.param_groups()]
    assert "fcC.weights[0]" not in names and "fcB.weights[0]" in names
    assert "fcC.weights[0]" not in to_2012_matrices(m)


# ------------------------------------------------------------------ errors


def _mini(tiny_cfg, extra_layer: str, consumer_input: str) -> str:
    """conv -> fc -> softmax (fixture ``tiny-mini``) with ``extra_layer`` inserted before
    the fc layer, which then reads ``consumer_input``."""
    text = tiny_cfg("tiny-mini").text
    fc = "[fc]\ntype = fc\ninputs = conv1\n"
    assert fc in text
    return text.replace(fc, f"{extra_layer}\n[fc]\ntype = fc\ninputs = {consumer_input}\n")


def test_unsupported_layer_raises_config_error_with_file_and_line(tmp_path, tiny_cfg):
    extra = "[rp]\ntype = pool\npool = rand\ninputs = conv1\nchannels = 16\nsizeX = 2\nstride = 2"
    params = f"[conv1]\n{wp()}\n[rp]\ndoMax = false\n[fc]\n{wp()}\n[logprob]\ncoeff = 1\n"
    d, p = write_pair(tmp_path, _mini(tiny_cfg, extra, "rp"), params)
    with pytest.raises(ConfigError, match=r"layers-net\.cfg:\d+: \[rp\].*rand") as e:
        build_model(cfg=(d, p))
    assert "\n" not in str(e.value)


def test_rgb2yuv_is_reported_not_approximated(tmp_path, tiny_cfg):
    definition = _mini(tiny_cfg, "", "conv1").replace(
        "[conv1]\ntype = conv\ninputs = data",
        "[yuv]\ntype = rgb2yuv\ninputs = data\ngpu = 0\n[conv1]\ntype = conv\ninputs = yuv")
    params = f"[conv1]\n{wp()}\n[fc]\n{wp()}\n[logprob]\ncoeff = 1\n"
    with pytest.raises(ConfigError, match=r"\[yuv\].*rgb2yuv"):
        build_model(cfg=write_pair(tmp_path, definition, params))


def test_missing_params_for_learning_rates(tmp_path, tiny_cfg):
    from alexnet.modern.cfgnet import CfgNet
    from alexnet.original.layer import parse_layers

    d, _ = write_pair(tmp_path, _mini(tiny_cfg, "", "conv1"), "")
    m = CfgNet(parse_layers(d))
    with pytest.raises(ConfigError, match="layer-params"):
        m.param_groups()
    assert m(torch.randn(1, 3, 8, 8)).shape == (1, 16)
    mats = to_2012_matrices(m)  # weights are still convertible without learning parameters
    assert mats["conv1.weights[0]"].shape == (27, 16) and mats["fc.biases"].shape == (1, 16)
    from_2012_matrices(m, mats)


def test_unknown_arch_and_options():
    with pytest.raises(ConfigError, match="unknown arch"):
        build_model("vgg16")
    with pytest.raises(ConfigError, match="unknown option"):
        build_model("cifar10-80sec", lrn_k=3)
    with pytest.raises(ConfigError):
        build_model()


def test_config_rebuilds_cfg_nets(tiny_cfg):
    m = build_model(cfg=tiny_cfg("tiny-side-path").pair(), seed=7)
    m2 = build_model(**m.config)
    assert m2.config == m.config
    for a, b in zip(m.parameters(), m2.parameters(), strict=True):
        assert torch.equal(a, b)
    c = build_model("cifar10-80sec", channels_last=True)
    assert build_model(**c.config).channels_last


def test_relu_runs_in_place_only_when_nobody_else_reads_its_input(tmp_path, tiny_cfg):
    # conv1 feeds an explicit relu layer AND an eltsum: the relu must not overwrite it
    extra = ("[r1]\ntype = neuron\ninputs = conv1\nneuron = relu\n"
             "[both]\ntype = eltsum\ninputs = conv1,r1\ncoeffs = 1,-1")
    params = f"[conv1]\n{wp()}\n[fc]\n{wp()}\n[logprob]\ncoeff = 1\n"
    m = build_model(cfg=write_pair(tmp_path, _mini(tiny_cfg, extra, "both"), params)).eval()
    assert m.layers["r1"].inplace is False
    x = torch.randn(2, 3, 8, 8)
    c1 = F.conv2d(x, m.layers["conv1"].weights[0], m.layers["conv1"].biases, padding=1)
    both = c1 - F.relu(c1)  # = min(c1, 0), non-zero only if conv1 was left intact
    expected = F.linear(both.flatten(1), m.layers["fc"].weights[0], m.layers["fc"].biases)
    assert torch.allclose(m(x), expected, rtol=1e-5, atol=1e-6)
    # the usual neuron= form: the producer's only consumer is its relu -> in place
    a = build_model("cifar10-80sec")
    assert a.layers["conv2_neuron"].inplace and a.layers["pool1_neuron"].inplace
