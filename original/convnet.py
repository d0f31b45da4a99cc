"""The training driver: ``python -m alexnet.original.convnet --layer-def=... ...``.

Re-creates the 2012 ``convnet.py`` (L1-L218: class ConvNet(IGPUModel), its options
L177-L197, the cost printing L119-L156, the test aggregation L164-L175, the provider
registry L199-L209, the entry point L211-L218). Where 2012 handed the layer dicts to
its C++ module (``initModel``, ``startBatch``/``finishBatch``,
``startMultiviewTest``), this one hands them to :class:`alexnet.original.engine.Engine`.

Command line, the 2012 way: ``-f DIR`` and ``--name=value`` with 0/1 booleans; every
option of 2012 is accepted with its meaning and default (``--mini=128``,
``--test-freq=50``, ``--crop-border=4``, ``--color-noise=0``, ``--multiview-test=0``,
``--epochs=50000``, ...). Two options are ours: ``--backend`` (the engine's compute
backend, a name of :data:`alexnet.registry.BACKENDS`: ``numpy`` or ``emulated``) and
``--seed`` (weights, dropout, crops and colour noise are all derived from it, so a run
is repeatable). Progress is printed as 2012 printed it::

    1.1... logprob:  2.302585, 0.900000, 0.900000 (0.512 sec)

(epoch.batch, then per cost layer the per-case means: negative log-likelihood, top-1
error, top-k error), with a test block and a checkpoint every ``--test-freq`` batches.
"""

from __future__ import annotations

import copy
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.errors import AlexNetError, ConfigError, DataError
from alexnet.original import cfgs, pickling
from alexnet.original.engine import Engine
from alexnet.original.gpumodel import IGPUModel, ModelStateException
from alexnet.original.initial_weights import init_weights
from alexnet.original.layer import Layer, LayerGraph, apply_params, parse_layers
from alexnet.original.options import (
    BooleanOptionParser,
    FloatOptionParser,
    IntegerOptionParser,
    ListOptionParser,
    OptionException,
    OptionsParser,
    StringOptionParser,
)

NL = os.linesep


class ConvNet(IGPUModel):
    def __init__(self, op: OptionsParser, load_dic: dict[str, Any] | None,
                 dp_params: dict[str, Any] | None = None, out=None):
        dp_params = dict(dp_params or {})
        for v in ("color_noise", "multiview_test", "crop_border", "scalar_mean",
                  "minibatch_size", "seed"):
            dp_params[v] = op.get_value(v)
        super().__init__("ConvNet", op, load_dic, [], dp_params=dp_params, out=out)
        self.writing_test = False

    # ---------------------------------------------------------------- model
    def init_model_state(self) -> None:
        ms = self.model_state
        dp = self.train_data_provider
        dims = dp.get_data_dims(0)
        size = int(round(math.sqrt(dims / 3)))
        if 3 * size * size != dims:
            raise DataError(f"the data provider gives {dims} values per case, not a square "
                            "RGB image")
        num_classes = dp.get_num_classes()
        self.layer_params = _bundled_or_path(self.layer_params)
        if self.load_file:
            layers = ms["layers"]
            graph = graph_from_layers(layers, (3, size, size), num_classes, self.num_gpus)
            apply_params(graph, self.layer_params)
            self.graph_warnings = graph.warnings
        else:
            self.layer_def = _bundled_or_path(self.layer_def)
            graph = parse_layers(self.layer_def, self.layer_params, input_shape=(3, size, size),
                                 num_classes=num_classes, num_gpus=self.num_gpus)
            layers = {name: lay.d for name, lay in graph.layers.items()}
            init_weights(layers, seed=self.seed)
            ms["layers"] = layers
            self.graph_warnings = graph.warnings
        for w in self.graph_warnings:
            self.out(f"warning: {w}")
        for name, d in layers.items():
            if d["type"] == "data" and d["dataIdx"] == 0 and d["outputs"] != dims:
                raise ModelStateException(
                    f"layer [{name}] expects {d['outputs']} values per case, the data "
                    f"provider gives {dims} (check --crop-border and the cfg's input size)")
        self.layers = layers

    def init_model_lib(self) -> None:
        self.engine = Engine(self.layers, backend=self.backend, seed=self.seed,
                             conserve_mem=bool(self.conserve_mem))

    def print_model_state(self) -> None:
        towers = {g: names for g, names in self.engine.towers.items() if g >= 0}
        if len(towers) < 2:
            return
        for g in sorted(towers):
            names = [n for n in towers[g] if self.layers[n]["type"] != "neuron"]
            self.out(f"Tower gpu{g} ({len(names)} layers): {', '.join(names)}")
        cross = [f"{i} (gpu{self.layers[i]['gpu']}) -> {n} (gpu{d['gpu']})"
                 for n, d in self.layers.items() for i in d.get("inputs", [])
                 if self.layers[i]["gpu"] >= 0 and self.layers[i]["gpu"] != d["gpu"]]
        self.out(f"Cross-tower reads: {'; '.join(cross)}")

    def transfer_text(self) -> str | None:
        rows = self.engine.copies.report()
        if len({r["to"] for r in rows if r["to"] != "host"}) < 2:
            return None
        mb = {k: sum(r["bytes_per_step"] for r in rows if r["kind"] == k) / 2**20
              for k in ("data", "acts", "grad")}
        return (f"Transfers per minibatch (the 2012 two-GPU runtime's copies): host->gpu "
                f"{mb['data']:.2f} MB, activations between gpus {mb['acts']:.2f} MB, "
                f"gradients between gpus {mb['grad']:.2f} MB")

    def device_text(self) -> str:
        gpus = sorted(g for g in self.engine.towers if g >= 0)
        ids = ", ".join(str(d) for d in self.gpu)
        return (f"backend {self.engine.backend.name}; the cfg's gpu indices {gpus} are kept "
                f"as logical towers (--gpu={ids})")

    # ---------------------------------------------------------------- batches
    def parse_batch_data(self, batch_data, train: bool = True):
        for m in batch_data[2]:
            if m.dtype != np.float32:
                raise DataError("all matrices returned by the data provider must be float32")
        return batch_data

    def _progress(self) -> float:
        total = self.num_epochs * len(self.train_batch_range)
        return min(1.0, max(0.0, (self.get_num_batches_done() - 1) / total))

    def run_training_batch(self, data):
        epoch, num, mats = data
        self.engine.reseed([self.seed, epoch, num, 7])
        return self.engine.run_batch(mats, train=True, minibatch_size=self.minibatch_size,
                                     progress=self._progress(), wupdate_freq=self.wupdate_freq)

    def run_test_batch(self, data):
        epoch, num, mats = data
        views = self.test_data_provider.num_views
        if self.multiview_test and views > 1:
            costs, n, probs = self.engine.multiview_test(mats, views, self.minibatch_size,
                                                         self.logreg_name or None)
            if self.test_out and probs is not None:
                path = Path(self.test_out) / f"test_preds_{num}"
                pickling.dump_atomic({"data": probs, "note": f"generated from {self.save_file}"},
                                     path)
            return costs, n
        return self.engine.run_batch(mats, train=False, minibatch_size=self.minibatch_size)

    def aggregate_test_outputs(self, outputs):
        outputs = copy.deepcopy(outputs)
        total = sum(o[1] for o in outputs)
        first = outputs[0][0]
        for costs, _n in outputs[1:]:
            for k, v in costs.items():
                for j in range(len(v)):
                    first[k][j] += v[j]
        return first, total

    # ---------------------------------------------------------------- printing
    def print_costs(self, cost_outputs) -> None:
        costs, num_cases = cost_outputs
        for name in costs:
            # per-case means, written back in place as 2012 did (the checkpoint keeps them)
            costs[name] = [v / num_cases for v in costs[name]]
            text = ", ".join(f"{v:.6f}" for v in costs[name])
            self.out(f"{name}:  {text}", end=" ")
            if any(math.isnan(v) or math.isinf(v) for v in costs[name]):
                self.out("^ got nan or inf!")
                raise ModelStateException(f"cost {name} became NaN or infinite; stopping "
                                          "(the last checkpoint is intact)")

    def print_train_results(self) -> None:
        self.print_costs(self.train_outputs[-1])

    def print_test_results(self) -> None:
        self.out(NL + "======================Test output======================")
        self.print_costs(self.test_outputs[-1])
        self.out(NL + "----------------------Averages-------------------------")
        n = min(len(self.test_outputs), len(self.test_batch_range))
        avg, cases = self.aggregate_test_outputs(self.test_outputs[-n:])
        self.print_costs((avg, n))
        self.out(NL + "-------------------------------------------------------", end="")
        for name in sorted(self.layers):
            d = self.layers[name]
            if "weights" not in d:
                continue
            self.out("")
            for i, (w, wi) in enumerate(zip(d["weights"], d["weightsInc"], strict=True)):
                self.out(f"Layer '{name}' weights[{i}]: {np.mean(np.abs(w)):e} "
                         f"[{np.mean(np.abs(wi)):e}]")
            self.out(f"Layer '{name}' biases: {np.mean(np.abs(d['biases'])):e} "
                     f"[{np.mean(np.abs(d['biasesInc'])):e}]", end="")
        self.out("")
        text = self.transfer_text()
        if text:
            self.out(text)

    def conditional_save(self) -> None:
        path = self.save_state()
        self.out("-------------------------------------------------------")
        self.out(f"Saved checkpoint to {path}")
        self.out("=======================================================")

    # ---------------------------------------------------------------- options
    @classmethod
    def get_options_parser(cls) -> OptionsParser:
        op = IGPUModel.get_options_parser()
        op.add_option("mini", "minibatch_size", IntegerOptionParser, "Minibatch size",
                      default=128)
        op.add_option("layer-def", "layer_def", StringOptionParser, "Layer definition file",
                      set_once=True)
        op.add_option("layer-params", "layer_params", StringOptionParser,
                      "Layer parameter file")
        op.add_option("check-grads", "check_grads", BooleanOptionParser,
                      "Check gradients and quit?", default=0,
                      excuses=["data_path", "save_path", "train_batch_range",
                               "test_batch_range"])
        op.add_option("multiview-test", "multiview_test", BooleanOptionParser,
                      "Cropped DP: test on multiple patches?", default=0)
        op.add_option("crop-border", "crop_border", IntegerOptionParser,
                      "Cropped DP: crop border size", default=4, set_once=True)
        op.add_option("conv-to-local", "conv_to_local", ListOptionParser(StringOptionParser),
                      "Convert given conv layers to unshared local", default=[])
        op.add_option("unshare-weights", "unshare_weights",
                      ListOptionParser(StringOptionParser),
                      "Unshare weight matrices in given layers", default=[])
        op.add_option("conserve-mem", "conserve_mem", BooleanOptionParser,
                      "Conserve memory (slower)?", default=0)
        op.add_option("color-noise", "color_noise", FloatOptionParser,
                      "Add PCA noise to color channels with given scale", default=0.0)
        op.add_option("test-out", "test_out", StringOptionParser,
                      "Output test case predictions to given path", default="",
                      requires=["logreg_name", "multiview_test"])
        op.add_option("logreg-name", "logreg_name", StringOptionParser,
                      "Logreg cost layer name (for --test-out)", default="")
        op.add_option("pca-noise", "pca_noise", FloatOptionParser,
                      "Add PCA noise to pixels with given scale (unused, as in 2012)",
                      default=0.0)
        op.add_option("scalar-mean", "scalar_mean", FloatOptionParser,
                      "Subtract scalar pixel mean (as opposed to vector)?", default=0.0)
        op.add_option("wupdate-freq", "wupdate_freq", IntegerOptionParser,
                      "Weight update (inverse) frequency, in minibatches (1 = every "
                      "minibatch)", default=1)
        # ours, not 2012's
        op.add_option("backend", "backend", StringOptionParser,
                      "Compute backend: numpy or emulated (alexnet.registry.BACKENDS; "
                      "cuda-convnet is an alias of emulated)", default="numpy")
        op.add_option("seed", "seed", IntegerOptionParser,
                      "Random seed (weights, dropout, crops, colour noise)", default=0)
        # ConvNet's own defaults for four IGPUModel options (convnet.py L192-L197)
        for name, value in (("max_filesize_mb", 0), ("testing_freq", 50),
                            ("num_epochs", 50000), ("dp_type", "")):
            op.options[name].default = value
        return op


def _bundled_or_path(name: str) -> str:
    """A cfg path as given, or, when no such file exists, the bundled cfg of that name
    (so ``--layer-def=layers-80sec.cfg`` works from anywhere)."""
    if Path(name).exists() or os.sep in name:
        return name

    try:
        return str(cfgs.path(name))
    except ConfigError:
        return name


def graph_from_layers(layers: dict[str, dict[str, Any]], input_shape, num_classes: int | None,
                      num_gpus: int) -> LayerGraph:
    """A LayerGraph around stored layer dicts, so the params file can be re-read into
    them on resume (2012 re-parsed params only, layer.py L307-L316)."""
    lays = {}
    for name, d in layers.items():
        lays[name] = Layer(name=name, type=d["type"], inputs=list(d.get("inputs", [])),
                           gpu=d["gpu"], outputs=d["outputs"], shape=(d["outputs"],), d=d,
                           source=("<checkpoint>", 0))
    return LayerGraph(layers=lays, def_path="<checkpoint>", params_path=None,
                      input_shape=tuple(input_shape), num_classes=num_classes,
                      num_gpus=num_gpus)


def main(argv: list[str] | None = None, out=None) -> int:
    """Run the driver; returns the exit status (2 with one line for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    op = ConvNet.get_options_parser()
    if not argv or argv[0] in ("-h", "--help"):
        print(op.usage("convnet.py"))
        return 0 if argv else 2
    try:
        op, load_dic = IGPUModel.parse_options(op, argv)
        for name in ("conv_to_local", "unshare_weights"):
            if op.get_value(name):
                raise OptionException(f"--{name.replace('_', '-')} is not supported by this "
                                      "re-creation (it did not work with 2012's layer dicts "
                                      "either)")
        if op.get_value("check_grads"):
            raise OptionException("--check-grads=1: use the engine's gradient tests "
                                  "(tests/test_original_engine.py) instead")
        model = ConvNet(op, load_dic, out=out)
        return model.start()
    except OptionException as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("(run with --help for the options)", file=sys.stderr)
        return 2
    except AlexNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted; the last complete checkpoint is intact", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
