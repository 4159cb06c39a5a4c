"""NumPy backend: `KERNELS` (op name -> kernel factory taking the array module `xp`) and `OUT_KERNELS` (op name
-> destination-passing factory), gathered from one module per op family, named as in graphnn/ir/ops/.

Imports its family modules only; the executor-facing backend object is in backend.py.
"""

from __future__ import annotations

from typing import Any

from ..table import Table
from . import (
    activation,
    attention,
    collective,
    control_flow,
    conv,
    elementwise,
    fused,
    fused_elementwise,
    indexing,
    linalg,
    loss,
    nn,
    nn_grads,
    norm,
    pool,
    reduction,
    resample,
    shape_ops,
    stochastic,
)
from .support import Factory

# The family modules with kernels, in the order of graphnn/ir/ops FAMILIES (the gradient request `grad` has none).
FAMILIES = (elementwise, reduction, shape_ops, linalg, nn, loss, fused, conv, norm, stochastic, control_flow,
            fused_elementwise, collective, indexing, attention,
            pool, activation, resample, nn_grads)

KERNELS: Table[Factory] = Table("numpy kernel")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel")
for _fam in FAMILIES:
    if _fam is not control_flow:
        KERNELS.merge(_fam.KERNELS)
    OUT_KERNELS.merge(_fam.OUT_KERNELS)
KERNELS.merge(control_flow.kernels_with_cond(KERNELS, OUT_KERNELS))  # subgraphs run over these whole tables
