"""params.yaml as hostile input (alexnet/pipeline/params.py).

Every malformed file ends in one :class:`AlexNetError` naming the file and the key, never
another exception, a hang (a FIFO), or a walk over an exponentially expanded alias graph.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexnet.errors import AlexNetError, ConfigError, LimitError
from alexnet.limits import MAX_TEXT_BYTES
from alexnet.pipeline.params import load_params, resolve_profile

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
BASE = yaml.safe_load(PARAMS.read_text())


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def test_the_repository_params_resolve():
    assert resolve_profile(PARAMS).name == BASE["profile"]


@pytest.mark.parametrize("text,match", [
    ("- a\n- b\n", "mapping at the top level"),
    ("just a string\n", "mapping at the top level"),
    ("", "mapping at the top level"),
    ("a: [1, 2\n", "not valid YAML"),
    ("[" * 5000 + "]" * 5000 + "\n", "nested"),
])
def test_not_a_params_mapping(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as e:
        resolve_profile(_write(tmp_path, text))
    assert str(tmp_path / "params.yaml") in str(e.value)


def test_billion_laughs_is_refused(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(LimitError, match="alias"):
        load_params(_write(tmp_path, "\n".join(lines) + "\n"))


def test_huge_params_file_is_refused_unread(tmp_path):
    p = tmp_path / "params.yaml"
    with open(p, "wb") as f:  # sparse: costs no disk
        f.truncate(MAX_TEXT_BYTES + 1)
    with pytest.raises(LimitError, match="bytes"):
        load_params(p)


def test_fifo_and_folder_are_refused(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_params(fifo)
    with pytest.raises(ConfigError, match="folder"):
        load_params(tmp_path)
    with pytest.raises(ConfigError, match="no such params file"):
        load_params(tmp_path / "absent.yaml")


def test_not_utf8(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_bytes(b"profile: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_params(p)


def _with(edit):
    d = copy.deepcopy(BASE)
    edit(d)
    return d


PROF = BASE["profile"]


@pytest.mark.parametrize("edit,key", [
    (lambda d: d.__setitem__("profile", "nope"), "profile"),
    (lambda d: d.__setitem__("profile", [1]), "profile"),
    (lambda d: d.__setitem__("profiles", 3), "profiles"),
    (lambda d: d["profiles"][PROF].pop("train"), f"profiles.{PROF}"),
    (lambda d: d["profiles"][PROF].__setitem__("extra", {}), f"profiles.{PROF}"),
    (lambda d: d["profiles"][PROF].__setitem__("train", 5), f"profiles.{PROF}.train"),
    (lambda d: d["profiles"][PROF].__setitem__("dataset", 5), f"profiles.{PROF}.dataset"),
    (lambda d: d["profiles"][PROF].__setitem__("weights", "x"), f"profiles.{PROF}.weights"),
    (lambda d: d["profiles"][PROF].__setitem__("weights", [[1]]), f"profiles.{PROF}.weights"),
    (lambda d: d.__setitem__("mirror", 5), "mirror"),
    (lambda d: d.__setitem__("mirror", [1, {"a": 2}]), "mirror"),
    (lambda d: d["datasets"]["cifar10"]["official"].__setitem__("size", "big"),
     "datasets.cifar10.official"),
    (lambda d: d["datasets"]["cifar10"]["official"].__setitem__("size", [1]),
     "datasets.cifar10.official"),
    (lambda d: d["datasets"]["cifar10"]["official"].__setitem__("md5", 5),
     "datasets.cifar10.official"),
    (lambda d: d["datasets"]["cifar10"].__setitem__("source", ["x"]), "datasets.cifar10.source"),
    (lambda d: d["datasets"]["ilsvrc2012"]["archives"].__setitem__("files", [3]),
     "datasets.ilsvrc2012.archives.files[0]"),
])
def test_wrong_types_name_the_key(tmp_path, edit, key):
    d = _with(edit)
    if key.startswith("datasets.ilsvrc2012"):
        d["profiles"][PROF]["dataset"] = "ilsvrc2012"
    with pytest.raises(ConfigError) as e:
        resolve_profile(_write(tmp_path, d))
    assert f"{tmp_path / 'params.yaml'}: " in str(e.value) and key in str(e.value)


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                 st.text(max_size=8), st.lists(st.integers(), max_size=3),
                 st.lists(st.lists(st.text(max_size=2), max_size=2), max_size=2),
                 st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


ALL_PATHS = [p for p in _paths(BASE) if p]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(ALL_PATHS), value=JUNK)
def test_any_value_anywhere_is_accepted_or_one_clear_error(tmp_path, where, value):
    d = copy.deepcopy(BASE)
    node = d
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    try:
        resolve_profile(_write(tmp_path, d))
    except AlexNetError as exc:
        assert "\n" not in str(exc) and "params.yaml" in str(exc)
