"""Indexing ops: gather (ONNX Gather / np.take along one axis) and scatter_add, its adjoint (zeros with rows
added in at the indices; repeated indices accumulate).

Imports only sibling ir modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..builder import apply1, atomic, checking
from ..errors import DTypeError, ShapeError
from ..graph import Value
from ..op import REQUIRED, InferCtx, Op
from ..types import Dim, TensorType, format_shape

OPS: list[Op] = []
INDEX_DTYPES = ("int32", "int64")


def _need_indices(t: TensorType) -> None:
    if t.dtype not in INDEX_DTYPES:
        raise DTypeError(f"indices must be int32 or int64, got {t.dtype}")


# ---- gather ------------------------------------------------------------------------------------
def _gather_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x, idx = t
    _need_indices(idx)
    if x.rank == 0:
        raise ShapeError("gather needs an input of rank >= 1")
    ax = ctx.norm_axis(attrs["axis"], x.rank)
    return [TensorType(x.dtype, x.shape[:ax] + idx.shape + x.shape[ax + 1:])]


def _gather_grad(node: Any, gouts: list) -> list:
    # d/dx of x.take(i, axis) sends each output row back to the row it was read from: a scatter-add.
    x, idx = node.inputs
    return [scatter_add(gouts[0], idx, x.shape, node.attrs["axis"]), None]


OPS.append(Op("gather", _gather_rule, 2, {"axis": 0}, grad=_gather_grad, gates=True, flops=0,
              doc="x.take(indices, axis) (ONNX Gather); negative indices count from the end; gradient scatter-adds"))


@atomic
def gather(x: Any, indices: Any, axis: int = 0) -> Value:
    """Pick slices of `x` along `axis` at integer `indices` (np.take / ONNX Gather semantics)."""
    if not isinstance(indices, Value):
        indices = np.asarray(indices)  # a Python int or list is an index constant, never x's dtype
        if indices.dtype.kind in "iu":
            indices = indices.astype(np.int64)
    with checking("gather", [x, indices], {"axis": axis}):
        if isinstance(x, Value) and not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
            raise ShapeError(f"axis {axis} out of range for {x.name}: {x.type}")
        d = x.shape[axis] if isinstance(x, Value) and x.ndim else None
        if isinstance(indices, np.ndarray) and indices.size and isinstance(d, int) and indices.dtype.kind == "i" \
                and not (-d <= indices.min() and indices.max() < d):
            raise ShapeError(f"constant indices {indices.min()}..{indices.max()} out of range for axis {axis} of "
                             f"size {d}")
    if isinstance(x, Value) and x.ndim:
        axis %= x.ndim
    return apply1("gather", [x, indices], {"axis": int(axis)})


# ---- scatter_add: gather's adjoint -------------------------------------------------------------
def _scatter_add_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    upd, idx = t
    _need_indices(idx)
    shape = tuple(attrs["shape"])
    ax = ctx.norm_axis(attrs["axis"], len(shape))
    want = shape[:ax] + idx.shape + shape[ax + 1:]
    if len(want) != upd.rank:
        raise ShapeError(f"updates {format_shape(upd.shape)} do not match {format_shape(want)} (shape "
                         f"{format_shape(shape)} with indices {format_shape(idx.shape)} at axis {ax})")
    for i, (a, b) in enumerate(zip(want, upd.shape)):
        ctx.dim_eq(a, b, f"scatter_add: dim {i} of the updates")
    return [TensorType(upd.dtype, shape)]


def _scatter_add_grad(node: Any, gouts: list) -> list:
    return [gather(gouts[0], node.inputs[1], node.attrs["axis"]), None]


OPS.append(Op("scatter_add", _scatter_add_rule, 2, {"shape": REQUIRED, "axis": 0}, grad=_scatter_add_grad,
              doc="zeros of `shape` with updates added at `indices` along axis (gather's gradient)"))


def scatter_add(updates: Any, indices: Any, shape: Sequence[Dim], axis: int = 0) -> Value:
    """Zeros of `shape` plus `updates` added at `indices` along `axis` (repeated indices accumulate)."""
    return apply1("scatter_add", [updates, indices], {"shape": tuple(shape), "axis": int(axis)})
