"""ONNX side of the collective family: an all-reduce across MPI ranks has no ONNX form (a reason, no rows).

Imports the onnx room's emitter and import context.
"""

from __future__ import annotations

from .emitter import lowering_table
from .import_context import importer_table

LOWERINGS = lowering_table("collective")
IMPORTERS = importer_table("collective")
UNSUPPORTED: dict[str, str] = {
    "all_reduce": "a collective across the ranks of an MPI job (data parallelism); an ONNX model is one process, "
                  "so export the graph without data_parallel=True",
}
NOT_IMPORTED: dict[str, str] = {}
