"""Optional compiled kernels for the NumPy backend (numba, the `fast` extra), used only where a measurement showed
they pay (benchmarks/RESULTS.md): the exact float32 GELU and its slope (gelu_kernels.py), layer norm forward and
backward over rows (norm_kernels.py), and the Winograd convolutions F(2x2, 3x3) and F(4x4, 3x3) (winograd.py, the
driver, with winograd_kernels.py and winograd4_kernels.py); beside them, without numba, NumPy's own BLAS gemm with
alpha and beta through ctypes (cblas.py, gemm_update's fused SGD step). Host-only, so they live apart from
backends/numpy (whose factories CuPy reuses); each NumPy kernel asks here first and keeps its plain path when the
answer is None.

A kernel module imports numba at its top and is imported on first use only when numba is installed and
GRAPHNN_NO_NUMBA is not set to a true value, so graphnn's import never pays numba's (~0.25 s). Kernels are
compiled with cache=True (numba's on-disk cache next to the module).

Imports nothing from graphnn but its own kernel modules.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

_LOADED: dict[str, ModuleType | None] = {}


def enabled_by_env() -> bool:
    """False when GRAPHNN_NO_NUMBA is set to a true value (1, true, yes, on)."""
    return os.environ.get("GRAPHNN_NO_NUMBA", "").strip().lower() not in ("1", "true", "yes", "on")


def _load(name: str) -> ModuleType | None:
    if name not in _LOADED:
        try:
            # numba is optional (extra `fast`) and slow to import: these load on the first call, not with graphnn
            if name == "gelu":
                from . import gelu_kernels as mod  # optional: imports numba
            elif name == "winograd":
                from . import winograd_kernels as mod  # optional: imports numba
            elif name == "winograd4":
                from . import winograd4_kernels as mod  # optional: imports numba
            elif name == "team":
                from . import team_kernels as mod  # optional: imports numba
            elif name == "colconv":
                from . import colconv_kernels as mod  # optional: imports numba
            else:
                from . import norm_kernels as mod  # optional: imports numba
        except ImportError:
            mod = None
        _LOADED[name] = mod
    return _LOADED[name]


def kernels(name: str) -> ModuleType | None:
    """The compiled kernel module `name` ("gelu", "norm", "winograd", "winograd4", "team" or
    "colconv"), or None: numba
    missing or switched off."""
    return _load(name) if enabled_by_env() else None


def host_float(xp: Any, dtype: Any) -> bool:
    """Whether a node of this dtype runs on the NumPy backend in float32 or float64 (a plan-time check)."""
    return xp is np and np.dtype(dtype) in (np.float32, np.float64)


def _host(xp: Any, *arrays: Any, dtypes: tuple[Any, ...]) -> bool:
    """The arrays are plain NumPy arrays of these dtypes on the NumPy backend (not CuPy, not a stand-in)."""
    return xp is np and all(type(a) is np.ndarray and a.dtype in dtypes for a in arrays)


def gelu32(xp: Any, x: Any) -> np.ndarray | None:
    """The exact GELU of a float32 NumPy array in one compiled pass, or None where the compiled path does not
    apply (numba off or missing, not a host float32 array)."""
    k = kernels("gelu") if _host(xp, x, dtypes=(np.float32,)) else None
    if k is None:
        return None
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape, np.float32)
    k.gelu(flat, out)
    return out.reshape(x.shape)


def gelu_slope32(xp: Any, x: Any, g: Any) -> np.ndarray | None:
    """g * gelu'(x) of two float32 NumPy arrays of one shape in one compiled pass, or None (as gelu32)."""
    ok = _host(xp, x, g, dtypes=(np.float32,)) and x.shape == g.shape
    k = kernels("gelu") if ok else None
    if k is None:
        return None
    flat, gf = np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(g).reshape(-1)
    out = np.empty(flat.shape, np.float32)
    k.slope(flat, gf, out)
    return out.reshape(x.shape)


def gelu_tail_kernels(xp: Any, dtype: Any) -> ModuleType | None:
    """The gelu kernel module when the forward can leave its tail r for the backward (gelu_and_tail,
    slope_from_tail on contiguous float32 NumPy buffers), else None. Decided at plan time."""
    return kernels("gelu") if xp is np and np.dtype(dtype) == np.float32 else None


def layer_norm(xp: Any, x: Any, gamma: Any, beta: Any, n: int, eps: float) -> np.ndarray | None:
    """layer_norm over rows of length n (the trailing axes) compiled, or None where it does not apply."""
    ok = n > 0 and x.size > 0 and _host(xp, x, gamma, beta, dtypes=(np.float32, np.float64))
    k = kernels("norm") if ok else None
    if k is None:
        return None
    out = np.empty(x.shape, x.dtype)
    vec = [np.ascontiguousarray(v, dtype=x.dtype).reshape(n) for v in (gamma, beta)]
    k.layer_norm(np.ascontiguousarray(x).reshape(-1, n), vec[0], vec[1], eps, out.reshape(-1, n))
    return out


def layer_norm_grad(xp: Any, x: Any, gamma: Any, gy: Any, n: int, eps: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(gx, ggamma of gamma's shape) of layer_norm over rows of length n compiled, or None."""
    ok = n > 0 and x.size > 0 and _host(xp, x, gamma, gy, dtypes=(np.float32, np.float64))
    k = kernels("norm") if ok else None
    if k is None:
        return None
    gx, gg = np.empty(x.shape, x.dtype), np.empty(n, x.dtype)
    k.layer_norm_grad(np.ascontiguousarray(x).reshape(-1, n), np.ascontiguousarray(gamma, dtype=x.dtype).reshape(n),
                      np.ascontiguousarray(gy, dtype=x.dtype).reshape(-1, n), eps, gx.reshape(-1, n), gg)
    return gx, gg.reshape(gamma.shape)
