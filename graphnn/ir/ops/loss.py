"""Losses as written in the lecture notes (on probabilities); the passes fuse them with their activations.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1
from ..errors import DTypeError, ShapeError
from ..graph import Value
from ..op import InferCtx, Op
from ..types import INT_DTYPES, TensorType

OPS: list[Op] = []
REDUCTIONS = ("mean", "sum", "none")


def _reduced(t: TensorType, shape: tuple, reduction: str) -> list[TensorType]:
    if reduction not in REDUCTIONS:
        raise ShapeError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return [TensorType(t.dtype, () if reduction != "none" else shape)]


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


OPS.append(Op("cross_entropy", _ce_rule, 2, {"reduction": "mean", "axis": -1},
              doc="-log p[label] (int labels) or -sum(t * log p) (float targets) along axis"))


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


OPS.append(Op("binary_cross_entropy", _pointwise_loss_rule, 2, {"reduction": "mean"},
              doc="-(t log p + (1-t) log(1-p)) elementwise"))
OPS.append(Op("mse", _pointwise_loss_rule, 2, {"reduction": "mean"}, doc="(p - t)^2"))
OPS.append(Op("mae", _pointwise_loss_rule, 2, {"reduction": "mean"}, doc="|p - t|; gradient sign(p - t), 0 at 0"))


def binary_cross_entropy(probs: Any, target: Any, reduction: str = "mean") -> Value:
    """Binary cross-entropy of probabilities in (0, 1) against targets in [0, 1]."""
    return apply1("binary_cross_entropy", [probs, target], {"reduction": reduction})


def mse(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """Mean (or summed) squared error."""
    return apply1("mse", [pred, target], {"reduction": reduction})


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


OPS.append(Op("kl_div", _kl_rule, 2, {"reduction": "mean"},
              doc="KL(p || q) = sum p (log p - log q) over the last axis (0 log 0 = 0); mean over rows"))


def kl_div(p: Any, q: Any, reduction: str = "mean") -> Value:
    """KL(p || q) of two distributions along the last axis; 'mean' averages over rows."""
    return apply1("kl_div", [p, q], {"reduction": reduction})
