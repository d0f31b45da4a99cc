"""The engine: runs a 2012 layer graph forward and backward and updates its weights.

This is the part that was C++/CUDA in 2012: the ConvNet manager and its per-GPU threads
(``src/convnet.cu`` L46-L153, L221-L261, L422-L558), the layers' fprop/bprop plumbing
(``src/layer.cu`` L45-L476), every layer class used by the AlexNet2012 cfgs and the
CIFAR-10 example nets (``src/layer.cu`` L482-L1623: neuron, fc, conv, local, softmax,
hs, data, pool, nailbed, blur, norms), the logreg cost (L1630-L1839), the training and
multiview-test workers (``src/worker.cu`` L83-L177) and the Python entry points'
semantics (``src/pyconvnet.cu`` L105-L241: startBatch/finishBatch, startMultiviewTest,
startFeatureWriter, syncWithHost).

It works on the 2012 layer dictionaries themselves (``weights``, ``weightsInc``,
``biases``, ``biasesInc`` arrays inside them are updated in place), so what a
checkpoint pickles is exactly what the engine trained, as the C++ side wrote the GPU
values back into the same numpy buffers on sync (``src/weights.cu`` L99-L125).

Model parallelism is kept as bookkeeping: every layer stays on its cfg ``gpu``; the
engine knows each device's layers (:attr:`Engine.towers`) and records every transfer
the 2012 runtime made (``src/layer.cu`` L78-L109 forward copies to consumers on other
devices, L170-L326 backward gradient sums) in :attr:`Engine.copies`, so the data flow
matches the two-GPU net even though one process computes it all. Two knowing
differences: gradient contributions from several devices are summed in consumer order
(2012 randomised the device order, L370-L380), and the arithmetic is the backend's, not
the GTX 580's.

Watching a run. Like the 2012 runtime, the engine keeps no gradient once it has used it:
each layer's incoming gradient is consumed by its backward step and weight gradients are
folded into the increment (fc, local) or gradient (conv, biases) buffers on the way
(``src/layer.cu`` L581-L606, L653-L675, L844-L879). A tool that must see those values (the
equivalence verifier, a debugger) passes an :class:`EngineObserver`, which the engine
calls at each of those moments; with none it makes no calls at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alexnet.errors import ConfigError, DataError
from alexnet.original import ops_numpy as npo
from alexnet.original.backends import Backend, get_backend
from alexnet.original.ops_numpy import ConvGeom
from alexnet.original.weights import (
    Param,
    accumulate,
    constrain_columns,
    constrain_filter_std,
    make_schedule,
)
from alexnet.original.weights import update as apply_update

TRAIN, TEST = "train", "test"

#: cost layer name -> summed values (logreg: -sum log p, top-1 errors, top-k errors)
Costs = dict[str, list[float]]

SUPPORTED = frozenset({
    "data", "conv", "local", "fc", "pool", "cmrnorm", "rnorm", "cnorm", "neuron", "hs",
    "softmax", "cost.logreg", "blur", "nailbed", "concat", "eltsum",
})


@dataclass
class CopyLedger:
    """Transfers the 2012 two-GPU runtime would have made, per minibatch step."""

    steps: int = 0
    events: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)

    def add(self, kind: str, layer: str, src: str, dst: str, nbytes: int) -> None:
        entry = self.events.setdefault((kind, layer, src, dst), [0, 0])
        entry[0] += 1
        entry[1] += nbytes

    def report(self) -> list[dict[str, Any]]:
        """One row per edge: what crossed, from where to where, count and bytes per step."""
        rows = []
        steps = max(self.steps, 1)
        for (kind, layer, src, dst), (count, nbytes) in sorted(self.events.items()):
            rows.append({"kind": kind, "layer": layer, "from": src, "to": dst,
                         "per_step": count / steps, "bytes_per_step": nbytes / steps})
        return rows

    def reset(self) -> None:
        self.steps = 0
        self.events.clear()


class EngineObserver:
    """What the engine shows an onlooker; a base class with no-op methods.

    The values passed are the engine's own arrays in the 2012 layout ``(features,
    cases)``, not copies: an observer that keeps one beyond the call must copy it, since
    the engine may reuse or change it afterwards (backward steps may work in place on the
    gradient they receive).

    One method steers the computation, for the reason given in
    :mod:`alexnet.verify.routing`: :meth:`pooled_for_backward` may hand a pooling layer's
    backward step other pooled values than its forward step produced. A max pool's
    backward credits the input elements equal to the pooled value (the 2012 undo rule,
    ``src/layer.cu`` pool layers), so substituting one window's value moves that window's
    gradient to another element and changes nothing else.
    """

    def activation(self, layer: str, value: np.ndarray) -> None:
        """``layer``'s output after its forward step (a data layer: the matrix fed in).
        Cost layers produce no activation and are not reported."""

    def gradient(self, layer: str, value: np.ndarray) -> None:
        """The summed gradient arriving at ``layer``, just before its backward step, in
        the engine's sign and scale (the NEGATIVE gradient summed over the minibatch).
        Reported for every layer that receives one, cost layers excepted, and for a data
        layer when the engine's ``needs_grad`` entry for it is set."""

    def weight_gradient(self, param: Param, value: np.ndarray) -> None:
        """The minibatch sum about to be folded into ``param``'s buffers, as
        :func:`alexnet.original.weights.accumulate` takes it (any shape with
        ``param.w.size`` elements in the matrix's order)."""

    def updated(self, param: Param) -> None:
        """``param`` has just been updated (and constrained, for a weight matrix)."""

    def pooled_for_backward(self, layer: str, pooled: np.ndarray) -> np.ndarray | None:
        """Pooled values for pooling layer ``layer``'s backward step instead of its
        forward output ``pooled``; None (the default) keeps the engine's own."""
        return None


def _dev(gpu: int) -> str:
    return "host" if gpu < 0 else f"gpu{gpu}"


class Engine:
    """One network in the 2012 layout, run on a backend.

    ``layers``: the 2012 layer dicts (as parsed, with weights added by
    :func:`alexnet.original.initial_weights.init_weights` or restored from a checkpoint; padding
    positive). ``seed`` drives dropout and schedule noise. ``conserve_mem`` recomputes
    conv patches in the backward pass instead of keeping them (2012 ``--conserve-mem``
    also traded speed for memory). ``observer``: an :class:`EngineObserver` to call while
    running (also settable later as the ``observer`` attribute).
    """

    def __init__(self, layers: dict[str, dict[str, Any]], *, backend: str | Backend = "numpy",
                 seed: int = 0, conserve_mem: bool = False,
                 observer: EngineObserver | None = None):
        self.layers = layers
        self.backend = get_backend(backend)
        self.conserve_mem = conserve_mem
        self.observer = observer
        self.rng = np.random.default_rng(seed)
        self.order = list(layers)
        for name, d in layers.items():
            if d["type"] not in SUPPORTED:
                raise ConfigError(f"layer [{name}] has type {d['type']!r}, which this engine "
                                  f"does not run (it runs: {', '.join(sorted(SUPPORTED))})")
            if d["type"] == "pool" and d["pool"] == "rand":
                raise ConfigError(f"layer [{name}]: random pooling (pool=rand) is not run by "
                                  "this engine")
        self.consumers: dict[str, list[str]] = {n: [] for n in layers}
        for name, d in layers.items():
            for inp in d.get("inputs", []):
                self.consumers[inp].append(name)
        self.towers: dict[int, list[str]] = defaultdict(list)
        for name, d in layers.items():
            self.towers[d["gpu"]].append(name)
        self.copies = CopyLedger()
        # large temporaries (conv patches and their gradients) reused across minibatches
        self.scratch = npo.Scratch()
        self.acts: dict[str, np.ndarray] = {}
        self.saved: dict[str, dict[str, Any]] = {}
        self.cost_outputs: dict[str, list[float]] = {}
        self.pass_type = TEST
        self.refresh_params()

    # ---------------------------------------------------------------- parameters

    def refresh_params(self) -> None:
        """(Re)build the update state from the dicts' params keys (after a params re-read)."""
        self.params: dict[str, list[Param]] = {}
        for name, d in self.layers.items():
            if d["type"] not in ("conv", "local", "fc"):
                continue
            use_grad_w = d["type"] == "conv"
            ps = []
            for i, (w, inc) in enumerate(zip(d["weights"], d["weightsInc"], strict=True)):
                ps.append(Param(
                    name=f"{name}.weights[{i}]", w=w, inc=inc,
                    schedule=make_schedule(d.get("schedW"), d["epsW"][i], self.rng),
                    mom=d["momW"][i], wc=d["wc"][i], use_grad=use_grad_w,
                    wball=d.get("wballNormed", [0.0] * len(d["weights"]))[i],
                ))
            ps.append(Param(name=f"{name}.biases", w=d["biases"], inc=d["biasesInc"],
                            schedule=make_schedule(d.get("schedB"), d["epsB"], self.rng),
                            mom=d["momB"], wc=0.0, use_grad=True))
            self.params[name] = ps
        # which layers must receive a gradient (something below them learns)
        self.needs_grad: dict[str, bool] = {}
        for name in self.order:
            d = self.layers[name]
            if d["type"] == "data":
                self.needs_grad[name] = False
                continue
            own = any(p.active for p in self.params.get(name, []))
            below = any(self.needs_grad[i] for i in d.get("inputs", []))
            self.needs_grad[name] = own or below

    def reseed(self, key) -> None:
        """Draw dropout masks and schedule noise from a generator seeded by ``key``
        (the driver passes (seed, epoch, batch), so a resumed run repeats them exactly)."""
        self.rng = np.random.default_rng(key)
        for ps in self.params.values():
            for p in ps:
                p.schedule.rng = self.rng

    # ---------------------------------------------------------------- forward

    def fprop(self, data: list[np.ndarray], pass_type: str = TEST) -> dict[str, list[float]]:
        """Forward pass on one minibatch; returns the cost layers' summed outputs."""
        self.pass_type = pass_type
        self.acts.clear()
        self.saved.clear()  # the previous step's patches go, so their buffers are free
        self.scratch.release()
        self.cost_outputs = {}
        copied: set[tuple[str, int]] = set()
        obs = self.observer
        self.copies.steps += 1
        n = None
        for name in self.order:
            d = self.layers[name]
            if d["type"] == "data":
                idx = d["dataIdx"]
                if idx >= len(data):
                    raise DataError(f"layer [{name}] wants data matrix {idx}, the provider gave "
                                    f"{len(data)}")
                x = data[idx]
                if x.ndim != 2 or x.shape[0] != d["outputs"]:
                    raise DataError(f"data matrix {idx} has shape {x.shape}, layer [{name}] "
                                    f"expects ({d['outputs']}, cases)")
                n = x.shape[1] if n is None else n
                if x.shape[1] != n:
                    raise DataError(f"data matrices disagree on the number of cases "
                                    f"({n} vs {x.shape[1]})")
                self.acts[name] = x
                for dev in sorted({self.layers[c]["gpu"] for c in self.consumers[name]}):
                    self.copies.add("data", name, "host", _dev(dev), x.nbytes)
                if obs is not None:
                    obs.activation(name, x)
                continue
            ins = [self.acts[i] for i in d["inputs"]]
            for i in d["inputs"]:
                src = self.layers[i]["gpu"]
                if self.layers[i]["type"] != "data" and src != d["gpu"]:
                    key = (i, d["gpu"])
                    if key not in copied:
                        # one copy per (producer, destination device), shared by consumers there
                        copied.add(key)
                        self.copies.add("acts", i, _dev(src), _dev(d["gpu"]), self.acts[i].nbytes)
            out = _FPROP[d["type"]](self, name, d, ins)
            if out is not None:
                self.acts[name] = out
                if obs is not None:
                    obs.activation(name, out)
        return self.cost_outputs

    # ---------------------------------------------------------------- backward

    def bprop(self, progress: float, cases: int) -> None:
        """Backward pass of the last TRAIN fprop; folds weight gradients into the params."""
        grads: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
        obs = self.observer
        for name in reversed(self.order):
            d = self.layers[name]
            if d["type"] == "data":
                if obs is not None and grads.get(name):
                    obs.gradient(name, _summed(grads[name]))
                continue
            if d["type"].startswith("cost."):
                for target, g in _cost_bprop(self, name, d):
                    grads[target].append((name, g))
                continue
            contribs = grads.pop(name, None)
            if not contribs:
                continue
            g = _summed(contribs)
            # each other device sums its consumers' contributions, then sends one buffer
            for dev in sorted({self.layers[c]["gpu"] for c, _ in contribs} - {d["gpu"]}):
                self.copies.add("grad", name, _dev(dev), _dev(d["gpu"]), g.nbytes)
            if obs is not None:
                obs.gradient(name, g)
            for target, tg in _BPROP[d["type"]](self, name, d, g, progress, cases):
                grads[target].append((name, tg))

    def update(self, progress: float) -> None:
        """Weights::update for every matrix, then the layers' weight constraints."""
        for name, ps in self.params.items():
            d = self.layers[name]
            for i, p in enumerate(ps):
                if not apply_update(p, progress):
                    continue
                if not p.name.endswith(".biases"):
                    if d["type"] == "conv":
                        constrain_filter_std(p.w, d.get("wcNormMin", [0.0] * 99)[i],
                                             d.get("wcNormMax", [0.0] * 99)[i])
                    if p.wball > 0 and d["type"] != "local":
                        constrain_columns(p.w, p.wball)
                if self.observer is not None:
                    self.observer.updated(p)

    # ---------------------------------------------------------------- workers

    def train_minibatch(self, data: list[np.ndarray], progress: float,
                        do_update: bool = True, cases: int | None = None) -> dict[str, list[float]]:
        """fprop -> cost -> bprop -> update (TrainingWorker). ``cases`` overrides the 1/B
        divisor when several minibatches feed one update (--wupdate-freq)."""
        costs = self.fprop(data, TRAIN)
        self.bprop(progress, cases if cases is not None else data[0].shape[1])
        if do_update:
            self.update(progress)
        self.acts.clear()
        self.saved.clear()
        return costs

    def run_batch(self, data: list[np.ndarray], *, train: bool, minibatch_size: int,
                  progress: float = 0.0, wupdate_freq: int = 1) -> tuple[Costs, int]:
        """One data-batch file: cut into minibatches (the last may be short), train or test
        each, sum the cost vectors (startBatch + finishBatch)."""
        n = data[0].shape[1]
        total: dict[str, list[float]] = {}
        starts = list(range(0, n, minibatch_size))
        for k, s in enumerate(starts):
            sub = [np.ascontiguousarray(m[:, s:s + minibatch_size]) for m in data]
            if train:
                last_of_group = (k + 1) % wupdate_freq == 0 or k == len(starts) - 1
                group = starts[k - k % wupdate_freq:k - k % wupdate_freq + wupdate_freq]
                group_cases = sum(min(minibatch_size, n - g) for g in group)
                costs = self.train_minibatch(sub, progress, do_update=last_of_group,
                                             cases=group_cases)
            else:
                costs = self.fprop(sub, TEST)
                self.acts.clear()
            for key, vals in costs.items():
                acc = total.setdefault(key, [0.0] * len(vals))
                for j, v in enumerate(vals):
                    acc[j] += v
        return total, n

    def multiview_test(self, data: list[np.ndarray], num_views: int, minibatch_size: int,
                       logreg_name: str | None = None) -> tuple[Costs, int, np.ndarray | None]:
        """MultiviewTestWorker: each minibatch's views run in turn; logreg layers average
        the softmax outputs over the views before computing their costs (src/worker.cu
        L150-L177, src/layer.cu L1804-L1839). Returns (costs, cases, averaged probs of the
        logreg layer ``logreg_name`` (default: the first) as (cases, classes))."""
        n_all = data[0].shape[1]
        if n_all % num_views:
            raise DataError(f"multiview data has {n_all} cases, not a multiple of "
                            f"{num_views} views")
        n = n_all // num_views
        total: dict[str, list[float]] = {}
        probs_out = []
        first = logreg_name or next(
            (nm for nm, d in self.layers.items() if d["type"] == "cost.logreg"), None)
        if first is not None and self.layers.get(first, {}).get("type") != "cost.logreg":
            raise ConfigError(f"--logreg-name={first}: no cost.logreg layer of that name")
        for s in range(0, n, minibatch_size):
            e = min(n, s + minibatch_size)
            accum: dict[str, np.ndarray] = {}
            for v in range(num_views):
                sub = [np.ascontiguousarray(m[:, v * n + s:v * n + e]) for m in data]
                self.fprop(sub, TEST)
                for name, d in self.layers.items():
                    if d["type"] == "cost.logreg":
                        p = self.acts[d["inputs"][1]]
                        accum[name] = p.astype(np.float64) if v == 0 else accum[name] + p
                labels = sub
            for name, p in accum.items():
                d = self.layers[name]
                avg = (p / num_views).astype(np.float32)
                lab = labels[self.layers[d["inputs"][0]]["dataIdx"]]
                vals = npo.logreg_cost_vector(lab, avg, d.get("topk", 1))
                acc = total.setdefault(name, [0.0] * 3)
                for j, val in enumerate(vals):
                    acc[j] += val
                if name == first:
                    probs_out.append(avg.T)
            self.acts.clear()
        probs = np.concatenate(probs_out, axis=0) if probs_out else None
        return total, n, probs

    def features(self, data: list[np.ndarray], names: list[str],
                 minibatch_size: int = 128) -> dict[str, np.ndarray]:
        """FeatureWorker: layer outputs as (cases, dims) float32 arrays, test pass."""
        for nm in names:
            if nm not in self.layers:
                raise ConfigError(f"no layer named {nm!r} (layers: {', '.join(self.layers)})")
        out: dict[str, list[np.ndarray]] = {nm: [] for nm in names}
        n = data[0].shape[1]
        for s in range(0, n, minibatch_size):
            sub = [np.ascontiguousarray(m[:, s:s + minibatch_size]) for m in data]
            self.fprop(sub, TEST)
            for nm in names:
                out[nm].append(self.acts[nm].T.copy())
            self.acts.clear()
        return {nm: np.concatenate(v, axis=0) for nm, v in out.items()}


# ==================================================================================
# Layer implementations. Each fprop gets (engine, name, dict, input arrays) and returns
# the output; each bprop gets the summed incoming gradient and returns (input name,
# gradient) pairs for the inputs that need one.


def _summed(contribs: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """The gradient contributions of a layer's consumers, added in arrival order."""
    g = contribs[0][1]
    for _consumer, extra in contribs[1:]:
        g = g + extra
    return g


def _accumulate(e: Engine, p: Param, g_sum: np.ndarray, cases: int, progress: float) -> None:
    """:func:`accumulate`, shown to the observer first."""
    if e.observer is not None:
        e.observer.weight_gradient(p, g_sum)
    accumulate(p, g_sum, cases, progress)


def _geoms(d: dict) -> list[ConvGeom]:
    return [ConvGeom.from_dict(d, i) for i in range(len(d["inputs"]))]


def _fprop_weighted_conv(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    be = e.backend
    geoms = _geoms(d)
    keep = e.pass_type == TRAIN and not e.conserve_mem
    out = None
    kept = []
    for i, (x, g) in enumerate(zip(ins, geoms, strict=True)):
        cols = be.patches(x, g, scratch=e.scratch)
        part = be.filter_acts(x, d["weights"][i], g, cols)
        out = part if out is None else out + part
        kept.append(cols if keep and e.params[name][i].active else None)
    if keep:
        e.saved[name] = {"cols": kept}
    npo.add_biases(out, d["biases"], d["filters"],
                   d["type"] == "conv" and d.get("sharedBiases", True))
    return out


def _bprop_weighted_conv(e: Engine, name: str, d: dict, g: np.ndarray, progress: float,
                         cases: int):
    be = e.backend
    ps = e.params[name]
    geoms = _geoms(d)
    kept = e.saved.get(name, {}).get("cols", [None] * len(geoms))
    shared = d["type"] == "conv" and d.get("sharedBiases", True)
    if ps[-1].active:
        _accumulate(e, ps[-1], npo.bias_grad(g, d["filters"], shared), cases, progress)
    result = []
    for i, (inp, geom) in enumerate(zip(d["inputs"], geoms, strict=True)):
        x = e.acts[inp]
        if ps[i].active:
            _accumulate(e, ps[i], be.weight_acts(x, g, geom, kept[i]), cases, progress)
        if e.needs_grad[inp]:
            result.append((inp, be.img_acts(g, d["weights"][i], geom, scratch=e.scratch)))
    return result


def _fprop_fc(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    return npo.fc_forward(ins, d["weights"], d["biases"])


def _bprop_fc(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    ps = e.params[name]
    if ps[-1].active:
        _accumulate(e, ps[-1], g.sum(axis=1).reshape(1, -1), cases, progress)
    result = []
    for i, inp in enumerate(d["inputs"]):
        x = e.acts[inp]
        if ps[i].active:
            # (numOut, numIn) C-order product, viewed as the (numIn, numOut) Fortran matrix
            _accumulate(e, ps[i], (g @ x.T).T, cases, progress)
        if e.needs_grad[inp]:
            result.append((inp, d["weights"][i] @ g))
    return result


def _fprop_pool(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    return e.backend.pool_forward(ins[0], d["channels"], d["imgSize"], d["sizeX"], d["start"],
                                  d["stride"], d["outputsX"], d["pool"])


def _bprop_pool(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    pooled = e.acts[name]
    if e.observer is not None:
        other = e.observer.pooled_for_backward(name, pooled)
        pooled = pooled if other is None else other
    return [(inp, e.backend.pool_backward(e.acts[inp], pooled, g, d["channels"],
                                          d["imgSize"], d["sizeX"], d["start"], d["stride"],
                                          d["outputsX"], d["pool"]))]


def _fprop_cmrnorm(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    out, denoms = e.backend.cmrnorm_forward(ins[0], d["channels"], d["size"], d["scale"],
                                            d["pow"], d.get("minDiv", 1.0), d.get("blocked", False))
    e.saved[name] = {"denoms": denoms}
    return out


def _bprop_cmrnorm(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    return [(inp, e.backend.cmrnorm_backward(g, e.acts[inp], e.acts[name],
                                             e.saved[name]["denoms"], d["channels"], d["size"],
                                             d["scale"], d["pow"], d.get("blocked", False)))]


def _fprop_rnorm(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    x = ins[0]
    diffs = None
    if d["type"] == "cnorm":
        diffs = x - e.backend.local_mean(x, d["channels"], d["imgSize"], d["size"])
    out, denoms = e.backend.rnorm_forward(x, d["channels"], d["imgSize"], d["size"], d["scale"],
                                          d["pow"], diffs)
    e.saved[name] = {"denoms": denoms, "diffs": diffs}
    return out


def _bprop_rnorm(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    s = e.saved[name]
    inputs = e.acts[inp] if s["diffs"] is None else s["diffs"]
    return [(inp, e.backend.rnorm_backward(g, inputs, e.acts[name], s["denoms"], d["channels"],
                                           d["imgSize"], d["size"], d["scale"], d["pow"]))]


def _fprop_neuron(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    nd = d["neuron"]
    return npo.neuron_forward(nd["type"], nd["params"], ins[0])


def _bprop_neuron(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    nd = d["neuron"]
    return [(inp, npo.neuron_backward(nd["type"], nd["params"], g, e.acts[inp], e.acts[name]))]


def _fprop_hs(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    x = ins[0]
    if e.pass_type == TRAIN and d.get("enable", True):
        mask = npo.dropout_mask(x.shape, d["keep"], e.rng, x.dtype)
        e.saved[name] = {"mask": mask}
        return x * mask
    return x * x.dtype.type(d["keep"])


def _bprop_hs(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    if name in e.saved:
        return [(inp, g * e.saved[name]["mask"])]
    return [(inp, g * g.dtype.type(d["keep"]))]


def _fprop_softmax(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    return npo.softmax(ins[0])


def _bprop_softmax(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    if e.saved.get(name, {}).get("fused"):
        return [(inp, g)]    # the cost already produced the gradient of the softmax input
    return [(inp, npo.softmax_backward(g, e.acts[name]))]


def _fprop_logreg(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> None:
    labels, probs = ins
    e.cost_outputs[name] = npo.logreg_cost_vector(labels, probs, d.get("topk", 1))
    return None


def _cost_bprop(e: Engine, name: str, d: dict):
    if d["type"] != "cost.logreg":
        raise ConfigError(f"cost layer [{name}] of type {d['type']!r} has no backward here")
    lab_name, sm_name = d["inputs"]
    if not e.needs_grad[sm_name]:
        return []
    labels, probs = e.acts[lab_name], e.acts[sm_name]
    sm = e.layers[sm_name]
    fused = e.consumers[sm_name] == [name] and sm["gpu"] == d["gpu"]
    if fused:
        # one kernel for softmax + logreg: coeff * (onehot - p) into the softmax's input
        e.saved.setdefault(sm_name, {})["fused"] = True
        return [(sm_name, npo.logreg_softmax_grad(labels, probs, d["coeff"]))]
    return [(sm_name, npo.logreg_grad(labels, probs, d["coeff"]))]


def _fprop_blur(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    return npo.blur(ins[0], d["channels"], d["imgSize"], d["filter"])


def _bprop_blur(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    return [(inp, npo.blur(g, d["channels"], d["imgSize"], d["filter"]))]


def _fprop_nailbed(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    return npo.nailbed_forward(ins[0], d["channels"], d["imgSize"], d["start"], d["stride"],
                               d["outputsX"])


def _bprop_nailbed(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    inp = d["inputs"][0]
    if not e.needs_grad[inp]:
        return []
    return [(inp, npo.nailbed_backward(g, d["channels"], d["imgSize"], d["start"], d["stride"],
                                       d["outputsX"]))]


def _fprop_concat(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(ins, axis=0)


def _bprop_concat(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    out = []
    for inp, off, size in zip(d["inputs"], d["copyOffsets"], d["numInputs"], strict=True):
        if e.needs_grad[inp]:
            out.append((inp, np.ascontiguousarray(g[off:off + size])))
    return out


def _fprop_eltsum(e: Engine, name: str, d: dict, ins: list[np.ndarray]) -> np.ndarray:
    out = ins[0] * ins[0].dtype.type(d["coeffs"][0])
    for x, c in zip(ins[1:], d["coeffs"][1:], strict=True):
        out += x * x.dtype.type(c)
    return out


def _bprop_eltsum(e: Engine, name: str, d: dict, g: np.ndarray, progress: float, cases: int):
    return [(inp, g * g.dtype.type(c)) for inp, c in zip(d["inputs"], d["coeffs"], strict=True)
            if e.needs_grad[inp]]


_FPROP = {
    "conv": _fprop_weighted_conv, "local": _fprop_weighted_conv, "fc": _fprop_fc,
    "pool": _fprop_pool, "cmrnorm": _fprop_cmrnorm, "rnorm": _fprop_rnorm,
    "cnorm": _fprop_rnorm, "neuron": _fprop_neuron, "hs": _fprop_hs, "softmax": _fprop_softmax,
    "cost.logreg": _fprop_logreg, "blur": _fprop_blur, "nailbed": _fprop_nailbed,
    "concat": _fprop_concat, "eltsum": _fprop_eltsum,
}
_BPROP = {
    "conv": _bprop_weighted_conv, "local": _bprop_weighted_conv, "fc": _bprop_fc,
    "pool": _bprop_pool, "cmrnorm": _bprop_cmrnorm, "rnorm": _bprop_rnorm,
    "cnorm": _bprop_rnorm, "neuron": _bprop_neuron, "hs": _bprop_hs, "softmax": _bprop_softmax,
    "blur": _bprop_blur, "nailbed": _bprop_nailbed, "concat": _bprop_concat,
    "eltsum": _bprop_eltsum,
}
