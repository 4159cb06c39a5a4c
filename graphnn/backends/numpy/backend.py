"""The NumPy backend: array module numpy, the NumPy kernel table, parameters used in place from storage."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import KERNELS, OUT_KERNELS


class NumpyBackend:
    """CPU execution with NumPy; parameters are the graph storage's own arrays (no copies)."""

    name = "numpy"
    xp = np
    kernels = KERNELS
    out_kernels = OUT_KERNELS  # capability: kernels that write into planned buffers (out=, in place)

    def asarray(self, x: Any, dtype: str) -> np.ndarray:
        if isinstance(x, np.ndarray):
            return x
        if np.isscalar(x) or isinstance(x, (list, tuple)):
            a = np.asarray(x)
            # Python literals carry no dtype of their own: give them the input's when that loses nothing.
            if np.can_cast(a.dtype, dtype, casting="same_kind") or (a.dtype.kind in "iub" and np.dtype(dtype).kind == "f"):
                return a.astype(dtype)
            return a
        if hasattr(x, "__array__"):
            return np.asarray(x)
        return np.asarray(x)

    def storage_view(self, storage: Any) -> Any:
        return storage.values

    def write_back(self, storage: Any, name: str, new: Any) -> None:
        dst = storage.values[name]
        if new is not dst:
            np.copyto(dst, new)
        storage.version += 1

    def to_output(self, a: Any, host: bool) -> Any:
        return a
