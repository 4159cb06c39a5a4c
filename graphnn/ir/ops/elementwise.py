"""Elementwise ops: arithmetic, comparisons, activations, where, cast. NumPy broadcasting throughout.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, as_value, atomic, checking
from ..errors import DTypeError
from ..gradutil import sum_to_shape
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


def _binary(name: str, doc: str, grad: Any, float_only: bool = False, **kw: Any) -> Op:
    op = Op(name, _binary_float_rule if float_only else _binary_rule, 2, grad=grad, elementwise=True, doc=doc, **kw)
    OPS.append(op)
    return op


def _unary(name: str, doc: str, float_only: bool = True, **kw: Any) -> Op:
    op = Op(name, _float_rule if float_only else _same_rule, 1, elementwise=True, doc=doc, **kw)
    OPS.append(op)
    return op


# ---- arithmetic -------------------------------------------------------------------
# Gradients of broadcasting binary ops are summed back to each operand's shape.
def _both(node: Any, ga: Value, gb: Value) -> list[Value | None]:
    a, b = node.inputs
    return [sum_to_shape(ga, a.shape), sum_to_shape(gb, b.shape)]


def _add_grad(node: Any, gouts: list) -> list:
    return _both(node, gouts[0], gouts[0])


def _sub_grad(node: Any, gouts: list) -> list:
    return _both(node, gouts[0], neg(gouts[0]))


def _mul_grad(node: Any, gouts: list) -> list:
    a, b = node.inputs
    return _both(node, gouts[0] * b, gouts[0] * a)


def _div_grad(node: Any, gouts: list) -> list:
    # d(a/b)/db = -a/b^2 = -(a/b)/b, written with the output so no b^2 can overflow.
    b = node.inputs[1]
    ga = gouts[0] / b
    return _both(node, ga, neg(ga * node.outputs[0]))


def _pow_grad(node: Any, gouts: list) -> list:
    # d/db uses log(a), defined only for a > 0; elsewhere it is taken as 0 (a negative base has no real
    # derivative in the exponent). The safe log keeps 0 * -inf from turning into NaN.
    a, b = node.inputs
    g = gouts[0]
    ga = g * b * pow(a, b - 1)
    pos = greater(a, 0)
    gb = where(pos, g * node.outputs[0] * log(where(pos, a, 1)), 0)
    return _both(node, ga, gb)


def _maximum_grad(node: Any, gouts: list) -> list:
    a, b = node.inputs
    pick_a = greater_equal(a, b)  # ties go to a
    return _both(node, where(pick_a, gouts[0], 0), where(pick_a, 0, gouts[0]))


def _minimum_grad(node: Any, gouts: list) -> list:
    a, b = node.inputs
    pick_a = less_equal(a, b)  # ties go to a
    return _both(node, where(pick_a, gouts[0], 0), where(pick_a, 0, gouts[0]))


_binary("add", "a + b", _add_grad, ufunc="add", c_expr="({0} + {1})", fusable=True)
_binary("sub", "a - b", _sub_grad, ufunc="subtract", c_expr="({0} - {1})", fusable=True)
_binary("mul", "a * b", _mul_grad, ufunc="multiply", c_expr="({0} * {1})", fusable=True)
_binary("div", "a / b (true division; ints are an error, cast first)", _div_grad, float_only=True, ufunc="divide",
        c_expr="({0} / {1})", fusable=True, singular=(1, 1.0))
_binary("pow", "a ** b; d/db is taken as 0 where a <= 0", _pow_grad, ufunc="power", c_expr="pow({0}, {1})",
        c_expr_int="({T})pow((double){0}, (double){1})", fusable=True)
# NumPy's maximum/minimum propagate NaN (fmax/fmin would drop it): a NaN operand wins.
_binary("maximum", "elementwise max; gradient goes to a where a >= b (ties go to a)", _maximum_grad,
        ufunc="maximum", c_expr="((({0} > {1}) || ({0} != {0})) ? {0} : {1})", fusable=True, gates=True)
_binary("minimum", "elementwise min; gradient goes to a where a <= b (ties go to a)", _minimum_grad,
        ufunc="minimum", c_expr="((({0} < {1}) || ({0} != {0})) ? {0} : {1})", fusable=True, gates=True)


@atomic
def add(a: Any, b: Any) -> Value:
    """a + b with broadcasting."""
    return apply1("add", [a, b])


@atomic
def sub(a: Any, b: Any) -> Value:
    """a - b with broadcasting."""
    return apply1("sub", [a, b])


@atomic
def mul(a: Any, b: Any) -> Value:
    """a * b with broadcasting."""
    return apply1("mul", [a, b])


@atomic
def div(a: Any, b: Any) -> Value:
    """a / b with broadcasting (floating point only)."""
    return apply1("div", [a, b])


@atomic
def pow(a: Any, b: Any) -> Value:  # noqa: A001 - mirrors the operator
    """a ** b with broadcasting."""
    return apply1("pow", [a, b])


@atomic
def maximum(a: Any, b: Any) -> Value:
    """Elementwise maximum."""
    return apply1("maximum", [a, b])


@atomic
def minimum(a: Any, b: Any) -> Value:
    """Elementwise minimum."""
    return apply1("minimum", [a, b])


# ---- comparisons (not differentiable: their outputs are bool) -------------------------
for _n, _c in (("greater", ">"), ("less", "<"), ("greater_equal", ">="), ("less_equal", "<="), ("equal", "==")):
    OPS.append(Op(_n, _compare_rule, 2, elementwise=True, nondiff="boolean output", doc=f"elementwise {_n}",
                  ufunc=_n, c_expr=f"({{0}} {_c} {{1}})", fusable=True))


@atomic
def greater(a: Any, b: Any) -> Value:
    """a > b, elementwise, bool."""
    return apply1("greater", [a, b])


@atomic
def less(a: Any, b: Any) -> Value:
    """a < b, elementwise, bool."""
    return apply1("less", [a, b])


@atomic
def greater_equal(a: Any, b: Any) -> Value:
    """a >= b, elementwise, bool."""
    return apply1("greater_equal", [a, b])


@atomic
def less_equal(a: Any, b: Any) -> Value:
    """a <= b, elementwise, bool."""
    return apply1("less_equal", [a, b])


@atomic
def equal(a: Any, b: Any) -> Value:
    """a == b, elementwise, bool."""
    return apply1("equal", [a, b])


# ---- unary ------------------------------------------------------------------------
# Each rule is written with differentiable graph ops (often through the output), so second derivatives
# work: sigmoid' = s(1-s), tanh' = 1-t^2, exp' = exp. Gates use where/greater, which are constant
# almost everywhere, so their own derivative is 0 as it should be.
def _neg_grad(node: Any, gouts: list) -> list:
    return [neg(gouts[0])]


def _abs_grad(node: Any, gouts: list) -> list:
    return [gouts[0] * sign(node.inputs[0])]  # sign(0) = 0, so abs'(0) = 0


def _exp_grad(node: Any, gouts: list) -> list:
    return [gouts[0] * node.outputs[0]]


def _log_grad(node: Any, gouts: list) -> list:
    return [gouts[0] / node.inputs[0]]


def _sqrt_grad(node: Any, gouts: list) -> list:
    return [gouts[0] * 0.5 / node.outputs[0]]


def _relu_grad(node: Any, gouts: list) -> list:
    return [where(greater(node.inputs[0], 0), gouts[0], 0)]  # relu'(0) = 0


def _sigmoid_grad(node: Any, gouts: list) -> list:
    s = node.outputs[0]
    return [gouts[0] * (s * (1 - s))]


def _tanh_grad(node: Any, gouts: list) -> list:
    t = node.outputs[0]
    return [gouts[0] * (1 - t * t)]


def _softplus_grad(node: Any, gouts: list) -> list:
    return [gouts[0] * sigmoid(node.inputs[0])]


def _leaky_relu_grad(node: Any, gouts: list) -> list:
    g = gouts[0]
    return [where(greater(node.inputs[0], 0), g, g * node.attrs["alpha"])]  # slope alpha at 0


def _identity_grad(node: Any, gouts: list) -> list:
    return [gouts[0]]


def _erf_grad(node: Any, gouts: list) -> list:
    x = node.inputs[0]
    return [gouts[0] * (exp(neg(x * x)) * 1.1283791670955126)]  # erf'(x) = 2/sqrt(pi) exp(-x^2)


_unary("neg", "-x", float_only=False, grad=_neg_grad, ufunc="negative", c_expr="(-{0})", fusable=True)
_unary("abs", "|x|; gradient sign(x), 0 at 0", float_only=False, grad=_abs_grad, ufunc="absolute", c_expr="fabs({0})",
       c_expr_int="(({0} < 0) ? ({T})(-{0}) : {0})", fusable=True, nonnegative=True)
_unary("exp", "e ** x", grad=_exp_grad, ufunc="exp", c_expr="exp({0})", fusable=True, nonnegative=True)
_unary("log", "natural log", grad=_log_grad, ufunc="log", c_expr="log({0})", fusable=True, singular=(0, 1.0))
_unary("sqrt", "square root", grad=_sqrt_grad, ufunc="sqrt", c_expr="sqrt({0})", fusable=True, nonnegative=True,
       singular=(0, 1.0))
_unary("relu", "max(x, 0); gradient 0 at x == 0", grad=_relu_grad, fusable=True, nonnegative=True, gates=True,
       c_expr="((({0} > {zero}) || ({0} != {0})) ? {0} : {zero})")
# exp(-|x|) never overflows; the two branches are the same function written for each sign.
_unary("sigmoid", "1 / (1 + exp(-x)), computed without overflow", grad=_sigmoid_grad, nonnegative=True, flops=4,
       c_expr="(({0} >= {zero}) ? ({one} / ({one} + exp(-fabs({0})))) : (exp(-fabs({0})) / ({one} + exp(-fabs({0})))))")
_unary("tanh", "hyperbolic tangent", grad=_tanh_grad, ufunc="tanh", c_expr="tanh({0})", fusable=True, flops=4)
_unary("softplus", "log(1 + exp(x)), computed stably", grad=_softplus_grad, nonnegative=True, flops=4,
       c_expr="((({0} > {zero}) ? {0} : {zero}) + log1p(exp(-fabs({0}))))")
# No NumPy ufunc: the NumPy kernel calls scipy.special.erf; CUDA C has erf.
_unary("erf", "the error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt", grad=_erf_grad, c_expr="erf({0})", flops=8)
_unary("sign", "-1, 0 or 1", nondiff="piecewise constant", ufunc="sign",
       c_expr="(({0} != {0}) ? {0} : ({T})(({0} > 0) - ({0} < 0)))", c_expr_int="({T})(({0} > 0) - ({0} < 0))",
       fusable=True)
OPS.append(Op("leaky_relu", _float_rule, 1, {"alpha": 0.01}, grad=_leaky_relu_grad, elementwise=True,
              c_expr="(({0} > {zero}) ? {0} : ({T})({0} * {alpha}))",
              doc="x if x > 0 else alpha*x; gradient alpha at 0"))
OPS.append(Op("stop_gradient", _same_rule, 1, nondiff="blocks gradients by definition (its gradient is zero)",
              view=True, flops=0, doc="identity whose gradient is zero", keeps_layout=True))
OPS.append(Op("identity", _same_rule, 1, grad=_identity_grad, elementwise=True, doc="identity", c_expr="{0}",
              fusable=True, view=True, flops=0, keeps_layout=True))


@atomic
def neg(x: Any) -> Value:
    """-x."""
    return apply1("neg", [x])


@atomic
def abs(x: Any) -> Value:  # noqa: A001
    """|x|."""
    return apply1("abs", [x])


@atomic
def exp(x: Any) -> Value:
    """e ** x."""
    return apply1("exp", [x])


@atomic
def log(x: Any) -> Value:
    """Natural logarithm."""
    return apply1("log", [x])


@atomic
def sqrt(x: Any) -> Value:
    """Square root."""
    return apply1("sqrt", [x])


@atomic
def relu(x: Any) -> Value:
    """max(x, 0)."""
    return apply1("relu", [x])


@atomic
def sigmoid(x: Any) -> Value:
    """Logistic sigmoid."""
    return apply1("sigmoid", [x])


@atomic
def tanh(x: Any) -> Value:
    """Hyperbolic tangent."""
    return apply1("tanh", [x])


@atomic
def softplus(x: Any) -> Value:
    """log(1 + exp(x)), stable for large |x|."""
    return apply1("softplus", [x])


@atomic
def erf(x: Any) -> Value:
    """The error function (GELU's Gaussian CDF is 0.5 * (1 + erf(x / sqrt(2))))."""
    return apply1("erf", [x])


@atomic
def sign(x: Any) -> Value:
    """Sign of x."""
    return apply1("sign", [x])


@atomic
def leaky_relu(x: Any, alpha: float = 0.01) -> Value:
    """x if x > 0 else alpha * x."""
    return apply1("leaky_relu", [x], {"alpha": float(alpha)})


@atomic
def stop_gradient(x: Any) -> Value:
    """Identity in the forward pass; blocks gradients (used for frozen layers)."""
    return apply1("stop_gradient", [x])


@atomic
def identity(x: Any) -> Value:
    """Identity."""
    return apply1("identity", [x])


# ---- prelu: learnable slope, broadcast against x ------------------------------------
def _prelu_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0])
    ctx.same_dtype(t, "x and slope")
    return [TensorType(t[0].dtype, ctx.broadcast(t[0].shape, t[1].shape))]


def _prelu_grad(node: Any, gouts: list) -> list:
    x, slope = node.inputs
    g = gouts[0]
    pos = greater(x, 0)  # x == 0 takes the slope side, like leaky_relu
    return _both(node, where(pos, g, g * slope), where(pos, 0, g * x))


OPS.append(Op("prelu", _prelu_rule, 2, grad=_prelu_grad, elementwise=True,
              doc="x if x > 0 else slope * x (slope broadcasts)"))


@atomic
def prelu(x: Any, slope: Any) -> Value:
    """Parametric ReLU: x if x > 0 else slope * x."""
    return apply1("prelu", [x, slope])


# ---- where: route by a bool condition -----------------------------------------------
def _where_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    if t[0].dtype != "bool":
        raise DTypeError(f"condition must be bool, got {t[0].dtype}")
    dt = ctx.same_dtype(t[1:], "branches")
    return [TensorType(dt, ctx.broadcast(t[0].shape, t[1].shape, t[2].shape))]


def _where_grad(node: Any, gouts: list) -> list:
    c, a, b = node.inputs
    g = gouts[0]
    return [None, sum_to_shape(where(c, g, 0), a.shape), sum_to_shape(where(c, 0, g), b.shape)]


OPS.append(Op("where", _where_rule, 3, grad=_where_grad, elementwise=True, c_expr="({0} ? {1} : {2})", fusable=True,
              gates=True,
              doc="cond ? a : b; the gradient is routed by cond (to a where true, to b where false)"))


@atomic
def where(cond: Any, a: Any, b: Any) -> Value:
    """Elementwise choice: a where cond else b."""
    like = a if isinstance(a, Value) else b if isinstance(b, Value) else None
    if like is not None:
        a, b = as_value(a, like, like.graph), as_value(b, like, like.graph)
    return apply1("where", [cond, a, b])


# ---- cast: the only way to change a dtype ---------------------------------------------
def _cast_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return [t[0].with_dtype(attrs["dtype"])]


def _cast_grad(node: Any, gouts: list) -> list:
    x = node.inputs[0]
    return [cast(gouts[0], x.dtype) if x.type.is_float else None]  # from int/bool: nothing to differentiate


OPS.append(Op("cast", _cast_rule, 1, {"dtype": REQUIRED}, grad=_cast_grad, elementwise=True, c_expr="({T})({0})",
              fusable=True, flops=0,
              doc="convert dtype; the gradient is cast back (none flows to int or bool inputs)"))


@atomic
def cast(x: Any, dtype: Any) -> Value:
    """Convert to `dtype` (graphnn never converts implicitly)."""
    with checking("cast", [x], {"dtype": dtype}):
        try:
            dtype = normalize_dtype(dtype)
        except TypeError as e:
            raise DTypeError(str(e)) from None
    return apply1("cast", [x], {"dtype": dtype})
