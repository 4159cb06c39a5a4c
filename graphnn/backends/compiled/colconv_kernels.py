"""numba kernels of the compiled column convolution (colconv.py, the driver): a stride-1 convolution (any
dilation, groups, padding) of a small block of samples (batch-1 inference's first layers: 3 input channels, 3x3)
as one compiled call per range of output rows: the rows' patch columns over whole padded rows (as the NumPy GEMM
path makes them), one CBLAS GEMM per group of the (K, C/groups*kh*kw) kernel with them, and the epilogue (bias,
ReLU, 2x2 max pool). The NumPy GEMM path spends ~40 us of Python around a 20 us GEMM on such a layer
(RESULTS.md). float32 only (sgemm).

Imports nothing from graphnn but its sibling kernel modules.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from .native_kernels import addr, sgemm
from .winograd_kernels import max4


@numba.njit(cache=True, nogil=True)
def columns(x: Any, n: int, c0: int, c1: int, pt: int, pl: int, kh: int, kw: int, dh: int, dw: int, r0: int,
            r1: int, xpad: Any, cols: Any) -> None:
    """Stride-1 patch columns over whole padded rows for output rows r0:r1 of channels c0:c1 of sample n: x's rows
    that those rows read go into the zero-bordered plane xpad (C, Hp + 1, Wp) at (pt, pl) (its border is never
    written, so it stays zero), then row ((c - c0)*kh + a)*kw + b of cols is the contiguous run of xpad[c] from
    (r0 + a*dh)*Wp + b*dw on, of (r1 - r0)*Wp values; columns j >= Wo of each output row are junk the epilogue
    skips. Each run is sliced before its loop (indexing the plane at s + q instead kept the copy scalar: 8x
    slower)."""
    h, wd, wp = x.shape[2], x.shape[3], xpad.shape[2]
    ln = (r1 - r0) * wp
    for c in range(c0, c1):
        for i in range(max(0, r0 - pt), min(h, r1 + dh * (kh - 1) - pt)):
            src, dst = x[n, c, i], xpad[c, i + pt, pl:pl + wd]
            for q in range(wd):
                dst[q] = src[q]
        plane = xpad[c].reshape(-1)
        for a in range(kh):
            for b in range(kw):
                s0 = (r0 + a * dh) * wp + b * dw
                row, run = cols[((c - c0) * kh + a) * kw + b], plane[s0:s0 + ln]
                for q in range(ln):
                    row[q] = run[q]


@numba.njit(cache=True, nogil=True)
def rows_share(x: Any, w2: Any, y: Any, bias: Any, has_bias: bool, relu: bool, pool: bool, pt: int, pl: int,
               kh: int, kw: int, dh: int, dw: int, groups: int, ho: int, wo: int, r0: int, r1: int, xpad: Any,
               cols: Any, ybuf: Any, blas: Any) -> None:
    """Output rows r0:r1 of the stride-1 convolution (ho x wo; dilation dh, dw; `groups` groups) of every sample
    of x with w2 (K, C/groups*kh*kw), + bias, ReLU, and the 2x2 max pool (r0 even; a last odd row or column
    dropped) when asked, into y: per group, its columns and one sgemm into its rows of the GEMM result. xpad is
    this thread's zero-bordered (C, ho + dh*(kh - 1) + 1, Wp) plane; cols and ybuf flat scratch of at least
    C/groups*kh*kw*(r1 - r0)*Wp and K*(r1 - r0)*Wp values."""
    k, ckk, wp = w2.shape[0], w2.shape[1], xpad.shape[2]
    cg, kg = x.shape[1] // groups, k // groups
    ln = (r1 - r0) * wp
    if ln <= 0:
        return
    cv, yv = cols[:ckk * ln].reshape(ckk, ln), ybuf[:k * ln].reshape(k, ln)
    zero = np.float32(0)
    h, wd = x.shape[2], x.shape[3]
    direct = kh == 1 and kw == 1 and pt == 0 and wp == wd and ho == h  # 1x1 unpadded: x's rows are the columns
    for n in range(x.shape[0]):
        for g in range(groups):
            if direct:  # rows r0:r1 of channels g*cg.. of sample n, channel rows h*wd apart
                b_at, ldb = addr(x) + 4 * ((n * x.shape[1] + g * cg) * h * wd + r0 * wd), h * wd
            else:
                columns(x, n, g * cg, (g + 1) * cg, pt, pl, kh, kw, dh, dw, r0, r1, xpad, cv)
                b_at, ldb = addr(cv), ln
            sgemm(blas, kg, ln, ckk, addr(w2) + 4 * g * kg * ckk, ckk, b_at, ldb, addr(yv) + 4 * g * kg * ln, ln)
        for kk in range(k):  # the epilogue, from the GEMM's rows while they are in cache
            b = bias[kk] if has_bias else zero
            if not pool:
                for i in range(r0, r1):
                    src, dst = yv[kk, (i - r0) * wp:(i - r0) * wp + wo], y[n, kk, i]
                    for q in range(wo):
                        e = src[q] + b
                        dst[q] = zero if relu and e < zero else e
                continue
            for pi in range(r0 // 2, min(y.shape[2], r1 // 2)):  # pool first: max(a) + b = max(a + b), and
                top = yv[kk, (2 * pi - r0) * wp:(2 * pi - r0 + 1) * wp]  # ReLU commutes with max
                bot = yv[kk, (2 * pi - r0 + 1) * wp:(2 * pi - r0 + 2) * wp]
                dst = y[n, kk, pi]
                for q in range(y.shape[3]):
                    e = max4(top[2 * q], top[2 * q + 1], bot[2 * q], bot[2 * q + 1]) + b
                    dst[q] = zero if relu and e < zero else e
