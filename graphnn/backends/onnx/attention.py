"""ONNX export of the attention family, decomposed into standard ops (MatMul, Mul, Where, Softmax, and a row
guard so rows with no allowed key give 0 as in graphnn); it imports back as those ops (without a mask's row guard,
the attention fusion pass folds them into `attention` again when the graph is compiled). ONNX's `Attention`
(opset 23) imports as `attention` (attention_import.py).

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from .attention_import import import_attention
from .emitter import Emitter, lowering_table, onnx_dtype
from .import_context import importer_table

LOWERINGS = lowering_table("attention")
IMPORTERS = importer_table("attention")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}
IMPORTERS.register("Attention")(import_attention)


def _scalar_dim(e: Emitter, d: object, hint: str) -> str:
    """A 0-d int64 tensor holding dim `d` (a constant when static)."""
    if isinstance(d, int):
        return e.const(np.asarray(d, np.int64), "int64", hint)
    return e.emit("Squeeze", [e.dim_tensor(d), e.i64([0], "axes")])[0]  # type: ignore[arg-type]


def _causal(e: Emitter, tq: object, tk: object) -> str:
    """The (Tq, Tk) bool tensor of allowed keys j <= i: a constant when both are static, else from Range."""
    if isinstance(tq, int) and isinstance(tk, int):
        return e.const(np.tril(np.ones((tq, tk), bool)), "bool", "causal")
    zero, one = e.const(np.asarray(0, np.int64), "int64", "zero"), e.const(np.asarray(1, np.int64), "int64", "one")
    rows = e.emit("Range", [zero, _scalar_dim(e, tq, "tq"), one])[0]
    cols = e.emit("Range", [zero, _scalar_dim(e, tk, "tk"), one])[0]
    rows = e.emit("Unsqueeze", [rows, e.i64([1], "axes")])[0]
    return e.emit("LessOrEqual", [cols, rows])[0]


def _has_mask(n: Node) -> bool:
    return len(n.inputs) == (4 if n.op == "attention" else 3)


def _row_keeps(e: Emitter, n: Node, ins: list, tri: str | None) -> str:
    """1.0 where a query row keeps at least one key after the mask (and the causal pattern `tri`), else 0.0,
    of q's dtype and broadcastable against (..., Tq, Tk)."""
    dt = onnx_dtype(n.inputs[0].dtype)
    allowed = e.emit("Cast", [ins[-1]], to=dt)[0]
    rank = n.inputs[-1].ndim
    if tri is not None:
        allowed = e.emit("Mul", [allowed, e.emit("Cast", [tri], to=dt)[0]])[0]
        rank = max(rank, 2)
    # A mask without a key axis (rank 0) is one flag for every key already.
    return e.reduce("ReduceMax", allowed, [rank - 1], True) if rank else allowed


def emit_probs(e: Emitter, n: Node, ins: list, outs: list | int = 1) -> str:
    """The attention weights of node `n` (attention or attention_probs) as ONNX ops; returns their name."""
    q, k = n.inputs[0], n.inputs[1]
    perm = list(range(k.ndim - 2)) + [k.ndim - 1, k.ndim - 2]
    kt = e.emit("Transpose", [ins[1]], perm=perm)[0]
    s = e.emit("MatMul", [ins[0], kt])[0]
    s = e.emit("Mul", [s, e.scalar_like(n.attrs["scale"], q, "scale")])[0]
    lowest = e.scalar_like(float(np.finfo(q.dtype).min), q, "masked")
    # A finite fill, not -inf: a row with every key masked would be -inf - (-inf) = NaN in Softmax. Two Wheres
    # rather than And, so the export loads back into graphnn.
    tri = _causal(e, q.type.shape[-2], k.type.shape[-2]) if n.attrs["causal"] else None
    if tri is not None:
        s = e.emit("Where", [tri, s, lowest])[0]
    if not _has_mask(n):  # causal alone leaves key 0 to every query
        return e.emit("Softmax", [s], outs, axis=-1)[0]
    s = e.emit("Where", [ins[-1], s, lowest])[0]
    p = e.emit("Softmax", [s], axis=-1)[0]
    return e.emit("Mul", [p, _row_keeps(e, n, ins, tri)], outs)[0]


def _as_onnx_attention(e: Emitter, n: Node) -> bool:
    """Whether node `n` fits ONNX's Attention (opset 23): 4-D q, k, v with the same (B, H), causal only with
    Tq = Tk (where every alignment convention agrees)."""
    q, k, v = n.inputs[:3]
    if e.opset < 23 or not q.ndim == k.ndim == v.ndim == 4:
        return False
    canon = e.g.canon_dim
    same = all(canon(a) == canon(b) == canon(c) for a, b, c in zip(q.shape[:2], k.shape[:2], v.shape[:2]))
    return same and (not n.attrs["causal"] or canon(q.shape[2]) == canon(k.shape[2]))


@LOWERINGS.register("attention", onnx_ops="Attention (opset >= 23, 4-D); else Transpose, MatMul, Mul, Softmax "
                    "(+ Where, Range, LessOrEqual, Cast, ReduceMax for masks)")
def _attention(e: Emitter, n: Node, ins: list, outs: list) -> None:
    if not _as_onnx_attention(e, n):
        e.emit("MatMul", [emit_probs(e, n, ins), ins[2]], outs)
        return
    has_mask = _has_mask(n)
    o = e.emit("Attention", ins, 1 if has_mask else outs, scale=float(n.attrs["scale"]),
               is_causal=int(n.attrs["causal"]))[0]
    if has_mask:  # graphnn's rows with no allowed key are 0; ONNX leaves them to the runtime (NaN or uniform)
        tri = _causal(e, n.inputs[0].type.shape[-2], n.inputs[1].type.shape[-2]) if n.attrs["causal"] else None
        keep = e.emit("Cast", [_row_keeps(e, n, ins, tri)], to=onnx_dtype("bool"))[0]
        e.emit("Where", [keep, o, e.scalar_like(0.0, n.inputs[0], "zero")], outs)


@LOWERINGS.register("attention_probs", onnx_ops="Transpose, MatMul, Mul, Softmax (+ Where, Range, LessOrEqual, "
                    "Cast, ReduceMax for masks)")
def _attention_probs(e: Emitter, n: Node, ins: list, outs: list) -> None:
    emit_probs(e, n, ins, outs)
