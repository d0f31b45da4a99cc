"""AlexNet2012: shapes, parameter count, init, learning parameters, every variant option
against a hand composition, and the 2012 matrix layout. Forward passes at batch 1-2."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alexnet.errors import CheckpointError, ConfigError
from alexnet.layouts2012 import from_2012_matrices, to_2012_matrices
from alexnet.modern import AlexNet2012, build_model
from alexnet.modern.net2012 import VARIANTS


@pytest.fixture(scope="module")
def code_net():
    return _same_weights()


@pytest.fixture(scope="module")
def x1():
    torch.manual_seed(11)
    return torch.randn(1, 3, 224, 224) * 60.0


def _lrn_towers(x, alpha):
    return torch.cat([F.local_response_norm(t, 5, alpha, 0.75, 2.0) for t in x.chunk(2, 1)], 1)


# fp32 tolerance for comparisons against a re-composition with torch ops: different
# summation orders and the fused LRN's power evaluation give ~1e-6 relative differences.
RTOL, ATOL = 1e-4, 1e-5


def test_parameter_count_is_60965224_for_both_variants():
    for options in ({}, VARIANTS["paper"]):
        m = _same_weights(**options)
        assert sum(p.numel() for p in m.parameters()) == 60_965_224


def test_every_layer_shape(code_net):
    shapes = {r["name"]: tuple(r["output_shape"]) for r in code_net.summary()}
    assert shapes == {
        "conv1": (96, 55, 55), "lrn1": (96, 55, 55), "pool1": (96, 27, 27),
        "relu1": (96, 27, 27), "conv2": (256, 27, 27), "relu2": (256, 27, 27),
        "lrn2": (256, 27, 27), "rnorm2": (256, 27, 27), "pool2": (256, 13, 13),
        "conv3": (384, 13, 13), "relu3": (384, 13, 13), "conv4": (384, 13, 13),
        "relu4": (384, 13, 13), "conv5": (256, 13, 13), "pool3": (256, 6, 6),
        "relu5": (256, 6, 6), "fc6": (4096,), "relu6": (4096,), "drop6": (4096,),
        "fc7": (4096,), "relu7": (4096,), "drop7": (4096,), "fc8": (1000,),
    }
    per_layer = {r["name"]: r["params"] for r in code_net.summary() if r["params"]}
    # the paper-layout count, layer by layer (docs/architecture/index.md#architecture-layers,
    # the two towers added)
    assert per_layer == {"conv1": 34_944, "conv2": 307_456, "conv3": 885_120,
                         "conv4": 663_936, "conv5": 442_624, "fc6": 37_752_832,
                         "fc7": 16_781_312, "fc8": 4_097_000}


def test_forward_returns_logits_and_eval_is_deterministic(code_net, x1):
    a = code_net(x1)
    assert a.shape == (1, 1000) and a.dtype == torch.float32
    assert torch.equal(a, code_net(x1))


def test_training_mode_draws_dropout_masks(x1):
    m = _same_weights().train()
    try:
        torch.manual_seed(1)
        a = m(x1)
        torch.manual_seed(2)
        b = m(x1)
    finally:
        m.eval()
    assert not torch.equal(a, b)


def test_conv1_uses_the_ceil_rule(code_net, x1):
    acts = code_net.activations(x1)
    ref = F.conv2d(F.pad(x1, (0, 3, 0, 3)), code_net.conv1.weight, code_net.conv1.bias,
                   stride=4)
    assert acts["conv1"].shape[-1] == 55
    assert torch.allclose(acts["conv1"], ref, rtol=RTOL, atol=ATOL)


def test_code_variant_layer_order_by_hand_composition(code_net, x1):
    a = code_net.activations(x1)
    # conv1 -> LRN on linear outputs (alpha 1e-4 divided by 5) -> max pool -> ReLU
    assert (a["conv1"] < 0).any()
    lrn1 = _lrn_towers(a["conv1"], 1e-4)
    assert torch.allclose(a["lrn1"], lrn1, rtol=RTOL, atol=ATOL)
    assert torch.allclose(a["relu1"], F.relu(F.max_pool2d(lrn1, 3, 2)), rtol=RTOL, atol=ATOL)
    # conv2 + ReLU -> LRN -> same-map 5x5 (1 + 1e-3/25 * box sum)^-0.75 -> pool
    lrn2 = _lrn_towers(a["relu2"], 1e-4)
    d = 1 + 1e-3 / 25 * F.avg_pool2d(lrn2 ** 2, 5, 1, 2, count_include_pad=True) * 25
    assert torch.allclose(a["rnorm2"], lrn2 * d ** -0.75, rtol=RTOL, atol=ATOL)
    assert torch.allclose(a["pool2"], F.max_pool2d(a["rnorm2"], 3, 2), rtol=RTOL, atol=ATOL)
    # conv5 has no ReLU; pool3 then ReLU
    assert (a["conv5"] < 0).any()
    assert torch.allclose(a["relu5"], F.relu(F.max_pool2d(a["conv5"], 3, 2)))
    # eval dropout multiplies by 0.5 (2012 way)
    assert torch.allclose(a["drop6"], 0.5 * a["relu6"])


def test_towers_do_not_mix_in_conv2_conv4_conv5_but_do_in_conv3(code_net):
    assert code_net.conv2.groups == 2 and code_net.conv4.groups == 2
    assert code_net.conv5.groups == 2 and code_net.conv3.groups == 1
    assert code_net.conv2.weight.shape == (256, 48, 5, 5)
    assert code_net.conv3.weight.shape == (384, 256, 3, 3)


def test_init_as_the_cfg_says():
    m = _same_weights()
    for name, std in {"conv1": 0.01, "conv2": 0.01, "conv3": 0.03, "conv4": 0.03,
                      "conv5": 0.03, "fc6": 0.01, "fc7": 0.01, "fc8": 0.01}.items():
        w = getattr(m, name).weight
        # >= 34,848 samples per tensor: the sample std is within 2% of the true one
        assert w.std().item() == pytest.approx(std, rel=0.02), name
        assert abs(w.mean().item()) < std * 0.02, name
    for name, b in {"conv1": 0, "conv2": 1, "conv3": 0, "conv4": 1, "conv5": 1, "fc6": 1,
                    "fc7": 1, "fc8": 0}.items():
        assert torch.all(getattr(m, name).bias == b), name


def test_seed_makes_init_reproducible_and_config_rebuilds():
    a = _same_weights(relu_before_lrn1=True)
    b = build_model(**a.config)
    assert b.config == a.config
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(AlexNet2012(seed=6).conv1.weight, a.conv1.weight)


def test_param_groups_carry_the_start_values_of_run_145():
    groups = _same_weights().param_groups()
    assert len(groups) == 16
    names = [g["name"] for g in groups]
    assert names[:2] == ["conv1.weights[0]", "conv1.biases"]
    params = {id(p) for p in _same_weights().parameters()}
    assert len(params) == 16
    for g in groups:
        assert g["layer"] == g["name"].split(".")[0]
        if g["kind"] == "weights":
            assert (g["eps"], g["mom"], g["wc"]) == (0.01, 0.9, 0.0005)
        else:
            assert (g["eps"], g["mom"], g["wc"]) == (0.02, 0.9, 0.0)
    m = _same_weights()
    assert sum(g["param"].numel() for g in m.param_groups()) == 60_965_224


# ------------------------------------------------------------------ variant options


@functools.cache
def _cached(items):
    return AlexNet2012(seed=9, **dict(items)).eval()


def _same_weights(**kw):
    """Seed-9 nets, built once per option set (building one takes ~0.5 s); eval mode."""
    return _cached(tuple(sorted(kw.items())))


def test_paper_variant_is_exactly_the_listed_options():
    paper = AlexNet2012("paper", seed=9)
    spelled = _same_weights(**VARIANTS["paper"])
    assert paper.options == spelled.options
    for p, q in zip(paper.parameters(), spelled.parameters(), strict=True):
        assert torch.equal(p, q)
    x = torch.randn(1, 3, 224, 224) * 60
    assert torch.equal(paper.eval()(x), spelled.eval()(x))


def test_option_relu_before_lrn1(x1):
    base, opt = _same_weights(), _same_weights(relu_before_lrn1=True)
    a, b = base.activations(x1), opt.activations(x1)
    assert torch.equal(a["conv1"], b["conv1"])
    # paper order: conv -> ReLU -> LRN -> pool
    expected = F.max_pool2d(_lrn_towers(F.relu(b["conv1"]), 1e-4), 3, 2)
    assert torch.allclose(b["pool1"], expected, rtol=RTOL, atol=ATOL)
    assert not torch.allclose(a["relu1"], b["pool1"], rtol=1e-3)
    assert list(b)[:4] == ["conv1", "relu1", "lrn1", "pool1"]
    assert list(a)[:4] == ["conv1", "lrn1", "pool1", "relu1"]


def test_option_lrn_alpha_divided_by_n(x1):
    opt = _same_weights(lrn_alpha_divided_by_n=False)
    b = opt.activations(x1)
    # the paper's formula: k + 1e-4 * sum, i.e. torch's alpha = 1e-4 * 5
    assert torch.allclose(b["lrn1"], _lrn_towers(b["conv1"], 5e-4), rtol=RTOL, atol=ATOL)
    assert torch.allclose(b["lrn2"], _lrn_towers(b["relu2"], 5e-4), rtol=RTOL, atol=ATOL)
    assert opt.lrn_alpha == pytest.approx(5e-4) and _same_weights().lrn_alpha == 1e-4


def test_option_extra_norm_after_conv2(x1):
    b = _same_weights(extra_norm_after_conv2=False).activations(x1)
    assert "rnorm2" not in b
    assert torch.allclose(b["pool2"], F.max_pool2d(b["lrn2"], 3, 2))


def test_option_init_std_conv3_5():
    m = _same_weights(init_std_conv3_5=0.01)
    for name in ("conv3", "conv4", "conv5"):
        assert getattr(m, name).weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert m.conv1.weight.std().item() == pytest.approx(0.01, rel=0.02)


def test_option_eps_b():
    groups = AlexNet2012(eps_b=0.01).param_groups()
    assert {g["eps"] for g in groups if g["kind"] == "biases"} == {0.01}
    assert {g["eps"] for g in groups if g["kind"] == "weights"} == {0.01}


def test_option_dropout_inverted(x1):
    m = _same_weights(dropout="inverted")
    a = m.activations(x1)
    assert torch.equal(a["drop6"], a["relu6"])  # identity at test time
    m.train()
    torch.manual_seed(0)
    try:
        t = m.activations(x1)
    finally:
        m.eval()
    nz = t["drop6"] != 0
    assert torch.allclose(t["drop6"][nz], 2 * t["relu6"][nz])  # x / keep while training


def test_options_change_nothing_else(x1):
    # toggling an option on and off again gives back the code network exactly
    base = _same_weights()
    for key, value in VARIANTS["paper"].items():
        if key in ("init_std_conv3_5", "eps_b", "dropout", "pool_ties"):  # not the forward
            continue
        other = _same_weights(**{key: value})
        a, b = base.activations(x1), other.activations(x1)
        assert torch.equal(a["conv1"], b["conv1"]), key
        assert not torch.allclose(a["fc8"], b["fc8"]), key


def test_bad_options_raise():
    with pytest.raises(ValueError):
        AlexNet2012("cvpr")
    with pytest.raises(ValueError):
        AlexNet2012(dropout="gaussian")
    with pytest.raises(ConfigError):
        build_model("alexnet2012", lrn_beta=2)


def test_channels_last_is_only_a_speed_option(x1):
    a = _same_weights()(x1)
    b = _same_weights(channels_last=False)(x1)
    assert torch.allclose(a, b, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------ 2012 matrices


def test_2012_matrix_names_shapes_and_orders(code_net):
    mats = to_2012_matrices(code_net)
    expected = {
        "conv1a.weights[0]": (363, 48), "conv1b.biases": (48, 1),
        "conv2a.weights[0]": (1200, 128), "conv3a.weights[0]": (1152, 192),
        "conv3b.weights[1]": (1152, 192), "conv4b.weights[0]": (1728, 192),
        "conv5a.weights[0]": (1728, 128), "fc2048a.weights[1]": (4608, 2048),
        "fc2048bb.weights[0]": (2048, 2048), "fc1000.weights[1]": (2048, 1000),
        "fc1000.biases": (1, 1000),
    }
    for name, shape in expected.items():
        assert mats[name].shape == shape, name
    assert len(mats) == 37  # 8 conv/fc layers x 2 towers, conv3/fc layers read 2 inputs
    assert mats["conv1a.weights[0]"].flags.c_contiguous
    assert mats["fc2048a.weights[0]"].flags.f_contiguous
    assert sum(a.size for a in mats.values()) == 60_965_224


def test_2012_matrices_map_the_right_blocks(code_net):
    mats = to_2012_matrices(code_net)
    w3 = code_net.conv3.weight.detach()
    # conv3b reads (pool2a, pool2b): its weights[1] = GPU 1 filters x pool2b channels;
    # row index c*9 + y*3 + x, column = filter
    blk = w3[192:, 128:]
    assert np.array_equal(mats["conv3b.weights[1]"], blk.reshape(192, -1).T.numpy())
    assert mats["conv3b.weights[1]"][1 * 9 + 2 * 3 + 0, 5] == blk[5, 1, 2, 0].item()
    w7 = code_net.fc7.weight.detach()
    # fc2048bb lists hs1b first: weights[0] = its rows x the second input half
    assert np.array_equal(mats["fc2048bb.weights[0]"], w7[2048:, 2048:].T.numpy())
    assert np.array_equal(mats["fc2048bb.weights[1]"], w7[2048:, :2048].T.numpy())
    assert np.array_equal(mats["fc2048a.weights[1]"],
                          code_net.fc6.weight.detach()[:2048, 4608:].T.numpy())


def test_2012_matrices_round_trip_and_errors():
    a, b = _same_weights(), AlexNet2012(seed=2)
    from_2012_matrices(b, to_2012_matrices(a))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    mats = to_2012_matrices(a)
    mats["conv2a.weights[0]"] = mats["conv2a.weights[0]"][:-1]
    with pytest.raises(CheckpointError, match="conv2a.weights"):
        from_2012_matrices(b, mats)
    del mats["fc1000.biases"]
    with pytest.raises(CheckpointError, match="fc1000.biases"):
        from_2012_matrices(b, mats)


def test_2012_matrices_convert_velocities_too(code_net):
    vals = {g["name"]: torch.full_like(g["param"], 0.5) for g in code_net.param_groups()}
    mats = to_2012_matrices(code_net, vals)
    assert all(np.all(a == 0.5) for a in mats.values())
    back = from_2012_matrices(code_net, mats, load=False)
    assert torch.equal(back["fc6.weights[0]"], vals["fc6.weights[0]"])
