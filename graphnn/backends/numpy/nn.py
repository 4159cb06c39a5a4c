"""NumPy kernels of graphnn/ir/ops/nn.py: softmax, log_softmax, one_hot, maxout, gelu, silu; softmax and one_hot also
destination-passing, reusing what a softmax cross-entropy on the same values left this step (CallContext.facts).

Written against `xp`. Imports graphnn.ir, the backend records and the reduction helpers.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .elementwise import special_function, stable_sigmoid
from .nn_grads import gelu_out
from .reduction import reducer, sum_by_dot
from .special import gelu32
from .support import Factory, Kernel, label_check, plain, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (nn)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (nn)")


def log_softmax(xp: Any, x: Any, axis: int) -> Any:
    """(x - max) - log(sum(exp(x - max))), along `axis`."""
    s = x - xp.max(x, axis=axis, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))


@OUT_KERNELS.register("softmax")
def _softmax_out(xp: Any, node: Node, env: dict) -> OutKernel:
    ax = node.attrs["axis"]
    shp = list(shape_of(node.outputs[0].type.shape, env))
    axis_pos = ax % len(shp) if shp else 0
    shp[ax] = 1
    m = xp.empty(tuple(shp), node.outputs[0].dtype)
    s = xp.empty(tuple(shp), node.outputs[0].dtype)
    rmax, rsum = reducer(xp, "max"), reducer(xp, "sum")
    full = shape_of(node.outputs[0].type.shape, env)
    by_dot = sum_by_dot(xp, full, axis_pos, node.outputs[0].dtype) if len(full) == 2 and axis_pos == 1 else None

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        x = ins[0]
        if ctx is not None and ctx.ids:
            # A softmax cross-entropy on the same logits already ran this step: exp(x - max) / its row sums
            done = ctx.facts.get(("softmax", ctx.ids[0], axis_pos))
            if done is not None and done[0].dtype == out.dtype:
                return [(xp.true_divide, done, {"out": out})]
        sums = by_dot(out, s) if by_dot is not None else [(rsum, (out,), {"axis": ax, "keepdims": True, "out": s})]
        return [(rmax, (x,), {"axis": ax, "keepdims": True, "out": m}),
                (xp.subtract, (x, m), {"out": out}), (xp.exp, (out,), {"out": out}),
                *sums, (xp.true_divide, (out, s), {"out": out})]

    return OutKernel(calls, inplace=True, scratch_bytes=2 * m.nbytes, takes_context=True)


KERNELS.register("softmax")(plain(_softmax_out))


@KERNELS.register("log_softmax")
def _log_softmax(xp: Any, node: Node, env: dict) -> Kernel:
    ax = node.attrs["axis"]
    return lambda x: log_softmax(xp, x, ax)


@KERNELS.register("one_hot")
def _one_hot(xp: Any, node: Node, env: dict) -> Kernel:
    depth, dt = node.attrs["depth"], node.attrs["dtype"]
    check = label_check(xp, depth, f"one_hot {node.name}")

    def f(y: Any) -> Any:
        check(y)
        return (y[..., None] == xp.arange(depth)).astype(dt)

    return f


@OUT_KERNELS.register("one_hot")
def _one_hot_out(xp: Any, node: Node, env: dict) -> OutKernel:
    depth = node.attrs["depth"]
    shp = shape_of(node.outputs[0].type.shape, env)
    classes = xp.arange(depth)
    label_shape = shp[:-1] + (1,)
    check = label_check(xp, depth, f"one_hot {node.name}")
    one = xp.ones((), node.outputs[0].dtype)

    def fill(y: Any, out: Any) -> None:
        check(y)
        xp.equal(y.reshape(label_shape), classes, out=out, casting="unsafe")

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and ctx.ids:
            # The labels were checked and turned into flat indices (row * depth + label, the leading dims
            # flattened into rows) earlier this step
            idx = ctx.facts.get(("label_index", ctx.ids[0], depth))
            if idx is not None and idx.shape[0] * depth == out.size:
                return [(out.fill, (0,), {}), (out.reshape(-1).put, (idx, one), {})]
        return [(fill, (ins[0], out), {})]

    return OutKernel(calls, takes_context=True)


@KERNELS.register("maxout")
def _maxout(xp: Any, node: Node, env: dict) -> Kernel:
    ax, k = node.attrs["axis"], node.attrs["pieces"]

    def f(x: Any) -> Any:
        s = x.shape
        return xp.max(x.reshape(s[:ax] + (s[ax] // k, k) + s[ax + 1:]), axis=ax + 1)

    return f


# float32 exact form with the compiled kernels: also leaves the tail the backward (gelu_grad) reuses; else declines
OUT_KERNELS.register("gelu")(gelu_out)


@KERNELS.register("gelu")
def _gelu(xp: Any, node: Node, env: dict) -> Kernel:
    dt = node.outputs[0].dtype
    if node.attrs["approximate"] == "none":
        erfc = special_function(xp, "erfc")  # Phi(x) = erfc(-x/sqrt(2))/2 keeps the left tail (1 + erf would cancel)
        if dt == "float32":  # one blocked pass of the erfc fit (special.py), ~8x faster than through erfc32
            return lambda x: gelu32(xp, x)
        return lambda x: (0.5 * x * erfc(x * -0.7071067811865476)).astype(dt, copy=False)
    k, c = 2 * 0.7978845608028654, 0.044715  # 2 sqrt(2/pi) and the tanh form's cubic coefficient
    # (1 + tanh(u)) / 2 = sigmoid(2u): the same function without the cancellation of 1 + tanh in the left tail
    return lambda x: (x * stable_sigmoid(xp, k * (x + c * x * x * x))).astype(dt, copy=False)


def _silu_calls(xp: Any, one: Any) -> Any:
    # x / (1 + exp(-x)): four in-place ufunc passes, ~25x faster than x * sigmoid(x) with its masked select.
    # exp(-x) overflows to inf only for x < -88 (float32), where the result rounds to -0.0 (true |y| < 1e-36).
    def calls(ins: list, out: Any) -> list:
        x = ins[0]
        return [(xp.negative, (x,), {"out": out}), (xp.exp, (out,), {"out": out}), (xp.add, (out, one), {"out": out}),
                (xp.divide, (x, out), {"out": out})]

    return calls


@OUT_KERNELS.register("silu")
def _silu_out(xp: Any, node: Node, env: dict) -> OutKernel:
    return OutKernel(_silu_calls(xp, xp.asarray(1, dtype=node.outputs[0].dtype)))  # not in place: x is read last


KERNELS.register("silu")(plain(_silu_out))
