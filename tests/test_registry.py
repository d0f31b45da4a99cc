"""The registry is self-consistent, matches the files it names, and is the only vocabulary
the CLI, the verifier and the pipeline accept."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alexnet import registry
from alexnet.cli import cli
from alexnet.download import Pin
from alexnet.errors import BackendUnavailable, ConfigError
from alexnet.modern.backend import use_backend
from alexnet.modern.build import available_archs, build_model
from alexnet.original import backends as engine_backends
from alexnet.original import cfgs
from alexnet.original.layer import parse_layers
from alexnet.pipeline.params import resolve_profile
from alexnet.pipeline.verify import verify_stage
from alexnet.verify import backends as verify_backends
from alexnet.verify.bundled import bundled_dir
from alexnet.verify.suites import SUITES, reference_net

REPO = Path(__file__).resolve().parent.parent
METRICS = ("top1_err", "top5_err")


# --------------------------------------------------------------------------------------
# self-consistency


@pytest.mark.parametrize("net", registry.cfg_nets())
def test_every_cfg_net_is_bundled(net):
    d, p = cfgs.pair(net)
    assert d.is_file() and p.is_file()


@pytest.mark.parametrize("name", list(registry.ARCHS))
def test_arch_spec_matches_its_definition(name):
    spec = registry.ARCHS[name]
    assert spec.name == name and spec.description and spec.preprocessing
    assert spec.builder in ("module", "cfg", "named")
    if spec.builder == "module":
        assert spec.variant and spec.cfg_net is None
    elif spec.builder == "named":
        assert spec.variant is None and spec.cfg_net is None
    else:
        assert spec.cfg_net and spec.variant is None
    # a reference, or a stated reason why there is none
    assert (spec.reference_net is None) == bool(spec.no_reference)
    for net in {spec.cfg_net, spec.reference_net} - {None}:
        g = parse_layers(*cfgs.pair(net))
        assert tuple(g.input_shape) == spec.input_shape and g.num_classes == spec.classes


@pytest.mark.parametrize("name", [a.name for a in registry.ARCHS.values()
                                  if a.builder in ("module", "named")])
def test_module_archs_build_with_the_specs_shape(name):
    spec = registry.ARCHS[name]
    model = build_model(name)
    assert model.arch == name
    assert tuple(model.input_shape) == spec.input_shape and model.num_classes == spec.classes


def _figures():
    for a in registry.ARCHS.values():
        for f in a.reported:
            yield f"arch {a.name}", f
    for w in registry.WEIGHTS.values():
        for f in w.reported:
            yield f"weights {w.name}", f


@pytest.mark.parametrize(("owner", "fig"), list(_figures()), ids=lambda v: str(v)[:40])
def test_every_reported_figure_has_protocol_and_source(owner, fig):
    assert fig.metric in METRICS and 0 < fig.value < 1, owner
    assert fig.protocol and fig.source, owner
    if fig.band is not None:
        lo, hi = fig.band
        assert lo <= fig.value <= hi and fig.reason, owner


def test_weight_sets_name_known_archs_and_pinned_sources():
    for w in registry.WEIGHTS.values():
        assert w.arch is None or w.arch in registry.ARCHS, w.name
        assert w.about and w.licence and w.differs_from_145, w.name
        if isinstance(w.source, registry.Download):
            assert w.source.url.startswith(("http://", "https://"))
            full = {a: d for a, d in w.source.digests if a != "sha256-prefix"}
            if full:  # a set pinned by a full checksum can be fetched by its pin
                Pin(name=w.source.file, digests=full, url=w.source.url)
            else:     # torchvision publishes only the first hex digits of the sha256
                assert dict(w.source.digests)["sha256-prefix"] in w.source.file
        else:
            assert isinstance(w.source, registry.BundledFile)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", [w.name for w in registry.WEIGHTS.values()
                                  if isinstance(w.source, registry.BundledFile)])
def test_every_bundled_file_matches_its_pin_and_provenance(name):
    w = registry.WEIGHTS[name]
    assert _sha256(bundled_dir() / w.source.file) == w.source.sha256
    meta = json.loads((bundled_dir() / f"{name}.json").read_text(encoding="utf-8"))
    assert meta["weights"]["file"] == w.source.file
    assert meta["weights"]["sha256"] == w.source.sha256
    assert meta["arch"] == w.arch
    assert tuple(meta["classes"]) == registry.CIFAR10_CLASSES
    top1 = next(f for f in w.reported if f.metric == "top1_err")
    assert top1.value == pytest.approx(meta["metrics"]["top1_err"], abs=5e-5)


@pytest.mark.parametrize("name", list(registry.TEST_IMAGES))
def test_bundled_test_images_match_their_pin(name):
    pin = registry.TEST_IMAGES[name]
    assert _sha256(bundled_dir() / pin.file) == pin.sha256
    meta = json.loads((bundled_dir() / f"{name}.json").read_text(encoding="utf-8"))
    assert tuple(meta["classes"]) == registry.CIFAR10_CLASSES


def test_backend_names_and_aliases():
    names = registry.backend_names(aliases=False)
    assert names == tuple(registry.BACKENDS)
    aliases = [a for b in registry.BACKENDS.values() for a in b.aliases]
    assert not set(aliases) & set(names) and len(set(aliases)) == len(aliases)
    for b in registry.BACKENDS.values():
        assert b.engine in (*engine_backends.IMPLEMENTATIONS, None)
        assert b.port in ("torch", "kernels") and b.recreation and b.port_meaning
        for a in b.aliases:
            assert registry.backend(a) is b
    with pytest.raises(BackendUnavailable, match="unknown backend 'cudnn'"):
        registry.backend("cudnn")


# --------------------------------------------------------------------------------------
# every reader accepts exactly the registry's names


def test_build_and_model_list_know_exactly_the_registry_archs():
    assert available_archs() == list(registry.ARCHS)  # every cfg net is bundled here
    r = CliRunner().invoke(cli, ["model", "list"])
    assert r.exit_code == 0, r.output
    assert [ln.split()[0] for ln in r.output.splitlines() if ln.strip()] == list(registry.ARCHS)
    r = CliRunner().invoke(cli, ["model", "list", "--json"])
    assert [a["name"] for a in json.loads(r.output)] == list(registry.ARCHS)
    with pytest.raises(ConfigError, match="unknown arch"):
        build_model("lenet")


def test_verifier_reference_nets_come_from_the_registry():
    for a in registry.ARCHS.values():
        if a.reference_net is None:
            with pytest.raises(ConfigError, match="no 2012 reference"):
                reference_net(a.name)
        else:
            assert reference_net(a.name) == a.reference_net
    for s in SUITES.values():
        assert s.net == registry.ARCHS[s.arch].reference_net
        if s.origin == "bundled":
            assert registry.WEIGHTS[s.name].arch == s.arch


def test_one_answer_on_the_2012_reference():
    # the verifier and the pipeline's evaluate stage both ask registry.reference_net
    for a in registry.ARCHS.values():
        if a.reference_net is None:
            with pytest.raises(ConfigError, match="no 2012 reference"):
                registry.reference_net(a.name)
        else:
            assert registry.reference_net(a.name) == a.reference_net


def test_backend_options_accept_exactly_the_registry_names():
    cmd = cli.get_command(None, "verify")  # the lazily loaded click command
    opt = next(p for p in cmd.params if p.name == "backend")
    assert tuple(opt.type.choices) == registry.backend_names()
    assert verify_backends.NAMES == registry.backend_names()
    assert verify_backends.resolve("torch").name == "numpy"
    assert engine_backends.get_backend("torch").name == "numpy"
    with pytest.raises(BackendUnavailable, match="not available to the 2012 engine"):
        engine_backends.get_backend("cuda")
    model = build_model("cifar10-80sec")
    assert use_backend(model, "numpy").backend == "numpy"
    for bad in ("cudnn", "gpu"):
        with pytest.raises(BackendUnavailable, match="unknown backend"):
            use_backend(model, bad)
        with pytest.raises(BackendUnavailable, match="unknown backend"):
            engine_backends.get_backend(bad)


def _params_with(tmp_path: Path, edit) -> Path:
    p = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    edit(p)
    out = tmp_path / "params.yaml"
    out.write_text(yaml.safe_dump(p), encoding="utf-8")
    return out


def test_pipeline_profiles_read_reported_figures_and_weights_from_the_registry(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert "weights" not in params  # weight sets live in the registry
    for name, prof in params["profiles"].items():
        assert "reported" not in prof
        p = resolve_profile(REPO / "params.yaml", name)
        if "import_weights" in p.train:   # no training: the weight set's own figures
            ws = registry.WEIGHTS[p.train["import_weights"]]
            assert ws.arch in registry.ARCHS and ws.reported
            assert p.reported.get("top1_err") == ws.reported[0].value
            continue
        arch = p.train["arch"]
        assert arch in registry.ARCHS
        assert p.reported == registry.reported_summary(arch)
        assert p.reported.get("top1_err") == registry.ARCHS[arch].reported[0].value
    # a downloadable weight set by name; a bundled one or an unknown name is refused
    ok = _params_with(tmp_path, lambda p: p["profiles"]["cifar10-80sec"].update(
        weights=["bvlc-alexnet"]))
    (wname, pin), = resolve_profile(ok, "cifar10-80sec").weights
    src = registry.WEIGHTS["bvlc-alexnet"].source
    assert wname == "bvlc-alexnet" and pin.name == src.file and pin.url == src.url
    for bad, msg in (("nope", "no weights 'nope'"), ("cifar10-80sec", "ship with the package")):
        p = _params_with(tmp_path, lambda p, b=bad: p["profiles"]["cifar10-80sec"].update(
            weights=[b]))
        with pytest.raises(ConfigError, match=msg):
            resolve_profile(p, "cifar10-80sec")


def test_pipeline_verify_backend_takes_the_registry_names(tmp_path):
    p = _params_with(tmp_path, lambda p: p["profiles"]["cifar10-80sec"]["verify"].update(
        backend="cudnn", equivalence=False))
    prof = resolve_profile(p, "cifar10-80sec")
    with pytest.raises(ConfigError, match="must be one of numpy, emulated, cuda"):
        verify_stage(prof, tmp_path / "run", tmp_path / "out")
