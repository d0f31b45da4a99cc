"""A network written as one list of named steps: forward, per-layer trace and summary.

The imported architectures (:mod:`alexnet.modern.caffenets`, :mod:`alexnet.modern.owt`)
are plain chains of layers. Writing each as a list of ``(name, kind, function)`` steps
gives, from that single list, the forward pass, the output of every layer for inspection
and for the tests that compare a network with an independent composition, and the
``alexnet model summary`` table; no recording calls sit inside ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from alexnet.modern.trace import LayerOutput

__all__ = ["Step", "StepNet", "KIND_2012"]

#: a step's kind -> the 2012 layer type it answers to (the trace's ``kind``)
KIND_2012 = {"lrn": "cmrnorm", "relu": "neuron", "dropout": "hs"}


class Step(NamedTuple):
    name: str                      # e.g. "conv1", "relu1", "norm1"
    kind: str                      # "conv", "relu", "lrn", "pool", "fc", "dropout", ...
    fn: Callable[[Tensor], Tensor]


class StepNet(nn.Module):
    """Base class: subclasses define :meth:`steps` and the attributes the port's tools
    read (``arch``, ``config``, ``input_shape``, ``num_classes``, :meth:`param_groups`)."""

    arch: str
    input_shape: tuple[int, int, int]
    num_classes: int
    #: the layers that hold parameters, in order (their modules are attributes)
    weight_layers: tuple[str, ...] = ()

    def steps(self) -> list[Step]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        for step in self.steps():
            x = step.fn(x)
        return x

    def forward_with_trace(self, x: Tensor) -> tuple[Tensor, list[LayerOutput]]:
        """Logits and every step's output in order (:mod:`alexnet.modern.trace`): the
        steps never work in place, so each entry keeps its values and stays in the
        autograd graph (the verifier registers gradient hooks on them)."""
        trace: list[LayerOutput] = []
        for step in self.steps():
            x = step.fn(x)
            trace.append(LayerOutput(step.name, KIND_2012.get(step.kind, step.kind), x))
        return x, trace

    def param_tensors(self) -> dict[str, Tensor]:
        """Port parameter (``param_groups`` name) -> its tensor."""
        return {g["name"]: g["param"] for g in self.param_groups()}

    @torch.no_grad()
    def activations(self, x: Tensor) -> dict[str, Tensor]:
        """The output of every step for input ``x`` (in the current train/eval mode)."""
        out: dict[str, Tensor] = {}
        for step in self.steps():
            x = step.fn(x)
            out[step.name] = x.detach().clone()
        return out

    @torch.no_grad()
    def summary(self) -> list[dict[str, Any]]:
        """Every step with its output shape and parameter count (``alexnet model summary``)."""
        was_training = self.training
        self.eval()
        rows = []
        try:
            x = torch.zeros(1, *self.input_shape)
            for step in self.steps():
                x = step.fn(x)
                mod = getattr(self, step.name, None) if step.name in self.weight_layers else None
                n = sum(p.numel() for p in mod.parameters()) if mod is not None else 0
                rows.append({"name": step.name, "type": step.kind,
                             "output_shape": list(x.shape[1:]), "params": n,
                             "layers_2012": ""})
        finally:
            self.train(was_training)
        return rows

    #: constructor options that ``config`` records beside ``arch`` (attributes of the net)
    config_options: tuple[str, ...] = ()

    @property
    def config(self) -> dict[str, Any]:
        """Rebuilds this network: ``build_model(**model.config)``."""
        return {"arch": self.arch, **{k: getattr(self, k) for k in self.config_options}}

    def add_classifier(self, features: int, hidden: int, num_classes: int) -> None:
        """fc6, fc7 (``hidden`` units each) and fc8 (``num_classes`` logits) after
        ``features`` inputs: the three fully connected layers every AlexNet of 2012-2014
        ends with, whatever its convolutional part."""
        self.hidden, self.num_classes = int(hidden), int(num_classes)
        self.fc6 = nn.Linear(int(features), self.hidden)
        self.fc7 = nn.Linear(self.hidden, self.hidden)
        self.fc8 = nn.Linear(self.hidden, self.num_classes)

    def solver_groups(self, weights: dict[str, float], biases: dict[str, float]
                      ) -> list[dict[str, Any]]:
        """One entry per tensor of :attr:`weight_layers`, with the update rule's settings
        (``eps``, ``mom``, ``wc``) for weights and for biases: the trainer's contract."""
        out = []
        for name in self.weight_layers:
            mod = getattr(self, name)
            out.append({"name": f"{name}.weights[0]", "layer": name, "param": mod.weight,
                        "kind": "weights", **weights})
            out.append({"name": f"{name}.biases", "layer": name, "param": mod.bias,
                        "kind": "biases", **biases})
        return out
