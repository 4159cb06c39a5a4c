"""ONNX export and import of the indexing family: gather as Gather; Gather on import (folded when both inputs
are static, as exporters' shape arithmetic writes it). Imports graphnn.ir and the onnx room's emitter and import
context (and onnx).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.graph import Node
from .emitter import Emitter, lowering_table
from .import_context import Importer, check_axis, importer_table

LOWERINGS = lowering_table("indexing")
IMPORTERS = importer_table("indexing")
UNSUPPORTED: dict[str, str] = {
    "scatter_add": "a backward op (gather's adjoint): it appears only in gradient graphs",
}
NOT_IMPORTED: dict[str, str] = {}


@LOWERINGS.register("gather", onnx_ops="Gather")
def _gather(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Gather", ins, outs, axis=int(n.attrs["axis"]))


@IMPORTERS.register("Gather")
def _import_gather(imp: Importer, n: Any, attrs: dict) -> list:
    data, idx = imp.const(n.input[0]), imp.const(n.input[1])
    # Shape arithmetic (Gather of a Shape or Constant) folds now; a trained initializer stays a parameter.
    if data is not None and idx is not None and n.input[0] not in imp.vals and n.input[0] not in imp.initializers:
        axis = check_axis(n, int(attrs.get("axis", 0)), data.ndim)
        return [np.asarray(np.take(data, idx.astype(np.int64), axis=axis), dtype=data.dtype)]  # 0-d stays an array
    x = imp.value(n.input[0])
    i = imp.value(n.input[1]) if idx is None else np.asarray(idx)
    axis = check_axis(n, int(attrs.get("axis", 0)), x.ndim)
    return [imp.op("gather", [x, i], {"axis": axis}, n.output[0])]
