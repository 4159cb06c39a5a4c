"""Helpers gradient rules share: undo broadcasting, make zeros/ones of a value's (symbolic) shape.

Imports only sibling ir modules (not ir/ops, which imports this file: ops are applied by name through the builder).
"""

from __future__ import annotations

from .builder import apply1, constant
from .graph import Value
from .types import Dim


def sum_to_shape(gv: Value, shape: tuple[Dim, ...]) -> Value:
    """Reduce a broadcast gradient back to `shape` (the input's shape before broadcasting)."""
    gshape = gv.shape
    lead = len(gshape) - len(shape)
    axes = list(range(lead))
    for i, d in enumerate(shape):
        if d == 1 and gshape[lead + i] != 1:
            axes.append(lead + i)
    if axes:
        gv = apply1("sum", [gv], {"axes": tuple(sorted(axes)), "keepdims": True})
    if tuple(gv.shape) != tuple(shape):
        gv = apply1("reshape", [gv], {"shape": tuple(shape)})
    return gv


def full_like(v: Value, fill: float) -> Value:
    """A value of v's type filled with `fill` (symbolic dims allowed)."""
    c = constant(fill, dtype=v.dtype, name="fill", graph=v.graph)
    return c if v.ndim == 0 else apply1("broadcast_to", [c], {"shape": tuple(v.shape)})


def zeros_like(v: Value) -> Value:
    return full_like(v, 0.0)


def ones_like(v: Value) -> Value:
    return full_like(v, 1.0)


def count(v: Value, axes: tuple[int, ...]) -> Value:
    """How many elements of `v` lie along `axes`, broadcastable against v: a constant when those dims are
    static, else a keepdims sum of ones (a symbolic dim is known only at call time)."""
    n = 1
    for a in axes:
        d = v.shape[a]
        if not isinstance(d, int):
            return apply1("sum", [ones_like(v)], {"axes": tuple(sorted(a % v.ndim for a in axes)), "keepdims": True})
        n *= d
    return constant(float(n), dtype=v.dtype, name="count", graph=v.graph)


def unreduce(gv: Value, shape: tuple[Dim, ...], axes: tuple[int, ...]) -> Value:
    """Broadcast the gradient of a reduction over `axes` (keepdims or not) back to `shape`."""
    keep = tuple(1 if i in axes else d for i, d in enumerate(shape))
    if tuple(gv.shape) != keep:
        gv = apply1("reshape", [gv], {"shape": keep})
    return apply1("broadcast_to", [gv], {"shape": tuple(shape)}) if keep != tuple(shape) else gv
