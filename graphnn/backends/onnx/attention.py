"""ONNX export of the attention family, decomposed into standard ops (MatMul, Mul, Where, Softmax, and a row
guard so rows with no allowed key give 0 as in graphnn); it imports back as those ops (without a mask's row guard,
the attention fusion pass folds them into `attention` again when the graph is compiled).

Imports graphnn.ir and the onnx room's emitter and import context (and the onnx package).
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from .emitter import Emitter, lowering_table, onnx_dtype
from .import_context import importer_table

LOWERINGS = lowering_table("attention")
IMPORTERS = importer_table("attention")
UNSUPPORTED: dict[str, str] = {}
NOT_IMPORTED: dict[str, str] = {}


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


def emit_probs(e: Emitter, n: Node, ins: list, outs: list | int = 1) -> str:
    """The attention weights of node `n` (attention or attention_probs) as ONNX ops; returns their name."""
    q, k = n.inputs[0], n.inputs[1]
    has_mask = len(n.inputs) == (4 if n.op == "attention" else 3)
    perm = list(range(k.ndim - 2)) + [k.ndim - 1, k.ndim - 2]
    kt = e.emit("Transpose", [ins[1]], perm=perm)[0]
    s = e.emit("MatMul", [ins[0], kt])[0]
    s = e.emit("Mul", [s, e.scalar_like(n.attrs["scale"], q, "scale")])[0]
    lowest = e.scalar_like(float(np.finfo(q.dtype).min), q, "masked")
    # A finite fill, not -inf: a row with every key masked would be -inf - (-inf) = NaN in Softmax. Two Wheres
    # rather than And, so the export loads back into graphnn.
    if n.attrs["causal"]:
        s = e.emit("Where", [_causal(e, q.type.shape[-2], k.type.shape[-2]), s, lowest])[0]
    if not has_mask:  # causal alone leaves key 0 to every query
        return e.emit("Softmax", [s], outs, axis=-1)[0]
    s = e.emit("Where", [ins[-1], s, lowest])[0]
    p = e.emit("Softmax", [s], axis=-1)[0]
    mask_rank = n.inputs[-1].ndim
    any_key = e.emit("Cast", [ins[-1]], to=onnx_dtype(q.dtype))[0]
    if mask_rank:  # 1 where the row keeps a key (a mask without a key axis broadcasts one flag to every key)
        any_key = e.reduce("ReduceMax", any_key, [mask_rank - 1], True)
    return e.emit("Mul", [p, any_key], outs)[0]


@LOWERINGS.register("attention", onnx_ops="Transpose, MatMul, Mul, Softmax (+ Where, And, Range, LessOrEqual, "
                    "Cast, ReduceMax for masks)")
def _attention(e: Emitter, n: Node, ins: list, outs: list) -> None:
    e.emit("MatMul", [emit_probs(e, n, ins), ins[2]], outs)


@LOWERINGS.register("attention_probs", onnx_ops="Transpose, MatMul, Mul, Softmax (+ Where, And, Range, "
                    "LessOrEqual, Cast, ReduceMax for masks)")
def _attention_probs(e: Emitter, n: Node, ins: list, outs: list) -> None:
    emit_probs(e, n, ins, outs)
