"""The port's public per-layer access: ``forward_with_trace`` on both kinds of network,
``build_model(init=False)``, and ``module_for`` / ``layer_modules``."""

from __future__ import annotations

import pytest
import torch

from alexnet.modern import build_model
from alexnet.modern.cfgnet import CfgNet
from alexnet.modern.net2012 import LAYERS_2012, AlexNet2012
from alexnet.modern.trace import LayerOutput
from alexnet.original.layer import parse_layers


@pytest.fixture(scope="module")
def alexnet():
    return build_model("alexnet2012").eval()


@pytest.fixture(scope="module")
def cifar():
    return build_model("cifar10-80sec").eval()


def test_alexnet2012_trace_names_kinds_shapes_and_logits(alexnet):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224) * 50
    with torch.no_grad():
        logits, trace = alexnet.forward_with_trace(x)
        plain = alexnet(x)
    rows = alexnet.summary()
    assert all(isinstance(t, LayerOutput) for t in trace)
    assert [t.name for t in trace] == [r["name"] for r in rows]
    assert [t.kind for t in trace] == [r["type"] for r in rows]
    assert [list(t.tensor.shape[1:]) for t in trace] == [r["output_shape"] for r in rows]
    assert trace[-1].tensor is logits
    assert torch.equal(logits, plain)
    by = {t.name: t.tensor for t in trace}
    # no entry was overwritten by a later in-place ReLU
    assert (by["conv1"] < 0).any() and (by["pool1"] < 0).any()
    assert torch.equal(by["relu1"], torch.relu(by["pool1"]))


def test_alexnet2012_paper_variant_trace_follows_its_order():
    m = build_model("alexnet2012-paper", init=False)   # only the layer order is looked at
    names = [r["name"] for r in m.summary()]
    assert names[:4] == ["conv1", "relu1", "lrn1", "pool1"] and "rnorm2" not in names


def test_trace_entries_receive_their_own_gradients(alexnet):
    x = torch.randn(2, 3, 224, 224) * 50
    logits, trace = alexnet.forward_with_trace(x)
    grads = {}
    for name, _kind, t in trace:
        t.register_hook(lambda g, name=name: grads.__setitem__(name, g))
    logits.sum().backward()
    alexnet.zero_grad(set_to_none=True)
    assert set(grads) == {t.name for t in trace}
    by = {t.name: t.tensor for t in trace}
    # through a ReLU: the gradient at its input is the output's where the input is positive
    g_in = grads["relu6"] * (by["fc6"] > 0)
    assert torch.allclose(grads["fc6"], g_in)


def test_cfgnet_trace_lists_every_layer_module(cifar):
    x = torch.randn(3, 3, 32, 32) * 50
    with torch.no_grad():
        logits, trace = cifar.forward_with_trace(x)
        plain = cifar(x)
    assert [t.name for t in trace] == [name for name, _ in cifar.layer_modules()]
    assert [t.kind for t in trace] == [cifar.graph.layers[t.name].type for t in trace]
    for t in trace:
        assert tuple(t.tensor.shape[1:]) in (tuple(cifar.graph.layers[t.name].shape),
                                             (cifar.graph.layers[t.name].outputs,))
    assert torch.equal(logits, plain)
    by = {t.name: t.tensor for t in trace}
    assert (by["conv1"] < 0).any()         # its in-place ReLU ran on a copy


def test_init_false_draws_nothing(monkeypatch):
    shapes = {k: v.shape for k, v in build_model("cifar10-80sec").state_dict().items()}

    def refuse(self, seed=0):
        raise AssertionError("reset_parameters called")

    monkeypatch.setattr(AlexNet2012, "reset_parameters", refuse)
    monkeypatch.setattr(CfgNet, "reset_parameters", refuse)
    state = torch.get_rng_state()
    a = build_model("alexnet2012", init=False)
    c = build_model("cifar10-80sec", init=False, seed=None)
    assert torch.equal(state, torch.get_rng_state())
    assert sum(p.numel() for p in a.parameters()) == 60_965_224
    assert {k: v.shape for k, v in c.state_dict().items()} == shapes
    assert "init" not in a.config and "init" not in c.config


def test_init_true_still_draws_from_the_global_generator_for_seedless_builds():
    torch.manual_seed(3)
    a = build_model("cifar10-80sec", seed=None)
    torch.manual_seed(3)
    b = build_model("cifar10-80sec", seed=None)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_module_for(alexnet, cifar):
    for name in LAYERS_2012:
        assert alexnet.module_for(name) is getattr(alexnet, name)
    with pytest.raises(KeyError):
        alexnet.module_for("lrn1")
    for name, mod in cifar.layer_modules():
        assert cifar.module_for(name) is mod
    with pytest.raises(KeyError):
        cifar.module_for("nope")


def test_module_for_names_with_dots():
    """A detached neuron may be named ``<layer>_neuron.1``; module keys cannot hold '.'."""
    text = "\n".join([
        "# @input 3x8x8", "# @classes 4",
        "[data]", "type = data", "dataIdx = 0",
        "[labels]", "type = data", "dataIdx = 1",
        "[fc1]", "type = fc", "inputs = data", "outputs = 6", "initW = 0.1", "neuron = relu",
        "[fc1_neuron]", "type = neuron", "inputs = fc1", "neuron = abs",
        "[fc2]", "type = fc", "inputs = fc1_neuron", "outputs = 4", "initW = 0.1",
        "[probs]", "type = softmax", "inputs = fc2",
        "[logprob]", "type = cost.logreg", "inputs = labels, probs", ""])
    net = CfgNet(parse_layers("dots.cfg", def_text=text))
    names = [name for name, _ in net.layer_modules()]
    assert "fc1_neuron.1" in names
    assert net.module_for("fc1_neuron.1") is dict(net.layer_modules())["fc1_neuron.1"]
