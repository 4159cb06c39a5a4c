"""Conformance cases of the pool family (graphnn/ir/ops/pool.py): values against plain NumPy loops written here."""

from __future__ import annotations

import math

import numpy as np

import graphnn as gn
from graphnn.ir.ops import pool as p

from .cases import Case, In


def _axis_windows(size: int, k: int, s: int, pb: int, pe: int, d: int, ceil: bool) -> list[int]:
    """Window starts (in unpadded coordinates) along one axis, by PyTorch's documented formula."""
    span = (size + pb + pe - d * (k - 1) - 1) / s
    n = (math.ceil(span) if ceil else math.floor(span)) + 1
    if ceil and (n - 1) * s >= size + pb:
        n -= 1
    return [i * s - pb for i in range(n)]


def ref_pool(x: np.ndarray, k: tuple, s: tuple, pads: tuple, d: tuple = (1, 1), ceil: bool = False,
             kind: str = "max", include_pad: bool = True) -> np.ndarray:
    """Max or average pooling by explicit loops over every window and tap."""
    n, c, h, w = x.shape
    rows = _axis_windows(h, k[0], s[0], pads[0], pads[2], d[0], ceil)
    cols = _axis_windows(w, k[1], s[1], pads[1], pads[3], d[1], ceil)
    y = np.zeros((n, c, len(rows), len(cols)), x.dtype)
    for i, r0 in enumerate(rows):
        for j, c0 in enumerate(cols):
            taps = [(r0 + a * d[0], c0 + b * d[1]) for a in range(k[0]) for b in range(k[1])]
            inside = [(r, q) for r, q in taps if 0 <= r < h and 0 <= q < w]
            vals = np.stack([x[:, :, r, q] for r, q in inside], -1)
            if kind == "max":
                y[:, :, i, j] = vals.max(-1)
            else:
                in_padded = [(r, q) for r, q in taps if -pads[0] <= r < h + pads[2] and -pads[1] <= q < w + pads[3]]
                y[:, :, i, j] = vals.sum(-1) / (len(in_padded) if include_pad else len(inside))
    return y


def ref_adaptive(x: np.ndarray, out: tuple) -> np.ndarray:
    n, c, h, w = x.shape
    y = np.zeros((n, c) + tuple(out), x.dtype)
    for i in range(out[0]):
        for j in range(out[1]):
            r0, r1 = (i * h) // out[0], -((-(i + 1) * h) // out[0])
            c0, c1 = (j * w) // out[1], -((-(j + 1) * w) // out[1])
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y


def ref_max_pool2d(x: np.ndarray, k: tuple, s: tuple, pad: tuple) -> np.ndarray:
    return ref_pool(x, k, s, (pad[0], pad[1], pad[0], pad[1]))


X = In(("B", 2, 5, 6))
D = In(("B", 2, 5, 6), draw="distinct")
D5 = In(("B", 2, 5, 5), draw="distinct")
X7 = In(("B", 2, 7, 8))

CASES: list[Case] = [
    Case("max_pool2d", (D,), lambda x: gn.max_pool2d(x, 3, 2, 1), lambda x: ref_max_pool2d(x, (3, 3), (2, 2), (1, 1))),
    Case("max_pool2d", (D,), lambda x: gn.max_pool2d(x, (2, 3)), lambda x: ref_max_pool2d(x, (2, 3), (2, 3), (0, 0)),
         "rect"),
    Case("max_pool2d", (D5,), lambda x: gn.max_pool2d(x, 3, 2, (1, 0, 0, 1), ceil_mode=True),
         lambda x: ref_pool(x, (3, 3), (2, 2), (1, 0, 0, 1), ceil=True), "ceil_asym"),
    Case("max_pool2d", (D,), lambda x: gn.max_pool2d(x, 2, 1, 1, dilation=2),
         lambda x: ref_pool(x, (2, 2), (1, 1), (1, 1, 1, 1), (2, 2)), "dilated"),
    Case("max_pool2d_grad", (D, In(("B", 2, 3, 3))), lambda x, gy: p.max_pool2d_grad(x, gy, 3, 2, 1)),
    Case("max_pool2d_grad", (D5, In(("B", 2, 3, 3))), lambda x, gy: p.max_pool2d_grad(x, gy, 3, 2, (1, 0, 0, 1), 1, True),
         None, "ceil"),
    Case("max_pool2d_select", (D, X), lambda x, z: p.max_pool2d_select(x, z, 3, 2, 1)),
    Case("avg_pool2d", (X7,), lambda x: p.avg_pool2d(x, 3, 2, 1),
         lambda x: ref_pool(x, (3, 3), (2, 2), (1, 1, 1, 1), kind="avg")),
    Case("avg_pool2d", (X7,), lambda x: p.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
         lambda x: ref_pool(x, (3, 3), (2, 2), (1, 1, 1, 1), ceil=True, kind="avg", include_pad=False), "ceil_excl"),
    Case("avg_pool2d", (X7,), lambda x: p.avg_pool2d(x, (2, 3), (2, 2), (0, 1, 1, 0), ceil_mode=True),
         lambda x: ref_pool(x, (2, 3), (2, 2), (0, 1, 1, 0), ceil=True, kind="avg"), "ceil_asym_incl"),
    Case("avg_pool2d_grad", (In(("B", 2, 4, 4)),), lambda gy: p.avg_pool2d_grad(gy, (7, 8), 3, 2, 1)),
    Case("adaptive_avg_pool2d", (X7,), lambda x: p.adaptive_avg_pool2d(x, (3, 5)), lambda x: ref_adaptive(x, (3, 5))),
    Case("adaptive_avg_pool2d", (X7,), lambda x: p.adaptive_avg_pool2d(x, 1), lambda x: ref_adaptive(x, (1, 1)),
         "global"),
    Case("adaptive_avg_pool2d_grad", (In(("B", 2, 3, 5)),), lambda gy: p.adaptive_avg_pool2d_grad(gy, (7, 8))),
]
