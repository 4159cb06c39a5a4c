"""NumPy kernels of the fused stable losses (graphnn/ir/ops/fused.py); kernels.py merges FUSED_KERNELS.

Log-sum-exp with a max shift and softplus via log1p(exp(-|z|)): no exp ever sees a large positive argument.
"""

from __future__ import annotations

from typing import Any

from ...ir.graph import Node
from .kernels import Factory, Kernel, pick_labels, reduce_loss

FUSED_KERNELS: dict[str, Factory] = {}


def kernel(name: str):  # type: ignore[no-untyped-def]
    def deco(f: Factory) -> Factory:
        FUSED_KERNELS[name] = f
        return f

    return deco


@kernel("softmax_cross_entropy")
def _softmax_cross_entropy(xp: Any, node: Node, env: dict) -> Kernel:
    ax, red, dt = node.attrs["axis"], node.attrs["reduction"], node.outputs[0].dtype
    int_labels = node.inputs[1].dtype.startswith(("int", "uint"))

    def f(x: Any, y: Any) -> Any:
        s = x - xp.max(x, axis=ax, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(s), axis=ax, keepdims=True))
        if int_labels:
            per = xp.squeeze(lse, axis=ax) - pick_labels(xp, s, y, ax, f"softmax_cross_entropy {node.name}")
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
