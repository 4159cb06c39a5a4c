"""NumPy kernels of graphnn/ir/ops/loss.py, the naive losses as written (the passes replace the common ones by
the fused stable ops of fused.py): cross_entropy (also destination-passing), binary_cross_entropy, mse, mae,
kl_div; and the helpers the fused losses share (`reduce_loss`, `pick_labels`).

Written against `xp`. Imports graphnn.ir, the backend records and the reduction helpers.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .reduction import reducer
from .support import Factory, Kernel, label_check, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (loss)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (loss)")


def reduce_loss(xp: Any, per: Any, reduction: str, dt: str) -> Any:
    """Per-example losses reduced as the node's `reduction` attr says (mean, sum or none)."""
    if reduction == "mean":
        return xp.asarray(xp.mean(per, dtype=dt))
    if reduction == "sum":
        return xp.asarray(xp.sum(per, dtype=dt))
    return per


def pick_labels(xp: Any, a: Any, y: Any, ax: int, what: str) -> Any:
    """a's entry at each (range-checked) integer label along axis `ax`, with that axis removed."""
    label_check(xp, a.shape[ax], what)(y)
    return xp.squeeze(xp.take_along_axis(a, xp.expand_dims(y, ax).astype("int64"), axis=ax), axis=ax)


def int_labels_last_axis_mean(node: Node) -> bool:
    """Integer labels, scores of any rank with the class axis last, mean: the rows are the leading dims flattened."""
    x_t, y_t = node.inputs[0], node.inputs[1]
    return (y_t.dtype.startswith(("int", "uint")) and x_t.ndim >= 2 and node.attrs["axis"] in (-1, x_t.ndim - 1)
            and node.attrs["reduction"] == "mean")


def int_labels_2d_mean(node: Node) -> bool:
    """The case the destination-passing label losses handle: integer labels, 2-d scores, class axis last, mean."""
    x_t, y_t = node.inputs[0], node.inputs[1]
    return (y_t.dtype.startswith(("int", "uint")) and x_t.ndim == 2 and node.attrs["axis"] in (-1, 1)
            and node.attrs["reduction"] == "mean")


@KERNELS.register("cross_entropy")
def _cross_entropy(xp: Any, node: Node, env: dict) -> Kernel:
    ax, red, dt = node.attrs["axis"], node.attrs["reduction"], node.outputs[0].dtype
    int_labels = node.inputs[1].dtype.startswith(("int", "uint"))

    def f(p: Any, y: Any) -> Any:
        if int_labels:
            per = -xp.log(pick_labels(xp, p, y, ax, f"cross_entropy {node.name}"))
        else:
            per = -xp.sum(y * xp.log(p), axis=ax)
        return reduce_loss(xp, per, red, dt)

    return f


@OUT_KERNELS.register("cross_entropy")
def _cross_entropy_out(xp: Any, node: Node, env: dict) -> OutKernel | None:
    if not int_labels_2d_mean(node):
        return None
    p_t = node.inputs[0]
    n, c = shape_of(p_t.type.shape, env)
    rows = xp.arange(n) * c
    picked = xp.empty(n, p_t.dtype)
    idx = xp.empty(n, "int64")
    dt = node.outputs[0].dtype
    check = label_check(xp, c, f"cross_entropy {node.name}")
    rsum = reducer(xp, "sum")
    neg_inv_n = xp.asarray(-1.0 / max(n, 1), dtype=dt)

    def ce(p: Any, y: Any, out: Any) -> None:
        check(y)
        xp.add(rows, y, out=idx)
        xp.take(p.reshape(-1), idx, out=picked)
        xp.log(picked, out=picked)
        rsum(picked, axis=None, dtype=dt, out=out)
        xp.multiply(out, neg_inv_n, out=out)

    return OutKernel(lambda ins, out: [(ce, (ins[0], ins[1], out), {})], scratch_bytes=picked.nbytes + idx.nbytes)


@KERNELS.register("binary_cross_entropy")
def _bce(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    return lambda p, t: reduce_loss(xp, -(t * xp.log(p) + (1 - t) * xp.log(1 - p)), red, dt)


@KERNELS.register("mse")
def _mse(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    return lambda p, t: reduce_loss(xp, (p - t) ** 2, red, dt)


@KERNELS.register("mae")
def _mae(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype
    return lambda p, t: reduce_loss(xp, xp.abs(p - t), red, dt)


@KERNELS.register("kl_div")
def _kl_div(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype

    def f(p: Any, q: Any) -> Any:
        safe_p = xp.where(p > 0, p, 1)
        per = xp.sum(xp.where(p > 0, p * (xp.log(safe_p) - xp.log(q)), 0), axis=-1).astype(dt, copy=False)
        return reduce_loss(xp, per, red, dt)

    return f
