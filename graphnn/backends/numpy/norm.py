"""NumPy kernels of graphnn/ir/ops/norm.py: batch_norm (train semantics), batch_norm_train/_infer, layer_norm.

Written against `xp` so CuPy reuses them; layer_norm and layer_norm_grad run the optional compiled kernels
(backends/compiled) on NumPy float arrays when numba is there. Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from .. import compiled
from ..table import Table
from .support import Factory, Kernel

KERNELS: Table[Factory] = Table("numpy kernel (norm)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (norm)")


def _bshape(rank: int, axis: int, c: int) -> tuple[int, ...]:
    return tuple(c if i == axis else 1 for i in range(rank))


def batch_stats(xp: Any, x: Any, axis: int) -> tuple[Any, Any, Any, int]:
    """Mean and biased variance over every axis but `axis` (kept as size-1 axes), centred x, and the count."""
    r = tuple(i for i in range(x.ndim) if i != axis)
    mean = xp.mean(x, axis=r, keepdims=True)
    xc = x - mean
    var = xp.mean(xc * xc, axis=r, keepdims=True)  # two-pass: no cancellation for large means
    return mean, var, xc, x.size // x.shape[axis]


def _normalize_train(xp: Any, x: Any, gamma: Any, beta: Any, axis: int, eps: float) -> tuple[Any, Any, Any]:
    mean, var, xc, m = batch_stats(xp, x, axis)
    bs = _bshape(x.ndim, axis, x.shape[axis])
    y = xc / xp.sqrt(var + eps) * gamma.reshape(bs) + beta.reshape(bs)
    unbiased = var * (m / max(m - 1, 1))
    return y.astype(x.dtype, copy=False), mean.reshape(-1), unbiased.reshape(-1).astype(x.dtype, copy=False)


@KERNELS.register("batch_norm_train")
def _batch_norm_train(xp: Any, node: Node, env: dict) -> Kernel:
    ax, eps = node.attrs["axis"], node.attrs["eps"]
    return lambda x, gamma, beta: _normalize_train(xp, x, gamma, beta, ax, eps)


@KERNELS.register("batch_norm")
def _batch_norm(xp: Any, node: Node, env: dict) -> Kernel:
    # The unlowered op means training mode (the mode pass rewrites it before this runs in either mode).
    ax, eps, m = node.attrs["axis"], node.attrs["eps"], node.attrs["momentum"]

    def f(x: Any, gamma: Any, beta: Any, rm: Any, rv: Any) -> tuple[Any, Any, Any]:
        y, mean, var = _normalize_train(xp, x, gamma, beta, ax, eps)
        return y, (rm * (1 - m) + mean * m).astype(rm.dtype, copy=False), (rv * (1 - m) + var * m).astype(rv.dtype, copy=False)

    return f


@KERNELS.register("batch_norm_infer")
def _batch_norm_infer(xp: Any, node: Node, env: dict) -> Kernel:
    ax, eps = node.attrs["axis"], node.attrs["eps"]
    rank = node.inputs[0].ndim

    def f(x: Any, gamma: Any, beta: Any, mean: Any, var: Any) -> Any:
        bs = _bshape(rank, ax, x.shape[ax])
        scale = gamma / xp.sqrt(var + eps)  # fold per channel first: one multiply-add per element
        return (x * scale.reshape(bs) + (beta - mean * scale).reshape(bs)).astype(x.dtype, copy=False)

    return f


def row_sums(xp: Any, a2: Any, ones: Any) -> Any:
    """Sums of the rows of a 2-D array as a product with a ones column (n, 1): NumPy's reduction along a short
    contiguous axis pays per row; a matrix-vector product does not."""
    return xp.matmul(a2, ones)


@KERNELS.register("layer_norm")
def _layer_norm(xp: Any, node: Node, env: dict) -> Kernel:
    ax, eps = node.attrs["axis"], node.attrs["eps"]
    r = tuple(range(ax, node.inputs[0].ndim))
    dt = node.inputs[0].dtype
    n = 1
    for d in node.inputs[0].shape[ax:]:
        n = n * d if isinstance(d, int) else 0
    ones = xp.ones((n, 1), dt) if n else None

    def f(x: Any, gamma: Any, beta: Any) -> Any:
        fast = compiled.layer_norm(xp, x, gamma, beta, n, eps)  # one compiled pass per row, when numba is there
        if fast is not None:
            return fast
        if ones is None or x.dtype != dt or x.size == 0:  # symbolic normalized dims, or nothing to do: plain
            mean = xp.mean(x, axis=r, keepdims=True)
            xc = x - mean
            var = xp.mean(xc * xc, axis=r, keepdims=True)
            return (xc / xp.sqrt(var + eps) * gamma + beta).astype(x.dtype, copy=False)
        x2 = x.reshape(-1, n)
        mean = row_sums(xp, x2, ones)
        mean /= n
        xc = x2 - mean
        var = row_sums(xp, xc * xc, ones)  # two-pass: no cancellation for large means
        var /= n
        var += eps
        xp.sqrt(var, out=var)
        xp.reciprocal(var, out=var)
        xc *= var
        y = xc.reshape(x.shape)
        y *= gamma
        y += beta
        return y

    return f


@KERNELS.register("layer_norm_grad")
def _layer_norm_grad(xp: Any, node: Node, env: dict) -> Kernel:
    """(gx, ggamma) in closed form over (rows, n) views: row statistics and row dots as matrix-vector products
    with a ones column, gx = rstd (g gamma - mean(g gamma) - xhat mean(g gamma xhat)), ggamma = column sums of
    g xhat; about ten passes over x's size instead of the ~20 graph ops of the composition."""
    ax, eps = node.attrs["axis"], node.attrs["eps"]
    dt = node.inputs[0].dtype

    def f(x: Any, gamma: Any, gy: Any) -> tuple[Any, Any]:
        n = 1
        for d in x.shape[ax:]:
            n *= d
        if x.size == 0:
            return xp.zeros(x.shape, dt), xp.zeros(gamma.shape, dt)
        fast = compiled.layer_norm_grad(xp, x, gamma, gy, n, eps)  # two compiled passes per row, when numba is there
        if fast is not None:
            return fast
        ones = xp.ones((n, 1), dt)
        x2, g2 = x.reshape(-1, n), gy.reshape(-1, n)
        mean = row_sums(xp, x2, ones)
        mean /= n
        xhat = x2 - mean
        t = xhat * xhat
        rstd = row_sums(xp, t, ones)
        rstd /= n
        rstd += eps
        xp.sqrt(rstd, out=rstd)
        xp.reciprocal(rstd, out=rstd)
        xhat *= rstd
        xp.multiply(g2, xhat, out=t)
        ggamma = t.sum(axis=0).reshape(gamma.shape)
        gx = g2 * gamma.reshape(n)
        xp.multiply(gx, xhat, out=t)
        b = row_sums(xp, t, ones)
        b /= -n
        a = row_sums(xp, gx, ones)
        a /= -n
        xhat *= b
        gx += xhat
        gx += a
        gx *= rstd
        return gx.reshape(x.shape), ggamma

    return f
