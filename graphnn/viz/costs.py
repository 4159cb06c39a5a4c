"""Static cost estimates per node: FLOPs and output bytes from the value types, with symbolic dims bound
by the user (`dims=`) or by a call's feeds. User-level library: may import anything in graphnn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backends.numpy.conv import algorithm
from ..backends.profile import CONV_OPS, conv_y
from ..ir.graph import Graph, Node
from ..ir.op_registry import family_of, get_op
from ..ir.ops.conv import conv_flops
from ..ir.types import TensorType, dim_value, is_anonymous

# FLOPs per output element come from Op.flops (0: free; None: one per element touched); transcendental functions
# count as one. The estimate is a guide for where time goes, not a cycle count.


def bind_dims(g: Graph, dims: dict[str, int] | None = None, feeds: dict[str, Any] | None = None) -> dict[str, int]:
    """Symbolic dim -> size. `feeds` bind like a call would; `dims` names dims, and its key "batch" also binds
    the anonymous leading dim (`None` in gn.input) of every input."""
    env: dict[str, int] = {}
    for v in g.inputs:
        t = v.type
        if feeds and v.name in feeds:
            for d, n in zip(t.shape, np.shape(feeds[v.name])):
                if isinstance(d, str):
                    env[d] = int(n)
        if dims and t.shape and is_anonymous(t.shape[0]) and "batch" in dims:
            env.setdefault(t.shape[0], int(dims["batch"]))  # type: ignore[arg-type]
    for k, n in (dims or {}).items():
        env.setdefault(g.canon_dim(k), int(n))  # type: ignore[arg-type]
    return env


def numel(t: TensorType, env: dict[str, int]) -> int | None:
    """Element count, or None when a symbolic dim is unbound."""
    n = 1
    for d in t.shape:
        try:
            n *= dim_value(d, env)
        except KeyError:
            return None
    return n


def out_bytes(node: Node, env: dict[str, int]) -> int | None:
    """Bytes of all outputs of `node`."""
    total = 0
    for o in node.outputs:
        n = numel(o.type, env)
        if n is None:
            return None
        total += n * np.dtype(o.dtype).itemsize
    return total


def flops(node: Node, env: dict[str, int]) -> int | None:
    """Floating-point operations of one execution of `node` (multiply-add = 2)."""
    op = get_op(node.op)
    if op.flops == 0:
        return 0
    outs = [numel(o.type, env) for o in node.outputs]
    ins = [numel(v.type, env) for v in node.inputs]
    if None in outs or None in ins:
        return None
    if node.op in CONV_OPS:  # sums of (C/groups)*kH*kW products per element of y (or of gy, for the gradients)
        y = conv_y(node)
        n = numel(y.type, env)
        return None if n is None else conv_flops(node, n)
    if node.op in ("matmul", "gemm_update"):
        k = node.inputs[2].type.shape[0] if node.op == "gemm_update" else node.inputs[0].type.shape[-1]
        k = env.get(k, None) if isinstance(k, str) else k
        extra = 2 if node.op == "gemm_update" else 0  # the scaled add into c
        return None if k is None else (2 * k + extra) * outs[0]  # type: ignore[operator]
    family = family_of(node.op)
    if family == "reduction":
        return ins[0]  # type: ignore[return-value]
    if family in ("loss", "fused"):  # the losses, naive and fused
        return 5 * max(ins)  # type: ignore[type-var,operator]
    if node.op == "fused_elementwise":  # one FLOP per member op per element
        return len(node.attrs.get("body", ())) * sum(outs)  # type: ignore[arg-type]
    # Anything else touches every element it reads or writes at least once.
    return (op.flops or 1) * max(sum(outs), max(ins, default=0))  # type: ignore[arg-type,type-var]


def graph_costs(g: Graph, env: dict[str, int]) -> dict[str, Any]:
    """Per node {flops, bytes} by node id, and totals (None parts are skipped and counted as unbound)."""
    per: dict[int, dict[str, int | None]] = {}
    tf = tb = unbound = 0
    for n in g.nodes:
        f, b = flops(n, env), out_bytes(n, env)
        per[n.id] = {"flops": f, "bytes": b}
        if n.op in CONV_OPS:
            per[n.id]["algorithm"] = algorithm(n, env)  # type: ignore[assignment]
        if f is None or b is None:
            unbound += 1
        tf += f or 0
        tb += b or 0
    pbytes = sum(math.prod(v.type.concrete(env)) * np.dtype(v.dtype).itemsize for v in g.params + g.state)
    return {"nodes": per, "total_flops": tf, "total_bytes": tb, "param_bytes": pbytes, "unbound_nodes": unbound,
            "env": dict(env)}


def human(n: float | None, unit: str = "") -> str:
    """1234567 -> '1.23M' (None -> '?')."""
    if n is None:
        return "?"
    for s, k in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= k:
            return f"{n / k:.3g}{s}{unit}"
    return f"{n:g}{unit}"
