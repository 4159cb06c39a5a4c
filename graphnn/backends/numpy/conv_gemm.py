"""Convolution as GEMM: the patch matrix in (C*kH*kW, N*Ho*Wo) order, its transpose col2im, and the geometry.

Columns are "CNHW": a (group, C/groups*kH*kW, N*Ho*Wo) stack, so one GEMM per group serves the whole batch
(forward and both gradients), the weight needs no transpose, and each kernel offset copies inner runs of a whole
output row. Written against `xp` so CuPy reuses it. Imports graphnn.ir.
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


def pad_nchw(xp: Any, x: Any, geo: Geo) -> Any:
    """x with its zero border; no copy when there is none."""
    if not (geo.pt or geo.pl or geo.pb or geo.pr):
        return x
    n, c, h, w = x.shape
    out = xp.zeros((n, c, *geo.padded(h, w)), dtype=x.dtype)
    out[:, :, geo.pt:geo.pt + h, geo.pl:geo.pl + w] = x
    return out


def im2col(xp: Any, x: Any, geo: Geo, ho: int, wo: int) -> Any:
    """(groups, C/groups*kH*kW, N*Ho*Wo) patch columns of NCHW x, rows in (c, a, b) order like the weight's."""
    xpad = pad_nchw(xp, x, geo)
    n, c = x.shape[:2]
    cols = xp.empty((c, geo.kh, geo.kw, n, ho, wo), dtype=x.dtype)
    src = xpad.transpose(1, 0, 2, 3)
    for a, b, rs, cs in geo.taps(ho, wo):
        cols[:, a, b] = src[:, :, rs, cs]
    return cols.reshape(geo.g, -1, n * ho * wo)


def col2im(xp: Any, cols: Any, geo: Geo, n: int, h: int, w: int, ho: int, wo: int) -> Any:
    """The transpose of im2col: sum (groups, C/groups*kH*kW, N*Ho*Wo) columns back into NCHW (windows overlap)."""
    c = cols.size // (geo.kh * geo.kw * n * ho * wo)
    out = xp.zeros((n, c, *geo.padded(h, w)), dtype=cols.dtype)
    dst = out.transpose(1, 0, 2, 3)
    c6 = cols.reshape(c, geo.kh, geo.kw, n, ho, wo)
    for a, b, rs, cs in geo.taps(ho, wo):
        dst[:, :, rs, cs] += c6[:, a, b]
    return xp.ascontiguousarray(out[:, :, geo.pt:geo.pt + h, geo.pl:geo.pl + w])


def to_cnl(xp: Any, a: Any, g: int) -> Any:
    """(N, O, Ho, Wo) -> contiguous (groups, O/groups, N*Ho*Wo), the layout the GEMMs above want."""
    n, o = a.shape[:2]
    return xp.ascontiguousarray(a.reshape(n, g, o // g, -1).transpose(1, 2, 0, 3)).reshape(g, o // g, -1)
