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


SHIFT_SLACK = 20.0  # the bound may exceed a row's max by this much (exp(-20) = 2e-9 of headroom lost) before the
# exact row max is used instead


def probs_fn(xp: Any, node: Node, env: dict) -> Callable[..., None]:
    """`probs(out, q, k, mask=None)` writes the attention weights into `out`, with masked keys exactly 0 and rows
    with no allowed key all 0 (decided at plan time: the causal pattern for the bound Tq, Tk, the scale).

    Without a mask the rows are shifted by an upper bound of their logits instead of their max (a max along a
    short contiguous axis costs NumPy about twice an exp): |scale| |q_i| max_j |k_j| >= scale q_i·k_j (Cauchy-
    Schwarz), and sums run as products with a ones vector. Where the bound overshoots a row's max by more than
    SHIFT_SLACK (or anything is not finite), the step falls back to the exact max."""
    q, k = node.inputs[0], node.inputs[1]
    tq, tk = shape_of(q.type.shape, env)[-2], shape_of(k.type.shape, env)[-2]
    d = shape_of(q.type.shape, env)[-1]
    scale = node.attrs["scale"]
    dt = q.dtype
    # Causal: query i sees keys j <= i (top-left aligned, as PyTorch's is_causal and ONNX's Attention).
    hidden = xp.triu(xp.ones((tq, tk), bool), 1) if node.attrs["causal"] else None
    bias = xp.where(hidden, -xp.inf, 0.0).astype(dt) if hidden is not None else None
    ones_d, ones_k = xp.ones((d, 1), dt), xp.ones((tk, 1), dt)
    lowest = float(xp.finfo(dt).min)
    neg_inf = float("-inf")
    tiny = float(xp.exp(-SHIFT_SLACK))

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

    def logits(s: Any, qa: Any, ka: Any) -> Any:
        qs = qa * qa.dtype.type(scale)  # scaling q (Tq·d) is cheaper than scaling the logits (Tq·Tk)
        xp.matmul(qs, xp.swapaxes(ka, -1, -2), out=s)
        if bias is not None:
            s += bias
        return qs

    def row_norms(a: Any) -> Any:
        """|a_i| over the last axis, as (..., T, 1): one matrix-vector product over all rows."""
        sq = a * a
        return xp.sqrt(xp.matmul(sq.reshape(-1, sq.shape[-1]), ones_d).reshape(sq.shape[:-1] + (1,)))

    def probs(s: Any, qa: Any, ka: Any, mask: Any = None) -> None:
        qs = logits(s, qa, ka)
        if mask is None:
            with quiet(xp, all="ignore"):  # inf/nan: the exact path decides
                shift = row_norms(qs)
                shift *= row_norms(ka).max(axis=-2, keepdims=True)
                s -= shift
                xp.exp(s, out=s)
                t = xp.matmul(s, ones_k)
            if bool((t >= tiny).all()) and bool(xp.isfinite(t).all()):
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
