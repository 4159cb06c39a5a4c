"""ONNX side of the control family: the gradient request never reaches the exporter (a reason, no rows).

Imports the onnx room's emitter and import context.
"""

from __future__ import annotations

from .emitter import lowering_table
from .import_context import importer_table

LOWERINGS = lowering_table("control")
IMPORTERS = importer_table("control")
UNSUPPORTED: dict[str, str] = {
    "grad": "a gradient request; the export pipeline expands it with autodiff, so it never reaches the exporter",
}
NOT_IMPORTED: dict[str, str] = {}
