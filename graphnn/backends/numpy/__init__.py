"""NumPy backend: the kernel table keyed by op name (kernels take the array module `xp`)."""
