"""NumPy kernels of graphnn/ir/ops/reduction.py (sum, mean, max, min, argmax, cumsum), plain and destination-passing,
and the reduction helpers other families reuse (`reducer`, `sum_by_dot`).

Written against `xp`. Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .support import Factory, Kernel, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (reduction)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (reduction)")


def _axes(node: Node) -> tuple[int, ...] | None:
    a = node.attrs["axes"]
    return None if a is None else tuple(a)


@KERNELS.register("sum", "mean", "max", "min")
def _reduce(xp: Any, node: Node, env: dict) -> Kernel:
    f = {"sum": xp.sum, "mean": xp.mean, "max": xp.max, "min": xp.min}[node.op]
    axes, keep, dt = _axes(node), node.attrs["keepdims"], node.outputs[0].dtype
    if node.op in ("sum", "mean"):
        return lambda x: xp.asarray(f(x, axis=axes, keepdims=keep, dtype=dt))
    return lambda x: xp.asarray(f(x, axis=axes, keepdims=keep))


@KERNELS.register("argmax")
def _argmax(xp: Any, node: Node, env: dict) -> Kernel:
    ax, keep = node.attrs["axis"], node.attrs["keepdims"]
    return lambda x: xp.asarray(xp.argmax(x, axis=ax, keepdims=keep)).astype("int64", copy=False)


def reducer(xp: Any, op: str) -> Any:
    """The ufunc's own `reduce` where the array module has it (skips np.sum's Python wrapper, ~2 us)."""
    uf = {"sum": "add", "mean": "add", "max": "maximum", "min": "minimum"}[op]
    r = getattr(getattr(xp, uf), "reduce", None)
    return r if r is not None else {"sum": xp.sum, "mean": xp.sum, "max": xp.max, "min": xp.min}[op]


def sum_by_dot(xp: Any, x_shape: tuple, axis: int, dtype: str, scale: float = 1.0) -> Any:
    """`calls(x, out)` summing a 1-d or 2-d float array over its first or last axis (times `scale`) as one
    BLAS matrix-vector product with a constant vector, or None where that does not apply. 2-10x faster than
    the ufunc reduction at these sizes (no iterator set-up; SIMD across rows); float32 rounding is alike."""
    if dtype not in ("float32", "float64") or len(x_shape) not in (1, 2) or x_shape[axis] == 0:
        return None  # (an empty mean is NaN; the reduction says so)
    w = xp.full(x_shape[axis], scale, dtype=dtype)
    first = axis % len(x_shape) == 0
    res_shape = tuple(d for i, d in enumerate(x_shape) if i != axis % len(x_shape))

    def calls(x: Any, out: Any) -> list:
        o = out if tuple(out.shape) == res_shape else out.reshape(res_shape)  # keepdims: a view, taken once
        return [(xp.dot, (w, x) if first else (x, w), {"out": o})]

    return calls


@OUT_KERNELS.register("sum", "mean", "max", "min")
def _reduce_out(xp: Any, node: Node, env: dict) -> OutKernel:
    f = reducer(xp, node.op)
    axis = _axes(node)
    in_shape = shape_of(node.inputs[0].type.shape, env)
    dt = node.outputs[0].dtype
    if node.op in ("sum", "mean") and node.inputs[0].dtype == dt and len(in_shape) in (1, 2) \
            and (axis is None and len(in_shape) == 1 or axis is not None and len(axis) == 1):
        ax = 0 if axis is None else axis[0]
        scale = 1.0 if node.op == "sum" else 1.0 / max(in_shape[ax], 1)
        by_dot = sum_by_dot(xp, in_shape, ax, dt, scale)
        if by_dot is not None:
            return OutKernel(lambda ins, out: by_dot(ins[0], out))
    kw: dict[str, Any] = {"axis": axis, "keepdims": node.attrs["keepdims"]}
    if node.op in ("sum", "mean"):
        kw["dtype"] = node.outputs[0].dtype
    if node.op != "mean":
        return OutKernel(lambda ins, out: [(f, (ins[0],), {**kw, "out": out})])
    count = 1
    for ax in range(len(in_shape)) if axis is None else axis:
        count *= in_shape[ax]
    inv = xp.asarray(1.0 / max(count, 1), dtype=node.outputs[0].dtype)
    return OutKernel(lambda ins, out: [(f, (ins[0],), {**kw, "out": out}), (xp.multiply, (out, inv), {"out": out})])


@KERNELS.register("cumsum")
def _cumsum(xp: Any, node: Node, env: dict) -> Kernel:
    ax, a = node.attrs["axis"], node.attrs
    dt = node.outputs[0].dtype
    head = (slice(None),) * ax

    def f(x: Any) -> Any:
        y = xp.flip(x, ax) if a["reverse"] else x
        s = xp.cumsum(y, axis=ax, dtype=dt)
        if a["exclusive"]:  # shift by one instead of subtracting x, which would round
            out = xp.zeros_like(s)
            out[head + (slice(1, None),)] = s[head + (slice(None, -1),)]
            s = out
        return xp.flip(s, ax) if a["reverse"] else s

    return f
