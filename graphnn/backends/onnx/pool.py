"""ONNX export and import of the pool family: max_pool2d <-> MaxPool; the backward ops are not exported.

Imports graphnn.ir and the onnx room's emitter and import context.
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from ...ir.graph import Node
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table

LOWERINGS = lowering_table("pool")
IMPORTERS = importer_table("pool")
_BACKWARD = "a backward op: it appears only in training graphs, and an ONNX export is an inference graph"
UNSUPPORTED: dict[str, str] = {
    "max_pool2d_grad": _BACKWARD,
    "max_pool2d_select": _BACKWARD,
}
NOT_IMPORTED: dict[str, str] = {}


def _pads(padding: tuple) -> list[int]:
    ph, pw = padding
    return [ph, pw, ph, pw]  # ONNX: begins of every spatial axis, then ends


@LOWERINGS.register("max_pool2d", onnx_ops="MaxPool (padding is -inf, floor mode)")
def _max_pool2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("MaxPool", ins, outs, kernel_shape=list(n.attrs["kernel_size"]), strides=list(n.attrs["stride"]),
           pads=_pads(n.attrs["padding"]))


# ---- import ------------------------------------------------------------------------------------------------
def _pads2(attrs: dict, n: Any) -> tuple[int, int]:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise GraphError(f"{n.op_type} {n.name}: auto_pad is not supported; give explicit pads")
    p = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(p) != 4 or min(p) < 0:
        raise GraphError(f"{n.op_type} {n.name}: pads {p} must be 4 non-negative numbers (2-D begins, then ends)")
    if p[:2] != p[2:]:
        raise GraphError(f"{n.op_type} {n.name}: asymmetric pads {p} are not supported")
    return (p[0], p[1])


@IMPORTERS.register("MaxPool")
def _import_max_pool(imp: Importer, n: Any, attrs: dict) -> list:
    if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])) or len(n.output) > 1:
        raise GraphError(f"MaxPool {n.name}: ceil_mode, dilations and the Indices output are not supported")
    k = tuple(attrs["kernel_shape"])
    a = {"kernel_size": k, "stride": tuple(attrs.get("strides", [1, 1])), "padding": _pads2(attrs, n)}
    return [imp.op("max_pool2d", [imp.value(n.input[0])], a, n.output[0])]
