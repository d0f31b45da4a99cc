"""The engine's public observer: it sees every layer, every gradient and every weight
gradient, steers only pooled values for a backward step, and changes nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet.original import cfgs
from alexnet.original.engine import TRAIN, Engine, EngineObserver
from alexnet.original.initial_weights import init_weights
from alexnet.original.layer import parse_layers
from alexnet.original.weights import Param


class Log(EngineObserver):
    def __init__(self) -> None:
        self.acts: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.wgrads: dict[str, np.ndarray] = {}
        self.updated_names: list[str] = []
        self.pooled: list[str] = []

    def activation(self, layer: str, value: np.ndarray) -> None:
        self.acts[layer] = value

    def gradient(self, layer: str, value: np.ndarray) -> None:
        self.grads[layer] = value.copy()

    def weight_gradient(self, param: Param, value: np.ndarray) -> None:
        self.wgrads[param.name] = np.array(value, copy=True)

    def updated(self, param: Param) -> None:
        self.updated_names.append(param.name)

    def pooled_for_backward(self, layer: str, pooled: np.ndarray) -> np.ndarray | None:
        self.pooled.append(layer)
        return None


def _layers():
    g = parse_layers(*cfgs.pair("80sec"))
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=0)
    return layers


def _batch(n: int = 8):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3072, n)).astype(np.float32) * 40
    y = rng.integers(0, 10, (1, n)).astype(np.float32)
    return [x, y]


@pytest.fixture(scope="module")
def observed():
    layers = _layers()
    log = Log()
    e = Engine(layers, observer=log)
    e.needs_grad["data"] = True
    data = _batch()
    e.fprop(data, TRAIN)
    acts = dict(e.acts)
    e.bprop(0.0, data[0].shape[1])
    e.update(0.0)
    return layers, e, log, acts


def test_observer_receives_every_layer_activation(observed):
    layers, _e, log, acts = observed
    assert list(log.acts) == [n for n, d in layers.items() if d["type"] != "cost.logreg"]
    assert all(log.acts[n] is acts[n] for n in acts)   # the engine's own arrays


def test_observer_receives_gradients_of_every_layer_and_the_input(observed):
    layers, _e, log, acts = observed
    expected = {n for n, d in layers.items() if d["type"] not in ("data", "cost.logreg")}
    assert set(log.grads) == expected | {"data"}
    for name, g in log.grads.items():
        assert g.shape == acts[name].shape


def test_observer_receives_weight_gradients_and_updates(observed):
    _layers_, e, log, _acts = observed
    names = [p.name for ps in e.params.values() for p in ps if p.active]
    assert sorted(log.wgrads) == sorted(names)
    assert log.updated_names == names
    for ps in e.params.values():
        for p in ps:
            assert log.wgrads[p.name].size == p.w.size
    pools = [n for n, d in e.layers.items() if d["type"] == "pool"]
    assert sorted(log.pooled) == sorted(pools)


def test_an_observer_changes_no_number():
    data = _batch()
    plain, watched = _layers(), _layers()
    Engine(plain, seed=1).train_minibatch(data, 0.0)
    Engine(watched, seed=1, observer=Log()).train_minibatch(data, 0.0)
    for name, d in plain.items():
        for key in ("weights", "weightsInc"):
            for a, b in zip(d.get(key, []), watched[name].get(key, []), strict=True):
                assert np.array_equal(a, b)


def test_substitute_pooled_values_move_one_windows_gradient():
    """A max pool's backward credits the inputs equal to the pooled value: handing it
    another element's value for one window sends that window's gradient there."""
    layers = _layers()
    data = _batch(2)
    pool = next(n for n, d in layers.items() if d["type"] == "pool" and d["pool"] == "max")
    src = layers[pool]["inputs"][0]

    class Grads(EngineObserver):
        def __init__(self, swap: dict | None = None) -> None:
            self.swap, self.grads = swap, {}

        def gradient(self, layer, value):
            self.grads[layer] = value.copy()

        def pooled_for_backward(self, layer, pooled):
            if self.swap is None or layer != pool:
                return None
            out = pooled.copy()
            out.reshape(-1)[0] = self.swap["value"]
            return out

    base = Grads()
    e = Engine(_layers(), observer=base)
    e.fprop(data, TRAIN)
    x = e.acts[src]
    e.bprop(0.0, 2)
    # window 0 of channel 0, case 0 covers input rows 0..sizeX-1 of the image's first rows;
    # pick an element of that window other than the maximum and use its value
    d = layers[pool]
    img, size = d["imgSize"], d["sizeX"]
    rows = [(r * img + c) for r in range(size) for c in range(size)]
    vals = x[rows, 0]
    other = int(np.argmin(vals))
    assert vals[other] != vals.max()
    moved = Grads({"value": vals[other]})
    e = Engine(layers, observer=moved)
    e.fprop(data, TRAIN)
    e.bprop(0.0, 2)
    g0, g1 = base.grads[src], moved.grads[src]
    changed = np.nonzero(g0 != g1)
    assert set(changed[1]) <= {0}                 # only case 0
    assert rows[other] in set(changed[0])         # the chosen element now receives it
