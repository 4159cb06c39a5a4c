"""Convolution as GEMM: per-sample patch columns (N, groups, C/groups*kH*kW, Ho*Wo), their transpose col2im,
and the geometry.

Per-sample columns keep everything NCHW: the forward is W @ cols[n] straight into y[n] (no transposes), the weight
needs no reordering, each kernel offset copies whole output rows, and per-sample GEMMs keep OpenBLAS's packed
panels in cache (one (O, K) @ (K, N*Ho*Wo) GEMM ran at 40 GFLOP/s where 64 per-sample ones ran at 60; RESULTS.md).
Written against `xp` so CuPy reuses it. Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ...ir.graph import Node


class Geo(NamedTuple):
    """One convolution's geometry: kernel, stride, padding (top, left, bottom, right), dilation, groups."""

    kh: int
    kw: int
    sh: int
    sw: int
    pt: int
    pl: int
    pb: int
    pr: int
    dh: int
    dw: int
    g: int

    def padded(self, h: int, w: int) -> tuple[int, int]:
        return h + self.pt + self.pb, w + self.pl + self.pr

    def taps(self, ho: int, wo: int) -> list[tuple[int, int, slice, slice]]:
        """For each kernel offset (a, b), row-major: the rows and columns of the padded input it touches."""
        return [(a, b, slice(a * self.dh, a * self.dh + self.sh * (ho - 1) + 1, self.sh),
                 slice(b * self.dw, b * self.dw + self.sw * (wo - 1) + 1, self.sw))
                for a in range(self.kh) for b in range(self.kw)]

    @property
    def pointwise(self) -> bool:
        """A 1x1 kernel with stride 1 and no padding: the convolution is a plain GEMM over channels."""
        return (self.kh, self.kw, self.sh, self.sw, self.pt, self.pl, self.pb, self.pr) == (1, 1, 1, 1, 0, 0, 0, 0)


def geo_of(node: Node, kh: int, kw: int) -> Geo:
    """The geometry from a conv-family node's attrs and its kernel size."""
    a = node.attrs
    return Geo(kh, kw, *a["stride"], *a["padding"], *a["dilation"], a["groups"])


def pad_nchw(xp: Any, x: Any, geo: Geo, extra_row: bool = False) -> Any:
    """x with its zero border (a negative pad crops) and optionally one more zero row at the bottom; no copy
    when there is nothing to add."""
    if not (geo.pt or geo.pl or geo.pb or geo.pr or extra_row):
        return x
    n, c, h, w = x.shape
    if min(geo.pt, geo.pl, geo.pb, geo.pr) < 0:
        x = x[:, :, max(-geo.pt, 0):h - max(-geo.pb, 0), max(-geo.pl, 0):w - max(-geo.pr, 0)]
        geo = geo._replace(pt=max(geo.pt, 0), pl=max(geo.pl, 0), pb=max(geo.pb, 0), pr=max(geo.pr, 0))
        h, w = x.shape[2:]
    hp, wp = geo.padded(h, w)
    out = xp.zeros((n, c, hp + extra_row, wp), dtype=x.dtype)
    out[:, :, geo.pt:geo.pt + h, geo.pl:geo.pl + w] = x
    return out


def transposed_as_conv(geo: Geo, h: int, w: int, ho: int, wo: int) -> Geo:
    """For stride 1, the input gradient is a convolution of gy with the flipped kernel: its geometry (padding
    d*(k-1) - p at the start, whatever makes the output h x w at the end; negative pads crop)."""
    top, left = geo.dh * (geo.kh - 1) - geo.pt, geo.dw * (geo.kw - 1) - geo.pl
    return geo._replace(pt=top, pl=left, pb=h + geo.dh * (geo.kh - 1) - ho - top,
                        pr=w + geo.dw * (geo.kw - 1) - wo - left)


def flip_kernel(xp: Any, w: Any, g: int) -> Any:
    """(O, C/g, kH, kW) -> (C, O/g, kH, kW) rotated 180 degrees: the kernel of the stride-1 input gradient."""
    o, cg, kh, kw = w.shape
    wf = w.reshape(g, o // g, cg, kh, kw)[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4)
    return xp.ascontiguousarray(wf).reshape(g * cg, o // g, kh, kw)


CACHE_BYTES = 2 << 20  # patch columns of this size stay in a core's L2 between the copy and the GEMM


def block_of(xp: Any, n: int, k: int, hw: int, itemsize: int) -> int:
    """Samples per block of columns: as many as fit in CACHE_BYTES on the CPU (the GEMM then reads the columns
    from cache: 1.45x faster than whole-batch columns, RESULTS.md); the whole batch on a GPU."""
    if getattr(xp, "__name__", "") != "numpy":
        return n
    return max(1, min(n, CACHE_BYTES // max(1, k * hw * itemsize)))


def im2col(xp: Any, xpad: Any, geo: Geo, ho: int, wo: int, out: Any = None) -> Any:
    """(N, groups, C/groups*kH*kW, Ho*Wo) patch columns of a padded NCHW x, rows in (c, a, b) order like the
    weight's, written into `out` when given."""
    n, c = xpad.shape[:2]
    cols = xp.empty((n, c, geo.kh, geo.kw, ho, wo), dtype=xpad.dtype) if out is None else \
        out.reshape(n, c, geo.kh, geo.kw, ho, wo)
    for a, b, rs, cs in geo.taps(ho, wo):
        cols[:, :, a, b] = xpad[:, :, rs, cs]
    return cols.reshape(n, geo.g, -1, ho * wo)


def flat_cols(xp: Any, xpad: Any, geo: Geo, ho: int, out: Any) -> Any:
    """Stride-1 patch columns over whole padded rows: row (c, a, b) is the flat padded image of channel c from
    offset a*dh*Wp + b*dw on, one contiguous run of Ho*Wp values, so one strided copy makes them all (faster than
    one 2-D copy per kernel offset: RESULTS.md). Output columns j >= Wo are junk and get dropped or zeroed."""
    n, c, _, wp = xpad.shape
    s0, s1, s2, s3 = xpad.strides
    view = xp.lib.stride_tricks.as_strided(xpad, (n, c, geo.kh, geo.kw, ho * wp), (s0, s1, s2 * geo.dh, s3 * geo.dw, s3))
    cols = out.reshape(n, c, geo.kh, geo.kw, ho * wp)
    cols[...] = view
    return cols.reshape(n, geo.g, -1, ho * wp)


def blocks(xp: Any, x: Any, geo: Geo, ho: int, wo: int) -> Any:
    """Yield (start, stop, columns of samples start:stop, their row width), the columns reusing one cache-sized
    buffer: whole padded rows (width Wp) for stride 1, exact windows (width Wo) otherwise; a pointwise
    convolution's columns are x itself."""
    n, c = x.shape[:2]
    if geo.pointwise:
        yield 0, n, x.reshape(n, geo.g, c // geo.g, -1), wo
        return
    flat = (geo.sh, geo.sw) == (1, 1)
    xpad = pad_nchw(xp, x, geo, extra_row=flat)  # the extra row keeps the last offset's run inside the array
    lw = xpad.shape[3] if flat else wo
    bs = block_of(xp, n, c * geo.kh * geo.kw, ho * lw, x.dtype.itemsize)
    buf = xp.empty((bs, c * geo.kh * geo.kw * ho * lw), dtype=x.dtype)
    for s in range(0, n, bs):
        e = min(s + bs, n)
        cols = flat_cols(xp, xpad[s:e], geo, ho, buf[:e - s]) if flat else \
            im2col(xp, xpad[s:e], geo, ho, wo, buf[:e - s])
        yield s, e, cols, lw


def col2im(xp: Any, cols: Any, geo: Geo, h: int, w: int, ho: int, wo: int) -> Any:
    """The transpose of im2col: sum (N, groups, C/groups*kH*kW, Ho*Wo) columns back into NCHW (windows overlap)."""
    n = cols.shape[0]
    c = cols.size // (n * geo.kh * geo.kw * ho * wo)
    out = xp.zeros((n, c, *geo.padded(h, w)), dtype=cols.dtype)
    c6 = cols.reshape(n, c, geo.kh, geo.kw, ho, wo)
    for a, b, rs, cs in geo.taps(ho, wo):
        out[:, :, rs, cs] += c6[:, :, a, b]
    if not (geo.pt or geo.pl or geo.pb or geo.pr):
        return out
    return xp.ascontiguousarray(out[:, :, geo.pt:geo.pt + h, geo.pl:geo.pl + w])
