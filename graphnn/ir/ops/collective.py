"""Collective ops for data parallelism: `all_reduce` averages (or sums) tensors across the ranks of an MPI job.

One node reduces a bucket of same-dtype tensors with one call (the kernel packs them into one flat buffer), so a
training step makes one or a few collective calls, not one per parameter. Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply
from ..errors import DTypeError, GraphError
from ..gradutil import ones_like
from ..graph import Node, Value
from ..op import InferCtx, Op
from ..types import TensorType
from . import elementwise as ew
from . import reduction as red
from . import shape_ops

OPS: list[Op] = []

REDUCTIONS = ("mean", "sum")


def _all_reduce_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    if attrs["op"] not in REDUCTIONS:
        raise GraphError(f"all_reduce: op must be one of {REDUCTIONS}, got {attrs['op']!r}")
    for k, x in enumerate(t):
        ctx.need_float(x, f"all_reduce input {k}")
    if len({x.dtype for x in t}) > 1:
        raise DTypeError(f"all_reduce: one bucket holds one dtype (one flat buffer), got {[x.dtype for x in t]}")
    return list(t)


def _all_reduce_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    # Linear and self-adjoint: rank r's input reaches every rank's output with weight 1/P (mean) or 1 (sum), so
    # d(sum of all ranks' losses)/d x_r is the same all-reduce of the ranks' output gradients.
    live = [k for k, v in enumerate(g) if v is not None]
    out: list[Value | None] = [None] * len(g)
    if live:
        for k, r in zip(live, apply("all_reduce", [g[k] for k in live], {"op": node.attrs["op"]})):
            out[k] = r
    return out


OPS.append(Op("all_reduce", _all_reduce_rule, (1, None), {"op": "mean", "check_hash": 0, "batch_dim": ""},
              grad=_all_reduce_grad,
              doc="(x1, ..., xn) -> the element-wise mean (or sum) of each x over all ranks, one flat buffer per "
                  "call; the identity on one rank. check_hash != 0: first verify that every rank runs a graph of "
                  "this hash with equal bindings of batch_dim"))


def all_reduce(*values: Any, op: str = "mean") -> tuple[Value, ...]:
    """The mean (or sum) of each value over all ranks of the MPI job, reduced together in one flat buffer."""
    return apply("all_reduce", list(values), {"op": op})


def sync_batch_norm_train(x: Value, gamma: Value, beta: Value, eps: float, axis: int) -> tuple[Value, Value, Value]:
    """batch_norm_train over the global batch of all ranks (BatchNorm(sync=True)): the per-channel sums and counts
    meet in one all-reduce, the centred squares in a second (two-pass variance, as the one-process kernel)."""
    axes = tuple(i for i in range(x.ndim) if i != axis)
    c = x.shape[axis]
    bshape = tuple(c if i == axis else 1 for i in range(x.ndim))
    s1, n = all_reduce(red.sum(x, axis=axes, keepdims=True), red.sum(ones_like(x), axis=axes, keepdims=True), op="sum")
    mean = s1 / n
    xc = x - mean
    (s2,) = all_reduce(red.sum(xc * xc, axis=axes, keepdims=True), op="sum")
    var = s2 / n
    y = xc / ew.sqrt(var + eps) * shape_ops.reshape(gamma, bshape) + shape_ops.reshape(beta, bshape)
    unbiased = var * (n / (n - 1.0))  # what the running variance blends in, as batch_norm_train returns
    return y, shape_ops.reshape(mean, (c,)), shape_ops.reshape(unbiased, (c,))
