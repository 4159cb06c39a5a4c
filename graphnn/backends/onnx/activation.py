"""ONNX export and import of the activation family: HardSigmoid, Clip (hardtanh; Clip imports in elementwise.py
as maximum/minimum), HardSwish (opset 14; HardSigmoid and Mul below),
Elu/Selu, Mish (opset 18; Softplus, Tanh, Mul below), Softsign, Floor, Ceil, Round, Reciprocal, Sin, Cos and Mod
(fmod=1 is fmod; fmod=0 is mod, exported for floats as a - floor(a/b)*b since ONNX's float Mod needs fmod=1).
Imports graphnn.ir and the onnx room's emitter and import context.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ...ir.ops.activation import SELU_ALPHA, SELU_SCALE
from .emitter import Emitter, lowering_table, register_direct
from .import_context import Importer, importer_table, inputs

LOWERINGS = lowering_table("activation")
IMPORTERS = importer_table("activation")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}

_SAME = {"floor": "Floor", "ceil": "Ceil", "round": "Round", "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos",
         "softsign": "Softsign"}


register_direct(LOWERINGS, _SAME)


@LOWERINGS.register("hardsigmoid", onnx_ops="HardSigmoid")
def _hardsigmoid(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("HardSigmoid", ins, outs, alpha=n.attrs["alpha"], beta=n.attrs["beta"])


@LOWERINGS.register("hardswish", onnx_ops="HardSwish (opset >= 14); below: HardSigmoid, Mul")
def _hardswish(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if e.opset >= 14:
        e.emit("HardSwish", ins, outs)
    else:
        e.emit("Mul", [ins[0], e.emit("HardSigmoid", ins, alpha=1 / 6, beta=0.5)[0]], outs)


@LOWERINGS.register("hardtanh", onnx_ops="Clip (min and max as inputs)")
def _hardtanh(e: Emitter, n: Node, ins: list, outs: list) -> None:
    v = n.inputs[0]
    lo, hi = e.scalar_like(n.attrs["min_val"], v, "clip_min"), e.scalar_like(n.attrs["max_val"], v, "clip_max")
    e.emit("Clip", [ins[0], lo, hi], outs)


@LOWERINGS.register("elu", onnx_ops="Elu, or Selu (scale != 1)")
def _elu(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if n.attrs["scale"] == 1.0:
        e.emit("Elu", ins, outs, alpha=n.attrs["alpha"])
    else:
        e.emit("Selu", ins, outs, alpha=n.attrs["alpha"], gamma=n.attrs["scale"])


@LOWERINGS.register("mish", onnx_ops="Mish (opset >= 18); below: Softplus, Tanh, Mul")
def _mish(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if e.opset >= 18:
        e.emit("Mish", ins, outs)
    else:
        e.emit("Mul", [ins[0], e.emit("Tanh", e.emit("Softplus", ins))[0]], outs)


@LOWERINGS.register("fmod", onnx_ops="Mod (fmod=1)")
def _fmod(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("Mod", ins, outs, fmod=1)


@LOWERINGS.register("mod", onnx_ops="Mod (fmod=0) for integers; Div, Floor, Mul, Sub for floats")
def _mod(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if not n.outputs[0].type.is_float:
        e.emit("Mod", ins, outs, fmod=0)
        return
    q = e.emit("Floor", e.emit("Div", ins))[0]
    e.emit("Sub", [ins[0], e.emit("Mul", [q, ins[1]])[0]], outs)


# ---- import ------------------------------------------------------------------------------------------------
# Same name and no attributes on import; HardSwish and Mish export by opset (above), so they are not in _SAME.
_IMPORT_SAME = {**{v: k for k, v in _SAME.items()}, "HardSwish": "hardswish", "Mish": "mish"}


@IMPORTERS.register(*_IMPORT_SAME)
def _import_same(imp: Importer, n: Any, attrs: dict) -> list:
    return [imp.op(_IMPORT_SAME[n.op_type], inputs(imp, n), {}, n.output[0])]


@IMPORTERS.register("HardSigmoid")
def _import_hardsigmoid(imp: Importer, n: Any, attrs: dict) -> list:
    a = {"alpha": float(attrs.get("alpha", 0.2)), "beta": float(attrs.get("beta", 0.5))}
    return [imp.op("hardsigmoid", inputs(imp, n), a, n.output[0])]


@IMPORTERS.register("Elu")
def _import_elu(imp: Importer, n: Any, attrs: dict) -> list:
    return [imp.op("elu", inputs(imp, n), {"alpha": float(attrs.get("alpha", 1.0)), "scale": 1.0}, n.output[0])]


@IMPORTERS.register("Selu")
def _import_selu(imp: Importer, n: Any, attrs: dict) -> list:
    a = {"alpha": float(attrs.get("alpha", SELU_ALPHA)), "scale": float(attrs.get("gamma", SELU_SCALE))}
    return [imp.op("elu", inputs(imp, n), a, n.output[0])]


@IMPORTERS.register("Mod")
def _import_mod(imp: Importer, n: Any, attrs: dict) -> list:
    return [imp.op("fmod" if attrs.get("fmod", 0) else "mod", inputs(imp, n), {}, n.output[0])]
