"""AlexNet2012: the network behind the paper's single-net numbers, as one PyTorch module.

This is layer definition 145 of the 2012 code (``layers/layers-145.cfg``;
``docs/architecture/index.md#architecture-layers``), the
run whose validation figures (40.7% / 18.2%) the paper
reports (paper §6). The two GPUs of 2012 are expressed as two channel groups ("towers"):
the first half of every layer's maps is GPU 0's ``...a`` layer, the second half GPU 1's
``...b`` layer. Layers that stayed on one GPU in 2012 (conv2, conv4, conv5, both LRNs)
are grouped convolutions/normalisations with ``groups=2``; layers that read both GPUs
(conv3 and the fully connected layers) are ordinary full layers, which is exactly the sum
of the per-input products of 2012 (the order of the float additions aside).

Layer by layer (code variant; paper section in brackets):

====================  ===============================================  ================
name                  operation                                        output (C,H,W)
====================  ===============================================  ================
conv1 [3.5]           2x48 filters 11x11 stride 4, 224 input padded    96 x 55 x 55
                      to 227 on the right/bottom only (ceil rule)
lrn1 [3.3]            cross-map LRN per tower on the LINEAR outputs    96 x 55 x 55
pool1 [3.4]           max 3x3 stride 2, then ReLU                      96 x 27 x 27
conv2                 2x128 filters 5x5 pad 2, groups=2, ReLU          256 x 27 x 27
lrn2                  cross-map LRN per tower                          256 x 27 x 27
rnorm2                same-map 5x5 normalisation (not in the paper)    256 x 27 x 27
pool2                 max 3x3 stride 2                                 256 x 13 x 13
conv3                 2x192 filters 3x3 pad 1 reading both towers      384 x 13 x 13
conv4, conv5          2x192 / 2x128 filters 3x3 pad 1, groups=2        384 / 256 x 13
pool3                 max 3x3 stride 2, then ReLU                      256 x 6 x 6
fc6, fc7              2x2048 each reading both towers, ReLU, dropout   4096
fc8                   1000 logits (softmax is in the loss)             1000
====================  ===============================================  ================

Variants. ``variant="code"`` is the 2012 code; ``variant="paper"`` is the network as the
paper's text describes it. Every difference is a named option that can also be set on
its own (the table is also :data:`VARIANTS`):

==========================  ==========  ==========  =====================================
option                      "code"      "paper"     meaning
==========================  ==========  ==========  =====================================
relu_before_lrn1            False       True        layer 1 is conv -> ReLU -> LRN -> pool
                                                    (paper §3.3) instead of conv -> LRN ->
                                                    pool -> ReLU (the LRN sees negative
                                                    responses; ledger row
                                                    ``lrn-before-relu-layer1``)
lrn_alpha_divided_by_n      True        False       coefficient on the window sum of
                                                    squares: alpha/n = 2e-5 (2012 parser
                                                    divides ``scale`` by size) or the
                                                    paper formula's alpha = 1e-4
extra_norm_after_conv2      True        False       same-map 5x5 ``rnorm`` (scale 1e-3/25,
                                                    pow 0.75, k 1) between LRN2 and pool2
                                                    (the cfg's ``cnorm2a/b``)
init_std_conv3_5            0.03        0.01        init std of conv3-conv5 (paper §5:
                                                    N(0, 0.01) everywhere)
eps_b                       0.02        0.01        starting bias learning rate (2012:
                                                    twice the weights'; paper: one rate)
dropout                     "2012"      "2012"      "2012": mask without rescaling while
                                                    training, x0.5 at test (paper §4.2);
                                                    "inverted": F.dropout's convention
pool_ties                   "all"       "one"       max-pool backward on exactly tied
                                                    maxima: every tied input gets the
                                                    gradient (2012 kernel) or one
                                                    (PyTorch; the paper does not say;
                                                    ledger ``maxpool-tie-gradient``)
==========================  ==========  ==========  =====================================

Shared by both: LRN size 5, alpha 1e-4, beta 0.75, k 2 (``lrn_k``), 224 input with
the ceil output rule, biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere,
init std 0.01 for conv1, conv2 and the fc layers, 60,965,224 parameters.

Performance (not semantics): activations after conv1 run channels-last by default
(oneDNN convolutions and pooling avoid layout conversions; conv1 itself stays NCHW because
oneDNN's weight gradient for a 3-channel channels-last input is slower), the LRNs and the
same-map normalisation are the fused functions of :mod:`alexnet.modern.layers`, ReLUs run
in place where autograd allows it. A training entry point should also call
:func:`alexnet.modern.tune_allocator` (see :mod:`alexnet.modern.allocator`).
``benchmarks/bench_train.py`` measures all of this against a plain eager implementation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexnet.layouts2012 import LAYERS_2012, Piece, alexnet2012_pieces
from alexnet.modern.layers import (
    Conv2012,
    conv2d_2012,
    cross_map_lrn,
    dropout2012,
    pool2012,
    response_norm,
)
from alexnet.modern.trace import LayerOutput

__all__ = ["AlexNet2012", "VARIANTS", "START_LAYER_PARAMS", "LAYERS_2012", "Piece"]

VARIANTS: dict[str, dict[str, Any]] = {
    "code": {
        "relu_before_lrn1": False,
        "lrn_alpha_divided_by_n": True,
        "extra_norm_after_conv2": True,
        "init_std_conv3_5": 0.03,
        "eps_b": 0.02,
        "dropout": "2012",
        "pool_ties": "all",
    },
    "paper": {
        "relu_before_lrn1": True,
        "lrn_alpha_divided_by_n": False,
        "extra_norm_after_conv2": False,
        "init_std_conv3_5": 0.01,
        "eps_b": 0.01,
        "dropout": "2012",
        "pool_ties": "one",
    },
}

#: Learning parameters of every weight layer when run 145 started
#: (docs/reference/recreation.md#recreation-training-schedule
#: step 1; our bundled ``layer-params-145.cfg``): epsW 0.01, momentum 0.9, weight decay
#: 0.0005 on weights only. ``eps_b`` comes from the variant.
START_LAYER_PARAMS = {"epsW": 0.01, "momW": 0.9, "momB": 0.9, "wc": 0.0005}

LRN_SIZE, LRN_ALPHA, LRN_BETA = 5, 1e-4, 0.75
RNORM_SIZE, RNORM_SCALE, RNORM_BETA = 5, 1e-3, 0.75
KEEP = 0.5


#: one step of AlexNet2012's forward pass: (layer name, kind, function of the input)
_Step = tuple[str, str, Callable[[Tensor], Tensor]]


class AlexNet2012(nn.Module):
    """Definition 145 (``variant="code"``) or the paper's description (``"paper"``).

    ``model(x)`` takes float32 NCHW 224x224 mean-subtracted raw 0-255 pixels and returns
    logits (N, 1000). ``train()`` gives 2012 dropout (mask, no rescaling); ``eval()``
    multiplies by keep. Options: see the module docstring; unknown options raise.
    ``init=False`` allocates the parameters without initialising them (no random numbers
    drawn), for callers that load weights right after.
    """

    arch_names = {"code": "alexnet2012", "paper": "alexnet2012-paper"}

    def __init__(
        self,
        variant: str = "code",
        *,
        relu_before_lrn1: bool | None = None,
        lrn_alpha_divided_by_n: bool | None = None,
        extra_norm_after_conv2: bool | None = None,
        init_std_conv3_5: float | None = None,
        eps_b: float | None = None,
        dropout: str | None = None,
        pool_ties: str | None = None,
        lrn_k: float = 2.0,
        num_classes: int = 1000,
        channels_last: bool = True,
        seed: int | None = 0,
        init: bool = True,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        given = {
            "relu_before_lrn1": relu_before_lrn1,
            "lrn_alpha_divided_by_n": lrn_alpha_divided_by_n,
            "extra_norm_after_conv2": extra_norm_after_conv2,
            "init_std_conv3_5": init_std_conv3_5,
            "eps_b": eps_b,
            "dropout": dropout,
            "pool_ties": pool_ties,
        }
        opts = {k: (VARIANTS[variant][k] if v is None else v) for k, v in given.items()}
        if opts["dropout"] not in ("2012", "inverted"):
            raise ValueError(f"dropout must be '2012' or 'inverted', not {opts['dropout']!r}")
        if opts["pool_ties"] not in ("all", "one"):
            raise ValueError(f"pool_ties must be 'all' or 'one', not {opts['pool_ties']!r}")
        #: the max pools' backward rule on exact ties (read by the verifier)
        self.pool_ties: str = opts["pool_ties"]
        self.variant = variant
        self.options: dict[str, Any] = opts
        self.lrn_k = float(lrn_k)
        self.num_classes = int(num_classes)
        self.channels_last = bool(channels_last)
        self.seed = seed
        self.input_shape = (3, 224, 224)
        self.arch = self.arch_names[variant]
        self.cost = {"type": "cost.logreg", "coeff": 1.0, "topk": 5}

        self.conv1 = Conv2012(3, 96, 11, stride=4)
        self.conv2 = Conv2012(96, 256, 5, padding=2, groups=2)
        self.conv3 = Conv2012(256, 384, 3, padding=1)
        self.conv4 = Conv2012(384, 384, 3, padding=1, groups=2)
        self.conv5 = Conv2012(384, 256, 3, padding=1, groups=2)
        # nn.Linear initialises itself from the global generator; skip_init does not
        linear = nn.Linear if init else functools.partial(nn.utils.skip_init, nn.Linear)
        self.fc6 = linear(256 * 6 * 6, 4096)
        self.fc7 = linear(4096, 4096)
        self.fc8 = linear(4096, self.num_classes)

        self.layer_params: dict[str, dict[str, float]] = {
            name: {**START_LAYER_PARAMS, "epsB": float(opts["eps_b"])} for name in LAYERS_2012
        }
        if init:
            self.reset_parameters(seed)

    # ----------------------------------------------------------------------------------
    @property
    def lrn_alpha(self) -> float:
        """The ``alpha`` handed to the LRN (which divides it by the window size)."""
        if self.options["lrn_alpha_divided_by_n"]:
            return LRN_ALPHA
        return LRN_ALPHA * LRN_SIZE

    @property
    def config(self) -> dict[str, Any]:
        """Rebuilds this network: ``build_model(**model.config)``."""
        return {
            "arch": self.arch,
            **self.options,
            "lrn_k": self.lrn_k,
            "num_classes": self.num_classes,
            "channels_last": self.channels_last,
            "seed": self.seed,
        }

    def init_stds(self) -> dict[str, float]:
        s35 = float(self.options["init_std_conv3_5"])
        return {"conv1": 0.01, "conv2": 0.01, "conv3": s35, "conv4": s35, "conv5": s35,
                "fc6": 0.01, "fc7": 0.01, "fc8": 0.01}

    def init_biases(self) -> dict[str, float]:
        return {"conv1": 0.0, "conv2": 1.0, "conv3": 0.0, "conv4": 1.0, "conv5": 1.0,
                "fc6": 1.0, "fc7": 1.0, "fc8": 0.0}

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = 0) -> None:
        """Weights ~ N(0, std²) per layer (std from :meth:`init_stds`), constant biases.

        With ``seed`` None the global torch generator is used.
        """
        gen = None
        if seed is not None:
            gen = torch.Generator().manual_seed(int(seed))
        stds, biases = self.init_stds(), self.init_biases()
        for name in LAYERS_2012:
            mod = getattr(self, name)
            mod.weight.normal_(0.0, stds[name], generator=gen)
            mod.bias.fill_(biases[name])

    # ----------------------------------------------------------------------------------
    def module_for(self, layer: str) -> nn.Module:
        """The module holding weight layer ``layer`` (a key of :data:`LAYERS_2012`); the
        other layers are functions without a module."""
        if layer not in LAYERS_2012:
            raise KeyError(f"{layer!r} is not a weight layer of AlexNet2012 (those are: "
                           f"{', '.join(LAYERS_2012)})")
        return getattr(self, layer)

    def _steps(self, inplace: bool) -> list[_Step]:
        """The forward pass as a list of layers, read from the options on every call (so
        a changed option takes effect at once). ``inplace``: ReLUs overwrite their input
        (the plain forward) or return a new tensor (the trace, whose entries must keep
        their values)."""
        o = self.options
        alpha, k = self.lrn_alpha, self.lrn_k
        relu = F.relu_ if inplace else F.relu

        def conv1(x: Tensor) -> Tensor:
            # conv1 runs on the NCHW input: oneDNN's weight gradient for a 3-channel
            # channels-last input is ~1.7x slower; everything after it runs channels-last
            x = conv2d_2012(x.contiguous(), self.conv1.weight, self.conv1.bias, stride=4)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return x

        def lrn(x: Tensor) -> Tensor:
            return cross_map_lrn(x, LRN_SIZE, alpha, LRN_BETA, k, groups=2)

        def rnorm(x: Tensor) -> Tensor:
            return response_norm(x, RNORM_SIZE, RNORM_SCALE, RNORM_BETA)

        def pool(x: Tensor) -> Tensor:
            return pool2012(x, "max", 3, 2, ties=self.pool_ties)

        def fc6(x: Tensor) -> Tensor:
            # flatten in (channel, y, x) order like 2012's fc input
            return self.fc6(x.flatten(1))

        def drop(x: Tensor) -> Tensor:
            return dropout2012(x, KEEP, self.training, o["dropout"])

        early = o["relu_before_lrn1"]
        steps: list[_Step | None] = [
            ("conv1", "conv", conv1),
            ("relu1", "relu", relu) if early else None,
            ("lrn1", "cmrnorm", lrn),
            ("pool1", "pool", pool),
            None if early else ("relu1", "relu", relu),
            ("conv2", "conv", self.conv2),
            ("relu2", "relu", relu),
            ("lrn2", "cmrnorm", lrn),
            ("rnorm2", "rnorm", rnorm) if o["extra_norm_after_conv2"] else None,
            ("pool2", "pool", pool),
            ("conv3", "conv", self.conv3),
            ("relu3", "relu", relu),
            ("conv4", "conv", self.conv4),
            ("relu4", "relu", relu),
            ("conv5", "conv", self.conv5),
            ("pool3", "pool", pool),
            ("relu5", "relu", relu),
            ("fc6", "fc", fc6),
            ("relu6", "relu", relu),
            ("drop6", "hs", drop),
            ("fc7", "fc", self.fc7),
            ("relu7", "relu", relu),
            ("drop7", "hs", drop),
            ("fc8", "fc", self.fc8),
        ]
        return [s for s in steps if s is not None]

    def forward(self, x: Tensor) -> Tensor:
        for _name, _kind, step in self._steps(inplace=True):
            x = step(x)
        return x

    def forward_with_trace(self, x: Tensor) -> tuple[Tensor, list[LayerOutput]]:
        """Logits and every layer's output in order (the layers of :meth:`summary`).

        The same computation as ``forward``, except that ReLUs are not done in place, so
        each entry keeps its own values and stays a node of the autograd graph: a caller
        may read the entries after the pass and register gradient hooks on them before
        calling ``backward`` (the equivalence verifier does both).
        """
        trace: list[LayerOutput] = []
        for name, kind, step in self._steps(inplace=False):
            x = step(x)
            trace.append(LayerOutput(name, kind, x))
        return x, trace

    # ----------------------------------------------------------------------------------
    def param_groups(self) -> list[dict[str, Any]]:
        """One entry per parameter tensor with its 2012 learning parameters (contract)."""
        out = []
        for name in LAYERS_2012:
            mod, lp = getattr(self, name), self.layer_params[name]
            out.append({"name": f"{name}.weights[0]", "layer": name, "param": mod.weight,
                        "kind": "weights", "eps": lp["epsW"], "mom": lp["momW"],
                        "wc": lp["wc"]})
            out.append({"name": f"{name}.biases", "layer": name, "param": mod.bias,
                        "kind": "biases", "eps": lp["epsB"], "mom": lp["momB"], "wc": 0.0})
        return out

    @torch.no_grad()
    def summary(self) -> list[dict[str, Any]]:
        """Every layer with its output shape (C, H, W) or (n,) and its parameter count."""
        was_training = self.training
        self.eval()
        try:
            _logits, trace = self.forward_with_trace(torch.zeros(1, *self.input_shape))
        finally:
            self.train(was_training)
        rows = []
        for name, kind, t in trace:
            shape = tuple(t.shape[1:])
            mod = getattr(self, name, None) if name in LAYERS_2012 else None
            n = sum(p.numel() for p in mod.parameters()) if mod is not None else 0
            towers = "+".join(LAYERS_2012.get(name, ()))
            rows.append({"name": name, "type": kind, "output_shape": list(shape), "params": n,
                         "layers_2012": towers})
        return rows

    @torch.no_grad()
    def activations(self, x: Tensor) -> dict[str, Tensor]:
        """Output of every layer of :meth:`summary` for input ``x`` (in the current
        train/eval mode), keyed by layer name: for inspection and for the tests that
        check each variant option against a hand composition."""
        _logits, trace = self.forward_with_trace(x)
        return {name: t for name, _, t in trace}

    def param_tensors(self) -> dict[str, Tensor]:
        """Port parameter (``param_groups`` name) -> its tensor."""
        return {g["name"]: g["param"] for g in self.param_groups()}

    def matrix_pieces(self) -> list[Piece]:
        """Where each def-145 matrix lives in our tensors (:mod:`alexnet.layouts2012`)."""
        return alexnet2012_pieces()
