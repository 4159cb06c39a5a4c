"""Reductions over axes: sum, mean, max, min (with keepdims) and argmax; cumsum, the running sum.

Imports only sibling ir modules.
"""

from __future__ import annotations

import builtins
from typing import Any

from ..builder import apply1, atomic, checking
from ..errors import DTypeError, ShapeError
from ..gradutil import count, unreduce
from ..graph import Value
from ..op import InferCtx, Op
from ..types import Dim, TensorType

OPS: list[Op] = []


def norm_axes(axes: Any, rank: int) -> tuple[int, ...]:
    """None -> all axes; ints may be negative; result sorted, unique, in range."""
    if axes is None:
        return tuple(range(rank))
    if isinstance(axes, int):
        axes = (axes,)
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} out of range for rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {tuple(axes)}")
    return tuple(sorted(out))


def reduced_shape(shape: tuple[Dim, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[Dim, ...]:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    if t[0].dtype == "bool":
        raise DTypeError("cannot reduce a bool tensor; cast it first")
    return [t[0].with_shape(reduced_shape(t[0].shape, norm_axes(attrs["axes"], t[0].rank), attrs["keepdims"]))]


def _mean_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    return _reduce_rule(ctx, t, attrs)


def _sum_grad(node: Any, gouts: list) -> list:
    x = node.inputs[0]
    return [unreduce(gouts[0], x.shape, norm_axes(node.attrs["axes"], x.ndim))]


def _mean_grad(node: Any, gouts: list) -> list:
    x = node.inputs[0]
    axes = norm_axes(node.attrs["axes"], x.ndim)
    return [unreduce(gouts[0], x.shape, axes) / count(x, axes)]


def _extreme_grad(node: Any, gouts: list) -> list:
    # Ties: the gradient is split evenly among all elements equal to the extreme (the mean of the
    # one-sided derivatives, and what finite differences see for a symmetric tie).
    from .elementwise import cast, equal, where

    x = node.inputs[0]
    axes = norm_axes(node.attrs["axes"], x.ndim)
    hit = equal(x, unreduce(node.outputs[0], x.shape, axes))
    ties = sum(cast(hit, x.dtype), axis=axes, keepdims=True)
    return [where(hit, unreduce(gouts[0], x.shape, axes) / ties, 0)]


_R = {"axes": None, "keepdims": False}
OPS.append(Op("sum", _reduce_rule, 1, dict(_R), grad=_sum_grad, doc="sum over axes"))
OPS.append(Op("mean", _mean_rule, 1, dict(_R), grad=_mean_grad, doc="mean over axes"))
OPS.append(Op("max", _reduce_rule, 1, dict(_R), grad=_extreme_grad, gates=True,
              doc="max over axes; gradient split evenly among ties"))
OPS.append(Op("min", _reduce_rule, 1, dict(_R), grad=_extreme_grad, gates=True,
              doc="min over axes; gradient split evenly among ties"))


def _axes_attr(op: str, x: Any, axis: Any, keepdims: bool) -> Any:
    if not isinstance(x, Value) or axis is None:
        return axis
    with checking(op, [x], {"axes": axis, "keepdims": keepdims}):
        return norm_axes(axis, x.ndim)


@atomic
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Value:  # noqa: A001
    """Sum over `axis` (None = all)."""
    return apply1("sum", [x], {"axes": _axes_attr("sum", x, axis, keepdims), "keepdims": keepdims})


@atomic
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Value:
    """Mean over `axis` (None = all)."""
    return apply1("mean", [x], {"axes": _axes_attr("mean", x, axis, keepdims), "keepdims": keepdims})


@atomic
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Value:  # noqa: A001
    """Max over `axis` (None = all)."""
    return apply1("max", [x], {"axes": _axes_attr("max", x, axis, keepdims), "keepdims": keepdims})


@atomic
def min(x: Any, axis: Any = None, keepdims: bool = False) -> Value:  # noqa: A001
    """Min over `axis` (None = all)."""
    return apply1("min", [x], {"axes": _axes_attr("min", x, axis, keepdims), "keepdims": keepdims})


def _argmax_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ax = ctx.norm_axis(attrs["axis"], t[0].rank)
    return [TensorType("int64", reduced_shape(t[0].shape, (ax,), attrs["keepdims"]))]


OPS.append(Op("argmax", _argmax_rule, 1, {"axis": -1, "keepdims": False}, nondiff="integer output",
              doc="index of the max along axis (first on ties)"))


@atomic
def argmax(x: Any, axis: int = -1, keepdims: bool = False) -> Value:
    """Index of the maximum along `axis` (int64)."""
    if isinstance(x, Value):
        with checking("argmax", [x], {"axis": axis, "keepdims": keepdims}):
            axis = norm_axes(axis, x.ndim)[0]
    return apply1("argmax", [x], {"axis": axis, "keepdims": keepdims})


# ---- cumsum: running sums along one axis (inclusive or exclusive, forward or reversed) -----------------
def _cumsum_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    if t[0].dtype == "bool":
        raise DTypeError("cumsum of bool: cast to an integer or float dtype first")
    if t[0].rank == 0:
        raise ShapeError("cumsum needs an input of rank >= 1")
    ctx.norm_axis(attrs["axis"], t[0].rank)
    return [t[0]]


def _cumsum_grad(node: Any, gouts: list) -> list:
    # y_j = sum of x_i over i <= j (i < j if exclusive), so dx_i = sum of g_j over j >= i (j > i): the same
    # running sum taken the other way.
    a = node.attrs
    return [cumsum(gouts[0], a["axis"], exclusive=a["exclusive"], reverse=not a["reverse"])]


OPS.append(Op("cumsum", _cumsum_rule, 1, {"axis": 0, "exclusive": False, "reverse": False}, grad=_cumsum_grad,
              doc="running sum along axis (ONNX CumSum: exclusive leaves out the element itself, reverse runs from the "
                  "end)"))


@atomic
def cumsum(x: Any, axis: int, exclusive: bool = False, reverse: bool = False) -> Value:
    """Running sum along `axis` (np.cumsum; `exclusive` and `reverse` as ONNX CumSum)."""
    with checking("cumsum", [x], {"axis": axis}):
        if isinstance(x, Value) and not -x.ndim <= axis < builtins.max(x.ndim, 1):
            raise ShapeError(f"axis {axis} out of range for {x.name}: {x.type}")
    if isinstance(x, Value) and x.ndim:
        axis %= x.ndim
    return apply1("cumsum", [x], {"axis": int(axis), "exclusive": bool(exclusive), "reverse": bool(reverse)})
