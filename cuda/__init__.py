"""The cudaconv2-style kernels, their CPU device-emulation host and their bindings.

``bindings_numpy`` (2012 layouts, emulated on the CPU) serves the re-creation's ``cuda-convnet``
backend; ``bindings_torch`` (NCHW, torch custom ops with autograd; CUDA tensors on the GPU
build,
CPU tensors emulated) serves the port's. Importing this package compiles nothing: the
libraries build on first use (see ``build`` and README.md).
"""
