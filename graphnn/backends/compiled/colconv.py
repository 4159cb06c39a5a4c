"""The compiled column convolution (colconv_kernels.py): a stride-1 convolution (any kernel, dilation, groups,
non-negative padding) whose patch columns for the whole call fit in a core's cache (COLS_VALUES), run as one
compiled call per range of output rows: columns over padded rows, one CBLAS sgemm per sample and group, the
epilogue (bias, ReLU, 2x2 max pool) on rows still in cache. It serves the small calls the Winograd path leaves
to the GEMM path (a first layer's 3 input channels at batch 1; depthwise and 1x1 layers of small exports): the
VGG-like net's 3->32 layer took 80 us there, ~40 of them Python around a 20 us GEMM; here 28 (RESULTS.md). With
two or more threads allowed and 8 MFLOP per call, the team's helper takes the last rows (team.py).

Host-only, float32 (sgemm through compiled/cblas.py), numba required; `ColConv.of` says None otherwise, and the
NumPy conv kernels keep their GEMM path. Imports only numpy and this package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels
from .cblas import sgemm_blas
from .team import helper_rows, team

COLS_VALUES = 1 << 19  # a call's patch columns (2 MB of float32, one L2) at most: one block of samples
MAX_FLOPS = 64e6  # and fewer FLOPs than this: from there the GEMM path runs a lone block on BLAS's own threads,
# which beat the team on the ResNet-50's 231 MFLOP layers (2.25 vs 2.96 ms at 7x7; 1.62 vs 1.78 at 14x14), and
# on one thread the two paths are even there (RESULTS.md)


class ColConv:
    """One conv kernel's compiled column path: its geometry, the sgemm (cblas.sgemm_blas), per-thread scratch."""

    def __init__(self, mod: Any, blas: np.ndarray, kernel: tuple, dilation: tuple, groups: int, pads: tuple) -> None:
        self.mod, self.blas = mod, blas
        (self.kh, self.kw), (self.dh, self.dw), self.groups, self.pads = kernel, dilation, groups, tuple(pads)
        self.scratch: dict[int, tuple] = {}  # per thread slot: (key, (xpad, cols, ybuf))

    @classmethod
    def of(cls, xp: Any, kernel: tuple, stride: tuple, dilation: tuple, groups: int, pads: tuple,
           dtype: Any) -> ColConv | None:
        """The path for a convolution of this geometry (pads top, left, bottom, right) and dtype on array module
        xp, or None: not NumPy, not float32, a stride other than 1, negative (cropping) pads, or no numba / no
        CBLAS sgemm."""
        if xp is not np or np.dtype(dtype) != np.float32 or min(pads) < 0 or tuple(stride) != (1, 1):
            return None
        mod, blas = kernels("colconv"), sgemm_blas()
        return None if mod is None or blas is None else cls(mod, blas, tuple(kernel), tuple(dilation), groups, pads)

    def fits(self, n: int, c: int, k: int, ho: int, wo: int) -> bool:
        """Whether a call of batch n, c input and k output channels, output ho x wo, is small enough for this path:
        all its samples' columns within COLS_VALUES and under MAX_FLOPS (larger calls take the GEMM path: blocks
        on worker threads, or a lone block on BLAS's threads)."""
        return n * c * self.kh * self.kw * ho * (wo + self.dw * (self.kw - 1)) <= COLS_VALUES and \
            2.0 * n * k * (c // self.groups) * self.kh * self.kw * ho * wo < MAX_FLOPS

    def buffers(self, slot: int, c: int, k: int, ho: int, wp: int) -> tuple:
        """Slot's (zero-bordered padded plane, columns, GEMM result) scratch for a call of this size, kept from
        the last call of that size."""
        key = (c, k, ho, wp)
        got = self.scratch.get(slot)
        if got is None or got[0] != key:
            ln = ho * wp
            got = self.scratch[slot] = (key, (np.zeros((c, ho + self.dh * (self.kh - 1) + 1, wp), np.float32),
                                              np.empty(c // self.groups * self.kh * self.kw * ln, np.float32),
                                              np.empty(k * ln, np.float32)))
        return got[1]

    def __call__(self, x: Any, w: Any, y: Any, threads: int | None = None, bias: Any = None, relu: bool = False,
                 pool: bool = False) -> Any:
        """y = conv2d(x, w) (+ bias, then ReLU, then a 2x2 max pool, when asked) over NCHW float32 arrays, written
        into y; on two threads (the team) when `threads` > 1 and the call is big enough to split."""
        if not y.flags.c_contiguous:
            y[...] = self(x, w, np.empty(y.shape, y.dtype), threads, bias, relu, pool)
            return y
        x = np.ascontiguousarray(x)
        n, c, h, wd = x.shape
        k, (pt, pl, pb, pr) = w.shape[0], self.pads
        ho, wo = h + pt + pb - self.dh * (self.kh - 1), wd + pl + pr - self.dw * (self.kw - 1)
        w2 = np.ascontiguousarray(w).reshape(k, -1)
        b = np.zeros(1, np.float32) if bias is None else np.ascontiguousarray(bias, dtype=np.float32).reshape(-1)
        wp = wd + pl + pr
        flops = 2.0 * n * k * (c // self.groups) * self.kh * self.kw * ho * wo
        theirs = helper_rows(ho // 2, flops) if pool else helper_rows(ho, flops)  # pooled: whole windows each
        cut = ho if not theirs else 2 * (ho // 2 - theirs) if pool else ho - theirs
        geo = (pt, pl, self.kh, self.kw, self.dh, self.dw, self.groups, ho, wo)
        args = (x, w2, y, b, bias is not None, relu, pool, *geo)
        if (threads or 1) > 1 and cut < ho and (t := team()) is not None and \
                t.colconv(*args, cut, self.buffers(0, c, k, ho, wp), self.buffers(1, c, k, ho, wp)):
            return y
        self.mod.rows_share(*args, 0, ho, *self.buffers(0, c, k, ho, wp), self.blas)
        return y
