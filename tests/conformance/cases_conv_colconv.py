"""Conformance cases on the compiled column path (backends/compiled/colconv.py; issue 16): stride-1 conv2d and
conv2d_bias_act of a batch-1 call whose columns fit COLS_VALUES, in float32 (float64 takes the NumPy GEMM
path): few input channels, kernels 1x1 to 5x5 with even and odd sizes, symmetric and asymmetric pads, odd maps,
groups (depthwise) and dilation. tests/backends/numpy/test_conv_team.py checks that every case here really runs
on that path; the pooled form, which has no gradient, is checked there against plain NumPy.

References are the plain loops of cases_conv.py.
"""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.ir.ops import conv as c

from .cases import Case, In
from .cases_conv import ref_conv


def _conv(xs: tuple, ws: tuple, pads: tuple, ident: str, dil: tuple = (1, 1), groups: int = 1) -> Case:
    return Case("conv2d", (In(xs), In(ws)), lambda x, w: gn.conv2d(x, w, 1, pads, dil, groups),
                lambda x, w: ref_conv(x, w, pads=pads, dil=dil, groups=groups), ident)


def _bias_act(xs: tuple, ws: tuple, pads: tuple, act: str, ident: str) -> Case:
    def ref(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = ref_conv(x, w, pads=pads) + b[None, :, None, None]
        return np.maximum(y, 0) if act == "relu" else y

    return Case("conv2d_bias_act", (In(xs), In(ws), In((ws[0],))),
                lambda x, w, b: c.conv2d_bias_act(x, w, b, 1, pads, activation=act), ref, ident)


CASES: list[Case] = [
    _conv((1, 3, 9, 7), (5, 3, 3, 3), (1, 1, 1, 1), "colconv-batch1-3x3-pad1"),
    _conv((1, 2, 8, 9), (4, 2, 5, 5), (2, 1, 0, 2), "colconv-batch1-5x5-asym-pads"),
    _conv((1, 3, 6, 7), (3, 3, 1, 3), (0, 1, 0, 1), "colconv-batch1-1x3"),
    _conv((1, 4, 5, 6), (2, 4, 2, 2), (0, 0, 0, 0), "colconv-batch1-2x2-pad0"),
    _conv((1, 1, 4, 4), (2, 1, 1, 1), (1, 0, 1, 2), "colconv-batch1-1x1-padded"),
    _conv((1, 5, 4, 6), (3, 5, 1, 1), (0, 0, 0, 0), "colconv-batch1-pointwise"),
    _conv((1, 4, 7, 6), (4, 1, 3, 3), (1, 1, 1, 1), "colconv-batch1-depthwise", groups=4),
    _conv((1, 4, 9, 8), (6, 2, 3, 2), (2, 1, 1, 0), "colconv-batch1-dilated-groups2", dil=(2, 3), groups=2),
    _bias_act((1, 2, 7, 6), (4, 2, 3, 3), (1, 1, 1, 1), "relu", "colconv-batch1-relu"),
    _bias_act((1, 1, 6, 5), (3, 1, 3, 3), (0, 2, 1, 0), "none", "colconv-batch1-asym-none"),
]
