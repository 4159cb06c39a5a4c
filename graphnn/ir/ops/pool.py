"""Pooling on NCHW tensors: max and average pooling (strides, asymmetric pads, dilation, ceil mode), adaptive
average pooling, and the backward ops their gradients emit; 1-D pooling is the 2-D op over an H of 1.

The backward ops are ops of their own (each the transpose of a forward one), so gradients of any order close
over this family. Geometry (`window_geometry`) is shared with the kernels. Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..builder import apply1, atomic, checking
from ..errors import ShapeError
from ..graph import Node, Value
from ..op import REQUIRED, InferCtx, Op
from ..types import TensorType
from .conv import pads4, pair  # the same argument forms as convolution's
from .shape_ops import reshape

OPS: list[Op] = []


def axis_out(size: int, k: int, s: int, pb: int, pe: int, d: int, ceil_mode: bool) -> int:
    """Window positions along one axis (PyTorch's rule): floor or ceil of (size + pads - dilated k) / s, plus 1;
    in ceil mode a last window that would start past the input and its leading pad is dropped."""
    span = size + pb + pe - (d * (k - 1) + 1)
    n = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (n - 1) * s >= size + pb:
        n -= 1
    return n


def window_geometry(x: TensorType, attrs: dict, what: str) -> tuple[int, int]:
    """(Ho, Wo) of a pooling window over x, or the ShapeError saying which setting does not fit."""
    if x.rank != 4:
        raise ShapeError(f"{what} input must have rank 4 (NCHW), got {x}")
    k, s, p = attrs["kernel_size"], attrs["stride"], attrs["padding"]
    d = attrs.get("dilation", (1, 1))
    out = []
    for ax in range(2):
        size = x.shape[2 + ax]
        if not isinstance(size, int):
            raise ShapeError(f"{what}: spatial dim {size!r} must be static (pooling shapes are decided at build time)")
        if k[ax] <= 0 or s[ax] <= 0 or d[ax] <= 0 or min(p) < 0:
            raise ShapeError(f"{what}: need kernel, stride, dilation > 0 and padding >= 0; got kernel {k}, "
                             f"stride {s}, dilation {d}, padding {p}")
        span = d[ax] * (k[ax] - 1) + 1
        pb, pe = p[ax], p[ax + 2]
        if size + pb + pe < span:
            raise ShapeError(f"{what}: window {span} (kernel {k[ax]}, dilation {d[ax]}) along axis {2 + ax} is "
                             f"larger than the padded input {size} + {pb} + {pe}")
        if max(pb, pe) >= span:  # else a window could lie wholly in padding (a max of -inf, a mean of nothing)
            raise ShapeError(f"{what}: padding {p} must be smaller than the (dilated) kernel {k} on each side")
        out.append(axis_out(size, k[ax], s[ax], pb, pe, d[ax], attrs["ceil_mode"]))
    return out[0], out[1]


def _pool_rule(what: str) -> Any:
    def rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
        ctx.need_float(t[0], "x")
        ho, wo = window_geometry(t[0], attrs, what)
        return [t[0].with_shape((t[0].shape[0], t[0].shape[1], ho, wo))]

    return rule


def _pool_attrs(kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool) -> dict:
    k = pair(kernel_size, "kernel_size")
    return {"kernel_size": k, "stride": k if stride is None else pair(stride, "stride"), "padding": pads4(padding),
            "ceil_mode": bool(ceil_mode)}


# ---- max pooling -------------------------------------------------------------------------------------
# Pooling picks, per window, the first position holding the max (row-major within the window; positions
# outside the input never win). Three ops share that choice: max_pool2d (take x there), max_pool2d_select
# (take z there) and max_pool2d_grad (send gy back there). grad and select are each other's transpose, so
# gradients of any order stay in the family; their gradient in x is zero (the choice is piecewise constant).
_MAX = {"kernel_size": REQUIRED, "stride": REQUIRED, "padding": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False}


def _max_pool2d_grad_rule_fn(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None if g[0] is None else max_pool2d_grad(node.inputs[0], g[0], **node.attrs)]


OPS.append(Op("max_pool2d", _pool_rule("max_pool2d"), 1, dict(_MAX), grad=_max_pool2d_grad_rule_fn, gates=True,
              doc="max over each kH x kW (dilated) window; padding never wins; gradient to the first max"))


@atomic
def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Value:
    """Max pooling over NCHW windows; stride defaults to the kernel size, padding may be asymmetric (t, l, b, r)."""
    a = _pool_attrs(kernel_size, stride, padding, ceil_mode)
    return apply1("max_pool2d", [x], {**a, "dilation": pair(dilation, "dilation")})


def _two_rule(what: str, small: bool) -> Any:
    def rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
        x, other = t
        ctx.same_dtype([x, other], f"{what} inputs")
        ctx.need_float(x, "x")
        ho, wo = window_geometry(x, attrs, what)
        want = (x.shape[0], x.shape[1], ho, wo) if small else x.shape
        if other.rank != 4:
            raise ShapeError(f"{what}: second input must have rank 4, got {other}")
        for i, (a, b) in enumerate(zip(other.shape, want)):
            ctx.dim_eq(a, b, f"{what}: second input axis {i}")
        return [x.with_shape(x.shape if small else (x.shape[0], x.shape[1], ho, wo))]

    return rule


def _max_pool2d_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None, None if g[0] is None else max_pool2d_select(node.inputs[0], g[0], **node.attrs)]


OPS.append(Op("max_pool2d_grad", _two_rule("max_pool2d_grad", True), 2, dict(_MAX), grad=_max_pool2d_grad_grad,
              doc="(x, gy) -> gx: gy routed to each window's first max in x, summed where windows overlap"))


def max_pool2d_grad(x: Any, gy: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                    ceil_mode: bool = False) -> Value:
    """The gradient of max_pool2d(x) for output gradient gy (shaped like x)."""
    a = _pool_attrs(kernel_size, stride, padding, ceil_mode)
    return apply1("max_pool2d_grad", [x, gy], {**a, "dilation": pair(dilation, "dilation")})


def _max_pool2d_select_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None, None if g[0] is None else max_pool2d_grad(node.inputs[0], g[0], **node.attrs)]


OPS.append(Op("max_pool2d_select", _two_rule("max_pool2d_select", False), 2, dict(_MAX),
              grad=_max_pool2d_select_grad,
              doc="(x, z) -> z at each window's first max in x (the transpose of max_pool2d_grad)"))


def max_pool2d_select(x: Any, z: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                      ceil_mode: bool = False) -> Value:
    """Pool z by the positions where x is maximal (used by second-order gradients of max pooling)."""
    a = _pool_attrs(kernel_size, stride, padding, ceil_mode)
    return apply1("max_pool2d_select", [x, z], {**a, "dilation": pair(dilation, "dilation")})


# ---- average pooling ---------------------------------------------------------------------------------
# The divisor of a window is its size counting padding (count_include_pad) or only its input positions; a
# ceil-mode window reaching past the padded input counts neither (PyTorch's and onnxruntime's rule).
_AVG = {"kernel_size": REQUIRED, "stride": REQUIRED, "padding": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False,
        "count_include_pad": True}


def avg_divisors(size: tuple[int, int], out: tuple[int, int], attrs: dict) -> np.ndarray:
    """(Ho, Wo) float64 divisors: per window the taps inside the padded input (count_include_pad) or inside the
    input only; taps of a ceil-mode window past the padded input never count."""
    k, s, p = attrs["kernel_size"], attrs["stride"], attrs["padding"]
    d = attrs.get("dilation", (1, 1))
    per_axis = []
    for ax in range(2):
        taps = (np.arange(out[ax]) * s[ax] - p[ax])[:, None] + np.arange(k[ax])[None, :] * d[ax]
        lo, hi = (-p[ax], size[ax] + p[ax + 2]) if attrs["count_include_pad"] else (0, size[ax])
        per_axis.append(((taps >= lo) & (taps < hi)).sum(axis=1))
    return np.outer(per_axis[0], per_axis[1]).astype("float64")


def _avg_pool2d_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None if g[0] is None else avg_pool2d_grad(g[0], node.inputs[0].shape[2:], **node.attrs)]


OPS.append(Op("avg_pool2d", _pool_rule("avg_pool2d"), 1, dict(_AVG), grad=_avg_pool2d_grad,
              doc="mean over each kH x kW window (divisor: count_include_pad or input positions only)"))


@atomic
def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, dilation: Any = 1) -> Value:
    """Average pooling over NCHW windows; stride defaults to the kernel size, padding may be (t, l, b, r)."""
    a = _pool_attrs(kernel_size, stride, padding, ceil_mode)
    return apply1("avg_pool2d", [x], {**a, "count_include_pad": bool(count_include_pad),
                                      "dilation": pair(dilation, "dilation")})


def _avg_pool2d_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    gy = t[0]
    ctx.need_float(gy, "gy")
    if gy.rank != 4:
        raise ShapeError(f"avg_pool2d_grad: gy must have rank 4, got {gy}")
    x = gy.with_shape((gy.shape[0], gy.shape[1], *attrs["input_size"]))
    expect = window_geometry(x, attrs, "avg_pool2d_grad")
    if tuple(gy.shape[2:]) != expect:
        raise ShapeError(f"avg_pool2d_grad: gy spatial {gy.shape[2:]} != avg_pool2d output {expect}")
    return [x]


def _avg_pool2d_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    a = {k: v for k, v in node.attrs.items() if k != "input_size"}
    return [None if g[0] is None else apply1("avg_pool2d", [g[0]], a)]


OPS.append(Op("avg_pool2d_grad", _avg_pool2d_grad_rule, 1, {**_AVG, "input_size": REQUIRED},
              grad=_avg_pool2d_grad_grad, doc="gy -> gx: each window's gy / divisor spread over the window"))


def avg_pool2d_grad(gy: Any, input_size: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                    ceil_mode: bool = False, count_include_pad: bool = True, dilation: Any = 1) -> Value:
    """The gradient of avg_pool2d for output gradient gy, shaped (N, C, *input_size)."""
    a = _pool_attrs(kernel_size, stride, padding, ceil_mode)
    return apply1("avg_pool2d_grad", [gy], {**a, "count_include_pad": bool(count_include_pad),
                                            "dilation": pair(dilation, "dilation"),
                                            "input_size": pair(tuple(input_size), "input_size")})


# ---- adaptive average pooling ----------------------------------------------------------------------------
def adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's bins: output i averages [floor(i * size / out), ceil((i + 1) * size / out))."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def bin_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) float64: row i averages bin i (the kernels' and the ONNX lowering's matrix)."""
    m = np.zeros((out, size))
    for i, (a, b) in enumerate(adaptive_bins(size, out)):
        m[i, a:b] = 1.0 / (b - a)
    return m


def _adaptive_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x = t[0]
    ctx.need_float(x, "x")
    if x.rank != 4:
        raise ShapeError(f"adaptive_avg_pool2d input must have rank 4 (NCHW), got {x}")
    if not all(isinstance(d, int) for d in x.shape[2:]):
        raise ShapeError(f"adaptive_avg_pool2d: spatial dims {x.shape[2:]} must be static")
    if min(attrs["output_size"]) <= 0:
        raise ShapeError(f"adaptive_avg_pool2d: output_size {attrs['output_size']} must be positive")
    return [x.with_shape((x.shape[0], x.shape[1], *attrs["output_size"]))]


def _adaptive_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None if g[0] is None else adaptive_avg_pool2d_grad(g[0], node.inputs[0].shape[2:])]


OPS.append(Op("adaptive_avg_pool2d", _adaptive_rule, 1, {"output_size": REQUIRED}, grad=_adaptive_grad,
              doc="mean over PyTorch's adaptive bins: output i covers [floor(i*H/Ho), ceil((i+1)*H/Ho))"))


@atomic
def adaptive_avg_pool2d(x: Any, output_size: Any) -> Value:
    """Average pooling to a fixed output size (N, C, *output_size), bins as in PyTorch."""
    return apply1("adaptive_avg_pool2d", [x], {"output_size": pair(output_size, "output_size")})


def _adaptive_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    gy = t[0]
    ctx.need_float(gy, "gy")
    if gy.rank != 4 or not all(isinstance(d, int) for d in gy.shape[2:]):
        raise ShapeError(f"adaptive_avg_pool2d_grad: gy must be rank 4 with static spatial dims, got {gy}")
    return [gy.with_shape((gy.shape[0], gy.shape[1], *attrs["input_size"]))]


def _adaptive_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None if g[0] is None else adaptive_avg_pool2d(g[0], node.inputs[0].shape[2:])]


OPS.append(Op("adaptive_avg_pool2d_grad", _adaptive_grad_rule, 1, {"input_size": REQUIRED}, grad=_adaptive_grad_grad,
              doc="gy -> gx: the transpose of adaptive_avg_pool2d (each bin's gy / bin size spread over the bin)"))


def adaptive_avg_pool2d_grad(gy: Any, input_size: Any) -> Value:
    """The gradient of adaptive_avg_pool2d for output gradient gy, shaped (N, C, *input_size)."""
    return apply1("adaptive_avg_pool2d_grad", [gy], {"input_size": pair(tuple(input_size), "input_size")})


@atomic
def global_avg_pool2d(x: Any) -> Value:
    """The mean over H and W, kept as (N, C, 1, 1) (ONNX GlobalAveragePool)."""
    return adaptive_avg_pool2d(x, 1)


# ---- 1-D pooling: the 2-D ops over (N, C, 1, L) ------------------------------------------------------------
def _as_2d(x: Any, what: str) -> Value:
    if not isinstance(x, Value) or x.ndim != 3:
        with checking(what, [x], {}):
            raise ShapeError(f"{what} input must be a rank-3 (N, C, L) value, got {getattr(x, 'type', x)!r}")
    return reshape(x, (-1, x.shape[1], 1, x.shape[2]))


def _pads1(padding: Any) -> tuple[int, int, int, int]:
    p = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if len(p) != 2:
        raise ShapeError(f"1-D padding must be an int or (left, right), got {padding!r}")
    return (0, p[0], 0, p[1])


def _back_1d(y: Value) -> Value:
    return reshape(y, (-1, y.shape[1], y.shape[3]))


@atomic
def max_pool1d(x: Any, kernel_size: int, stride: int | None = None, padding: Any = 0, dilation: int = 1,
               ceil_mode: bool = False) -> Value:
    """Max pooling over (N, C, L) windows (the 2-D op over an H of 1)."""
    s = kernel_size if stride is None else stride
    y = max_pool2d(_as_2d(x, "max_pool1d"), (1, kernel_size), (1, s), _pads1(padding), (1, dilation), ceil_mode)
    return _back_1d(y)


@atomic
def avg_pool1d(x: Any, kernel_size: int, stride: int | None = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, dilation: int = 1) -> Value:
    """Average pooling over (N, C, L) windows (the 2-D op over an H of 1)."""
    s = kernel_size if stride is None else stride
    y = avg_pool2d(_as_2d(x, "avg_pool1d"), (1, kernel_size), (1, s), _pads1(padding), ceil_mode, count_include_pad,
                   (1, dilation))
    return _back_1d(y)



# ---- local response normalization: an average pool over the channel axis ----------------------------------
@atomic
def lrn(x: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0) -> Value:
    """x / (bias + alpha/size * sum of x^2 over `size` neighbouring channels)^beta (ONNX LRN, PyTorch's
    LocalResponseNorm for odd sizes; for even ones ONNX's window, one more channel after than before): the channel
    window is an avg_pool2d over a (N, 1, C, H*W) view."""
    if not isinstance(x, Value) or x.ndim < 3 or not all(isinstance(d, int) for d in x.shape[1:]):
        with checking("lrn", [x], {"size": size}):
            raise ShapeError(f"lrn: x must be (N, C, spatial...) with static C and spatial dims, got "
                             f"{getattr(x, 'type', x)!r}")
    if size <= 0:
        with checking("lrn", [x], {"size": size}):
            raise ShapeError(f"lrn: size {size} must be positive")
    c, rest = x.shape[1], x.shape[2:]
    hw = int(np.prod(rest, dtype=np.int64))
    sq = reshape(x * x, (-1, 1, c, hw))
    before, after = (size - 1) // 2, size // 2  # ONNX: floor((size-1)/2) channels before, ceil((size-1)/2) after
    avg = avg_pool2d(sq, (size, 1), 1, (before, 0, after, 0), count_include_pad=True)  # sum / size
    den = reshape(avg * alpha + bias, (-1, c, *rest)) ** beta
    return x / den
