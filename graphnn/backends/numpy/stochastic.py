"""NumPy kernel of graphnn/ir/ops/stochastic.py: dropout. Its mask is counter-based:
splitmix64(hash(seed, stream, step) + index * golden) compared with p, so NumPy and CuPy draw the same mask and
the backward pass redraws exactly the forward's one. Written against `xp`. Imports graphnn.ir.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..table import Table
from .support import Factory, Kernel

KERNELS: Table[Factory] = Table("numpy kernel (stochastic)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (stochastic)")

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


@KERNELS.register("dropout")
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
