"""NumPy kernels of graphnn/ir/ops/fused.py, the fused stable losses: softmax_cross_entropy (also
destination-passing, leaving its softmax and label indices for the backward as CallContext facts) and
sigmoid_binary_cross_entropy. Log-sum-exp with a max shift and softplus via log1p(exp(-|z|)): no exp ever sees
a large positive argument.

Written against `xp`. Imports graphnn.ir, the backend records and the loss helpers.
"""

from __future__ import annotations

import math
from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .loss import int_labels_last_axis_mean, pick_labels, reduce_loss
from .reduction import reducer
from .support import Factory, Kernel, label_check, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (fused)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (fused)")


@KERNELS.register("softmax_cross_entropy")
def _softmax_cross_entropy(xp: Any, node: Node, env: dict) -> Kernel:
    ax, red, dt = node.attrs["axis"], node.attrs["reduction"], node.outputs[0].dtype
    int_labels = node.inputs[1].dtype.startswith(("int", "uint"))

    def f(x: Any, y: Any) -> Any:
        s = x - xp.max(x, axis=ax, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(s), axis=ax, keepdims=True))
        if int_labels:
            per = xp.squeeze(lse, axis=ax) - pick_labels(xp, s, y, ax, f"softmax_cross_entropy {node.name}")
        else:
            per = -xp.sum(y * (s - lse), axis=ax)
        return reduce_loss(xp, per.astype(dt, copy=False), red, dt)

    return f


@OUT_KERNELS.register("softmax_cross_entropy")
def _softmax_cross_entropy_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    if not int_labels_last_axis_mean(node):
        return None
    full = shape_of(node.inputs[0].type.shape, env)  # (..., c): the leading dims are the rows, flattened
    c = full[-1]
    n = math.prod(full[:-1])
    dt = node.outputs[0].dtype
    rows = xp.arange(n) * c
    idx = xp.empty(n, "int64")
    e = xp.empty((n, c), dt)
    m = xp.empty((n, 1), dt)
    z = xp.empty((n, 1), dt)
    picked = xp.empty(n, dt)
    check = label_check(xp, c, f"softmax_cross_entropy {node.name}")
    rmax = reducer(xp, "max")
    mean_w = xp.full(n, 1.0 / max(n, 1), dtype=dt)
    ones_c = xp.ones(c, dtype=dt)
    z_flat = z.reshape(-1)
    e_take, m_flat = e.reshape(-1).take, m.reshape(-1)  # views and bound methods taken once

    e_full, z_full = e.reshape(full), z.reshape(full[:-1] + (1,))  # the facts in the logits' own shape

    def sce(x: Any, y: Any, out: Any) -> None:
        x, y = x.reshape(n, c), y.reshape(n)  # views of contiguous operands
        check(y)
        # mean(logsumexp(x) - x[y]) = mean(log(sum(exp(x - m))) - (x - m)[y]), with m the row max;
        # e = exp(x - m) and z = its row sums stay for the backward's softmax (see calls)
        rmax(x, axis=1, keepdims=True, out=m)
        xp.subtract(x, m, out=e)
        xp.add(rows, y, out=idx)
        e_take(idx, out=picked)
        xp.exp(e, out=e)
        xp.dot(e, ones_c, out=z_flat)  # row sums as one BLAS product (see reduction.sum_by_dot)
        xp.log(z, out=m)
        xp.subtract(m_flat, picked, out=picked)
        xp.dot(picked, mean_w, out=out)  # the mean as one BLAS dot: half the cost of sum, then scale

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and len(ctx.ids) == 2:
            ctx.facts[("softmax", ctx.ids[0], len(full) - 1)] = (e_full, z_full)
            ctx.facts[("label_index", ctx.ids[1], c)] = idx
        return [(sce, (ins[0], ins[1], out), {})]

    return OutKernel(calls, scratch_bytes=e.nbytes + m.nbytes + z.nbytes + picked.nbytes + idx.nbytes + mean_w.nbytes,
                     takes_context=True)


@KERNELS.register("sigmoid_binary_cross_entropy")
def _sigmoid_bce(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype

    def f(z: Any, t: Any) -> Any:
        per = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return reduce_loss(xp, per.astype(dt, copy=False), red, dt)

    return f
