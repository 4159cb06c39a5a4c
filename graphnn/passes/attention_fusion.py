"""Attention fusion: a hand-written `softmax(q @ kᵀ · s + mask) @ v` becomes the fused `attention` op, whose
backward is the closed form and whose fully masked rows give zeros instead of NaN. A rule table on pattern.py;
runs before autodiff, after the stable-pattern fusion (which turns a hand-written softmax into `softmax`).

Recognized, between the two matmuls: k transposed by any `transpose` whose last two axes are the keys' feature
and time axes; the scale as a multiply (either side) or a divide by a scalar constant, on the logits or on q;
masking by `where(mask, logits, fill)` or `where(hidden, fill, logits)` with a fill <= -1e4 (or -inf), or by adding a constant bias of 0 and
<= -1e4 entries or a bias `where(mask, 0, fill)`; a constant lower-triangular mask becomes `causal=True`.
Only where a query row has no allowed key does the result change: the naive form gives NaN (fill -inf, reported
as a fixed stability finding) or the mean of v (a finite fill); the fused op gives zeros.

Imports only graphnn.ir.
"""

from __future__ import annotations

import numpy as np

from ..ir.builder import constant
from ..ir.errors import GraphnnError
from ..ir.graph import Graph, Node, Value
from ..ir.ops import attention as attn
from ..ir.ops import elementwise as ew
from ..ir.ops import shape_ops
from .pattern import Match, Rule, constant_array, rewrite, rule

MASKED = -1e4  # a fill or bias at or below this is "this key is masked" (exp underflows to 0 against any logit)


def _scaled(m: Match, x: Value) -> tuple[Value, float]:
    """(y, c) with x = y * c for a scalar constant c (mul on either side, or div), else (x, 1.0)."""
    n = x.producer
    if n is None or n.op not in ("mul", "div") or not m.private(x):
        return x, 1.0
    a, b = n.inputs
    for y, c, inv in ((a, b, n.op == "div"), (b, a, False)) if n.op == "mul" else ((a, b, True),):
        s = m.scalar(c)
        if s is not None and s != 0.0 and np.isfinite(s) and y.type == x.type:
            m.producer(x)
            return y, (1.0 / s if inv else s)
    return x, 1.0


def _key_mask(m: Match, x: Value) -> tuple[Value, Value | None, float | None]:
    """(logits, mask, fill) if x masks logits by where(mask, logits, fill) or logits + bias, else (x, None, None)."""
    n = x.producer
    if n is None or not m.private(x):
        return x, None, None
    if n.op == "where":
        cond, a, b = n.inputs
        for keep, fill_v, flip in ((a, b, False), (b, a, True)):  # where(mask, s, fill) or where(hide, fill, s)
            fill = m.scalar(fill_v)
            if fill is not None and fill <= MASKED and keep.type == x.type and cond.dtype == "bool":
                m.producer(x)
                return keep, (ew.equal(cond, False) if flip else cond), fill
        return x, None, None
    if n.op != "add":
        return x, None, None
    for s, bias in (n.inputs, n.inputs[::-1]):
        if s.type != x.type:
            continue
        bn = bias.producer
        if bn is not None and bn.op == "where" and m.scalar(bn.inputs[1]) == 0.0:
            fill = m.scalar(bn.inputs[2])
            if fill is not None and fill <= MASKED:
                m.producer(x)
                m.producer(bias)
                return s, bn.inputs[0], fill
        arr = constant_array(bias)
        if arr is not None and arr.dtype != bool and bool(np.all((arr == 0) | (arr <= MASKED))):
            m.producer(x)
            fill = float(arr.min()) if arr.size else 0.0
            mask = _const_mask(bias, arr == 0)
            return (s, mask, fill) if mask is not None else (x, None, None)
    return x, None, None


def _const_mask(bias: Value, allowed: np.ndarray) -> Value | None:
    """`allowed` as a bool constant of the bias's (static) shape, or None if it cannot take that shape."""
    shape = bias.shape
    if not all(isinstance(d, int) for d in shape):
        return None
    if allowed.size == int(np.prod(shape, dtype=np.int64)):
        allowed = allowed.reshape(shape)
    try:
        allowed = np.ascontiguousarray(np.broadcast_to(allowed, shape))
    except ValueError:
        return None
    return constant(allowed, dtype="bool", name="attention_mask", graph=bias.graph)


def _is_causal(mask: Value, tq: object, tk: object) -> bool:
    """Whether `mask` is a constant equal to tril(ones(Tq, Tk)) over its last two axes (1s before them)."""
    arr = constant_array(mask)
    if arr is None or arr.dtype != bool or not isinstance(tq, int) or not isinstance(tk, int) or arr.ndim < 2:
        return False
    if any(d != 1 for d in arr.shape[:-2]) or arr.shape[-2:] != (tq, tk):
        return False
    return bool(np.array_equal(arr.reshape(tq, tk), np.tril(np.ones((tq, tk), bool))))


def _key_operand(x: Value, n: Node) -> Value:
    """k from x = kᵀ produced by transpose `n`: the same transpose with its last two axes swapped back."""
    perm = n.attrs["perm"]
    back = tuple(perm[:-2]) + (perm[-1], perm[-2])
    y = n.inputs[0]
    return y if back == tuple(range(y.ndim)) else shape_ops.transpose(y, back)


@rule("softmax(q @ kᵀ * s + mask) @ v", "matmul", "softmax", None, fused=True)
def _attention(m: Match) -> Value | None:
    sm, v = m.args[0], m.inputs[1]
    p = m.inputs[0]
    if sm is None or p.ndim < 2 or v.ndim < 2 or sm.attrs["axis"] != p.ndim - 1 or not m.private(p):
        return None
    x, scale = _scaled(m, sm.inputs[0])
    x, mask, fill = _key_mask(m, x)
    if mask is not None:  # the scale may sit inside the mask too
        x, s2 = _scaled(m, x)
        scale *= s2
    qk = m.producer(x, "matmul")
    if qk is None or not m.private(x):
        return None
    q, kt = qk.inputs
    tn = m.producer(kt, "transpose")
    if tn is None or q.ndim < 2 or kt.ndim < 2:
        return None
    q, qscale = _scaled(m, q)
    causal = mask is not None and _is_causal(mask, x.shape[-2], x.shape[-1])
    try:
        out = attn.attention(q, _key_operand(kt, tn), v, None if causal else mask, causal=causal,
                             scale=scale * qscale)
    except GraphnnError:  # shapes the fused op does not take (a mask that grows the batch): keep the user's form
        return None
    if out.type != m.out.type:
        return None
    if fill is not None and not np.isfinite(fill):
        m.diagnose("softmax(where(mask, s, -inf)) @ v", "attention(q, k, v, mask)",
                   "a row whose keys are all masked is exp(-inf - -inf) = NaN in the naive form; the fused "
                   "op gives that row zeros (and zero gradients)", fixed=True)
    return out


RULES: list[Rule] = [_attention]


def fuse_attention(g: Graph) -> Graph:
    """Rewrite hand-written scaled dot-product attention into the fused `attention` op.
    O(n + E) rule attempts through the rewrite engine's worklist, each O(its match)."""
    return rewrite(g, RULES, "attention_fusion")
