"""The 2012 update rule (paper section 5;
docs/reference/recreation.md#recreation-update) and learning-rate schedules."""

from __future__ import annotations

import json

import pytest
import torch

from alexnet.errors import ConfigError
from alexnet.modern.update import PRESETS, Update2012, load_schedule, parse_schedule


def _one(w0: float, *, eps: float, mom: float = 0.9, wc: float = 0.0, kind: str = "weights"):
    p = torch.nn.Parameter(torch.tensor([w0], dtype=torch.float64))
    opt = Update2012([{"name": "x.weights[0]", "layer": "x", "param": p, "kind": kind,
                       "eps": eps, "mom": mom, "wc": wc}])
    return p, opt


def _step(p, opt, grad: float) -> None:
    p.grad = torch.tensor([grad], dtype=torch.float64)
    opt.step()


def test_rule_by_hand_with_weight_decay():
    # v1 = -wc*eps*w0 - eps*g = -0.0005*0.1*2 - 0.1*0.5 = -0.0501; w1 = 1.9499
    # v2 = 0.9*v1 - 0.0005*0.1*w1 - 0.1*0.5 = -0.095187495;      w2 = 1.854712505
    p, opt = _one(2.0, eps=0.1, wc=0.0005)
    _step(p, opt, 0.5)
    assert p.item() == pytest.approx(1.9499, abs=1e-12)  # float64: exact up to rounding
    _step(p, opt, 0.5)
    assert opt.velocities()["x.weights[0]"].item() == pytest.approx(-0.095187495, abs=1e-12)
    assert p.item() == pytest.approx(1.854712505, abs=1e-12)


def test_biases_get_no_weight_decay_even_if_given():
    p, opt = _one(2.0, eps=0.1, wc=0.0005, kind="biases")
    _step(p, opt, 0.5)
    assert p.item() == pytest.approx(2.0 - 0.05, abs=1e-12)


def test_after_a_rate_drop_it_differs_from_torch_sgd_as_the_paper_predicts():
    # Constant gradient 0.5, momentum 0.9, eps 0.1, 0.1, then 0.01 (a 10x drop).
    # Paper:  v1=-0.05 w1=0.95; v2=-0.095 w2=0.855; v3=0.9*(-0.095)-0.01*0.5=-0.0905 w3=0.7645
    # torch:  b1=0.5 w1=0.95;   b2=0.95 w2=0.855;   b3=0.9*0.95+0.5=1.355 w3=0.855-0.01355=0.84145
    rates = [0.1, 0.1, 0.01]
    p, opt = _one(1.0, eps=rates[0])
    q = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    sgd = torch.optim.SGD([q], lr=rates[0], momentum=0.9)
    ours, theirs = [], []
    for eps in rates:
        opt.param_groups[0]["eps"] = eps
        for g in sgd.param_groups:
            g["lr"] = eps
        _step(p, opt, 0.5)
        q.grad = torch.tensor([0.5], dtype=torch.float64)
        sgd.step()
        ours.append(p.item())
        theirs.append(q.item())
    tol = 1e-12  # float64 arithmetic on a handful of operations
    assert ours == pytest.approx([0.95, 0.855, 0.7645], abs=tol)
    assert theirs == pytest.approx([0.95, 0.855, 0.84145], abs=tol)
    # Identical while eps is constant; after the drop the paper's rule keeps the old
    # velocity at full size, torch scales it by the new rate: the gap is
    # (1 - eps_new/eps_old) * mom * v_prev = 0.9 * 0.9 * (-0.095) = -0.07695.
    assert ours[1] == pytest.approx(theirs[1], abs=tol)
    assert ours[2] - theirs[2] == pytest.approx((1 - 0.01 / 0.1) * 0.9 * -0.095, abs=tol)


def test_constant_rate_matches_torch_sgd_on_a_model(tiny_net):
    torch.manual_seed(0)
    a, b = tiny_net(dropout=False), tiny_net(dropout=False)
    b.load_state_dict(a.state_dict())
    opt = Update2012(a.param_groups())
    groups = [{"params": [g["param"]], "lr": g["eps"], "momentum": g["mom"],
               "weight_decay": g["wc"]} for g in b.param_groups()]
    sgd = torch.optim.SGD(groups)
    x = torch.randn(8, 3, 32, 32) * 50
    y = torch.randint(0, 10, (8,))
    for _ in range(5):
        for net, o in ((a, opt), (b, sgd)):
            net.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            o.step()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        # float32, different operation order (eps applied before vs after summing): 1e-6
        torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6, msg=k)


def test_eps_zero_freezes_without_decay():
    p, opt = _one(2.0, eps=0.1, wc=0.0005)
    _step(p, opt, 0.5)
    w, v = p.item(), opt.velocities()["x.weights[0]"].clone()
    opt.param_groups[0]["eps"] = 0.0
    for _ in range(3):
        _step(p, opt, 0.5)
    assert p.item() == w  # not even weight decay or momentum moves it
    assert torch.equal(opt.velocities()["x.weights[0]"], v)


def test_duplicate_parameter_is_refused():
    p = torch.nn.Parameter(torch.zeros(1))
    g = {"name": "a", "param": p, "eps": 0.1, "mom": 0.9, "wc": 0.0}
    with pytest.raises(ConfigError, match="twice"):
        Update2012([g, {**g, "name": "b"}])


# ---- schedules


def _opt(tiny_net):
    return Update2012(tiny_net().param_groups())


def test_preset_80sec_drops_tenfold_after_8_epochs(tiny_net):
    s = load_schedule("cifar10-80sec")
    opt = _opt(tiny_net)
    s.apply(opt, 7)
    assert opt.rates()["conv1.weights[0]"] == pytest.approx(0.01)
    s.apply(opt, 8)
    assert opt.rates()["conv1.weights[0]"] == pytest.approx(0.001)
    assert opt.rates()["fc.biases"] == pytest.approx(0.002)
    s.apply(opt, 0)  # a pure function of the epoch: going back restores the base rate
    assert opt.rates()["conv1.weights[0]"] == pytest.approx(0.01)


def test_layer_globs_absolute_rates_and_freeze(tmp_path, tiny_net):
    f = tmp_path / "s.yaml"
    f.write_text("- {epoch: 2, layers: all, factor: 0.1}\n"
                 "- {epoch: 3, layers: conv1*, epsW: 0.00001, epsB: 0.00002}\n"
                 "- {epoch: 4, layers: [conv1], eps: 0}\n"
                 "- {epoch: 4, color_noise: 0}\n")
    s = load_schedule(f)
    opt = _opt(tiny_net)
    s.apply(opt, 3)
    r = opt.rates()
    assert r["conv1.weights[0]"] == pytest.approx(1e-5)
    assert r["conv1.biases"] == pytest.approx(2e-5)
    assert r["fc.weights[0]"] == pytest.approx(0.001)
    s.apply(opt, 4)
    assert opt.rates()["conv1.weights[0]"] == 0.0 and opt.rates()["conv1.biases"] == 0.0
    assert opt.rates()["fc.biases"] == pytest.approx(0.002)
    assert s.color_noise_for(0.1, 3) == 0.1 and s.color_noise_for(0.1, 4) == 0.0


def test_preset_alexnet2012_anneals_weights_only_like_run_145(tiny_net):
    # Run 145's notes lower epsW three times and leave epsB at its start value, except
    # conv1, frozen whole at epoch 73. Rates are products of powers of ten: rel=1e-9.
    s = load_schedule("alexnet2012")
    opt = _opt(tiny_net)
    base = {k: v for k, v in opt.rates().items()}
    for epoch, drops in ((21, 0), (22, 1), (49, 2), (81, 3)):
        s.apply(opt, epoch)
        r = opt.rates()
        assert r["fc.weights[0]"] == pytest.approx(base["fc.weights[0]"] * 0.1**drops,
                                                   rel=1e-9)
        assert r["fc.biases"] == pytest.approx(base["fc.biases"], rel=1e-9)
    s.apply(opt, 66)
    assert opt.rates()["conv1.weights[0]"] == pytest.approx(
        base["conv1.weights[0]"] * 1e-3, rel=1e-9)
    assert opt.rates()["conv1.biases"] == pytest.approx(base["conv1.biases"], rel=1e-9)
    assert s.color_noise_for(0.1, 66) == 0.0
    s.apply(opt, 73)
    assert opt.rates()["conv1.weights[0]"] == 0.0 and opt.rates()["conv1.biases"] == 0.0


def test_preset_alexnet2012_run4_lowers_bias_rates_once(tiny_net):
    s = load_schedule("alexnet2012-run4")
    opt = _opt(tiny_net)
    base = opt.rates()
    for epoch, wdrops, bdrops in ((21, 0, 0), (22, 1, 1), (49, 2, 1), (81, 3, 1)):
        s.apply(opt, epoch)
        r = opt.rates()
        assert r["fc.weights[0]"] == pytest.approx(base["fc.weights[0]"] * 0.1**wdrops,
                                                   rel=1e-9)
        assert r["fc.biases"] == pytest.approx(base["fc.biases"] * 0.1**bdrops, rel=1e-9)


def test_factor_w_and_factor_b_scale_one_kind(tmp_path, tiny_net):
    f = tmp_path / "s.yaml"
    f.write_text("- {epoch: 1, layers: all, factorW: 0.5}\n- {epoch: 2, factorB: 0.25}\n")
    s = load_schedule(f)
    opt = _opt(tiny_net)
    base = opt.rates()
    s.apply(opt, 2)
    r = opt.rates()
    assert r["conv1.weights[0]"] == pytest.approx(base["conv1.weights[0]"] * 0.5, rel=1e-9)
    assert r["conv1.biases"] == pytest.approx(base["conv1.biases"] * 0.25, rel=1e-9)
    assert parse_schedule(s.to_json()).to_json() == s.to_json()


def test_json_schedule_and_round_trip(tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"rules": PRESETS["alexnet2012"]}))
    s = load_schedule(f)
    assert parse_schedule(s.to_json()).to_json() == s.to_json()


@pytest.mark.parametrize("text, match", [
    ("- {layers: all, factor: 0.1}\n", "missing 'epoch'"),
    ("- {epoch: 1, layers: all}\n", "needs factor"),
    ("- {epoch: 1, factr: 0.1}\n", "unknown key"),
    ("- {epoch: -1, factor: 0.1}\n", "integer >= 0"),
    ("- {epoch: 1, factor: -2}\n", ">= 0"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_schedule_files_are_one_line_errors(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match) as ei:
        load_schedule(f)
    assert str(f) in str(ei.value) and "\n" not in str(ei.value)


def test_missing_schedule_names_presets(tmp_path):
    with pytest.raises(ConfigError, match="cifar10-80sec"):
        load_schedule(tmp_path / "nope.yaml")
