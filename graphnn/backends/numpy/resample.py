"""NumPy kernels of graphnn/ir/ops/resample.py: pad (xp.pad) and its gradient (the padding folded back onto the
core), resize and its gradient as small GEMMs with the per-axis resampling matrices (decided at plan time).

Written against `xp` so CuPy reuses them. Imports graphnn.ir and the pool kernels' separable GEMM.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ...ir.ops.resample import resize_matrices
from ..table import Table
from .pool import separable
from .support import Factory, Kernel

KERNELS: Table[Factory] = Table("numpy kernel (resample)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (resample)")


@KERNELS.register("pad")
def _pad(xp: Any, node: Node, env: dict) -> Kernel:
    pads, mode = node.attrs["pads"], node.attrs["mode"]
    if mode == "constant":
        v = node.attrs["value"]
        return lambda x: xp.pad(x, pads, mode="constant", constant_values=v)
    return lambda x: xp.pad(x, pads, mode=mode)


def _along(ndim: int, ax: int, s: Any) -> tuple:
    return (slice(None),) * ax + (s,)


@KERNELS.register("pad_grad")
def _pad_grad(xp: Any, node: Node, env: dict) -> Kernel:
    pads, mode = node.attrs["pads"], node.attrs["mode"]

    def f(gy: Any) -> Any:
        g = gy
        for ax, (b, a) in enumerate(pads):
            if b == a == 0:
                continue
            n = g.shape[ax] - b - a
            core = xp.array(g[_along(g.ndim, ax, slice(b, b + n))])
            before, after = g[_along(g.ndim, ax, slice(0, b))], g[_along(g.ndim, ax, slice(b + n, b + n + a))]
            if mode == "edge":  # every padded position copied the first or the last core position
                core[_along(g.ndim, ax, slice(0, 1))] += before.sum(axis=ax, keepdims=True)
                core[_along(g.ndim, ax, slice(n - 1, n))] += after.sum(axis=ax, keepdims=True)
            elif mode == "reflect":  # padded position b-1-k mirrors core k+1; b+n+k mirrors core n-2-k
                if b:
                    core[_along(g.ndim, ax, slice(1, b + 1))] += xp.flip(before, axis=ax)
                if a:
                    core[_along(g.ndim, ax, slice(n - 1 - a, n - 1))] += xp.flip(after, axis=ax)
            g = core
        return xp.ascontiguousarray(g)

    return f


def _apply(xp: Any, x: Any, ms: list) -> Any:
    if len(ms) == 1:  # NCW: one GEMM on the last axis
        return (x.reshape(-1, x.shape[-1]) @ ms[0].T).reshape(*x.shape[:-1], ms[0].shape[0])
    return separable(xp, x, ms[0], ms[1])


@KERNELS.register("resize")
def _resize(xp: Any, node: Node, env: dict) -> Kernel:
    dt = node.outputs[0].dtype
    ms = [xp.asarray(m, dtype=dt) for m in resize_matrices(tuple(node.inputs[0].type.shape[2:]), node.attrs)]
    return lambda x: _apply(xp, x, ms)


@KERNELS.register("resize_grad")
def _resize_grad(xp: Any, node: Node, env: dict) -> Kernel:
    dt = node.outputs[0].dtype
    ms = [xp.ascontiguousarray(xp.asarray(m, dtype=dt).T) for m in resize_matrices(node.attrs["input_size"], node.attrs)]
    return lambda gy: _apply(xp, gy, ms)
