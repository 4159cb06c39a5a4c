"""Convolution on NCHW tensors: conv2d and the backward ops its gradients emit (pooling is in pool.py).

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

OPS: list[Op] = []


def pair(v: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints -> a pair of ints (stride, padding, kernel size)."""
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) for i in t):
        raise ShapeError(f"{what} must be an int or a pair of ints, got {v!r}")
    return (int(t[0]), int(t[1]))


def out_size(size: Dim, k: int, s: int, p: int, what: str) -> int:
    """floor((size + 2p - k) / s) + 1, the number of window positions along one axis."""
    if not isinstance(size, int):
        raise ShapeError(f"{what}: spatial dim {size!r} must be static (conv/pool shapes are decided at build time)")
    if s <= 0 or p < 0 or k <= 0:
        raise ShapeError(f"{what}: need kernel > 0, stride > 0, padding >= 0; got {k}, {s}, {p}")
    if size + 2 * p < k:
        raise ShapeError(f"{what}: kernel {k} is larger than the padded input {size} + 2*{p}")
    return (size + 2 * p - k) // s + 1


def _need_rank(t: TensorType, rank: int, what: str) -> None:
    if t.rank != rank:
        raise ShapeError(f"{what} must have rank {rank} (NCHW / OIHW), got {t}")


def _conv_out(ctx: InferCtx, x: TensorType, w: TensorType, attrs: dict) -> tuple[Dim, ...]:
    _need_rank(x, 4, "conv2d input x")
    _need_rank(w, 4, "conv2d weight w")
    ctx.need_float(x, "x")
    ctx.same_dtype([x, w], "x and w")
    ctx.dim_eq(x.shape[1], w.shape[1], "conv2d: input channels of x (axis 1) vs w (axis 1)")
    (sh, sw), (ph, pw) = attrs["stride"], attrs["padding"]
    kh, kw = w.shape[2], w.shape[3]
    if not isinstance(kh, int) or not isinstance(kw, int):
        raise ShapeError("conv2d: kernel size must be static")
    return (x.shape[0], w.shape[0], out_size(x.shape[2], kh, sh, ph, "conv2d H"),
            out_size(x.shape[3], kw, sw, pw, "conv2d W"))


_CONV = {"stride": (1, 1), "padding": (0, 0)}


# ---- conv2d ------------------------------------------------------------------------------------
def _conv2d_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return [t[0].with_shape(_conv_out(ctx, t[0], t[1], attrs))]


def _conv2d_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    x, w = node.inputs
    gy = g[0]
    if gy is None:
        return [None, None]
    a = node.attrs
    return [conv2d_input_grad(gy, w, x.shape[2:], a["stride"], a["padding"]),
            conv2d_weight_grad(x, gy, w.shape[2:], a["stride"], a["padding"])]


OPS.append(Op("conv2d", _conv2d_rule, 2, dict(_CONV), grad=_conv2d_grad,
              doc="y[n,o,i,j] = sum_{c,a,b} xpad[n,c,i*sh+a,j*sw+b] * w[o,c,a,b] (cross-correlation, NCHW/OIHW)"))


@atomic
def conv2d(x: Any, w: Any, stride: Any = 1, padding: Any = 0) -> Value:
    """2-D convolution (cross-correlation) of x (N, C, H, W) with w (O, C, kH, kW); zero padding."""
    return apply1("conv2d", [x, w], {"stride": pair(stride, "stride"), "padding": pair(padding, "padding")})


# ---- conv2d_input_grad: the transpose of conv2d in x -------------------------------------------------
def _conv2d_input_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    gy, w = t
    _need_rank(gy, 4, "conv2d_input_grad gy")
    h, wd = attrs["input_size"]
    x = TensorType(gy.dtype, (gy.shape[0], w.shape[1], h, wd))
    expect = _conv_out(ctx, x, w, attrs)
    ctx.dim_eq(gy.shape[1], expect[1], "conv2d_input_grad: gy channels vs w out channels")
    if tuple(gy.shape[2:]) != expect[2:]:
        raise ShapeError(f"conv2d_input_grad: gy spatial {gy.shape[2:]} != conv2d output {expect[2:]}")
    return [x]


def _conv2d_input_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    # <gg, conv^T(gy; w)> = <conv(gg; w), gy>: the gradient in gy is a conv, the one in w a weight grad.
    gy, w = node.inputs
    gg = g[0]
    if gg is None:
        return [None, None]
    a = node.attrs
    return [conv2d(gg, w, a["stride"], a["padding"]), conv2d_weight_grad(gg, gy, w.shape[2:], a["stride"], a["padding"])]


OPS.append(Op("conv2d_input_grad", _conv2d_input_grad_rule, 2, {**_CONV, "input_size": REQUIRED},
              grad=_conv2d_input_grad_grad, doc="gradient of conv2d in x: the transposed convolution of gy with w"))


def conv2d_input_grad(gy: Any, w: Any, input_size: Any, stride: Any = 1, padding: Any = 0) -> Value:
    """Transposed convolution: the gradient of conv2d with respect to x, shaped (N, C, *input_size)."""
    return apply1("conv2d_input_grad", [gy, w], {"stride": pair(stride, "stride"), "padding": pair(padding, "padding"),
                                                 "input_size": pair(tuple(input_size), "input_size")})


# ---- conv2d_weight_grad: the transpose of conv2d in w -------------------------------------------------
def _conv2d_weight_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x, gy = t
    _need_rank(gy, 4, "conv2d_weight_grad gy")
    kh, kw = attrs["kernel_size"]
    w = TensorType(x.dtype, (gy.shape[1], x.shape[1] if x.rank == 4 else 0, kh, kw))
    expect = _conv_out(ctx, x, w, attrs)
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
    a = node.attrs
    return [conv2d_input_grad(gy, gg, x.shape[2:], a["stride"], a["padding"]), conv2d(x, gg, a["stride"], a["padding"])]


OPS.append(Op("conv2d_weight_grad", _conv2d_weight_grad_rule, 2, {**_CONV, "kernel_size": REQUIRED},
              grad=_conv2d_weight_grad_grad, doc="gradient of conv2d in w: correlate x with gy"))


def conv2d_weight_grad(x: Any, gy: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0) -> Value:
    """The gradient of conv2d with respect to w, shaped (O, C, *kernel_size)."""
    return apply1("conv2d_weight_grad", [x, gy], {"stride": pair(stride, "stride"), "padding": pair(padding, "padding"),
                                                  "kernel_size": pair(tuple(kernel_size), "kernel_size")})
