"""Conformance cases of the convolution family's geometries (issues 15 and 16): strides, 4-sided padding,
dilation, groups (depthwise included), 1x1, odd sizes, batch 1, 1-D and transposed convolutions.

References are plain loops over output positions, written from the definition, not from the kernels.
"""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.ir.ops import conv as c

from .cases import Case, In


def ref_conv(x: np.ndarray, w: np.ndarray, stride: tuple = (1, 1), pads: tuple = (0, 0, 0, 0),
             dil: tuple = (1, 1), groups: int = 1) -> np.ndarray:
    """y[n, o, i, j] = sum over the group's channels and the kernel of xpad * w, one output at a time."""
    n, cin, h, wd = x.shape
    o, cg, kh, kw = w.shape
    pt, pl, pb, pr = pads
    xp = np.zeros((n, cin, h + pt + pb, wd + pl + pr), x.dtype)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    ho = (h + pt + pb - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pl + pr - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, ho, wo), x.dtype)
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(ho):
            for j in range(wo):
                r, q = i * stride[0], j * stride[1]
                patch = xp[:, g * cg:(g + 1) * cg, r:r + dil[0] * (kh - 1) + 1:dil[0], q:q + dil[1] * (kw - 1) + 1:dil[1]]
                y[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return y


def ref_conv_transpose(x: np.ndarray, w: np.ndarray, stride: tuple = (1, 1), pads: tuple = (0, 0, 0, 0),
                       out_pad: tuple = (0, 0), groups: int = 1, dil: tuple = (1, 1)) -> np.ndarray:
    """Scatter each input pixel times its kernel into the (padded) output, then crop: the definition."""
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    pt, pl, pb, pr = pads
    ho = (h - 1) * stride[0] - pt - pb + dil[0] * (kh - 1) + 1 + out_pad[0]
    wo = (wd - 1) * stride[1] - pl - pr + dil[1] * (kw - 1) + 1 + out_pad[1]
    full = np.zeros((n, og * groups, ho + pt + pb, wo + pl + pr), x.dtype)
    cg = cin // groups
    for ci in range(cin):
        g = ci // cg
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for b in range(kw):
                        r, q = i * stride[0] + a * dil[0], j * stride[1] + b * dil[1]
                        if r < full.shape[2] and q < full.shape[3]:
                            full[:, g * og:(g + 1) * og, r, q] += x[:, ci, i, j, None] * w[ci, :, a, b]
    return full[:, :, pt:pt + ho, pl:pl + wo]


def _conv_case(xs: tuple, ws: tuple, ident: str, **kw: object) -> Case:
    geo = {"stride": (1, 1), "pads": (0, 0, 0, 0), "dil": (1, 1), "groups": 1}
    geo.update(kw)
    return Case("conv2d", (In(xs), In(ws)),
                lambda x, w: gn.conv2d(x, w, geo["stride"], geo["pads"], geo["dil"], geo["groups"]),
                lambda x, w: ref_conv(x, w, geo["stride"], geo["pads"], geo["dil"], geo["groups"]), ident)


def _conv1d_ref(x: np.ndarray, w: np.ndarray, s: int, p: tuple, d: int, g: int) -> np.ndarray:
    return ref_conv(x[:, :, None], w[:, :, None], (1, s), (0, p[0], 0, p[1]), (1, d), g)[:, :, 0]


CASES: list[Case] = [
    _conv_case(("B", 4, 5, 6), (6, 2, 3, 3), "groups2-stride2-pad1", stride=(2, 2), pads=(1, 1, 1, 1), groups=2),
    _conv_case(("B", 3, 5, 7), (3, 1, 3, 2), "depthwise-asym-pad", pads=(0, 1, 2, 1), groups=3),
    _conv_case(("B", 2, 4, 4), (4, 1, 3, 3), "depthwise-multiplier2", pads=(1, 1, 1, 1), groups=2),
    _conv_case(("B", 2, 7, 6), (3, 2, 3, 2), "dilation-2x3", dil=(2, 3), pads=(1, 2, 1, 2)),
    _conv_case(("B", 3, 5, 5), (4, 3, 1, 1), "pointwise-1x1"),
    _conv_case((1, 4, 5, 5), (2, 2, 1, 1), "pointwise-groups-batch1", groups=2),
    _conv_case((1, 2, 7, 5), (3, 2, 3, 3), "batch1-odd-stride3-dil2", stride=(3, 2), dil=(2, 1), pads=(2, 0, 1, 1)),
    _conv_case(("B", 2, 6, 6), (2, 2, 1, 1), "1x1-stride2", stride=(2, 2)),
    Case("conv2d", (In(("B", 4, 9)), In((6, 2, 3))), lambda x, w: gn.conv1d(x, w, 2, (1, 2), 2, 2),
         lambda x, w: _conv1d_ref(x, w, 2, (1, 2), 2, 2), "conv1d-stride2-dil2-groups2"),
    Case("conv2d_input_grad", (In(("B", 4, 3, 4)), In((4, 3, 3, 3))),
         lambda x, w: c.conv_transpose2d(x, w, 2, (1, 0, 0, 1), (1, 0), 2, 1),
         lambda x, w: ref_conv_transpose(x, w, (2, 2), (1, 0, 0, 1), (1, 0), 2), "conv_transpose-groups-outpad"),
    Case("conv2d_input_grad", (In((1, 2, 3, 3)), In((2, 3, 2, 3))),
         lambda x, w: c.conv_transpose2d(x, w, (2, 3), 0, (1, 2), 1, (2, 1)),
         lambda x, w: ref_conv_transpose(x, w, (2, 3), (0, 0, 0, 0), (1, 2), 1, (2, 1)), "conv_transpose-dil-batch1"),
    Case("conv2d_input_grad", (In(("B", 2, 3, 4)), In((2, 3, 2, 2))),
         lambda gy, w: c.conv2d_input_grad(gy, w, (5, 4), 1, (0, 1, 0, 0), (2, 1), 1),
         lambda gy, w: ref_conv_transpose(gy, w, (1, 1), (0, 1, 0, 0), (0, 0), 1, (2, 1)), "dilated-asym"),
    # pads beyond the kernel's reach: the stride-1 input gradient crops instead of padding
    _conv_case(("B", 2, 4, 5), (3, 2, 1, 1), "1x1-padded", pads=(1, 0, 2, 1)),
    _conv_case(("B", 2, 4, 5), (3, 2, 3, 2), "pads-wider-than-kernel", pads=(3, 2, 0, 3)),
    Case("conv2d_input_grad", (In(("B", 4, 3, 3)), In((4, 1, 3, 3))),
         lambda gy, w: c.conv2d_input_grad(gy, w, (6, 6), 2, 1, 1, 4),
         lambda gy, w: ref_conv_transpose(gy, w, (2, 2), (1, 1, 1, 1), (1, 1), 4), "depthwise-stride2-col2im"),
    Case("conv2d_input_grad", (In(("B", 4, 3, 3)), In((4, 3, 1, 1))),
         lambda gy, w: c.conv2d_input_grad(gy, w, (3, 3)),
         lambda gy, w: ref_conv_transpose(gy, w), "pointwise"),
    Case("conv2d_weight_grad", (In(("B", 4, 5, 6)), In(("B", 6, 3, 3))),
         lambda x, gy: c.conv2d_weight_grad(x, gy, (3, 3), 2, 1, 1, 2), None, "groups2-stride2"),
    Case("conv2d_weight_grad", (In(("B", 2, 7, 6)), In(("B", 2, 4, 5))),
         lambda x, gy: c.conv2d_weight_grad(x, gy, (3, 2), 1, (1, 0, 0, 1), (2, 2), 2), None, "depthwise-dilated"),
    Case("conv2d_weight_grad", (In(("B", 3, 4, 5)), In(("B", 2, 4, 5))),
         lambda x, gy: c.conv2d_weight_grad(x, gy, (1, 1)), None, "pointwise"),
]
