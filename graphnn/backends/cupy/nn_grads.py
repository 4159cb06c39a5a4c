"""CuPy override for graphnn/ir/ops/nn_grads.py: gelu_grad as one kernel (CUDA C erfc; NumPy's path needs
scipy's erfc for dtypes other than float32).
Imports graphnn.ir and the CUDA source helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..table import Table
from .cuda_source import CTYPE, KernelSource, compiled

KERNELS: Table[Any] = Table("cupy kernel (nn_grads)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (nn_grads)")


@KERNELS.register("gelu_grad")
def _gelu_grad(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    dt = node.outputs[0].dtype
    t = CTYPE[dt]
    if node.attrs["approximate"] == "none":  # Phi(x) + x phi(x), erfc keeping the left tail of Phi
        body = (f"y = g * (({t})0.5 * erfc(x * ({t})-0.7071067811865476) "
                f"+ x * exp(({t})-0.5 * x * x) * ({t})0.3989422804014327);")
    else:  # with s = sigmoid(2u): s + 2 x s (1 - s) k (1 + 3 c x²)
        u = f"(({t})0.7978845608028654 * (x + ({t})0.044715 * x * x * x))"
        body = (f"const {t} u2 = ({t})2 * {u}; const {t} e = exp(-fabs(u2)); "
                f"const {t} s = (u2 >= ({t})0) ? (({t})1 / (({t})1 + e)) : (e / (({t})1 + e)); "
                f"y = g * (s + x * ({t})1.5957691216057308 * s * (({t})1 - s) * (({t})1 + ({t})0.134145 * x * x));")
    return compiled(xp, KernelSource(f"{dt} x, {dt} g", f"{dt} y", body, f"graphnn_gelu_grad_{node.attrs['approximate']}"))
