"""params.yaml of the reproduction pipeline: profiles and data sets, validated.

The pipeline's commands (``alexnet fetch``, ``prepare``, ``pipeline train|evaluate|verify``,
``report``) receive only ``--profile NAME`` from dvc.yaml and read their settings here,
the way DVC's own examples have each script read params.yaml. dvc.yaml lists, per stage,
the params sections that stage reads, so DVC re-runs exactly the stages whose settings
changed; this module is the one place that knows the file's shape, and it reports a bad
entry as ``params.yaml: <key path>: <what was expected>``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet import registry
from alexnet.download import Pin
from alexnet.errors import ConfigError, LimitError
from alexnet.limits import read_text
from alexnet.modern.train import TrainConfig

#: The sections every profile must have (dvc.yaml tracks them by name). The figures a
#: profile's report shows beside the reproduced ones are not settings: they come from
#: the registry, by the profile's ``train.arch``.
PROFILE_SECTIONS = ("about", "dataset", "weights", "prepare", "train", "evaluate", "verify",
                    "sweep")
DATA_KINDS = ("cifar-python", "image-folder", "ilsvrc2012")
DEFAULT_PARAMS = "params.yaml"


@dataclass(frozen=True)
class DataSpec:
    """The data set a profile reads: which copy, of what kind, and its pinned files."""

    name: str
    source: str
    kind: str
    pins: tuple[Pin, ...]
    folder: str = ""  # sub-folder of data/ where user-supplied files live
    about: str = ""
    alternatives: tuple[str, ...] = ()  # the data set's other copies that can be downloaded

    @property
    def user_supplied(self) -> bool:
        """True when no file has a URL: the user must put the files in data/."""
        return all(not p.url for p in self.pins)


@dataclass(frozen=True)
class Profile:
    name: str
    about: str
    dataset: DataSpec
    weights: tuple[tuple[str, Pin], ...]
    prepare: dict[str, Any]
    train: dict[str, Any]
    evaluate: dict[str, Any]
    verify: dict[str, Any]
    reported: dict[str, Any]  # from alexnet.registry, by train.arch (see reported_summary)
    sweep: bool = False  # trained again over params' sweep seeds and orders (error bars)
    mirror: str = ""
    params_path: str = DEFAULT_PARAMS
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _err(path: str | Path, key: str, message: str) -> ConfigError:
    return ConfigError(message, path=path, key=key)


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The parsed params file (a mapping), or a one-line ConfigError.

    Read through :mod:`alexnet.limits` (a regular UTF-8 file of bounded size: a FIFO or a
    sparse giant is refused before reading), and refused when its aliases would expand
    to more than :data:`MAX_YAML_NODES` nodes ("billion laughs": a few lines whose
    anchors nest) or it nests too deeply for the parser; params.yaml needs neither.
    """
    import yaml

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError("no such params file (run from the repository root, or pass "
                          "--params)", path=path)
    text = read_text(path, what="params file", error=ConfigError)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _check_expansion(root, path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"not valid YAML: {problem}", path=path, line=line) from None
    except RecursionError:
        raise ConfigError("nested too deeply to be a params file", path=path) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", path=path)
    return data


#: Nodes a params file may expand to once its aliases are followed (the real one has ~150).
MAX_YAML_NODES = 100_000


def _check_expansion(root: Any, path: Path) -> None:
    """Refuse a YAML graph whose aliases expand beyond MAX_YAML_NODES (counted, not built)."""
    import yaml

    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node that contains itself counts once
        if isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size(c) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            n = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            n = 1
        sizes[id(node)] = min(n, MAX_YAML_NODES + 1)
        return sizes[id(node)]

    total = size(root)
    if total > MAX_YAML_NODES:
        raise LimitError(f"{path}: its aliases expand to more than {MAX_YAML_NODES:,} "
                         "nodes (nested anchors); params.yaml needs no aliases")


def _mapping(value: Any, path: str | Path, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(path, key, f"expected a mapping, got {type(value).__name__}")
    return value


def _pin(entry: dict[str, Any], path: str | Path, key: str) -> Pin:
    name = entry.get("file")
    if not isinstance(name, str) or not name:
        raise _err(path, key, "needs `file` (the file name)")
    digests = {a: entry[a] for a in ("sha256", "sha1", "md5") if entry.get(a)}
    url = entry.get("url") or None
    if url is not None and not isinstance(url, str):
        raise _err(path, key + ".url", "expected a URL string")
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise _err(path, key + ".size", f"expected a byte count (an integer >= 0), got {size!r}")
    try:
        return Pin(name=name, digests=digests, url=url, size=int(size) if size else None)
    except ConfigError as exc:
        raise _err(path, key, str(exc)) from None


def dataset_spec(params: dict[str, Any], name: str, path: str | Path = DEFAULT_PARAMS
                 ) -> DataSpec:
    """The copy of data set ``name`` selected by its ``source`` key."""
    sets = _mapping(params.get("datasets"), path, "datasets")
    if name not in sets:
        raise _err(path, "datasets", f"no data set {name!r} (known: {', '.join(sets) or '-'})")
    ds = _mapping(sets[name], path, f"datasets.{name}")
    source = ds.get("source")
    variants = [k for k, v in ds.items() if isinstance(v, dict)]
    if not isinstance(source, str) or source not in variants:
        raise _err(path, f"datasets.{name}.source",
                   f"must name one of the copies listed under it ({', '.join(variants)}), "
                   f"got {source!r}")
    # every copy is checked (a typo in the one not selected today still surfaces)
    specs = {variant: _copy_spec(name, variant, ds[variant], str(ds.get("about", "")), path)
             for variant in variants}
    alts = tuple(v for v, sp in specs.items() if v != source and not sp.user_supplied)
    return dataclasses.replace(specs[source], alternatives=alts)


def _copy_spec(name: str, source: str, v: dict[str, Any], about: str, path: str | Path
               ) -> DataSpec:
    key = f"datasets.{name}.{source}"
    kind = v.get("kind")
    if kind not in DATA_KINDS:
        raise _err(path, key + ".kind", f"must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
    if "files" in v:
        files = v["files"]
        if not isinstance(files, list) or not files:
            raise _err(path, key + ".files", "expected a non-empty list of {file, md5|sha256}")
        pins = tuple(_pin(_mapping(f, path, f"{key}.files[{i}]"), path, f"{key}.files[{i}]")
                     for i, f in enumerate(files))
    else:
        pins = (_pin(v, path, key),)
    folder = str(v.get("folder") or "")
    if folder and (Path(folder).is_absolute() or ".." in Path(folder).parts):
        raise _err(path, key + ".folder", "must be a folder inside data/")
    return DataSpec(name=name, source=source, kind=kind, pins=pins, folder=folder, about=about)


def resolve_profile(params_path: str | Path = DEFAULT_PARAMS, name: str | None = None,
                    params: dict[str, Any] | None = None) -> Profile:
    """The profile ``name`` (default: params' ``profile``), fully validated."""
    path = Path(params_path)
    p = params if params is not None else load_params(path)
    name = name or p.get("profile")
    profiles = _mapping(p.get("profiles"), path, "profiles")
    if not isinstance(name, str) or name not in profiles:
        raise _err(path, "profile", f"no profile {name!r} (known: {', '.join(profiles) or '-'})")
    key = f"profiles.{name}"
    prof = _mapping(profiles[name], path, key)
    missing = [s for s in PROFILE_SECTIONS if s not in prof]
    if missing:
        raise _err(path, key, f"missing section(s) {', '.join(missing)} (every profile has "
                   f"{', '.join(PROFILE_SECTIONS)}, because dvc.yaml tracks them by name)")
    unknown = sorted(set(prof) - set(PROFILE_SECTIONS))
    if unknown:
        raise _err(path, key, f"unknown section(s) {', '.join(unknown)}")
    if not isinstance(prof["dataset"], str):
        raise _err(path, key + ".dataset", "expected the name of an entry under `datasets`")
    dataset = dataset_spec(p, prof["dataset"], path)
    wnames = prof["weights"] or []
    if not isinstance(wnames, list) or not all(isinstance(w, str) for w in wnames):
        raise _err(path, key + ".weights", "expected a list of weight-set names (see "
                   "alexnet.registry.WEIGHTS)")
    weights = [(w, _weights_pin(w, path, f"{key}.weights")) for w in wnames]
    sections = {s: _mapping(prof[s], path, f"{key}.{s}")
                for s in ("prepare", "train", "evaluate", "verify")}
    imported = sections["train"].get("import_weights")
    if imported is not None:
        # no training: the published figures are those of the weight set imported
        if imported not in wnames:
            raise _err(path, f"{key}.train.import_weights",
                       f"{imported!r} is not in this profile's weights ({wnames})")
        sections["reported"] = registry.figures_summary(registry.WEIGHTS[imported].reported)
    else:
        sections["reported"] = registry.reported_summary(
            str(sections["train"].get("arch", "")))
    sweep = prof["sweep"]
    if not isinstance(sweep, bool):
        raise _err(path, key + ".sweep", f"expected true or false (train again over params' "
                   f"sweep seeds and orders), got {sweep!r}")
    if sweep and imported is not None:
        raise _err(path, key + ".sweep", "must be false: the profile imports published "
                   "weights, so it has no training to repeat over seeds")
    mirror = p.get("mirror") or ""
    if not (isinstance(mirror, str) or (isinstance(mirror, list)
                                        and all(isinstance(m, str) for m in mirror))):
        raise _err(path, "mirror", "expected a folder or URL (or a list of them)")
    return Profile(
        name=name, about=str(prof["about"] or ""), dataset=dataset, weights=tuple(weights),
        mirror=",".join(mirror) if isinstance(mirror, list) else mirror,
        params_path=str(path), raw=prof, sweep=sweep, **sections,
    )


@dataclass(frozen=True)
class Sweep:
    """The error-bar sweep's seeds and data orders (params' top-level ``sweep``).

    It is a top-level section because dvc.yaml's ``matrix`` stage can only expand lists it
    finds by a fixed key (DVC templating cannot look up ``profiles.${profile}.…``). Which
    profiles are swept is each profile's own ``sweep: true|false``, so switching to a
    profile that takes days per run does not start ten of them, and turning one profile's
    sweep on changes no parameter the other profiles' sweep stages track.
    """

    seeds: tuple[int, ...]
    shuffle: tuple[str, ...]

    def runs(self) -> list[tuple[str, int]]:
        """Every (data order, seed) pair, in dvc.yaml's matrix order."""
        return [(s, seed) for seed in self.seeds for s in self.shuffle]


SHUFFLE_ORDERS = ("once", "epoch", "none")


def sweep_spec(params_path: str | Path = DEFAULT_PARAMS,
               params: dict[str, Any] | None = None) -> Sweep:
    """The validated ``sweep`` section (seeds and data orders)."""
    path = Path(params_path)
    p = params if params is not None else load_params(path)
    sw = _mapping(p.get("sweep"), path, "sweep")
    check_keys(sw, ("seeds", "shuffle"), path, "sweep")
    seeds = sw.get("seeds") or []
    if not isinstance(seeds, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in seeds):
        raise _err(path, "sweep.seeds", f"expected a list of seeds (integers >= 0), got "
                   f"{seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise _err(path, "sweep.seeds", f"lists a seed twice: {seeds}")
    orders = sw.get("shuffle") or []
    if not isinstance(orders, list) or not all(o in SHUFFLE_ORDERS for o in orders) \
            or len(set(orders)) != len(orders):
        raise _err(path, "sweep.shuffle", f"expected a list of distinct data orders out of "
                   f"{', '.join(SHUFFLE_ORDERS)}, got {orders!r}")
    return Sweep(seeds=tuple(seeds), shuffle=tuple(orders))


def _weights_pin(name: str, path: str | Path, key: str) -> Pin:
    """The pinned download of a registry weight set a profile lists."""
    if name not in registry.WEIGHTS:
        raise _err(path, key, f"no weights {name!r} (known: {', '.join(registry.WEIGHTS)})")
    source = registry.WEIGHTS[name].source
    if not isinstance(source, registry.Download):
        raise _err(path, key, f"weights {name!r} ship with the package; nothing to fetch")
    return Pin(name=source.file, digests=dict(source.digests), url=source.url)


def check_keys(section: dict[str, Any], allowed: set[str] | list[str] | tuple[str, ...],
               path: str | Path, key: str) -> None:
    """Refuse keys a stage does not understand (a typo must not be silently ignored)."""
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise _err(path, f"{key}.{unknown[0]}",
                   f"unknown setting (known: {', '.join(sorted(allowed))})")


def train_fields() -> list[str]:
    """The settings a profile's ``train`` section may hold (TrainConfig's fields)."""

    return [f.name for f in dataclasses.fields(TrainConfig)
            if f.name not in ("data", "out", "progress")]
