"""The equivalence verifier: the re-creation and the port must compute one network.

``alexnet verify`` (the README's ``make verify``) hands the same weights, through the
project's own checkpoint conversion, and the same inputs to the 2012 re-creation
(:mod:`alexnet.original`, the engine in the 2012 layout) and to the modern port
(:mod:`alexnet.modern`), and compares, layer by layer: every layer's output, the
gradient of the loss with respect to every layer's input and every weight matrix, the
momentum buffers and weights after one step of the 2012 update rule, and the top-1
predictions. It can fail, and proves it: ``--self-test`` plants known faults in the
port and checks that each is caught where it lives.

Modules:

* :mod:`.policy` — the tolerance policy (what counts as rounding, and why);
* :mod:`.compare` — one comparison, one check row;
* :mod:`.record_original`, :mod:`.record_port` — run each implementation and record every layer;
  :mod:`.sides` — the common layout both are reduced to;
* :mod:`.scratch` — the throw-away folder the weights cross through (a 2012 checkpoint,
  a safetensors export; the conversions are :mod:`alexnet.layouts2012`'s);
* :mod:`.suites`, :mod:`.inputs`, :mod:`.bundled` — the bundled suites, their generated
  inputs, and the bundled trained weights with their provenance and checksums;
* :mod:`.runner` — one suite from start to verdict; :mod:`.api` — the whole run;
* :mod:`.faults`, :mod:`.selftest` — the planted faults;
* :mod:`.accuracy` — reported vs reproduced test error, and agreement on a test set;
* :mod:`.backends` — numpy, the kernels under CPU emulation, or a GPU;
* :mod:`.report`, :mod:`.schema` — terminal table, JSON (``report.schema.json``),
  Markdown and HTML.
"""
