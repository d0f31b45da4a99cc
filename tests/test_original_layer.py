"""The cfg parser: the bundled nets, the 2012 derived values, and every error path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexnet.errors import ConfigError
from alexnet.original import cfgs
from alexnet.original.layer import SCHEDULES, parse_layers, parse_neuron, parse_param_spec


def _params_count(graph) -> int:
    total = 0
    for lay in graph.weight_layers:
        d = lay.d
        if lay.type == "conv":
            pairs = zip(d["filterPixels"], d["filterChannels"], strict=True)
            total += sum(fp * fc * d["filters"] for fp, fc in pairs)
            total += d["filters"] if d["sharedBiases"] else d["filters"] * d["modules"]
        else:
            total += sum(n * d["outputs"] for n in d["numInputs"]) + d["outputs"]
    return total


def test_definition_145_is_the_papers_network():
    g = parse_layers(*cfgs.pair("145"))
    assert g.input_shape == (3, 224, 224) and g.num_classes == 1000 and g.num_gpus == 2
    assert _params_count(g) == 60_965_224
    # the ceil rule: a 224 crop gives 55x55 conv1 maps, then 27, 13, 6
    assert g["conv1a"].shape == (48, 55, 55)
    assert g["pool1a"].shape == (48, 27, 27)
    assert g["pool2b"].shape == (128, 13, 13)
    assert g["pool3a"].shape == (128, 6, 6)
    assert g["fc1000"].shape == (1000,)
    # placement: towers on gpu 0/1, classifier on gpu 0, bb first reads its own tower
    assert g["conv2b"].gpu == 1 and g["fc1000"].gpu == 0 and g["fc2048bb"].gpu == 1
    assert g["fc2048bb"].inputs == ["hs1b", "hs1a"]
    # scale is divided by the window when read (layer.py L1183): 1e-4/5 and 1e-3/25
    assert g["rnorm1a"].d["scale"] == pytest.approx(1e-4 / 5, rel=1e-12)
    assert g["cnorm2a"].d["scale"] == pytest.approx(1e-3 / 25, rel=1e-12)
    assert g["rnorm1a"].d["minDiv"] == 2.0
    assert g["rnorm1a"].d["pow"] == 0.75
    # neuron=relu on pool1 becomes its own layer, right after pool1, consumers rewired
    names = list(g.layers)
    assert names[names.index("pool1a") + 1] == "pool1a_neuron"
    assert g["conv2a"].inputs == ["pool1a_neuron"]
    assert g["pool1a_neuron"].d["neuron"]["type"] == "relu"
    assert "conv5a_neuron" not in g.layers  # conv5 has no neuron; ReLU follows pool3
    assert g["hs1a"].d["keep"] == 0.5 and g["hs1a"].d["enable"] is True
    assert g["logprob"].d["topk"] == 5 and g["logprob"].d["coeff"] == 1.0
    conv3 = g["conv3a"].d
    assert conv3["filters"] == 192 and conv3["channels"] == [128, 128]
    assert conv3["initW"] == [0.03, 0.03] and conv3["partialSum"] == 13
    assert g["conv2a"].d["initB"] == 1.0 and g["conv1a"].d["initB"] == 0.0
    assert g["conv1a"].d["epsW"] == [0.01] and g["conv1a"].d["epsB"] == 0.02
    assert g.warnings == []


def test_80sec_net_shapes():
    g = parse_layers(*cfgs.pair("80sec"))
    assert g.input_shape == (3, 32, 32) and g.num_classes == 10
    assert [g[n].shape for n in ("conv1", "pool1", "pool2", "pool3", "fc64", "fc10")] == [
        (32, 32, 32), (32, 16, 16), (32, 8, 8), (64, 4, 4), (64,), (10,)]
    assert g["pool2"].d["pool"] == "avg"
    assert g["fc64"].d["wc"] == [0.03]
    assert _params_count(g) == 145_578


def test_json_summary_lists_every_layer():
    g = parse_layers(*cfgs.pair("145"))
    js = g.to_json()
    assert [entry["name"] for entry in js["layers"]] == list(g.layers)
    conv1 = js["layers"][2]
    assert conv1["output_shape"] == [48, 55, 55] and conv1["params"]["stride"] == [4]


# --- errors: each names the file and line ----------------------------------------------

@pytest.fixture(scope="module")
def good(tiny_cfg):
    """A valid pair (fixture ``tiny-parser``); the error tests edit it line by line."""
    return tiny_cfg("tiny-parser")


def _parse(tmp_path: Path, text: str, params: str | None, **kw):
    d = tmp_path / "layers-x.cfg"
    d.write_text(text)
    p = None
    if params is not None:
        p = tmp_path / "layer-params-x.cfg"
        p.write_text(params)
    return parse_layers(d, p, input_shape=(3, 16, 16), **kw)


def test_good_file_parses(tmp_path, good):
    g = _parse(tmp_path, good.text, good.params_text, num_classes=10)
    assert g["pool1"].shape == (16, 8, 8)
    assert g["fc10"].d["numInputs"] == [16 * 8 * 8]


@pytest.mark.parametrize(
    "old,new,line,pattern",
    [
        ("type=pool", "type=pooling", 21, r"unknown layer type 'pooling'"),
        ("sizeX=3", "sizeX=3\nfoo=1", 26, r"\[pool1\] foo: unknown key"),
        ("filterSize=5\n", "", 9, r"\[conv1\] filterSize: required key is missing"),
        ("channels=16\npool", "channels=15\npool", 23, r"15 channels|not interpretable"),
        ("inputs=pool1", "inputs=probs", 31, r"input layer 'probs' is not defined \(it is "
                                             r"defined below"),
        ("inputs=fc10", "inputs=probs", 35, r"reads itself"),
        ("neuron=relu", "neuron=sigmoid", 27, r"cannot read neuron 'sigmoid'"),
        ("sizeX=3", "sizeX=x3", 25, r"sizeX: expected an integer, got 'x3'"),
        ("padding=2", "padding=2,2", 16, r"expected 1 comma-separated value"),
        ("filters=16", "filters=20", 14, r"divisible by 16"),
        ("partialSum=4", "partialSum=7", 18, r"must divide the 16x16=256"),
        ("gpu=0\nchannels=3", "gpu=3\nchannels=3", 12, r"gpu: must be in the range 0-0"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path, old, new, line, pattern, good):
    assert old in good.text
    with pytest.raises(ConfigError) as exc:
        _parse(tmp_path, good.text.replace(old, new, 1), good.params_text, num_gpus=1)
    msg = str(exc.value)
    assert re.search(pattern, msg), msg
    assert msg.startswith(str(tmp_path / "layers-x.cfg") + f":{line}:"), msg
    assert "\n" not in msg


def test_dangling_layer_is_an_error(tmp_path, good):
    text = good.text + "\n[extra]\ntype=fc\ninputs=pool1\noutputs=5\n"
    with pytest.raises(ConfigError, match=r"\[extra\] layer of type 'fc' is never used"):
        _parse(tmp_path, text, good.params_text)


def test_inconsistent_channels_between_layers(tmp_path, good):
    # conv says 4 channels, but the data has 3 x 16 x 16 = 768 values: 768/4 = 192, not square
    with pytest.raises(ConfigError, match=r"not interpretable as square 4-channel images"):
        _parse(tmp_path, good.text.replace("channels=3", "channels=4"), good.params_text)


def test_params_errors(tmp_path, good):
    text, params = good.text, good.params_text
    with pytest.raises(ConfigError, match=r"layer-params-x.cfg:2: \[conv1\] epsW: expected 1 "):
        _parse(tmp_path, text, params.replace("epsW=0.001", "epsW=0.001,0.1", 1))
    with pytest.raises(ConfigError, match=r"needs a section in this params file"):
        _parse(tmp_path, text, params.replace("[logprob]\ncoeff=1\n", ""))
    with pytest.raises(ConfigError, match=r"\[fc10\] bogus: unknown key"):
        _parse(tmp_path, text, params.replace("[fc10]\n", "[fc10]\nbogus=1\n"))
    with pytest.raises(ConfigError, match=r"cannot read schedule 'exp\[tgtFactor=10\]'"):
        _parse(tmp_path, text, params.replace("[fc10]\n", "[fc10]\nschedW=exp[tgtFactor=10]\n"))


def test_historical_forms_warn_in_compat_and_fail_in_strict(tmp_path, good):
    params = good.params_text.replace("[fc10]\n", "[fc10]\nschedW=dexp[250,0,4]\nwcnorm=1\n")
    g = _parse(tmp_path, good.text, params)
    assert g["fc10"].d["schedW"] == {"type": "dexp",
                                     "params": {"tgtFactor": 250.0, "noiseStdev": 0.0,
                                                "numSteps": 4}}
    assert any("positional schedule" in w for w in g.warnings)
    assert any("wcnorm: ignored" in w for w in g.warnings)
    with pytest.raises(ConfigError, match="positional schedule"):
        _parse(tmp_path, good.text, params, compat=False)


def test_neuron_and_schedule_specs():
    assert parse_neuron("tanh[1.7159,0.6666]")["params"] == {"a": 1.7159, "b": 0.6666}
    assert parse_neuron("brelu") is None and parse_neuron("relu[1]") is None
    spec, positional = parse_param_spec("exp[tgtFactor=100,noiseStdev=0]", SCHEDULES)
    assert spec == {"type": "exp", "params": {"tgtFactor": 100.0, "noiseStdev": 0.0}}
    assert not positional
    assert parse_param_spec("jdexp[1000,4]", SCHEDULES)[0]["params"]["numSteps"] == 4


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_cfgs_never_crash(tmp_path, data, good):
    """Random edits of a valid pair either parse or raise ConfigError - nothing else."""
    lines = good.text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["drop", "dup", "swap", "junk", "num"]))
        if op == "drop":
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "junk":
            lines[i] = data.draw(st.text(alphabet="[]=,.:#abcxyz019 -", max_size=20))
        else:
            lines[i] = re.sub(r"\d+", str(data.draw(st.integers(-3, 300))), lines[i])
        if not lines:
            lines = ["#"]
    try:
        _parse(tmp_path, "\n".join(lines) + "\n", good.params_text, num_classes=10)
    except ConfigError as exc:
        assert "\n" not in str(exc)


# --- every cfg of the 2012 release --------------------------------------------------------

# params -> definition, where the number does not say it
# (docs/reference/recreation.md#recreation-families)
PAIRING = {"107": "2009-101", "136": "135", "139": "137", "145-2010": "145",
           "120-2012": "120", "120-2012-full": "120", "126-2012-full": "126",
           "170-4gpu": "153-4gpu", "170-4gpu-exp": "153-4gpu", "184-4gpu-26epc": "184-4gpu"}
CLASSES = {"137-tree": 1000, "146-2009-tree": 10184}


def _definition_for(params: Path, defs: dict[str, Path]) -> Path:
    if params.name == "layer-params.gc.cfg":
        return defs["layers.gc"]
    key = params.name[len("layer-params-"):-len(".cfg")]
    key = PAIRING.get(key, key)
    if key.startswith("120-4gpu-auto"):
        key = "120-4gpu"
    if key.startswith("183-4gpu-"):
        key = "183-4gpu"
    if key not in defs and re.match(r"^(15[4-9]|16\d|17\d|180)", key):
        key = "153"
    if key not in defs:
        candidates = [k for k in defs if key.startswith(k)]
        assert candidates, f"no definition for {params.name}"
        key = max(candidates, key=len)
    return defs[key]


def _kwargs(defn: Path) -> list[dict]:
    name = defn.name[len("layers-"):-len(".cfg")]
    extra: dict = {}
    if "flickr" in name:
        extra["data_dims"] = {1: 10003}
    if name in CLASSES:
        extra["num_classes"] = CLASSES[name]
    if defn.parent.name == "layers":
        return [dict(input_shape=(3, 224, 224), **extra)]
    # CIFAR nets: 24x24 crops (cifar-cropped provider) or whole 32x32 images
    return [dict(input_shape=(3, 24, 24), **extra), dict(input_shape=(3, 32, 32), **extra)]


@pytest.mark.upstream
def test_every_2012_cfg_parses(upstream_tree):
    defs_by_folder: dict[Path, dict[str, Path]] = {}
    for d in sorted(upstream_tree.glob("*/layers*.cfg")):
        key = d.name[len("layers-"):-len(".cfg")] if d.name.startswith("layers-") else d.stem
        defs_by_folder.setdefault(d.parent, {})[key] = d
    params = sorted(upstream_tree.glob("*/layer-params*.cfg"))
    defs = [d for group in defs_by_folder.values() for d in group.values()]
    assert len(defs) == 72 and len(params) == 106
    parsed = 0
    for cfg_def in defs:
        errors = []
        for kw in _kwargs(cfg_def):
            try:
                parse_layers(cfg_def, **kw)
                parsed += 1
                break
            except ConfigError as exc:
                errors.append(str(exc))
        else:
            pytest.fail(f"{cfg_def}: {errors}")
    for p in params:
        cfg_def = _definition_for(p, defs_by_folder[p.parent])
        errors = []
        for kw in _kwargs(cfg_def):
            try:
                # params 107 belongs to the absent definition 101; 2009-101 has its layout
                parse_layers(cfg_def, p, require_all_params=not p.name.endswith("-107.cfg"),
                             **kw)
                parsed += 1
                break
            except ConfigError as exc:
                errors.append(str(exc))
        else:
            pytest.fail(f"{p}: {errors}")
    assert parsed == 178
