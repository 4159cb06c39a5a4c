"""NumPy kernels of graphnn/ir/ops/pool.py: max and average pooling, adaptive average pooling and their backward
ops.

Max pooling takes one `maximum` per kernel offset over whole-tensor strided slices; when the plan has a
max_pool2d_grad of it, it also tracks the argmax and leaves the chosen flat positions (in the padded input) as a
CallContext fact, so the backward is one scatter of gy instead of a compare mask per kernel offset. Average pooling sums kH*kW strided slices (never a loop over pixels);
adaptive pooling is two small GEMMs with its bin-averaging matrices. Written against `xp` so CuPy reuses them.
Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...ir.graph import Node
from ...ir.ops.pool import avg_divisors, bin_matrix, window_geometry
from ..destination import OutKernel
from ..table import Table
from .support import Factory, Kernel, plain, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (pool)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (pool)")


@dataclass(frozen=True)
class Geom:
    """One pooling node's geometry, bound at plan time: input (N, C, H, W), output (Ho, Wo), the padded extent
    (Hp, Wp) every window fits in, and the per-axis kernel, stride, dilation and leading pad."""

    n: int
    c: int
    h: int
    w: int
    ho: int
    wo: int
    hp: int
    wp: int
    k: tuple[int, int]
    s: tuple[int, int]
    d: tuple[int, int]
    pt: int
    pl: int

    @property
    def overlapping(self) -> bool:
        """Whether two windows share an input position (then a scatter must accumulate)."""
        return any(s < d * (k - 1) + 1 for s, d, k in zip(self.s, self.d, self.k))

    def pad(self, xp: Any, x: Any, value: float) -> Any:
        """x padded to (Hp, Wp) with `value`: the leading pads, then whatever the last window needs."""
        ph, pw = (self.pt, self.hp - self.h - self.pt), (self.pl, self.wp - self.w - self.pl)
        if ph == (0, 0) and pw == (0, 0):
            return x
        return xp.pad(x, ((0, 0), (0, 0), ph, pw), mode="constant", constant_values=value)

    def windows(self, xp: Any, xpad: Any) -> Any:
        """A read-only view (N, C, Ho, Wo, kH, kW) of every window of the padded array."""
        s0, s1, s2, s3 = xpad.strides
        (sh, sw), (dh, dw) = self.s, self.d
        return xp.lib.stride_tricks.as_strided(xpad, (self.n, self.c, self.ho, self.wo, *self.k),
                                               (s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw))

    def crop(self, a: Any) -> Any:
        """The input region of a padded (N, C, Hp, Wp) array."""
        return a[:, :, self.pt:self.pt + self.h, self.pl:self.pl + self.w]


def geometry(xp: Any, node: Node, env: dict, x_type: Any, y_shape: tuple) -> Geom:
    """The Geom of a pooling node whose input has type `x_type` and output spatial shape `y_shape`."""
    n, c, h, w = shape_of(x_type.shape, env)
    ho, wo = y_shape
    a = node.attrs
    k, s, p = a["kernel_size"], a["stride"], a["padding"]
    d = a.get("dilation", (1, 1))
    hp = max(h + p[0] + p[2], (ho - 1) * s[0] + d[0] * (k[0] - 1) + 1)
    wp = max(w + p[1] + p[3], (wo - 1) * s[1] + d[1] * (k[1] - 1) + 1)
    return Geom(n, c, h, w, ho, wo, hp, wp, k, s, d, p[0], p[1])


def _fwd_geom(xp: Any, node: Node, env: dict) -> Geom:
    return geometry(xp, node, env, node.inputs[0].type, node.outputs[0].type.shape[2:])


def _bwd_geom(xp: Any, node: Node, env: dict) -> Geom:  # (x, gy) or (x, z): x is input 0
    return geometry(xp, node, env, node.inputs[0].type, _pooled_hw(node))


def _pooled_hw(node: Node) -> tuple[int, int]:
    return window_geometry(node.inputs[0].type, node.attrs, node.op)


# ---- max pooling ---------------------------------------------------------------------------------
class Argmax:
    """Per window, the flat position (in the padded input) of its first maximum, and the max itself: one pass
    per kernel offset over whole-tensor strided slices (a compare, a maximum and a branch-free index update;
    an `argmax` over a copied window axis, or a masked copy, was about 3x slower). Ties keep the first; padding is
    -inf and never wins (the type rule keeps every window partly inside the input)."""

    def __init__(self, xp: Any, g: Geom, dtype: str) -> None:
        self.xp, self.g = xp, g
        kk = g.k[0] * g.k[1]
        (sh, sw), (dh, dw) = g.s, g.d
        rows = (xp.arange(g.n * g.c).reshape(-1, 1, 1) * g.hp + xp.arange(g.ho).reshape(1, -1, 1) * sh) * g.wp
        self.base = (rows + xp.arange(g.wo).reshape(1, 1, -1) * sw).reshape(g.n, g.c, g.ho, g.wo)
        self.off = (xp.arange(g.k[0]).reshape(-1, 1) * dh * g.wp + xp.arange(g.k[1]).reshape(1, -1) * dw).reshape(kk)
        shape = (g.n, g.c, g.ho, g.wo)
        self.pos = xp.empty(shape, "int64")
        self.idx = xp.empty(shape, "uint8" if kk < 256 else "int32")
        self.better = xp.empty(shape, "bool")
        self.spare = xp.empty(shape, self.idx.dtype)
        self.best = xp.empty(shape, dtype)
        self.slices = [(slice(a * dh, a * dh + sh * (g.ho - 1) + 1, sh),
                        slice(b * dw, b * dw + sw * (g.wo - 1) + 1, sw)) for a in range(g.k[0]) for b in range(g.k[1])]
        self.ks = [xp.asarray(k, dtype=self.idx.dtype) for k in range(kk)]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.base, self.off, self.pos, self.idx, self.spare, self.better, self.best))

    def __call__(self, x: Any, y: Any | None = None) -> Any:
        """Fill self.pos for x (and y with the pooled max when given); returns pos."""
        xp, g = self.xp, self.g
        xpad = g.pad(xp, x, float("-inf"))
        best = self.best if y is None else y
        (rs, cs), idx, better = self.slices[0], self.idx, self.better
        best[...] = xpad[:, :, rs, cs]
        idx[...] = 0
        for k, (rs, cs) in enumerate(self.slices[1:], start=1):
            v = xpad[:, :, rs, cs]
            xp.greater(v, best, out=better)  # strict: ties keep the earlier position
            xp.maximum(best, v, out=best)
            # idx = k where better, branch-free (a masked copy is slow on random masks): idx ^= (idx ^ k) * better
            xp.bitwise_xor(idx, self.ks[k], out=self.spare)
            xp.multiply(self.spare, better, out=self.spare)
            xp.bitwise_xor(idx, self.spare, out=idx)
        xp.take(self.off, idx, out=self.pos)
        self.pos += self.base
        return self.pos


def _fact_key(node: Node, x_id: int) -> tuple:
    return ("pool_argmax", x_id, tuple(sorted(node.attrs.items())))


class MaxPool:
    """A max_pool2d node's call: the window maxima alone (one `maximum` per kernel offset), or, once a
    max_pool2d_grad of the same plan has asked for them at plan time (`wanted`), with the argmax positions left
    for its scatter. Inference plans have no such reader, and the plain maxima are ~4x fewer NumPy passes."""

    def __init__(self, am: Argmax) -> None:
        self.am, self.wanted = am, False

    def __call__(self, x: Any, y: Any) -> None:
        if self.wanted:
            self.am(x, y)
            return
        xp, g = self.am.xp, self.am.g
        xpad = g.pad(xp, x, float("-inf"))
        (rs, cs), *rest = self.am.slices
        xp.copyto(y, xpad[:, :, rs, cs])
        for rs, cs in rest:
            xp.maximum(y, xpad[:, :, rs, cs], out=y)


@OUT_KERNELS.register("max_pool2d")
def _max_pool2d_out(xp: Any, node: Node, env: dict) -> OutKernel:
    mp = MaxPool(Argmax(xp, _fwd_geom(xp, node, env), node.outputs[0].dtype))

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and ctx.ids:
            ctx.facts[_fact_key(node, ctx.ids[0])] = mp  # a max_pool2d_grad sets mp.wanted and reads mp.am.pos
        return [(mp, (ins[0], out), {})]

    return OutKernel(calls, scratch_bytes=mp.am.nbytes, takes_context=True)


KERNELS.register("max_pool2d")(plain(_max_pool2d_out))


def scatter(xp: Any, g: Geom, pos: Any, gy: Any, out: Any) -> None:
    """out (N, C, H, W) = gy sent to the flat padded positions `pos`, summed where windows overlap."""
    size = g.n * g.c * g.hp * g.wp
    flat = gy.reshape(-1)
    if g.overlapping:
        acc = xp.bincount(pos.reshape(-1), weights=flat, minlength=size).astype(out.dtype, copy=False)
    elif (g.hp, g.wp) == (g.h, g.w):  # windows disjoint and nothing padded: assign into out itself
        acc = out.reshape(-1)
        acc[...] = 0
        acc[pos.reshape(-1)] = flat
        return
    else:  # each input position is in at most one window: a plain assignment
        acc = xp.zeros(size, out.dtype)
        acc[pos.reshape(-1)] = flat
    out[...] = g.crop(acc.reshape(g.n, g.c, g.hp, g.wp))


@OUT_KERNELS.register("max_pool2d_grad")
def _max_pool2d_grad_out(xp: Any, node: Node, env: dict) -> OutKernel:
    g = _bwd_geom(xp, node, env)
    am = Argmax(xp, g, node.inputs[0].dtype)

    def from_x(x: Any, gy: Any, out: Any) -> None:
        scatter(xp, g, am(x), gy, out)

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        fwd = ctx.facts.get(_fact_key(node, ctx.ids[0])) if ctx is not None and ctx.ids else None
        if fwd is not None:  # the forward of this step chooses (told so here, at plan time): scatter only
            fwd.wanted = True
            return [(scatter, (xp, g, fwd.am.pos, ins[1], out), {})]
        return [(from_x, (ins[0], ins[1], out), {})]

    return OutKernel(calls, scratch_bytes=am.nbytes, takes_context=True)


KERNELS.register("max_pool2d_grad")(plain(_max_pool2d_grad_out))


@KERNELS.register("max_pool2d_select")
def _max_pool2d_select(xp: Any, node: Node, env: dict) -> Kernel:
    g = _bwd_geom(xp, node, env)
    am = Argmax(xp, g, node.inputs[0].dtype)

    def f(x: Any, z: Any) -> Any:
        return g.pad(xp, z, 0.0).reshape(-1)[am(x)]

    return f


# ---- average pooling -------------------------------------------------------------------------------
def divisors(g: Geom, attrs: dict) -> Any:
    """(Ho, Wo) window sizes to divide by (the ir's rule, `avg_divisors`), as float64."""
    return avg_divisors((g.h, g.w), (g.ho, g.wo), attrs)


def _offsets(g: Geom) -> list[tuple[slice, slice]]:
    (kh, kw), (sh, sw), (dh, dw) = g.k, g.s, g.d
    return [(slice(a * dh, a * dh + sh * (g.ho - 1) + 1, sh), slice(b * dw, b * dw + sw * (g.wo - 1) + 1, sw))
            for a in range(kh) for b in range(kw)]


@KERNELS.register("avg_pool2d")
def _avg_pool2d(xp: Any, node: Node, env: dict) -> Kernel:
    g = _fwd_geom(xp, node, env)
    offs = _offsets(g)
    inv = xp.asarray(1.0 / divisors(g, node.attrs), dtype=node.outputs[0].dtype)

    def f(x: Any) -> Any:
        xpad = g.pad(xp, x, 0.0)
        acc = xp.array(xpad[:, :, offs[0][0], offs[0][1]])
        for rs, cs in offs[1:]:
            acc += xpad[:, :, rs, cs]
        acc *= inv
        return acc

    return f


@KERNELS.register("avg_pool2d_grad")
def _avg_pool2d_grad(xp: Any, node: Node, env: dict) -> Kernel:
    gy_shape = node.inputs[0].type.shape
    x_type = node.outputs[0].type
    g = geometry(xp, node, env, x_type, tuple(gy_shape[2:]))
    offs = _offsets(g)
    inv = xp.asarray(1.0 / divisors(g, node.attrs), dtype=node.outputs[0].dtype)

    def f(gy: Any) -> Any:
        share = gy * inv
        acc = xp.zeros((g.n, g.c, g.hp, g.wp), gy.dtype)
        for rs, cs in offs:  # overlapping windows send to one place: accumulate
            acc[:, :, rs, cs] += share
        return xp.ascontiguousarray(g.crop(acc))

    return f


# ---- adaptive average pooling: y = A_h x A_w^T with bin-averaging matrices --------------------------------
def separable(xp: Any, x: Any, ah: Any, aw: Any) -> Any:
    """(N, C, H, W) -> (N, C, Ho, Wo) = ah @ x @ aw.T per map, as two GEMMs over all maps at once."""
    n, c, h, w = x.shape
    t = x.reshape(-1, w) @ aw.T  # (N*C*H, Wo)
    t = t.reshape(n * c, h, -1).transpose(1, 0, 2).reshape(h, -1)  # (H, N*C*Wo)
    y = (ah @ t).reshape(ah.shape[0], n * c, -1).transpose(1, 0, 2)
    return xp.ascontiguousarray(y).reshape(n, c, ah.shape[0], -1)


def _matrices(xp: Any, size: tuple, out: tuple, dtype: str) -> tuple[Any, Any]:
    return (xp.asarray(bin_matrix(size[0], out[0]), dtype=dtype), xp.asarray(bin_matrix(size[1], out[1]), dtype=dtype))


@KERNELS.register("adaptive_avg_pool2d")
def _adaptive(xp: Any, node: Node, env: dict) -> Kernel:
    ah, aw = _matrices(xp, node.inputs[0].type.shape[2:], node.attrs["output_size"], node.outputs[0].dtype)
    return lambda x: separable(xp, x, ah, aw)


@KERNELS.register("adaptive_avg_pool2d_grad")
def _adaptive_grad(xp: Any, node: Node, env: dict) -> Kernel:
    ah, aw = _matrices(xp, node.attrs["input_size"], node.inputs[0].type.shape[2:], node.outputs[0].dtype)
    aht, awt = xp.ascontiguousarray(ah.T), xp.ascontiguousarray(aw.T)
    return lambda gy: separable(xp, gy, aht, awt)
