"""More activations and elementwise math: hardsigmoid, hardswish, elu (and selu), mish, softsign, hardtanh (and
relu6); clip (over maximum/minimum); floor, ceil, round (half to even), reciprocal, sin, cos, mod (sign of the
divisor, like Python) and fmod (sign of the dividend, like C).

floor, ceil and round are piecewise constant: like PyTorch, their gradient is zero (a rule returning none), so
`gn.grad` through them gives zeros rather than an error; mod/fmod differentiate as a - q*b with the integer
quotient q held constant. Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, atomic
from ..gradutil import sum_to_shape
from ..graph import Value
from ..op import InferCtx, Op
from ..types import TensorType
from .elementwise import abs as abs_
from .elementwise import exp, greater, less, less_equal, maximum, minimum, neg, sigmoid, softplus, tanh, where

OPS: list[Op] = []


def _float_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    ctx.need_float(t[0], "x")
    return [t[0]]


def _binary_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    dt = ctx.same_dtype(t, "a and b")
    if dt == "bool":
        ctx.need_float(t[0], "a")
    return [TensorType(dt, ctx.broadcast(t[0].shape, t[1].shape))]


def _unary(name: str, doc: str, grad: Any = None, **kw: Any) -> None:
    OPS.append(Op(name, _float_rule, 1, kw.pop("attrs", {}), grad=grad, elementwise=True, doc=doc, **kw))


# ---- piecewise constant: zero gradient, as in PyTorch ----------------------------------------------------
def _zero_grad(node: Any, gouts: list) -> list:
    return [None]  # zero almost everywhere (undefined at the jumps); None is the zero gradient


_unary("floor", "largest integer <= x (float result); gradient 0", _zero_grad, ufunc="floor", c_expr="floor({0})",
       fusable=True)
_unary("ceil", "smallest integer >= x (float result); gradient 0", _zero_grad, ufunc="ceil", c_expr="ceil({0})",
       fusable=True)
_unary("round", "nearest integer, halves to even (ONNX Round, NumPy rint); gradient 0", _zero_grad, ufunc="rint",
       c_expr="rint({0})", fusable=True)


@atomic
def floor(x: Any) -> Value:
    """Round down to an integer value (same float dtype); its gradient is zero, as in PyTorch."""
    return apply1("floor", [x])


@atomic
def ceil(x: Any) -> Value:
    """Round up to an integer value (same float dtype); its gradient is zero, as in PyTorch."""
    return apply1("ceil", [x])


@atomic
def round(x: Any) -> Value:
    """Round to the nearest integer, halves to even (2.5 -> 2); its gradient is zero, as in PyTorch."""
    return apply1("round", [x])


# ---- smooth elementwise math ---------------------------------------------------------------------------
def _reciprocal_grad(node: Any, gouts: list) -> list:
    y = node.outputs[0]
    return [neg(gouts[0] * (y * y))]


def _sin_grad(node: Any, gouts: list) -> list:
    return [gouts[0] * cos(node.inputs[0])]


def _cos_grad(node: Any, gouts: list) -> list:
    return [neg(gouts[0] * sin(node.inputs[0]))]


_unary("reciprocal", "1 / x", _reciprocal_grad, ufunc="reciprocal", c_expr="({one} / {0})", fusable=True,
       singular=(0, 1.0))
_unary("sin", "sine", _sin_grad, ufunc="sin", c_expr="sin({0})", fusable=True, flops=4)
_unary("cos", "cosine", _cos_grad, ufunc="cos", c_expr="cos({0})", fusable=True, flops=4)


@atomic
def reciprocal(x: Any) -> Value:
    """1 / x."""
    return apply1("reciprocal", [x])


@atomic
def sin(x: Any) -> Value:
    """Sine."""
    return apply1("sin", [x])


@atomic
def cos(x: Any) -> Value:
    """Cosine."""
    return apply1("cos", [x])


# ---- mod and fmod: r = a - q*b with q = floor(a/b) (mod) or trunc(a/b) (fmod), q held constant -----------
def _trunc(q: Value) -> Value:
    return where(less(q, 0), ceil(q), floor(q))


def _mod_grad(node: Any, gouts: list) -> list:
    a, b = node.inputs
    g = gouts[0]
    q = a / b
    q = floor(q) if node.op == "mod" else _trunc(q)
    return [sum_to_shape(g, a.shape), sum_to_shape(neg(g * q), b.shape)]


_MOD_INT = "((({0} % {1}) != 0 && ((({0} % {1}) < 0) != ({1} < 0))) ? ({0} % {1}) + {1} : ({0} % {1}))"
_MOD_FLOAT = ("((fmod({0}, {1}) != {zero} && ((fmod({0}, {1}) < {zero}) != ({1} < {zero}))) ? fmod({0}, {1}) + {1} "
              ": fmod({0}, {1}))")
OPS.append(Op("mod", _binary_rule, 2, grad=_mod_grad, elementwise=True, ufunc="remainder", c_expr=_MOD_FLOAT,
              c_expr_int=_MOD_INT, fusable=True,
              doc="a - floor(a/b)*b: the remainder takes the divisor's sign (Python %, ONNX Mod fmod=0)"))
OPS.append(Op("fmod", _binary_rule, 2, grad=_mod_grad, elementwise=True, ufunc="fmod", c_expr="fmod({0}, {1})",
              c_expr_int="({0} % {1})", fusable=True,
              doc="a - trunc(a/b)*b: the remainder takes the dividend's sign (C fmod, ONNX Mod fmod=1)"))


@atomic
def mod(a: Any, b: Any) -> Value:
    """Remainder with the sign of the divisor (Python's %); d/da = 1, d/db = -floor(a/b)."""
    return apply1("mod", [a, b])


@atomic
def fmod(a: Any, b: Any) -> Value:
    """Remainder with the sign of the dividend (C's fmod); d/da = 1, d/db = -trunc(a/b)."""
    return apply1("fmod", [a, b])


# ---- clip and relu6: maximum and minimum (gradient passes where lo <= x <= hi, as PyTorch's clamp) -----------
@atomic
def clip(x: Any, min: float | None = None, max: float | None = None) -> Value:
    """x limited to [min, max] (either may be None); the gradient passes where min <= x <= max."""
    y = x
    if min is not None:
        y = maximum(y, min)
    if max is not None:
        y = minimum(y, max)
    return y if y is not x else apply1("identity", [x])


def _hardtanh_grad(node: Any, gouts: list) -> list:
    x, g = node.inputs[0], gouts[0]
    lo, hi = node.attrs["min_val"], node.attrs["max_val"]
    return [where(greater(x, lo), where(less(x, hi), g, 0), 0)]  # strictly inside, as PyTorch's hardtanh


_HT = "(({0} <= ({T}){min_val}) ? ({T}){min_val} : (({0} >= ({T}){max_val}) ? ({T}){max_val} : {0}))"
_unary("hardtanh", "min(max(x, min_val), max_val); gradient only strictly inside (PyTorch's hardtanh, relu6)",
       _hardtanh_grad, attrs={"min_val": -1.0, "max_val": 1.0}, c_expr=_HT, gates=True)


@atomic
def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Value:
    """x limited to [min_val, max_val]; unlike clip, the gradient is 0 at the limits themselves (as PyTorch)."""
    return apply1("hardtanh", [x], {"min_val": float(min_val), "max_val": float(max_val)})


def relu6(x: Any) -> Value:
    """min(max(x, 0), 6) (PyTorch's ReLU6: hardtanh(x, 0, 6))."""
    return hardtanh(x, 0.0, 6.0)


# ---- hard activations -----------------------------------------------------------------------------------
_U = "({0} * ({T}){alpha} + ({T}){beta})"
_HS = f"(({_U} < {{zero}}) ? {{zero}} : (({_U} > {{one}}) ? {{one}} : {_U}))"  # NaN falls through to u


def _hardsigmoid_grad(node: Any, gouts: list) -> list:
    a, b = node.attrs["alpha"], node.attrs["beta"]
    u = node.inputs[0] * a + b
    g = gouts[0]
    return [where(greater(u, 0), where(less(u, 1), g * a, 0), 0)]  # 0 at the kinks, as PyTorch


_unary("hardsigmoid", "max(0, min(1, alpha*x + beta)) (PyTorch: alpha 1/6, beta 1/2; ONNX default alpha 0.2)",
       _hardsigmoid_grad, attrs={"alpha": 1 / 6, "beta": 0.5}, c_expr=_HS, gates=True, flops=4)


@atomic
def hardsigmoid(x: Any, alpha: float = 1 / 6, beta: float = 0.5) -> Value:
    """max(0, min(1, alpha*x + beta)); the defaults are PyTorch's (x/6 + 1/2)."""
    return apply1("hardsigmoid", [x], {"alpha": float(alpha), "beta": float(beta)})


def _hardswish_grad(node: Any, gouts: list) -> list:
    x, g = node.inputs[0], gouts[0]
    return [where(less_equal(x, -3.0), 0, where(less(x, 3.0), g * (x / 3.0 + 0.5), g))]  # PyTorch's branches


_unary("hardswish", "x * max(0, min(1, x/6 + 1/2)) (MobileNetV3)", _hardswish_grad,
       c_expr="({0} * ((({0} + ({T})3) < {zero}) ? {zero} : ((({0} + ({T})3) > ({T})6) ? {one} "
              ": (({0} + ({T})3) / ({T})6))))",
       flops=5)


@atomic
def hardswish(x: Any) -> Value:
    """x * hardsigmoid(x) with PyTorch's x/6 + 1/2 (ONNX HardSwish)."""
    return apply1("hardswish", [x])


# ---- exponential family -----------------------------------------------------------------------------------
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elu_grad(node: Any, gouts: list) -> list:
    x, g = node.inputs[0], gouts[0]
    a, s = node.attrs["alpha"], node.attrs["scale"]
    return [where(greater(x, 0), g * s, g * (exp(x) * (a * s)))]  # slope alpha*scale at 0, as PyTorch


_unary("elu", "scale * (x if x > 0 else alpha * (exp(x) - 1)); selu is scale 1.0507, alpha 1.6733", _elu_grad,
       attrs={"alpha": 1.0, "scale": 1.0},
       c_expr="(({0} > {zero}) ? ({T}){scale} * {0} : ({T})({scale} * {alpha}) * expm1({0}))",
       flops=4)


@atomic
def elu(x: Any, alpha: float = 1.0) -> Value:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return apply1("elu", [x], {"alpha": float(alpha), "scale": 1.0})


@atomic
def selu(x: Any) -> Value:
    """Self-normalizing ELU: 1.0507 * elu(x, 1.6733) (the constants of Klambauer et al., as PyTorch and ONNX)."""
    return apply1("elu", [x], {"alpha": SELU_ALPHA, "scale": SELU_SCALE})


def _mish_grad(node: Any, gouts: list) -> list:
    x = node.inputs[0]
    t = tanh(softplus(x))
    return [gouts[0] * (t + x * sigmoid(x) * (1 - t * t))]


_unary("mish", "x * tanh(softplus(x))", _mish_grad, flops=8,
       c_expr="({0} * tanh((({0} > {zero}) ? {0} : {zero}) + log1p(exp(-fabs({0})))))")


@atomic
def mish(x: Any) -> Value:
    """x * tanh(softplus(x)) (softplus computed without overflow)."""
    return apply1("mish", [x])


def _softsign_grad(node: Any, gouts: list) -> list:
    d = abs_(node.inputs[0]) + 1
    return [gouts[0] / (d * d)]


_unary("softsign", "x / (1 + |x|)", _softsign_grad, c_expr="({0} / ({one} + fabs({0})))", flops=3)


@atomic
def softsign(x: Any) -> Value:
    """x / (1 + |x|)."""
    return apply1("softsign", [x])
