"""numba kernels of the Winograd F(2x2, 3x3) convolution (loaded through compiled/__init__.py only when numba is
installed and wanted: this module imports numba at its top). The driver is compiled/winograd.py;
winograd4_kernels.py has F(4x4, 3x3) with the same signatures.

Each 2x2 output tile is A^T [ (G g G^T) * (B^T d B) ] A over a 4x4 input patch d: 16 products per tile and
channel pair where the direct form takes 36 (2.25x fewer multiplies), with the transforms' adds done here and the
16 element-wise products summed over channels as 16 GEMMs by BLAS (Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016). Matrices, in the rows the code spells out:

    B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
    A^T = [1 1 1 0; 0 1 -1 -1]

Layouts keep every stream short-strided: transformed inputs are (C, 16, L) and GEMM results (K, 16, L) for L tiles
of a block, so the 16 element streams of one channel lie in one 16*L run (16 streams 2 MB apart, one per
element, thrashed L1's sets and ran 3-4x slower: RESULTS.md). Tiles are numbered row-major over (sample, tile
row, tile column); a block is a range of samples `n0:n1`.

Imports nothing from graphnn.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


@numba.njit(inline="always")
def copy_plane(x: Any, n: int, c: int, pt: int, pl: int, pad: Any, r0: int, r1: int) -> None:
    """x[n, c] into rows r0:r1 of a zero-bordered scratch plane at (pt, pl); the border it never writes stays
    zero (a plane whose rows held other rows' data before holds fresh data or zeros in r0:r1)."""
    for i in range(max(0, r0 - pt), min(x.shape[2], r1 - pt)):
        for q in range(x.shape[3]):
            pad[i + pt, q + pl] = x[n, c, i, q]


@numba.njit(cache=True, nogil=True)
def input_tiles(x: Any, n0: int, n1: int, i0: int, i1: int, pt: int, pl: int, tw: int, v: Any, pad: Any,
                r: Any) -> None:
    """v[c, :, t] = B^T d B (flattened row-major) for the tiles t in tile rows i0:i1 of samples n0:n1 of NCHW x,
    where d is the 4x4 patch at input row 2i - pt, column 2j - pl (zero outside x; pads >= 0); t counts those
    tiles row-major over (sample, tile row, tile column) from 0. `pad` is a (2*th + 2, 2*tw + 2)
    scratch plane, zeroed once by the caller: each channel of a sample is copied into its middle first, and the
    border it never writes stays zero (copying four rows per tile row instead ran 1.5x slower). `r` is a
    (4, 2*tw + 2) scratch: B^T runs over whole padded rows first (contiguous), then B along the row per tile."""
    wide = pad.shape[1]
    for n in range(n0, n1):
        base = (n - n0) * (i1 - i0) * tw
        for c in range(x.shape[1]):
            copy_plane(x, n, c, pt, pl, pad, 2 * i0, 2 * i1 + 2)
            vc = v[c]
            for i in range(i0, i1):
                p0, p1, p2, p3 = pad[2 * i], pad[2 * i + 1], pad[2 * i + 2], pad[2 * i + 3]
                for q in range(wide):  # B^T d for every patch column of this tile row
                    r[0, q], r[1, q], r[2, q], r[3, q] = p0[q] - p2[q], p1[q] + p2[q], p2[q] - p1[q], p1[q] - p3[q]
                t0 = base + (i - i0) * tw
                for a in range(4):  # (B^T d) B: the same combinations along each row
                    ra = r[a]
                    v0, v1, v2, v3 = vc[4 * a], vc[4 * a + 1], vc[4 * a + 2], vc[4 * a + 3]
                    for j in range(tw):
                        q, t = 2 * j, t0 + j
                        d0, d1, d2, d3 = ra[q], ra[q + 1], ra[q + 2], ra[q + 3]
                        v0[t], v1[t], v2[t], v3[t] = d0 - d2, d1 + d2, d2 - d1, d1 - d3


@numba.njit(cache=True, nogil=True)
def output_tiles(m: Any, n0: int, n1: int, i0: int, i1: int, tw: int, y: Any, bias: Any, has_bias: bool,
                 relu: bool, pool: bool, two: Any, r: Any, zero: Any) -> None:
    """y's 2x2 tiles in tile rows i0:i1 of samples n0:n1 = A^T M A from the GEMM results m (K, 16, L), tiles
    numbered as input_tiles numbers them, then + bias[k] and ReLU when
    asked (the epilogue rides on the pass that writes y). Tiles past y's edge (odd sizes) are dropped; `two`
    is a (2, 2*tw) scratch row pair (`r` is unused: F(4x4, 3x3)'s kernel takes one); `zero` is 0 of y's dtype (a
    float64 literal would widen the selects). With `pool`, y is the 2x2 max pool of that (each tile is one
    window; a last odd row or column of the convolution is dropped, as max_pool2d's floor mode does)."""
    for n in range(n0, n1):
        base = (n - n0) * (i1 - i0) * tw
        for k in range(y.shape[1]):
            mk = m[k]
            b = bias[k] if has_bias else zero
            for i in range(i0, i1):
                t0 = base + (i - i0) * tw
                for j in range(tw):
                    t = t0 + j
                    # A^T M: rows 0 + 1 + 2 and 1 - 2 - 3 of the 4x4 product, per column; then the same along rows
                    s0 = mk[0, t] + mk[4, t] + mk[8, t]
                    s1 = mk[1, t] + mk[5, t] + mk[9, t]
                    s2 = mk[2, t] + mk[6, t] + mk[10, t]
                    s3 = mk[3, t] + mk[7, t] + mk[11, t]
                    e0 = mk[4, t] - mk[8, t] - mk[12, t]
                    e1 = mk[5, t] - mk[9, t] - mk[13, t]
                    e2 = mk[6, t] - mk[10, t] - mk[14, t]
                    e3 = mk[7, t] - mk[11, t] - mk[15, t]
                    y00, y01, y10, y11 = s0 + s1 + s2, s1 - s2 - s3, e0 + e1 + e2, e1 - e2 - e3
                    if has_bias:
                        y00, y01, y10, y11 = y00 + b, y01 + b, y10 + b, y11 + b
                    two[0, 2 * j], two[0, 2 * j + 1], two[1, 2 * j], two[1, 2 * j + 1] = y00, y01, y10, y11
                emit_rows(two, i, y, n, k, relu, pool, zero)


@numba.njit(inline="always")
def emit_rows(rows: Any, i: int, y: Any, n: int, k: int, relu: bool, pool: bool, zero: Any) -> None:
    """Tile row i's finished output rows (m = rows.shape[0] of them, bias added) into y[n, k]: the ReLU first,
    then either their 2x2 max pool (m / 2 rows of a pooled y) or the rows themselves; rows past y's edge are
    dropped. Shared by both forms' output transforms."""
    m = rows.shape[0]
    if relu:  # a loop of its own: inside the tile loop it compiled to branches, which mispredict on fresh data
        for a in range(m):  # (2.5x the transform's time); NaN stays NaN, as in max(x, 0)
            for q in range(rows.shape[1]):
                e = rows[a, q]
                rows[a, q] = zero if e < zero else e
    if pool:
        h = m // 2
        for a in range(min(h, y.shape[2] - h * i)):
            for q in range(y.shape[3]):
                y[n, k, h * i + a, q] = max4(rows[2 * a, 2 * q], rows[2 * a, 2 * q + 1],
                                             rows[2 * a + 1, 2 * q], rows[2 * a + 1, 2 * q + 1])
        return
    for a in range(min(m, y.shape[2] - m * i)):
        for q in range(y.shape[3]):
            y[n, k, m * i + a, q] = rows[a, q]


@numba.njit(inline="always")
def max4(a: Any, b: Any, c: Any, d: Any) -> Any:
    """The max of four values, NaN if any is NaN (np.maximum's rule, which max_pool2d follows)."""
    ab = a if (a > b or a != a) else b
    cd = c if (c > d or c != c) else d
    return ab if (ab > cd or ab != ab) else cd


@numba.njit(cache=True, nogil=True)
def kernel_tiles(w: Any, u: Any) -> None:
    """u[e, k, c] = (G w[k, c] G^T) flattened row-major, for a (K, C, 3, 3) kernel w; one pass per row of G
    writing four contiguous (K, C) planes (16 planes at once thrashed L1 like the input streams did)."""
    for a in range(4):
        # row a of G: (1, 0, 0), (1/2, 1/2, 1/2), (1/2, -1/2, 1/2), (0, 0, 1)
        ca = 1.0 if a == 0 else (0.0 if a == 3 else 0.5)
        cb = 0.0 if a == 0 or a == 3 else (0.5 if a == 1 else -0.5)
        cc = 0.0 if a == 0 else (1.0 if a == 3 else 0.5)
        u0, u1, u2, u3 = u[4 * a], u[4 * a + 1], u[4 * a + 2], u[4 * a + 3]
        for k in range(w.shape[0]):
            for c in range(w.shape[1]):
                g0 = ca * w[k, c, 0, 0] + cb * w[k, c, 1, 0] + cc * w[k, c, 2, 0]
                g1 = ca * w[k, c, 0, 1] + cb * w[k, c, 1, 1] + cc * w[k, c, 2, 1]
                g2 = ca * w[k, c, 0, 2] + cb * w[k, c, 1, 2] + cc * w[k, c, 2, 2]
                u0[k, c], u1[k, c] = g0, 0.5 * (g0 + g1 + g2)
                u2[k, c], u3[k, c] = 0.5 * (g0 - g1 + g2), g2


@numba.njit(cache=True, nogil=True)
def bias_act(y: Any, bias: Any, relu: bool, zero: Any) -> None:
    """y[n, k] = act(y[n, k] + bias[k]) in place over an (N, K, L) array: the epilogue of a convolution that took
    the GEMM path (one pass, where NumPy's broadcast add and maximum make two)."""
    for n in range(y.shape[0]):
        for k in range(y.shape[1]):
            b, row = bias[k], y[n, k]
            for q in range(row.shape[0]):
                row[q] += b
            if relu:
                for q in range(row.shape[0]):
                    e = row[q]
                    row[q] = zero if e < zero else e


@numba.njit(cache=True, nogil=True)
def same_bits(a: Any, b: Any) -> bool:
    """Whether two flat integer views of one length hold the same bits (the kernel cache's check: NaN == NaN,
    -0 != +0). OR-ed XORs over runs of 1,024 values, which vectorize: an early exit per element took 22 us for a
    64x64 kernel's 36,864 values, this 3 (an int64 accumulator, or bounds computed inside the loop, 30+)."""
    n, s = a.shape[0], 0
    while s < n:
        e = min(n, s + 1024)
        x, y = a[s:e], b[s:e]
        acc = x[0] ^ x[0]  # a zero of the views' integer type
        for i in range(e - s):
            acc |= x[i] ^ y[i]
        if acc != 0:
            return False
        s = e
    return True


def as_bits(a: np.ndarray) -> np.ndarray:
    """A flat integer view of a contiguous float array (for same_bits)."""
    return a.reshape(-1).view(np.int32 if a.dtype.itemsize == 4 else np.int64)
