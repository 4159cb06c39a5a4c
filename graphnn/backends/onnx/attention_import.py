"""Import of ONNX's `Attention` (opset 23) in its common form: 4-D (B, H, T, d) or 3-D (B, T, H·d) q, k, v, an
optional bool or additive float mask, is_causal (query i sees keys j <= i: the spec's offset without a cache),
scale, and grouped key/value heads (each repeated for its group of query heads). A bool mask becomes
`gn.attention`; a float mask is added to the scores before the softmax. Refused with the reason: a KV cache
(past_key/past_value, present outputs, nonpad_kv_seqlen), a sliding window, softcap, the qk_matmul output, a
softmax precision other than the input's, and a mask shorter than the keys. Registered in the attention family.

Imports graphnn.ir and the onnx room's import context (and the onnx package).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper

from ...ir.builder import constant
from ...ir.errors import GraphError
from ...ir.graph import Value
from ...ir.ops import elementwise as ew
from ...ir.ops import shape_ops
from ...ir.ops.attention import attention
from ...ir.ops.linalg import matmul
from ...ir.ops.nn import softmax
from .import_context import Importer


def _heads(x: Value, heads: int, what: str, name: str) -> Value:
    """(B, T, H·d) -> (B, H, T, d)."""
    hidden = x.shape[2]
    if not isinstance(hidden, int) or hidden % heads:
        raise GraphError(f"Attention {name}: {what} {x.type} does not split into {heads} heads")
    return shape_ops.transpose(shape_ops.reshape(x, (x.shape[0], x.shape[1], heads, hidden // heads)), (0, 2, 1, 3))


def _repeat_heads(x: Value, groups: int) -> Value:
    """(B, Hkv, T, d) -> (B, Hkv·groups, T, d), each key/value head repeated for its group of query heads."""
    b, h, t, d = x.shape
    wide = shape_ops.broadcast_to(shape_ops.unsqueeze(x, 2), (b, h, groups, t, d))
    return shape_ops.reshape(wide, (b, h * groups, t, d))  # type: ignore[operator]


def import_attention(imp: Importer, n: Any, attrs: dict) -> list:
    """ONNX Attention -> graphnn attention (bool mask) or softmax(q kᵀ·scale + mask) v (float mask)."""
    name = n.name or "Attention"
    if any(n.input[4:]):
        raise GraphError(f"Attention {name}: a KV cache (past_key, past_value, nonpad_kv_seqlen) is not imported")
    if any(n.output[1:]):
        raise GraphError(f"Attention {name}: the present_key/present_value/qk_matmul outputs are not imported")
    if any(int(attrs.get(w, -1)) >= 0 for w in ("left_window_size", "right_window_size")):
        raise GraphError(f"Attention {name}: a sliding window (left/right_window_size) is not imported")
    if float(attrs.get("softcap", 0.0)) != 0.0:
        raise GraphError(f"Attention {name}: softcap is not imported (graphnn's attention has no logit cap)")
    q, k, v = (imp.value(x) for x in n.input[:3])
    prec = attrs.get("softmax_precision")
    if prec is not None and helper.tensor_dtype_to_np_dtype(int(prec)).name != q.dtype:
        raise GraphError(f"Attention {name}: softmax_precision other than the input's type ({q.dtype}) is not imported")
    three_d = q.ndim == 3
    if three_d:
        if "q_num_heads" not in attrs or "kv_num_heads" not in attrs:
            raise GraphError(f"Attention {name}: 3-D inputs need q_num_heads and kv_num_heads")
        qh, kvh = int(attrs["q_num_heads"]), int(attrs["kv_num_heads"])
        q, k, v = _heads(q, qh, "Q", name), _heads(k, kvh, "K", name), _heads(v, kvh, "V", name)
    if not q.ndim == k.ndim == v.ndim == 4:
        raise GraphError(f"Attention {name}: Q, K, V must be all 3-D or all 4-D, got {q.type}, {k.type}, {v.type}")
    hq, hk = q.shape[1], k.shape[1]
    if hq != hk:
        if not (isinstance(hq, int) and isinstance(hk, int) and hq % hk == 0):
            raise GraphError(f"Attention {name}: {hq} query heads do not group over {hk} key/value heads")
        k, v = _repeat_heads(k, hq // hk), _repeat_heads(v, hq // hk)
    tq, tk = q.shape[2], k.shape[2]
    mask = imp.value(n.input[3]) if len(n.input) > 3 and n.input[3] else None
    if mask is not None and mask.shape and mask.shape[-1] != tk:
        raise GraphError(f"Attention {name}: a mask {mask.type} shorter than the {tk} keys (padded) is not imported")
    causal = bool(attrs.get("is_causal", 0))  # without a cache the spec's causal offset is 0: key j <= query i
    scale = float(attrs["scale"]) if "scale" in attrs else None
    if mask is None or mask.dtype == "bool":
        y = attention(q, k, v, mask=mask, causal=causal, scale=scale)
    else:
        if mask.dtype != q.dtype:
            raise GraphError(f"Attention {name}: an additive mask of {mask.dtype} with {q.dtype} inputs")
        s = matmul(q, shape_ops.transpose(k, (0, 1, 3, 2))) * (scale if scale is not None else 1 / np.sqrt(q.shape[3]))
        s = s + mask
        if causal:
            if not (isinstance(tq, int) and isinstance(tk, int)):
                raise GraphError(f"Attention {name}: causal with an additive mask over a symbolic length")
            allowed = constant(np.tril(np.ones((tq, tk), bool)), dtype="bool", graph=q.graph)
            s = ew.where(allowed, s, np.asarray(-np.inf, dtype=q.dtype))
        y = matmul(softmax(s, axis=-1), v)
    if three_d:
        y = shape_ops.transpose(y, (0, 2, 1, 3))
        y = shape_ops.reshape(y, (y.shape[0], y.shape[1], y.shape[2] * y.shape[3]))  # type: ignore[operator]
    return [imp.op("identity", [y], {}, n.output[0])]
