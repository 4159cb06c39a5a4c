"""ONNX export and import of the stochastic family: dropout is not exported (the eval-mode pipeline removes
it); an inference-mode Dropout node imports as identity. Imports graphnn.ir and the onnx room's import context.
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from .emitter import lowering_table
from .import_context import Importer, importer_table

LOWERINGS = lowering_table("stochastic")
IMPORTERS = importer_table("stochastic")
UNSUPPORTED: dict[str, str] = {
    "dropout": "random masks are training-mode only; the eval-mode export pipeline removes dropout",
}
NOT_IMPORTED: dict[str, str] = {}
TRAINING_ONLY: dict[str, str] = {
    # The eval-mode pass removes every dropout; one left in the graph is active.
    "dropout": "active dropout (training mode): an eval-mode export drops it",
}


@IMPORTERS.register("Dropout")
def _import_dropout(imp: Importer, n: Any, attrs: dict) -> list:
    # Inference semantics: the output is the input (an imported graph is an inference graph).
    if len([o for o in n.output if o]) > 1:
        raise GraphError(f"Dropout {n.name}: the mask output is not supported")
    if len(n.input) > 2 and n.input[2] and bool(imp.need_const(n.input[2], "training_mode")):
        raise GraphError(f"Dropout {n.name}: training_mode=True is not supported on import")
    return [imp.op("identity", [imp.value(n.input[0])], {}, n.output[0])]
