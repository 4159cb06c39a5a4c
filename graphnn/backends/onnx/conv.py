"""ONNX export and import of the conv family: conv2d <-> Conv (a bias input imports as an add); the backward
ops are not exported (pooling is in pool.py). Imports graphnn.ir and the onnx room's emitter and import context.
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from ...ir.graph import Node
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table, inputs

LOWERINGS = lowering_table("conv")
IMPORTERS = importer_table("conv")
_BACKWARD = "a backward op: it appears only in training graphs, and an ONNX export is an inference graph"
UNSUPPORTED: dict[str, str] = {
    "conv2d_input_grad": _BACKWARD,
    "conv2d_weight_grad": _BACKWARD,
}
NOT_IMPORTED: dict[str, str] = {}


def _pads(padding: tuple) -> list[int]:
    ph, pw = padding
    return [ph, pw, ph, pw]  # ONNX: begins of every spatial axis, then ends


@LOWERINGS.register("conv2d", onnx_ops="Conv (NCHW, OIHW, no bias; group 1)")
def _conv2d(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Conv", ins, outs, strides=list(n.attrs["stride"]), pads=_pads(n.attrs["padding"]))


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


@IMPORTERS.register("Conv")
def _import_conv(imp: Importer, n: Any, attrs: dict) -> list:
    ins = inputs(imp, n)
    if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])) or ins[0].ndim != 4:
        raise GraphError(f"Conv {n.name}: only 2-D, group 1, dilation 1 convolutions are supported")
    k = attrs.get("kernel_shape")
    if k is not None and list(k) != list(ins[1].shape[2:]):
        raise GraphError(f"Conv {n.name}: kernel_shape {list(k)} differs from the weights' {ins[1].type}")
    a = {"stride": tuple(attrs.get("strides", [1, 1])), "padding": _pads2(attrs, n)}
    y = imp.op("conv2d", ins[:2], a, n.output[0] if len(ins) < 3 else None)
    if len(ins) == 3:
        y = imp.op("add", [y, imp.op("reshape", [ins[2]], {"shape": (1, -1, 1, 1)})], {}, n.output[0])
    return [y]
