"""Linear algebra: matmul with NumPy's batch and 1-D rules.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1
from ..errors import ShapeError
from ..graph import Value
from ..op import InferCtx, Op
from ..types import TensorType, format_shape

OPS: list[Op] = []


def _matmul_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    dt = ctx.same_dtype(t)
    a, b = t[0].shape, t[1].shape
    if not a or not b:
        raise ShapeError("matmul needs operands of rank >= 1 (use mul for scalars)")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    ctx.dim_eq(a2[-1], b2[-2], f"matmul inner dims of {format_shape(a)} @ {format_shape(b)}")
    batch = ctx.broadcast(a2[:-2], b2[:-2])
    out = batch + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
    return [TensorType(dt, out)]


OPS.append(Op("matmul", _matmul_rule, 2, doc="matrix product; leading dims broadcast as batch dims"))


def matmul(a: Any, b: Any) -> Value:
    """a @ b (NumPy semantics, including batch dims and 1-D operands)."""
    return apply1("matmul", [a, b])
