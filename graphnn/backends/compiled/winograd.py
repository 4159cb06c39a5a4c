"""Winograd convolutions F(4x4, 3x3) and F(2x2, 3x3) for 3x3 stride-1 convolutions on the CPU: compiled
transforms (numba) around alpha^2 BLAS GEMMs per block of samples (alpha = 6 or 4), 4x and 2.25x fewer multiplies
than the GEMM over patch columns, and no columns (RESULTS.md has the per-layer and whole-net times). Used for the
forward and for the stride-1 input gradient (a forward convolution of gy with the flipped kernel); the weight
gradient stays a GEMM over columns.

F(4x4, 3x3) runs from F43_CHANNELS input channels when a call has MIN_TILES of its tiles, else F(2x2, 3x3) when
it has MIN_TILES of those, else the GEMM path. Blocks are whole samples holding ~BLOCK_VALUES transformed values
per channel: the block's transformed input and GEMM results then stay in cache between the three steps
(whole-batch buffers ran the GEMMs at 40 GFLOP/s and the transforms 3x slower; blocks of 256 F(2x2, 3x3) tiles
ran the GEMMs at 100-105). The kernel's transforms are kept between calls and redone only when the kernel's bits
change (inference reuses them; a training step redoes them). Non-finite inputs give non-finite outputs where the
direct form would, and may spread within a 4x4 tile of F(4x4, 3x3) (its transforms mix the patch's rows); an inf
can come out as NaN.

Host-only, so it lives here, not in backends/numpy (whose factories CuPy reuses): the NumPy conv kernels
(backends/numpy/conv.py) ask `Winograd.of` and pass their block runner in. Imports only numpy and this package.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import kernels
from .team import helper_rows, team

BLOCK_VALUES = 4096  # transformed values per channel in a block: 256 F(2x2, 3x3) tiles ran the 32->32 layer at
# 89 GFLOP/s, 512 at 77, 1,024 at 28 (RESULTS.md)
# Where it pays (one thread, against the GEMM over columns, RESULTS.md): 32->32 and 64->64 layers 0.6-0.8x the
# time; 16->16 at 16x16 1.1x and 8->32 1.26x (the GEMMs' contraction too short for the transforms); 512->512 on a
# 4x4 map at batch 1 (4 tiles) 2.1x, as the transformed kernels (1.8x the kernel's bytes) are read for few tiles.
MIN_IN_CHANNELS = 32
MIN_OUT_CHANNELS = 16
MIN_TILES = 64  # per call (batch x tiles per sample) for either form
# F(4x4, 3x3) against F(2x2, 3x3), one thread: 64->64 at 16x16 batch 64 8.4 vs 11.6 ms, 128->128 at 16x16 batch 8
# 3.2 vs 4.9, 64->64 at 56x56 batch 1 1.5 vs 2.1; but 32->32 at 32x32 even (13.6 vs 13.5 ms: its output transform
# outweighs the GEMMs' saving at 32 channels). Its float32 error is ~10x F(2x2, 3x3)'s (RESULTS.md).
F43_CHANNELS = 64


class Form(NamedTuple):
    """One Winograd form: output tile m x m from an alpha x alpha patch, its kernel module's name."""

    m: int
    alpha: int
    module: str

    def tiles(self, ho: int, wo: int) -> tuple[int, int]:
        return -(-ho // self.m), -(-wo // self.m)


F43, F23 = Form(4, 6, "winograd4"), Form(2, 4, "winograd")


def winograd_geometry(kernel: tuple, stride: tuple, dilation: tuple, groups: int, pads: tuple) -> bool:
    """A 3x3 kernel, stride 1, dilation 1, one group, no negative (cropping) pad: what the forms compute here."""
    return (*kernel, *stride, *dilation, groups) == (3, 3, 1, 1, 1, 1, 1) and min(pads) >= 0


def form_for(n: int, c: int, ho: int, wo: int) -> Form | None:
    """The form a call of batch n, c input channels and an ho x wo output takes: F(4x4, 3x3) from F43_CHANNELS
    with MIN_TILES of its tiles, else F(2x2, 3x3) with MIN_TILES of its, else None (the GEMM path)."""
    for f in (F43, F23):
        th, tw = f.tiles(ho, wo)
        if n * th * tw >= MIN_TILES and (f is F23 or c >= F43_CHANNELS):
            return f
    return None


def samples_per_block(form: Form, ho: int, wo: int) -> int:
    """Samples in one block of a call with an ho x wo output: ~BLOCK_VALUES transformed values per channel."""
    return max(1, BLOCK_VALUES // (form.alpha ** 2 * math.prod(form.tiles(ho, wo))))


def applies(kernel: tuple, stride: tuple, dilation: tuple, groups: int, pads: tuple, c: int, k: int,
            dtype: Any) -> bool:
    """Whether a host convolution of this geometry, channels and dtype takes the Winograd path for calls with
    tiles enough: the geometry fits, MIN_IN_CHANNELS / MIN_OUT_CHANNELS, float32 or float64, and numba is
    installed and not switched off."""
    if not winograd_geometry(kernel, stride, dilation, groups, pads) or c < MIN_IN_CHANNELS or k < MIN_OUT_CHANNELS:
        return False
    return np.dtype(dtype) in (np.float32, np.float64) and all(kernels(f.module) is not None for f in (F43, F23))


class Winograd:
    """One conv kernel's Winograd path: the compiled kernels, the cached kernel transforms, the block buffers."""

    def __init__(self, mods: dict[str, Any], pads: tuple) -> None:
        self.mods, self.pads = mods, pads  # top, left, bottom, right
        self.kernels: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # form -> (the kernel's bits, its transform)
        self.scratch: dict[int, tuple] = {}  # per worker slot: the last call's block buffers (see `buffers`)

    @classmethod
    def of(cls, xp: Any, kernel: tuple, stride: tuple, dilation: tuple, groups: int, pads: tuple, c: int, k: int,
           dtype: Any) -> Winograd | None:
        """The path for a convolution of this geometry (pads top, left, bottom, right), input and output channels
        and dtype on array module xp, or None where it does not apply (`applies`; not the NumPy backend). A call
        still takes the GEMM path when it has too few tiles (`form_for`)."""
        if xp is not np or not applies(kernel, stride, dilation, groups, pads, c, k, dtype):
            return None
        return cls({f.module: kernels(f.module) for f in (F43, F23)}, tuple(pads))

    def kernel(self, form: Form, w: np.ndarray) -> np.ndarray:
        """(alpha^2, K, C) transformed kernel of w (K, C, 3, 3): the cached one while w's bits are unchanged."""
        ref = self.mods[F23.module]  # as_bits and same_bits live there
        w = np.ascontiguousarray(w)
        bits = ref.as_bits(w)
        got = self.kernels.get(form.module)
        if got is None or got[1].shape[1:] != w.shape[:2] or got[1].dtype != w.dtype or not ref.same_bits(bits, got[0]):
            u = np.empty((form.alpha ** 2, *w.shape[:2]), dtype=w.dtype)
            self.mods[form.module].kernel_tiles(w, u)
            got = self.kernels[form.module] = (bits.copy(), u)
        return got[1]

    def buffers(self, slot: int, key: tuple) -> tuple:
        """Worker `slot`'s block buffers for blocks of this shape, kept from the last call of that shape (a plan
        runs one call at a time, like its planned arrays): transformed inputs, GEMM results, the zero-bordered
        padded plane, the output rows and two small scratches."""
        got = self.scratch.get(slot)
        if got is None or got[0] != key:
            form, c, k, nb, th, tw, dt = key
            ln, e, m = nb * th * tw, form.alpha ** 2, form.m
            wide = m * tw + 2
            got = self.scratch[slot] = (key, (np.empty(c * e * ln, dt), np.empty(k * e * ln, dt),
                                              np.zeros((m * th + 2, wide), dt), np.empty((form.alpha, wide), dt),
                                              np.empty((m, m * tw), dt), np.empty((m, form.alpha), dt)))
        return got[1]

    def __call__(self, x: Any, w: Any, y: Any, blocks: Any = None, threads: int | None = None, bias: Any = None,
                 relu: bool = False, pool: bool = False) -> Any:
        """y = conv2d(x, w) (+ bias, then ReLU, then a 2x2 max pool, when asked) over NCHW arrays, written into y.
        The conv kernels call it where form_for(...) is not None. `blocks(n, bs, fn, flops, threads)` runs
        fn(s, e, slot) over blocks of bs samples (the NumPy conv kernels' runner, on worker threads); None runs
        them here in turn."""
        if not y.flags.c_contiguous:  # the compiled kernels take C-ordered arrays (one compilation each)
            y[...] = self(x, w, np.empty(y.shape, y.dtype), blocks, threads, bias, relu, pool)
            return y
        x = np.ascontiguousarray(x)
        n, c, h, wd = x.shape
        pt, pl, pb, pr = self.pads
        k, ho, wo = y.shape[1], h + pt + pb - 2, wd + pl + pr - 2  # the convolution's size (y's before pooling)
        form = form_for(n, c, ho, wo) or F23  # called directly below MIN_TILES: F(2x2, 3x3) is right at any size
        mod, e = self.mods[form.module], form.alpha ** 2
        u = self.kernel(form, w)
        th, tw = form.tiles(ho, wo)
        bs = samples_per_block(form, ho, wo)
        b = np.zeros(1, y.dtype) if bias is None else np.ascontiguousarray(bias, dtype=y.dtype).reshape(-1)
        zero = y.dtype.type(0)
        key = (form, c, k, min(bs, n), th, tw, x.dtype)

        def block(n0: int, n1: int, slot: int) -> None:
            v, mm, pad, rows, out_rows, small = self.buffers(slot, key)
            ln = (n1 - n0) * th * tw  # C-ordered views of the block's size: strided ones ran the kernels 10x slower
            v, mm = v[:c * e * ln].reshape(c, e, ln), mm[:k * e * ln].reshape(k, e, ln)
            mod.input_tiles(x, n0, n1, 0, th, pt, pl, tw, v, pad, rows)
            np.matmul(u, v.transpose(1, 0, 2), out=mm.transpose(1, 0, 2))
            mod.output_tiles(mm, n0, n1, 0, th, tw, y, b, bias is not None, relu, pool, out_rows, small, zero)

        cut = th - helper_rows(th, 18.0 * n * k * c * ho * wo)
        if n <= bs and (threads or 1) > 1 and cut < th and y.dtype == np.float32 and (t := team()) is not None and \
                t.winograd(form.alpha, x, u, y, b, bias is not None, relu, pool, pt, pl, th, tw, cut,
                           self.buffers(0, key), self.buffers(1, key)):
            return y  # a lone block on two threads: tile rows 0:cut here, the rest on the team's helper thread
        if blocks is None:
            for s in range(0, n, bs):
                block(s, min(n, s + bs), 0)
        else:
            blocks(n, bs, block, 2.0 * e * n * th * tw * k * c, threads)
        return y
