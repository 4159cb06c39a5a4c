"""Conformance cases of conv2d_bias_act, the epilogue-fused convolution of the inference pass conv_epilogue
(issue 16): act(conv2d(x, w) + b) on each kernel path it serves: stride 1 over padded rows, strided im2col,
1x1 on x itself, groups, dilation, asymmetric padding, odd sizes, batch 1; activation none and relu.

The reference is the plain loop of cases_conv.ref_conv plus the bias, then max(., 0).
"""

from __future__ import annotations

import numpy as np

from graphnn.ir.ops import conv as c

from .cases import Case, In
from .cases_conv import ref_conv


def _case(xs: tuple, ws: tuple, ident: str, act: str = "relu", stride: tuple = (1, 1), pads: tuple = (0, 0, 0, 0),
          dil: tuple = (1, 1), groups: int = 1, draw: str = "normal") -> Case:
    def ref(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = ref_conv(x, w, stride, pads, dil, groups) + b[None, :, None, None]
        return np.maximum(y, 0) if act == "relu" else y

    return Case("conv2d_bias_act", (In(xs, draw=draw), In(ws, draw=draw), In((ws[0],), draw=draw)),
                lambda x, w, b: c.conv2d_bias_act(x, w, b, stride, pads, dil, groups, act), ref, ident)


CASES: list[Case] = [
    _case(("B", 3, 6, 5), (4, 3, 3, 3), "stride1-pad1-relu", pads=(1, 1, 1, 1)),
    _case(("B", 3, 6, 5), (4, 3, 3, 3), "stride1-pad1-none", act="none", pads=(1, 1, 1, 1)),
    _case(("B", 4, 7, 6), (6, 2, 3, 3), "groups2-stride2-pad1", stride=(2, 2), pads=(1, 1, 1, 1), groups=2),
    _case(("B", 2, 7, 6), (3, 2, 3, 2), "dilation-asym-pad-none", act="none", dil=(2, 3), pads=(1, 2, 0, 1)),
    _case(("B", 3, 4, 5), (4, 3, 1, 1), "pointwise-none", act="none"),
    _case(("B", 4, 4, 5), (4, 1, 3, 3), "depthwise-positive", pads=(1, 1, 1, 1), groups=4, draw="pos"),
    _case((1, 2, 7, 5), (3, 2, 3, 3), "batch1-odd-stride3-dil2", stride=(3, 2), dil=(2, 1), pads=(2, 0, 1, 1)),
    _case((1, 4, 5, 5), (2, 2, 1, 1), "pointwise-groups-batch1", groups=2),
]
