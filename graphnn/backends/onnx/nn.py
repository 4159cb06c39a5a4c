"""ONNX export and import of the nn family: softmax <-> Softmax, log_softmax <-> LogSoftmax, gelu <-> Gelu
(opset 20; its Erf or Tanh decomposition below), and the exports of one_hot, maxout and silu (which come back as
the ops they are built from).

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.errors import GraphError
from ...ir.graph import Node
from ...ir.types import dim_mul
from .emitter import Emitter, lowering_table, onnx_dtype
from .import_context import Importer, check_axis, importer_table

LOWERINGS = lowering_table("nn")
IMPORTERS = importer_table("nn")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}


@LOWERINGS.register("softmax", onnx_ops="Softmax")
def _softmax(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Softmax", ins, outs, axis=int(n.attrs["axis"]))


@LOWERINGS.register("log_softmax", onnx_ops="LogSoftmax")
def _log_softmax(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("LogSoftmax", ins, outs, axis=int(n.attrs["axis"]))


@LOWERINGS.register("one_hot", onnx_ops="Unsqueeze, Equal (against a constant range), Cast")
def _one_hot(e: Emitter, n: Node, ins: list, outs: list) -> None:
    y = n.inputs[0]
    col = e.emit("Unsqueeze", [ins[0], e.i64([-1], "axes")])[0]
    hit = e.emit("Equal", [col, e.const(np.arange(n.attrs["depth"]), y.dtype, "classes")])[0]
    e.emit("Cast", [hit], outs, to=onnx_dtype(n.attrs["dtype"]))


@LOWERINGS.register("maxout", onnx_ops="Reshape, ReduceMax")
def _maxout(e: Emitter, n: Node, ins: list, outs: list) -> None:
    ax, k = n.attrs["axis"], n.attrs["pieces"]
    s = list(n.inputs[0].type.shape)
    # A constant target shape where possible: 0 copies a leading dim, -1 takes one symbolic trailing dim.
    # (Reshape-13's shape inference ignores a computed shape tensor, so a Concat of Shape pieces would leave the
    # output's rank unknown at opset 13.)
    tail = [d if isinstance(d, int) else -1 for d in s[ax + 1:]]
    if tail.count(-1) <= 1:
        target = e.i64([0] * ax + [s[ax] // k, k] + tail)
    else:
        target = e.shape_tensor(s[:ax] + [s[ax] // k, k] + s[ax + 1:])
    grouped = e.emit("Reshape", [ins[0], target])[0]
    e.reduce("ReduceMax", grouped, [ax + 1], False, outs)


@LOWERINGS.register("gelu", onnx_ops="Gelu (opset >= 20); below: Erf (exact) or Tanh (approximate) with Mul, Add")
def _gelu(e: Emitter, n: Node, ins: list, outs: list) -> None:
    mode, x = n.attrs["approximate"], n.inputs[0]
    if e.opset >= 20:
        e.emit("Gelu", ins, outs, approximate=mode)
        return

    def c(v: float, hint: str) -> str:
        return e.scalar_like(v, x, hint)

    if mode == "none":
        inner = e.emit("Erf", [e.emit("Mul", [ins[0], c(0.7071067811865476, "inv_sqrt2")])[0]])[0]
    else:  # sqrt(2/pi) * (x + 0.044715 x^3), as ONNX's Gelu function body
        cube = e.emit("Mul", [ins[0], e.emit("Mul", [ins[0], ins[0]])[0]])[0]
        u = e.emit("Add", [ins[0], e.emit("Mul", [cube, c(0.044715, "gelu_cubic")])[0]])[0]
        inner = e.emit("Tanh", [e.emit("Mul", [u, c(0.7978845608028654, "sqrt_2_over_pi")])[0]])[0]
    half_x = e.emit("Mul", [ins[0], c(0.5, "half")])[0]
    e.emit("Mul", [half_x, e.emit("Add", [inner, c(1.0, "one")])[0]], outs)


@LOWERINGS.register("silu", onnx_ops="Sigmoid, Mul")
def _silu(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Mul", [ins[0], e.emit("Sigmoid", ins)[0]], outs)


@IMPORTERS.register("Gelu")
def _import_gelu(imp: Importer, n: Any, attrs: dict) -> list:
    mode = attrs.get("approximate", "none")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("none", "tanh"):
        raise GraphError(f"Gelu {n.name}: approximate={mode!r} (ONNX allows 'none' and 'tanh')")
    return [imp.op("gelu", [imp.value(n.input[0])], {"approximate": mode}, n.output[0])]


@IMPORTERS.register("Softmax", "LogSoftmax")
def _import_softmax(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    axis = check_axis(n, int(attrs.get("axis", -1 if imp.opset >= 13 else 1)), x.ndim)
    op = "softmax" if n.op_type == "Softmax" else "log_softmax"
    if imp.opset < 13 and axis != x.ndim - 1:  # before 13 the op flattened to 2-D at `axis`, then back
        flat = imp.op("reshape", [x], {"shape": (dim_mul(*x.shape[:axis]), dim_mul(*x.shape[axis:]))})
        y = imp.op(op, [flat], {"axis": 1})
        return [imp.op("reshape", [y], {"shape": tuple(x.shape)}, n.output[0])]
    return [imp.op(op, [x], {"axis": axis}, n.output[0])]
