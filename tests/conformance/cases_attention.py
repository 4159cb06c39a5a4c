"""Conformance cases of the attention family (graphnn/ir/ops/attention.py), references in plain NumPy: the
softmax over the allowed keys, with rows that allow none giving zeros."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.ir.ops.attention import attention_probs

from .cases import Case, In


def np_attention_probs(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None = None, causal: bool = False,
                       scale: float | None = None) -> np.ndarray:
    """softmax(scale q kᵀ) over the allowed keys, 0 on a row with none, written out plainly."""
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    allowed = np.ones(s.shape, bool)
    if mask is not None:
        allowed &= mask
    if causal:
        allowed &= np.tril(np.ones(s.shape[-2:], bool))
    top = np.where(allowed, s, -np.inf).max(-1, keepdims=True)
    e = np.where(allowed, np.exp(s - np.where(np.isfinite(top), top, 0)), 0)
    total = e.sum(-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1), 0).astype(q.dtype)


def np_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None, causal: bool = False,
                 scale: float | None = None) -> np.ndarray:
    return np_attention_probs(q, k, mask, causal, scale) @ v


# A mask with one all-masked query row (row 1): its output and gradients are zeros.
_ROW_MASK = np.array([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0]], bool)
CASES: list[Case] = [
    Case("attention", (In(("B", 2, 4, 3)), In(("B", 2, 5, 3)), In(("B", 2, 5, 2))), gn.attention, np_attention),
    Case("attention", (In((4, 3)), In((4, 3)), In((4, 2))), lambda q, k, v: gn.attention(q, k, v, causal=True),
         lambda q, k, v: np_attention(q, k, v, causal=True), "causal"),
    Case("attention", (In(("B", 4, 3)), In((1, 5, 3)), In(("B", 5, 2)), In((5,), "bool", "bool")),
         lambda q, k, v, m: gn.attention(q, k, v, m, scale=0.7), lambda q, k, v, m: np_attention(q, k, v, m, scale=0.7),
         "mask-broadcast-key", differentiable=(0, 1, 2)),
    Case("attention", (In((2, 4, 3)), In((2, 5, 3)), In((2, 5, 2))),
         lambda q, k, v: gn.attention(q, k, v, gn.constant(_ROW_MASK), causal=True),
         lambda q, k, v: np_attention(q, k, v, _ROW_MASK, causal=True), "masked-row-causal"),
    Case("attention_probs", (In(("B", 4, 3)), In(("B", 5, 3))), lambda q, k: attention_probs(q, k, scale=0.5),
         lambda q, k: np_attention_probs(q, k, scale=0.5)),
    Case("attention_probs", (In((4, 3)), In((5, 3))), lambda q, k: attention_probs(q, k, gn.constant(_ROW_MASK)),
         lambda q, k: np_attention_probs(q, k, _ROW_MASK), "masked-row"),
]
