"""ONNX side of the fused_elementwise family: the runtime's fused chains are not exported (a reason, no rows).

Imports the onnx room's emitter and import context.
"""

from __future__ import annotations

from .emitter import lowering_table
from .import_context import importer_table

LOWERINGS = lowering_table("fused_elementwise")
IMPORTERS = importer_table("fused_elementwise")
UNSUPPORTED: dict[str, str] = {
    "fused_elementwise": "made by the runtime's fuse_elementwise pass, which the export pipeline does not run; "
                         "its members are exported one by one",
}
NOT_IMPORTED: dict[str, str] = {}
