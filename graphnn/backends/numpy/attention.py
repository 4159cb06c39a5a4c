"""NumPy kernels of graphnn/ir/ops/attention.py: attention and attention_probs, one batched product for the
logits, the scale, the mask and the softmax in place on that one buffer, then one batched product with v. Both are
destination-passing; attention leaves its weights as a CallContext fact, so the backward's attention_probs of the
same q, k and mask is a copy instead of a recomputation.

Written against `xp` (CuPy runs it unchanged). Imports graphnn.ir and the backend records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ir.graph import Node
from ..destination import OutKernel
from ..table import Table
from .support import Factory, Kernel, allocating, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (attention)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (attention)")


def probs_fn(xp: Any, node: Node, env: dict) -> Callable[..., None]:
    """`probs(out, q, k, mask=None)` writes the attention weights into `out`, with masked keys exactly 0 and rows
    with no allowed key all 0 (decided at plan time: the causal pattern for the bound Tq, Tk, the scale)."""
    q, k = node.inputs[0], node.inputs[1]
    tq, tk = shape_of(q.type.shape, env)[-2], shape_of(k.type.shape, env)[-2]
    scale = node.attrs["scale"]
    # Causal: query i sees keys j <= i (top-left aligned, as PyTorch's is_causal and ONNX's Attention).
    hidden = xp.triu(xp.ones((tq, tk), bool), 1) if node.attrs["causal"] else None
    lowest = float(xp.finfo(q.dtype).min)
    neg_inf = float("-inf")

    def probs(s: Any, qa: Any, ka: Any, mask: Any = None) -> None:
        xp.matmul(qa, xp.swapaxes(ka, -1, -2), out=s)
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

    return probs


def _fact_key(node: Node, ids: tuple[int, ...]) -> tuple:
    """What the weights depend on: q, k (and the mask) by value id, causality and scale."""
    skip = {2} if node.op == "attention" else set()  # v does not change the weights
    return ("attention_probs", tuple(i for n, i in enumerate(ids) if n not in skip), node.attrs["causal"],
            node.attrs["scale"])


@OUT_KERNELS.register("attention_probs")
def _attention_probs_out(xp: Any, node: Node, env: dict) -> OutKernel:
    probs = probs_fn(xp, node, env)

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and ctx.ids:
            done = ctx.facts.get(_fact_key(node, ctx.ids))
            if done is not None and done.shape == out.shape and done.dtype == out.dtype:
                return [(xp.copyto, (out, done), {})]  # the forward attention's weights, this same step
        return [(probs, (out, *ins), {})]

    return OutKernel(calls, takes_context=True)


@OUT_KERNELS.register("attention")
def _attention_out(xp: Any, node: Node, env: dict) -> OutKernel:
    probs = probs_fn(xp, node, env)
    out_shape = shape_of(node.outputs[0].type.shape, env)
    p = xp.empty(out_shape[:-1] + (shape_of(node.inputs[1].type.shape, env)[-2],), node.outputs[0].dtype)

    def calls(ins: list, out: Any, ctx: Any = None) -> list:
        if ctx is not None and ctx.ids:
            ctx.facts[_fact_key(node, ctx.ids)] = p
        return [(probs, (p, ins[0], ins[1], *ins[3:]), {}), (xp.matmul, (p, ins[2]), {"out": out})]

    return OutKernel(calls, scratch_bytes=p.nbytes, takes_context=True)


@KERNELS.register("attention_probs")
def _attention_probs(xp: Any, node: Node, env: dict) -> Kernel:
    return allocating(xp, node, env, _attention_probs_out(xp, node, env))


@KERNELS.register("attention")
def _attention(xp: Any, node: Node, env: dict) -> Kernel:
    return allocating(xp, node, env, _attention_out(xp, node, env))
