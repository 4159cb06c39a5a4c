"""Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions on the CPU: compiled transforms (backends/compiled, numba)
around 16 BLAS GEMMs per block of tiles. 2.25x fewer multiplies than the GEMM over patch columns, and no
columns (RESULTS.md has the per-layer and whole-net times). Used for the forward and for the stride-1 input
gradient (a forward convolution of gy with the flipped kernel); the weight gradient stays a GEMM over columns.

Blocks are whole samples, ~TILE_BLOCK tiles: the block's transformed input and GEMM results then stay in L2
between the three steps (whole-batch buffers ran the GEMMs at 40 GFLOP/s and the transforms 3x slower; blocks of
256 tiles ran the GEMMs at 100-105). The kernel's transform is kept between calls and redone only when the
kernel's bits change (inference reuses it; a training step redoes it).
Imports graphnn's compiled kernels and conv_gemm's block runner.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import compiled
from .conv_gemm import Geo, run_blocks

TILE_BLOCK = 256  # tiles per block (whole samples): 256 and 512 ran the 32->32 layer at 89 and 77 GFLOP/s, 1,024 at 28
# Where it pays (one thread, against the GEMM over columns, RESULTS.md): 32->32 and 64->64 layers 0.6-0.8x the
# time; 16->16 at 16x16 1.1x and 8->32 1.26x (the GEMMs' contraction too short for the transforms); 512->512 on a
# 4x4 map at batch 1 (4 tiles) 2.1x, as the 16 transformed kernels (1.8x the kernel's bytes) are read for few tiles.
MIN_IN_CHANNELS = 32
MIN_OUT_CHANNELS = 16
MIN_TILES = 64  # per call (batch x tiles per sample); fewer run the GEMM over columns


def winograd_geometry(geo: Geo) -> bool:
    """A 3x3 kernel, stride 1, dilation 1, one group, no negative (cropping) pad: what F(2x2, 3x3) computes here."""
    return (geo.kh, geo.kw, geo.sh, geo.sw, geo.dh, geo.dw, geo.g) == (3, 3, 1, 1, 1, 1, 1) and \
        min(geo.pt, geo.pl, geo.pb, geo.pr) >= 0


class Winograd:
    """One conv kernel's Winograd path: the compiled kernels and the cached kernel transform."""

    def __init__(self, mod: Any, geo: Geo) -> None:
        self.mod, self.geo = mod, geo
        self.bits: np.ndarray | None = None  # the kernel whose transform `u` holds (its bits)
        self.u: np.ndarray | None = None

    @classmethod
    def of(cls, xp: Any, geo: Geo, c: int, k: int, dtype: Any) -> Winograd | None:
        """The path for a node with this geometry, input and output channels and dtype, or None where it does not
        apply (another geometry, few channels, not float32/64 on the NumPy backend, numba missing or switched
        off). Calls with fewer than MIN_TILES tiles still take the GEMM path (`takes`)."""
        if xp is not np or not winograd_geometry(geo) or c < MIN_IN_CHANNELS or k < MIN_OUT_CHANNELS:
            return None
        if np.dtype(dtype) not in (np.float32, np.float64):
            return None
        mod = compiled.kernels("winograd")
        return None if mod is None else cls(mod, geo)

    @staticmethod
    def takes(n: int, ho: int, wo: int) -> bool:
        """Whether a call of batch n with an ho x wo output has tiles enough (MIN_TILES) to run here."""
        return n * ((ho + 1) // 2) * ((wo + 1) // 2) >= MIN_TILES

    def kernel(self, w: np.ndarray) -> np.ndarray:
        """(16, K, C) transformed kernel of w (K, C, 3, 3): the cached one while w's bits are unchanged."""
        w = np.ascontiguousarray(w)
        bits = self.mod.as_bits(w)
        if self.u is None or self.u.shape[1:] != w.shape[:2] or self.u.dtype != w.dtype or \
                not self.mod.same_bits(bits, self.bits):
            u = np.empty((16, *w.shape[:2]), dtype=w.dtype)
            self.mod.kernel_tiles(w, u)
            self.u, self.bits = u, bits.copy()
        return self.u

    def __call__(self, x: Any, w: Any, y: Any, threads: int | None = None, bias: Any = None,
                 relu: bool = False) -> Any:
        """y = conv2d(x, w) (+ bias, then ReLU, when given) over NCHW arrays; y is written in place."""
        mod, geo = self.mod, self.geo
        if not y.flags.c_contiguous:  # the compiled kernels take C-ordered arrays (one compilation each)
            y[...] = self(x, w, np.empty(y.shape, y.dtype), threads, bias, relu)
            return y
        x = np.ascontiguousarray(x)
        n, c = x.shape[:2]
        k, ho, wo = y.shape[1:]
        u = self.kernel(w)
        th, tw = (ho + 1) // 2, (wo + 1) // 2
        bs = max(1, TILE_BLOCK // (th * tw))  # samples per block
        b = np.zeros(1, y.dtype) if bias is None else np.ascontiguousarray(bias, dtype=y.dtype).reshape(-1)
        zero = y.dtype.type(0)
        slots: dict[int, tuple] = {}

        def block(n0: int, n1: int, slot: int) -> None:
            if slot not in slots:
                ln = min(bs, n) * th * tw
                slots[slot] = (np.empty(c * 16 * ln, x.dtype), np.empty(k * 16 * ln, x.dtype),
                               np.zeros((2 * th + 2, 2 * tw + 2), x.dtype), np.empty((2, 2 * tw), x.dtype))
            v, m, pad, two = slots[slot]
            ln = (n1 - n0) * th * tw  # C-ordered views of the block's size: strided ones ran the kernels 10x slower
            v, m = v[:c * 16 * ln].reshape(c, 16, ln), m[:k * 16 * ln].reshape(k, 16, ln)
            mod.input_tiles(x, n0, n1, geo.pt, geo.pl, th, tw, v, pad)
            np.matmul(u, v.transpose(1, 0, 2), out=m.transpose(1, 0, 2))
            mod.output_tiles(m, n0, n1, th, tw, y, b, bias is not None, relu, two, zero)

        run_blocks(np, n, bs, block, 32.0 * n * th * tw * k * c, threads)
        return y
