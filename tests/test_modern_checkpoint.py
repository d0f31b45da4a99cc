"""Checkpoints: safetensors + JSON, atomic, verified, never executing code."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from alexnet.errors import CheckpointError
from alexnet.modern import checkpoint as ck
from alexnet.modern.update import Update2012


def _trained(tiny_net, seed=0, arch="tiny"):
    torch.manual_seed(seed)
    net = tiny_net(arch=arch)
    opt = Update2012(net.param_groups())
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    for _ in range(2):
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net, opt


def _save(folder, net, opt, epoch=1, batch=0, **kw):
    return ck.save_checkpoint(folder, model=net, optimizer=opt,
                              position={"epoch": epoch, "batch": batch, "step": 3},
                              config={"classes": ["a"]}, state={"history": [1.5]},
                              extra_tensors={"data/mean": torch.ones(2, 2, 3)}, **kw)


def test_round_trip_weights_velocities_rng(tmp_path, tiny_net):
    net, opt = _trained(tiny_net)
    torch.manual_seed(5)
    np.random.seed(6)
    random.seed(7)
    jp = _save(tmp_path, net, opt)
    want = (torch.rand(3), np.random.rand(3), random.random())
    net2, opt2 = tiny_net(), None
    opt2 = Update2012(net2.param_groups())
    c = ck.read_checkpoint(tmp_path)
    assert c.path == jp and c.meta["position"]["epoch"] == 1 and c.meta["state"]["history"]
    ck.restore(c, net2, opt2, rng=True)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]
    for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    for k, v in opt.velocities().items():
        assert torch.equal(v, opt2.velocities()[k]) and v.abs().sum() > 0
    assert torch.equal(c.tensors["data/mean"], torch.ones(2, 2, 3))
    js = json.loads(jp.read_text())
    assert js["tensors"]["file"] == jp.with_suffix(".safetensors").name
    assert len(js["tensors"]["sha256"]) == 64


def test_other_architecture_is_a_one_line_error(tmp_path, tiny_net):
    net, opt = _trained(tiny_net, arch="cifar10-18pct")
    jp = _save(tmp_path, net, opt)
    with pytest.raises(CheckpointError) as ei:
        ck.restore(ck.read_checkpoint(jp), tiny_net(arch="cifar10-80sec"))
    msg = str(ei.value)
    assert str(jp) in msg and "cifar10-18pct" in msg and "cifar10-80sec" in msg
    assert "\n" not in msg


def test_tampered_or_missing_tensors_are_refused(tmp_path, tiny_net):
    net, opt = _trained(tiny_net)
    jp = _save(tmp_path, net, opt)
    st = jp.with_suffix(".safetensors")
    blob = bytearray(st.read_bytes())
    blob[-5] ^= 0xFF
    st.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="sha256"):
        ck.read_checkpoint(jp)
    st.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        ck.read_checkpoint(jp)


def test_a_pickle_is_never_loaded(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('ran')",))

    p = tmp_path / "model.pt"
    p.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="expected a checkpoint"):
        ck.read_checkpoint(p)
    j = tmp_path / "ckpt-e0001-b000000.json"
    j.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="unreadable checkpoint JSON"):
        ck.read_checkpoint(j)


def test_keep_prunes_and_latest_wins(tmp_path, tiny_net):
    net, opt = _trained(tiny_net)
    for e in range(1, 5):
        _save(tmp_path / "checkpoints", net, opt, epoch=e, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["ckpt-e0003-b000000.json", "ckpt-e0003-b000000.safetensors",
                     "ckpt-e0004-b000000.json", "ckpt-e0004-b000000.safetensors"]
    # a run folder, its checkpoints folder, a .json or a .safetensors all resolve
    latest = tmp_path / "checkpoints" / "ckpt-e0004-b000000.json"
    assert ck.find_checkpoint(tmp_path) == latest
    assert ck.find_checkpoint(latest.with_suffix(".safetensors")) == latest
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        ck.find_checkpoint(tmp_path / "empty")


def test_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, tiny_net):
    net, opt = _trained(tiny_net)
    first = _save(tmp_path, net, opt, epoch=1)

    def crash(path, text):
        raise KeyboardInterrupt  # Ctrl-C between the tensors file and the JSON

    monkeypatch.setattr(ck, "atomic_write_text", crash)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, net, opt, epoch=2)
    monkeypatch.undo()
    assert ck.find_checkpoint(tmp_path) == first  # the orphan tensors file is ignored
    ck.read_checkpoint(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    _save(tmp_path, net, opt, epoch=3)  # the next save clears the orphan
    assert not (tmp_path / "ckpt-e0002-b000000.safetensors").exists()


def test_build_for_rebuilds_from_the_stored_config(tmp_path, tiny_net, tiny_build):
    net, opt = _trained(tiny_net)
    _save(tmp_path, net, opt)
    again = ck.build_for(ck.read_checkpoint(tmp_path), tiny_build)
    for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
