"""``build_model``: every network of the port by name, or from any cfg pair.

Names are those of :data:`alexnet.registry.ARCHS`, which says how each is built
(``available_archs()`` lists those usable in this installation):

* ``alexnet2012`` — layer definition 145 as a hand-written module
  (:class:`~alexnet.modern.net2012.AlexNet2012`, ``variant="code"``);
* ``alexnet2012-paper`` — the same module with the paper's description (``variant="paper"``);
* cfg-backed nets built by :class:`~alexnet.modern.cfgnet.CfgNet` from the project's
  bundled cfg files (:mod:`alexnet.original.cfgs`): ``alexnet2012-cfg`` (def 145 again,
  layer by layer, 2012 names), the 2011 CIFAR-10 example nets and the summer-2012
  competition family. A cfg-backed name is available only when its files are bundled.

* named nets (builder ``"named"``): the layouts of the published weights the importers
  read, each its own class found by name in :data:`NAMED`: ``bvlc-alexnet`` and
  ``bvlc-caffenet`` (:class:`~alexnet.modern.caffenets.BVLCNet`), ``alexnet-owt``
  (:class:`~alexnet.modern.owt.AlexNetOWT`).

``build_model(cfg=(def_path, params_path))`` builds any other cfg pair.
``build_model(**model.config)`` rebuilds a model (architecture and initialisation).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from torch import nn

from alexnet import registry
from alexnet.errors import ConfigError
from alexnet.modern.caffenets import CAFFE_ARCHS, BVLCNet
from alexnet.modern.cfgnet import CfgNet
from alexnet.modern.net2012 import AlexNet2012
from alexnet.modern.owt import AlexNetOWT
from alexnet.original import cfgs
from alexnet.original.layer import parse_layers

__all__ = ["build_model", "available_archs", "NAMED"]

CFG_OPTIONS = ("seed", "channels_last", "dropout")


#: arch name -> the class building a ``"named"`` architecture, and the arguments that
#: pick it (the rest are ``model.config`` minus ``arch``, and ``init``)
NAMED: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    **{a: (BVLCNet, {"arch": a}) for a in CAFFE_ARCHS},
    "alexnet-owt": (AlexNetOWT, {}),
}


def _cfg_pair(arch: str) -> tuple[Path, Path] | None:
    """The bundled cfg pair of a cfg-built arch, or None when it is not bundled here."""
    try:
        return cfgs.pair(str(registry.ARCHS[arch].cfg_net))
    except ConfigError:
        return None


def available_archs() -> list[str]:
    """Arch names usable here (cfg-backed ones only when their files are bundled), in the
    registry's order."""
    return [a.name for a in registry.ARCHS.values()
            if a.builder in ("module", "named") or _cfg_pair(a.name) is not None]


def _check_options(arch: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown option {unknown[0]!r} for arch {arch!r} (known: {', '.join(allowed)})"
        )


def build_model(
    arch: str | None = None,
    *,
    cfg: tuple[str | Path, str | Path] | list[str] | None = None,
    input_shape: tuple[int, int, int] | list[int] | None = None,
    num_classes: int | None = None,
    init: bool = True,
    **options: Any,
) -> nn.Module:
    """A network by ``arch`` name or from a ``cfg=(definition, params)`` pair.

    AlexNet2012 options: see :mod:`alexnet.modern.net2012` (e.g. ``relu_before_lrn1``,
    ``dropout="inverted"``, ``seed``, ``channels_last``). cfg-backed options: ``seed``,
    ``channels_last``, ``dropout``; ``input_shape``/``num_classes`` override the cfg's
    ``# @input``/``# @classes`` lines. Unknown names and options raise ConfigError.
    ``init=False`` allocates the parameters without initialising them (no random numbers
    drawn), for callers that load weights right after; ``model.config`` is the same.
    """
    if (arch is None) == (cfg is None):
        raise ConfigError("give either an arch name or cfg=(layer definition, layer params)")
    spec = registry.ARCHS.get(arch) if arch is not None else None
    if spec is not None and spec.builder == "module":

        allowed = tuple(
            p for p in inspect.signature(AlexNet2012).parameters if p not in ("variant", "init")
        )
        if num_classes is not None:
            options["num_classes"] = num_classes
        if input_shape is not None and tuple(input_shape) != spec.input_shape:
            size = "x".join(str(v) for v in spec.input_shape)
            raise ConfigError(f"{arch} takes {size} input, not {input_shape}")
        _check_options(arch, options, allowed)
        return AlexNet2012(spec.variant, init=init, **options)
    if spec is not None and spec.builder == "named":
        return _build_named(spec, input_shape, num_classes, init, options)

    if arch is not None:
        if spec is None:
            raise ConfigError(
                f"unknown arch {arch!r} (available: {', '.join(available_archs())})"
            )
        pair = _cfg_pair(arch)
        if pair is None:
            raise ConfigError(f"arch {arch!r} needs cfg files that are not bundled in this "
                              f"installation (available: {', '.join(available_archs())})")
        config: dict[str, Any] = {"arch": arch}
        name = arch
    else:
        if len(cfg) != 2:
            raise ConfigError("cfg must be (layer definition file, layer params file)")
        pair = (Path(cfg[0]), Path(cfg[1]))
        for p in pair:
            if not p.is_file():
                raise ConfigError("no such cfg file", path=p)
        config = {"cfg": [str(pair[0].resolve()), str(pair[1].resolve())]}
        name = "cfg:" + pair[0].name
    if input_shape is not None:
        config["input_shape"] = [int(v) for v in input_shape]
    if num_classes is not None:
        config["num_classes"] = int(num_classes)
    _check_options(name, options, CFG_OPTIONS)
    graph = parse_layers(
        pair[0], pair[1],
        input_shape=tuple(input_shape) if input_shape is not None else None,
        num_classes=num_classes,
    )
    return CfgNet(graph, arch=name, config=config, init=init, **options)


def _build_named(spec: registry.ArchSpec, input_shape: Any, num_classes: int | None,
                 init: bool, options: dict[str, Any]) -> nn.Module:
    cls, fixed = NAMED[spec.name]
    allowed = tuple(p for p in inspect.signature(cls).parameters
                    if p not in ("init", *fixed))
    if input_shape is not None and tuple(input_shape) != spec.input_shape:
        size = "x".join(str(v) for v in spec.input_shape)
        raise ConfigError(f"{spec.name} takes {size} input, not {tuple(input_shape)}")
    if num_classes is not None:
        options["num_classes"] = num_classes
    _check_options(spec.name, options, allowed)
    return cls(init=init, **fixed, **options)
