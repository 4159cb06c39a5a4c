"""3-D convolution and pooling on NCDHW tensors, built from the 2-D ops: the depth axis is folded into the batch
((N, C, D, H, W) -> (N*D, C, H, W)), the 2-D op handles height and width, and the depth window is a sum (or an
elementwise maximum) of strided depth slices. No op of its own, so gradients and every backend come for free.

Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..builder import atomic, checking
from ..errors import ShapeError
from ..graph import Value
from .conv import conv2d, conv_transpose2d
from .elementwise import maximum
from .pool import avg_pool2d, axis_out, max_pool2d
from .resample import pad
from .shape_ops import getitem, reshape, transpose

_TO_NDCHW = (0, 2, 1, 3, 4)  # its own inverse


def triple(v: Any, what: str) -> tuple[int, int, int]:
    """An int or three ints -> three ints (stride, kernel size, dilation)."""
    t = (v,) * 3 if isinstance(v, int) else tuple(v)
    if len(t) != 3 or not all(isinstance(i, (int, np.integer)) for i in t):
        raise ShapeError(f"{what} must be an int or three ints (depth, height, width), got {v!r}")
    return (int(t[0]), int(t[1]), int(t[2]))


def pads6(v: Any) -> tuple[int, ...]:
    """Padding as ONNX orders it (d0, h0, w0, d1, h1, w1): an int, a symmetric (d, h, w) triple or six ints."""
    t = (v,) * 6 if isinstance(v, int) else tuple(v)
    if len(t) == 3:
        t = t + t
    if len(t) != 6 or not all(isinstance(i, (int, np.integer)) for i in t) or min(t) < 0:
        raise ShapeError(f"padding must be an int >= 0, a (d, h, w) triple or six ints (begins, then ends), "
                         f"got {v!r}")
    return tuple(int(i) for i in t)


def _need_5d(x: Any, what: str, name: str = "x") -> None:
    if not isinstance(x, Value) or x.ndim != 5 or not all(isinstance(d, int) for d in x.shape[1:]):
        raise ShapeError(f"{what}: {name} must be a rank-5 (N, C, D, H, W) value with static C, D, H, W; got "
                         f"{getattr(x, 'type', x)!r}")


def _fold(x: Value, pb: int, pe: int, value: float) -> Value:
    """(N, C, D, H, W) -> (N, D + pb + pe, C, H, W), the depth padded with `value`."""
    t = transpose(x, _TO_NDCHW)
    if pb or pe:
        t = pad(t, ((0, 0), (pb, pe), (0, 0), (0, 0), (0, 0)), value=value)
    return t


def _depth_slices(t: Value, k: int, s: int, d: int, n_out: int) -> list[Value]:
    """For each depth-kernel tap, the strided slice of axis 1 that tap reads for every output position."""
    return [getitem(t, (slice(None), slice(i * d, i * d + (n_out - 1) * s + 1, s))) for i in range(k)]


def _planes(t: Value) -> Value:
    """(N, D, C, H, W) -> (N*D, C, H, W)."""
    return reshape(t, (-1, *t.shape[2:]))


def _unplanes(y: Value, depth: int) -> Value:
    """(N*D, C, H, W) -> (N, C, D, H, W)."""
    return transpose(reshape(y, (-1, depth, *y.shape[1:])), _TO_NDCHW)


@atomic
def conv3d(x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Value:
    """3-D convolution of x (N, C, D, H, W) with w (O, C/groups, kD, kH, kW): one conv2d per depth tap over the
    depth-folded input, summed; zero padding may differ per side as (d0, h0, w0, d1, h1, w1)."""
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    with checking("conv3d", [x, w], attrs):
        _need_5d(x, "conv3d")
        _need_5d(w, "conv3d", "w (O, C/groups, kD, kH, kW)")
        s, d, p = triple(stride, "stride"), triple(dilation, "dilation"), pads6(padding)
        if min(s) <= 0 or min(d) <= 0:
            raise ShapeError(f"conv3d: stride {s} and dilation {d} must be positive")
        if not isinstance(groups, int) or groups <= 0 or x.shape[1] % groups or w.shape[0] % groups:
            raise ShapeError(f"conv3d: groups {groups} must divide the input channels {x.shape[1]} and the "
                             f"output channels {w.shape[0]}")
        if x.shape[1] != w.shape[1] * groups:
            raise ShapeError(f"conv3d: input {x.type} has {x.shape[1]} channels, weight {w.type} expects "
                             f"{w.shape[1]} x groups {groups}")
        kd = w.shape[2]
        span = d[0] * (kd - 1) + 1
        depth = x.shape[2] + p[0] + p[3]
        if depth < span:
            raise ShapeError(f"conv3d: depth window {span} (kernel {kd}, dilation {d[0]}) is larger than the padded "
                             f"input depth {x.shape[2]} + {p[0]} + {p[3]}")
    n_out = (depth - span) // s[0] + 1
    t = _fold(x, p[0], p[3], 0.0)
    hw = (p[1], p[2], p[4], p[5])
    y = None
    for i, xs in enumerate(_depth_slices(t, kd, s[0], d[0], n_out)):
        yi = conv2d(_planes(xs), getitem(w, (slice(None), slice(None), i)), s[1:], hw, d[1:], groups)
        y = yi if y is None else y + yi
    return _unplanes(y, n_out)


@atomic
def conv_transpose3d(x: Any, w: Any, stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Value:
    """Transposed 3-D convolution of x (N, C, D, H, W) with w (C, O/groups, kD, kH, kW), as torch and ONNX
    ConvTranspose: per depth tap, conv_transpose2d of every input plane, spread to every stride-th output depth
    (zero planes between) at the tap's offset, summed, then the depth padding cropped."""
    attrs = {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups,
             "dilation": dilation}
    with checking("conv_transpose3d", [x, w], attrs):
        _need_5d(x, "conv_transpose3d")
        _need_5d(w, "conv_transpose3d", "w (C, O/groups, kD, kH, kW)")
        s, d, p = triple(stride, "stride"), triple(dilation, "dilation"), pads6(padding)
        op = triple(output_padding, "output_padding")
        if min(s) <= 0 or min(d) <= 0:
            raise ShapeError(f"conv_transpose3d: stride {s} and dilation {d} must be positive")
        if not isinstance(groups, int) or groups <= 0 or x.shape[1] % groups or x.shape[1] != w.shape[0]:
            raise ShapeError(f"conv_transpose3d: groups {groups} must divide the input channels {x.shape[1]}, "
                             f"and the weight {w.type} must have one row per input channel")
        if not 0 <= op[0] < max(s[0], d[0]):
            raise ShapeError(f"conv_transpose3d: output_padding {op} must be >= 0 and smaller than the stride "
                             f"{s[0]} or dilation {d[0]} in depth")
        depth, kd = x.shape[2], w.shape[2]
        full = (depth - 1) * s[0] + d[0] * (kd - 1) + 1 + op[0]
        if full - p[0] - p[3] <= 0:
            raise ShapeError(f"conv_transpose3d: output depth {full - p[0] - p[3]} does not fit: input {depth}, "
                             f"kernel {kd}, stride {s[0]}, dilation {d[0]}, padding ({p[0]}, {p[3]})")
    planes = _planes(transpose(x, _TO_NDCHW))
    reach = (depth - 1) * s[0] + 1  # the output depths one tap writes, first to last
    y = None
    for i in range(kd):
        z = conv_transpose2d(planes, getitem(w, (slice(None), slice(None), i)), s[1:], (p[1], p[2], p[4], p[5]),
                             op[1:], groups, d[1:])
        z = reshape(z, (-1, depth, 1, *z.shape[1:]))  # (N, D, 1, O, H, W): stride-1 zero planes after each
        if s[0] > 1:
            z = pad(z, ((0, 0), (0, 0), (0, s[0] - 1), (0, 0), (0, 0), (0, 0)))
        z = getitem(reshape(z, (-1, depth * s[0], *z.shape[3:])), (slice(None), slice(0, reach)))
        z = pad(z, ((0, 0), (i * d[0], full - reach - i * d[0]), (0, 0), (0, 0), (0, 0)))
        y = z if y is None else y + z
    y = getitem(y, (slice(None), slice(p[0], full - p[3])))
    return transpose(y, _TO_NDCHW)


def _pool3d_geometry(x: Any, what: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                     ceil_mode: bool) -> tuple:
    """(k, s, p, d, output depth, extra end padding for ceil mode) of a 3-D pooling, checked like the 2-D ops."""
    _need_5d(x, what)
    k = triple(kernel_size, "kernel_size")
    s = k if stride is None else triple(stride, "stride")
    p, d = pads6(padding), triple(dilation, "dilation")
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0:
        raise ShapeError(f"{what}: need kernel, stride, dilation > 0; got kernel {k}, stride {s}, dilation {d}")
    size, span = x.shape[2], d[0] * (k[0] - 1) + 1
    if size + p[0] + p[3] < span:
        raise ShapeError(f"{what}: depth window {span} (kernel {k[0]}, dilation {d[0]}) is larger than the padded "
                         f"input depth {size} + {p[0]} + {p[3]}")
    if max(p[0], p[3]) >= span:
        raise ShapeError(f"{what}: depth padding ({p[0]}, {p[3]}) must be smaller than the (dilated) kernel {k[0]}")
    n_out = axis_out(size, k[0], s[0], p[0], p[3], d[0], bool(ceil_mode))
    extra = max(0, (n_out - 1) * s[0] + span - (size + p[0] + p[3]))
    return k, s, p, d, n_out, extra


@atomic
def max_pool3d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Value:
    """Max pooling over NCDHW windows: max_pool2d over every depth plane, then the maximum of the depth window's
    strided slices (depth padding is -inf, so it never wins); stride defaults to the kernel size."""
    attrs = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "dilation": dilation}
    with checking("max_pool3d", [x], attrs):
        k, s, p, d, n_out, extra = _pool3d_geometry(x, "max_pool3d", kernel_size, stride, padding, dilation,
                                                    ceil_mode)
    t = _fold(x, p[0], p[3] + extra, float("-inf"))
    planes = max_pool2d(_planes(t), k[1:], s[1:], (p[1], p[2], p[4], p[5]), d[1:], ceil_mode)
    t = reshape(planes, (-1, t.shape[1], *planes.shape[1:]))
    y = None
    for ys in _depth_slices(t, k[0], s[0], d[0], n_out):
        y = ys if y is None else maximum(y, ys)
    return transpose(y, _TO_NDCHW)


def depth_divisors(size: int, n_out: int, k: int, s: int, pb: int, pe: int, d: int, include_pad: bool) -> np.ndarray:
    """Per output depth, the taps that count (inside the padded input, or inside the input only); the 2-D op's
    divisor is the same count per axis, and a 3-D window's count is the product over its axes."""
    taps = (np.arange(n_out) * s - pb)[:, None] + np.arange(k)[None, :] * d
    lo, hi = (-pb, size + pe) if include_pad else (0, size)
    return ((taps >= lo) & (taps < hi)).sum(axis=1).astype("float64")


@atomic
def avg_pool3d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, dilation: Any = 1) -> Value:
    """Average pooling over NCDHW windows: avg_pool2d over every depth plane, then the depth window's slices
    summed and divided by its own tap count (the divisor factors per axis); stride defaults to the kernel size."""
    attrs = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "dilation": dilation}
    with checking("avg_pool3d", [x], attrs):
        k, s, p, d, n_out, extra = _pool3d_geometry(x, "avg_pool3d", kernel_size, stride, padding, dilation,
                                                    ceil_mode)
    t = _fold(x, p[0], p[3] + extra, 0.0)
    planes = avg_pool2d(_planes(t), k[1:], s[1:], (p[1], p[2], p[4], p[5]), ceil_mode, count_include_pad, d[1:])
    t = reshape(planes, (-1, t.shape[1], *planes.shape[1:]))
    y = None
    for ys in _depth_slices(t, k[0], s[0], d[0], n_out):
        y = ys if y is None else y + ys
    div = depth_divisors(x.shape[2], n_out, k[0], s[0], p[0], p[3], d[0], bool(count_include_pad))
    y = y * (1.0 / div).astype(x.dtype).reshape(1, n_out, 1, 1, 1)
    return transpose(y, _TO_NDCHW)
