"""The `fused_elementwise` kernel: the chain runs as in-place ufunc calls with `out=` into the node's output
buffer and a few plan-time scratch buffers, so it makes no temporaries and costs one C call per member.

Written against `xp` (CuPy ufuncs take `out=` too).
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from .kernels import shape_of
from .out_kernels import UFUNCS, OutKernel

COMPARE = {"greater", "less", "greater_equal", "less_equal", "equal"}


def _step_meta(node: Node, env: dict) -> tuple[list[tuple], list[str]]:
    import numpy as np  # shapes only: broadcasting arithmetic on tuples, no array math

    in_shapes = [shape_of(v.type.shape, env) for v in node.inputs]
    in_dtypes = [v.dtype for v in node.inputs]
    shapes: list[tuple] = []
    dtypes: list[str] = []
    for op, attrs, args in node.attrs["body"]:
        ss, ds = [], []
        for a in args:
            if a[0] == "in":
                ss.append(in_shapes[a[1]]); ds.append(in_dtypes[a[1]])
            elif a[0] == "t":
                ss.append(shapes[a[1]]); ds.append(dtypes[a[1]])
            else:
                ss.append(()); ds.append(a[2])
        shapes.append(tuple(np.broadcast_shapes(*ss)))
        if op in COMPARE:
            dtypes.append("bool")
        elif op == "cast":
            dtypes.append(dict(attrs)["dtype"])
        elif op == "where":
            dtypes.append(ds[1])
        else:
            dtypes.append(ds[0])
    return shapes, dtypes


ARITH = {"add", "sub", "mul", "div", "maximum", "minimum"}


def _place(body: tuple, shapes: list, dtypes: list, aliased: set[int]) -> tuple[list[Any], list[tuple]]:
    """Where each step writes: "out", a scratch index, or ("same", j) for a bool->float cast that its
    arithmetic consumers can read as bool directly. `aliased`: inputs that share memory with out."""
    n = len(body)
    out_key = (shapes[-1], dtypes[-1])
    last_read: dict[int, int] = {}
    last_alias = -1  # the last step reading an input that shares out's memory: out is written only after
    for k, (op, _, args) in enumerate(body):
        for a in args:
            if a[0] == "t":
                last_read[a[1]] = k
            elif a[0] == "in" and a[1] in aliased:
                last_alias = k
    readers: dict[int, list[str]] = {}
    for op, _, args in body:
        for a in args:
            if a[0] == "t":
                readers.setdefault(a[1], []).append(op)
    where: list[Any] = [None] * n
    scratch: list[tuple] = []
    free: dict[tuple, list[int]] = {}
    holder = None
    for k, (op, attrs, args) in enumerate(body):
        src = args[0]
        if (op == "cast" and k < n - 1 and src[0] == "t" and dtypes[src[1]] == "bool"
                and all(r in ARITH for r in readers.get(k, []))):
            where[k] = ("same", src[1])  # ufuncs cast bool operands themselves
            last_read[src[1]] = max(last_read.get(src[1], k), last_read.get(k, k))
            continue
        held = {a[1] for a in args if a[0] == "t" and where[a[1]] == "out"}
        reads_alias = any(a[0] == "in" and a[1] in aliased for a in args)
        if op == "where":  # two masked copies into the destination: its sources must not live there
            can_out = k == n - 1 and not held and not reads_alias
        elif k == n - 1:
            can_out = True
        else:
            can_out = ((shapes[k], dtypes[k]) == out_key and k >= last_alias
                       and (holder is None or last_read.get(holder, -1) <= k))
        if can_out:
            where[k] = "out"
            holder = k
        else:
            key = (shapes[k], dtypes[k])
            pool = free.get(key, [])
            where[k] = pool.pop() if pool else len(scratch)
            if where[k] == len(scratch):
                scratch.append(key)
        for a in args:
            j = a[1] if a[0] == "t" else None
            while j is not None and isinstance(where[j], tuple):
                j = where[j][1]
            if j is not None and last_read.get(j) == k and isinstance(where[j], int) and where[j] != where[k]:
                free.setdefault((shapes[j], dtypes[j]), []).append(where[j])
    return where, scratch


def fused_out_kernel(xp: Any, node: Node, env: dict) -> OutKernel:
    """Plan one fused chain: each step is one ufunc call writing into out or a plan-time scratch buffer."""
    body = node.attrs["body"]
    shapes, dtypes = _step_meta(node, env)
    n = len(body)
    consts: dict[Any, Any] = {}
    for _, _, args in body:
        for a in args:
            if a[0] == "c" and a not in consts:
                consts[a] = xp.asarray(a[1], dtype=a[2])
    kernel = OutKernel(lambda ins, out: [], inplace=True)

    def calls(ins: list, out: Any) -> list:
        aliased = {i for i, a in enumerate(ins) if hasattr(a, "shape") and xp.may_share_memory(a, out)}
        where, scratch = _place(body, shapes, dtypes, aliased)
        bufs = [xp.empty(s, d) for s, d in scratch]
        kernel.scratch_bytes = sum(b.nbytes for b in bufs)

        def dest(k: int) -> Any:
            while isinstance(where[k], tuple):
                k = where[k][1]
            return out if where[k] == "out" else bufs[where[k]]

        def arr(a: tuple) -> Any:
            if a[0] == "in":
                return ins[a[1]]
            if a[0] == "t":
                return dest(a[1])
            return consts[a]

        res = []
        for k, (op, attrs, args) in enumerate(body):
            if isinstance(where[k], tuple):
                continue
            dst = dest(k)
            xs = [arr(a) for a in args]
            if op in UFUNCS:
                res.append((getattr(xp, UFUNCS[op]), tuple(xs), {"out": dst}))
            elif op == "relu":
                zero = consts.setdefault(("zero", dtypes[k]), xp.zeros((), dtypes[k]))
                res.append((xp.maximum, (xs[0], zero), {"out": dst}))
            elif op in ("cast", "identity"):
                res.append((xp.copyto, (dst, xs[0]), {"casting": "unsafe"}))
            elif op == "where":
                res.append((xp.copyto, (dst, xs[2]), {}))
                res.append((xp.copyto, (dst, xs[1]), {"where": xs[0]}))
            else:
                raise NotImplementedError(f"fused_elementwise: no NumPy kernel for member op {op!r}")
        if where[n - 1] != "out":
            res.append((xp.copyto, (out, dest(n - 1)), {}))
        return res

    kernel.calls = calls
    return kernel


def fused_kernel(xp: Any, node: Node, env: dict) -> Any:
    """The plain (allocating) form, for callers without memory planning: a fresh output per call."""
    ok = fused_out_kernel(xp, node, env)
    shape, dtype = shape_of(node.outputs[0].type.shape, env), node.outputs[0].dtype

    def f(*ins: Any) -> Any:
        out = xp.empty(shape, dtype)
        for fn, args, kw in ok.calls(list(ins), out):
            fn(*args, **kw)
        return out

    return f
