"""Losses as written in the lecture notes (on probabilities); the passes fuse them with their activations.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, atomic
from ..errors import DTypeError, ShapeError
from ..gradutil import count, unreduce
from ..graph import Value
from ..op import InferCtx, Op
from ..types import INT_DTYPES, TensorType
from .elementwise import log, sign, where
from .nn import one_hot
from .shape_ops import reshape, transpose

OPS: list[Op] = []
REDUCTIONS = ("mean", "sum", "none")


def _reduced(t: TensorType, shape: tuple, reduction: str) -> list[TensorType]:
    if reduction not in REDUCTIONS:
        raise ShapeError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return [TensorType(t.dtype, () if reduction != "none" else shape)]


def _per_element(g: Value, like: Value, keep_axes: tuple[int, ...], reduction: str) -> Value:
    """The gradient of each unreduced loss term, broadcastable against `like`; the loss's unreduced
    terms run over like's axes except `keep_axes` (the class axis of cross_entropy, for example)."""
    rows = tuple(i for i in range(like.ndim) if i not in keep_axes)
    keep = tuple(1 if i in keep_axes else d for i, d in enumerate(like.shape))
    if reduction == "none":
        return reshape(g, keep) if keep_axes else g
    g = unreduce(g, keep, rows)
    return g / count(like, rows) if reduction == "mean" else g


def _ce_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    p, y = t
    ctx.need_float(p, "probs")
    ax = ctx.norm_axis(attrs["axis"], p.rank)
    rest = p.shape[:ax] + p.shape[ax + 1:]
    if y.dtype in INT_DTYPES:
        if y.rank != p.rank - 1:
            raise ShapeError(f"integer labels must have shape {rest} (probs without axis {ax}), got {y.shape}")
        for i, (a, b) in enumerate(zip(rest, y.shape)):
            ctx.dim_eq(a, b, f"labels dim {i} vs probs")
    elif y.is_float:
        ctx.same_dtype([p, y], "probs and targets")
        if y.rank != p.rank:
            raise ShapeError(f"soft/one-hot targets must have the probs' shape {p.shape}, got {y.shape}")
        for i, (a, b) in enumerate(zip(p.shape, y.shape)):
            ctx.dim_eq(a, b, f"targets dim {i} vs probs")
    else:
        raise DTypeError(f"targets must be integer labels or float (one-hot/soft) targets, got {y.dtype}")
    return _reduced(p, rest, attrs["reduction"])


def _ce_grad(node: Any, gouts: list) -> list:
    p, y = node.inputs
    ax = node.attrs["axis"]
    gp = _per_element(gouts[0], p, (ax,), node.attrs["reduction"])
    if y.type.is_float:
        return [-(y * gp) / p, -log(p) * gp]
    hit = one_hot(y, p.shape[ax], "bool")
    if ax != p.ndim - 1:
        hit = transpose(hit, tuple(range(ax)) + (p.ndim - 1,) + tuple(range(ax, p.ndim - 1)))
    # Only the labelled entry gets -g/p; the safe divisor keeps a 0 probability elsewhere from making
    # 0/0 here or inf * 0 in a second derivative.
    return [where(hit, -gp / where(hit, p, 1), 0), None]


OPS.append(Op("cross_entropy", _ce_rule, 2, {"reduction": "mean", "axis": -1}, grad=_ce_grad,
              doc="-log p[label] (int labels) or -sum(t * log p) (float targets) along axis", labels=1))


@atomic
def cross_entropy(probs: Any, target: Any, reduction: str = "mean", axis: int = -1) -> Value:
    """Cross-entropy of probabilities against int labels or one-hot/soft targets."""
    if isinstance(probs, Value):
        axis = axis % max(probs.ndim, 1)
    return apply1("cross_entropy", [probs, target], {"reduction": reduction, "axis": axis})


def _pointwise_loss_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0], "prediction")
    ctx.same_dtype(t, "prediction and target")
    if t[0].rank != t[1].rank:
        raise ShapeError(f"prediction and target shapes differ: {t[0].shape} vs {t[1].shape}")
    for i, (a, b) in enumerate(zip(t[0].shape, t[1].shape)):
        ctx.dim_eq(a, b, f"dim {i} of prediction vs target")
    return _reduced(t[0], t[0].shape, attrs["reduction"])


def _bce_grad(node: Any, gouts: list) -> list:
    # d/dp = (p - t) / (p (1 - p)); d/dt = log(1 - p) - log(p).
    from .elementwise import log

    p, t = node.inputs
    g = _per_element(gouts[0], p, (), node.attrs["reduction"])
    return [g * (p - t) / (p * (1 - p)), g * (log(1 - p) - log(p))]


def _mse_grad(node: Any, gouts: list) -> list:
    p, t = node.inputs
    gp = _per_element(gouts[0], p, (), node.attrs["reduction"]) * (2 * (p - t))
    return [gp, -gp]


def _mae_grad(node: Any, gouts: list) -> list:
    p, t = node.inputs
    gp = _per_element(gouts[0], p, (), node.attrs["reduction"]) * sign(p - t)
    return [gp, -gp]


OPS.append(Op("binary_cross_entropy", _pointwise_loss_rule, 2, {"reduction": "mean"}, grad=_bce_grad,
              doc="-(t log p + (1-t) log(1-p)) elementwise", unit_range=1))
OPS.append(Op("mse", _pointwise_loss_rule, 2, {"reduction": "mean"}, grad=_mse_grad, doc="(p - t)^2"))
OPS.append(Op("mae", _pointwise_loss_rule, 2, {"reduction": "mean"}, grad=_mae_grad,
              doc="|p - t|; gradient sign(p - t), 0 at 0"))


@atomic
def binary_cross_entropy(probs: Any, target: Any, reduction: str = "mean") -> Value:
    """Binary cross-entropy of probabilities in (0, 1) against targets in [0, 1]."""
    return apply1("binary_cross_entropy", [probs, target], {"reduction": reduction})


@atomic
def mse(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """Mean (or summed) squared error."""
    return apply1("mse", [pred, target], {"reduction": reduction})


@atomic
def mae(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """Mean (or summed) absolute error."""
    return apply1("mae", [pred, target], {"reduction": reduction})


def _kl_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.same_dtype(t, "p and q")
    ctx.need_float(t[0], "p")
    if t[0].rank != t[1].rank or t[0].rank == 0:
        raise ShapeError(f"p and q must have the same shape of rank >= 1: {t[0].shape} vs {t[1].shape}")
    for i, (a, b) in enumerate(zip(t[0].shape, t[1].shape)):
        ctx.dim_eq(a, b, f"dim {i} of p vs q")
    return _reduced(t[0], t[0].shape[:-1], attrs["reduction"])


def _kl_grad(node: Any, gouts: list) -> list:
    # d/dp = log p - log q + 1 and d/dq = -p / q where p > 0; where p == 0 the term is 0 and so is its
    # gradient (the one-sided derivative in p is -inf there; we take the 0 log 0 = 0 convention's 0).
    from .elementwise import greater, log, where

    p, q = node.inputs
    g = _per_element(gouts[0], p, (p.ndim - 1,), node.attrs["reduction"])
    pos = greater(p, 0)
    gp = where(pos, g * (log(where(pos, p, 1)) - log(q) + 1), 0)
    return [gp, -(g * p) / q]


OPS.append(Op("kl_div", _kl_rule, 2, {"reduction": "mean"}, grad=_kl_grad,
              doc="KL(p || q) = sum p (log p - log q) over the last axis (0 log 0 = 0); mean over rows"))


@atomic
def kl_div(p: Any, q: Any, reduction: str = "mean") -> Value:
    """KL(p || q) of two distributions along the last axis; 'mean' averages over rows."""
    return apply1("kl_div", [p, q], {"reduction": reduction})
