"""The 2012 weight update and learning-rate schedules (paper section 5).

The paper writes the update as

    v <- mom * v - wc * eps * w - eps * <dL/dw>
    w <- w + v

and the 2012 code does exactly that for every weight matrix, with its own ``eps``,
``mom`` and ``wc`` taken from the layer-params file (biases: ``epsB``/``momB`` and no
decay at all). ``torch.optim.SGD`` is NOT the same rule: it keeps ``b <- mom * b + g``
and steps ``w <- w - lr * b``, so the learning rate multiplies the whole velocity,
including the part accumulated under the old rate. The two agree while ``eps`` is
constant and disagree right after a learning-rate change, which is exactly when the
2012 runs changed it (by hand, between sessions). :class:`Update2012` implements the
paper's rule, per tensor.

``eps == 0`` means frozen, as in 2012 (docs/reference/recreation.md#recreation-update): such a
tensor gets no
update at all, not even weight decay, and its velocity is left untouched.

Schedules replace the 2012 practice of stopping a run, editing the params file and
resuming: a list of rules ``{epoch, layers, factor | factorW | factorB | eps | epsW | epsB}``
evaluated
from the cfg's base rates, so the rate in force is a pure function of the epoch
(which makes resuming trivially exact).
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alexnet.errors import CheckpointError, ConfigError

# --------------------------------------------------------------------------------------
# The update rule


class Update2012(torch.optim.Optimizer):
    """The paper's momentum + weight-decay update, one parameter group per tensor.

    Build it from ``model.param_groups()`` (the contract with the network code): each
    entry names the tensor (``name``), its layer, its kind (weights/biases) and its
    ``eps``/``mom``/``wc``. The cfg value of ``eps`` is kept as ``base_eps`` so that a
    schedule can always be evaluated from the original rates.

    Velocities are allocated at construction (zeros, like the 2012 ``weightsInc``) so a
    checkpoint always has one per tensor.
    """

    def __init__(self, groups: Iterable[Mapping[str, Any]]):
        torch_groups = []
        seen: set[int] = set()
        for g in groups:
            p = g["param"]
            if id(p) in seen:
                raise ConfigError(f"parameter {g.get('name')!r} appears twice in param_groups()")
            seen.add(id(p))
            kind = g.get("kind", "weights")
            wc = float(g.get("wc", 0.0)) if kind == "weights" else 0.0
            torch_groups.append(
                {
                    "params": [p],
                    "name": str(g["name"]),
                    "layer": str(g.get("layer", str(g["name"]).split(".")[0])),
                    "kind": kind,
                    "eps": float(g["eps"]),
                    "base_eps": float(g["eps"]),
                    "mom": float(g["mom"]),
                    "wc": wc,
                }
            )
        if not torch_groups:
            raise ConfigError("the model has no trainable parameters (param_groups() is empty)")
        super().__init__(torch_groups, defaults={})
        for group in self.param_groups:
            p = group["params"][0]
            self.state[p]["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        """One update of every tensor whose ``eps`` is non-zero and that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            eps = group["eps"]
            if eps == 0.0:
                continue  # frozen: no gradient step, no decay, velocity kept (2012 section 6.5)
            p = group["params"][0]
            if p.grad is None:
                continue
            v = self.state[p]["velocity"]
            v.mul_(group["mom"])
            if group["wc"] != 0.0:
                v.add_(p, alpha=-group["wc"] * eps)
            v.add_(p.grad, alpha=-eps)
            p.add_(v)
        return loss

    def velocities(self) -> dict[str, torch.Tensor]:
        """Tensor name -> velocity buffer (for checkpoints)."""
        return {g["name"]: self.state[g["params"][0]]["velocity"] for g in self.param_groups}

    def load_velocities(self, tensors: Mapping[str, torch.Tensor], *, source: str = "") -> None:
        """Restore velocities saved by :meth:`velocities` (names and shapes must match)."""

        mine = self.velocities()
        missing = sorted(set(mine) - set(tensors))
        extra = sorted(set(tensors) - set(mine))
        if missing or extra:
            raise CheckpointError(
                f"{source}: velocity buffers do not match the model "
                f"(missing {missing[:3]}, unexpected {extra[:3]})"
            )
        for name, v in mine.items():
            t = tensors[name]
            if t.shape != v.shape:
                raise CheckpointError(
                    f"{source}: velocity {name!r} has shape {tuple(t.shape)}, "
                    f"the model needs {tuple(v.shape)}"
                )
            v.copy_(t)

    def rates(self) -> dict[str, float]:
        """Tensor name -> eps in force."""
        return {g["name"]: g["eps"] for g in self.param_groups}


# --------------------------------------------------------------------------------------
# Schedules

_RULE_KEYS = {"epoch", "layers", "factor", "factorW", "factorB", "eps", "epsW", "epsB",
              "color_noise", "note"}
_VALUE_KEYS = ("factor", "factorW", "factorB", "eps", "epsW", "epsB", "color_noise")


@dataclass(frozen=True)
class Rule:
    """From ``epoch`` completed epochs on, change the rates of the matching tensors.

    ``factor`` multiplies the rate in force of weights and biases, ``factorW`` /
    ``factorB`` only that of one kind (the 2012 runs annealed epsW and mostly left epsB
    alone); ``eps`` sets weights and biases, ``epsW``/``epsB`` only one kind (a 2012
    params file gives both). ``color_noise``
    changes the PCA colour-noise scale (the 2012 runs switched it off near the end).
    """

    epoch: int
    layers: tuple[str, ...] = ("all",)
    factor: float | None = None
    factorW: float | None = None  # noqa: N815 (the cfg's spelling, like epsW)
    factorB: float | None = None  # noqa: N815
    eps: float | None = None
    epsW: float | None = None  # the cfg's spelling
    epsB: float | None = None
    color_noise: float | None = None
    note: str = ""

    def matches(self, layer: str, name: str) -> bool:
        for pat in self.layers:
            if pat == "all" or fnmatch.fnmatchcase(layer, pat) or fnmatch.fnmatchcase(name, pat):
                return True
        return False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"epoch": self.epoch, "layers": list(self.layers)}
        for k in _VALUE_KEYS:
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Schedule:
    """An ordered list of :class:`Rule`; rules with equal epochs apply in file order."""

    rules: tuple[Rule, ...] = ()
    source: str = ""

    def ordered(self) -> list[Rule]:
        return sorted(self.rules, key=lambda r: r.epoch)  # sorted() is stable

    def eps_for(self, base_eps: float, layer: str, name: str, kind: str, epoch: int) -> float:
        """The rate of one tensor during (0-based) epoch ``epoch``."""
        eps = base_eps
        for r in self.ordered():
            if r.epoch > epoch or not r.matches(layer, name):
                continue
            if r.eps is not None:
                eps = r.eps
            if kind == "weights" and r.epsW is not None:
                eps = r.epsW
            if kind == "biases" and r.epsB is not None:
                eps = r.epsB
            if r.factor is not None:
                eps *= r.factor
            if kind == "weights" and r.factorW is not None:
                eps *= r.factorW
            if kind == "biases" and r.factorB is not None:
                eps *= r.factorB
        return eps

    def color_noise_for(self, base: float, epoch: int) -> float:
        c = base
        for r in self.ordered():
            if r.epoch <= epoch and r.color_noise is not None:
                c = r.color_noise
        return c

    def apply(self, opt: Update2012, epoch: int) -> None:
        """Set every group's ``eps`` for epoch ``epoch`` (0-based) from its base rate."""
        for g in opt.param_groups:
            g["eps"] = self.eps_for(g["base_eps"], g["layer"], g["name"], g["kind"], epoch)

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.rules]


#: Schedules the 2011/2012 notes describe, by name (usable wherever a file is).
PRESETS: dict[str, list[dict[str, Any]]] = {
    "none": [],
    # layer-params-80sec.cfg of the 2011 release: "reduce the learning rate after 8
    # epochs by a factor of 10" (the run is ~10 epochs long).
    "cifar10-80sec": [{"epoch": 8, "layers": "all", "factor": 0.1}],
    # layer-params-18pct.cfg: every rate divided by 10 after 120 and again after 130 epochs.
    "cifar10-18pct": [{"epoch": 120, "layers": "all", "factor": 0.1},
                      {"epoch": 130, "layers": "all", "factor": 0.1}],
    # layer-params-conv-local-11pct.cfg notes, on all 50,000 images: epsW 0.0001 after
    # 500 epochs, 0.00001 after 510 (the bias rates are not lowered).
    "cifar10-conv-local-11pct": [{"epoch": 500, "layers": "all", "epsW": 0.0001},
                                 {"epoch": 510, "layers": "all", "epsW": 0.00001}],
    # Run 145 (docs/reference/recreation.md#recreation-training-schedule, layer-params-145
    # notes) at the epochs of run4.sh: three global drops of epsW (epsB stays at 0.02),
    # conv1's epsW lowered with colour noise off, then conv1 frozen, biases included.
    "alexnet2012": [
        {"epoch": 22, "layers": "all", "factorW": 0.1},
        {"epoch": 49, "layers": "all", "factorW": 0.1},
        {"epoch": 66, "layers": "conv1*", "factorW": 0.1, "color_noise": 0.0},
        {"epoch": 73, "layers": "conv1*", "eps": 0.0},
        {"epoch": 81, "layers": "all", "factorW": 0.1},
    ],
    # The 120 family (run4.sh's own run): the same, except that epsB was lowered once,
    # with epsW at the first drop (0.02 -> 0.002).
    "alexnet2012-run4": [
        {"epoch": 22, "layers": "all", "factor": 0.1},
        {"epoch": 49, "layers": "all", "factorW": 0.1},
        {"epoch": 66, "layers": "conv1*", "factorW": 0.1, "color_noise": 0.0},
        {"epoch": 73, "layers": "conv1*", "eps": 0.0},
        {"epoch": 81, "layers": "all", "factorW": 0.1},
    ],
}


def _num(value: Any, where: str, key: str, *, nonneg: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}", path=where)
    if nonneg and value < 0:
        raise ConfigError(f"{key} must be >= 0, got {value!r}", path=where)
    return float(value)


def parse_schedule(data: Any, source: str = "<schedule>") -> Schedule:
    """Validate a decoded schedule (a list of rules, or ``{"rules": [...]}``)."""
    if isinstance(data, Mapping) and "rules" in data:
        data = data["rules"]
    if data is None:
        data = []
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise ConfigError("a schedule is a list of rules {epoch, layers, factor|eps}", path=source)
    rules = []
    for i, item in enumerate(data):
        where = f"{source} rule {i + 1}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"expected a mapping, got {item!r}", path=where)
        unknown = set(item) - _RULE_KEYS
        if unknown:
            raise ConfigError(
                f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}", path=where
            )
        if "epoch" not in item:
            raise ConfigError("missing 'epoch' (completed epochs after which it applies)",
                              path=where)
        epoch = item["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ConfigError(f"epoch must be an integer >= 0, got {epoch!r}", path=where)
        layers = item.get("layers", "all")
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, Sequence) or not layers or not all(
            isinstance(x, str) and x for x in layers
        ):
            raise ConfigError(f"layers must be 'all', a glob or a list of globs, got {layers!r}",
                              path=where)
        vals = {k: _num(item[k], where, k) for k in _VALUE_KEYS if k in item}
        if not vals:
            raise ConfigError(f"a rule needs {', '.join(_VALUE_KEYS[:-1])} or "
                              f"{_VALUE_KEYS[-1]}", path=where)
        rules.append(Rule(epoch=epoch, layers=tuple(layers), note=str(item.get("note", "")),
                          **vals))
    return Schedule(rules=tuple(rules), source=source)


def load_schedule(spec: str | Path | None) -> Schedule:
    """A preset name (:data:`PRESETS`), or a YAML/JSON file of rules."""
    if spec is None or spec == "":
        return Schedule()
    if isinstance(spec, str) and spec in PRESETS and not Path(spec).exists():
        return parse_schedule(PRESETS[spec], source=f"preset {spec}")
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"no such schedule file (and not a preset: {', '.join(sorted(PRESETS))})", path=path
        )
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"not valid YAML/JSON: {first}", path=path) from None
    return parse_schedule(data, source=str(path))
