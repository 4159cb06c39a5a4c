"""Conformance cases of the resample family (graphnn/ir/ops/resample.py): values against NumPy written here."""

from __future__ import annotations

import numpy as np

from graphnn.ir.ops import resample as R

from .cases import Case, In

X = In(("B", 2, 4, 5))


def _np_nearest(x: np.ndarray, out: tuple) -> np.ndarray:
    """PyTorch's 'nearest': output i reads input floor(i * in / out)."""
    h, w = x.shape[2:]
    rows = np.floor(np.arange(out[0]) * h / out[0]).astype(int)
    cols = np.floor(np.arange(out[1]) * w / out[1]).astype(int)
    return x[:, :, rows][:, :, :, cols]


def _np_bilinear_align(x: np.ndarray, out: tuple) -> np.ndarray:
    """Bilinear with align_corners: output i samples i * (in - 1) / (out - 1), by explicit loops."""
    n, c, h, w = x.shape
    y = np.zeros((n, c) + out, x.dtype)
    for i in range(out[0]):
        for j in range(out[1]):
            r, q = i * (h - 1) / (out[0] - 1), j * (w - 1) / (out[1] - 1)
            r0, q0 = min(int(r), h - 2), min(int(q), w - 2)
            dr, dq = r - r0, q - q0
            y[:, :, i, j] = ((1 - dr) * (1 - dq) * x[:, :, r0, q0] + (1 - dr) * dq * x[:, :, r0, q0 + 1]
                             + dr * (1 - dq) * x[:, :, r0 + 1, q0] + dr * dq * x[:, :, r0 + 1, q0 + 1])
    return y


PADS = ((0, 0), (0, 0), (1, 2), (2, 1))
CASES: list[Case] = [
    Case("pad", (X,), lambda x: R.pad(x, PADS, value=1.5), lambda x: np.pad(x, PADS, constant_values=1.5)),
    Case("pad", (X,), lambda x: R.pad(x, PADS, "reflect"), lambda x: np.pad(x, PADS, mode="reflect"), "reflect"),
    Case("pad", (X,), lambda x: R.pad(x, PADS, "edge"), lambda x: np.pad(x, PADS, mode="edge"), "edge"),
    Case("pad_grad", (In(("B", 2, 7, 8)),), lambda g: R.pad_grad_op(g, PADS, "reflect")),
    Case("resize", (X,), lambda x: R.resize(x, size=(7, 3)), lambda x: _np_nearest(x, (7, 3))),
    Case("resize", (X,), lambda x: R.resize(x, scales=2.0), lambda x: x.repeat(2, 2).repeat(2, 3), "scale2"),
    Case("resize", (X,), lambda x: R.resize(x, size=(6, 7), mode="linear", coord="align_corners"),
         lambda x: _np_bilinear_align(x, (6, 7)), "linear_align"),
    Case("resize", (X,), lambda x: R.resize(x, scales=(1.5, 2.0), mode="linear", coord="half_pixel"), None,
         "linear_half"),
    Case("resize", (X,), lambda x: R.resize(x, size=(7, 8), coord="half_pixel", nearest_mode="round_prefer_floor"),
         None, "nearest_half"),
    Case("resize_grad", (In(("B", 2, 6, 7)),), lambda g: R.resize_grad_op(g, (4, 5), (6, 7), "linear", "half_pixel")),
]
