"""Elementwise ops: arithmetic, comparisons, activations, where, cast. NumPy broadcasting throughout.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1
from ..errors import DTypeError
from ..graph import Value
from ..op import REQUIRED, InferCtx, Op
from ..types import TensorType, normalize_dtype

OPS: list[Op] = []


def _binary_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    dt = ctx.same_dtype(t)
    return [TensorType(dt, ctx.broadcast(t[0].shape, t[1].shape))]


def _compare_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.same_dtype(t)
    return [TensorType("bool", ctx.broadcast(t[0].shape, t[1].shape))]


def _same_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return [t[0]]


def _float_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    return [t[0]]


def _binary_float_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    out = _binary_rule(ctx, t, attrs)
    ctx.need_float(t[0], "operands")
    return out


def _binary(name: str, doc: str, float_only: bool = False) -> Op:
    op = Op(name, _binary_float_rule if float_only else _binary_rule, 2, elementwise=True, doc=doc)
    OPS.append(op)
    return op


def _unary(name: str, doc: str, float_only: bool = True, **kw: Any) -> Op:
    op = Op(name, _float_rule if float_only else _same_rule, 1, elementwise=True, doc=doc, **kw)
    OPS.append(op)
    return op


# ---- arithmetic -------------------------------------------------------------------
_binary("add", "a + b")
_binary("sub", "a - b")
_binary("mul", "a * b")
_binary("div", "a / b (true division; ints are an error, cast first)", float_only=True)
_binary("pow", "a ** b")
_binary("maximum", "elementwise max; gradient goes to a where a >= b (ties go to a)")
_binary("minimum", "elementwise min; gradient goes to a where a <= b (ties go to a)")


def add(a: Any, b: Any) -> Value:
    """a + b with broadcasting."""
    return apply1("add", [a, b])


def sub(a: Any, b: Any) -> Value:
    """a - b with broadcasting."""
    return apply1("sub", [a, b])


def mul(a: Any, b: Any) -> Value:
    """a * b with broadcasting."""
    return apply1("mul", [a, b])


def div(a: Any, b: Any) -> Value:
    """a / b with broadcasting (floating point only)."""
    return apply1("div", [a, b])


def pow(a: Any, b: Any) -> Value:  # noqa: A001 - mirrors the operator
    """a ** b with broadcasting."""
    return apply1("pow", [a, b])


def maximum(a: Any, b: Any) -> Value:
    """Elementwise maximum."""
    return apply1("maximum", [a, b])


def minimum(a: Any, b: Any) -> Value:
    """Elementwise minimum."""
    return apply1("minimum", [a, b])


# ---- comparisons (not differentiable: their outputs are bool) -------------------------
for _n in ("greater", "less", "greater_equal", "less_equal", "equal"):
    OPS.append(Op(_n, _compare_rule, 2, elementwise=True, nondiff="boolean output", doc=f"elementwise {_n}"))


def greater(a: Any, b: Any) -> Value:
    """a > b, elementwise, bool."""
    return apply1("greater", [a, b])


def less(a: Any, b: Any) -> Value:
    """a < b, elementwise, bool."""
    return apply1("less", [a, b])


def greater_equal(a: Any, b: Any) -> Value:
    """a >= b, elementwise, bool."""
    return apply1("greater_equal", [a, b])


def less_equal(a: Any, b: Any) -> Value:
    """a <= b, elementwise, bool."""
    return apply1("less_equal", [a, b])


def equal(a: Any, b: Any) -> Value:
    """a == b, elementwise, bool."""
    return apply1("equal", [a, b])


# ---- unary ------------------------------------------------------------------------
_unary("neg", "-x", float_only=False)
_unary("abs", "|x|; gradient sign(x), 0 at 0", float_only=False)
_unary("exp", "e ** x")
_unary("log", "natural log")
_unary("sqrt", "square root")
_unary("relu", "max(x, 0); gradient 0 at x == 0")
_unary("sigmoid", "1 / (1 + exp(-x)), computed without overflow")
_unary("tanh", "hyperbolic tangent")
_unary("softplus", "log(1 + exp(x)), computed stably")
_unary("sign", "-1, 0 or 1", nondiff="piecewise constant")
OPS.append(Op("leaky_relu", _float_rule, 1, {"alpha": 0.01}, elementwise=True, doc="x if x > 0 else alpha*x"))
OPS.append(Op("stop_gradient", _same_rule, 1, doc="identity whose gradient is zero"))
OPS.append(Op("identity", _same_rule, 1, elementwise=True, doc="identity"))


def neg(x: Any) -> Value:
    """-x."""
    return apply1("neg", [x])


def abs(x: Any) -> Value:  # noqa: A001
    """|x|."""
    return apply1("abs", [x])


def exp(x: Any) -> Value:
    """e ** x."""
    return apply1("exp", [x])


def log(x: Any) -> Value:
    """Natural logarithm."""
    return apply1("log", [x])


def sqrt(x: Any) -> Value:
    """Square root."""
    return apply1("sqrt", [x])


def relu(x: Any) -> Value:
    """max(x, 0)."""
    return apply1("relu", [x])


def sigmoid(x: Any) -> Value:
    """Logistic sigmoid."""
    return apply1("sigmoid", [x])


def tanh(x: Any) -> Value:
    """Hyperbolic tangent."""
    return apply1("tanh", [x])


def softplus(x: Any) -> Value:
    """log(1 + exp(x)), stable for large |x|."""
    return apply1("softplus", [x])


def sign(x: Any) -> Value:
    """Sign of x."""
    return apply1("sign", [x])


def leaky_relu(x: Any, alpha: float = 0.01) -> Value:
    """x if x > 0 else alpha * x."""
    return apply1("leaky_relu", [x], {"alpha": float(alpha)})


def stop_gradient(x: Any) -> Value:
    """Identity in the forward pass; blocks gradients (used for frozen layers)."""
    return apply1("stop_gradient", [x])


def identity(x: Any) -> Value:
    """Identity."""
    return apply1("identity", [x])


# ---- prelu: learnable slope, broadcast against x ------------------------------------
def _prelu_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    ctx.same_dtype(t, "x and slope")
    return [TensorType(t[0].dtype, ctx.broadcast(t[0].shape, t[1].shape))]


OPS.append(Op("prelu", _prelu_rule, 2, elementwise=True, doc="x if x > 0 else slope * x (slope broadcasts)"))


def prelu(x: Any, slope: Any) -> Value:
    """Parametric ReLU: x if x > 0 else slope * x."""
    return apply1("prelu", [x, slope])


# ---- where: route by a bool condition -----------------------------------------------
def _where_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    if t[0].dtype != "bool":
        raise DTypeError(f"condition must be bool, got {t[0].dtype}")
    dt = ctx.same_dtype(t[1:], "branches")
    return [TensorType(dt, ctx.broadcast(t[0].shape, t[1].shape, t[2].shape))]


OPS.append(Op("where", _where_rule, 3, elementwise=True, doc="cond ? a : b; the gradient is routed by cond"))


def where(cond: Any, a: Any, b: Any) -> Value:
    """Elementwise choice: a where cond else b."""
    like = a if isinstance(a, Value) else b if isinstance(b, Value) else None
    if like is not None:
        from ..builder import as_value

        a, b = as_value(a, like, like.graph), as_value(b, like, like.graph)
    return apply1("where", [cond, a, b])


# ---- cast: the only way to change a dtype ---------------------------------------------
def _cast_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return [t[0].with_dtype(attrs["dtype"])]


OPS.append(Op("cast", _cast_rule, 1, {"dtype": REQUIRED}, elementwise=True, doc="convert dtype"))


def cast(x: Any, dtype: Any) -> Value:
    """Convert to `dtype` (graphnn never converts implicitly)."""
    return apply1("cast", [x], {"dtype": normalize_dtype(dtype)})
