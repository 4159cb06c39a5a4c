"""ONNX export and import of the linalg family: matmul <-> MatMul, gemm_update -> MatMul, Mul, Add, and Gemm on import.

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from .emitter import Emitter, lowering_table
from .import_context import Importer, importer_table, inputs

LOWERINGS = lowering_table("linalg")
IMPORTERS = importer_table("linalg")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}


@LOWERINGS.register("matmul", onnx_ops="MatMul")
def _matmul(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("MatMul", ins, outs)


@IMPORTERS.register("MatMul")
def _import_matmul(imp: Importer, n: Any, attrs: dict) -> list:
    return [imp.op("matmul", inputs(imp, n), {}, n.output[0])]


@IMPORTERS.register("Gemm")
def _import_gemm(imp: Importer, n: Any, attrs: dict) -> list:
    ins = inputs(imp, n)
    a, b = ins[0], ins[1]
    if attrs.get("transA", 0):
        a = imp.op("transpose", [a], {"perm": (1, 0)})
    if attrs.get("transB", 0):
        b = imp.op("transpose", [b], {"perm": (1, 0)})
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    last = len(ins) < 3 and alpha == 1.0
    y = imp.op("matmul", [a, b], {}, n.output[0] if last else None)
    if alpha != 1.0:
        y = imp.op("mul", [y, alpha], {}, n.output[0] if len(ins) < 3 else None)
    if len(ins) == 3:
        c = ins[2] if beta == 1.0 else imp.op("mul", [ins[2], beta])
        y = imp.op("add", [y, c], {}, n.output[0])
    return [y]


@LOWERINGS.register("gemm_update", onnx_ops="MatMul, Mul, Add, Where")
def _gemm_update(e: Emitter, n: Node, ins: list, outs: list) -> None:
    # ONNX Gemm takes alpha as an attribute; here the factor is a tensor (a learning rate may be state)
    c, a, b, s = ins[:4]
    k = e.emit("Mul", [s, e.scalar_like(float(n.attrs["scale"]), n.inputs[3], "scale")])[0]
    y = e.emit("Mul", [e.emit("MatMul", [a, b])[0], k])[0]
    if len(ins) == 5:
        e.emit("Where", [ins[4], e.emit("Add", [c, y])[0], c], outs)
    else:
        e.emit("Add", [c, y], outs)
