"""Helpers gradient rules share: undo broadcasting, make zeros/ones of a value's (symbolic) shape.

Imports only sibling ir modules (not ir/ops, which imports this file: ops are applied by name through the builder).
"""

from __future__ import annotations

from itertools import pairwise

from .builder import apply1, constant
from .graph import Node, Value
from .op_registry import get_op
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


# ---- summing a value's gradients: slices of one axis are put side by side, not added as zero-padded arrays ----
_FULL = ("slice", None, None, 1)
Pieces = tuple[int, list[tuple[int, int, "Value | None"]], tuple]  # (axis, (start, stop, value or None = zeros), shape)


def _is_zeros(v: Value) -> bool:
    """v is a broadcast constant 0 (a gap piece add_grads made)."""
    n = v.producer
    if n is None or n.op != "broadcast_to":
        return False
    c = v.graph.constants.get(n.inputs[0].id)
    return c is not None and getattr(c, "size", 0) == 1 and float(c.reshape(-1)[0]) == 0.0


def _concat_pieces(x: Value, ax: int, offset: int) -> list[tuple[int, int, Value | None]]:
    """x's parts along `ax` (the inputs of a concat on that axis with static extents), from `offset`."""
    n = x.producer
    parts = [x]
    if n is not None and n.op == "concat" and n.attrs["axis"] % x.ndim == ax:
        parts = list(n.inputs)
    if not all(isinstance(p.shape[ax], int) for p in parts):
        parts = [x]
    out, at = [], offset
    for p in parts:
        size = p.shape[ax]
        out.append((at, at + size, None if _is_zeros(p) else p))
        at += size
    return out


def _pieces(v: Value) -> Pieces | None:
    """v as disjoint pieces along one axis of a zero array: unslice(x) of one static range of one axis (x itself
    maybe a concat on that axis, as add_grads builds), or such a concat covering the axis; else None."""
    n = v.producer
    if n is None or n.op not in ("unslice", "concat"):
        return None
    if n.op == "concat":
        ax = n.attrs["axis"] % v.ndim
        if not isinstance(v.shape[ax], int):
            return None
        return ax, _concat_pieces(v, ax, 0), tuple(v.shape)
    idx, shape = tuple(n.attrs["index"]), tuple(n.attrs["shape"])
    if len(idx) > len(shape) or any(i[0] not in ("slice", "int") or (i[0] == "slice" and i[3] != 1) for i in idx):
        return None
    cut = [k for k, i in enumerate(idx) if i != _FULL]
    if len(cut) != 1:
        return None
    ax = cut[0]
    if idx[ax][0] == "int":  # x[..., k, ...] (q, k, v of one packed projection): a piece of extent 1
        d, k = shape[ax], idx[ax][1]
        if not isinstance(d, int) or not -d <= k < d:
            return None
        k %= d
        return ax, [(k, k + 1, apply1("slice", [n.inputs[0]], {"index": (_FULL,) * ax + (("new",),)}))], shape
    _, start, stop, _ = idx[ax]
    d = shape[ax]
    start = 0 if start is None else start
    stop = d if stop is None else stop
    if not all(isinstance(q, int) for q in (start, stop, d)) or not 0 <= start < stop <= d:
        return None
    x = n.inputs[0]
    if not isinstance(x.shape[ax], int):
        return None
    return ax, _concat_pieces(x, ax, start), shape


def add_grads(a: Value, b: Value) -> Value:
    """a + b for two gradient contributions to one value; when both are slices of one axis written into zeros
    (the gradients of x[:, i:j] for several disjoint ranges: LSTM gates, q/k/v), the pieces are concatenated,
    so a full cover costs one copy instead of zero-filled arrays and adds. Read from the graph alone."""
    pa, pb = _pieces(a), _pieces(b)
    if pa is None or pb is None or pa[0] != pb[0] or pa[2] != pb[2] or a.dtype != b.dtype:
        return apply1("add", [a, b])
    ax, shape = pa[0], pa[2]
    parts = sorted((p for p in pa[1] + pb[1] if p[2] is not None), key=lambda p: p[0])
    if any(p[1] > q[0] for p, q in pairwise(parts)):  # overlapping ranges: a real sum
        return apply1("add", [a, b])
    filled: list[tuple[int, int, Value | None]] = []
    for p in parts:  # zero pieces only where no contribution lies
        if filled and filled[-1][1] < p[0]:
            filled.append((filled[-1][1], p[0], None))
        filled.append(p)
    arrays = []
    for lo, hi, x in filled:
        if x is None:
            like = filled[0][2]
            gap = tuple(hi - lo if k == ax else d for k, d in enumerate(shape))
            x = apply1("broadcast_to", [constant(0.0, dtype=like.dtype, name="fill", graph=like.graph)],
                       {"shape": gap})
        arrays.append(x)
    cat = arrays[0] if len(arrays) == 1 else apply1("concat", arrays, {"axis": ax})
    lo, hi = filled[0][0], filled[-1][1]
    if lo == 0 and hi == shape[ax]:
        out = cat
    else:
        index = (_FULL,) * ax + (("slice", lo, hi, 1),)
        out = apply1("unslice", [cat], {"index": index, "shape": shape})
    return out


def backprop(path: list[Node], grads: dict[int, Value]) -> None:
    """Reverse-mode walk over `path` (nodes in build order) with the ops' gradient rules: `grads` maps value ids
    to cotangents (the seeds on entry) and gains every float input's accumulated cotangent."""
    for n in reversed(path):
        gouts = [grads.get(o.id) for o in n.outputs]
        if all(v is None for v in gouts):
            continue
        for v, gi in zip(n.inputs, get_op(n.op).grad(n, gouts)):  # type: ignore[misc]
            if gi is not None and v.type.is_float:
                grads[v.id] = gi if v.id not in grads else add_grads(grads[v.id], gi)
