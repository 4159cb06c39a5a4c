"""NumPy kernels for conv2d / max pooling and their backward ops (merged into KERNELS by kernels.py).

im2col is a strided view (no copy until the contraction); col2im loops over the kH*kW kernel offsets only,
never over batch or pixels. Written against `xp` so CuPy reuses them (cupy has lib.stride_tricks.as_strided).
"""

from __future__ import annotations

from typing import Any, Callable

from ...ir.graph import Node

Kernel = Callable[..., Any]
CONV_KERNELS: dict[str, Callable[[Any, Node, dict], Kernel]] = {}


def _register(name: str) -> Callable:
    def deco(f: Callable) -> Callable:
        CONV_KERNELS[name] = f
        return f

    return deco


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


def col2im_add(xp: Any, cols: Any, shape: tuple, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> Any:
    """Sum window contributions cols (N, C, Ho, Wo, kH, kW) back into an unpadded NCHW array of `shape`."""
    n, c, h, w = shape
    ho, wo = cols.shape[2], cols.shape[3]
    out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for a in range(kh):  # one strided add per kernel offset; windows overlap, so these must accumulate
        for b in range(kw):
            out[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] += cols[:, :, :, :, a, b]
    return out[:, :, ph:ph + h, pw:pw + w]


def _geom(node: Node, kh: int, kw: int) -> tuple[int, int, int, int, int, int]:
    (sh, sw), (ph, pw) = node.attrs["stride"], node.attrs["padding"]
    return kh, kw, sh, sw, ph, pw


def _out_hw(node: Node, which: int) -> tuple[int, int]:
    return node.outputs[0].type.shape[2], node.outputs[0].type.shape[3]  # static by the type rule


@_register("conv2d")
def _conv2d(xp: Any, node: Node, env: dict) -> Kernel:
    kh, kw, sh, sw, ph, pw = _geom(node, *node.inputs[1].type.shape[2:])
    ho, wo = _out_hw(node, 0)

    def f(x: Any, w: Any) -> Any:
        cols = windows(xp, pad_hw(xp, x, ph, pw), kh, kw, sh, sw, ho, wo)
        y = xp.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, O)
        return xp.ascontiguousarray(y.transpose(0, 3, 1, 2))

    return f


@_register("conv2d_input_grad")
def _conv2d_input_grad(xp: Any, node: Node, env: dict) -> Kernel:
    kh, kw, sh, sw, ph, pw = _geom(node, *node.inputs[1].type.shape[2:])
    h, w_ = node.attrs["input_size"]

    def f(gy: Any, w: Any) -> Any:
        cols = xp.tensordot(gy, w, axes=([1], [0]))  # (N, Ho, Wo, C, kH, kW)
        cols = cols.transpose(0, 3, 1, 2, 4, 5)
        return xp.ascontiguousarray(col2im_add(xp, cols, (gy.shape[0], w.shape[1], h, w_), kh, kw, sh, sw, ph, pw))

    return f


@_register("conv2d_weight_grad")
def _conv2d_weight_grad(xp: Any, node: Node, env: dict) -> Kernel:
    kh, kw, sh, sw, ph, pw = _geom(node, *node.attrs["kernel_size"])

    def f(x: Any, gy: Any) -> Any:
        cols = windows(xp, pad_hw(xp, x, ph, pw), kh, kw, sh, sw, gy.shape[2], gy.shape[3])
        return xp.ascontiguousarray(xp.tensordot(gy, cols, axes=([0, 2, 3], [0, 2, 3])))  # (O, C, kH, kW)

    return f


# ---- max pooling ---------------------------------------------------------------------------------
def _pool_geom(node: Node) -> tuple[int, int, int, int, int, int]:
    return _geom(node, *node.attrs["kernel_size"])


def first_argmax(xp: Any, x: Any, geom: tuple, ho: int, wo: int) -> Any:
    """Per window, the flat offset a*kW + b of its first maximum (padding is -inf, never chosen)."""
    kh, kw, sh, sw, ph, pw = geom
    win = windows(xp, pad_hw(xp, x, ph, pw, float("-inf")), kh, kw, sh, sw, ho, wo)
    return xp.argmax(win.reshape(win.shape[:4] + (kh * kw,)), axis=-1)


@_register("max_pool2d")
def _max_pool2d(xp: Any, node: Node, env: dict) -> Kernel:
    kh, kw, sh, sw, ph, pw = _pool_geom(node)
    ho, wo = _out_hw(node, 0)

    def f(x: Any) -> Any:
        win = windows(xp, pad_hw(xp, x, ph, pw, float("-inf")), kh, kw, sh, sw, ho, wo)
        return xp.max(win, axis=(4, 5))

    return f


@_register("max_pool2d_grad")
def _max_pool2d_grad(xp: Any, node: Node, env: dict) -> Kernel:
    geom = _pool_geom(node)
    kh, kw = geom[:2]

    def f(x: Any, gy: Any) -> Any:
        idx = first_argmax(xp, x, geom, gy.shape[2], gy.shape[3])
        onehot = idx[..., None] == xp.arange(kh * kw).reshape((1, 1, 1, 1, kh * kw))
        cols = xp.where(onehot, gy[..., None], xp.zeros((), dtype=gy.dtype)).reshape(idx.shape + (kh, kw))
        return xp.ascontiguousarray(col2im_add(xp, cols, x.shape, *geom))

    return f


@_register("max_pool2d_select")
def _max_pool2d_select(xp: Any, node: Node, env: dict) -> Kernel:
    geom = _pool_geom(node)
    kh, kw, sh, sw, ph, pw = geom
    ho, wo = _out_hw(node, 0)

    def f(x: Any, z: Any) -> Any:
        idx = first_argmax(xp, x, geom, ho, wo)
        zw = windows(xp, pad_hw(xp, z, ph, pw), kh, kw, sh, sw, ho, wo)
        zw = zw.reshape(zw.shape[:4] + (kh * kw,))
        return xp.take_along_axis(zw, idx[..., None], axis=-1)[..., 0]

    return f
