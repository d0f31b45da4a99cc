"""``build_model``: every network of the port by name, or from any cfg pair.

Names (``available_archs()`` lists those usable in this installation):

* ``alexnet2012`` — layer definition 145 as a hand-written module
  (:class:`~alexnet.modern.net2012.AlexNet2012`, ``variant="code"``);
* ``alexnet2012-paper`` — the same module with the paper's description (``variant="paper"``);
* cfg-backed nets built by :class:`~alexnet.modern.cfgnet.CfgNet` from the project's
  bundled cfg files (:mod:`alexnet.original.cfgs`): ``alexnet2012-cfg`` (def 145 again,
  layer by layer, 2012 names), the 2011 CIFAR-10 example nets and the summer-2012
  competition family. A cfg-backed name is available only when its files are bundled.

``build_model(cfg=(def_path, params_path))`` builds any other cfg pair.
``build_model(**model.config)`` rebuilds a model (architecture and initialisation).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from torch import nn

from alexnet.errors import ConfigError

__all__ = ["build_model", "available_archs", "CFG_ARCHS", "MODULE_ARCHS"]

#: hand-written modules: arch -> AlexNet2012 variant
MODULE_ARCHS: dict[str, str] = {"alexnet2012": "code", "alexnet2012-paper": "paper"}

#: cfg-backed archs -> the bundled net name (files layers-<n>.cfg, layer-params-<n>.cfg)
CFG_ARCHS: dict[str, str] = {
    "alexnet2012-cfg": "145",
    "cifar10-80sec": "80sec",
    "cifar10-18pct": "18pct",
    "cifar10-19pct": "19pct",
    "cifar10-conv-local-13pct": "conv-local-13pct",
    "cifar10-conv-local-11pct": "conv-local-11pct",
    "summer-120": "120",
    "summer-131": "131",
    "summer-135": "135",
    "summer-137": "137",
}

#: what each arch is, for listings
DESCRIPTIONS: dict[str, str] = {
    "alexnet2012": "def 145, the paper's single net (2012 code), hand-written module",
    "alexnet2012-paper": "the same network as the paper's text describes it",
    "alexnet2012-cfg": "def 145 built layer by layer from the cfg (2012 layer names)",
    "cifar10-80sec": "2011 CIFAR-10 example: 26% error in 80 s",
    "cifar10-18pct": "2011 CIFAR-10 example: 18% error",
    "cifar10-19pct": "2011 CIFAR-10 example: 19% error",
    "cifar10-conv-local-13pct": "2011 CIFAR-10 example with local layers: 13% error",
    "cifar10-conv-local-11pct": "2011 CIFAR-10 example with local layers: 11% error",
    "summer-120": "summer-2012 competition family, def 120 (low-res side path, cnorm)",
    "summer-131": "summer-2012 family, def 131 (LRN before pool1)",
    "summer-135": "summer-2012 family, def 135 (LRN k = 2)",
    "summer-137": "summer-2012 family, def 137 (rnorm instead of cnorm)",
}

CFG_OPTIONS = ("seed", "channels_last", "dropout")


def _cfg_pair(arch: str) -> tuple[Path, Path] | None:
    from alexnet.original import cfgs

    try:
        return cfgs.pair(CFG_ARCHS[arch])
    except ConfigError:
        return None


def available_archs() -> list[str]:
    """Arch names usable here (cfg-backed ones only when their files are bundled)."""
    return list(MODULE_ARCHS) + [a for a in CFG_ARCHS if _cfg_pair(a) is not None]


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
    **options: Any,
) -> nn.Module:
    """A network by ``arch`` name or from a ``cfg=(definition, params)`` pair.

    AlexNet2012 options: see :mod:`alexnet.modern.net2012` (e.g. ``relu_before_lrn1``,
    ``dropout="inverted"``, ``seed``, ``channels_last``). cfg-backed options: ``seed``,
    ``channels_last``, ``dropout``; ``input_shape``/``num_classes`` override the cfg's
    ``# @input``/``# @classes`` lines. Unknown names and options raise ConfigError.
    """
    if (arch is None) == (cfg is None):
        raise ConfigError("give either an arch name or cfg=(layer definition, layer params)")
    if arch is not None and arch in MODULE_ARCHS:
        from alexnet.modern.net2012 import AlexNet2012

        allowed = tuple(
            p for p in inspect.signature(AlexNet2012).parameters if p not in ("variant",)
        )
        if num_classes is not None:
            options["num_classes"] = num_classes
        if input_shape is not None and tuple(input_shape) != (3, 224, 224):
            raise ConfigError(f"{arch} takes 3x224x224 input, not {input_shape}")
        _check_options(arch, options, allowed)
        return AlexNet2012(MODULE_ARCHS[arch], **options)

    from alexnet.modern.cfgnet import CfgNet
    from alexnet.original.layer import parse_layers

    if arch is not None:
        if arch not in CFG_ARCHS:
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
    return CfgNet(graph, arch=name, config=config, **options)
