"""The model-run framework the 2012 driver was built on: options, the training loop,
testing, saving and resuming.

Re-creates ``IGPUModel`` of the public release (cc2011 ``gpumodel.py`` L43-L332), which
the 2012 ``convnet.py`` imported but the 2012 release does not contain
(docs/reference/recreation.md#recreation-missing,
#recreation-checkpoints and #recreation-driver). Behaviour kept from it:

* a new run saves into ``<save-path>/ConvNet__<timestamp>``, a resumed one into the
  folder it was loaded from; the checkpoint file is ``<epoch>.<batchnum>``;
* ``-f`` loads the newest checkpoint of a folder (natural sort), merges the saved
  options with the new command line (set-once options may not change) and continues
  with the batch after the saved one;
* every ``--test-freq`` training batches (counted over all epochs): test (one test
  batch per event with ``--test-one=1``, cycling; all of them otherwise), print, save;
* ``--test-only=1`` tests once and exits.

Differences, each to avoid losing work or running one batch too many: training stops
when the NEXT batch would belong to an epoch beyond ``--epochs`` (2011 checked the
batch just trained, so it trained one batch of the following epoch), and the end of
training tests and saves once more if the last batches were not saved yet (2011 just
exited). Ctrl-C leaves the last complete checkpoint: files are written atomically.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alexnet.errors import AlexNetError
from alexnet.original import checkpoint as ckpt
from alexnet.original import convdata
from alexnet.original.options import (
    BooleanOptionParser,
    IntegerOptionParser,
    ListOptionParser,
    OptionExpression,
    OptionMissingException,
    OptionsParser,
    RangeOptionParser,
    StringOptionParser,
)


class ModelStateException(AlexNetError):
    pass


#: options a run cannot do without, even when resumed from a checkpoint
_NEEDED = ("train_batch_range", "test_batch_range", "data_path", "save_path")


class IGPUModel:
    """A model trained batch by batch from a data provider; subclasses supply the net."""

    def __init__(self, model_name: str, op: OptionsParser, load_dic: dict[str, Any] | None,
                 filename_options: list[tuple[str, str]] | None = None,
                 dp_params: dict[str, Any] | None = None,
                 out: Callable[[str], None] | None = None):
        vars(self).update(model_name=model_name, op=op, options=op.options, load_dic=load_dic,
                          filename_options=filename_options or [])
        self.dp_params = dict(dp_params or {})
        self.out = out or _print
        self.fill_excused_options()
        for o in op.get_options_list():
            setattr(self, o.name, o.value)
        for o in op.get_options_list():
            if o.value is None and o.name in _NEEDED:
                raise OptionMissingException(f"option {o.prefixed_letter} ({o.desc}) not "
                                             "supplied (the checkpoint does not record it)")
        if load_dic:
            self.model_state = load_dic["model_state"]
            self.save_file = str(Path(load_dic["path"]).parent)
            self.resumed_from = str(load_dic["path"])
        else:
            opts = "_".join(f"{char}_{self.options[opt].get_str_value()}"
                            for opt, char in self.filename_options)
            stamp = time.strftime("%Y-%m-%d_%H.%M.%S")
            self.save_file = f"{model_name}_{opts}_{stamp}"
            self.model_state = {"train_outputs": [], "test_outputs": [], "epoch": 1,
                                "batchnum": self.train_batch_range[0]}
            self.resumed_from = None
        self.init_data_providers()
        if load_dic and self.model_state["batchnum"] in self.train_batch_range:
            # continue after the saved batch (an imported checkpoint, batchnum 0, starts
            # at the beginning of the range)
            self.train_data_provider.advance_batch()
        self.init_model_state()
        for var, val in self.model_state.items():
            setattr(self, var, val)
        self.init_model_lib()

    # ---------------------------------------------------------------- hooks
    def fill_excused_options(self) -> None:
        pass

    def init_model_state(self) -> None:
        pass

    def init_model_lib(self) -> None:
        pass

    def init_data_providers(self) -> None:
        self.dp_params["convnet"] = None
        self.test_data_provider = convdata.get_instance(
            self.data_path, self.test_batch_range, type=self.dp_type, dp_params=self.dp_params,
            test=True)
        self.train_data_provider = convdata.get_instance(
            self.data_path, self.train_batch_range, self.model_state["epoch"],
            self.model_state["batchnum"], type=self.dp_type, dp_params=self.dp_params,
            test=False)

    # ---------------------------------------------------------------- running
    def start(self) -> int:
        if self.test_only:
            self.test_outputs.append(self.get_test_error())
            self.print_test_results()
            return 0
        return self.train()

    def train(self) -> int:
        self.out("=========================")
        self.out(f"Training {self.model_name}")
        self.out(self.op.values_text())
        self.out("=========================")
        self.print_model_state()
        self.out(f"Running on {self.device_text()}")
        self.out(f"Current time: {time.asctime()}")
        self.out(f"Saving checkpoints to {os.path.join(self.save_path, self.save_file)}")
        self.out("=========================")
        next_data = self.get_next_batch()
        saved_at = (self.get_num_batches_done()
                    if self.resumed_from and self.batchnum in self.train_batch_range else None)
        trained_any = False
        while next_data[0] <= self.num_epochs:
            t0 = time.time()
            data = next_data
            self.epoch, self.batchnum = data[:2]
            self.print_iteration()
            output = self.run_training_batch(data)
            next_data = self.get_next_batch()
            self.train_outputs.append(output)
            self.print_train_results()
            trained_any = True
            if self.get_num_batches_done() % self.testing_freq == 0:
                self.test_and_save()
                saved_at = self.get_num_batches_done()
            self.print_train_time(time.time() - t0)
        if trained_any and saved_at != self.get_num_batches_done():
            self.test_and_save()
        return 0

    def test_and_save(self) -> None:
        self.sync_with_host()
        result = self.get_test_error()
        self.test_outputs.append(result)
        self.print_test_results()
        self.conditional_save()

    def sync_with_host(self) -> None:
        """The engine updates the layer dicts' arrays in place: nothing to copy."""

    def get_num_batches_done(self) -> int:
        rng = self.train_batch_range
        return len(rng) * (self.epoch - 1) + rng.index(self.batchnum) + 1

    def get_next_batch(self, train: bool = True):
        dp = self.train_data_provider if train else self.test_data_provider
        return self.parse_batch_data(dp.get_next_batch(), train=train)

    def parse_batch_data(self, batch_data, train: bool = True):
        return batch_data

    def run_training_batch(self, data) -> tuple[dict[str, list[float]], int]:
        raise NotImplementedError

    def run_test_batch(self, data) -> tuple[dict[str, list[float]], int]:
        raise NotImplementedError

    def get_test_error(self):
        outputs = []
        while True:
            data = self.get_next_batch(train=False)
            outputs.append(self.run_test_batch(data))
            if self.test_only:
                self.out(f"batch {data[1]}: {outputs[-1]}")
            last = self.test_one or data[1] == self.test_batch_range[-1]
            if last:
                break
        return self.aggregate_test_outputs(outputs)

    def aggregate_test_outputs(self, outputs):
        raise NotImplementedError

    # ---------------------------------------------------------------- printing
    def print_model_state(self) -> None:
        pass

    def device_text(self) -> str:
        return "the CPU"

    def print_iteration(self) -> None:
        self.out(f"{self.epoch}.{self.batchnum}...", end=" ")

    def print_train_time(self, seconds: float) -> None:
        self.out(f"({seconds:.3f} sec)")

    def print_train_results(self) -> None:
        pass

    def print_test_results(self) -> None:
        pass

    # ---------------------------------------------------------------- saving
    def conditional_save(self) -> None:
        self.save_state()

    def save_state(self) -> Path:
        for att in list(self.model_state):
            if hasattr(self, att):
                self.model_state[att] = getattr(self, att)
        folder = Path(self.save_path) / self.save_file
        return ckpt.save_checkpoint(folder, self.model_state, self.op,
                                    max_filesize_mb=self.max_filesize_mb,
                                    zipped=bool(self.zip_save))

    # ---------------------------------------------------------------- options
    @staticmethod
    def get_options_parser() -> OptionsParser:
        op = OptionsParser()
        op.add_option("f", "load_file", StringOptionParser, "Load file", default="",
                      excuses=OptionsParser.EXCLUDE_ALL)
        op.add_option("train-range", "train_batch_range", RangeOptionParser,
                      "Data batch range: training")
        op.add_option("test-range", "test_batch_range", RangeOptionParser,
                      "Data batch range: testing")
        op.add_option("data-provider", "dp_type", StringOptionParser, "Data provider",
                      default="default")
        op.add_option("test-freq", "testing_freq", IntegerOptionParser, "Testing frequency",
                      default=25)
        op.add_option("epochs", "num_epochs", IntegerOptionParser, "Number of epochs",
                      default=500)
        op.add_option("data-path", "data_path", StringOptionParser, "Data path")
        op.add_option("save-path", "save_path", StringOptionParser, "Save path")
        op.add_option("max-filesize", "max_filesize_mb", IntegerOptionParser,
                      "Maximum save file size (MB)", default=5000)
        op.add_option("num-gpus", "num_gpus", IntegerOptionParser, "Number of GPUs", default=1)
        op.add_option("test-only", "test_only", BooleanOptionParser, "Test and quit?", default=0)
        op.add_option("zip-save", "zip_save", BooleanOptionParser, "Compress checkpoints?",
                      default=0)
        op.add_option("test-one", "test_one", BooleanOptionParser,
                      "Test on one batch at a time?", default=1)
        op.add_option("gpu", "gpu", ListOptionParser(IntegerOptionParser), "GPU override",
                      default=OptionExpression("[-1] * num_gpus"))
        return op

    @staticmethod
    def parse_options(op: OptionsParser, argv: list[str]) -> tuple[OptionsParser, Any]:
        """Parse argv; with -f load the checkpoint and merge its saved options."""
        options = op.parse(argv)
        if options["load_file"].value_given:
            load_dic = ckpt.load_checkpoint(options["load_file"].value)
            old_op = load_dic["op"]
            if not isinstance(old_op, OptionsParser):
                raise ckpt.CheckpointError(f"{load_dic['path']}: its 'op' entry is not an "
                                           "options object")
            # the saved options, overridden by what this command line gives
            old_op.merge_from(op)
            old_op.eval_expr_defaults()
            return old_op, load_dic
        op.eval_expr_defaults()
        return op, None


def _print(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()
