"""The cudaconv2-style kernels, their CPU device-emulation host and their bindings."""
