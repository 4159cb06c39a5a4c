"""NumPy kernels of graphnn/ir/ops/activation.py: hardsigmoid, hardswish, hardtanh, elu/selu, mish, softsign;
floor, ceil, round, reciprocal, sin, cos, mod and fmod are ufuncs, their kernels built from the trait.

Branch-free where it can be (NumPy's masked selects are slow on random masks): clip for the hard activations,
expm1(min(x, 0)) + max(x, 0) for elu. Written against `xp` so CuPy reuses them. Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..table import Table
from .elementwise import register_ufuncs, stable_softplus
from .support import Factory, Kernel

KERNELS: Table[Factory] = Table("numpy kernel (activation)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (activation)")
register_ufuncs("activation", KERNELS, OUT_KERNELS)  # floor, ceil, round, reciprocal, sin, cos, mod, fmod


def _scalar(xp: Any, node: Node, v: float) -> Any:
    return xp.asarray(v, dtype=node.outputs[0].dtype)


@KERNELS.register("hardsigmoid")
def _hardsigmoid(xp: Any, node: Node, env: dict) -> Kernel:
    a, b = _scalar(xp, node, node.attrs["alpha"]), _scalar(xp, node, node.attrs["beta"])
    zero, one = _scalar(xp, node, 0.0), _scalar(xp, node, 1.0)

    def f(x: Any) -> Any:
        y = x * a
        y += b
        return xp.clip(y, zero, one, out=y)

    return f


@KERNELS.register("hardswish")
def _hardswish(xp: Any, node: Node, env: dict) -> Kernel:
    sixth, half = _scalar(xp, node, 1 / 6), _scalar(xp, node, 0.5)
    zero, one = _scalar(xp, node, 0.0), _scalar(xp, node, 1.0)

    def f(x: Any) -> Any:
        y = x * sixth
        y += half
        xp.clip(y, zero, one, out=y)
        y *= x
        return y

    return f


@KERNELS.register("elu")
def _elu(xp: Any, node: Node, env: dict) -> Kernel:
    a, s = node.attrs["alpha"], node.attrs["scale"]
    sa, s_, zero = _scalar(xp, node, a * s), _scalar(xp, node, s), _scalar(xp, node, 0.0)

    def f(x: Any) -> Any:
        # scale * (max(x, 0) + alpha * expm1(min(x, 0))): each branch is exact where the other is 0; NaN stays
        neg = xp.minimum(x, zero)
        xp.expm1(neg, out=neg)
        neg *= sa
        pos = xp.maximum(x, zero)
        if s != 1.0:
            pos *= s_
        pos += neg
        return pos

    return f


@KERNELS.register("mish")
def _mish(xp: Any, node: Node, env: dict) -> Kernel:
    def f(x: Any) -> Any:
        y = stable_softplus(xp, x)
        xp.tanh(y, out=y)
        y *= x
        return y

    return f


@KERNELS.register("softsign")
def _softsign(xp: Any, node: Node, env: dict) -> Kernel:
    one = _scalar(xp, node, 1.0)

    def f(x: Any) -> Any:
        d = xp.abs(x)
        d += one
        return xp.divide(x, d, out=d)

    return f


@KERNELS.register("hardtanh")
def _hardtanh(xp: Any, node: Node, env: dict) -> Kernel:
    lo, hi = _scalar(xp, node, node.attrs["min_val"]), _scalar(xp, node, node.attrs["max_val"])
    return lambda x: xp.clip(x, lo, hi)
