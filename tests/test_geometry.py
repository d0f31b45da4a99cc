"""The output-size rules against the sizes the 2012 nets are known to have."""

from __future__ import annotations

import pytest

from alexnet import geometry as G
from alexnet.errors import AlexNetError
from alexnet.original import cfgs, layer

# Known map sizes per axis (the paper's 55/27/13/6 for the ImageNet nets; the CIFAR nets'
# 32 -> 16 -> 8 -> 4 on 32x32 images and 24 -> 12 -> 6 on their 24x24 crops).
KNOWN = {
    "145": {"conv1a": 55, "pool1a": 27, "conv2a": 27, "pool2a": 13, "conv3a": 13,
            "conv5b": 13, "pool3b": 6},
    "146": {"conv1b": 55, "pool1b": 27, "pool2b": 13, "pool3a": 6, "conv6a": 6},
    "18pct": {"conv1": 32, "pool1": 16, "conv2": 16, "pool2": 8, "conv3": 8, "pool3": 4},
    "80sec": {"conv1": 32, "pool1": 16, "pool2": 8, "pool3": 4},
    "conv-local-11pct": {"conv1": 24, "pool1": 12, "pool2": 6, "local3": 6, "local4": 6},
}


def _rule(d: dict) -> int:
    """The size the geometry module gives for a parsed layer dict."""
    if d["type"] in ("conv", "local"):
        sizes = {G.conv_output_size(img, filter_size=s, stride=st, padding=p)
                 for img, s, st, p in zip(d["imgSize"], d["filterSize"], d["stride"],
                                          d["padding"], strict=True)}
        assert len(sizes) == 1
        return sizes.pop()
    return G.pool_output_size(d["imgSize"], size=d["sizeX"], stride=d["stride"],
                              start=d["start"])


@pytest.mark.parametrize("net", sorted(KNOWN))
def test_rules_give_the_known_sizes_of_the_2012_nets(net):
    graph = layer.parse_layers(cfgs.pair(net)[0])
    for lay in graph:
        if lay.type not in ("conv", "local", "pool"):
            continue
        got = _rule(lay.d)
        assert lay.shape[1] == lay.shape[2] == got, lay.name
        if lay.name in KNOWN[net]:
            assert got == KNOWN[net][lay.name], lay.name
    missing = set(KNOWN[net]) - set(graph.layers)
    assert not missing


def test_conv_rule_rounds_up_like_2012():
    assert G.conv_output_size(224, filter_size=11, stride=4) == 55      # torch's floor: 54
    assert G.conv_extra_padding(224, filter_size=11, stride=4) == 3     # 227 = 54*4 + 11
    assert G.conv_output_size(227, filter_size=11, stride=4) == 55
    assert G.conv_extra_padding(227, filter_size=11, stride=4) == 0
    assert G.conv_output_size(27, filter_size=5, stride=1, padding=2) == 27
    assert G.conv_extra_padding(27, filter_size=5, stride=1, padding=2) == 0
    assert G.conv_output_size(32, filter_size=5, stride=1, padding=2) == 32
    for img in range(5, 40):
        for s in (1, 2, 3, 4):
            extra = G.conv_extra_padding(img, filter_size=5, stride=s, padding=1)
            assert 0 <= extra < s


def test_pool_rule_and_its_padding():
    assert [G.pool_output_size(n, size=3, stride=2) for n in (55, 27, 13, 32, 16, 8)] == \
        [27, 13, 6, 16, 8, 4]
    assert G.pool_output_size(24, size=3, stride=2) == 12
    # start shifts the windows; the last window of a 32 map at stride 2 overhangs by 1
    assert G.pool_padding(32, size=3, stride=2) == (0, 1)
    assert G.pool_padding(55, size=3, stride=2) == (0, 0)
    assert G.pool_padding(8, size=3, stride=2, start=-1) == (1, 0)
    assert G.pool_padding(8, size=3, stride=2, start=-1, outputs=5) == (1, 2)


def test_nailbed_samples_are_centred():
    assert G.nailbed_geometry(13, stride=2) == (7, 0)
    assert G.nailbed_geometry(12, stride=2) == (6, 1)
    assert G.nailbed_geometry(32, stride=4) == (8, 2)


def test_arguments_are_keyword_only_and_strides_positive():
    with pytest.raises(TypeError):
        G.pool_output_size(55, 3, 2)  # type: ignore[misc]
    with pytest.raises(TypeError):
        G.conv_output_size(224, 11, 4)  # type: ignore[misc]
    with pytest.raises(G.GeometryError, match="stride must be positive"):
        G.conv_output_size(10, filter_size=3, stride=0)
    with pytest.raises(ValueError):
        G.pool_output_size(10, size=3, stride=-1)
    assert issubclass(G.GeometryError, AlexNetError)
