"""Conformance cases of the 3-D convolution, transposed convolution and pooling builders (graphnn/ir/ops/volume.py, composites of the 2-D
ops): values against plain NumPy loops over every output position and tap, written here from the definitions."""

from __future__ import annotations

import itertools

import numpy as np

import graphnn as gn

from .cases import Case, In


def _starts(size: int, k: int, s: int, pb: int, pe: int, d: int) -> list[int]:
    """Window starts along one axis (floor mode), in unpadded coordinates."""
    return [i * s - pb for i in range((size + pb + pe - d * (k - 1) - 1) // s + 1)]


def ref_conv3d(x: np.ndarray, w: np.ndarray, s: tuple, p: tuple, d: tuple, groups: int) -> np.ndarray:
    """y[n, o, i, j, l] = sum over the group's channels and the kernel taps of the zero-padded x times w."""
    starts = [_starts(x.shape[2 + a], w.shape[2 + a], s[a], p[a], p[a + 3], d[a]) for a in range(3)]
    y = np.zeros((x.shape[0], w.shape[0], *map(len, starts)), x.dtype)
    og, cg = w.shape[0] // groups, w.shape[1]
    for o in range(w.shape[0]):
        g = o // og
        for idx in itertools.product(*[range(len(t)) for t in starts]):
            for tap in itertools.product(*[range(k) for k in w.shape[2:]]):
                pos = [starts[a][idx[a]] + tap[a] * d[a] for a in range(3)]
                if all(0 <= pos[a] < x.shape[2 + a] for a in range(3)):
                    y[:, o, idx[0], idx[1], idx[2]] += (x[:, g * cg:(g + 1) * cg, pos[0], pos[1], pos[2]]
                                                        * w[o, :, tap[0], tap[1], tap[2]]).sum(axis=1)
    return y


def ref_conv_transpose3d(x: np.ndarray, w: np.ndarray, s: tuple, p: tuple, op: tuple, groups: int) -> np.ndarray:
    """Scatter each input voxel times its kernel into the uncropped output, then crop the pads: the definition."""
    full = [(x.shape[2 + a] - 1) * s[a] + w.shape[2 + a] + op[a] for a in range(3)]
    og, cg = w.shape[1], x.shape[1] // groups
    y = np.zeros((x.shape[0], og * groups, *full), x.dtype)
    for c in range(x.shape[1]):
        g = c // cg
        for idx in itertools.product(*[range(n) for n in x.shape[2:]]):
            for tap in itertools.product(*[range(k) for k in w.shape[2:]]):
                i, j, l = (idx[a] * s[a] + tap[a] for a in range(3))
                y[:, g * og:(g + 1) * og, i, j, l] += x[:, c, idx[0], idx[1], idx[2], None] * w[(c, slice(None), *tap)]
    return y[:, :, p[0]:full[0] - p[3], p[1]:full[1] - p[4], p[2]:full[2] - p[5]]


def ref_pool3d(x: np.ndarray, k: tuple, s: tuple, p: tuple, kind: str, include_pad: bool = True) -> np.ndarray:
    """Max or mean over each window's taps inside x (mean divisor: taps inside the padded x, or inside x)."""
    starts = [_starts(x.shape[2 + a], k[a], s[a], p[a], p[a + 3], 1) for a in range(3)]
    y = np.zeros((*x.shape[:2], *map(len, starts)), x.dtype)
    for idx in itertools.product(*[range(len(t)) for t in starts]):
        taps = [[starts[a][idx[a]] + t for t in range(k[a])] for a in range(3)]
        inside = [[t for t in taps[a] if 0 <= t < x.shape[2 + a]] for a in range(3)]
        win = x[:, :, inside[0]][:, :, :, inside[1]][:, :, :, :, inside[2]].reshape(*x.shape[:2], -1)
        if kind == "max":
            y[(slice(None), slice(None), *idx)] = win.max(-1)
        else:
            count = np.prod([len(t) for t in (taps if include_pad else inside)])
            y[(slice(None), slice(None), *idx)] = win.sum(-1) / count
    return y


CASES: list[Case] = [
    Case("conv2d", (In(("B", 4, 4, 5, 3)), In((2, 2, 2, 3, 2))),
         lambda x, w: gn.conv3d(x, w, (2, 1, 1), (1, 1, 0, 0, 1, 1), (1, 1, 2), 2),
         lambda x, w: ref_conv3d(x, w, (2, 1, 1), (1, 1, 0, 0, 1, 1), (1, 1, 2), 2), "conv3d-groups-asym-dil"),
    Case("conv2d_input_grad", (In(("B", 4, 3, 2, 3)), In((4, 2, 2, 3, 2))),
         lambda x, w: gn.conv_transpose3d(x, w, (2, 1, 2), (1, 0, 1, 0, 1, 0), (1, 0, 1), 2),
         lambda x, w: ref_conv_transpose3d(x, w, (2, 1, 2), (1, 0, 1, 0, 1, 0), (1, 0, 1), 2),
         "conv_transpose3d-groups-outpad"),
    Case("max_pool2d", (In(("B", 2, 5, 4, 5), draw="distinct"),),
         lambda x: gn.max_pool3d(x, (3, 2, 2), (2, 1, 2), (1, 0, 1, 1, 1, 0)),
         lambda x: ref_pool3d(x, (3, 2, 2), (2, 1, 2), (1, 0, 1, 1, 1, 0), "max"), "max_pool3d-asym-pad"),
    Case("avg_pool2d", (In(("B", 2, 5, 4, 5)),),
         lambda x: gn.avg_pool3d(x, (3, 2, 2), (2, 1, 2), (1, 0, 1, 1, 1, 0), count_include_pad=False),
         lambda x: ref_pool3d(x, (3, 2, 2), (2, 1, 2), (1, 0, 1, 1, 1, 0), "avg", False), "avg_pool3d-exclude-pad"),
]
