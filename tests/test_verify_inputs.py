"""Bad input: clear one-line errors and exit status 2, never a traceback or a verdict."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from alexnet.cli import cli
from alexnet.errors import BackendUnavailable, CheckpointError, ChecksumError
from alexnet.original.checkpoint import save_layers
from alexnet.verify import backends, bundled, runner


def _run(*args: str):
    return CliRunner().invoke(cli, ["verify", "-q", "--no-report", *args])


def _assert_usage_error(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in res.output, res.output


@pytest.fixture(scope="module")
def ckpt_2012(tmp_path_factory):
    """A 2012 pickled checkpoint of the 80sec net (the bundled weights, converted)."""
    prep = runner.prepare("cifar10-80sec")
    folder = tmp_path_factory.mktemp("ck2012")
    return save_layers(prep.ref_layers, folder)


def test_unknown_arch():
    _assert_usage_error(_run("--arch", "lenet5"), "error:", "unknown --arch 'lenet5'")


def test_paper_variant_has_no_2012_reference():
    _assert_usage_error(_run("--arch", "alexnet2012-paper"), "no 2012 reference")


def test_unknown_suite_is_a_usage_error():
    res = _run("imagenet-2013")
    assert res.exit_code == 2 and "Invalid value" in res.output


def test_cuda_backend_without_a_gpu_says_which_and_why():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _assert_usage_error(_run("cifar10-80sec", "--backend", "cuda"), "backend 'cuda'",
                        "no usable NVIDIA GPU")
    with pytest.raises(BackendUnavailable):
        backends.resolve("cuda")


def test_fallback_runs_numpy_and_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = backends.resolve("cuda", fallback=True)
    assert r.name == "numpy" and "ran the numpy backend instead" in r.note
    res = CliRunner().invoke(cli, ["verify", "cifar10-18pct", "--backend", "cuda",
                                   "--fallback", "--no-report"])
    assert res.exit_code == 0, res.output
    assert "note: backend 'cuda' is not available" in res.output


def test_2012_checkpoint_verifies_with_its_arch(ckpt_2012):
    res = _run("--weights", str(ckpt_2012), "--arch", "cifar10-80sec")
    assert res.exit_code == 0, res.output


def test_2012_checkpoint_needs_an_arch(ckpt_2012):
    _assert_usage_error(_run("--weights", str(ckpt_2012)), "pass --arch")


def test_weights_of_another_architecture(ckpt_2012):
    _assert_usage_error(_run("--weights", str(ckpt_2012), "--arch", "cifar10-18pct"),
                        "another network")


def test_truncated_2012_checkpoint(ckpt_2012, tmp_path):
    bad = tmp_path / "1.1"
    bad.write_bytes(ckpt_2012.read_bytes()[: ckpt_2012.stat().st_size // 2])
    _assert_usage_error(_run("--weights", str(bad), "--arch", "cifar10-80sec"), "error:")


def test_modern_safetensors_of_the_wrong_shape(tmp_path):
    # the 18pct bundle handed over as weights for the 80sec net
    src = bundled.bundled_dir() / "cifar10-18pct.safetensors"
    dst = tmp_path / "w.safetensors"
    shutil.copy(src, dst)
    _assert_usage_error(_run("--weights", str(dst), "--arch", "cifar10-80sec"), "error:")


def test_truncated_safetensors(tmp_path):
    src = bundled.bundled_dir() / "cifar10-80sec.safetensors"
    dst = tmp_path / "w.safetensors"
    dst.write_bytes(src.read_bytes()[:1000])
    _assert_usage_error(_run("--weights", str(dst), "--arch", "cifar10-80sec"),
                        "not a readable safetensors file")


def test_bundled_safetensors_verifies_through_weights():
    src = bundled.bundled_dir() / "cifar10-80sec.safetensors"
    res = _run("--weights", str(src), "--arch", "cifar10-80sec")
    assert res.exit_code == 0, res.output


def test_missing_weights_file(tmp_path):
    _assert_usage_error(_run("--weights", str(tmp_path / "nope.safetensors"), "--arch",
                             "cifar10-80sec"), "no such file")


def _copy_bundle(tmp_path):
    d = tmp_path / "bundled"
    shutil.copytree(bundled.bundled_dir(), d)
    return d


def test_tampered_bundled_weights_are_refused(tmp_path, monkeypatch):
    d = _copy_bundle(tmp_path)
    blob = bytearray((d / "cifar10-80sec.safetensors").read_bytes())
    blob[-1] ^= 0xFF  # flip the bits of one weight byte
    (d / "cifar10-80sec.safetensors").write_bytes(bytes(blob))
    with pytest.raises(ChecksumError, match="sha256"):
        bundled.load("cifar10-80sec", d)
    monkeypatch.setattr(bundled, "bundled_dir", lambda: d)
    _assert_usage_error(_run("cifar10-80sec"), "truncated or modified bundled weights")


def test_truncated_bundled_weights_are_refused(tmp_path):
    d = _copy_bundle(tmp_path)
    p = d / "cifar10-18pct.safetensors"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ChecksumError):
        bundled.load("cifar10-18pct", d)


def test_tampered_bundled_images_are_refused(tmp_path):
    d = _copy_bundle(tmp_path)
    p = d / "cifar10-sample.npy"
    blob = bytearray(p.read_bytes())
    blob[-5] ^= 0x01
    p.write_bytes(bytes(blob))
    with pytest.raises(ChecksumError, match="bundled test images"):
        bundled.sample_images(d)


def test_missing_provenance_is_refused(tmp_path):
    d = _copy_bundle(tmp_path)
    (d / "cifar10-80sec.json").unlink()
    with pytest.raises(ChecksumError, match="missing"):
        bundled.load("cifar10-80sec", d)


def test_modern_checkpoint_for_another_arch_is_refused(tmp_path):
    from alexnet.modern import build_model
    from alexnet.modern import checkpoint as ck

    model = build_model("cifar10-18pct")  # initialised: build_port leaves weights unset
    jp = ck.save_checkpoint(tmp_path / "run", model=model, optimizer=None,
                            position={"epoch": 1, "batch": 0}, config={})
    _assert_usage_error(_run("--weights", str(jp), "--arch", "cifar10-80sec"),
                        "architecture 'cifar10-18pct'")
    # without --arch the checkpoint names its own network and verifies
    res = _run("--weights", str(jp))
    assert res.exit_code == 0, res.output


def test_self_test_refuses_user_weights():
    with pytest.raises(Exception, match="bundled suites"):
        from alexnet.verify.api import verify

        verify(arch="cifar10-80sec", self_test=True)


def test_wrong_kind_of_file(tmp_path):
    p = tmp_path / "weights.bin"
    p.write_bytes(b"hello world")
    _assert_usage_error(_run("--weights", str(p), "--arch", "cifar10-80sec"),
                        "neither a 2012 checkpoint")
    with pytest.raises(CheckpointError):
        bundled.weights_kind(p)
