"""Every failure a clear line, no number that lies, no resource that runs away.

Each test names the promise it checks (docs/guides/reliability.md lists them).
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alexnet import cli as cli_mod
from alexnet.cli import cli, describe_os_error, report_failure
from alexnet.errors import (
    AlexNetError,
    CheckpointError,
    ChecksumError,
    ConfigError,
    DataError,
    FolderBusy,
)
from alexnet.io import atomic_write_text, folder_lock, sweep_stale_tmp, umask_mode
from alexnet.modern import build_model
from alexnet.modern import checkpoint as ck
from alexnet.original import pickling
from alexnet.original.layer import parse_layers
from alexnet.original.options import OptionException, OptionExpression

REPO = Path(__file__).resolve().parent.parent
LAYERS = REPO / "original" / "layers"
P = pickle

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------------------------------
# The error boundary


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC, errno.ENOTDIR])
def test_os_errors_are_one_line_exit_2(code, capsys):
    exc = OSError(code, os.strerror(code), "/some/run/metrics.json")
    assert report_failure(exc) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: /some/run/metrics.json: ") and err.count("\n") == 1
    assert "Traceback" not in err and "(" in describe_os_error(exc)


def test_memory_error_and_interrupt(capsys):
    assert report_failure(MemoryError()) == 2
    assert "out of memory" in capsys.readouterr().err
    assert report_failure(KeyboardInterrupt()) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "error" not in err.lower()


def test_a_bug_keeps_its_traceback_and_says_how_to_report(capsys):
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        assert report_failure(exc) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "please report it" in err


def test_unwritable_output_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = CliRunner().invoke(cli, ["model", "summary", "--arch", "cifar10-80sec", "--json"])
    assert r.exit_code == 0
    # a regular file where a folder is expected
    r = CliRunner().invoke(cli, ["original", "convert-cifar", str(blocker), str(blocker / "o")])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_shownet_help():
    r = CliRunner().invoke(cli, ["original", "shownet", "--help"])
    assert r.exit_code == 0 and "--show-filters" in r.output


# ---------------------------------------------------------------------------------------
# Port checkpoints: fields, dtype, finiteness, bounds


@pytest.fixture(scope="module")
def port_ckpt(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ck")
    model = build_model("cifar10-80sec", seed=1)
    return ck.save_checkpoint(folder, model=model, optimizer=None,
                              position={"epoch": 1, "batch": 0, "step": 5}, config={})


def _edited(src: Path, dst: Path, edit=None, tensors=None) -> Path:
    from safetensors.torch import save

    dst.mkdir(parents=True, exist_ok=True)
    meta = json.loads(src.read_text())
    blob = (src.parent / meta["tensors"]["file"]).read_bytes()
    if tensors is not None:
        blob = save(tensors(ck.read_checkpoint(src).tensors))
        import hashlib
        meta["tensors"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (dst / meta["tensors"]["file"]).write_bytes(blob)
    if edit:
        edit(meta)
    out = dst / src.name
    out.write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("field,value", [
    ("position", "x"), ("position", {"epoch": -1, "batch": 0}), ("position", {"batch": 0}),
    ("config", [1]), ("rng", {"torch": 5}), ("rng", "x"), ("model_config", 3),
    ("tensors", None), ("arch", 7),
])
def test_malformed_checkpoint_fields(port_ckpt, tmp_path, field, value):
    p = _edited(port_ckpt, tmp_path, lambda m: m.__setitem__(field, value))
    with pytest.raises(CheckpointError, match=field.split("_")[0]):
        ck.read_checkpoint(p)


def test_model_config_too_large_is_refused_before_allocation(port_ckpt, tmp_path):
    p = _edited(port_ckpt, tmp_path, lambda m: m["model_config"].update(num_classes=10**9))
    with pytest.raises(CheckpointError, match="num_classes"):
        ck.build_for(ck.read_checkpoint(p))


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int32])
def test_wrong_dtype_weights_are_refused(port_ckpt, tmp_path, dtype):
    p = _edited(port_ckpt, tmp_path, tensors=lambda t: {
        k: (v.to(dtype) if k.startswith("model/") else v) for k, v in t.items()})
    with pytest.raises(CheckpointError, match="not cast"):
        ck.build_for(ck.read_checkpoint(p))


def test_non_finite_weights_are_refused_and_never_saved(port_ckpt, tmp_path):
    def poison(t):
        t = dict(t)
        k = next(k for k in t if k.startswith("model/"))
        t[k] = t[k].clone()
        t[k].view(-1)[0] = float("nan")
        return t
    p = _edited(port_ckpt, tmp_path, tensors=poison)
    with pytest.raises(CheckpointError, match="NaN"):
        ck.build_for(ck.read_checkpoint(p))
    model = build_model("cifar10-80sec", seed=1)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(CheckpointError, match="NaN or infinity"):
        ck.save_checkpoint(tmp_path / "bad", model=model, optimizer=None,
                           position={"epoch": 0, "batch": 0}, config={})
    assert not list((tmp_path / "bad").glob("ckpt-*"))


def test_checkpoint_files_get_the_umask_mode(port_ckpt):
    assert port_ckpt.stat().st_mode & 0o777 == umask_mode()


def test_import_weights_accepts_a_port_checkpoint(port_ckpt, tmp_path):
    st_file = port_ckpt.with_suffix(".safetensors")
    r = CliRunner().invoke(cli, [
        "original", "import-weights", str(st_file),
        "--layer-def", str(LAYERS / "layers-80sec.cfg"),
        "--layer-params", str(LAYERS / "layer-params-80sec.cfg"),
        "--save-path", str(tmp_path / "save")])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output


# ---------------------------------------------------------------------------------------
# Restricted unpickler


def test_object_array_is_refused_before_it_is_built():
    evil = P.PROTO + b"\x02" + P.GLOBAL + b"numpy\nndarray\n" + P.BININT1 + b"\x03" \
        + P.TUPLE1 + P.SHORT_BINUNICODE + b"\x01O" + P.TUPLE2 + P.REDUCE + P.STOP
    with pytest.raises(CheckpointError, match="object arrays"):
        pickling.loads(evil)


def test_crafted_dtype_state_with_hasobject_is_refused():
    craft = (P.PROTO + b"\x02" + P.GLOBAL + b"numpy\ndtype\n" + P.SHORT_BINUNICODE + b"\x02V8"
             + P.BININT1 + b"\x00" + P.BININT1 + b"\x01" + P.TUPLE3 + P.REDUCE + P.MARK
             + P.BININT1 + b"\x03" + P.SHORT_BINUNICODE + b"\x01|" + P.NONE + P.NONE + P.NONE
             + P.BININT1 + b"\x08" + P.BININT1 + b"\x01" + P.BININT1 + b"\x3f" + P.TUPLE
             + P.BUILD + P.STOP)
    with pytest.raises(CheckpointError, match="hasobject"):
        pickling.loads(craft)
    assert not np.dtype("f4").hasobject  # numpy's shared dtypes untouched


def test_huge_array_shape_is_refused_before_allocation():
    big = (P.PROTO + b"\x02" + P.GLOBAL + b"numpy\nndarray\n" + P.BININT
           + (2**30).to_bytes(4, "little") + P.BININT + (2**30).to_bytes(4, "little")
           + P.TUPLE2 + P.SHORT_BINUNICODE + b"\x02f4" + P.TUPLE2 + P.REDUCE + P.STOP)
    with pytest.raises(CheckpointError, match="bound"):
        pickling.loads(big)


def test_real_arrays_still_round_trip():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    back = pickling.loads(pickling.dumps({"a": arr, "b": [1, 2]}))
    assert np.array_equal(back["a"], arr) and back["b"] == [1, 2]


# ---------------------------------------------------------------------------------------
# Bounds on what comes from a file


def test_option_expressions_are_bounded():
    assert OptionExpression("[-1] * num_gpus").evaluate({"num_gpus": 2}) == [-1, -1]
    for expr in ("[0] * 100000000", "'a' * 99999999", "9" + "*9" * 30, "[" * 5000):
        with pytest.raises(OptionException):
            OptionExpression(expr).evaluate({})


def test_cfg_sizes_are_bounded(tmp_path):
    text = (LAYERS / "layers-80sec.cfg").read_text()
    huge = text.replace("filters = 32", "filters = 100000000", 1)
    (tmp_path / "d.cfg").write_text(huge)
    with pytest.raises(ConfigError, match="bound"):
        parse_layers(tmp_path / "d.cfg")


@pytest.mark.parametrize("kind", ["fifo", "dev", "dir"])
def test_non_regular_cfg_files_are_refused(tmp_path, kind):
    p = {"fifo": tmp_path / "f", "dev": Path("/dev/zero"), "dir": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(p)
    start = time.monotonic()
    with pytest.raises(ConfigError):
        parse_layers(p)
    assert time.monotonic() - start < 5  # refused, not read


# ---------------------------------------------------------------------------------------
# CIFAR


def test_convert_cifar_checks_md5_and_labels(tmp_path, cifar_python_tarball):
    blob = cifar_python_tarball(per_batch=4, test=4)
    official = tmp_path / "cifar-10-python.tar.gz"
    official.write_bytes(blob)
    with pytest.raises(ChecksumError, match="md5"):
        from alexnet.original.batches import convert_cifar10
        convert_cifar10(official, tmp_path / "out")
    other = tmp_path / "mine.tar.gz"
    other.write_bytes(blob)
    with pytest.raises(ChecksumError):
        convert_cifar10(other, tmp_path / "out2", md5="0" * 32)


@pytest.mark.parametrize("batch", [
    [1, 2], {"data": "x", "labels": []}, {b"data": np.zeros((2, 3072), np.uint8)},
    {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]},
    {"data": np.zeros((2, 3072), np.uint8), "labels": ["a", "b"]},
    {"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]},
])
def test_wrong_cifar_batch_structure_is_one_line(batch):
    from alexnet.cifar import check_batch
    with pytest.raises(DataError):
        check_batch(batch, "member")


# ---------------------------------------------------------------------------------------
# Leftovers, locks, where files go


def test_stale_tmp_files_are_swept(tmp_path):
    old, fresh = tmp_path / ".ckpt.json.abc.tmp", tmp_path / ".ckpt.json.def.tmp"
    for p in (old, fresh):
        p.write_text("x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert sweep_stale_tmp(tmp_path) == [old]
    assert fresh.exists() and not old.exists()


def test_one_process_per_folder(tmp_path):
    with folder_lock(tmp_path):
        code = ("import sys; from alexnet.io import folder_lock\n"
                "from alexnet.errors import FolderBusy\n"
                "try:\n    folder_lock(sys.argv[1]).__enter__()\n"
                "except FolderBusy as e:\n    print(e); sys.exit(3)\n")
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                           text=True)
        assert r.returncode == 3 and str(os.getpid()) in r.stdout
    with folder_lock(tmp_path):  # released on exit
        pass
    assert issubclass(FolderBusy, AlexNetError)


def test_cuda_cache_follows_alexnet_cache(monkeypatch, tmp_path):
    from alexnet.cuda import build
    monkeypatch.delenv("ALEXNET_CUDA_CACHE", raising=False)
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path))
    assert build.cache_root() == tmp_path / "cuda"


# ---------------------------------------------------------------------------------------
# Hostile inputs (property-based): only AlexNetError, never anything else


@given(st.binary(max_size=400), st.integers(0, 2000))
def test_mutated_pickles_fail_only_as_alexnet_errors(noise, where):
    good = pickling.dumps({"data": np.zeros((4, 8), np.uint8), "labels": [0, 1, 2, 3],
                           "batch_label": "b"})
    where = where % (len(good) + 1)
    for blob in (good[:where] + noise + good[where:], good[:where] + noise,
                 good[:where]):
        try:
            pickling.loads(blob)
        except AlexNetError:
            pass


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=12)


@given(st.sampled_from(["position", "rng", "config", "model_config", "tensors", "state",
                        "arch", "format", "version"]), JSON_VALUES)
def test_mutated_checkpoint_json_fails_only_as_alexnet_errors(port_ckpt, tmp_path_factory,
                                                              field, value):
    dst = tmp_path_factory.mktemp("mut")
    p = _edited(port_ckpt, dst, lambda m: m.__setitem__(field, value))
    try:
        ck.build_for(ck.read_checkpoint(p))
    except AlexNetError:
        pass


@given(st.binary(min_size=0, max_size=64), st.integers(0, 200))
def test_mutated_safetensors_header_fails_only_as_alexnet_errors(port_ckpt, tmp_path_factory,
                                                                 noise, where):
    import hashlib
    dst = tmp_path_factory.mktemp("st")
    meta = json.loads(port_ckpt.read_text())
    blob = (port_ckpt.parent / meta["tensors"]["file"]).read_bytes()
    where = 8 + where % 200
    blob = blob[:where] + noise + blob[where + len(noise):]
    (dst / meta["tensors"]["file"]).write_bytes(blob)
    meta["tensors"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (dst / port_ckpt.name).write_text(json.dumps(meta))
    try:
        ck.build_for(ck.read_checkpoint(dst / port_ckpt.name))
    except AlexNetError:
        pass


@given(st.sampled_from(["filters = ", "channels = ", "outputs = ", "filterSize = ",
                        "stride = ", "padding = ", "inputs = ", "type = "]),
       st.one_of(st.integers(-2**40, 2**40).map(str), st.text(max_size=10)))
def test_mutated_cfg_fails_only_as_config_errors(tmp_path_factory, key, value):
    text = (LAYERS / "layers-80sec.cfg").read_text()
    i = text.find(key)
    if i < 0:
        return
    j = text.find("\n", i)
    d = tmp_path_factory.mktemp("cfg") / "d.cfg"
    d.write_text(text[:i] + key + value.replace("\n", " ").replace("\r", " ") + text[j:])
    try:
        parse_layers(d, LAYERS / "layer-params-80sec.cfg")
    except ConfigError:
        pass


MEMORY_BOUND = 2 << 30  # 2 GiB of address space for a child reading a hostile file


def test_hostile_checkpoint_in_a_memory_bounded_child(port_ckpt, tmp_path):
    """The CLI on a checkpoint that asks for a giant net: exit 2, one line, within 2 GiB,
    nothing written outside the target folder."""
    p = _edited(port_ckpt, tmp_path / "t",
                lambda m: m["model_config"].update(num_classes=2**40))
    before = set(tmp_path.rglob("*"))

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND * 4, MEMORY_BOUND * 4))
        resource.setrlimit(resource.RLIMIT_CPU, (120, 120))

    r = subprocess.run([sys.executable, "-m", "alexnet.cli", "evaluate", "--checkpoint",
                        str(p), "--data", str(tmp_path / "none")],
                       capture_output=True, text=True, preexec_fn=limit, timeout=180,
                       env={**os.environ, "ALEXNET_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    assert {q for q in set(tmp_path.rglob("*")) - before
            if "cache" not in q.parts} == set()


def test_cli_module_runs_as_a_program():
    assert hasattr(cli_mod, "main")
    atomic_write_text  # noqa: B018 - imported for the reliability page's cross-reference


@pytest.mark.parametrize("mode,value,want", [("I;16", 32768, 128), ("I", 65535, 255),
                                             ("F", 0.5, 128)])
def test_deep_images_are_scaled_not_clipped(tmp_path, mode, value, want):
    from PIL import Image

    from alexnet.images import to_rgb
    from alexnet.modern.data import decode_image
    img = Image.new(mode, (4, 4), value)
    got = np.asarray(to_rgb(img))
    assert got.shape == (4, 4, 3) and np.all(got == want)  # exact: a constant image
    if mode == "I;16":
        img.save(tmp_path / "deep.png")
        assert np.all(np.asarray(decode_image(tmp_path / "deep.png", size=None)) == want)


def test_evaluate_counts_only_skipped_test_images():
    from alexnet.modern.data import Dataset, skipped_in
    ds = Dataset.__new__(Dataset)
    ds.skipped = [("train/cat/a.jpg", "truncated"), ("test/dog/b.png", "not an image"),
                  ("imgs/val/dog/c.jpg", "truncated")]
    assert skipped_in(ds, "test") == ds.skipped[1:]
    assert skipped_in(ds, "train") == ds.skipped[:1]


def test_prepare_rechecks_the_fetched_file_against_its_pin(tmp_path, cifar_python_tarball, md5):
    import hashlib

    from alexnet.pipeline import fetch as F
    from alexnet.pipeline.prepare import load_fetched_dataset
    blob = cifar_python_tarball(per_batch=4, test=4)
    (tmp_path / "c.tar.gz").write_bytes(blob)
    manifest = {"format": F.FORMAT, "dataset": "cifar10", "kind": "cifar10",
                "files": [{"file": "c.tar.gz", "path": "c.tar.gz", "md5": md5(blob),
                           "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}]}
    (tmp_path / F.MANIFEST).write_text(json.dumps(manifest))
    (tmp_path / "c.tar.gz").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))  # changed since
    with pytest.raises(ChecksumError):
        load_fetched_dataset(tmp_path, size=None, cache_dir=str(tmp_path / "cache"),
                             progress=False)
