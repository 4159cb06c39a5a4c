"""Closed-form backward ops of the nn activations: gelu_grad(x, g) = g * gelu'(x), one elementwise op instead of
the erf, exp and nine-op product chain that differentiating gelu's formula through graph ops gives.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, atomic, checking
from ..errors import GraphError
from ..graph import Value
from ..op import InferCtx, Op
from ..types import TensorType
from .elementwise import exp, tanh

OPS: list[Op] = []
INV_SQRT_2PI = 0.3989422804014327
SQRT_2_OVER_PI = 0.7978845608028654
GELU_CUBIC = 0.044715


def _gelu_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    dt = ctx.same_dtype(t)
    return [TensorType(dt, ctx.broadcast(t[0].shape, t[1].shape))]


def _second_derivative(x: Value, approximate: str) -> Value:
    """gelu''(x): exact phi(x) (2 - x^2); tanh form (1 - t^2) (u' - x t u'^2 + 3 k c x^2), u' = k (1 + 3 c x^2)."""
    if approximate == "none":
        return exp(x * x * -0.5) * INV_SQRT_2PI * (2.0 - x * x)
    t = tanh((x + x * x * x * GELU_CUBIC) * SQRT_2_OVER_PI)
    du = (x * x * (3 * GELU_CUBIC) + 1.0) * SQRT_2_OVER_PI
    return (1.0 - t * t) * (du - x * t * du * du + x * x * (3 * SQRT_2_OVER_PI * GELU_CUBIC))


def _gelu_grad_grad(node: Any, gouts: list) -> list:
    # d/dx [g gelu'(x)] = g gelu''(x); d/dg = gelu'(x), which is this op again with the incoming gradient.
    from ..gradutil import sum_to_shape
    x, g = node.inputs
    mode, go = node.attrs["approximate"], gouts[0]
    return [sum_to_shape(go * g * _second_derivative(x, mode), x.shape),
            sum_to_shape(gelu_grad(x, go, mode), g.shape)]


OPS.append(Op("gelu_grad", _gelu_grad_rule, 2, {"approximate": "none"}, grad=_gelu_grad_grad, elementwise=True,
              flops=12, doc="g * d/dx gelu(x): Phi(x) + x phi(x) (approximate='tanh': the tanh form's derivative)"))


@atomic
def gelu_grad(x: Any, g: Any, approximate: str = "none") -> Value:
    """g * gelu'(x) in one op: gelu's backward (the fused kernel reuses the forward's erfc fit)."""
    with checking("gelu_grad", [x, g], {"approximate": approximate}):
        if approximate not in ("none", "tanh"):
            raise GraphError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply1("gelu_grad", [x, g], {"approximate": approximate})
