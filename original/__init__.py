"""A runnable re-creation of the 2012 cuda-convnet system, in its own layout.

The modules at this level answer to files of the 2012 release (computerhistory/
AlexNet-Source-Code at commit 2f8b81f7, pinned file by file in ``UPSTREAM.json``) or of the
2011 public cuda-convnet release that the 2012 driver imported from but the 2012 release
does not contain (marked ``cc2011:`` below). Each module's docstring names the upstream
files and line ranges it re-creates. Nothing is copied: facts carried over, code written
anew. :data:`UPSTREAM_FILES` is the map; :data:`PROJECT_MACHINERY` lists what here answers
to no upstream file, and why it sits beside the re-creation.

Data folders: ``layers/`` holds the project's own cfg files (written from the facts of
the upstream ``layers-*.cfg``/``layer-params-*.cfg`` files; each file's header names the
one it answers to), ``annotations/`` our notes on the upstream source, ``UPSTREAM.json``
the pin. This package imports nothing on purpose: the tables below are plain data.
"""

#: Re-creation module -> the upstream file(s) it re-creates (paths in the pinned 2012
#: release; ``cc2011:`` = the 2011 public release).
UPSTREAM_FILES: dict[str, tuple[str, ...]] = {
    # the cfg language and the model-run framework (the Python side of 2012)
    "cfgreader": ("layer.py",),  # the INI reader of the cfg files
    "layer": ("layer.py",),  # the parser: layer graph, neuron and schedule specs
    "initial_weights": ("layer.py",),  # make_weights/make_biases: shapes, orders, values
    "convnet": ("convnet.py",),  # the training driver and its options
    "gpumodel": ("cc2011:gpumodel.py",),  # IGPUModel: train/test/save/resume loop
    "options": ("cc2011:options.py",),  # the option objects pickled into checkpoints
    "checkpoint": ("cc2011:gpumodel.py", "convnet.py"),  # the checkpoint format
    "pickling": ("cc2011:util.py",),  # pickle I/O, here restricted to safe globals
    "batches": ("cc2011:data.py",),  # the data-batch format on disk
    "convdata": ("convdata.py", "convdata_cifar.py", "cc2011:data.py"),  # data providers
    "shownet": ("shownet.py",),  # filter grids, predictions, cost curves
    # the C++/CUDA side of 2012
    "engine": ("src/convnet.cu", "src/layer.cu", "src/worker.cu", "src/pyconvnet.cu",
               "src/weights.cu"),  # the ConvNet manager, layers, workers, Python entry
    "weights": ("src/weights.cu", "src/lr.cu", "src/layer.cu",
                "include/layer.cuh"),  # the weight update, learning-rate schedules
    "ops_numpy": ("src/layer.cu", "src/layer_kernels.cu", "include/neuron.cuh",
                  "cc2011:src/cudaconv2/filter_acts.cu", "cc2011:src/cudaconv2/img_acts.cu",
                  "cc2011:src/cudaconv2/weight_acts.cu",
                  "cc2011:src/cudaconv2/conv_util.cu"),  # every layer's numerics
}

#: What lives here but answers to no upstream file: module or subpackage -> its job.
PROJECT_MACHINERY: dict[str, str] = {
    "cfgs": "finds the project's own cfg files in layers/ by name",
    "backends": "where the engine's layer arithmetic runs (the numpy reference, or the "
                "project's kernels under emulation), in the project's backend vocabulary",
    "museum": "the pin, fetching and verifying the release, our annotations and the tour",
    "cli": "the `alexnet original ...` commands: thin wrappers over the modules above",
}
