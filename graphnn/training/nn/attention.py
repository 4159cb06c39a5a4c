"""Attention layers: MultiHeadAttention (self-attention over (B, T, d_model), one fused q/k/v projection and the
fused `attention` op) and TransformerBlock (pre-norm: x + MHA(LN(x)), then + MLP(LN(.)) with GELU)."""

from __future__ import annotations

from typing import Any

from ...ir.errors import ShapeError
from ...ir.graph import Value
from ...ir.ops import attention as attn
from ...ir.ops import nn as nnops
from ...ir.ops import shape_ops, stochastic
from .dense import Linear
from .module import Module, _feature_dim, default_init
from .norm import LayerNorm


class MultiHeadAttention(Module):
    """Multi-head self-attention on (B, T, d_model): q, k, v = x @ w_qkv + b_qkv split into `num_heads` heads,
    softmax(q kᵀ / sqrt(d_head)) v per head, heads concatenated and projected by w_out, b_out.
    PyTorch's nn.MultiheadAttention holds the same numbers transposed: w_qkv = in_proj_weight.T (q, k, v blocks
    in that order), b_qkv = in_proj_bias, w_out = out_proj.weight.T, b_out = out_proj.bias."""

    base_name = "mha"

    def __init__(self, d_model: int, num_heads: int, causal: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        if num_heads <= 0 or d_model % num_heads:
            raise ShapeError(f"MultiHeadAttention: d_model={d_model} is not a multiple of num_heads={num_heads}")
        self.d_model, self.num_heads, self.causal = int(d_model), int(num_heads), bool(causal)

    def build(self, x: Value) -> None:
        d = _feature_dim(x, -1, "MultiHeadAttention")
        if x.ndim != 3 or d != self.d_model:
            raise ShapeError(f"MultiHeadAttention({self.d_model}, {self.num_heads}) at {self.scope}: input {x.name} "
                             f"must be (B, T, {self.d_model}), got {x.type}")
        e = self.d_model
        self.w_qkv = self.add_param("w_qkv", (e, 3 * e), default_init("glorot", f"{self.scope}/w_qkv"), x.dtype)
        self.b_qkv = self.add_param("b_qkv", (3 * e,), 0.0, x.dtype)
        self.w_out = self.add_param("w_out", (e, e), default_init("glorot", f"{self.scope}/w_out"), x.dtype)
        self.b_out = self.add_param("b_out", (e,), 0.0, x.dtype)

    def forward(self, x: Value) -> Value:
        b, t = x.shape[0], x.shape[1]
        h, e = self.num_heads, self.d_model
        qkv = shape_ops.reshape(x @ self.w_qkv + self.b_qkv, (b, t, 3, h, e // h))
        qkv = shape_ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, B, H, T, d_head)
        q, k, v = qkv[0], qkv[1], qkv[2]
        o = attn.attention(q, k, v, causal=self.causal)  # (B, H, T, d_head)
        o = shape_ops.reshape(shape_ops.transpose(o, (0, 2, 1, 3)), (b, t, e))
        return o @ self.w_out + self.b_out


class TransformerBlock(Module):
    """A pre-norm transformer block on (B, T, d_model): h = x + MHA(LN1(x)), y = h + W2 gelu(W1 LN2(h)),
    with dropout (rate `dropout`, train mode only) after the attention and after the MLP. Equals PyTorch's
    nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout, activation="gelu", batch_first=True,
    norm_first=True) with its weights copied (linear weights transposed)."""

    base_name = "transformer_block"

    def __init__(self, d_model: int, num_heads: int, d_ff: int, causal: bool = False, dropout: float = 0.0,
                 **kw: Any) -> None:
        super().__init__(**kw)
        if not 0.0 <= dropout < 1.0:
            raise ShapeError(f"TransformerBlock: dropout must lie in [0, 1), got {dropout}")
        self.d_model, self.num_heads, self.d_ff, self.dropout = int(d_model), int(num_heads), int(d_ff), dropout
        self.ln1, self.ln2 = LayerNorm(d_model, name="ln1"), LayerNorm(d_model, name="ln2")
        self.attn = MultiHeadAttention(d_model, num_heads, causal, name="attn")
        self.fc1, self.fc2 = Linear(d_model, d_ff, name="fc1"), Linear(d_ff, d_model, name="fc2")

    def _drop(self, x: Value) -> Value:
        return stochastic.dropout(x, self.dropout) if self.dropout > 0 else x

    def forward(self, x: Value) -> Value:
        h = x + self._drop(self.attn(self.ln1(x)))
        return h + self._drop(self.fc2(nnops.gelu(self.fc1(self.ln2(h)))))

    @property
    def params(self) -> list[Value]:
        return [p for m in (self.ln1, self.attn, self.ln2, self.fc1, self.fc2) for p in m.params]

    @Module.trainable.setter  # type: ignore[attr-defined]
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for m in (self.ln1, self.attn, self.ln2, self.fc1, self.fc2):
            m.trainable = value
