"""Convolution on NCHW tensors: conv2d (strides, 4-sided padding, dilation, groups; conv1d and conv_transpose2d
are built on it), conv2d_bias_act (its bias and ReLU fused in, made by an inference pass) and the backward ops
their gradients emit (pooling is in pool.py).

The backward ops are ops of their own (each the transpose of a forward one), so gradients of any order close
over this family. Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, atomic
from ..errors import ShapeError
from ..graph import Node, Value
from ..op import REQUIRED, InferCtx, Op
from ..types import Dim, TensorType
from .elementwise import greater, where
from .reduction import sum as rsum
from .shape_ops import squeeze, unsqueeze

OPS: list[Op] = []


def pair(v: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints -> a pair of ints (stride, padding, kernel size)."""
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) for i in t):
        raise ShapeError(f"{what} must be an int or a pair of ints, got {v!r}")
    return (int(t[0]), int(t[1]))


def _need_rank(t: TensorType, rank: int, what: str) -> None:
    if t.rank != rank:
        raise ShapeError(f"{what} must have rank {rank} (NCHW / OIHW), got {t}")


def pads4(v: Any, what: str = "padding") -> tuple[int, int, int, int]:
    """An int, a pair (h, w) or a 4-tuple (top, left, bottom, right: ONNX's begins, then ends) -> a 4-tuple."""
    t = (v,) * 4 if isinstance(v, int) else tuple(v)
    if len(t) == 2:
        t = t * 2
    if len(t) != 4 or not all(isinstance(i, int) and i >= 0 for i in t):
        raise ShapeError(f"{what} must be a non-negative int, a pair (h, w) or (top, left, bottom, right); got {v!r}")
    return (int(t[0]), int(t[1]), int(t[2]), int(t[3]))


def conv_out_size(size: Dim, k: int, s: int, p0: int, p1: int, d: int, what: str) -> int:
    """floor((size + p0 + p1 - d*(k-1) - 1) / s) + 1: window positions along one axis of a dilated kernel."""
    if not isinstance(size, int):
        raise ShapeError(f"{what}: spatial dim {size!r} must be static (conv shapes are decided at build time)")
    if s <= 0 or d <= 0 or k <= 0:
        raise ShapeError(f"{what}: need kernel, stride and dilation > 0; got {k}, {s}, {d}")
    span = d * (k - 1) + 1
    if size + p0 + p1 < span:
        dil = f" (dilated to {span})" if d > 1 else ""
        raise ShapeError(f"{what}: kernel {k}{dil} is larger than the padded input {size} + {p0} + {p1}")
    return (size + p0 + p1 - span) // s + 1


def _groups_check(c: Dim, o: Dim, g: Any, what: str) -> None:
    if not isinstance(g, int) or g < 1:
        raise ShapeError(f"{what}: groups must be a positive int, got {g!r}")
    for name, n in (("input channels", c), ("output channels", o)):
        if isinstance(n, int) and n % g:
            raise ShapeError(f"{what}: groups={g} does not divide the {name} ({n})")


def _conv_out(ctx: InferCtx, x: TensorType, w: TensorType, attrs: dict, what: str = "conv2d") -> tuple[Dim, ...]:
    _need_rank(x, 4, f"{what} input x")
    _need_rank(w, 4, f"{what} weight w")
    ctx.need_float(x, "x")
    ctx.same_dtype([x, w], "x and w")
    g = attrs["groups"]
    kh, kw = w.shape[2], w.shape[3]
    if not all(isinstance(d, int) for d in w.shape):
        raise ShapeError(f"{what}: the weight shape {w.shape} must be static")
    _groups_check(x.shape[1], w.shape[0], g, what)
    ctx.dim_eq(x.shape[1], w.shape[1] * g, f"{what}: input channels of x (axis 1) vs w.shape[1] * groups ({g})")
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = attrs["stride"], attrs["padding"], attrs["dilation"]
    return (x.shape[0], w.shape[0], conv_out_size(x.shape[2], kh, sh, pt, pb, dh, f"{what} H"),
            conv_out_size(x.shape[3], kw, sw, pl, pr, dw, f"{what} W"))


_CONV = {"stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}


def geometry(stride: Any, padding: Any, dilation: Any, groups: Any) -> dict:
    """The attrs every conv op shares, normalized: stride and dilation pairs, 4-sided padding, groups."""
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ShapeError(f"groups must be a positive int, got {groups!r}")
    return {"stride": pair(stride, "stride"), "padding": pads4(padding), "dilation": pair(dilation, "dilation"),
            "groups": groups}


def _geo(attrs: dict) -> dict:
    return {k: attrs[k] for k in _CONV}


# ---- conv2d ------------------------------------------------------------------------------------
def _conv2d_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return [t[0].with_shape(_conv_out(ctx, t[0], t[1], attrs))]


def _conv2d_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    x, w = node.inputs
    gy = g[0]
    if gy is None:
        return [None, None]
    geo = _geo(node.attrs)
    return [conv2d_input_grad(gy, w, x.shape[2:], **geo), conv2d_weight_grad(x, gy, w.shape[2:], **geo)]


def conv_flops(node: Node, y_numel: int) -> int:
    """FLOPs of a conv-family node whose conv2d-shaped tensor (y, or gy for the backward ops) has y_numel elements:
    each element is a sum of (C/groups) * kH * kW products (multiply-add = 2)."""
    w = node.outputs[0].type.shape if node.op == "conv2d_weight_grad" else node.inputs[1].type.shape
    pooled = node.attrs.get("pool", 1) ** 2 if node.op == "conv2d_bias_act" else 1  # y is the pooled output
    return 2 * y_numel * pooled * int(w[1]) * int(w[2]) * int(w[3])


OPS.append(Op("conv2d", _conv2d_rule, 2, dict(_CONV), grad=_conv2d_grad,
              doc="y[n,o,i,j] = sum_{c in group(o),a,b} xpad[n,c,i*sh+a*dh,j*sw+b*dw] * w[o,c,a,b] (NCHW/OIHW)"))


@atomic
def conv2d(x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Value:
    """2-D convolution (cross-correlation) of x (N, C, H, W) with w (O, C/groups, kH, kW); zero padding, which
    may differ per side as (top, left, bottom, right); groups=C with O=C*m is a depthwise convolution."""
    return apply1("conv2d", [x, w], geometry(stride, padding, dilation, groups))


@atomic
def conv1d(x: Any, w: Any, stride: int = 1, padding: Any = 0, dilation: int = 1, groups: int = 1) -> Value:
    """1-D convolution of x (N, C, L) with w (O, C/groups, k): conv2d over a height-1 image (padding: an int
    or (left, right))."""
    p = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if len(p) != 2 or not all(isinstance(i, int) for i in p):
        raise ShapeError(f"conv1d padding must be an int or (left, right), got {padding!r}")
    for v, what in ((x, "input x (N, C, L)"), (w, "weight w (O, C/groups, k)")):
        if isinstance(v, Value) and v.ndim != 3:
            raise ShapeError(f"conv1d {what} must have rank 3, got {v.type}")
    y = conv2d(unsqueeze(x, 2), unsqueeze(w, 2), (1, stride), (0, p[0], 0, p[1]), (1, dilation), groups)
    return squeeze(y, 2)


# ---- conv2d_input_grad: the transpose of conv2d in x (also the transposed convolution) ----------------------
def _conv2d_input_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    gy, w = t
    _need_rank(gy, 4, "conv2d_input_grad gy")
    _need_rank(w, 4, "conv2d_input_grad w")
    h, wd = attrs["input_size"]
    x = TensorType(gy.dtype, (gy.shape[0], w.shape[1] * attrs["groups"], h, wd))
    expect = _conv_out(ctx, x, w, attrs, "conv2d_input_grad")
    ctx.dim_eq(gy.shape[1], expect[1], "conv2d_input_grad: gy channels vs w out channels")
    if tuple(gy.shape[2:]) != expect[2:]:
        raise ShapeError(f"conv2d_input_grad: gy spatial {gy.shape[2:]} != conv2d output {expect[2:]} of an input "
                         f"of size {(h, wd)}")
    return [x]


def _conv2d_input_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    # <gg, conv^T(gy; w)> = <conv(gg; w), gy>: the gradient in gy is a conv, the one in w a weight grad.
    gy, w = node.inputs
    gg = g[0]
    if gg is None:
        return [None, None]
    geo = _geo(node.attrs)
    return [conv2d(gg, w, **geo), conv2d_weight_grad(gg, gy, w.shape[2:], **geo)]


OPS.append(Op("conv2d_input_grad", _conv2d_input_grad_rule, 2, {**_CONV, "input_size": REQUIRED},
              grad=_conv2d_input_grad_grad, doc="gradient of conv2d in x: the transposed convolution of gy with w"))


def conv2d_input_grad(gy: Any, w: Any, input_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                      groups: int = 1) -> Value:
    """Transposed convolution: the gradient of conv2d with respect to x, shaped (N, C, *input_size)."""
    return apply1("conv2d_input_grad", [gy, w], {**geometry(stride, padding, dilation, groups),
                                                 "input_size": pair(tuple(input_size), "input_size")})


@atomic
def conv_transpose2d(x: Any, w: Any, stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Value:
    """Transposed 2-D convolution of x (N, C, H, W) with w (C, O/groups, kH, kW), as torch and ONNX ConvTranspose:
    size (H-1)*s - pads + d*(k-1) + 1 + output_padding per axis, output_padding < max(stride, dilation)."""
    geo = geometry(stride, padding, dilation, groups)
    op = pair(output_padding, "output_padding")
    if not isinstance(x, Value) or not isinstance(w, Value) or x.ndim != 4 or w.ndim != 4:
        raise ShapeError("conv_transpose2d needs x (N, C, H, W) and w (C, O/groups, kH, kW) graph values")
    size = []
    for ax in range(2):
        s, d, k, n = geo["stride"][ax], geo["dilation"][ax], w.shape[2 + ax], x.shape[2 + ax]
        p = geo["padding"][ax] + geo["padding"][ax + 2]
        if not isinstance(n, int) or not isinstance(k, int):
            raise ShapeError(f"conv_transpose2d: spatial dims {x.shape[2:]} and kernel {w.shape[2:]} must be static")
        if not 0 <= op[ax] < max(s, d):
            raise ShapeError(f"conv_transpose2d: output_padding {op} must be >= 0 and smaller than stride {s} or "
                             f"dilation {d} on axis {ax}")
        size.append((n - 1) * s - p + d * (k - 1) + 1 + op[ax])
        if size[-1] <= 0:
            raise ShapeError(f"conv_transpose2d: output size {size[-1]} on axis {ax} does not fit: input {n}, kernel "
                             f"{k}, stride {s}, dilation {d}, padding {p} in all")
    return conv2d_input_grad(x, w, tuple(size), **geo)


# ---- conv2d_weight_grad: the transpose of conv2d in w -------------------------------------------------
def _conv2d_weight_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x, gy = t
    _need_rank(x, 4, "conv2d_weight_grad x")
    _need_rank(gy, 4, "conv2d_weight_grad gy")
    kh, kw = attrs["kernel_size"]
    g = attrs["groups"]
    c = x.shape[1]
    if not isinstance(c, int):
        raise ShapeError(f"conv2d_weight_grad: input channels {c!r} must be static")
    _groups_check(c, gy.shape[1], g, "conv2d_weight_grad")
    w = TensorType(x.dtype, (gy.shape[1], c // g, kh, kw))
    expect = _conv_out(ctx, x, w, attrs, "conv2d_weight_grad")
    ctx.dim_eq(gy.shape[0], expect[0], "conv2d_weight_grad: batch of gy vs x")
    if tuple(gy.shape[2:]) != expect[2:]:
        raise ShapeError(f"conv2d_weight_grad: gy spatial {gy.shape[2:]} != conv2d output {expect[2:]}")
    return [w]


def _conv2d_weight_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    # <gg, WG(x, gy)> = <conv(x; gg), gy>: the gradient in x is an input grad, the one in gy a conv.
    x, gy = node.inputs
    gg = g[0]
    if gg is None:
        return [None, None]
    geo = _geo(node.attrs)
    return [conv2d_input_grad(gy, gg, x.shape[2:], **geo), conv2d(x, gg, **geo)]


OPS.append(Op("conv2d_weight_grad", _conv2d_weight_grad_rule, 2, {**_CONV, "kernel_size": REQUIRED},
              grad=_conv2d_weight_grad_grad, doc="gradient of conv2d in w: correlate x with gy"))


def conv2d_weight_grad(x: Any, gy: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                       groups: int = 1) -> Value:
    """The gradient of conv2d with respect to w, shaped (O, C/groups, *kernel_size)."""
    return apply1("conv2d_weight_grad", [x, gy], {**geometry(stride, padding, dilation, groups),
                                                  "kernel_size": pair(tuple(kernel_size), "kernel_size")})


# ---- conv2d_bias_act: a convolution with its bias, activation and 2x2 max pool in the epilogue (inference) ----
ACTIVATIONS = ("none", "relu")
POOLS = (1, 2)  # 1: no pooling; 2: a 2x2 max pool with stride 2, no padding, floor mode


def _conv2d_bias_act_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x, w, b = t
    if attrs["activation"] not in ACTIVATIONS:
        raise ShapeError(f"conv2d_bias_act: activation must be one of {ACTIVATIONS}, got {attrs['activation']!r}")
    if attrs["pool"] not in POOLS:
        raise ShapeError(f"conv2d_bias_act: pool must be one of {POOLS}, got {attrs['pool']!r}")
    y = _conv_out(ctx, x, w, attrs, "conv2d_bias_act")
    _need_rank(b, 1, "conv2d_bias_act bias b (O,)")
    ctx.same_dtype([x, b], "x and b")
    ctx.dim_eq(b.shape[0], y[1], "conv2d_bias_act: bias length vs output channels")
    if attrs["pool"] == 2:
        if not all(isinstance(d, int) and d >= 2 for d in y[2:]):
            raise ShapeError(f"conv2d_bias_act: pooling needs a static convolution output of at least 2x2, got "
                             f"{y[2:]}")
        y = (*y[:2], y[2] // 2, y[3] // 2)
    return [x.with_shape(y)]


def _conv2d_bias_act_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    x, w, _ = node.inputs
    gz = g[0]
    if gz is None:
        return [None, None, None]
    if node.attrs["pool"] != 1:
        raise ShapeError(f"conv2d_bias_act {node.name}: the pooled form is made for inference and has no gradient "
                         "(differentiate the graph before the conv_epilogue pass)")
    if node.attrs["activation"] == "relu":  # relu'(0) = 0; y > 0 exactly where the pre-activation is
        gz = where(greater(node.outputs[0], 0), gz, 0)
    geo = _geo(node.attrs)
    return [conv2d_input_grad(gz, w, x.shape[2:], **geo), conv2d_weight_grad(x, gz, w.shape[2:], **geo),
            rsum(gz, axis=(0, 2, 3))]


OPS.append(Op("conv2d_bias_act", _conv2d_bias_act_rule, 3, {**_CONV, "activation": "none", "pool": 1},
              grad=_conv2d_bias_act_grad,
              doc="pool(act(conv2d(x, w) + b[None, :, None, None])), act none or relu, pool none or 2x2 max: the "
                  "epilogue-fused convolution"))


def conv2d_bias_act(x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                    activation: str = "none", pool: int = 1) -> Value:
    """pool(act(conv2d(x, w) + b)) with b of shape (O,): the bias add, the ReLU and a 2x2 max pool (pool=2) run
    inside the convolution's kernel, on output still in cache (the inference pass `conv_epilogue` builds it)."""
    return apply1("conv2d_bias_act", [x, w, b], {**geometry(stride, padding, dilation, groups),
                                                 "activation": activation, "pool": pool})
