"""NumPy kernels of graphnn/ir/ops/conv.py: conv2d and its backward ops (pooling is in pool.py).

im2col copies a strided window view once; col2im loops over the kH*kW kernel offsets only
(each step a whole-tensor strided operation), never over batch or pixels.
Written against `xp` so CuPy reuses them (cupy has lib.stride_tricks.as_strided). Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..table import Table
from .support import Factory, Kernel

KERNELS: Table[Factory] = Table("numpy kernel (conv)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (conv)")


def pad_hw(xp: Any, x: Any, ph: int, pw: int, value: float = 0.0) -> Any:
    """Pad the two trailing (spatial) axes; no copy when there is nothing to pad."""
    if ph == 0 and pw == 0:
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=value)


def windows(xp: Any, xpad: Any, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> Any:
    """A read-only view (N, C, Ho, Wo, kH, kW) of every window of a padded NCHW array."""
    n, c = xpad.shape[:2]
    s0, s1, s2, s3 = xpad.strides
    return xp.lib.stride_tricks.as_strided(xpad, (n, c, ho, wo, kh, kw), (s0, s1, s2 * sh, s3 * sw, s2, s3))


def im2col(xp: Any, xpad: Any, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> Any:
    """The (N*Ho*Wo, C*kH*kW) patch matrix: one copy of the strided window view, rows in NHW order."""
    win = windows(xp, xpad, kh, kw, sh, sw, ho, wo).transpose(0, 2, 3, 1, 4, 5)
    return xp.ascontiguousarray(win).reshape(-1, win.shape[3] * kh * kw)


def rows_nhw(xp: Any, a: Any) -> Any:
    """(N, K, H, W) -> contiguous (N*H*W, K), the layout the GEMMs below want."""
    return xp.ascontiguousarray(a.transpose(0, 2, 3, 1)).reshape(-1, a.shape[1])


def offsets(kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> list[tuple[int, int, slice, slice]]:
    """For each kernel offset (a, b), row-major: the rows and columns of the padded input it touches."""
    return [(a, b, slice(a, a + sh * (ho - 1) + 1, sh), slice(b, b + sw * (wo - 1) + 1, sw))
            for a in range(kh) for b in range(kw)]


def _geom(node: Node, kh: int, kw: int) -> tuple[int, int, int, int, int, int]:
    (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
    return kh, kw, sh, sw, ph, pw


def _out_hw(node: Node) -> tuple[int, int]:
    return node.outputs[0].type.shape[2], node.outputs[0].type.shape[3]  # static by the type rule


# Each conv kernel is one GEMM over the patch matrix. Explicit GEMMs: np.tensordot on the strided view was
# several times slower for the weight gradient, whose contraction runs over N*Ho*Wo.
@KERNELS.register("conv2d")
def _conv2d(xp: Any, node: Node, env: dict) -> Kernel:
    kh, kw, sh, sw, ph, pw = _geom(node, *node.inputs[1].type.shape[2:])
    ho, wo = _out_hw(node)

    def f(x: Any, w: Any) -> Any:
        cols = im2col(xp, pad_hw(xp, x, ph, pw), kh, kw, sh, sw, ho, wo)
        y = cols @ w.reshape(w.shape[0], -1).T  # (N*Ho*Wo, O)
        return xp.ascontiguousarray(y.reshape(x.shape[0], ho, wo, -1).transpose(0, 3, 1, 2))

    return f


@KERNELS.register("conv2d_input_grad")
def _conv2d_input_grad(xp: Any, node: Node, env: dict) -> Kernel:
    kh, kw, sh, sw, ph, pw = _geom(node, *node.inputs[1].type.shape[2:])
    h, w_ = node.attrs["input_size"]
    ho, wo = node.inputs[0].type.shape[2:]
    offs = offsets(kh, kw, sh, sw, ho, wo)

    def f(gy: Any, w: Any) -> Any:
        n, c = gy.shape[0], w.shape[1]
        # Patch gradients with (kH, kW, C) innermost, so each kernel offset's block is contiguous in C.
        cols = (rows_nhw(xp, gy) @ w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)).reshape(n, ho, wo, kh, kw, c)
        out = xp.zeros((n, h + 2 * ph, w_ + 2 * pw, c), dtype=gy.dtype)  # NHWC while accumulating
        for a, b, rs, cs in offs:  # col2im: windows overlap, so the offsets must accumulate
            out[:, rs, cs, :] += cols[:, :, :, a, b, :]
        return xp.ascontiguousarray(out[:, ph:ph + h, pw:pw + w_, :].transpose(0, 3, 1, 2))

    return f


@KERNELS.register("conv2d_weight_grad")
def _conv2d_weight_grad(xp: Any, node: Node, env: dict) -> Kernel:
    kh, kw, sh, sw, ph, pw = _geom(node, *node.attrs["kernel_size"])
    ho, wo = node.inputs[1].type.shape[2:]

    def f(x: Any, gy: Any) -> Any:
        cols = im2col(xp, pad_hw(xp, x, ph, pw), kh, kw, sh, sw, ho, wo)
        gw = (cols.T @ rows_nhw(xp, gy)).T  # (O, C*kH*kW)
        return xp.ascontiguousarray(gw).reshape(gy.shape[1], x.shape[1], kh, kw)

    return f
