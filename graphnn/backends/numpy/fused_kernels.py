"""NumPy kernels of the fused stable losses (graphnn/ir/ops/fused.py), merged into KERNELS by kernels.py.

Log-sum-exp with a max shift and softplus via log1p(exp(-|z|)): no exp ever sees a large positive argument.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from .kernels import Kernel, check_labels, kernel, reduce_loss


@kernel("softmax_cross_entropy")
def _softmax_cross_entropy(xp: Any, node: Node, env: dict) -> Kernel:
    ax, red, dt = node.attrs["axis"], node.attrs["reduction"], node.outputs[0].dtype
    int_labels = node.inputs[1].dtype.startswith(("int", "uint"))

    def f(x: Any, y: Any) -> Any:
        s = x - xp.max(x, axis=ax, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(s), axis=ax, keepdims=True))
        if int_labels:
            check_labels(xp, y, x.shape[ax], f"softmax_cross_entropy {node.name}")
            picked = xp.take_along_axis(s, xp.expand_dims(y, ax).astype("int64"), axis=ax)
            per = xp.squeeze(lse - picked, axis=ax)
        else:
            per = -xp.sum(y * (s - lse), axis=ax)
        return reduce_loss(xp, per.astype(dt, copy=False), red, dt)

    return f


@kernel("sigmoid_binary_cross_entropy")
def _sigmoid_bce(xp: Any, node: Node, env: dict) -> Kernel:
    red, dt = node.attrs["reduction"], node.outputs[0].dtype

    def f(z: Any, t: Any) -> Any:
        per = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return reduce_loss(xp, per.astype(dt, copy=False), red, dt)

    return f
