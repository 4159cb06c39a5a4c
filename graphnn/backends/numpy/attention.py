"""NumPy kernels of graphnn/ir/ops/attention.py: attention and attention_probs, one batched product for the
logits, the scale, the mask and the softmax in place on that one buffer, then one batched product with v.

Written against `xp` (CuPy runs it unchanged). Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...ir.graph import Node
from ..table import Table
from .support import Factory, Kernel, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (attention)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (attention)")


def probs_fn(xp: Any, node: Node, env: dict) -> Callable[..., Any]:
    """`probs(q, k, mask=None)` -> the attention weights, with masked keys exactly 0 and rows with no allowed
    key all 0 (decided at plan time: the causal pattern for the bound Tq, Tk, the scale, the dtype)."""
    q, k = node.inputs[0], node.inputs[1]
    tq, tk = shape_of(q.type.shape, env)[-2], shape_of(k.type.shape, env)[-2]
    scale = node.attrs["scale"]
    # Causal: query i sees keys j <= i (top-left aligned, as PyTorch's is_causal and ONNX's Attention).
    hidden = xp.asarray(np.triu(np.ones((tq, tk), bool), 1)) if node.attrs["causal"] else None
    lowest = float(np.finfo(q.dtype).min)
    neg_inf = float("-inf")

    def probs(qa: Any, ka: Any, mask: Any = None) -> Any:
        s = xp.matmul(qa, xp.swapaxes(ka, -1, -2))
        s *= s.dtype.type(scale)
        if hidden is not None:
            xp.copyto(s, neg_inf, where=hidden)
        if mask is not None:
            xp.copyto(s, neg_inf, where=~mask)
        m = s.max(axis=-1, keepdims=True)
        if mask is not None:  # a row with no allowed key has max -inf: shift by a finite value, so exp gives 0
            xp.maximum(m, lowest, out=m)
        s -= m
        xp.exp(s, out=s)
        t = s.sum(axis=-1, keepdims=True)
        if mask is not None:  # the row max contributes exp(0) = 1, so t < 1 only when the row has no key: 0 / 1
            xp.maximum(t, 1.0, out=t)
        s /= t
        return s

    return probs


@KERNELS.register("attention_probs")
def _attention_probs(xp: Any, node: Node, env: dict) -> Kernel:
    return probs_fn(xp, node, env)


@KERNELS.register("attention")
def _attention(xp: Any, node: Node, env: dict) -> Kernel:
    probs = probs_fn(xp, node, env)

    def f(q: Any, k: Any, v: Any, mask: Any = None) -> Any:
        return xp.matmul(probs(q, k, mask), v)

    return f
