"""Which port tensor answers to which 2012 layer.

The cfg-built port (:class:`~alexnet.modern.cfgnet.CfgNet`) keeps the 2012 layer names,
so its map is the identity. The hand-written :class:`~alexnet.modern.net2012.AlexNet2012`
joins the two GPUs of definition 145 into one tensor per layer (the first half of the
channels or units is GPU 0's ``...a`` layer, the second half GPU 1's ``...b`` layer) and
names layers by function (``lrn1``, ``relu2``); :func:`alexnet2012_map` lists, for each
of its layers, the 2012 layers it holds, in channel order. Weight layers take their tower
names from the conversion's table (:data:`alexnet.layouts2012.LAYERS_2012`), so only the
layers without weights are written here.
"""

from __future__ import annotations

from typing import Any

from alexnet.errors import ConfigError
from alexnet.layouts2012 import LAYERS_2012
from alexnet.modern.cfgnet import CfgNet

#: port layer -> (2012 layer names in channel order); for AlexNet2012, variant "code"
_NON_WEIGHT = {
    "lrn1": ("rnorm1a", "rnorm1b"),
    "pool1": ("pool1a", "pool1b"),
    "relu1": ("pool1a_neuron", "pool1b_neuron"),
    "relu2": ("conv2a_neuron", "conv2b_neuron"),
    "lrn2": ("rnorm2a", "rnorm2b"),
    "rnorm2": ("cnorm2a", "cnorm2b"),
    "pool2": ("pool2a", "pool2b"),
    "relu3": ("conv3a_neuron", "conv3b_neuron"),
    "relu4": ("conv4a_neuron", "conv4b_neuron"),
    "pool3": ("pool3a", "pool3b"),
    "relu5": ("pool3a_neuron", "pool3b_neuron"),
    "relu6": ("fc2048a_neuron", "fc2048b_neuron"),
    "drop6": ("hs1a", "hs1b"),
    "relu7": ("fc2048ba_neuron", "fc2048bb_neuron"),
    "drop7": ("hs2a", "hs2b"),
}


def alexnet2012_map() -> dict[str, tuple[str, ...]]:
    """Port layer -> 2012 layers (channel order) for AlexNet2012's "code" variant."""
    out = dict(_NON_WEIGHT)
    out.update({k: tuple(v) for k, v in LAYERS_2012.items()})
    return out


def port_map(model: Any, layers: dict[str, dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Port layer name -> the 2012 layers it holds, for the model's kind.

    Checks that every named 2012 layer exists in the reference graph, so a renamed layer
    on either side is an error here rather than a silently skipped comparison.
    """

    if isinstance(model, CfgNet):
        mapping = {name: (name,) for name, _key, _ins in model.plan}
    elif hasattr(model, "layers_2012"):   # a net that names its own 2012 layers
        mapping = model.layers_2012()
    else:
        variant = getattr(model, "variant", None)
        if variant != "code":

            raise ConfigError(f"no 2012 reference for AlexNet2012 variant {variant!r}: the "
                              "paper's description is not a 2012 layer definition (verify "
                              "'alexnet2012' or 'alexnet2012-cfg')")
        mapping = alexnet2012_map()
    missing = sorted({n for names in mapping.values() for n in names} - set(layers))
    if missing:
        raise KeyError(f"port layers map to 2012 layers absent from the reference graph: "
                       f"{missing[:5]}")
    return mapping
