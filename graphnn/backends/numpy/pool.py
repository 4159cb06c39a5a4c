"""NumPy kernels of graphnn/ir/ops/pool.py: max pooling and its backward ops.

Pooling loops over the kH*kW kernel offsets only (each step a whole-tensor strided operation), never over
batch or pixels. Written against `xp` so CuPy reuses them. Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..table import Table
from .support import Factory, Kernel

KERNELS: Table[Factory] = Table("numpy kernel (pool)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (pool)")


def pad_hw(xp: Any, x: Any, ph: int, pw: int, value: float = 0.0) -> Any:
    """Pad the two trailing (spatial) axes; no copy when there is nothing to pad."""
    if ph == 0 and pw == 0:
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=value)


def offsets(kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> list[tuple[int, int, slice, slice]]:
    """For each kernel offset (a, b), row-major: the rows and columns of the padded input it touches."""
    return [(a, b, slice(a, a + sh * (ho - 1) + 1, sh), slice(b, b + sw * (wo - 1) + 1, sw))
            for a in range(kh) for b in range(kw)]


def _geom(node: Node, kh: int, kw: int) -> tuple[int, int, int, int, int, int]:
    (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
    return kh, kw, sh, sw, ph, pw


def _out_hw(node: Node) -> tuple[int, int]:
    return node.outputs[0].type.shape[2], node.outputs[0].type.shape[3]  # static by the type rule


# ---- max pooling ---------------------------------------------------------------------------------
# One strided slice per kernel offset: reducing the 6-d window view directly was ~25x slower in NumPy.
def _pool_setup(node: Node, ho: int, wo: int) -> tuple[int, int, list]:
    kh, kw, sh, sw, ph, pw = _geom(node, *node.attrs["kernel_size"])
    return ph, pw, offsets(kh, kw, sh, sw, ho, wo)


def first_argmax(xp: Any, xpad: Any, offs: list) -> Any:
    """Per window, the index (row-major within the window) of its first maximum; padding is -inf."""
    best = xpad[:, :, offs[0][2], offs[0][3]]
    idx = xp.zeros(best.shape, dtype="int64")
    for k, (_, _, rs, cs) in enumerate(offs[1:], start=1):
        v = xpad[:, :, rs, cs]
        better = v > best  # strict: ties keep the earlier position
        best = xp.where(better, v, best)
        idx = xp.where(better, k, idx)
    return idx


@KERNELS.register("max_pool2d")
def _max_pool2d(xp: Any, node: Node, env: dict) -> Kernel:
    ph, pw, offs = _pool_setup(node, *_out_hw(node))

    def f(x: Any) -> Any:
        xpad = pad_hw(xp, x, ph, pw, float("-inf"))
        out = xp.array(xpad[:, :, offs[0][2], offs[0][3]])
        for _, _, rs, cs in offs[1:]:
            xp.maximum(out, xpad[:, :, rs, cs], out=out)
        return out

    return f


@KERNELS.register("max_pool2d_grad")
def _max_pool2d_grad(xp: Any, node: Node, env: dict) -> Kernel:
    ph, pw, offs = _pool_setup(node, *node.inputs[1].type.shape[2:])

    def f(x: Any, gy: Any) -> Any:
        idx = first_argmax(xp, pad_hw(xp, x, ph, pw, float("-inf")), offs)
        n, c, h, w = x.shape
        out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=gy.dtype)
        zero = xp.zeros((), dtype=gy.dtype)
        for k, (_, _, rs, cs) in enumerate(offs):  # overlapping windows may send to one place: accumulate
            out[:, :, rs, cs] += xp.where(idx == k, gy, zero)
        return xp.ascontiguousarray(out[:, :, ph:ph + h, pw:pw + w])

    return f


@KERNELS.register("max_pool2d_select")
def _max_pool2d_select(xp: Any, node: Node, env: dict) -> Kernel:
    ph, pw, offs = _pool_setup(node, *_out_hw(node))

    def f(x: Any, z: Any) -> Any:
        idx = first_argmax(xp, pad_hw(xp, x, ph, pw, float("-inf")), offs)
        zpad = pad_hw(xp, z, ph, pw)
        out = zpad[:, :, offs[0][2], offs[0][3]]
        for k, (_, _, rs, cs) in enumerate(offs[1:], start=1):
            out = xp.where(idx == k, zpad[:, :, rs, cs], out)
        return xp.ascontiguousarray(out)

    return f
