"""The optional compiled kernels (numba, the `fast` extra): whether they run, and their modules loaded on first
use. A kernel module imports numba at its top; it is imported here only when numba is installed and
GRAPHNN_NO_NUMBA is not set to a true value, so graphnn's import never pays numba's (~0.25 s) and every caller
keeps its plain NumPy path. Kernels are compiled with cache=True (numba's on-disk cache next to the module).

Imports nothing from graphnn but the kernel modules it loads (gelu_numba_kernels.py, norm_numba_kernels.py).
"""

from __future__ import annotations

import os
from types import ModuleType

_LOADED: dict[str, ModuleType | None] = {}


def enabled_by_env() -> bool:
    """False when GRAPHNN_NO_NUMBA is set to a true value (1, true, yes, on)."""
    return os.environ.get("GRAPHNN_NO_NUMBA", "").strip().lower() not in ("1", "true", "yes", "on")


def _load(name: str) -> ModuleType | None:
    if name not in _LOADED:
        try:
            # numba is optional (extra `fast`) and slow to import: these load on the first call, not with graphnn
            if name == "gelu":
                from . import gelu_numba_kernels as mod  # optional: imports numba
            else:
                from . import norm_numba_kernels as mod  # optional: imports numba
        except ImportError:
            mod = None
        _LOADED[name] = mod
    return _LOADED[name]


def kernels(name: str) -> ModuleType | None:
    """The compiled kernel module `name` ("gelu" or "norm"), or None: numba missing or switched off."""
    return _load(name) if enabled_by_env() else None
