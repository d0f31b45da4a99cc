"""The one conversion between the 2012 matrices and the port's tensors.

Every architecture the port builds goes port -> 2012 -> port through
:mod:`alexnet.layouts2012` and must come back bit for bit; the layouts the 2012 side
uses without building the port (the per-cfg-layer naming, the hand-written module's
fixed layout) must be the ones the built port reports; the bundled trained weights make
the whole trip through a pickled 2012 checkpoint on disk.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet import layouts2012 as L
from alexnet import registry
from alexnet.errors import CheckpointError, ConfigError
from alexnet.modern import AlexNet2012, available_archs, build_model
from alexnet.original import cfgs
from alexnet.original import checkpoint as checkpoint2012
from alexnet.original.layer import parse_layers
from alexnet.verify import bundled


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().contiguous().view(torch.int32)


def _assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(_bits(a[k]), _bits(b[k])), k


@pytest.mark.parametrize("arch", available_archs())
def test_every_arch_round_trips_port_2012_port_bit_exactly(arch):
    model = build_model(arch)
    if not hasattr(model, "matrix_pieces"):   # a 2014 net the 2012 code cannot express
        assert registry.arch(arch).reference_net is None
        with pytest.raises(TypeError, match="no 2012 matrix layout"):
            L.to_2012_matrices(model)
        return
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    mats = {k: v.copy() for k, v in L.to_2012_matrices(model).items()}
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    L.from_2012_matrices(model, mats)
    _assert_same(before, model.state_dict())
    # the layout the 2012 side uses without building the port is the built port's
    layout = L.model_layout(model)
    assert set(layout.keys.values()) == set(model.state_dict())
    if isinstance(model, AlexNet2012):
        assert L.arch_layout(arch) == layout
        layers = {n: lay.d for n, lay in parse_layers(*cfgs.pair("145")).layers.items()}
        sd = L.layers_to_state_dict(L.arch_layout(arch), L.layers_from_port(model, layers))
        _assert_same(before, {k: torch.from_numpy(v) for k, v in sd.items()})
    elif registry.arch(arch).builder == "named":
        # Caffe's nets: one 2012 matrix per tensor, conv1 with its input channels
        # reversed (the port turns RGB into Caffe's BGR, the cfg net reads RGB)
        net = registry.reference_net(arch)
        layers = {n: lay.d for n, lay in parse_layers(*cfgs.pair(net)).layers.items()}
        tensors = L.layers_to_tensors(L.layers_from_port(model, layers), velocity=False)
        own = dict(model.param_tensors())
        own["conv1.weights[0]"] = own["conv1.weights[0]"].flip(1)
        _assert_same({k: torch.from_numpy(v) for k, v in tensors.items()}, own)
    else:
        with pytest.raises(ConfigError, match="built from a cfg"):
            L.arch_layout(arch)
        layers = {n: lay.d for n, lay in model.graph.layers.items()}
        assert L.layer_pieces(layers) == list(layout.pieces)
        assert L.layer_shapes(layers) == layout.shapes
        # the per-cfg-layer export of the 2012 layers is the port's own tensors
        tensors = L.layers_to_tensors(L.layers_from_port(model, layers), velocity=False)
        _assert_same({k: torch.from_numpy(v) for k, v in tensors.items()},
                     dict(model.param_tensors()))


def test_hand_written_archs_are_the_registrys_modules():
    hand = {a.name for a in registry.ARCHS.values() if a.builder == "module"}
    assert hand == {a for a in available_archs() if isinstance(build_model(a), AlexNet2012)}


@pytest.mark.parametrize("name", [n for n, w in registry.WEIGHTS.items()
                                  if isinstance(w.source, registry.BundledFile)])
def test_bundled_weights_cross_a_2012_checkpoint_and_back(name, tmp_path):
    b = bundled.load(name)
    model = build_model(**{**b.model_config, "arch": b.arch})
    bundled.restore_into(b, model)
    vel = b.velocities(model)
    graph = {n: lay.d for n, lay in model.graph.layers.items()}
    layers = checkpoint2012.through_checkpoint(L.layers_from_port(model, graph, vel), tmp_path)
    before = {k: v.detach().clone() for k, v in model.param_tensors().items()}
    back = L.from_2012_matrices(model, L.layer_matrices(layers), load=False)
    back_vel = L.from_2012_matrices(model, L.layer_matrices(layers, "weightsInc"), load=False)
    _assert_same(before, back)
    _assert_same(vel, back_vel)


def test_one_matrix_layouts_and_refusals():
    w = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)  # (F, C, S, S)
    m = L.matrix_from_port(w, "conv")
    assert m.shape == (12, 2) and m.flags.c_contiguous
    assert m[(1 * 2 + 0) * 2 + 1, 1] == w[1, 1, 0, 1]  # row c*S*S + y*S + x, column f
    fc = L.matrix_from_port(np.ones((4, 5), np.float32), "fc")
    assert fc.shape == (5, 4) and fc.flags.f_contiguous
    assert L.matrix_to_port(m, "conv", (2, 3, 2, 2)).tobytes() == w.tobytes()
    assert L.matrix_to_port(m, "conv", (3, 2, 2, 2)) is None
    pieces = [L.Piece("x.weights[0]", "x.weights[0]", "fc")]
    with pytest.raises(CheckpointError, match="no matrix 'x.weights"):
        L.port_from_2012(pieces, {}, {"x.weights[0]": (4, 5)})
    with pytest.raises(CheckpointError, match=r"x.weights\[0\] has shape \(4, 5\)"):
        L.port_from_2012(pieces, {"x.weights[0]": np.zeros((4, 5), np.float32)},
                         {"x.weights[0]": (4, 5)})
