"""NumPy kernels for batch_norm (train semantics), batch_norm_train/_infer, layer_norm and dropout
(merged into KERNELS by kernels.py). Written against `xp` so CuPy reuses them.

Dropout's mask is counter-based: splitmix64(hash(seed, stream, step) + index * golden) compared with p, so
NumPy and CuPy draw the same mask and the backward pass redraws exactly the forward's one.
"""

from __future__ import annotations

from typing import Any, Callable

from ...ir.graph import Node

Kernel = Callable[..., Any]
NORM_KERNELS: dict[str, Callable[[Any, Node, dict], Kernel]] = {}


def _register(name: str) -> Callable:
    def deco(f: Callable) -> Callable:
        NORM_KERNELS[name] = f
        return f

    return deco


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


@_register("batch_norm_train")
def _batch_norm_train(xp: Any, node: Node, env: dict) -> Kernel:
    ax, eps = node.attrs["axis"], node.attrs["eps"]
    return lambda x, gamma, beta: _normalize_train(xp, x, gamma, beta, ax, eps)


@_register("batch_norm")
def _batch_norm(xp: Any, node: Node, env: dict) -> Kernel:
    # The unlowered op means training mode (the mode pass rewrites it before this runs in either mode).
    ax, eps, m = node.attrs["axis"], node.attrs["eps"], node.attrs["momentum"]

    def f(x: Any, gamma: Any, beta: Any, rm: Any, rv: Any) -> tuple[Any, Any, Any]:
        y, mean, var = _normalize_train(xp, x, gamma, beta, ax, eps)
        return y, (rm * (1 - m) + mean * m).astype(rm.dtype, copy=False), (rv * (1 - m) + var * m).astype(rv.dtype, copy=False)

    return f


@_register("batch_norm_infer")
def _batch_norm_infer(xp: Any, node: Node, env: dict) -> Kernel:
    ax, eps = node.attrs["axis"], node.attrs["eps"]
    rank = node.inputs[0].ndim

    def f(x: Any, gamma: Any, beta: Any, mean: Any, var: Any) -> Any:
        bs = _bshape(rank, ax, x.shape[ax])
        scale = gamma / xp.sqrt(var + eps)  # fold per channel first: one multiply-add per element
        return (x * scale.reshape(bs) + (beta - mean * scale).reshape(bs)).astype(x.dtype, copy=False)

    return f


@_register("layer_norm")
def _layer_norm(xp: Any, node: Node, env: dict) -> Kernel:
    ax, eps = node.attrs["axis"], node.attrs["eps"]
    r = tuple(range(ax, node.inputs[0].ndim))

    def f(x: Any, gamma: Any, beta: Any) -> Any:
        mean = xp.mean(x, axis=r, keepdims=True)
        xc = x - mean
        var = xp.mean(xc * xc, axis=r, keepdims=True)
        return (xc / xp.sqrt(var + eps) * gamma + beta).astype(x.dtype, copy=False)

    return f


# ---- dropout: counter-based random stream -----------------------------------------------------------
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def splitmix64(z: int) -> int:
    """The splitmix64 finalizer on a Python int (64-bit wraparound)."""
    z &= _M64
    z = ((z ^ (z >> 30)) * _C1) & _M64
    z = ((z ^ (z >> 27)) * _C2) & _M64
    return z ^ (z >> 31)


def stream_key(seed: int, stream: int, step: int) -> int:
    """One 64-bit key per (seed, stream, step); every element's draw is hashed from it and its index."""
    return splitmix64(splitmix64(splitmix64(seed) + stream * _GOLDEN) + step * _GOLDEN)


def uniform01(xp: Any, key: int, size: int) -> Any:
    """`size` uniforms in [0, 1) (float64), a pure function of (key, index)."""
    u64 = xp.uint64
    z = xp.arange(size, dtype=u64) * u64(_GOLDEN) + u64(key)
    z = (z ^ (z >> u64(30))) * u64(_C1)
    z = (z ^ (z >> u64(27))) * u64(_C2)
    z = z ^ (z >> u64(31))
    return (z >> u64(11)).astype("float64") * (1.0 / (1 << 53))


def dropout_mask(xp: Any, shape: tuple, p: float, seed: int, stream: int, step: int) -> Any:
    """The keep mask (bool) a dropout node draws at `step`."""
    size = 1
    for d in shape:
        size *= d
    return (uniform01(xp, stream_key(seed, stream, step), size) >= p).reshape(shape)


@_register("dropout")
def _dropout(xp: Any, node: Node, env: dict) -> Kernel:
    # The op means training mode; the mode pass removes it in eval mode.
    p, seed, stream = node.attrs["p"], node.attrs["seed"], node.attrs["stream"]
    if p == 0.0:
        return lambda x, step: x
    dt = node.outputs[0].dtype

    def f(x: Any, step: Any) -> Any:
        keep = dropout_mask(xp, x.shape, p, seed, stream, int(step))
        return xp.where(keep, x * xp.asarray(1.0 / (1.0 - p), dtype=dt), xp.zeros((), dtype=dt))

    return f
