"""Conformance cases on the Winograd F(2x2, 3x3) and F(4x4, 3x3) paths (backends/compiled/winograd.py; issue
16): 3x3 stride-1 conv2d and stride-1 conv2d_input_grad with channels and tiles enough to take them (>= 32 input
and >= 16 output channels, >= 64 output tiles per call; F(4x4, 3x3) from 64 input channels), over pads 0/1/2,
asymmetric pads, odd sizes (tiles past the edge) and batch 1. tests/backends/numpy/test_conv_winograd.py checks
that every case here really runs on that path.

The conv's operands are fixed random constants plus a small input broadcast over them (x = X0 + dx/4 with dx of
shape (1, 1, H, W), w = W0 + dw/200 with dw of shape (1, 1, 3, 3)): the registry's gradient checks difference
every element of every input in float64, and a full 32-channel operand would take a minute per case; the
gradients with respect to dx and dw still sum every element of the Winograd input gradient and of the forward.
References are the plain loops of cases_conv.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import graphnn as gn
from graphnn.ir.ops import conv as c

from .cases import Case, In
from .cases_conv import ref_conv, ref_conv_transpose


def _operands(seed: int, xs: tuple, ws: tuple, scale: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Random X0 and W0, W0 scaled so outputs are ~`scale`: float32 F(2x2, 3x3) rounds to ~1e-7 of sum |x| |w| over
    a tile, which then stays under the ONNX parity check's absolute 1e-6 (as the GEMM path's rounding does);
    F(4x4, 3x3) rounds ~10x more, so its cases use outputs ~0.01."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(xs), rng.standard_normal(ws) * (scale / np.sqrt(9 * ws[1]))


def _x(x0: np.ndarray, dx: Any) -> Any:
    """X0 + dx/4 on graph values (dx's dtype) or NumPy arrays (float64)."""
    if isinstance(dx, np.ndarray):
        return x0 + dx.astype(np.float64) * 0.25
    return gn.constant(x0, dtype=dx.dtype) + dx * 0.25


def _w(w0: np.ndarray, dw: Any, f: float = 0.005) -> Any:
    """W0 + dw * f (f = 0.05 * the output scale: the broadcast part stays a small share of the kernel)."""
    if isinstance(dw, np.ndarray):
        return w0 + dw.astype(np.float64) * f
    return gn.constant(w0, dtype=dw.dtype) + dw * f


def _conv(xs: tuple, k: int, pads: tuple, ident: str, seed: int) -> Case:
    """conv2d of an (N, C, H, W) x with a (k, C, 3, 3) kernel, stride 1, pads (top, left, bottom, right)."""
    scale = 0.01 if xs[1] >= 64 else 0.1
    x0, w0 = _operands(seed, xs, (k, xs[1], 3, 3), scale)
    f = 0.05 * scale
    return Case("conv2d", (In((1, 1, *xs[2:])), In((1, 1, 3, 3))),
                lambda dx, dw: gn.conv2d(_x(x0, dx), _w(w0, dw, f), 1, pads),
                lambda dx, dw: ref_conv(_x(x0, dx), _w(w0, dw, f), pads=pads), ident)


def _input_grad(gys: tuple, c_out: int, size: tuple, pads: tuple, ident: str, seed: int) -> Case:
    """conv2d_input_grad of an (N, O, Ho, Wo) gy through an (O, c_out, 3, 3) kernel to (N, c_out, *size)."""
    scale = 0.01 if gys[1] >= 64 else 0.1
    g0, w0 = _operands(seed, gys, (gys[1], c_out, 3, 3), scale)
    f = 0.05 * scale
    return Case("conv2d_input_grad", (In((1, 1, *gys[2:])), In((1, 1, 3, 3))),
                lambda dg, dw: c.conv2d_input_grad(_x(g0, dg), _w(w0, dw, f), size, 1, pads),
                lambda dg, dw: ref_conv_transpose(_x(g0, dg), _w(w0, dw, f), pads=pads), ident)


# 32 output channels in the conv2d cases, so that their gradient (an input gradient with 32 channels of gy)
# takes the Winograd path too; 33 -> 17 checks channel counts that are multiples of nothing.
CASES: list[Case] = [
    _conv((4, 32, 8, 8), 32, (1, 1, 1, 1), "winograd-pad1", 1),
    _conv((4, 32, 10, 10), 32, (0, 0, 0, 0), "winograd-pad0", 2),
    _conv((4, 32, 8, 8), 32, (2, 2, 2, 2), "winograd-pad2", 3),
    _conv((4, 32, 9, 7), 32, (0, 1, 2, 1), "winograd-asym-pads-odd", 4),
    _conv((4, 32, 7, 9), 32, (1, 1, 1, 1), "winograd-odd-7x9", 5),
    _conv((1, 32, 17, 15), 32, (1, 1, 1, 1), "winograd-batch1-17x15", 6),
    _conv((4, 33, 8, 9), 17, (1, 2, 1, 0), "winograd-33-to-17", 7),
    _input_grad((4, 32, 8, 8), 16, (8, 8), (1, 1, 1, 1), "winograd-pad1", 11),
    _input_grad((4, 32, 6, 6), 16, (8, 8), (0, 0, 0, 0), "winograd-pad0", 12),
    _input_grad((4, 32, 10, 10), 16, (8, 8), (2, 2, 2, 2), "winograd-pad2", 13),
    _input_grad((4, 33, 9, 7), 17, (9, 7), (0, 1, 2, 1), "winograd-asym-pads-odd", 14),
    _input_grad((1, 32, 17, 15), 16, (17, 15), (1, 1, 1, 1), "winograd-batch1-17x15", 15),
    # F(4x4, 3x3): 64 input channels and 64 of its tiles a call (the conv2d cases' gradients take it too). Batch 1
    # needs a 32x32 map, whose finite differences round past the 1e-6 tolerance: the unit tests cover it
    # (tests/backends/numpy/test_conv_winograd_forms.py)
    _conv((4, 64, 16, 16), 64, (1, 1, 1, 1), "winograd4-pad1", 21),
    _conv((4, 64, 15, 17), 64, (0, 1, 2, 1), "winograd4-asym-pads-odd", 22),
    _input_grad((4, 64, 14, 16), 16, (16, 16), (0, 2, 0, 0), "winograd4-asym-pads", 24),
]
