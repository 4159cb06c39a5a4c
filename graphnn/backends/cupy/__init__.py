"""CuPy (GPU) backend tables: `CUPY_KERNELS` / `CUPY_OUT_KERNELS`, the overrides gathered from one module per op
family (named as in graphnn/ir/ops/, only where CuPy needs one), and `KERNELS` / `OUT_KERNELS`, the NumPy tables
(their factories take `xp`) with those overrides applied. Importable without cupy; imports the family modules.
"""

from __future__ import annotations

from typing import Any

from .. import numpy as numpy_backend
from ..table import Table
from . import activation, elementwise, fused, fused_elementwise, indexing, loss, nn, nn_grads, reduction

FAMILIES = (elementwise, reduction, nn, loss, fused, fused_elementwise, indexing, activation, nn_grads)

CUPY_KERNELS: Table[Any] = Table("cupy kernel")
CUPY_OUT_KERNELS: Table[Any] = Table("cupy out= kernel")
for _fam in FAMILIES:
    CUPY_KERNELS.merge(_fam.KERNELS)
    CUPY_OUT_KERNELS.merge(_fam.OUT_KERNELS)

KERNELS: Table[Any] = Table("cupy backend kernel")
KERNELS.update({**numpy_backend.KERNELS, **CUPY_KERNELS})  # an override replaces the NumPy row
OUT_KERNELS: Table[Any] = Table("cupy backend out= kernel")
OUT_KERNELS.update({**numpy_backend.OUT_KERNELS, **CUPY_OUT_KERNELS})
