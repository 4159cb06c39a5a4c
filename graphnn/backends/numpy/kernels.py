"""NumPy kernels, keyed by op name. Each entry is a factory `(xp, node, env) -> fn(*arrays)` that decides
every attribute, axis and shape at plan time (env binds the symbolic dims), so a call does no lookups.

Written against the array module `xp` so the CuPy backend reuses the table and overrides what it must.
"""

from __future__ import annotations

from typing import Any, Callable

from ...ir.errors import FeedError
from ...ir.graph import Node

Kernel = Callable[..., Any]
Factory = Callable[[Any, Node, dict], Kernel]
KERNELS: dict[str, Factory] = {}


def kernel(*names: str) -> Callable[[Factory], Factory]:
    def deco(f: Factory) -> Factory:
        for n in names:
            KERNELS[n] = f
        return f

    return deco


def shape_of(node_shape: tuple, env: dict) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else env[d] for d in node_shape)


def _ufunc(name: str) -> Factory:
    return lambda xp, node, env: getattr(xp, name)


for _op, _uf in {
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide", "pow": "power",
    "maximum": "maximum", "minimum": "minimum", "neg": "negative", "abs": "absolute", "exp": "exp",
    "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sign": "sign", "greater": "greater", "less": "less",
    "greater_equal": "greater_equal", "less_equal": "less_equal", "equal": "equal", "where": "where",
}.items():
    KERNELS[_op] = _ufunc(_uf)


@kernel("matmul")
def _matmul(xp: Any, node: Node, env: dict) -> Kernel:
    return xp.matmul


@kernel("identity", "stop_gradient")
def _identity(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x: x


@kernel("relu")
def _relu(xp: Any, node: Node, env: dict) -> Kernel:
    zero = xp.zeros((), dtype=node.outputs[0].dtype)
    return lambda x: xp.maximum(x, zero)


@kernel("leaky_relu")
def _leaky_relu(xp: Any, node: Node, env: dict) -> Kernel:
    a = node.attrs["alpha"]
    return lambda x: xp.where(x > 0, x, x * xp.asarray(a, dtype=x.dtype))


@kernel("prelu")
def _prelu(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x, s: xp.where(x > 0, x, x * s)


def stable_sigmoid(xp: Any, x: Any) -> Any:
    # exp(-|x|) never overflows; the two branches are the same function written for each sign.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def stable_softplus(xp: Any, x: Any) -> Any:
    return (xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)


@kernel("sigmoid")
def _sigmoid(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x: stable_sigmoid(xp, x)


@kernel("softplus")
def _softplus(xp: Any, node: Node, env: dict) -> Kernel:
    return lambda x: stable_softplus(xp, x)


@kernel("cast")
def _cast(xp: Any, node: Node, env: dict) -> Kernel:
    dt = node.attrs["dtype"]
    return lambda x: x.astype(dt)


# ---- reductions -------------------------------------------------------------------------
def _axes(node: Node) -> tuple[int, ...] | None:
    a = node.attrs["axes"]
    return None if a is None else tuple(a)


@kernel("sum", "mean", "max", "min")
def _reduce(xp: Any, node: Node, env: dict) -> Kernel:
    f = {"sum": xp.sum, "mean": xp.mean, "max": xp.max, "min": xp.min}[node.op]
    axes, keep, dt = _axes(node), node.attrs["keepdims"], node.outputs[0].dtype
    if node.op in ("sum", "mean"):
        return lambda x: xp.asarray(f(x, axis=axes, keepdims=keep, dtype=dt))
    return lambda x: xp.asarray(f(x, axis=axes, keepdims=keep))


@kernel("argmax")
def _argmax(xp: Any, node: Node, env: dict) -> Kernel:
    ax, keep = node.attrs["axis"], node.attrs["keepdims"]
    return lambda x: xp.asarray(xp.argmax(x, axis=ax, keepdims=keep)).astype("int64", copy=False)


# ---- shape ops ---------------------------------------------------------------------------
@kernel("reshape")
def _reshape(xp: Any, node: Node, env: dict) -> Kernel:
    shape = shape_of(node.outputs[0].type.shape, env)
    return lambda x: xp.reshape(x, shape)


@kernel("transpose")
def _transpose(xp: Any, node: Node, env: dict) -> Kernel:
    perm = node.attrs["perm"]
    return lambda x: xp.transpose(x, perm)


@kernel("concat")
def _concat(xp: Any, node: Node, env: dict) -> Kernel:
    ax = node.attrs["axis"]
    return lambda *xs: xp.concatenate(xs, axis=ax)


def index_tuple(index: tuple) -> tuple:
    out: list[Any] = []
    for item in index:
        if item[0] == "new":
            out.append(None)
        elif item[0] == "int":
            out.append(item[1])
        else:
            out.append(slice(item[1], item[2], item[3]))
    return tuple(out)


@kernel("slice")
def _slice(xp: Any, node: Node, env: dict) -> Kernel:
    idx = index_tuple(node.attrs["index"])
    return lambda x: x[idx]


@kernel("unslice")
def _unslice(xp: Any, node: Node, env: dict) -> Kernel:
    idx = index_tuple(node.attrs["index"])
    shape, dt = shape_of(node.outputs[0].type.shape, env), node.outputs[0].dtype

    def f(x: Any) -> Any:
        out = xp.zeros(shape, dtype=dt)
        out[idx] = x
        return out

    return f


@kernel("broadcast_to")
def _broadcast_to(xp: Any, node: Node, env: dict) -> Kernel:
    shape = shape_of(node.outputs[0].type.shape, env)
    return lambda x: xp.broadcast_to(x, shape)


# ---- nn ----------------------------------------------------------------------------------
def softmax(xp: Any, x: Any, axis: int) -> Any:
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    e /= xp.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(xp: Any, x: Any, axis: int) -> Any:
    s = x - xp.max(x, axis=axis, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))


@kernel("softmax")
def _softmax(xp: Any, node: Node, env: dict) -> Kernel:
    ax = node.attrs["axis"]
    return lambda x: softmax(xp, x, ax)


@kernel("log_softmax")
def _log_softmax(xp: Any, node: Node, env: dict) -> Kernel:
    ax = node.attrs["axis"]
    return lambda x: log_softmax(xp, x, ax)


def check_labels(xp: Any, y: Any, depth: int, op: str) -> None:
    if y.size and (int(y.min()) < 0 or int(y.max()) >= depth):
        raise FeedError(f"{op}: labels must lie in [0, {depth}), got min {int(y.min())} max {int(y.max())}")


@kernel("one_hot")
def _one_hot(xp: Any, node: Node, env: dict) -> Kernel:
    depth, dt = node.attrs["depth"], node.attrs["dtype"]

    def f(y: Any) -> Any:
        check_labels(xp, y, depth, f"one_hot {node.name}")
        return (y[..., None] == xp.arange(depth)).astype(dt)

    return f


@kernel("maxout")
def _maxout(xp: Any, node: Node, env: dict) -> Kernel:
    ax, k = node.attrs["axis"], node.attrs["pieces"]

    def f(x: Any) -> Any:
        s = x.shape
        return xp.max(x.reshape(s[:ax] + (s[ax] // k, k) + s[ax + 1:]), axis=ax + 1)

    return f


# ---- losses (naive, as written; the passes replace them by fused stable ops) ---------------
def reduce_loss(xp: Any, per: Any, reduction: str, dt: str) -> Any:
    if reduction == "mean":
        return xp.asarray(xp.mean(per, dtype=dt))
    if reduction == "sum":
        return xp.asarray(xp.sum(per, dtype=dt))
    return per


def pick_labels(xp: Any, a: Any, y: Any, ax: int, what: str) -> Any:
    """a's entry at each (range-checked) integer label along axis `ax`, with that axis removed."""
    check_labels(xp, y, a.shape[ax], what)
    return xp.squeeze(xp.take_along_axis(a, xp.expand_dims(y, ax).astype("int64"), axis=ax), axis=ax)


@kernel("cross_entropy")
def _cross_entropy(xp: Any, node: Node, env: dict) -> Kernel:
    ax, red, dt = node.attrs["axis"], node.attrs["reduction"], node.outputs[0].dtype
    int_labels = node.inputs[1].dtype.startswith(("int", "uint"))

    def f(p: Any, y: Any) -> Any:
        if int_labels:
            per = -xp.log(pick_labels(xp, p, y, ax, f"cross_entropy {node.name}"))
        else:
            per = -xp.sum(y * xp.log(p), axis=ax)
        return reduce_loss(xp, per, red, dt)

    return f


@kernel("binary_cross_entropy")
def _bce(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    return lambda p, t: reduce_loss(xp, -(t * xp.log(p) + (1 - t) * xp.log(1 - p)), red, dt)


@kernel("mse")
def _mse(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    return lambda p, t: reduce_loss(xp, (p - t) ** 2, red, dt)


@kernel("mae")
def _mae(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    return lambda p, t: reduce_loss(xp, xp.abs(p - t), red, dt)


@kernel("kl_div")
def _kl_div(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype

    def f(p: Any, q: Any) -> Any:
        safe_p = xp.where(p > 0, p, 1)
        per = xp.sum(xp.where(p > 0, p * (xp.log(safe_p) - xp.log(q)), 0), axis=-1).astype(dt, copy=False)
        return reduce_loss(xp, per, red, dt)

    return f


# ---- conv/pool, norms, dropout: sibling modules, merged explicitly ---------------------------------
from .conv_kernels import CONV_KERNELS  # noqa: E402 - after KERNELS exists; the modules import nothing from here
from .norm_kernels import NORM_KERNELS  # noqa: E402
from .control_flow import CONTROL_FLOW_KERNELS  # noqa: E402 - cond runs branch plans over this same table

KERNELS.update(CONV_KERNELS)
KERNELS.update(NORM_KERNELS)
KERNELS.update(CONTROL_FLOW_KERNELS)
from .collective import COLLECTIVE_KERNELS  # noqa: E402 - all_reduce, calling graphnn.distributed

KERNELS.update(COLLECTIVE_KERNELS)

# ---- fused stable losses: uses the loss helpers above ---------------------------------------
from .fused_kernels import FUSED_KERNELS  # noqa: E402

KERNELS.update(FUSED_KERNELS)


# ---- fused elementwise chains (made by the runtime's fusion pass; kernel in fused_elementwise.py) ------
def _fused(xp: Any, node: Node, env: dict) -> Kernel:
    from .fused_elementwise import fused_kernel

    return fused_kernel(xp, node, env)


KERNELS["fused_elementwise"] = _fused
