"""Destination-passing kernels: `OUT_KERNELS[op] = factory(xp, node, env) -> OutKernel | None`. An OutKernel
lists the calls that compute the node into a preallocated `out` (so the planner owns the memory) and says
whether `out` may be the buffer of a same-shaped input (in place). None: this node needs the plain kernel.

Written against `xp`; CuPy ufuncs take `out=` too, so the CuPy backend can reuse the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..destination import UFUNCS, OutKernel
from .kernels import shape_of

OUT_KERNELS: dict[str, Callable[[Any, Node, dict], OutKernel | None]] = {}

def _ufunc_factory(name: str) -> Callable[[Any, Node, dict], OutKernel]:
    def f(xp: Any, node: Node, env: dict) -> OutKernel:
        uf = getattr(xp, name)
        return OutKernel(lambda ins, out: [(uf, tuple(ins), {"out": out})], inplace=True)

    return f


for _op, _uf in UFUNCS.items():
    OUT_KERNELS[_op] = _ufunc_factory(_uf)


def _relu(xp: Any, node: Node, env: dict) -> OutKernel:
    zero = xp.zeros((), node.outputs[0].dtype)
    return OutKernel(lambda ins, out: [(xp.maximum, (ins[0], zero), {"out": out})], inplace=True)


def _matmul(xp: Any, node: Node, env: dict) -> OutKernel | None:
    if node.inputs[0].ndim < 2 or node.inputs[1].ndim < 2:
        return None  # vector products: let the plain kernel handle NumPy's 1-d rules
    return OutKernel(lambda ins, out: [(xp.matmul, tuple(ins), {"out": out})])


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


def _reduce(xp: Any, node: Node, env: dict) -> OutKernel:
    f = reducer(xp, node.op)
    a = node.attrs["axes"]
    axis = None if a is None else tuple(a)
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


def _cast(xp: Any, node: Node, env: dict) -> OutKernel:
    return OutKernel(lambda ins, out: [(xp.copyto, (out, ins[0]), {"casting": "unsafe"})], inplace=False)


def _softmax(xp: Any, node: Node, env: dict) -> OutKernel:
    ax = node.attrs["axis"]
    shp = list(shape_of(node.outputs[0].type.shape, env))
    axis_pos = ax % len(shp) if shp else 0
    shp[ax] = 1
    m = xp.empty(tuple(shp), node.outputs[0].dtype)
    s = xp.empty(tuple(shp), node.outputs[0].dtype)
    rmax, rsum = reducer(xp, "max"), reducer(xp, "sum")
    full = shape_of(node.outputs[0].type.shape, env)
    by_dot = sum_by_dot(xp, full, axis_pos, node.outputs[0].dtype) if len(full) == 2 and axis_pos == 1 else None

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        x = ins[0]
        if ctx is not None and ctx.ids:
            # A softmax cross-entropy on the same logits already ran this step: exp(x - max) / its row sums
            done = ctx.facts.get(("softmax", ctx.ids[0], axis_pos))
            if done is not None and done[0].dtype == out.dtype:
                return [(xp.true_divide, done, {"out": out})]
        sums = by_dot(out, s) if by_dot is not None else [(rsum, (out,), {"axis": ax, "keepdims": True, "out": s})]
        return [(rmax, (x,), {"axis": ax, "keepdims": True, "out": m}),
                (xp.subtract, (x, m), {"out": out}), (xp.exp, (out,), {"out": out}),
                *sums, (xp.true_divide, (out, s), {"out": out})]

    return OutKernel(calls, inplace=True, scratch_bytes=2 * m.nbytes, takes_context=True)


OUT_KERNELS.update({"relu": _relu, "matmul": _matmul, "sum": _reduce, "mean": _reduce, "max": _reduce,
                    "min": _reduce, "cast": _cast, "softmax": _softmax})


def _register_fused() -> None:
    from .fused_elementwise import fused_out_kernel

    OUT_KERNELS["fused_elementwise"] = fused_out_kernel


_register_fused()


def labels_out_of_range(xp: Any, depth: int) -> Any:
    """A one-reduction test: viewed as unsigned, a negative label is huge, so max >= depth catches both."""
    import numpy as np  # dtype objects only

    umax = reducer(xp, "max")
    unsigned = {np.dtype(f"int{b}"): np.dtype(f"uint{b}") for b in (8, 16, 32, 64)}  # no string work per call

    def bad(y: Any) -> bool:
        u = unsigned.get(y.dtype)
        if u is not None:
            y = y.view(u)
        return y.size > 0 and umax(y, axis=None) >= depth

    return bad


def _one_hot(xp: Any, node: Node, env: dict) -> OutKernel:
    depth = node.attrs["depth"]
    shp = shape_of(node.outputs[0].type.shape, env)
    classes = xp.arange(depth)
    label_shape = shp[:-1] + (1,)
    bad = labels_out_of_range(xp, depth)
    one = xp.ones((), node.outputs[0].dtype)

    def fill(y: Any, out: Any) -> None:
        if bad(y):
            from .kernels import check_labels

            check_labels(xp, y, depth, f"one_hot {node.name}")
        xp.equal(y.reshape(label_shape), classes, out=out, casting="unsafe")

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and ctx.ids and len(shp) == 2:
            # The labels were checked and turned into flat indices (row * depth + label) earlier this step
            idx = ctx.facts.get(("label_index", ctx.ids[0], depth))
            if idx is not None and idx.shape[0] == shp[0]:
                return [(out.fill, (0,), {}), (out.reshape(-1).put, (idx, one), {})]
        return [(fill, (ins[0], out), {})]

    return OutKernel(calls, takes_context=True)


def _cross_entropy(xp: Any, node: Node, env: dict) -> OutKernel | None:
    p_t, y_t = node.inputs[0], node.inputs[1]
    if not y_t.dtype.startswith(("int", "uint")) or p_t.ndim != 2 or node.attrs["axis"] not in (-1, 1) \
            or node.attrs["reduction"] != "mean":
        return None
    n, c = shape_of(p_t.type.shape, env)
    rows = xp.arange(n) * c
    picked = xp.empty(n, p_t.dtype)
    idx = xp.empty(n, "int64")
    dt = node.outputs[0].dtype
    bad = labels_out_of_range(xp, c)
    rsum = reducer(xp, "sum")
    neg_inv_n = xp.asarray(-1.0 / max(n, 1), dtype=dt)

    def ce(p: Any, y: Any, out: Any) -> None:
        if bad(y):
            from .kernels import check_labels

            check_labels(xp, y, c, f"cross_entropy {node.name}")
        xp.add(rows, y, out=idx)
        xp.take(p.reshape(-1), idx, out=picked)
        xp.log(picked, out=picked)
        rsum(picked, axis=None, dtype=dt, out=out)
        xp.multiply(out, neg_inv_n, out=out)

    return OutKernel(lambda ins, out: [(ce, (ins[0], ins[1], out), {})], scratch_bytes=picked.nbytes + idx.nbytes)


def _softmax_cross_entropy(xp: Any, node: Node, env: dict) -> OutKernel | None:
    x_t, y_t = node.inputs[0], node.inputs[1]
    if not y_t.dtype.startswith(("int", "uint")) or x_t.ndim != 2 or node.attrs["axis"] not in (-1, 1) \
            or node.attrs["reduction"] != "mean":
        return None
    n, c = shape_of(x_t.type.shape, env)
    dt = node.outputs[0].dtype
    rows = xp.arange(n) * c
    idx = xp.empty(n, "int64")
    e = xp.empty((n, c), dt)
    m = xp.empty((n, 1), dt)
    z = xp.empty((n, 1), dt)
    picked = xp.empty(n, dt)
    bad = labels_out_of_range(xp, c)
    rmax = reducer(xp, "max")
    mean_w = xp.full(n, 1.0 / max(n, 1), dtype=dt)
    ones_c = xp.ones(c, dtype=dt)
    z_flat = z.reshape(-1)
    e_take, m_flat = e.reshape(-1).take, m.reshape(-1)  # views and bound methods taken once

    def sce(x: Any, y: Any, out: Any) -> None:
        if bad(y):
            from .kernels import check_labels

            check_labels(xp, y, c, f"softmax_cross_entropy {node.name}")
        # mean(logsumexp(x) - x[y]) = mean(log(sum(exp(x - m))) - (x - m)[y]), with m the row max;
        # e = exp(x - m) and z = its row sums stay for the backward's softmax (see calls)
        rmax(x, axis=1, keepdims=True, out=m)
        xp.subtract(x, m, out=e)
        xp.add(rows, y, out=idx)
        e_take(idx, out=picked)
        xp.exp(e, out=e)
        xp.dot(e, ones_c, out=z_flat)  # row sums as one BLAS product (see sum_by_dot)
        xp.log(z, out=m)
        xp.subtract(m_flat, picked, out=picked)
        xp.dot(picked, mean_w, out=out)  # the mean as one BLAS dot: half the cost of sum, then scale

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and len(ctx.ids) == 2:
            ctx.facts[("softmax", ctx.ids[0], 1)] = (e, z)
            ctx.facts[("label_index", ctx.ids[1], c)] = idx
        return [(sce, (ins[0], ins[1], out), {})]

    return OutKernel(calls, scratch_bytes=e.nbytes + m.nbytes + z.nbytes + picked.nbytes + idx.nbytes + mean_w.nbytes,
                     takes_context=True)


OUT_KERNELS.update({"one_hot": _one_hot, "cross_entropy": _cross_entropy,
                    "softmax_cross_entropy": _softmax_cross_entropy})
