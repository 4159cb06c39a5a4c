"""ONNX export of graphnn/ir/ops/nn_grads.py: gelu_grad as standard ops (Erf, Exp or Tanh with Mul, Add), which
load back as those ops (a training graph's backward exported for inspection or for onnxruntime).

Imports graphnn.ir and the onnx room's emitter (and the onnx package).
"""

from __future__ import annotations

from ...ir.graph import Node
from .emitter import Emitter, lowering_table
from .import_context import importer_table

LOWERINGS = lowering_table("nn_grads")
IMPORTERS = importer_table("nn_grads")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}


@LOWERINGS.register("gelu_grad", onnx_ops="Erf, Exp (exact) or Tanh (approximate) with Mul, Add, Sub")
def _gelu_grad(e: Emitter, n: Node, ins: list, outs: list) -> None:
    x = n.inputs[0]

    def c(v: float, hint: str) -> str:
        return e.scalar_like(v, x, hint)

    def mul(a: str, b: str) -> str:
        return e.emit("Mul", [a, b])[0]

    def add(a: str, b: str) -> str:
        return e.emit("Add", [a, b])[0]

    xs, x2 = ins[0], mul(ins[0], ins[0])
    if n.attrs["approximate"] == "none":  # Phi(x) + x phi(x)
        cdf = mul(add(e.emit("Erf", [mul(xs, c(0.7071067811865476, "inv_sqrt2"))])[0], c(1.0, "one")), c(0.5, "half"))
        pdf = mul(e.emit("Exp", [mul(x2, c(-0.5, "minus_half"))])[0], c(0.3989422804014327, "inv_sqrt_2pi"))
        slope = add(cdf, mul(xs, pdf))
    else:  # 0.5 (1 + t) + 0.5 x (1 - t²) k (1 + 3 c x²), t = tanh(k (x + c x³))
        k, cub = 0.7978845608028654, 0.044715
        t = e.emit("Tanh", [mul(add(xs, mul(mul(x2, xs), c(cub, "gelu_cubic"))), c(k, "sqrt_2_over_pi"))])[0]
        one_m = e.emit("Sub", [c(1.0, "one"), mul(t, t)])[0]
        du = mul(add(mul(x2, c(3 * cub, "three_cubic")), c(1.0, "one")), c(k, "sqrt_2_over_pi"))
        slope = add(mul(add(t, c(1.0, "one")), c(0.5, "half")), mul(mul(mul(xs, c(0.5, "half")), one_m), du))
    e.emit("Mul", [slope, ins[1]], outs)
