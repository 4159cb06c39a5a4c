"""Neural-network ops without parameters: softmax, log_softmax, one_hot, maxout, and the smooth activations gelu
and silu.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, atomic, checking
from ..errors import DTypeError, GraphError, ShapeError
from ..graph import Value
from ..op import REQUIRED, InferCtx, Op
from ..types import TensorType, normalize_dtype
from .elementwise import sigmoid
from .shape_ops import reshape, transpose

OPS: list[Op] = []


def _axis_float_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    ctx.norm_axis(attrs["axis"], t[0].rank)
    return [t[0]]


def _softmax_grad(node: Any, gouts: list) -> list:
    # dx = y * (g - sum(g * y)) along the axis (the Jacobian diag(y) - y y^T applied to g).
    from .reduction import sum as rsum

    y, g, ax = node.outputs[0], gouts[0], node.attrs["axis"]
    return [y * (g - rsum(g * y, axis=ax, keepdims=True))]


def _log_softmax_grad(node: Any, gouts: list) -> list:
    # dx = g - softmax(x) * sum(g) along the axis.
    from .reduction import sum as rsum

    g, ax = gouts[0], node.attrs["axis"]
    return [g - softmax(node.inputs[0], axis=ax) * rsum(g, axis=ax, keepdims=True)]


OPS.append(Op("softmax", _axis_float_rule, 1, {"axis": -1}, grad=_softmax_grad, nonnegative=True, flops=5,
              doc="exp(x - max) / sum(exp(x - max)) along axis"))
OPS.append(Op("log_softmax", _axis_float_rule, 1, {"axis": -1}, grad=_log_softmax_grad, flops=5,
              doc="x - logsumexp(x) along axis"))


def _axis(x: Any, axis: int) -> int:
    if isinstance(x, Value) and x.ndim:
        if not -x.ndim <= axis < x.ndim:
            raise ShapeError(f"axis {axis} out of range for {x.name}: {x.type}")
        return axis % x.ndim
    return axis


@atomic
def softmax(x: Any, axis: int = -1) -> Value:
    """Softmax along `axis` (max-shifted, so it never overflows)."""
    with checking("softmax", [x], {"axis": axis}):
        axis = _axis(x, axis)
    return apply1("softmax", [x], {"axis": axis})


@atomic
def log_softmax(x: Any, axis: int = -1) -> Value:
    """log(softmax(x)) computed as x - logsumexp(x)."""
    with checking("log_softmax", [x], {"axis": axis}):
        axis = _axis(x, axis)
    return apply1("log_softmax", [x], {"axis": axis})


def _one_hot_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    if t[0].dtype not in ("int32", "int64", "int8", "uint8"):
        raise DTypeError(f"one_hot needs integer labels, got {t[0].dtype}")
    if attrs["depth"] <= 0:
        raise ShapeError(f"depth must be positive, got {attrs['depth']}")
    return [TensorType(attrs["dtype"], t[0].shape + (attrs["depth"],))]


OPS.append(Op("one_hot", _one_hot_rule, 1, {"depth": REQUIRED, "dtype": "float32"}, nondiff="integer input",
              doc="labels -> one-hot rows along a new last axis", labels=0))


@atomic
def one_hot(labels: Any, depth: int, dtype: Any = "float32") -> Value:
    """One-hot encode integer labels into a new last axis of size `depth`."""
    return apply1("one_hot", [labels], {"depth": int(depth), "dtype": normalize_dtype(dtype)})


def _maxout_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    ax, k = ctx.norm_axis(attrs["axis"], t[0].rank), attrs["pieces"]
    d = t[0].shape[ax]
    if not isinstance(d, int) or k <= 0 or d % k:
        raise ShapeError(f"maxout: axis {ax} has size {d}, not a multiple of pieces={k}")
    shape = list(t[0].shape)
    shape[ax] = d // k
    return [t[0].with_shape(tuple(shape))]


def _maxout_grad(node: Any, gouts: list) -> list:
    # Route each group's gradient to its first maximal unit: one_hot(argmax) of the grouped view is a
    # constant mask (argmax picks the first max on ties), so the rule stays differentiable in g.
    from .reduction import argmax
    x, g = node.inputs[0], gouts[0]
    ax, k = node.attrs["axis"], node.attrs["pieces"]
    s = x.shape
    grouped = s[:ax] + (s[ax] // k, k) + s[ax + 1:]  # type: ignore[operator]
    mask = one_hot(argmax(reshape(x, grouped), axis=ax + 1), k, x.dtype)  # groups' k on the last axis
    last = len(grouped) - 1
    mask = transpose(mask, tuple(range(ax + 1)) + (last,) + tuple(range(ax + 1, last)))
    gexp = reshape(g, s[:ax] + (s[ax] // k, 1) + s[ax + 1:])  # type: ignore[operator]
    return [reshape(mask * gexp, s)]


OPS.append(Op("maxout", _maxout_rule, 1, {"pieces": REQUIRED, "axis": -1}, grad=_maxout_grad, gates=True,
              doc="max over groups of `pieces` consecutive features; gradient to the first max on ties"))


@atomic
def maxout(x: Any, pieces: int, axis: int = -1) -> Value:
    """Maxout: split `axis` into groups of `pieces` consecutive units and keep each group's max."""
    with checking("maxout", [x], {"pieces": pieces, "axis": axis}):
        axis = _axis(x, axis)
    return apply1("maxout", [x], {"pieces": int(pieces), "axis": axis})


# ---- smooth activations: gelu (exact or tanh form) and silu --------------------------------------
SQRT_2_OVER_PI = 0.7978845608028654
GELU_CUBIC = 0.044715  # the tanh form's cubic coefficient (Hendrycks & Gimpel; PyTorch approximate="tanh")


def _float_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    return [t[0]]


def _gelu_grad(node: Any, gouts: list) -> list:
    # exact: d/dx x*Phi(x) = Phi(x) + x*phi(x); tanh form: with u = k(x + c x^3), t = tanh(u),
    # d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2). Both in differentiable ops.
    # One closed-form op (nn_grads.py) instead of these formulas as graph ops (erf plus a 9-op product chain).
    from .nn_grads import gelu_grad

    return [gelu_grad(node.inputs[0], gouts[0], node.attrs["approximate"])]


OPS.append(Op("gelu", _float_rule, 1, {"approximate": "none"}, grad=_gelu_grad, elementwise=True, flops=10,
              doc="x * Phi(x) (approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))))"))


@atomic
def gelu(x: Any, approximate: str = "none") -> Value:
    """Gaussian error linear unit x * Phi(x); approximate="tanh" is the tanh form (as PyTorch and ONNX)."""
    with checking("gelu", [x], {"approximate": approximate}):
        if approximate not in ("none", "tanh"):
            raise GraphError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply1("gelu", [x], {"approximate": approximate})


def _silu_grad(node: Any, gouts: list) -> list:
    x = node.inputs[0]
    s = sigmoid(x)
    return [gouts[0] * (s * (x * (1.0 - s) + 1.0))]  # d/dx x s(x) = s + x s (1 - s)


OPS.append(Op("silu", _float_rule, 1, grad=_silu_grad, elementwise=True, flops=5,
              doc="x * sigmoid(x) (swish), computed without overflow"))


@atomic
def silu(x: Any) -> Value:
    """SiLU / swish: x * sigmoid(x)."""
    return apply1("silu", [x])
