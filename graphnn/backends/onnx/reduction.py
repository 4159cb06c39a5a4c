"""ONNX export and import of the reduction family: sum/mean/max/min <-> Reduce*, argmax <-> ArgMax, cumsum <-> CumSum.

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from typing import Any

from ...ir.errors import GraphError
from ...ir.graph import Node
from ...ir.ops.reduction import norm_axes
from .emitter import Emitter, lowering_table
from .import_context import Importer, axes_arg, check_axes, check_axis, importer_table

LOWERINGS = lowering_table("reduction")
IMPORTERS = importer_table("reduction")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}

REDUCTIONS = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"}


def _reduction(onnx_op: str) -> Any:
    def lower(e: Emitter, n: Node, ins: list, outs: list) -> None:
        axes = norm_axes(n.attrs["axes"], n.inputs[0].ndim)
        e.reduce(onnx_op, ins[0], axes, n.attrs["keepdims"], outs)

    return lower


for _op, _onnx in REDUCTIONS.items():
    LOWERINGS.register(_op, onnx_ops=_onnx)(_reduction(_onnx))


@LOWERINGS.register("argmax", onnx_ops="ArgMax")
def _argmax(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("ArgMax", ins, outs, axis=int(n.attrs["axis"]), keepdims=int(n.attrs["keepdims"]))


@IMPORTERS.register(*REDUCTIONS.values())
def _import_reduce(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axes = axes_arg(imp, n, attrs, 1)
    if not axes and attrs.get("noop_with_empty_axes", 0):
        return [imp.op("identity", [x], {}, n.output[0])]
    op = {onnx_op: op for op, onnx_op in REDUCTIONS.items()}[n.op_type]
    axes_attr = None if not axes else tuple(sorted(check_axes(n, axes, x.ndim)))
    return [imp.op(op, [x], {"axes": axes_attr, "keepdims": bool(attrs.get("keepdims", 1))}, n.output[0])]


@IMPORTERS.register("ArgMax")
def _import_argmax(imp: Importer, n: Any, attrs: dict) -> list:
    if attrs.get("select_last_index", 0):
        raise GraphError(f"ArgMax {n.name}: select_last_index=1 is not supported (graphnn picks the first max)")
    x = imp.value(n.input[0])
    a = {"axis": check_axis(n, int(attrs.get("axis", 0)), x.ndim), "keepdims": bool(attrs.get("keepdims", 1))}
    return [imp.op("argmax", [x], a, n.output[0])]


@LOWERINGS.register("cumsum", onnx_ops="CumSum")
def _cumsum(e: Emitter, n: Node, ins: list, outs: list) -> None:
    a = n.attrs
    e.emit("CumSum", [ins[0], e.const(a["axis"], "int64", "axis")], outs, exclusive=int(a["exclusive"]),
           reverse=int(a["reverse"]))


@IMPORTERS.register("CumSum")
def _import_cumsum(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axis = check_axis(n, int(imp.need_const(n.input[1], "the axis").reshape(-1)[0]), x.ndim)
    a = {"axis": axis, "exclusive": bool(attrs.get("exclusive", 0)), "reverse": bool(attrs.get("reverse", 0))}
    return [imp.op("cumsum", [x], a, n.output[0])]
