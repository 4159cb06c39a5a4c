"""ONNX export and import of the elementwise family: arithmetic, comparisons, activations, where and cast.

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.graph import Node
from ...ir.types import INT_DTYPES
from .emitter import Emitter, lowering_table, onnx_dtype, register_direct
from .import_context import Importer, elem_dtype, importer_table, inputs

LOWERINGS = lowering_table("elementwise")
IMPORTERS = importer_table("elementwise")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}

# graphnn op <-> ONNX op type, one node each way (stop_gradient exports as Identity and comes back as identity).
DIRECT = {
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max", "minimum": "Min",
    "greater": "Greater", "less": "Less", "greater_equal": "GreaterOrEqual", "less_equal": "LessOrEqual",
    "equal": "Equal", "neg": "Neg", "abs": "Abs", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "relu": "Relu",
    "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "sign": "Sign", "erf": "Erf", "identity": "Identity",
    "stop_gradient": "Identity", "where": "Where",
}
IMPORTED_DIRECTLY = {"Add", "Sub", "Mul", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal", "Neg",
                     "Abs", "Exp", "Log", "Sqrt", "Relu", "Sigmoid", "Tanh", "Softplus", "Sign", "Erf", "Identity",
                     "Where"}


register_direct(LOWERINGS, DIRECT)


@LOWERINGS.register("leaky_relu", onnx_ops="LeakyRelu")
def _leaky_relu(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("LeakyRelu", ins, outs, alpha=float(n.attrs["alpha"]))


@LOWERINGS.register("prelu", onnx_ops="PRelu (Where when the slope broadcasts beyond x)")
def _prelu(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if n.outputs[0].type.shape == n.inputs[0].type.shape:  # ONNX PRelu broadcasts the slope one way only
        e.emit("PRelu", ins, outs)
        return
    x = n.inputs[0]
    pos = e.emit("Greater", [ins[0], e.scalar_like(0, x, "zero")])[0]
    e.emit("Where", [pos, ins[0], e.emit("Mul", ins)[0]], outs)


@LOWERINGS.register("cast", onnx_ops="Cast")
def _cast(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Cast", ins, outs, to=onnx_dtype(n.attrs["dtype"]))


# ---- import ------------------------------------------------------------------------------------------------
def _simple(op: str) -> Any:
    def imp_fn(imp: Importer, n: Any, attrs: dict) -> list:
        return [imp.op(op, inputs(imp, n), {}, n.output[0])]

    return imp_fn


_BY_ONNX = {onnx_op: op for op, onnx_op in DIRECT.items() if op != "stop_gradient"} | {"PRelu": "prelu"}
for _onnx in sorted(IMPORTED_DIRECTLY):
    IMPORTERS.register(_onnx)(_simple(_BY_ONNX[_onnx]))


@IMPORTERS.register("Not")
def _import_not(imp: Importer, n: Any, attrs: dict) -> list:
    # graphnn has no logical_not op: on bool, not x is (x == False)
    x = imp.value(n.input[0])
    return [imp.op("equal", [x, np.asarray(False)], {}, n.output[0])]


@IMPORTERS.register("And", "Or", "Xor")
def _import_logical(imp: Importer, n: Any, attrs: dict) -> list:
    # on bool: a and b = where(a, b, False); a or b = where(a, True, b); a xor b = (a != b) = ((a == b) == False)
    a, b = inputs(imp, n)
    if n.op_type == "Xor":
        return [imp.op("equal", [imp.op("equal", [a, b]), np.asarray(False)], {}, n.output[0])]
    fill = np.asarray(n.op_type == "Or")
    args = [a, fill, b] if n.op_type == "Or" else [a, b, fill]
    return [imp.op("where", args, {}, n.output[0])]


@IMPORTERS.register("LeakyRelu")
def _import_leaky_relu(imp: Importer, n: Any, attrs: dict) -> list:
    return [imp.op("leaky_relu", inputs(imp, n), {"alpha": float(attrs.get("alpha", 0.01))}, n.output[0])]


@IMPORTERS.register("Cast")
def _import_cast(imp: Importer, n: Any, attrs: dict) -> list:
    return [imp.op("cast", inputs(imp, n), {"dtype": elem_dtype(attrs["to"], f"Cast {n.name} target")}, n.output[0])]


@IMPORTERS.register("CastLike")
def _import_cast_like(imp: Importer, n: Any, attrs: dict) -> list:
    x, like = imp.value(n.input[0]), imp.value(n.input[1])  # the second input gives only its dtype
    return [imp.op("cast", [x], {"dtype": like.dtype}, n.output[0])]


@IMPORTERS.register("Pow")
def _import_pow(imp: Importer, n: Any, attrs: dict) -> list:
    x, y = inputs(imp, n)
    if x.dtype in INT_DTYPES:  # onnxruntime: pow in double, truncated to the base's type ([2,3,4]**[.5,1.5,2.7])
        z = imp.op("pow", [imp.op("cast", [x], {"dtype": "float64"}), imp.op("cast", [y], {"dtype": "float64"})])
        return [imp.op("cast", [z], {"dtype": x.dtype}, n.output[0])]
    if y.dtype != x.dtype:  # ONNX lets the exponent have its own type; the result has the base's
        y = imp.op("cast", [y], {"dtype": x.dtype})
    return [imp.op("pow", [x, y], {}, n.output[0])]


@IMPORTERS.register("Div")
def _import_div(imp: Importer, n: Any, attrs: dict) -> list:
    x, y = inputs(imp, n)
    if x.dtype in INT_DTYPES and y.dtype == x.dtype:  # integer division truncates toward zero, as C and onnxruntime
        wide = [imp.op("cast", [v], {"dtype": "float64"}) for v in (x, y)]
        return [imp.op("cast", [imp.op("div", wide)], {"dtype": x.dtype}, n.output[0])]
    return [imp.op("div", [x, y], {}, n.output[0])]


@IMPORTERS.register("Max", "Min", "Sum", "Mean")
def _import_variadic(imp: Importer, n: Any, attrs: dict) -> list:
    op = {"Max": "maximum", "Min": "minimum", "Sum": "add", "Mean": "add"}[n.op_type]
    xs = inputs(imp, n)
    mean = n.op_type == "Mean" and len(xs) > 1
    acc = xs[0]
    for i, x in enumerate(xs[1:]):
        acc = imp.op(op, [acc, x], {}, n.output[0] if i == len(xs) - 2 and not mean else None)
    if mean:
        return [imp.op("div", [acc, np.asarray(len(xs), dtype=acc.dtype)], {}, n.output[0])]
    return [acc if len(xs) > 1 else imp.op("identity", [acc], {}, n.output[0])]


@IMPORTERS.register("PRelu")
def _import_prelu(imp: Importer, n: Any, attrs: dict) -> list:
    x, slope = inputs(imp, n)
    # Before opset 7 a 1-D slope of C values applied along axis 1 (per channel), not along the last axis.
    if imp.opset < 7 and x.ndim > 2 and slope.ndim == 1 and slope.shape[0] == x.shape[1] != 1:
        slope = imp.op("reshape", [slope], {"shape": (slope.shape[0],) + (1,) * (x.ndim - 2)})
    return [imp.op("prelu", [x, slope], {}, n.output[0])]


@IMPORTERS.register("Clip")
def _import_clip(imp: Importer, n: Any, attrs: dict) -> list:
    x = imp.value(n.input[0])
    lo = attrs.get("min") if imp.opset < 11 else (imp.value(n.input[1]) if len(n.input) > 1 and n.input[1] else None)
    hi = attrs.get("max") if imp.opset < 11 else (imp.value(n.input[2]) if len(n.input) > 2 and n.input[2] else None)
    y = x
    if lo is not None:
        y = imp.op("maximum", [y, lo], {}, n.output[0] if hi is None else None)
    if hi is not None:
        y = imp.op("minimum", [y, hi], {}, n.output[0])
    return [y if y is not x else imp.op("identity", [x], {}, n.output[0])]
