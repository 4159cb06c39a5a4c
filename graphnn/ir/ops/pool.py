"""Pooling on NCHW tensors: max_pool2d and the backward ops its gradients emit.

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
        raise ShapeError(f"{what}: spatial dim {size!r} must be static (pooling shapes are decided at build time)")
    if s <= 0 or p < 0 or k <= 0:
        raise ShapeError(f"{what}: need kernel > 0, stride > 0, padding >= 0; got {k}, {s}, {p}")
    if size + 2 * p < k:
        raise ShapeError(f"{what}: kernel {k} is larger than the padded input {size} + 2*{p}")
    return (size + 2 * p - k) // s + 1


def _need_rank(t: TensorType, rank: int, what: str) -> None:
    if t.rank != rank:
        raise ShapeError(f"{what} must have rank {rank} (NCHW), got {t}")


# ---- max pooling -------------------------------------------------------------------------------------
# Pooling picks, per window, the first position holding the max (row-major within the window). Three ops
# share that choice: max_pool2d (take x there), max_pool2d_select (take z there) and max_pool2d_grad (send
# gy back there). grad and select are each other's transpose, so gradients of any order stay in the family;
# their gradient in x is zero (the choice is piecewise constant in x).
_POOL = {"kernel_size": REQUIRED, "stride": REQUIRED, "padding": (0, 0)}


def _pool_out(ctx: InferCtx, x: TensorType, attrs: dict, what: str) -> tuple[Dim, ...]:
    _need_rank(x, 4, f"{what} input")
    ctx.need_float(x, "x")
    (kh, kw), (sh, sw), (ph, pw) = attrs["kernel_size"], attrs["stride"], attrs["padding"]
    if ph > kh // 2 or pw > kw // 2:
        raise ShapeError(f"{what}: padding {attrs['padding']} must be at most half the kernel {attrs['kernel_size']}")
    return (x.shape[0], x.shape[1], out_size(x.shape[2], kh, sh, ph, f"{what} H"),
            out_size(x.shape[3], kw, sw, pw, f"{what} W"))


def _max_pool2d_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return [t[0].with_shape(_pool_out(ctx, t[0], attrs, "max_pool2d"))]


def _max_pool2d_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None if g[0] is None else max_pool2d_grad(node.inputs[0], g[0], **node.attrs)]


OPS.append(Op("max_pool2d", _max_pool2d_rule, 1, dict(_POOL), grad=_max_pool2d_grad,
              doc="max over each kH x kW window (padding is -inf); gradient to the first max of a window"))


def _pool_attrs(kernel_size: Any, stride: Any, padding: Any) -> dict:
    k = pair(kernel_size, "kernel_size")
    return {"kernel_size": k, "stride": k if stride is None else pair(stride, "stride"),
            "padding": pair(padding, "padding")}


@atomic
def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Value:
    """Max pooling over NCHW windows; stride defaults to the kernel size."""
    return apply1("max_pool2d", [x], _pool_attrs(kernel_size, stride, padding))


def _two_rule(ctx: InferCtx, t: list[TensorType], attrs: dict, what: str, small: int) -> list[TensorType]:
    x, other = t
    ctx.same_dtype([x, other], f"{what} inputs")
    out = _pool_out(ctx, x, attrs, what)
    want = out if small == 1 else x.shape
    _need_rank(other, 4, f"{what} second input")
    for i, (a, b) in enumerate(zip(other.shape, want)):
        ctx.dim_eq(a, b, f"{what}: second input axis {i}")
    return [x.with_shape(x.shape if small == 1 else out)]


def _max_pool2d_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return _two_rule(ctx, t, attrs, "max_pool2d_grad", 1)


def _max_pool2d_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None, None if g[0] is None else max_pool2d_select(node.inputs[0], g[0], **node.attrs)]


OPS.append(Op("max_pool2d_grad", _max_pool2d_grad_rule, 2, dict(_POOL), grad=_max_pool2d_grad_grad,
              doc="(x, gy) -> gx: gy routed to each window's first max in x, summed where windows overlap"))


def max_pool2d_grad(x: Any, gy: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Value:
    """The gradient of max_pool2d(x) for output gradient gy (shaped like x)."""
    return apply1("max_pool2d_grad", [x, gy], _pool_attrs(kernel_size, stride, padding))


def _max_pool2d_select_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    return _two_rule(ctx, t, attrs, "max_pool2d_select", 0)


def _max_pool2d_select_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None, None if g[0] is None else max_pool2d_grad(node.inputs[0], g[0], **node.attrs)]


OPS.append(Op("max_pool2d_select", _max_pool2d_select_rule, 2, dict(_POOL), grad=_max_pool2d_select_grad,
              doc="(x, z) -> z at each window's first max in x (the transpose of max_pool2d_grad)"))


def max_pool2d_select(x: Any, z: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Value:
    """Pool z by the positions where x is maximal (used by second-order gradients of max pooling)."""
    return apply1("max_pool2d_select", [x, z], _pool_attrs(kernel_size, stride, padding))
