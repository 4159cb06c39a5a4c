"""Shape ops: reshape (with -1 and symbolic dims), transpose, concat, slicing, broadcast_to, tile; the builders
squeeze, unsqueeze, stack and split.

Imports only sibling ir modules.
"""

from __future__ import annotations

import builtins
from collections import Counter
from typing import Any, Sequence

import numpy as np

from ..builder import apply1, atomic, checking
from ..errors import GraphError, ShapeError
from ..gradutil import sum_to_shape
from ..graph import Value
from ..op import REQUIRED, InferCtx, Op
from ..types import Dim, TensorType, dim_div, dim_factors, dim_mul, format_shape, parse_dim
from .indexing import INDEX_DTYPES, gather

OPS: list[Op] = []


# ---- reshape ---------------------------------------------------------------------------
def _factor(shape: Sequence[Dim]) -> tuple[int, Counter]:
    c, syms = 1, Counter()
    for d in shape:
        k, s = dim_factors(d)
        c *= k
        syms.update(s)
    return c, syms


def _reshape_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    src = tuple(ctx.graph.canon_dim(d) for d in t[0].shape)
    target = [ctx.graph.canon_dim(parse_dim(d)) if isinstance(d, str) else d for d in attrs["shape"]]
    if builtins.sum(1 for d in target if d == -1) > 1:
        raise ShapeError(f"at most one -1 in target shape {tuple(target)}")
    for d in target:
        if isinstance(d, int) and d < -1:
            raise ShapeError(f"bad target dim {d} in {tuple(target)}")
    known = [d for d in target if d != -1]
    if -1 in target:
        # The -1 is the exact quotient of the sizes, symbolic ones included: (B, T, V) -> (-1, V) gives B*T.
        fill = dim_div(dim_mul(*src), dim_mul(*known)) if 0 not in known else None
        if fill is None:
            raise ShapeError(f"cannot reshape {format_shape(src)} to {tuple(target)}: the size "
                             f"{dim_mul(*src)} is not a multiple of {dim_mul(*known)}")
        target = [fill if d == -1 else d for d in target]
    elif _factor(src) != _factor(known):
        raise ShapeError(f"cannot reshape {format_shape(src)} to {format_shape(tuple(target))}: sizes differ "
                         f"({dim_mul(*src)} vs {dim_mul(*known)})")
    return [t[0].with_shape(tuple(target))]


def _reshape_grad(node: Any, gouts: list) -> list:
    return [reshape(gouts[0], node.inputs[0].shape)]


OPS.append(Op("reshape", _reshape_rule, 1, {"shape": REQUIRED}, grad=_reshape_grad, view=True, flops=0,
              doc="same data, new shape (-1 inferred)", keeps_layout=True))


@atomic
def reshape(x: Any, shape: Sequence[Dim]) -> Value:
    """Reshape; one -1 is inferred, symbolic dims may appear by name."""
    return apply1("reshape", [x], {"shape": tuple(shape)})


# ---- transpose ---------------------------------------------------------------------------
def _transpose_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    perm = attrs["perm"]
    if sorted(perm) != list(range(t[0].rank)):
        raise ShapeError(f"perm {perm} is not a permutation of the {t[0].rank} axes")
    return [t[0].with_shape(tuple(t[0].shape[p] for p in perm))]


def _transpose_grad(node: Any, gouts: list) -> list:
    perm = node.attrs["perm"]
    inverse = tuple(sorted(range(len(perm)), key=lambda i: perm[i]))
    return [transpose(gouts[0], inverse)]


OPS.append(Op("transpose", _transpose_rule, 1, {"perm": REQUIRED}, grad=_transpose_grad, view=True, flops=0,
              doc="permute axes"))


@atomic
def transpose(x: Value, perm: Sequence[int] | None = None) -> Value:
    """Permute axes (default: reverse them)."""
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    with checking("transpose", [x], {"perm": perm}):
        perm = tuple(perm)
        bad = [p for p in perm if not -builtins.max(x.ndim, 1) <= p < builtins.max(x.ndim, 1)]
        if bad:
            raise ShapeError(f"perm {perm}: axis {bad[0]} out of range for rank {x.ndim}")
    return apply1("transpose", [x], {"perm": tuple(p % builtins.max(x.ndim, 1) for p in perm)})


# ---- concat ------------------------------------------------------------------------------
def _concat_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    dt = ctx.same_dtype(t)
    rank = t[0].rank
    if any(x.rank != rank for x in t):
        raise ShapeError("concat inputs must have the same rank")
    ax = attrs["axis"]
    if not 0 <= ax < rank:
        raise ShapeError(f"axis {ax} out of range for rank {rank}")
    shape = list(t[0].shape)
    for x in t[1:]:
        for i in range(rank):
            if i != ax:
                shape[i] = ctx.dim_eq(shape[i], x.shape[i], f"concat dims at axis {i}")
    along = [x.shape[ax] for x in t]
    if all(isinstance(d, int) for d in along):
        shape[ax] = builtins.sum(along)  # type: ignore[arg-type]
    else:
        raise ShapeError(f"concat along a symbolic axis {along} is not supported")
    return [TensorType(dt, tuple(shape))]


def _concat_grad(node: Any, gouts: list) -> list:
    ax, start, out = node.attrs["axis"], 0, []
    for x in node.inputs:
        stop = start + x.shape[ax]
        out.append(getitem(gouts[0], (builtins.slice(None),) * ax + (builtins.slice(start, stop),)))
        start = stop
    return out


OPS.append(Op("concat", _concat_rule, (1, None), {"axis": REQUIRED}, grad=_concat_grad, flops=0,
              doc="join along an axis"))


@atomic
def concat(xs: Sequence[Value], axis: int = 0) -> Value:
    """Concatenate along `axis`."""
    xs = list(xs)
    with checking("concat", xs, {"axis": axis}):
        if not xs:
            raise ShapeError("concat needs at least one input")
        rank = next((x.ndim for x in xs if isinstance(x, Value)), None)
        if rank is None:
            raise GraphError("concat needs at least one graph value among its inputs")
        if not -rank <= axis < builtins.max(rank, 1):
            raise ShapeError(f"axis {axis} out of range for rank {rank}")
    return apply1("concat", xs, {"axis": axis % builtins.max(rank, 1)})


# ---- slicing via [...] ----------------------------------------------------------------------
def _slice_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    shape, out, axis = t[0].shape, [], 0
    for item in attrs["index"]:
        kind = item[0]
        if kind == "new":
            out.append(1)
            continue
        if axis >= len(shape):
            raise ShapeError(f"too many indices for rank {len(shape)}")
        d = shape[axis]
        if kind == "int":
            k = item[1]
            if isinstance(d, int) and not -d <= k < d:
                raise ShapeError(f"index {k} out of range for axis {axis} of size {d}")
        else:
            start, stop, step = item[1], item[2], item[3]
            if isinstance(d, int):
                out.append(len(range(*slice(start, stop, step).indices(d))))
            elif (start, stop, step) == (None, None, 1):
                out.append(d)
            elif step == 1 and stop is not None and stop >= 0 and (start or 0) >= 0:
                out.append(builtins.max(stop - (start or 0), 0))
            else:
                raise ShapeError(f"slice {start}:{stop}:{step} of symbolic dim {d!r} has no static size")
        axis += 1
    out.extend(shape[axis:])
    return [t[0].with_shape(tuple(out))]


def _slice_grad(node: Any, gouts: list) -> list:
    return [unslice(gouts[0], node.attrs["index"], node.inputs[0].shape)]


OPS.append(Op("slice", _slice_rule, 1, {"index": REQUIRED}, grad=_slice_grad, view=True, flops=0,
              doc="basic indexing: ints, slices, None"))


def normalize_index(index: Any, rank: int) -> tuple:
    if not isinstance(index, tuple):
        index = (index,)
    n_real = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    items: list[tuple] = []
    for i in index:
        if i is Ellipsis:
            items.extend(("slice", None, None, 1) for _ in range(rank - n_real))
        elif i is None:
            items.append(("new",))
        elif isinstance(i, builtins.slice):
            step = 1 if i.step is None else int(i.step)
            if step == 0:
                raise ShapeError("slice step cannot be zero")
            items.append(("slice", i.start if i.start is None else int(i.start),
                          i.stop if i.stop is None else int(i.stop), step))
        elif isinstance(i, (list, np.ndarray, Value)) and not (isinstance(i, np.ndarray) and i.ndim == 0 and
                                                                i.dtype.kind in "iu"):
            raise ShapeError(
                f"fancy indexing with {type(i).__name__} {i!r:.60} is not supported: graphnn slices with ints, "
                "slices, None and ... (for a boolean mask use gn.where(mask, x, 0); to pick rows along an axis use "
                "gn.gather(x, ids, axis), or x[ids] with one int32/int64 graph value for axis 0)"
            )
        elif isinstance(i, int) or hasattr(i, "__index__"):
            items.append(("int", int(i)))
        else:
            raise ShapeError(f"unsupported index {i!r}: graphnn supports ints, slices, None and ...")
    return tuple(items)


def getitem(x: Value, index: Any) -> Value:
    """x[index] with basic indexing; `x[ids]` with one integer graph value picks rows (a gather on axis 0)."""
    if isinstance(index, Value) and index.dtype in INDEX_DTYPES:
        return gather(x, index, axis=0)
    with checking("slice", [x], {"index": index}):
        index = normalize_index(index, x.ndim)
    return apply1("slice", [x], {"index": index})


# ---- unslice: the adjoint of slice (zeros of `shape` with the slice set to the input) ------------------
def _unslice_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    full = t[0].with_shape(tuple(attrs["shape"]))
    want = _slice_rule(ctx, [full], {"index": attrs["index"]})[0]
    if len(want.shape) != t[0].rank:
        raise ShapeError(f"unslice: slicing {format_shape(full.shape)} gives rank {len(want.shape)}, input has {t[0].rank}")
    for i, (a, b) in enumerate(zip(want.shape, t[0].shape)):
        ctx.dim_eq(a, b, f"unslice: dim {i} of the slice vs the input")
    return [full]


def _unslice_grad(node: Any, gouts: list) -> list:
    return [apply1("slice", [gouts[0]], {"index": node.attrs["index"]})]


OPS.append(Op("unslice", _unslice_rule, 1, {"index": REQUIRED, "shape": REQUIRED}, grad=_unslice_grad,
              doc="zeros of `shape` with x written at `index` (the gradient of slice)"))


def unslice(x: Any, index: tuple, shape: Sequence[Dim]) -> Value:
    """Zeros of `shape` with `x` placed at the normalized basic `index` (slice's adjoint)."""
    return apply1("unslice", [x], {"index": tuple(index), "shape": tuple(shape)})


# ---- broadcast_to -----------------------------------------------------------------------------
def _broadcast_to_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    shape = tuple(attrs["shape"])
    if ctx.broadcast(t[0].shape, shape) != tuple(ctx.graph.canon_dim(d) for d in shape):
        raise ShapeError(f"cannot broadcast {format_shape(t[0].shape)} to {format_shape(shape)}")
    return [t[0].with_shape(shape)]


def _broadcast_to_grad(node: Any, gouts: list) -> list:
    return [sum_to_shape(gouts[0], node.inputs[0].shape)]


OPS.append(Op("broadcast_to", _broadcast_to_rule, 1, {"shape": REQUIRED}, grad=_broadcast_to_grad, view=True,
              flops=0, doc="broadcast to a shape"))


@atomic
def broadcast_to(x: Any, shape: Sequence[Dim]) -> Value:
    """Broadcast to `shape` (symbolic dims allowed)."""
    return apply1("broadcast_to", [x], {"shape": tuple(shape)})


# ---- squeeze, unsqueeze, stack, split: builder functions over slice and concat ------------------------------
# Each is a composition of the ops above (views where those are), so every backend, the gradients and the ONNX
# export (Squeeze/Unsqueeze/Slice/Concat) come from those ops' rows. tile, at the end, is an op of its own.
def _axes(axis: int | Sequence[int], rank: int, what: str) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    bad = [a for a in axes if not -rank <= a < builtins.max(rank, 1)]
    if bad:
        raise ShapeError(f"{what} {bad[0]} out of range for rank {rank}")
    out = tuple(int(a) % rank for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what} {tuple(axes)} repeat an axis")
    return out


@atomic
def squeeze(x: Value, axis: int | Sequence[int] | None = None) -> Value:
    """Drop size-1 axes (all static ones when `axis` is None); a named axis of another size is an error."""
    with checking("squeeze", [x], {"axis": axis}):
        if axis is None:
            drop = {i for i, d in enumerate(x.shape) if d == 1}
        else:
            drop = set(_axes(axis, x.ndim, "axis"))
            wide = [(i, x.shape[i]) for i in sorted(drop) if x.shape[i] != 1]
            if wide:
                raise ShapeError(f"cannot squeeze axis {wide[0][0]} of size {wide[0][1]!r} in {x.type}: only size-1 "
                                 "axes can be squeezed")
    return getitem(x, tuple(0 if i in drop else builtins.slice(None) for i in range(x.ndim)))


@atomic
def unsqueeze(x: Value, axis: int | Sequence[int]) -> Value:
    """Insert size-1 axes at `axis` (positions in the result, as ONNX Unsqueeze and torch.unsqueeze)."""
    with checking("unsqueeze", [x], {"axis": axis}):
        rank = x.ndim + (1 if isinstance(axis, int) else len(tuple(axis)))
        new = set(_axes(axis, rank, "axis"))
    return getitem(x, tuple(None if i in new else builtins.slice(None) for i in range(rank)))


@atomic
def stack(values: Sequence[Value], axis: int = 0) -> Value:
    """Join same-shaped values along a new axis (np.stack): concat of their unsqueezed forms."""
    values = list(values)
    with checking("stack", values, {"axis": axis}):
        if not values or not all(isinstance(v, Value) for v in values):
            raise GraphError("stack needs a non-empty list of graph values")
        shapes = {tuple(v.shape) for v in values}
        if len(shapes) > 1:
            raise ShapeError(f"stack needs equal shapes, got {' vs '.join(format_shape(s) for s in shapes)}")
        axis = _axes(axis, values[0].ndim + 1, "axis")[0]
    return concat([unsqueeze(v, axis) for v in values], axis=axis)


@atomic
def split(x: Value, sizes_or_num: int | Sequence[int], axis: int = 0) -> list[Value]:
    """Split along `axis` into `num` equal parts or parts of the given sizes (a list of slices, views)."""
    with checking("split", [x], {"sizes_or_num": sizes_or_num, "axis": axis}):
        ax = _axes(axis, x.ndim, "axis")[0]
        d = x.shape[ax]
        if not isinstance(d, int):
            raise ShapeError(f"cannot split symbolic axis {ax} ({d!r}) of {x.type}: its size is not known statically")
        if isinstance(sizes_or_num, int):
            if sizes_or_num <= 0 or d % sizes_or_num:
                raise ShapeError(f"cannot split axis {ax} of size {d} into {sizes_or_num} equal parts")
            sizes = [d // sizes_or_num] * sizes_or_num
        else:
            sizes = [int(s) for s in sizes_or_num]
            if builtins.sum(sizes) != d or builtins.min(sizes, default=-1) < 0:
                raise ShapeError(f"split sizes {sizes} must be non-negative and add up to {d} (axis {ax} of {x.type})")
    out, start = [], 0
    for s in sizes:
        out.append(getitem(x, (builtins.slice(None),) * ax + (builtins.slice(start, start + s),)))
        start += s
    return out


def _tile_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    reps = attrs["reps"]
    if len(reps) < t[0].rank or builtins.min(reps, default=1) < 0:
        raise ShapeError(f"reps {reps} must be non-negative, one per axis of {format_shape(t[0].shape)} (or more)")
    dims = (1,) * (len(reps) - t[0].rank) + tuple(t[0].shape)
    return [t[0].with_shape(tuple(dim_mul(d, r) for d, r in zip(dims, reps)))]  # a symbolic dim: B*r


def _tile_grad(node: Any, gouts: list) -> list:
    # Each input element appears once per tile: view the gradient as (r0, d0, r1, d1, ...) and sum the r axes.
    from .reduction import sum as rsum

    x, reps = node.inputs[0], node.attrs["reps"]
    dims = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    grouped = reshape(gouts[0], tuple(v for r, d in zip(reps, dims) for v in (r, d)))
    return [reshape(rsum(grouped, axis=tuple(range(0, 2 * len(reps), 2))), x.shape)]


OPS.append(Op("tile", _tile_rule, 1, {"reps": REQUIRED}, grad=_tile_grad, flops=0,
              doc="repeat reps[i] times along axis i (np.tile; reps may be longer than the rank)"))


@atomic
def tile(x: Value, reps: int | Sequence[int]) -> Value:
    """Repeat `x` `reps[i]` times along axis i (np.tile; ONNX Tile)."""
    reps = (reps,) if isinstance(reps, int) else tuple(int(r) for r in reps)
    if isinstance(x, Value) and len(reps) < x.ndim:
        reps = (1,) * (x.ndim - len(reps)) + reps  # np.tile pads reps with leading 1s
    return apply1("tile", [x], {"reps": reps})
