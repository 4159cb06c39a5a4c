"""numba kernels of the Winograd F(4x4, 3x3) convolution: each 4x4 output tile from a 6x6 input patch with 36
products per tile and channel pair where the direct form takes 144 (4x fewer multiplies; F(2x2, 3x3) saves 2.25x),
at a float32 error a few times F(2x2, 3x3)'s (relative 1e-6 typical, 1.5e-5 worst over 256 channels, against
2e-7 and 3e-6: RESULTS.md). Same layouts, signatures and driver as winograd_kernels.py, with 36 element
streams. Matrices:

    B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
    G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
    A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]

Imports nothing from graphnn.
"""

from __future__ import annotations

from typing import Any

import numba

from .winograd_kernels import copy_plane, emit_rows


@numba.njit(inline="always")
def _bt(d0: Any, d1: Any, d2: Any, d3: Any, d4: Any, d5: Any) -> tuple:
    """B^T applied to one 6-vector."""
    return (4 * d0 - 5 * d2 + d4, d3 + d4 - 4 * (d1 + d2), 4 * (d1 - d2) + d4 - d3,
            2 * (d3 - d1) + d4 - d2, 2 * (d1 - d3) + d4 - d2, 4 * d1 - 5 * d3 + d5)


@numba.njit(inline="always")
def _at(m0: Any, m1: Any, m2: Any, m3: Any, m4: Any, m5: Any) -> tuple:
    """A^T applied to one 6-vector."""
    s, t = m1 + m2, m1 - m2
    p, q = m3 + m4, m3 - m4
    return m0 + s + p, t + 2 * q, s + 4 * p, t + 8 * q + m5


@numba.njit(cache=True, nogil=True)
def input_tiles(x: Any, n0: int, n1: int, i0: int, i1: int, pt: int, pl: int, tw: int, v: Any, pad: Any,
                r: Any) -> None:
    """v[c, :, t] = B^T d B (flattened row-major) for the tiles t in tile rows i0:i1 of samples n0:n1 of NCHW x
    (numbered as winograd_kernels.input_tiles numbers them), d the 6x6 patch at
    input row 4i - pt, column 4j - pl (zero outside x; pads >= 0). `pad` is a zero-bordered (4*th + 2, 4*tw + 2)
    scratch plane as in winograd_kernels.input_tiles; `r` a (6, 4*tw + 2) scratch: B^T runs over whole padded
    rows first (contiguous), then B along each row per tile (per tile with a 6x6 scratch: 1.6x slower)."""
    wide = pad.shape[1]
    for n in range(n0, n1):
        base = (n - n0) * (i1 - i0) * tw
        for c in range(x.shape[1]):
            copy_plane(x, n, c, pt, pl, pad, 4 * i0, 4 * i1 + 2)
            vc = v[c]
            for i in range(i0, i1):
                p0, p1, p2, p3, p4, p5 = pad[4 * i], pad[4 * i + 1], pad[4 * i + 2], pad[4 * i + 3], \
                    pad[4 * i + 4], pad[4 * i + 5]
                for q in range(wide):  # B^T d for every patch column of this tile row at once
                    r[0, q], r[1, q], r[2, q], r[3, q], r[4, q], r[5, q] = _bt(p0[q], p1[q], p2[q], p3[q], p4[q], p5[q])
                t0 = base + (i - i0) * tw
                for a in range(6):
                    ra = r[a]
                    for j in range(tw):
                        q = 4 * j
                        e0, e1, e2, e3, e4, e5 = _bt(ra[q], ra[q + 1], ra[q + 2], ra[q + 3], ra[q + 4], ra[q + 5])
                        t = t0 + j
                        vc[6 * a, t], vc[6 * a + 1, t], vc[6 * a + 2, t] = e0, e1, e2
                        vc[6 * a + 3, t], vc[6 * a + 4, t], vc[6 * a + 5, t] = e3, e4, e5


@numba.njit(cache=True, nogil=True)
def output_tiles(m: Any, n0: int, n1: int, i0: int, i1: int, tw: int, y: Any, bias: Any, has_bias: bool,
                 relu: bool, pool: bool, four: Any, r: Any, zero: Any) -> None:
    """y's 4x4 tiles in tile rows i0:i1 of samples n0:n1 = A^T M A from the GEMM results m (K, 36, L), + bias and
    ReLU when asked; tiles past y's edge are dropped. With `pool`, y is the 2x2 max pool of that (four windows per
    tile). `four` is a (4, 4*tw) scratch row block, `r` a (4, 6) scratch."""
    for n in range(n0, n1):
        base = (n - n0) * (i1 - i0) * tw
        for k in range(y.shape[1]):
            mk = m[k]
            b = bias[k] if has_bias else zero
            for i in range(i0, i1):
                t0 = base + (i - i0) * tw
                for j in range(tw):
                    t = t0 + j
                    for col in range(6):  # A^T M: per column
                        r[0, col], r[1, col], r[2, col], r[3, col] = _at(
                            mk[col, t], mk[6 + col, t], mk[12 + col, t], mk[18 + col, t], mk[24 + col, t],
                            mk[30 + col, t])
                    for a in range(4):  # (A^T M) A: per row
                        o0, o1, o2, o3 = _at(r[a, 0], r[a, 1], r[a, 2], r[a, 3], r[a, 4], r[a, 5])
                        if has_bias:
                            o0, o1, o2, o3 = o0 + b, o1 + b, o2 + b, o3 + b
                        four[a, 4 * j], four[a, 4 * j + 1], four[a, 4 * j + 2], four[a, 4 * j + 3] = o0, o1, o2, o3
                emit_rows(four, i, y, n, k, relu, pool, zero)


@numba.njit(cache=True, nogil=True)
def kernel_tiles(w: Any, u: Any) -> None:
    """u[e, k, c] = (G w[k, c] G^T) flattened row-major for a (K, C, 3, 3) kernel w, in float64 arithmetic."""
    gm = ((0.25, 0.0, 0.0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
          (1 / 24, -1 / 12, 1 / 6), (0.0, 0.0, 1.0))
    for a in range(6):
        ga = gm[a]
        for k in range(w.shape[0]):
            for c in range(w.shape[1]):
                g0 = ga[0] * w[k, c, 0, 0] + ga[1] * w[k, c, 1, 0] + ga[2] * w[k, c, 2, 0]
                g1 = ga[0] * w[k, c, 0, 1] + ga[1] * w[k, c, 1, 1] + ga[2] * w[k, c, 2, 1]
                g2 = ga[0] * w[k, c, 0, 2] + ga[1] * w[k, c, 1, 2] + ga[2] * w[k, c, 2, 2]
                for b in range(6):
                    gb = gm[b]
                    u[6 * a + b, k, c] = gb[0] * g0 + gb[1] * g1 + gb[2] * g2
