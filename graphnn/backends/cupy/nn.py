"""CuPy overrides for graphnn/ir/ops/nn.py: softmax as row max, one sum-of-exp reduction kernel and one
normalize kernel; one_hot as one comparison kernel against the class indices (after the label check); gelu
as one kernel (CUDA C erfc; NumPy has none).
Imports graphnn.ir, the backend records and the NumPy family helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..numpy.support import allocating, label_check, shape_of
from ..table import Table
from .cuda_source import CTYPE, KernelSource, compiled, sum_exp

KERNELS: Table[Any] = Table("cupy kernel (nn)")
OUT_KERNELS: Table[Any] = Table("cupy out= kernel (nn)")


@OUT_KERNELS.register("softmax")
def _softmax_out(xp: Any, node: Node, env: dict) -> OutKernel:
    ax, dt = node.attrs["axis"], node.outputs[0].dtype
    shp = list(shape_of(node.outputs[0].type.shape, env))
    shp[ax] = 1
    m = xp.empty(tuple(shp), dt)
    s = xp.empty(tuple(shp), dt)
    se = sum_exp(xp, dt)
    norm = compiled(xp, KernelSource(f"{dt} x, {dt} m, {dt} s", f"{dt} p", "p = exp(x - m) / s;",
                                     "graphnn_softmax_normalize"))

    def calls(ins: list, out: Any) -> list:
        x = ins[0]
        return [(xp.max, (x,), {"axis": ax, "keepdims": True, "out": m}),
                (se, (x, m), {"axis": ax, "keepdims": True, "out": s}), (norm, (x, m, s, out), {})]

    return OutKernel(calls, inplace=True, scratch_bytes=2 * m.nbytes)


@OUT_KERNELS.register("one_hot")
def _one_hot_out(xp: Any, node: Node, env: dict) -> OutKernel:
    depth, dt = node.attrs["depth"], node.attrs["dtype"]
    yt = node.inputs[0].dtype
    shp = shape_of(node.outputs[0].type.shape, env)
    classes = xp.arange(depth, dtype=yt)
    k = compiled(xp, KernelSource(f"{yt} y, {yt} c", f"{dt} o", f"o = ({CTYPE[dt]})(y == c);", "graphnn_one_hot"))
    check = label_check(xp, depth, f"one_hot {node.name}")

    def fill(y: Any, out: Any) -> None:
        check(y)
        k(y.reshape(shp[:-1] + (1,)), classes, out)

    return OutKernel(lambda ins, out: [(fill, (ins[0], out), {})])


@KERNELS.register("softmax")
def _softmax(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    return allocating(xp, node, env, _softmax_out(xp, node, env))


@KERNELS.register("one_hot")
def _one_hot(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    return allocating(xp, node, env, _one_hot_out(xp, node, env))


@KERNELS.register("gelu")
def _gelu(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    dt = node.outputs[0].dtype
    t = CTYPE[dt]
    if node.attrs["approximate"] == "none":
        body = f"y = ({t})0.5 * x * erfc(x * ({t})-0.7071067811865476);"  # erfc keeps the left tail
    else:
        # (1 + tanh(u)) / 2 = sigmoid(2u), written so that neither the left tail cancels nor exp overflows
        u = f"(({t})1.5957691216057308 * (x + ({t})0.044715 * x * x * x))"
        body = (f"const {t} u = {u}; const {t} e = exp(-fabs(u)); "
                f"y = x * ((u >= ({t})0) ? (({t})1 / (({t})1 + e)) : (e / (({t})1 + e)));")
    return compiled(xp, KernelSource(f"{dt} x", f"{dt} y", body, f"graphnn_gelu_{node.attrs['approximate']}"))
