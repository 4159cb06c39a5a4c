"""The CuPy kernel tables: the NumPy tables (their factories take `xp`) with CuPy overrides where a NumPy
kernel relies on NumPy-only behaviour or where one generated kernel replaces a chain of launches:

- fused_elementwise, sigmoid, softplus, leaky_relu: one generated `ElementwiseKernel` each (codegen.py);
- sum/mean/max/min: CuPy's own reductions with `out=` (the NumPy table calls `ufunc.reduce`);
- softmax: row max, one sum-of-exp reduction kernel, one normalize kernel;
- softmax_cross_entropy (int labels, 2-d, mean): row max, one sum-of-exp reduction kernel, one
  log-sum-exp-minus-picked kernel, mean; sigmoid_binary_cross_entropy: one kernel, then the reduction.
- one_hot: one comparison kernel against the class indices (plus a one-reduction label check);
cross_entropy drops its NumPy destination-passing form (built on `ufunc.reduce`) for the plain kernel. Imports graphnn.ir and the NumPy tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..numpy.kernels import KERNELS as NUMPY_KERNELS
from ..numpy.kernels import check_labels, reduce_loss, shape_of
from ..numpy.out_kernels import OUT_KERNELS as NUMPY_OUT_KERNELS
from ..numpy.out_kernels import OutKernel
from .codegen import CTYPE, KernelSource, fused_source, unary_source

_CACHE: dict[tuple, Any] = {}  # (array module id, source) -> compiled kernel, shared by all plans


def elementwise(xp: Any, src: KernelSource) -> Any:
    """The module's ElementwiseKernel for `src` (CuPy compiles it on first launch and caches the binary)."""
    key = (id(xp), src)
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = xp.ElementwiseKernel(*src.args())
    return k


# ---- reductions: CuPy's own, with out= --------------------------------------------------------------
REDUCE = {"sum": "sum", "mean": "mean", "max": "max", "min": "min"}


def _reduce_out(xp: Any, node: Node, env: dict) -> OutKernel:
    f = getattr(xp, REDUCE[node.op])
    a = node.attrs["axes"]
    kw: dict[str, Any] = {"axis": None if a is None else tuple(a), "keepdims": node.attrs["keepdims"]}
    if node.op in ("sum", "mean"):
        kw["dtype"] = node.outputs[0].dtype
    return OutKernel(lambda ins, out: [(f, (ins[0],), {**kw, "out": out})])


# ---- generated elementwise kernels ------------------------------------------------------------------
def _fused_out(xp: Any, node: Node, env: dict) -> OutKernel:
    k = elementwise(xp, fused_source(node))
    # Each thread reads its own element of every input before writing it, so out may alias an input.
    return OutKernel(lambda ins, out: [(k, (*ins, out), {})], inplace=True)


def _fused_plain(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    return elementwise(xp, fused_source(node))


def _unary(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    attrs = {"alpha": node.attrs["alpha"]} if node.op == "leaky_relu" else None
    return elementwise(xp, unary_source(node.op, node.outputs[0].dtype, attrs))


def _unary_out(xp: Any, node: Node, env: dict) -> OutKernel:
    k = _unary(xp, node, env)
    return OutKernel(lambda ins, out: [(k, (ins[0], out), {})], inplace=True)


# ---- softmax and the fused losses -------------------------------------------------------------------
def sum_exp(xp: Any, dt: str) -> Any:
    """sum(exp(x - m)) along an axis as ONE reduction kernel (the exponentials are never stored)."""
    key = (id(xp), "sum_exp", dt)
    k = _CACHE.get(key)
    if k is None:
        k = _CACHE[key] = xp.ReductionKernel(f"{dt} x, {dt} m", f"{dt} s", "exp(x - m)", "a + b", "s = a", "0",
                                             "graphnn_sum_exp")
    return k


def _softmax_out(xp: Any, node: Node, env: dict) -> OutKernel:
    ax, dt = node.attrs["axis"], node.outputs[0].dtype
    shp = list(shape_of(node.outputs[0].type.shape, env))
    shp[ax] = 1
    m = xp.empty(tuple(shp), dt)
    s = xp.empty(tuple(shp), dt)
    se = sum_exp(xp, dt)
    norm = elementwise(xp, KernelSource(f"{dt} x, {dt} m, {dt} s", f"{dt} p", "p = exp(x - m) / s;",
                                        "graphnn_softmax_normalize"))

    def calls(ins: list, out: Any) -> list:
        x = ins[0]
        return [(xp.max, (x,), {"axis": ax, "keepdims": True, "out": m}),
                (se, (x, m), {"axis": ax, "keepdims": True, "out": s}), (norm, (x, m, s, out), {})]

    return OutKernel(calls, inplace=True, scratch_bytes=2 * m.nbytes)


def label_guard(xp: Any, depth: int, what: str) -> Callable[[Any], None]:
    """FeedError for labels outside [0, depth): one reduction (negatives viewed as unsigned are huge)."""

    def check(y: Any) -> None:
        u = y.view("u" + y.dtype.str[2:]) if y.dtype.kind == "i" else y
        if y.size and int(xp.max(u)) >= depth:
            check_labels(xp, y, depth, what)

    return check


def _sce_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    x_t, y_t = node.inputs
    if not y_t.dtype.startswith(("int", "uint")) or x_t.ndim != 2 or node.attrs["axis"] not in (-1, 1) \
            or node.attrs["reduction"] != "mean":
        return None  # the general case: the NumPy table's plain kernel, written against xp
    n, c = shape_of(x_t.type.shape, env)
    dt, yt = node.outputs[0].dtype, y_t.dtype
    m = xp.empty((n, 1), dt)
    s = xp.empty((n, 1), dt)
    per = xp.empty((n,), dt)
    se = sum_exp(xp, dt)
    # loss_i = log(sum_j exp(x_ij - m_i)) + m_i - x_i,y_i: x is read raw, at the row's label.
    lse = elementwise(xp, KernelSource(f"{dt} s, {dt} m, {yt} y, raw {dt} x, int64 c", f"{dt} l",
                                       "l = log(s) + m - x[i * c + y];", "graphnn_lse_minus_picked"))
    guard = label_guard(xp, c, f"softmax_cross_entropy {node.name}")

    def sce(x: Any, y: Any, out: Any) -> None:
        guard(y)
        xp.max(x, axis=1, keepdims=True, out=m)
        se(x, m, axis=1, keepdims=True, out=s)
        lse(s.reshape(n), m.reshape(n), y, x.reshape(-1), c, per)  # raw x indexed flat
        xp.mean(per, dtype=dt, out=out)

    return OutKernel(lambda ins, out: [(sce, (ins[0], ins[1], out), {})],
                     scratch_bytes=m.nbytes + s.nbytes + per.nbytes)


def _one_hot_out(xp: Any, node: Node, env: dict) -> OutKernel:
    depth, dt = node.attrs["depth"], node.attrs["dtype"]
    yt = node.inputs[0].dtype
    shp = shape_of(node.outputs[0].type.shape, env)
    classes = xp.arange(depth, dtype=yt)
    k = elementwise(xp, KernelSource(f"{yt} y, {yt} c", f"{dt} o", f"o = ({CTYPE[dt]})(y == c);", "graphnn_one_hot"))
    guard = label_guard(xp, depth, f"one_hot {node.name}")

    def fill(y: Any, out: Any) -> None:
        guard(y)
        k(y.reshape(shp[:-1] + (1,)), classes, out)

    return OutKernel(lambda ins, out: [(fill, (ins[0], out), {})])


def _one_hot(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    ok = _one_hot_out(xp, node, env)
    shp, dt = shape_of(node.outputs[0].type.shape, env), node.attrs["dtype"]

    def f(y: Any) -> Any:
        out = xp.empty(shp, dt)
        for fn, args, kw in ok.calls([y], out):
            fn(*args, **kw)
        return out

    return f


def _sbce(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    # softplus(z) - z t, stably: max(z, 0) - z t + log1p(exp(-|z|)), in one kernel.
    k = elementwise(xp, KernelSource(f"{dt} z, {dt} t", f"{dt} l",
                                     f"l = ((z > 0) ? z : ({'0.0f' if dt == 'float32' else '0.0'})) - z * t"
                                     " + log1p(exp(-fabs(z)));", "graphnn_sigmoid_bce"))
    return lambda z, t: reduce_loss(xp, k(z, t), red, dt)


KERNELS: dict[str, Any] = dict(NUMPY_KERNELS)
KERNELS.update({"fused_elementwise": _fused_plain, "sigmoid": _unary, "softplus": _unary, "leaky_relu": _unary,
                "sigmoid_binary_cross_entropy": _sbce, "one_hot": _one_hot})

OUT_KERNELS: dict[str, Any] = {k: f for k, f in NUMPY_OUT_KERNELS.items()
                               if k != "cross_entropy"}
OUT_KERNELS.update({"sum": _reduce_out, "mean": _reduce_out, "max": _reduce_out, "min": _reduce_out,
                    "fused_elementwise": _fused_out, "softmax": _softmax_out, "softmax_cross_entropy": _sce_out,
                    "sigmoid": _unary_out, "softplus": _unary_out, "leaky_relu": _unary_out, "one_hot": _one_hot_out})

# Kernels of the NumPy table checked to use only what CuPy has (xp ufuncs with out=, xp.lib.stride_tricks,
# xp.pad, take_along_axis, ...); the conformance suite runs all of them through the strict stand-in.
OVERRIDDEN = frozenset(k for k in KERNELS if KERNELS[k] is not NUMPY_KERNELS.get(k)) | frozenset(
    k for k in OUT_KERNELS if OUT_KERNELS[k] is not NUMPY_OUT_KERNELS.get(k))
