"""Normalization ops: batch_norm (mode-dependent), its lowered forms batch_norm_train / batch_norm_infer,
and layer_norm. Gradients are written with elementwise and reduction ops.

How train/eval reaches the graph: the builder `batch_norm` emits one mode-dependent node with outputs
(y, new_running_mean, new_running_var); the layer puts the last two into `updates=`. `gn.compile(mode=...)`
stores the mode in `graph.facts.mode` and the `mode` pass (graphnn/passes/mode.py, before autodiff)
lowers the node: in "train" to `batch_norm_train` (batch statistics) plus the momentum blend of the running
statistics; in "eval" to `batch_norm_infer` (running statistics), with the "new" running statistics being
the old ones unchanged. Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..builder import apply, apply1, atomic, constant
from ..errors import ShapeError
from ..gradutil import backprop, ones_like
from ..graph import Node, Value
from ..op import InferCtx, Op
from ..types import TensorType
from . import elementwise as ew
from . import reduction as red
from . import shape_ops

OPS: list[Op] = []


def _other_axes(rank: int, axis: int) -> tuple[int, ...]:
    return tuple(i for i in range(rank) if i != axis)


def _per_channel(v: Value, axis: int, rank: int) -> Value:
    """Reshape a (C,) value so it broadcasts along `axis` of a rank-`rank` tensor."""
    return shape_ops.reshape(v, tuple(v.shape[0] if i == axis else 1 for i in range(rank)))


def _channel_rule(ctx: InferCtx, t: list[TensorType], attrs: dict, what: str, n_vec: int) -> TensorType:
    x = t[0]
    ctx.need_float(x, "x")
    ctx.same_dtype(t, f"{what} inputs")
    if x.rank < 2:
        raise ShapeError(f"{what} needs x of rank >= 2 (N, C, ...), got {x}")
    ax = ctx.norm_axis(attrs["axis"], x.rank)
    if attrs["eps"] <= 0:
        raise ShapeError(f"{what}: eps must be positive, got {attrs['eps']}")
    c = x.shape[ax]
    for i, v in enumerate(t[1:1 + n_vec]):
        if v.rank != 1:
            raise ShapeError(f"{what}: per-channel input {i + 1} must have shape ({c},), got {v}")
        ctx.dim_eq(v.shape[0], c, f"{what}: per-channel input {i + 1} vs channels of x (axis {ax})")
    return TensorType(x.dtype, (c,))


def _bn_train_backward(x: Value, gamma: Value, gy: Value | None, gmean: Value | None, gvar: Value | None,
                       axis: int, eps: float) -> tuple[Value | None, Value | None, Value | None]:
    """Gradients of (y, batch mean, unbiased batch var) -> (gx, ggamma, gbeta)."""
    r, rank = _other_axes(x.ndim, axis), x.ndim
    mu = red.mean(x, r, keepdims=True)
    xc = x - mu
    rstd = 1.0 / ew.sqrt(red.mean(xc * xc, r, keepdims=True) + eps)
    xhat = xc * rstd
    terms, ggamma, gbeta = [], None, None
    if gy is not None:
        gbeta = red.sum(gy, r)
        ggamma = red.sum(gy * xhat, r)
        gxh = gy * _per_channel(gamma, axis, rank)
        # d/dx of normalize(x): rstd * (g - mean(g) - xhat * mean(g * xhat)), all means over the batch axes.
        terms.append(rstd * (gxh - red.mean(gxh, r, keepdims=True) - xhat * red.mean(gxh * xhat, r, keepdims=True)))
    if gmean is not None or gvar is not None:
        count = red.sum(ones_like(x), r, keepdims=True)  # M, known only at run time when the batch is symbolic
        if gmean is not None:
            terms.append(shape_ops.broadcast_to(_per_channel(gmean, axis, rank) / count, x.shape))
        if gvar is not None:  # unbiased var = sum(xc^2) / (M - 1)
            terms.append(_per_channel(gvar, axis, rank) * 2.0 * xc / ew.maximum(count - 1.0, 1.0))
    gx = None
    for t in terms:
        gx = t if gx is None else gx + t
    return gx, ggamma, gbeta


# ---- batch_norm (mode-dependent; lowered by the mode pass) -------------------------------------------
def _batch_norm_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    vec = _channel_rule(ctx, t, attrs, "batch_norm", 4)
    if not 0.0 <= attrs["momentum"] <= 1.0:
        raise ShapeError(f"batch_norm: momentum must lie in [0, 1], got {attrs['momentum']}")
    return [t[0], vec, vec]


def _batch_norm_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    # Training semantics (what the node means before lowering): new_rm = (1-m) rm + m mean, same for var.
    x, gamma = node.inputs[0], node.inputs[1]
    m = node.attrs["momentum"]
    gx, ggamma, gbeta = _bn_train_backward(x, gamma, g[0], None if g[1] is None else g[1] * m,
                                           None if g[2] is None else g[2] * m, node.attrs["axis"], node.attrs["eps"])
    return [gx, ggamma, gbeta, None if g[1] is None else g[1] * (1.0 - m), None if g[2] is None else g[2] * (1.0 - m)]


_BN = {"momentum": 0.1, "eps": 1e-5, "axis": 1, "sync": False}  # sync: statistics over all MPI ranks
OPS.append(Op("batch_norm", _batch_norm_rule, 5, dict(_BN), grad=_batch_norm_grad,
              doc="(x, gamma, beta, running_mean, running_var) -> (y, new running mean, new running var); "
                  "mode-dependent: the mode pass lowers it to batch_norm_train or batch_norm_infer"))


class BatchNormOut(NamedTuple):
    """The normalized output and the running statistics to store (put them in `updates=`)."""

    y: Value
    running_mean: Value
    running_var: Value


@atomic
def batch_norm(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any, momentum: float = 0.1,
               eps: float = 1e-5, axis: int = 1, sync: bool = False) -> BatchNormOut:
    """Batch normalization over every axis but `axis`; train mode uses batch statistics, eval the running ones.
    `sync=True`: the train-mode statistics are those of the global batch over all MPI ranks."""
    y, rm, rv = apply("batch_norm", [x, gamma, beta, running_mean, running_var],
                      {"momentum": float(momentum), "eps": float(eps), "axis": int(axis), "sync": bool(sync)})
    return BatchNormOut(y, rm, rv)


# ---- batch_norm_train: normalize with batch statistics -----------------------------------------------
def _batch_norm_train_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    vec = _channel_rule(ctx, t, attrs, "batch_norm_train", 2)
    return [t[0], vec, vec]


def _batch_norm_train_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    x, gamma, _ = node.inputs
    return list(_bn_train_backward(x, gamma, g[0], g[1], g[2], node.attrs["axis"], node.attrs["eps"]))


OPS.append(Op("batch_norm_train", _batch_norm_train_rule, 3, {"eps": 1e-5, "axis": 1}, grad=_batch_norm_train_grad,
              doc="(x, gamma, beta) -> (gamma * (x - mean) / sqrt(var + eps) + beta, batch mean, unbiased batch "
                  "var); statistics over every axis but `axis`, normalization with the biased var"))


def batch_norm_train(x: Any, gamma: Any, beta: Any, eps: float = 1e-5, axis: int = 1) -> tuple[Value, Value, Value]:
    """Batch normalization with batch statistics; also returns the batch mean and unbiased variance."""
    return apply("batch_norm_train", [x, gamma, beta], {"eps": float(eps), "axis": int(axis)})  # type: ignore[return-value]


# ---- batch_norm_infer: normalize with given (running) statistics ---------------------------------------
def _batch_norm_infer_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    _channel_rule(ctx, t, attrs, "batch_norm_infer", 4)
    return [t[0]]


def _batch_norm_infer_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    gy = g[0]
    if gy is None:
        return [None] * 5
    x, gamma, _, mean, var = node.inputs
    ax, rank = node.attrs["axis"], x.ndim
    r = _other_axes(rank, ax)
    inv = 1.0 / ew.sqrt(var + node.attrs["eps"])
    xc = x - _per_channel(mean, ax, rank)
    gbeta = red.sum(gy, r)
    gyxc = red.sum(gy * xc, r)
    return [gy * _per_channel(gamma * inv, ax, rank), gyxc * inv, gbeta, -(gbeta * gamma * inv),
            gyxc * gamma * (-0.5) * inv * inv * inv]


OPS.append(Op("batch_norm_infer", _batch_norm_infer_rule, 5, {"eps": 1e-5, "axis": 1}, grad=_batch_norm_infer_grad,
              doc="(x, gamma, beta, mean, var) -> gamma * (x - mean) / sqrt(var + eps) + beta, per channel"))


def batch_norm_infer(x: Any, gamma: Any, beta: Any, mean: Any, var: Any, eps: float = 1e-5, axis: int = 1) -> Value:
    """Batch normalization with fixed statistics (eval mode)."""
    return apply1("batch_norm_infer", [x, gamma, beta, mean, var], {"eps": float(eps), "axis": int(axis)})


# ---- layer_norm: normalize over the trailing axes -----------------------------------------------------
def _layer_norm_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x = t[0]
    ctx.need_float(x, "x")
    ctx.same_dtype(t, "layer_norm inputs")
    ax = attrs["axis"]
    if not 0 <= ax < x.rank:
        raise ShapeError(f"axis {ax} out of range for {x}")
    if attrs["eps"] <= 0:
        raise ShapeError(f"eps must be positive, got {attrs['eps']}")
    for name, v in zip(("gamma", "beta"), t[1:]):
        if v.rank != x.rank - ax:
            raise ShapeError(f"{name} must have the normalized shape {x.shape[ax:]}, got {v}")
        for i, (a, b) in enumerate(zip(v.shape, x.shape[ax:])):
            ctx.dim_eq(a, b, f"{name} must have the normalized shape {x.shape[ax:]}; axis {i}")
    return [x]


def layer_norm_backward_ops(x: Value, gamma: Value, gy: Value, ax: int, eps: float) -> tuple[Value, Value]:
    """(gx, ggamma) of layer_norm written with elementwise and reduction ops: layer_norm_grad's meaning, and what
    its own gradient (layer norm's second order) differentiates."""
    r, lead = tuple(range(ax, x.ndim)), tuple(range(ax))
    mu = red.mean(x, r, keepdims=True)
    xc = x - mu
    rstd = 1.0 / ew.sqrt(red.mean(xc * xc, r, keepdims=True) + eps)
    xhat = xc * rstd
    gxh = gy * gamma
    gx = rstd * (gxh - red.mean(gxh, r, keepdims=True) - xhat * red.mean(gxh * xhat, r, keepdims=True))
    ggamma = red.sum(gy * xhat, lead) if lead else gy * xhat
    return gx, ggamma


def _layer_norm_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    gy = g[0]
    if gy is None:
        return [None, None, None]
    x, gamma, _ = node.inputs
    ax = node.attrs["axis"]
    lead = tuple(range(ax))
    gx, ggamma = layer_norm_grad(x, gamma, gy, axis=ax, eps=node.attrs["eps"])
    gbeta = red.sum(gy, lead) if lead else gy
    return [gx, ggamma, gbeta]


OPS.append(Op("layer_norm", _layer_norm_rule, 3, {"axis": -1, "eps": 1e-5}, grad=_layer_norm_grad,
              doc="(x, gamma, beta) -> gamma * (x - mean) / sqrt(var + eps) + beta, statistics over axes axis.."))


@atomic
def layer_norm(x: Any, gamma: Any = None, beta: Any = None, axis: int = -1, eps: float = 1e-5) -> Value:
    """Layer normalization over axes `axis`..last (per sample); gamma/beta default to 1/0."""
    if not isinstance(x, Value):
        raise ShapeError("layer_norm: x must be a graph value")
    ax = axis % x.ndim if -x.ndim <= axis < x.ndim else axis
    norm_shape = x.shape[ax:] if isinstance(ax, int) and 0 <= ax < x.ndim else ()
    if (gamma is None or beta is None) and not all(isinstance(d, int) for d in norm_shape):
        raise ShapeError(f"layer_norm: default gamma/beta need a static normalized shape, got {norm_shape}")
    if gamma is None:
        gamma = constant(np.ones(norm_shape, x.dtype), name="ln_gamma", graph=x.graph)
    if beta is None:
        beta = constant(np.zeros(norm_shape, x.dtype), name="ln_beta", graph=x.graph)
    return apply1("layer_norm", [x, gamma, beta], {"axis": int(ax), "eps": float(eps)})


# ---- layer_norm_grad: layer norm's backward in closed form (one kernel instead of ~20 graph ops) ----------------
def _layer_norm_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    _layer_norm_rule(ctx, t[:2], attrs)
    x, gy = t[0], t[2]
    ctx.same_dtype(t, "layer_norm_grad inputs")
    if gy.rank != x.rank:
        raise ShapeError(f"layer_norm_grad: gy must have x's shape {x.shape}, got {gy}")
    for i, (a, b) in enumerate(zip(gy.shape, x.shape)):
        ctx.dim_eq(a, b, f"layer_norm_grad: gy must have x's shape {x.shape}; axis {i}")
    return [x, t[1]]


def _layer_norm_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    # Second order: the vector-Jacobian product of the same gradients written with graph ops, walked over just
    # the nodes that form builds (x, gamma and gy are independent inputs here, even when gy depends on x).
    x, gamma, gy = node.inputs
    start = len(x.graph.nodes)
    outs = layer_norm_backward_ops(x, gamma, gy, node.attrs["axis"], node.attrs["eps"])
    grads: dict[int, Value] = {o.id: go for o, go in zip(outs, g) if go is not None}
    backprop(x.graph.nodes[start:], grads)
    return [grads.get(v.id) for v in (x, gamma, gy)]


OPS.append(Op("layer_norm_grad", _layer_norm_grad_rule, 3, {"axis": -1, "eps": 1e-5}, grad=_layer_norm_grad_grad,
              flops=14, doc="(x, gamma, gy) -> (gx, ggamma): layer_norm's gradients w.r.t. x and gamma for the "
                            "output gradient gy, in closed form (gbeta is sum(gy) over the leading axes)"))


@atomic
def layer_norm_grad(x: Any, gamma: Any, gy: Any, axis: int = -1, eps: float = 1e-5) -> tuple[Value, Value]:
    """layer_norm's backward in one op: (gx, ggamma) for the output gradient gy (one kernel: the statistics,
    normalized x and both gradients in a few passes)."""
    if not isinstance(x, Value):
        raise ShapeError("layer_norm_grad: x must be a graph value")
    ax = axis % x.ndim if -x.ndim <= axis < x.ndim else axis
    return apply("layer_norm_grad", [x, gamma, gy], {"axis": int(ax), "eps": float(eps)})  # type: ignore[return-value]


# ---- group and instance normalization: layer_norm over (C/G, *spatial) of a (N, G, -1) view ----------------------
@atomic
def group_norm(x: Any, num_groups: int, gamma: Any = None, beta: Any = None, eps: float = 1e-5) -> Value:
    """Normalize each sample's channels in `num_groups` groups (statistics over the group's channels and all
    spatial positions), then scale and shift per channel by gamma/beta (C,), which default to 1/0."""
    if not isinstance(x, Value) or x.ndim < 2:
        raise ShapeError("group_norm: x must be a graph value of shape (N, C, ...)")
    c, rest = x.shape[1], x.shape[2:]
    if not isinstance(c, int) or not all(isinstance(d, int) for d in rest):
        raise ShapeError(f"group_norm: channels and spatial dims of {x.type} must be static")
    if num_groups <= 0 or c % num_groups:
        raise ShapeError(f"group_norm: {num_groups} groups do not divide the {c} channels of {x.type}")
    per = (c // num_groups) * int(np.prod(rest, dtype=np.int64))
    ones = constant(np.ones(per, x.dtype), name="gn_one", graph=x.graph)
    zeros = constant(np.zeros(per, x.dtype), name="gn_zero", graph=x.graph)
    xg = shape_ops.reshape(x, (-1, num_groups, per))
    y = shape_ops.reshape(layer_norm(xg, ones, zeros, axis=2, eps=eps), (-1, c, *rest))
    bshape = (c,) + (1,) * len(rest)
    if gamma is not None:
        y = y * shape_ops.reshape(gamma, bshape)
    if beta is not None:
        y = y + shape_ops.reshape(beta, bshape)
    return y


def instance_norm(x: Any, gamma: Any = None, beta: Any = None, eps: float = 1e-5) -> Value:
    """Normalize each sample's channels separately over their spatial positions (group_norm with C groups)."""
    if not isinstance(x, Value) or x.ndim < 3 or not isinstance(x.shape[1], int):
        raise ShapeError("instance_norm: x must be a graph value of shape (N, C, spatial...) with static C")
    return group_norm(x, x.shape[1], gamma, beta, eps)
