"""ONNX translation, one module per op family (export lowering and import side by side, named like
graphnn/ir/ops/), plus the infrastructure: emitter and exporter, import context and importer, preflight, parity
and an onnx.backend adapter. The user-level entry points are in graphnn/onnx.py (`gn.onnx`).

This module gathers the family tables: LOWERINGS (graphnn op -> Lowering), UNSUPPORTED (graphnn op -> why it is
not exported), IMPORTERS (ONNX op type -> import function), NOT_IMPORTED (graphnn op -> why its export does not
load back), TRAINING_ONLY (graphnn op -> why an inference export refuses it).
"""

from __future__ import annotations

from ..table import Table
from . import (
    activation,
    attention,
    collective,
    control,
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
from .emitter import Lowering
from .import_context import ImportFn

FAMILIES = (elementwise, reduction, shape_ops, linalg, nn, loss, fused, control, conv, norm, stochastic, control_flow,
            fused_elementwise, collective, indexing, attention,
            pool, activation, resample, nn_grads)

LOWERINGS: Table[Lowering] = Table("ONNX lowerings")
IMPORTERS: Table[ImportFn] = Table("ONNX importers")
UNSUPPORTED: Table[str] = Table("ONNX export refusals")
NOT_IMPORTED: Table[str] = Table("ONNX round-trip exceptions")
TRAINING_ONLY: Table[str] = Table("ONNX training-only ops")
for _fam in FAMILIES:
    LOWERINGS.merge(_fam.LOWERINGS)
    IMPORTERS.merge(_fam.IMPORTERS)
    UNSUPPORTED.merge(_fam.UNSUPPORTED)
    NOT_IMPORTED.merge(_fam.NOT_IMPORTED)
    TRAINING_ONLY.merge(getattr(_fam, "TRAINING_ONLY", {}))

__all__ = ["FAMILIES", "IMPORTERS", "LOWERINGS", "NOT_IMPORTED", "TRAINING_ONLY", "UNSUPPORTED"]
