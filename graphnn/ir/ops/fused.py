"""Fused stable losses computed from logits: softmax_cross_entropy and sigmoid_binary_cross_entropy.
The fusion pass rewrites `cross_entropy(softmax(x))` and `binary_cross_entropy(sigmoid(z))` into these.

Imports only sibling ir modules.
"""

from __future__ import annotations

import math
from typing import Any

from ..builder import apply1, atomic, constant
from ..errors import GraphError
from ..gradutil import ones_like
from ..graph import Node, Value
from ..op import Op
from ..types import INT_DTYPES
from .loss import _ce_rule, _pointwise_loss_rule
from .reduction import max as rmax
from .reduction import sum as rsum
from .shape_ops import reshape, transpose

OPS: list[Op] = []


def _rest_count(like: Value, skip_axis: int | None) -> Value:
    """Number of per-example loss terms (all dims of `like` except `skip_axis`), as a scalar of its dtype."""
    dims = [d for i, d in enumerate(like.shape) if i != skip_axis]
    if all(isinstance(d, int) for d in dims):
        return constant(float(math.prod(dims)), dtype=like.dtype, name="count", graph=like.graph)
    ones = ones_like(like)
    # A symbolic dim is only known at call time: count it with a reduction over ones.
    rest = ones if skip_axis is None else rmax(ones, axis=skip_axis)
    return rsum(rest)


def _loss_scale(g: Value, like: Value, axis: int | None, reduction: str) -> Value:
    """The upstream gradient made broadcastable against `like` and scaled by the reduction."""
    if reduction == "none":
        if axis is None:
            return g
        return reshape(g, tuple(1 if i == axis else d for i, d in enumerate(like.shape)))
    if reduction == "sum":
        return g
    return g / _rest_count(like, axis)


# ---- softmax_cross_entropy ------------------------------------------------------------------
def _sce_grad(node: Node, gouts: list[Value | None]) -> list[Value | None]:
    # Closed form: d/dx = softmax(x) * sum(t) - t (= softmax - onehot for labels and normalized targets),
    # scaled by the reduction; d/dt = -log_softmax(x). Written with graph ops so it can be differentiated again.
    from .nn import log_softmax, one_hot, softmax
    x, y = node.inputs
    ax, red = node.attrs["axis"], node.attrs["reduction"]
    scale = _loss_scale(gouts[0], x, ax, red)
    p = softmax(x, axis=ax)
    if y.dtype in INT_DTYPES:
        depth = x.shape[ax]
        if not isinstance(depth, int):
            raise GraphError(f"softmax_cross_entropy {node.name}: the class axis {ax} must be static to "
                             f"differentiate with integer labels, got {depth!r}")
        t = one_hot(y, depth, x.dtype)
        if ax != x.ndim - 1:  # one_hot puts classes last; move them to the class axis
            last = x.ndim - 1
            t = transpose(t, tuple(range(ax)) + (last,) + tuple(range(ax, last)))
        return [(p - t) * scale, None]
    dx = p * rsum(y, axis=ax, keepdims=True) - y
    return [dx * scale, -log_softmax(x, axis=ax) * scale]


OPS.append(Op("softmax_cross_entropy", _ce_rule, 2, {"reduction": "mean", "axis": -1}, grad=_sce_grad,
              doc="cross_entropy(softmax(logits), target) computed with log-sum-exp; int labels or float targets", labels=1))


@atomic
def softmax_cross_entropy(logits: Any, target: Any, reduction: str = "mean", axis: int = -1) -> Value:
    """Cross-entropy of softmax(logits) against int labels or one-hot/soft targets, computed stably."""
    if isinstance(logits, Value):
        axis = axis % max(logits.ndim, 1)
    return apply1("softmax_cross_entropy", [logits, target], {"reduction": reduction, "axis": axis})


# ---- sigmoid_binary_cross_entropy -------------------------------------------------------------
def _sbce_grad(node: Node, gouts: list[Value | None]) -> list[Value | None]:
    # loss = softplus(z) - z * t, so d/dz = sigmoid(z) - t and d/dt = -z, each scaled by the reduction.
    from .elementwise import sigmoid

    z, t = node.inputs
    scale = _loss_scale(gouts[0], z, None, node.attrs["reduction"])
    return [(sigmoid(z) - t) * scale, -z * scale]


OPS.append(Op("sigmoid_binary_cross_entropy", _pointwise_loss_rule, 2, {"reduction": "mean"}, grad=_sbce_grad,
              doc="binary_cross_entropy(sigmoid(logits), target) = softplus(z) - z * t, computed stably", unit_range=1))


@atomic
def sigmoid_binary_cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Value:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from the logits."""
    return apply1("sigmoid_binary_cross_entropy", [logits, target], {"reduction": reduction})
