"""NumPy's own BLAS `?gemm` through ctypes, for what `np.matmul` does not expose: alpha and beta, so that
`c <- c + alpha a @ b` is one product written into c (the fused SGD step of gemm_update), not a product into a
temporary, a scaling pass and an add pass.

The library is the one NumPy links (looked up through NumPy's extension module, so no path or threadpoolctl is
needed); the symbol is the CBLAS one it exports (`scipy_cblas_sgemm64_` in NumPy's wheels: ILP64, or a plain
`cblas_sgemm`). None where no such symbol is found or GRAPHNN_NO_CBLAS is set to a true value; callers then keep
their NumPy path. Host NumPy arrays only. Imports nothing from graphnn.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (symbol template, integer type): the suffixed names are the 64-bit-integer (ILP64) builds.
_NAMES = (("scipy_cblas_{}gemm64_", ctypes.c_int64), ("cblas_{}gemm64_", ctypes.c_int64),
          ("scipy_cblas_{}gemm", ctypes.c_int), ("cblas_{}gemm", ctypes.c_int))
_FOUND: dict[str, Any] = {}


def enabled_by_env() -> bool:
    """False when GRAPHNN_NO_CBLAS is set to a true value (1, true, yes, on)."""
    return os.environ.get("GRAPHNN_NO_CBLAS", "").strip().lower() not in ("1", "true", "yes", "on")


def _library() -> Any:
    try:
        from numpy._core import _multiarray_umath as ext  # NumPy 2's name, tried at the first gemm only
    except ImportError:
        from numpy.core import _multiarray_umath as ext  # NumPy 1.26's name for the same module
    # dlopen of a loaded extension returns its handle; dlsym on it also searches the libraries it links (the BLAS)
    return ctypes.CDLL(ext.__file__)


@dataclass(frozen=True)
class Routine:
    """A CBLAS ?gemm symbol and the C types of its integer and real arguments."""

    f: Any
    integer: Any
    real: Any


def _lookup(dtype: np.dtype) -> Routine | None:
    letter = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}.get(dtype)
    if letter is None:
        return None
    try:
        lib = _library()
    except (OSError, ImportError, AttributeError):
        return None
    for template, integer in _NAMES:
        f = getattr(lib, template.format(letter), None)
        if f is not None:
            f.restype = None  # no argtypes: calls pass ready-made ctypes objects (converting 14 arguments: ~4 us)
            return Routine(f, integer, ctypes.c_float if letter == "s" else ctypes.c_double)
    return None


def gemm_for(dtype: Any) -> Routine | None:
    """The CBLAS gemm of float32 or float64 (found once per process), or None: another dtype, no CBLAS symbol
    in NumPy's BLAS, or GRAPHNN_NO_CBLAS set."""
    if not enabled_by_env():
        return None
    dt = np.dtype(dtype)
    if dt.name not in _FOUND:
        _FOUND[dt.name] = _lookup(dt)
    return _FOUND[dt.name]


def _operand(x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(array, transpose flag, leading dimension) of a matrix as row-major CBLAS reads it: a C-ordered matrix as it
    is, a transposed view (F order) as the transpose of its base; anything else copied first."""
    item = x.itemsize
    rows, cols = x.shape
    s0, s1 = x.strides
    if (s1 == item or cols == 1) and s0 >= max(1, cols) * item and s0 % item == 0:
        return x, _NO_TRANS, s0 // item
    if (s0 == item or rows == 1) and s1 >= max(1, rows) * item and s1 % item == 0:
        return x, _TRANS, s1 // item
    x = np.ascontiguousarray(x)
    return x, _NO_TRANS, max(1, cols)


class Gemm:
    """`gemm(c, a, b, alpha, beta)`: c <- beta c + alpha a @ b through a Routine, when c is a C-ordered matrix
    that shares no memory with a or b; False (nothing written) otherwise, for the caller's NumPy path. The
    arguments of the last call are kept with the arrays they were made from, so a plan calling it on the same
    buffers every step pays one C call (~1 us) instead of the checks and conversions (~7 us)."""

    def __init__(self, r: Routine) -> None:
        self.r = r
        self.last: tuple | None = None

    def _args(self, c: np.ndarray, a: np.ndarray, b: np.ndarray) -> list | None:
        m, n = c.shape
        if not c.flags.c_contiguous or np.may_share_memory(c, a) or np.may_share_memory(c, b):
            return None
        if m == 0 or n == 0:
            return []
        a2, ta, lda = _operand(a)
        b2, tb, ldb = _operand(b)
        i, ptr = self.r.integer, ctypes.c_void_p
        return [ctypes.c_int(_ROW_MAJOR), ctypes.c_int(ta), ctypes.c_int(tb), i(m), i(n), i(a.shape[1]), None,
                ptr(a2.ctypes.data), i(lda), ptr(b2.ctypes.data), i(ldb), None, ptr(c.ctypes.data), i(max(1, n)),
                a2, b2]

    def __call__(self, c: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float, beta: float) -> bool:
        last = self.last
        if last is not None and last[0] is c and last[1] is a and last[2] is b:
            args = last[3]
        else:
            args = self._args(c, a, b)
            if args is None:
                return False
            # kept unless an operand was copied (the copy would go stale); holding a, b and c keeps their ids
            # from being reused by other arrays
            self.last = (c, a, b, args) if not args or (args[14] is a and args[15] is b) else None
        if args:
            args[6], args[11] = self.r.real(alpha), self.r.real(beta)
            self.r.f(*args[:14])
        return True


_BLAS: dict[str, Any] = {}


def sgemm_blas() -> np.ndarray | None:
    """NumPy's CBLAS sgemm for compiled kernels (native_kernels.sgemm): an int64 array (its address, 1 when its
    integers are 64-bit), or None as gemm_for. An array, not a ctypes function object: numba's dispatcher types a
    ctypes argument in Python on every call (~3 us), an array in C."""
    if "s" not in _BLAS:
        r = gemm_for(np.float32)
        _BLAS["s"] = None if r is None else \
            np.array([ctypes.cast(r.f, ctypes.c_void_p).value, r.integer is ctypes.c_int64], np.int64)
    return _BLAS["s"]
