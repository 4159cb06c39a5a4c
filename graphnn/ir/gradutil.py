"""Helpers gradient rules share: undo broadcasting, make zeros/ones of a value's (symbolic) shape.

Imports only sibling ir modules.
"""

from __future__ import annotations

from .builder import constant
from .graph import Value
from .types import Dim


def sum_to_shape(gv: Value, shape: tuple[Dim, ...]) -> Value:
    """Reduce a broadcast gradient back to `shape` (the input's shape before broadcasting)."""
    from .ops import reduction, shape_ops

    gshape = gv.shape
    lead = len(gshape) - len(shape)
    axes = list(range(lead))
    for i, d in enumerate(shape):
        if d == 1 and gshape[lead + i] != 1:
            axes.append(lead + i)
    if axes:
        gv = reduction.sum(gv, axis=tuple(axes), keepdims=True)
    if tuple(gv.shape) != tuple(shape):
        gv = shape_ops.reshape(gv, tuple(shape))
    return gv


def full_like(v: Value, fill: float) -> Value:
    """A value of v's type filled with `fill` (symbolic dims allowed)."""
    from .ops import shape_ops

    c = constant(fill, dtype=v.dtype, name="fill", graph=v.graph)
    return c if v.ndim == 0 else shape_ops.broadcast_to(c, v.shape)


def zeros_like(v: Value) -> Value:
    return full_like(v, 0.0)


def ones_like(v: Value) -> Value:
    return full_like(v, 1.0)
