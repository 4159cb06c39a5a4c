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
from .special import quiet
from .support import Factory, plain, shape_of

KERNELS: Table[Factory] = Table("numpy kernel (attention)")
OUT_KERNELS: Table[Any] = Table("numpy out= kernel (attention)")


LOW_SUM = 1e8  # times the dtype's smallest normal: a row sum below it means the row max is so negative that exp
# lost precision (float32: 1.2e-30, a row max under ~-69), and the exact row max is used instead


def probs_fn(xp: Any, node: Node, env: dict) -> Callable[..., None]:
    """`probs(out, q, k, mask=None)` writes the attention weights into `out`, with masked keys exactly 0 and rows
    with no allowed key all 0 (decided at plan time: the causal pattern for the bound Tq, Tk, the scale).

    Without a mask the logits are not shifted at all: softmax does not depend on a row's shift, and exp is
    relatively accurate over its whole range, so exp(s) / sum exp(s) is exact as long as no row sum overflows or
    underflows. A row sum is a product with a ones vector; where any is not finite or below LOW_SUM times the smallest normal (a row max under
    ~-69 in float32), the step recomputes the logits and takes the exact row max (a max along a short contiguous
    axis costs NumPy about twice an exp, so it stays the fallback). A shift by the Cauchy-Schwarz bound
    |scale| |q_i| max_j |k_j| (the former fast path) cost its row norms and a broadcast subtraction: ~0.37 ms of
    the GPT block's 1.4 ms forward."""
    q, k = node.inputs[0], node.inputs[1]
    tq, tk = shape_of(q.type.shape, env)[-2], shape_of(k.type.shape, env)[-2]
    scale = node.attrs["scale"]
    dt = q.dtype
    # Causal: query i sees keys j <= i (top-left aligned, as PyTorch's is_causal and ONNX's Attention).
    hidden = xp.triu(xp.ones((tq, tk), bool), 1) if node.attrs["causal"] else None
    bias = xp.where(hidden, -xp.inf, 0.0).astype(dt) if hidden is not None else None
    ones_k = xp.ones((tk, 1), dt)
    lowest = float(xp.finfo(dt).min)
    neg_inf = float("-inf")
    low = float(xp.finfo(dt).tiny) * LOW_SUM

    def exact(s: Any, mask: Any) -> None:
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

    def logits(s: Any, qa: Any, ka: Any) -> None:
        qs = qa * qa.dtype.type(scale)  # scaling q (Tq·d) is cheaper than scaling the logits (Tq·Tk)
        xp.matmul(qs, xp.swapaxes(ka, -1, -2), out=s)
        if bias is not None:
            s += bias

    def probs(s: Any, qa: Any, ka: Any, mask: Any = None) -> None:
        logits(s, qa, ka)
        if mask is None:
            with quiet(xp, all="ignore"):  # overflow, underflow, nan: the exact path decides
                xp.exp(s, out=s)
                t = xp.matmul(s, ones_k)
            if bool((t >= low).all()) and bool(xp.isfinite(t).all()):
                xp.reciprocal(t, out=t)
                s *= t
                return
            logits(s, qa, ka)  # rare: start again with the exact row max
        exact(s, mask)

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


KERNELS.register("attention_probs")(plain(_attention_probs_out))


KERNELS.register("attention")(plain(_attention_out))
