"""Scaled dot-product attention as one fused op, and the attention weights it is built on.

`attention(q, k, v, mask?)` = P @ v with P = `attention_probs(q, k, mask?)` = softmax over keys of
scale * q kᵀ, restricted to the keys that `mask` (True = attend) and `causal` (key j <= query i) allow. A row whose
keys are all masked has P = 0, so its output and gradients are zeros, never NaN. The backward is the closed form
dS = P ∘ (dP − rowsum(dP ∘ P)) written in ordinary ops over `attention_probs`, so gradients of gradients
differentiate that decomposed backward.

Imports only sibling ir modules.
"""

from __future__ import annotations

import math
from typing import Any

from ..builder import apply1, atomic, checking
from ..errors import DTypeError, GraphError, ShapeError
from ..gradutil import sum_to_shape
from ..graph import Value
from ..op import REQUIRED, InferCtx, Op
from ..types import TensorType, format_shape
from .linalg import matmul
from .reduction import sum as rsum
from .shape_ops import transpose

OPS: list[Op] = []


def _qkv_batch(ctx: InferCtx, t: list[TensorType], n_operands: int) -> tuple[tuple, Any, Any]:
    """Check q (…, Tq, d), k (…, Tk, d) [and v (…, Tk, dv)]: float, one dtype, rank >= 2, matching dims.
    Returns the broadcast batch dims, Tq and Tk."""
    names = ("q", "k", "v")[:n_operands]
    for name, ti in zip(names, t):
        ctx.need_float(ti, f"attention's {name}")
        if ti.rank < 2:
            raise ShapeError(f"attention's {name} must be (..., T, d), got rank {ti.rank}: {format_shape(ti.shape)}")
    ctx.same_dtype(t[:n_operands], "q, k, v")
    q, k = t[0].shape, t[1].shape
    ctx.dim_eq(q[-1], k[-1], f"attention: q's feature dim (q {format_shape(q)}) and k's (k {format_shape(k)})")
    if n_operands == 3:
        v = t[2].shape
        ctx.dim_eq(k[-2], v[-2], f"attention: k's key count (k {format_shape(k)}) and v's (v {format_shape(v)})")
    batch = ctx.broadcast(*(ti.shape[:-2] for ti in t[:n_operands]))
    return batch, q[-2], k[-2]


def _check_mask(ctx: InferCtx, m: TensorType, batch: tuple, tq: Any, tk: Any) -> None:
    """The mask must be bool and broadcast to (…, Tq, Tk) without growing it."""
    full = batch + (tq, tk)
    if m.dtype != "bool":
        raise DTypeError(f"attention's mask must be bool (True = attend), got {m.dtype} {format_shape(m.shape)}; "
                         "compare an additive mask with 0 (mask = bias == 0) or cast it")
    try:
        grown = ctx.broadcast(m.shape, full)
    except ShapeError:
        grown = None
    canon = ctx.graph.canon_dim
    if grown is None or tuple(canon(d) for d in grown) != tuple(canon(d) for d in full):
        raise ShapeError(f"attention's mask {format_shape(m.shape)} does not broadcast to (..., Tq, Tk) = "
                         f"{format_shape(full)}")


def _attention_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    batch, tq, tk = _qkv_batch(ctx, t, 3)
    if len(t) == 4:
        _check_mask(ctx, t[3], batch, tq, tk)
    return [TensorType(t[0].dtype, batch + (tq, t[2].shape[-1]))]


def _probs_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    batch, tq, tk = _qkv_batch(ctx, t, 2)
    if len(t) == 3:
        _check_mask(ctx, t[2], batch, tq, tk)
    return [TensorType(t[0].dtype, batch + (tq, tk))]


def _swap(x: Value) -> Value:
    return transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def _logit_grads(node: Any, p: Value, ds: Value) -> list:
    """dq, dk from the logits' gradient dS (logits = scale * q kᵀ), summed back over broadcast batch dims."""
    q, k, scale = node.inputs[0], node.inputs[1], node.attrs["scale"]
    dq = sum_to_shape(matmul(ds, k) * scale, q.shape)
    dk = sum_to_shape(matmul(_swap(ds), q) * scale, k.shape)
    return [dq, dk]


def _attention_grad(node: Any, gouts: list) -> list:
    # O = P v: dv = Pᵀ g, dP = g vᵀ, and the softmax's closed form dS = P ∘ (dP − rowsum(dP ∘ P)), where
    # rowsum(dP ∘ P) = rowsum(g ∘ O) costs one product instead of a (Tq, Tk) one. Masked P entries are 0, so
    # masked keys (and rows with none left) get no gradient.
    q, k, v = node.inputs[:3]
    mask = node.inputs[3:]
    g, o = gouts[0], node.outputs[0]
    p = attention_probs(q, k, mask[0] if mask else None, node.attrs["causal"], node.attrs["scale"])
    dv = sum_to_shape(matmul(_swap(p), g), v.shape)
    ds = p * (matmul(g, _swap(v)) - rsum(g * o, axis=-1, keepdims=True))
    return [*_logit_grads(node, p, ds), dv] + [None] * len(mask)


def _probs_grad(node: Any, gouts: list) -> list:
    p, gp = node.outputs[0], gouts[0]
    ds = p * (gp - rsum(gp * p, axis=-1, keepdims=True))
    return [*_logit_grads(node, p, ds)] + [None] * (len(node.inputs) - 2)


OPS.append(Op("attention", _attention_rule, (3, 4), {"causal": False, "scale": REQUIRED}, grad=_attention_grad,
              flops=4, doc="softmax(scale * q kᵀ over the allowed keys) @ v; rows with no allowed key give 0"))
OPS.append(Op("attention_probs", _probs_rule, (2, 3), {"causal": False, "scale": REQUIRED}, grad=_probs_grad,
              nonnegative=True, flops=6,
              doc="attention weights softmax(scale * q kᵀ) over the allowed keys (0 where none is allowed)"))


def _operands(q: Any, k: Any, v: Any, mask: Any, causal: Any, scale: Any) -> tuple[list, dict]:
    try:  # True/False, or NumPy's bools
        flag = not isinstance(causal, str) and getattr(causal, "ndim", 0) == 0 and causal in (0, 1)
    except (TypeError, ValueError):
        flag = False
    if not flag:
        raise GraphError(f"causal must be True or False, got {causal!r}")
    causal = bool(causal)
    if scale is None:
        shape = tuple(getattr(q, "shape", ()))
        d = shape[-1] if shape else None
        if not isinstance(d, int) or d <= 0:
            raise ShapeError(f"attention: the default scale 1/sqrt(d) needs a static feature dim; q is "
                             f"{q.type if isinstance(q, Value) else type(q).__name__}: pass scale=")
        scale = 1.0 / math.sqrt(d)
    if isinstance(scale, Value) or not math.isfinite(float(scale)):
        raise GraphError(f"attention's scale must be a finite Python number, got {scale!r}")
    ins = [x for x in (q, k, v) if x is not None]
    if mask is not None:
        ins.append(mask)
    return ins, {"causal": causal, "scale": float(scale)}


@atomic
def attention(q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: float | None = None) -> Value:
    """Scaled dot-product attention softmax(scale · q kᵀ) v on (…, T, d) tensors, as one fused op; `mask` (bool,
    broadcastable to (…, Tq, Tk), True = attend) and `causal` (query i sees keys j <= i) restrict the keys, and
    a row with no key left gives zeros. `scale` defaults to 1/sqrt(d)."""
    with checking("attention", [q, k, v] + ([mask] if mask is not None else []), {"causal": causal}):
        ins, attrs = _operands(q, k, v, mask, causal, scale)
    return apply1("attention", ins, attrs)


@atomic
def attention_probs(q: Any, k: Any, mask: Any = None, causal: bool = False, scale: float | None = None) -> Value:
    """The attention weights softmax(scale · q kᵀ) over the allowed keys, (…, Tq, Tk); rows with none are 0."""
    with checking("attention_probs", [q, k] + ([mask] if mask is not None else []), {"causal": causal}):
        ins, attrs = _operands(q, k, None, mask, causal, scale)
    return apply1("attention_probs", ins, attrs)
