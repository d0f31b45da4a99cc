"""The training loop: determinism, bit-exact resume, interruption, errors, run records."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from alexnet.errors import CheckpointError, ConfigError, DataError
from alexnet.modern import checkpoint as ck
from alexnet.modern.train import TrainConfig, TrainingDiverged, train
from alexnet.modern.update import load_schedule


@pytest.fixture(scope="session")
def tiny(tiny_build):
    def build(arch="tiny", **kw):
        kw.setdefault("classes", 3)
        kw.setdefault("side", 28)  # stored 32 -> border 2: crops and flips are exercised
        kw.setdefault("eps", 1e-4)
        return tiny_build(arch, **kw)

    return build


@pytest.fixture(scope="module")
def data(tmp_path_factory, make_image_folder):
    return make_image_folder(tmp_path_factory.mktemp("data") / "imgs", n_train=16, n_test=4)


def _cfg(tmp_path, data, name, **kw):
    base = dict(arch="tiny", data=str(data), out=str(tmp_path / name), epochs=2, batch=8,
                seed=3, cache_dir=str(tmp_path / "cache"), progress=False, shuffle="epoch",
                pca_noise="code")
    base.update(kw)
    return TrainConfig(**base)


def _final_state(out):
    c = ck.read_checkpoint(out)
    return {k: v for k, v in c.tensors.items() if k.startswith(("model/", "velocity/"))}, c


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit-exact, not approximately equal


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, data, tiny):
    r1 = train(_cfg(tmp_path, data, "a"), build=tiny)
    r2 = train(_cfg(tmp_path, data, "b"), build=tiny)
    r3 = train(_cfg(tmp_path, data, "c", seed=4), build=tiny)
    s1, _ = _final_state(r1.out)
    s2, _ = _final_state(r2.out)
    s3, _ = _final_state(r3.out)
    _assert_same(s1, s2)
    assert [e["train_loss"] for e in r1.metrics["epochs"]] == \
        [e["train_loss"] for e in r2.metrics["epochs"]]
    assert not torch.equal(s1["model/conv1.weight"], s3["model/conv1.weight"])


@pytest.mark.parametrize("stop_at", [3, 6, 9])  # mid-epoch, at an epoch's end, mid-epoch 2
def test_resume_is_bit_exact(tmp_path, data, stop_at, tiny):
    straight = train(_cfg(tmp_path, data, "straight"), build=tiny)
    half = train(_cfg(tmp_path, data, "split"), build=tiny, max_steps=stop_at)
    assert half.status == "stopped"
    c = ck.read_checkpoint(half.out)
    assert c.meta["position"]["step"] == stop_at
    rest = train(_cfg(tmp_path, data, "split"), build=tiny, resume=True)
    assert rest.status == "finished"
    a, _ = _final_state(straight.out)
    b, _ = _final_state(rest.out)
    _assert_same(a, b)
    assert [e["train_loss"] for e in straight.metrics["epochs"]] == \
        [e["train_loss"] for e in rest.metrics["epochs"]]
    assert [e["test_top1_err"] for e in straight.metrics["epochs"]] == \
        [e["test_top1_err"] for e in rest.metrics["epochs"]]


def test_ctrl_c_saves_at_a_clean_point_and_resumes_exactly(tmp_path, data, tiny):
    straight = train(_cfg(tmp_path, data, "straight"), build=tiny)

    def press_ctrl_c(step):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    r = train(_cfg(tmp_path, data, "int"), build=tiny, on_step=press_ctrl_c)
    assert r.status == "interrupted"
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    assert ck.read_checkpoint(r.out).meta["position"] == {"epoch": 0, "batch": 4, "step": 4}
    assert json.loads((r.out / "metrics.json").read_text())["status"] == "interrupted"
    assert not [p for p in r.out.rglob("*") if p.name.endswith(".tmp")]
    done = train(_cfg(tmp_path, data, "int"), build=tiny, resume=True)
    _assert_same(_final_state(straight.out)[0], _final_state(done.out)[0])


def test_metrics_json_and_report(tmp_path, data, tiny):
    f = tmp_path / "sched.yaml"
    f.write_text("- {epoch: 1, layers: all, factor: 0.1}\n")
    r = train(_cfg(tmp_path, data, "m", schedule=str(f)), build=tiny)
    m = json.loads((r.out / "metrics.json").read_text())
    assert m["status"] == "finished" and m["seed"] == 3
    assert set(m["versions"]) >= {"python", "torch", "numpy", "alexnet"}
    assert [e["epoch"] for e in m["epochs"]] == [1, 2]
    for e in m["epochs"]:
        assert e["train_loss"] > 0 and 0 <= e["test_top1_err"] <= 1 and e["images_per_s"] > 0
        assert e["wall_s"] > 0
    assert m["epochs"][0]["eps"]["conv1.weights[0]"] == pytest.approx(1e-4)
    assert m["epochs"][1]["eps"]["conv1.weights[0]"] == pytest.approx(1e-5)
    assert m["epochs"][1]["eps"]["conv1.biases"] == pytest.approx(2e-5)
    assert m["final"]["n"] == 12 and m["config"]["classes"] == ["cat", "dog", "frog"]
    assert m["config"]["data"]["checksum"].startswith("manifest-sha256:")
    rep = (r.out / "report.md").read_text()
    assert "| 2 |" in rep and "Final test error" in rep
    # the schedule is stored, so a resumed run keeps it even if the file goes away
    f.unlink()
    again = train(_cfg(tmp_path, data, "m", epochs=3), build=tiny, resume=True,
                  overrides={"epochs": 3})
    assert again.metrics["epochs"][2]["eps"]["conv1.weights[0]"] == pytest.approx(1e-5)


def test_divergence_stops_with_one_line_error(tmp_path, data, tiny):
    def hot(arch="tiny", **kw):
        kw["eps"] = 1e8
        return tiny(arch, **kw)

    with pytest.raises(TrainingDiverged) as ei:
        train(_cfg(tmp_path, data, "hot", epochs=3), build=hot)
    assert "\n" not in str(ei.value) and "epoch" in str(ei.value)


def test_run_folder_errors(tmp_path, data, tiny):
    cfg = _cfg(tmp_path, data, "e", epochs=1)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(cfg, build=tiny, resume=True)
    train(cfg, build=tiny)
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, build=tiny)
    with pytest.raises(ConfigError) as ei:
        train(cfg, build=tiny, resume=True, overrides={"arch": "cifar10-80sec"})
    msg = str(ei.value)
    assert "ckpt-e0001-b000000.json" in msg and "'tiny'" in msg and "'cifar10-80sec'" in msg


def test_other_architecture_checkpoint_is_refused(tmp_path, data, tiny):
    cfg = _cfg(tmp_path, data, "arch", epochs=1)
    train(cfg, build=tiny)

    def other(arch="tiny", **kw):
        return tiny("cifar10-18pct", **{k: v for k, v in kw.items()})

    with pytest.raises(CheckpointError) as ei:
        train(cfg, build=other, resume=True)
    assert "'tiny'" in str(ei.value) and "'cifar10-18pct'" in str(ei.value)


def test_changed_data_is_refused_on_resume(tmp_path, tiny, make_image_folder):
    d = make_image_folder(tmp_path / "d", n_train=8, n_test=2)
    cfg = _cfg(tmp_path, d, "dd", epochs=2)
    train(cfg, build=tiny, max_steps=2)
    make_image_folder(tmp_path / "d", n_train=9, n_test=2)  # one more image per class
    with pytest.raises(DataError, match="trained on"):
        train(cfg, build=tiny, resume=True)


def test_class_count_mismatch(tmp_path, data, tiny):
    def ten(arch="tiny", **kw):
        kw["classes"] = 10
        return tiny(arch, **kw)

    with pytest.raises(DataError, match="3 classes"):
        train(_cfg(tmp_path, data, "cls"), build=ten)


@pytest.mark.parametrize("key, value", [("batch", 0), ("test_views", 5), ("shuffle", "twice"),
                                        ("pca_noise", "both"), ("keep", 0)])
def test_impossible_settings_name_the_setting(tmp_path, data, key, value, tiny):
    with pytest.raises(ConfigError, match=key):
        train(_cfg(tmp_path, data, "v", **{key: value}), build=tiny)


class _Killed(BaseException):
    """Stands for SIGKILL inside a checkpoint write (not an Exception: nothing catches it)."""


@pytest.mark.parametrize("writer", ["atomic_write_bytes", "atomic_write_text"])
def test_kill_inside_a_checkpoint_write_resumes_bit_exactly(tmp_path, data, tiny, monkeypatch,
                                                            writer):
    """A run killed while writing its second checkpoint (tensors file or JSON), leaving a
    temporary file behind as a real kill would, resumes from the first and ends with the
    same bits as an uninterrupted run; the leftover is swept by a later save."""
    straight = train(_cfg(tmp_path, data, "straight"), build=tiny)
    real = getattr(ck, writer)
    calls = {"n": 0}

    def dying(path, data_, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint
            leftover = path.with_name(f".{path.name}.dead.tmp")
            leftover.write_bytes(b"half")
            os.utime(leftover, (1, 1))  # long ago: its writer is gone
            raise _Killed
        return real(path, data_, **kw)

    monkeypatch.setattr(ck, writer, dying)
    with pytest.raises(_Killed):
        train(_cfg(tmp_path, data, "killed"), build=tiny)
    monkeypatch.setattr(ck, writer, real)
    assert list((tmp_path / "killed" / "checkpoints").glob(".*.tmp"))
    rest = train(_cfg(tmp_path, data, "killed"), build=tiny, resume=True)
    assert rest.status == "finished"
    a, _ = _final_state(straight.out)
    b, _ = _final_state(rest.out)
    _assert_same(a, b)
    assert not list((tmp_path / "killed" / "checkpoints").glob(".*.tmp"))


def test_limits_take_stratified_subsets_and_say_so(tmp_path, data, tiny):
    logs: list[str] = []
    r = train(_cfg(tmp_path, data, "lim", epochs=1, limit_train=8, limit_test=2),
              build=tiny, log=logs.append)
    notes = r.metrics["subsets"]
    assert set(notes) == {"train", "test"}
    assert "stratified subset of 8 of" in notes["train"] and notes["train"] in logs
    assert r.metrics["final"]["n"] == 2
    assert "stratified subset of 8 of" in (r.out / "report.md").read_text()


@pytest.mark.parametrize("arch, epochs, schedule, test_views, final_views", [
    ("cifar10-80sec", 10, "cifar10-80sec", 1, None),
    ("cifar10-18pct", 140, "cifar10-18pct", 1, None),
    ("cifar10-conv-local-11pct", 520, "cifar10-conv-local-11pct", 1, 9),
    ("alexnet2012", 90, "alexnet2012", 1, 10),
    ("cifar10-19pct", 10, "none", 1, None),   # no recipe in the registry
    ("tiny", 10, "none", 1, None),            # not in the registry at all
])
def test_unset_recipe_fields_come_from_the_registry(arch, epochs, schedule, test_views,
                                                    final_views):
    cfg = TrainConfig(arch=arch).with_recipe()
    assert (cfg.epochs, cfg.schedule, cfg.test_views, cfg.final_views) == \
        (epochs, schedule, test_views, final_views)
    load_schedule(cfg.schedule)  # every recipe names a schedule that exists


def test_given_settings_override_the_recipe():
    cfg = TrainConfig(arch="cifar10-18pct", epochs=3, schedule="none", test_views=10,
                      final_views=1).with_recipe()
    assert (cfg.epochs, cfg.schedule, cfg.test_views, cfg.final_views) == (3, "none", 10, 1)
