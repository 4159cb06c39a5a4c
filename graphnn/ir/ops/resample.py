"""Padding and resizing: pad (constant, reflect, edge) and resize (nearest or linear over the spatial axes of
NCW/NCHW tensors, with ONNX's coordinate modes), and the backward ops their gradients emit.

Resizing is linear in x and separable: each spatial axis is a fixed (out, in) matrix (`resize_matrix`), so the
forward applies them and the gradient applies their transposes. Imports only sibling ir modules.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..builder import apply1, atomic, checking
from ..errors import ShapeError
from ..graph import Node, Value
from ..op import REQUIRED, InferCtx, Op
from ..types import TensorType

OPS: list[Op] = []
PAD_MODES = ("constant", "reflect", "edge")


# ---- pad ------------------------------------------------------------------------------------------------
def _pad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x, pads, mode = t[0], attrs["pads"], attrs["mode"]
    if len(pads) != x.rank:
        raise ShapeError(f"pad: {len(pads)} (before, after) pairs for a rank-{x.rank} input {x}")
    out = []
    for ax, ((b, a), d) in enumerate(zip(pads, x.shape)):
        if b < 0 or a < 0:
            raise ShapeError(f"pad: negative padding {pads[ax]} on axis {ax} (graphnn pads, it does not crop)")
        if b == a == 0:
            out.append(d)
            continue
        if not isinstance(d, int):
            raise ShapeError(f"pad: axis {ax} of {x} is symbolic; only static axes can be padded")
        if mode == "reflect" and max(b, a) >= d:
            raise ShapeError(f"pad: reflect padding {pads[ax]} on axis {ax} must be smaller than its size {d}")
        if mode == "edge" and d == 0:
            raise ShapeError(f"pad: edge padding of the empty axis {ax}")
        out.append(d + b + a)
    return [x.with_shape(tuple(out))]


def _pad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    if g[0] is None:
        return [None]
    return [apply1("pad_grad", [g[0]], {"pads": node.attrs["pads"], "mode": node.attrs["mode"]})]


OPS.append(Op("pad", _pad_rule, 1, {"pads": REQUIRED, "mode": "constant", "value": 0.0}, grad=_pad_grad,
              doc="pad each axis by (before, after): a constant, the mirror image (reflect) or the edge value"))


@atomic
def pad(x: Any, pads: Any, mode: str = "constant", value: float = 0.0) -> Value:
    """Pad x by one (before, after) pair per axis; mode constant (with `value`), reflect or edge."""
    with checking("pad", [x], {"pads": pads, "mode": mode}):
        if mode not in PAD_MODES:
            raise ShapeError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
        try:
            pairs = tuple((int(b), int(a)) for b, a in pads)
        except (TypeError, ValueError):
            raise ShapeError(f"pad: pads must be (before, after) pairs, one per axis; got {pads!r}") from None
    return apply1("pad", [x], {"pads": pairs, "mode": mode, "value": float(value)})


def _pad_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    gy, pads = t[0], attrs["pads"]
    if len(pads) != gy.rank:
        raise ShapeError(f"pad_grad: {len(pads)} pairs for a rank-{gy.rank} gradient")
    out = []
    for (b, a), d in zip(pads, gy.shape):
        if b == a == 0:
            out.append(d)
        elif not isinstance(d, int) or d - b - a < 1:
            raise ShapeError(f"pad_grad: axis of size {d} cannot lose padding ({b}, {a})")
        else:
            out.append(d - b - a)
    return [gy.with_shape(tuple(out))]


def _pad_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    return [None if g[0] is None else pad(g[0], node.attrs["pads"], node.attrs["mode"], 0.0)]


OPS.append(Op("pad_grad", _pad_grad_rule, 1, {"pads": REQUIRED, "mode": "constant"}, grad=_pad_grad_grad,
              doc="gradient of pad: the core of gy plus, for reflect and edge, the padding folded back onto it"))


# ---- resize -----------------------------------------------------------------------------------------------
RESIZE_MODES = ("nearest", "linear")
COORD_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")
NEAREST_MODES = ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil")


def source_coords(n_in: int, n_out: int, scale: float, coord: str) -> np.ndarray:
    """Where each output position samples the input (ONNX Resize's coordinate transformation)."""
    i = np.arange(n_out, dtype=np.float64)
    if coord == "align_corners":
        return i * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    if coord == "asymmetric":
        return i / scale
    if coord == "pytorch_half_pixel" and n_out == 1:
        return np.zeros(1)
    return (i + 0.5) / scale - 0.5


def resize_matrix(n_in: int, n_out: int, scale: float, mode: str, coord: str, nearest_mode: str) -> np.ndarray:
    """(n_out, n_in) float64: row j weighs the inputs output j reads (one 1 for nearest, two weights for linear)."""
    x = source_coords(n_in, n_out, scale, coord)
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if mode == "nearest":
        pick = {"floor": np.floor(x), "ceil": np.ceil(x), "round_prefer_floor": np.ceil(x - 0.5),
                "round_prefer_ceil": np.floor(x + 0.5)}[nearest_mode]
        m[rows, np.clip(pick, 0, n_in - 1).astype(np.int64)] = 1.0
        return m
    x = np.clip(x, 0, n_in - 1)  # linear clamps outside samples to the edge (PyTorch and onnxruntime)
    lo = np.floor(x).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    w = x - lo
    np.add.at(m, (rows, lo), 1.0 - w)
    np.add.at(m, (rows, hi), w)
    return m


def resize_matrices(in_sizes: tuple, attrs: dict) -> list[np.ndarray]:
    """One (out, in) matrix per spatial axis of a resize node."""
    return [resize_matrix(n, o, s, attrs["mode"], attrs["coord"], attrs["nearest_mode"])
            for n, o, s in zip(in_sizes, attrs["size"], attrs["scales"])]


def _resize_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x = t[0]
    ctx.need_float(x, "x")
    if x.rank not in (3, 4):
        raise ShapeError(f"resize: input must be NCW or NCHW (rank 3 or 4), got {x}")
    if len(attrs["size"]) != x.rank - 2 or len(attrs["scales"]) != x.rank - 2:
        raise ShapeError(f"resize: size {attrs['size']} and scales {attrs['scales']} need {x.rank - 2} entries")
    if not all(isinstance(d, int) for d in x.shape[2:]):
        raise ShapeError(f"resize: spatial dims of {x} must be static")
    return [x.with_shape((*x.shape[:2], *attrs["size"]))]


def _resize_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    if g[0] is None:
        return [None]
    return [apply1("resize_grad", [g[0]], {**node.attrs, "input_size": tuple(node.inputs[0].shape[2:])})]


_RESIZE = {"size": REQUIRED, "scales": REQUIRED, "mode": "nearest", "coord": "asymmetric", "nearest_mode": "floor"}
OPS.append(Op("resize", _resize_rule, 1, dict(_RESIZE), grad=_resize_grad,
              doc="nearest or linear resampling of the spatial axes, ONNX Resize's coordinate modes"))


@atomic
def resize(x: Any, size: Any = None, scales: Any = None, mode: str = "nearest", coord: str = "asymmetric",
           nearest_mode: str = "floor") -> Value:
    """Resize the spatial axes of x (N, C, [H,] W) to `size` or by `scales` (output floor(in * scale)); mode
    nearest or linear; coord one of half_pixel, pytorch_half_pixel, align_corners, asymmetric (as ONNX)."""
    with checking("resize", [x], {"size": size, "scales": scales, "mode": mode, "coord": coord}):
        if mode not in RESIZE_MODES or coord not in COORD_MODES or nearest_mode not in NEAREST_MODES:
            raise ShapeError(f"resize: mode {mode!r} / coord {coord!r} / nearest_mode {nearest_mode!r}: expected "
                             f"one of {RESIZE_MODES}, {COORD_MODES}, {NEAREST_MODES}")
        if not isinstance(x, Value) or x.ndim not in (3, 4):
            raise ShapeError(f"resize: input must be an NCW or NCHW value, got {getattr(x, 'type', x)!r}")
        k = x.ndim - 2
        spatial = x.shape[2:]
        if (size is None) == (scales is None):
            raise ShapeError("resize: give exactly one of size and scales")
        if scales is not None:
            sc = (float(scales),) * k if isinstance(scales, (int, float)) else tuple(float(s) for s in scales)
            if len(sc) != k or min(sc) <= 0 or not all(math.isfinite(s) for s in sc):
                raise ShapeError(f"resize: scales {scales!r} must be {k} positive finite numbers")
            if not all(isinstance(d, int) for d in spatial):
                raise ShapeError(f"resize: spatial dims of {x.type} must be static")
            out = tuple(math.floor(d * s) for d, s in zip(spatial, sc))
        else:
            out = (int(size),) * k if isinstance(size, int) else tuple(int(s) for s in size)
            if len(out) != k or not all(isinstance(d, int) for d in spatial):
                raise ShapeError(f"resize: size {size!r} must give {k} sizes for static spatial dims {spatial}")
            sc = tuple(o / d if d else 0.0 for o, d in zip(out, spatial))
        if min(out) <= 0:
            raise ShapeError(f"resize: output size {out} must be positive")
    return apply1("resize", [x], {"size": out, "scales": sc, "mode": mode, "coord": coord,
                                  "nearest_mode": nearest_mode})


def upsample(x: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Value:
    """PyTorch's F.interpolate for 'nearest', 'linear' and 'bilinear': its coordinate convention mapped to resize."""
    lin = mode in ("linear", "bilinear")
    coord = "align_corners" if lin and align_corners else "pytorch_half_pixel" if lin else "asymmetric"
    return resize(x, size, scale_factor, "linear" if lin else "nearest", coord, "floor")


def _resize_grad_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    gy = t[0]
    ctx.need_float(gy, "gy")
    if tuple(gy.shape[2:]) != tuple(attrs["size"]):
        raise ShapeError(f"resize_grad: gy {gy} does not have the resized spatial size {attrs['size']}")
    return [gy.with_shape((*gy.shape[:2], *attrs["input_size"]))]


def _resize_grad_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    a = {k: v for k, v in node.attrs.items() if k != "input_size"}
    return [None if g[0] is None else apply1("resize", [g[0]], a)]


OPS.append(Op("resize_grad", _resize_grad_rule, 1, {**_RESIZE, "input_size": REQUIRED}, grad=_resize_grad_grad,
              doc="gradient of resize: the transposed resampling matrices applied to gy"))


def pad_grad_op(gy: Any, pads: Any, mode: str = "constant") -> Value:
    """The gradient of pad for output gradient gy (its own op: second-order gradients pad again)."""
    return apply1("pad_grad", [gy], {"pads": tuple((int(b), int(a)) for b, a in pads), "mode": mode})


def resize_grad_op(gy: Any, input_size: Any, size: Any, mode: str = "nearest", coord: str = "asymmetric",
                   nearest_mode: str = "floor") -> Value:
    """The gradient of resize (input spatial size `input_size` -> `size`) for output gradient gy."""
    sc = tuple(o / i for o, i in zip(size, input_size))
    return apply1("resize_grad", [gy], {"size": tuple(size), "scales": sc, "mode": mode, "coord": coord,
                                        "nearest_mode": nearest_mode, "input_size": tuple(input_size)})
